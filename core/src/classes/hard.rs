//! Hard classes: what is true of the host and the moment, defined for `when` and `eval`
//! but never listed in a `classes` event (CFEngine's `any`, `linux`, `Monday`, `Hr14`,
//! `Min20_25`, `Day5`, `December`, `Yr2026`, the canonified host name).
//!
//! Pure: the caller gives the local calendar time (the agent reads it with `localtime_r`,
//! so `TZ` is honoured); this module only names it.

use core::fmt::Write;

use super::{canonify, ClassName};

/// A local calendar time, as `localtime_r` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// The year, e.g. 2026.
    pub year: i32,
    /// 1 (January) to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 Monday … 6 Sunday.
    pub weekday: u8,
}

/// Day names, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The time classes of `t`: weekday, `HrNN`, `MinAA_BB` (the five-minute slot; the last
/// is `Min55_00`), `DayN`, the month, `YrNNNN`. Out-of-range fields give no class.
pub fn time_classes(t: &LocalTime) -> heapless::Vec<ClassName, 6> {
    let mut out = heapless::Vec::new();
    let mut push = |args: core::fmt::Arguments<'_>| {
        let mut c = ClassName::new();
        if c.write_fmt(args).is_ok() {
            let _ = out.push(c);
        }
    };
    if let Some(d) = WEEKDAYS.get(usize::from(t.weekday)) {
        push(format_args!("{d}"));
    }
    if t.hour < 24 {
        push(format_args!("Hr{:02}", t.hour));
    }
    if t.minute < 60 {
        let lo = t.minute / 5 * 5;
        push(format_args!("Min{:02}_{:02}", lo, (lo + 5) % 60));
    }
    if (1..=31).contains(&t.day) {
        push(format_args!("Day{}", t.day));
    }
    if let Some(m) = MONTHS.get(usize::from(t.month.wrapping_sub(1))) {
        push(format_args!("{m}"));
    }
    push(format_args!("Yr{}", t.year));
    out
}

/// The operating-system class: `linux`, `freebsd`, … (the OS name as given, canonified).
pub fn os_class(os: &str) -> Option<ClassName> {
    canonify(os).ok()
}

/// The host's class: its name canonified (`web-1.example` is `web_1_example`); a name
/// too long for a class gives none.
pub fn host_class(host: &str) -> Option<ClassName> {
    canonify(host).ok()
}

/// Whether `name` is a hard class of this moment: `any`, `os`, `host`, or a time class.
pub fn is_hard(name: &str, os: &str, host: &str, t: &LocalTime) -> bool {
    name == "any"
        || os_class(os).is_some_and(|c| c == name)
        || host_class(host).is_some_and(|c| c == name)
        || time_classes(t).iter().any(|c| c == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_moment() {
        // Saturday 5 December 2026, 00:57.
        let t = LocalTime {
            year: 2026,
            month: 12,
            day: 5,
            hour: 0,
            minute: 57,
            weekday: 5,
        };
        let all = time_classes(&t);
        let got: heapless::Vec<&str, 6> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            &got[..],
            ["Saturday", "Hr00", "Min55_00", "Day5", "December", "Yr2026"]
        );
        let t2 = LocalTime {
            minute: 3,
            hour: 14,
            weekday: 3,
            month: 1,
            day: 31,
            ..t
        };
        let all = time_classes(&t2);
        let got: heapless::Vec<&str, 6> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            &got[..],
            ["Thursday", "Hr14", "Min00_05", "Day31", "January", "Yr2026"]
        );
        assert!(is_hard("any", "linux", "web-1.example", &t));
        assert!(is_hard("linux", "linux", "web-1.example", &t));
        assert!(is_hard("web_1_example", "linux", "web-1.example", &t));
        assert!(is_hard("Min55_00", "linux", "h", &t));
        assert!(!is_hard("Min50_55", "linux", "h", &t));
        assert!(!is_hard("freebsd", "linux", "h", &t));
        assert!(!is_hard("Sunday", "linux", "h", &t));
    }

    #[test]
    fn out_of_range_fields_give_no_class() {
        let t = LocalTime {
            year: 2026,
            month: 13,
            day: 0,
            hour: 24,
            minute: 60,
            weekday: 7,
        };
        let got = time_classes(&t);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_str(), "Yr2026");
    }
}
