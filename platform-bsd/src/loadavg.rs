//! The load averages as `sysctl -n vm.loadavg` prints them on FreeBSD 13 and 14:
//! `{ 0.52 0.41 0.38 }` (the braces are sysctl's rendering of `struct loadavg`).

/// The `sysctl` arguments.
pub const ARGS: &[&str] = &["-n", "vm.loadavg"];

/// The one-, five- and fifteen-minute load averages.
pub fn parse(out: &[u8]) -> Result<[f32; 3], &'static str> {
    let text = core::str::from_utf8(out).map_err(|_| "not text")?.trim();
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or("not `{ a b c }`")?;
    let mut words = inner.split_ascii_whitespace();
    let mut loads = [0.0f32; 3];
    for load in &mut loads {
        let w = words.next().ok_or("fewer than three figures")?;
        if !w.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err("a figure is not a decimal number");
        }
        *load = w.parse().map_err(|_| "a figure is not a decimal number")?;
        if !load.is_finite() {
            return Err("a figure is not finite");
        }
    }
    if words.next().is_some() {
        return Err("more than three figures");
    }
    Ok(loads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freebsd13_and_14() {
        assert_eq!(parse(b"{ 0.52 0.41 0.38 }\n"), Ok([0.52, 0.41, 0.38]));
        assert_eq!(parse(b"{ 12.00 7.50 3.25 }"), Ok([12.0, 7.5, 3.25]));
    }

    #[test]
    fn hostile() {
        assert!(parse(b"").is_err());
        assert!(parse(b"0.5 0.4 0.3").is_err());
        assert!(parse(b"{ 0.5 0.4 }").is_err());
        assert!(parse(b"{ 0.5 0.4 0.3 0.2 }").is_err());
        assert!(parse(b"{ nan inf -1 }").is_err());
        assert!(parse(b"{ 0.5 \xff 0.3 }").is_err());
    }
}
