//! The hard classes of this host at an epoch: the core names them, this module reads the
//! local calendar time (`localtime_r`, so `TZ` is honoured).

use homeostat_core::classes::hard::{is_hard, LocalTime};

/// The local calendar time of `epoch`; `None` when libc cannot convert it.
pub fn local_time(epoch: i64) -> Option<LocalTime> {
    let t = libc::time_t::try_from(epoch).ok()?;
    // SAFETY: `tm` is plain data that localtime_r fills; both pointers are valid for the
    // call, and the result is read only when it returned non-null. tzset makes it read
    // `TZ` as localtime would.
    #[allow(unsafe_code)]
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tzset();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(LocalTime {
        year: tm.tm_year.checked_add(1900)?,
        month: u8::try_from(tm.tm_mon + 1).ok()?,
        day: u8::try_from(tm.tm_mday).ok()?,
        hour: u8::try_from(tm.tm_hour).ok()?,
        minute: u8::try_from(tm.tm_min).ok()?,
        // tm_wday counts from Sunday = 0; the core counts from Monday = 0.
        weekday: u8::try_from((tm.tm_wday + 6) % 7).ok()?,
    })
}

extern "C" {
    fn tzset();
}

/// The hard classes at `epoch` on `host`, as a predicate.
pub struct Hard {
    host: String,
    time: Option<LocalTime>,
}

impl Hard {
    /// This host at `epoch`.
    pub fn at(host: &str, epoch: i64) -> Hard {
        Hard {
            host: host.to_string(),
            time: local_time(epoch),
        }
    }

    /// Whether `name` is a hard class now (`any` always is).
    pub fn has(&self, name: &str) -> bool {
        match &self.time {
            Some(t) => is_hard(name, std::env::consts::OS, &self.host, t),
            None => name == "any" || name == std::env::consts::OS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_other_zones() {
        // 2026-12-05 00:57:00 UTC, a Saturday.
        let t = 1_796_432_220;
        std::env::set_var("TZ", "UTC");
        let h = Hard::at("web-1", t);
        for c in [
            "any", "web_1", "Saturday", "Hr00", "Min55_00", "Day5", "December", "Yr2026",
        ] {
            assert!(h.has(c), "{c}");
        }
        assert!(h.has(std::env::consts::OS));
        // Twelve hours east it is already afternoon.
        std::env::set_var("TZ", "XYZ-12");
        let h = Hard::at("web-1", t);
        assert!(h.has("Hr12") && h.has("Saturday"), "{:?}", h.time);
        std::env::remove_var("TZ");
    }
}
