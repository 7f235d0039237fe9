//! UTC dates without a calendar crate.

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// [`utc`] with the nanoseconds when there are any, so that two times in one second
/// still read differently.
pub fn utc_ns(t: homeostat_core::fim::Timestamp) -> String {
    let s = utc(t.sec);
    if t.nsec == 0 {
        s
    } else {
        format!("{}.{:09}Z", &s[..s.len() - 1], t.nsec)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(-1), "1969-12-31T23:59:59Z");
        let t = homeostat_core::fim::Timestamp { sec: 0, nsec: 5 };
        assert_eq!(super::utc_ns(t), "1970-01-01T00:00:00.000000005Z");
    }
}
