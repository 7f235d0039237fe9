//! The one way the configuration writes a length of time: a whole number and a unit,
//! `"500ms"`, `"150s"`, `"5m"`, `"1h"`, `"7d"` (spaces between them allowed), or a TOML
//! integer, which counts seconds. A string without a unit is refused: `"10"` could be a
//! slip for `"10m"`.

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The units, as error messages name them.
pub const UNITS: &str = "ms, s, m, h or d";

/// Parses `"<n><unit>"` with a unit from [`UNITS`]; `n` must be above 0.
pub fn parse(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim_start());
    if num.is_empty() {
        bail!("duration {text:?}: expected a whole number and a unit ({UNITS}), like \"150s\"");
    }
    // Seconds per unit; `None` for milliseconds.
    let per: Option<u64> = match unit {
        "" => bail!("duration {text:?}: a unit is needed ({UNITS}), like \"{num}s\""),
        "ms" => None,
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        "d" => Some(86_400),
        u => bail!("duration {text:?}: unknown unit {u:?}: expected {UNITS}"),
    };
    let n: u64 = num
        .parse()
        .ok()
        .with_context(|| format!("duration {text:?}: the number is too large"))?;
    if n == 0 {
        bail!("duration {text:?}: expected more than 0");
    }
    match per {
        None => Ok(Duration::from_millis(n)),
        Some(per) => n
            .checked_mul(per)
            .map(Duration::from_secs)
            .with_context(|| format!("duration {text:?}: too long")),
    }
}

/// A TOML value: a string for [`parse`], or an integer number of seconds above 0.
pub fn from_toml(v: &toml::Value) -> Result<Duration> {
    match v {
        toml::Value::String(s) => parse(s),
        toml::Value::Integer(n) => match u64::try_from(*n) {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            _ => bail!("duration {n}: expected more than 0 seconds, or a number and a unit ({UNITS})"),
        },
        other => bail!(
            "duration {other}: expected a string like \"150s\" (units {UNITS}) or a number of seconds"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn every_unit() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("150s").unwrap(), Duration::from_secs(150));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse(" 10 s ").unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn refusals_name_the_value_and_the_units() {
        for (bad, what) in [
            ("10", "a unit is needed"),
            ("", "expected a whole number"),
            ("s", "expected a whole number"),
            ("-5s", "expected a whole number"),
            ("1.5h", "unknown unit \".5h\""),
            ("3y", "unknown unit \"y\""),
            ("10 mins", "unknown unit \"mins\""),
            ("0s", "more than 0"),
            ("99999999999999999999s", "too large"),
            ("999999999999999999d", "too long"),
        ] {
            let e = err(bad);
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
            assert!(e.contains(what), "{bad}: {e}");
        }
        for bad in ["10", "", "3y", "1.5h"] {
            assert!(err(bad).contains(UNITS), "{bad}");
        }
    }

    #[test]
    fn toml_integers_are_seconds() {
        let v = |s: &str| toml::from_str::<toml::Table>(s).unwrap()["v"].clone();
        assert_eq!(from_toml(&v("v = 3")).unwrap(), Duration::from_secs(3));
        assert_eq!(
            from_toml(&v("v = \"2m\"")).unwrap(),
            Duration::from_secs(120)
        );
        for bad in ["v = 0", "v = -1", "v = 1.5", "v = true"] {
            let e = format!("{:#}", from_toml(&v(bad)).unwrap_err());
            assert!(e.contains(UNITS), "{bad}: {e}");
        }
    }
}
