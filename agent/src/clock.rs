//! The wall clock the agent reads: the system's, shifted by the number of seconds in the
//! file named by `HOMEOSTAT_CLOCK_OFFSET_FILE` when that is set, re-read at every reading.
//! It lets a test step the clock of one running daemon (back an hour, forward a week)
//! without setting the machine's clock for every other process; whoever sets a daemon's
//! environment already controls it, so it gives nothing away.

use homeostat_core::event::Epoch;
use homeostat_core::feed::Clock;

use crate::platform::SystemClock;

/// The variable naming the offset file.
pub const OFFSET_ENV: &str = "HOMEOSTAT_CLOCK_OFFSET_FILE";

/// [`SystemClock`], plus the offset file's seconds when there is one.
#[derive(Clone, Debug, Default)]
pub struct Wall {
    offset_file: Option<std::path::PathBuf>,
}

impl Wall {
    /// The clock of this process's environment.
    pub fn from_env() -> Wall {
        Wall {
            offset_file: std::env::var_os(OFFSET_ENV)
                .filter(|v| !v.is_empty())
                .map(Into::into),
        }
    }

    /// The offset in force: a whole number of seconds (a missing or unreadable file, or
    /// one holding anything else, is 0, so a test's mistake shows as no step at all).
    fn offset(&self) -> i64 {
        let Some(path) = &self.offset_file else {
            return 0;
        };
        let mut text = String::new();
        // A few bytes are all a number takes: the file is never read whole.
        let read = std::fs::File::open(path).and_then(|f| {
            std::io::Read::read_to_string(&mut std::io::Read::take(f, 32), &mut text)
        });
        match read {
            Ok(_) => text.trim().parse().unwrap_or(0),
            Err(_) => 0,
        }
    }
}

impl Clock for Wall {
    fn now(&self) -> Epoch {
        SystemClock.now().saturating_add(self.offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_file_shifts_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        let wall = Wall {
            offset_file: Some(file.clone()),
        };
        let near = |a: Epoch, b: Epoch| (a - b).abs() <= 2;
        assert!(near(wall.now(), SystemClock.now()));
        std::fs::write(&file, "-604800\n").unwrap();
        assert!(near(wall.now(), SystemClock.now() - 604_800));
        std::fs::write(&file, "nonsense").unwrap();
        assert!(near(wall.now(), SystemClock.now()));
        assert!(near(Wall::default().now(), SystemClock.now()));
    }
}
