//! Pattern measurements: what a matching line adds to a measurement.
//!
//! - `counter`: the number of matching lines.
//! - `int` / `real`: the number in the first capture group of each matching line, summed
//!   or the last one ([`Aggregate`]). A line whose group holds no number is counted in
//!   [`Tally::unparsed`] and otherwise ignored.
//! - `string`: the last match (kept by the caller, which owns the bytes).

/// A measurement's type (CFEngine's `data_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// `counter`: the number of matching lines.
    Counter,
    /// `int`: an integer from the first capture group.
    Int,
    /// `real`: a real number from the first capture group.
    Real,
    /// `string`: the last match, kept by the caller.
    Str,
}

impl Kind {
    /// The configuration name: `counter`, `int`, `real` or `string`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Int => "int",
            Kind::Real => "real",
            Kind::Str => "string",
        }
    }

    /// Parses a configuration name; `None` for an unknown one.
    pub fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "counter" => Kind::Counter,
            "int" => Kind::Int,
            "real" => Kind::Real,
            "string" => Kind::Str,
            _ => return None,
        })
    }

    /// Whether the kind is a number (every kind but [`Kind::Str`]).
    pub const fn numeric(self) -> bool {
        !matches!(self, Kind::Str)
    }
}

/// How the values of several matching lines combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Aggregate {
    /// The values are added up (the default).
    #[default]
    Sum,
    /// The last value counts.
    Last,
}

impl Aggregate {
    /// The configuration name: `sum` or `last`.
    pub const fn name(self) -> &'static str {
        match self {
            Aggregate::Sum => "sum",
            Aggregate::Last => "last",
        }
    }

    /// Parses a configuration name; `None` for an unknown one.
    pub fn from_name(s: &str) -> Option<Aggregate> {
        Some(match s {
            "sum" => Aggregate::Sum,
            "last" => Aggregate::Last,
            _ => return None,
        })
    }
}

/// What the matching lines of one measurement added up to over some span of input.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tally {
    /// Matching lines.
    pub lines: u64,
    /// Sum of the integers extracted (saturating).
    pub int_sum: i64,
    /// Sum of the reals extracted.
    pub real_sum: f64,
    /// The last integer extracted, if any.
    pub last_int: Option<i64>,
    /// The last real extracted, if any.
    pub last_real: Option<f64>,
    /// Matching lines whose group held no number.
    pub unparsed: u64,
}

impl Tally {
    /// Folds one matching line; `group` is its first capture group, when the kind needs it.
    pub fn add(&mut self, kind: Kind, group: Option<&[u8]>) {
        self.lines += 1;
        match kind {
            Kind::Counter | Kind::Str => {}
            Kind::Int => match group.and_then(parse_int) {
                Some(v) => {
                    self.int_sum = self.int_sum.saturating_add(v);
                    self.last_int = Some(v);
                }
                None => self.unparsed += 1,
            },
            Kind::Real => match group.and_then(parse_real) {
                Some(v) => {
                    self.real_sum += v;
                    self.last_real = Some(v);
                }
                None => self.unparsed += 1,
            },
        }
    }

    /// Adds `later`, which followed this span.
    pub fn merge(&mut self, later: &Tally) {
        self.lines += later.lines;
        self.int_sum = self.int_sum.saturating_add(later.int_sum);
        self.real_sum += later.real_sum;
        self.last_int = later.last_int.or(self.last_int);
        self.last_real = later.last_real.or(self.last_real);
        self.unparsed += later.unparsed;
    }
}

/// An optionally signed decimal integer, surrounding ASCII white space allowed.
pub fn parse_int(b: &[u8]) -> Option<i64> {
    let s = core::str::from_utf8(b.trim_ascii()).ok()?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A finite decimal number (`1`, `-2.5`, `3e4`), surrounding ASCII white space allowed.
pub fn parse_real(b: &[u8]) -> Option<f64> {
    let s = core::str::from_utf8(b.trim_ascii()).ok()?;
    if !s.bytes().any(|c| c.is_ascii_digit())
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_int(b" 42 "), Some(42));
        assert_eq!(parse_int(b"-7"), Some(-7));
        assert_eq!(parse_int(b"+7"), Some(7));
        assert_eq!(parse_int(b"4 2"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"\xff1"), None);
        assert_eq!(parse_real(b"2.5"), Some(2.5));
        assert_eq!(parse_real(b"-1e3"), Some(-1000.0));
        assert_eq!(parse_real(b"inf"), None);
        assert_eq!(parse_real(b"NaN"), None);
        assert_eq!(parse_real(b"1e999"), None);
        assert_eq!(parse_real(b"."), None);
    }

    #[test]
    fn sums_and_last_values() {
        let mut a = Tally::default();
        a.add(Kind::Int, Some(b"8"));
        a.add(Kind::Int, Some(b"10"));
        a.add(Kind::Int, Some(b"x"));
        a.add(Kind::Int, None);
        assert_eq!(
            (a.lines, a.int_sum, a.last_int, a.unparsed),
            (4, 18, Some(10), 2)
        );
        let mut b = Tally::default();
        b.add(Kind::Int, Some(b"5"));
        a.merge(&b);
        assert_eq!((a.int_sum, a.last_int), (23, Some(5)));
        let mut r = Tally::default();
        r.add(Kind::Real, Some(b"0.5"));
        r.add(Kind::Real, Some(b"0.25"));
        assert_eq!((r.real_sum, r.last_real), (0.75, Some(0.25)));
        a.merge(&Tally::default());
        assert_eq!(a.last_int, Some(5));
        let mut s = Tally::default();
        s.add(Kind::Int, Some(b"9223372036854775807"));
        s.add(Kind::Int, Some(b"1"));
        assert_eq!(s.int_sum, i64::MAX);
    }
}
