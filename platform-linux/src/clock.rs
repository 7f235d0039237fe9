//! The wall clock: the one place the agent asks the OS what time it is.

use homeostat_core::event::Epoch;
use homeostat_core::feed::Clock;

/// The system's real-time clock (`CLOCK_REALTIME`, through [`std::time::SystemTime`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Seconds since the Unix epoch; a clock set before 1970 reads 0.
    fn now(&self) -> Epoch {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_time_after_this_code_was_written() {
        assert!(SystemClock.now() > 1_767_225_600); // 2026-01-01
    }
}
