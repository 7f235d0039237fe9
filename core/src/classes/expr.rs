//! Class expressions, CFEngine's grammar, evaluated in one pass without allocation:
//!
//! ```text
//! or      := and ( ('|' | '||') and )*
//! and     := not ( ('.' | '&') not )*
//! not     := '!' not | primary
//! primary := '(' or ')' | name          name = [A-Za-z0-9_:]+, or the literals true, false
//! ```
//!
//! `!` binds tightest, then `.` and `&`, then `|`. Spaces and tabs between tokens are
//! ignored. The whole expression is always read, so a syntax error is reported even where
//! the value was already decided.

use core::fmt;

/// Deepest nesting of `(` and `!` accepted: the parser recurses, and a firmware stack is small.
pub const MAX_DEPTH: usize = 32;

/// What is wrong with an expression, and where (byte offset into it; messages say the
/// 1-based column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExprError {
    /// Byte offset into the expression where the error was found.
    pub offset: usize,
    /// What is wrong there.
    pub kind: ExprErrorKind,
}

/// The kinds of syntax error in a class expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExprErrorKind {
    /// Nothing but blanks.
    Empty,
    /// An operator or the end where a class name, `!` or `(` must come.
    ExpectedOperand,
    /// A `(` without its `)`.
    Unclosed,
    /// A byte that no rule accepts here (a `)` too many, two names in a row, `$(`…).
    Unexpected(u8),
    /// More than [`MAX_DEPTH`] nested `(` or `!`.
    TooDeep,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 1-based column: the offset counts bytes, and names are ASCII.
        let at = self.offset + 1;
        match self.kind {
            ExprErrorKind::Empty => f.write_str("empty class expression"),
            ExprErrorKind::ExpectedOperand => {
                write!(
                    f,
                    "class expression: expected a class name, '!' or '(' at column {at}"
                )
            }
            ExprErrorKind::Unclosed => {
                write!(f, "class expression: '(' at column {at} is never closed")
            }
            ExprErrorKind::Unexpected(b) if b.is_ascii_graphic() => {
                write!(
                    f,
                    "class expression: unexpected '{}' at column {at}",
                    b as char
                )
            }
            ExprErrorKind::Unexpected(b) => {
                write!(
                    f,
                    "class expression: unexpected byte 0x{b:02x} at column {at}"
                )
            }
            ExprErrorKind::TooDeep => write!(
                f,
                "class expression: nested deeper than {MAX_DEPTH} at column {at}"
            ),
        }
    }
}

impl core::error::Error for ExprError {}

/// Evaluates `expr`; `defined(name)` says whether a class is set.
pub fn eval(expr: &str, defined: impl FnMut(&str) -> bool) -> Result<bool, ExprError> {
    let mut p = Parser {
        src: expr,
        pos: 0,
        defined,
    };
    p.skip_blanks();
    if p.pos == expr.len() {
        return Err(ExprError {
            offset: 0,
            kind: ExprErrorKind::Empty,
        });
    }
    let value = p.or(0)?;
    p.skip_blanks();
    match p.peek() {
        None => Ok(value),
        Some(b) => Err(p.error(ExprErrorKind::Unexpected(b))),
    }
}

/// Checks the syntax of `expr` only.
pub fn check(expr: &str) -> Result<(), ExprError> {
    eval(expr, |_| false).map(|_| ())
}

/// Writes `expr` in canonical form: no blanks, `.` for and, `|` for or, names and
/// parentheses as written. The canonical form parses to the same value for every
/// assignment of the classes, and is its own canonical form. A syntax error is returned
/// before anything is written.
pub fn canonical(expr: &str, out: &mut impl fmt::Write) -> Result<(), CanonicalError> {
    check(expr).map_err(CanonicalError::Syntax)?;
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' => i += 1,
            b'&' | b'.' => {
                out.write_char('.').map_err(|_| CanonicalError::Write)?;
                i += 1;
            }
            b'|' => {
                out.write_char('|').map_err(|_| CanonicalError::Write)?;
                // `||` is one operator.
                i += if b.get(i + 1) == Some(&b'|') { 2 } else { 1 };
            }
            c if is_token_byte(c) => {
                let start = i;
                while b.get(i).copied().is_some_and(is_token_byte) {
                    i += 1;
                }
                out.write_str(expr.get(start..i).unwrap_or(""))
                    .map_err(|_| CanonicalError::Write)?;
            }
            // `!`, `(`, `)`: the only other bytes a valid expression holds.
            c => {
                out.write_char(c as char)
                    .map_err(|_| CanonicalError::Write)?;
                i += 1;
            }
        }
    }
    Ok(())
}

/// Why [`canonical`] wrote nothing or not all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanonicalError {
    /// The expression is not valid.
    Syntax(ExprError),
    /// The writer refused.
    Write,
}

const fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

struct Parser<'a, F> {
    src: &'a str,
    pos: usize,
    defined: F,
}

impl<F: FnMut(&str) -> bool> Parser<'_, F> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn error(&self, kind: ExprErrorKind) -> ExprError {
        ExprError {
            offset: self.pos,
            kind,
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `b` (after blanks) if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_blanks();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<bool, ExprError> {
        let mut value = self.and(depth)?;
        while self.eat(b'|') {
            self.eat_exact(b'|');
            // Evaluate both sides: the rest must be read for its syntax anyway.
            let rhs = self.and(depth)?;
            value |= rhs;
        }
        Ok(value)
    }

    /// Consumes `b` if it is the very next byte (the second `|` of `||`).
    fn eat_exact(&mut self, b: u8) {
        if self.peek() == Some(b) {
            self.pos += 1;
        }
    }

    fn and(&mut self, depth: usize) -> Result<bool, ExprError> {
        let mut value = self.not(depth)?;
        while self.eat(b'.') || self.eat(b'&') {
            let rhs = self.not(depth)?;
            value &= rhs;
        }
        Ok(value)
    }

    fn not(&mut self, depth: usize) -> Result<bool, ExprError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(ExprErrorKind::TooDeep));
        }
        if self.eat(b'!') {
            return Ok(!self.not(depth + 1)?);
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<bool, ExprError> {
        self.skip_blanks();
        let start = self.pos;
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let value = self.or(depth + 1)?;
                if self.eat(b')') {
                    Ok(value)
                } else {
                    Err(ExprError {
                        offset: start,
                        kind: ExprErrorKind::Unclosed,
                    })
                }
            }
            Some(b) if is_token_byte(b) => {
                while self.peek().is_some_and(is_token_byte) {
                    self.pos += 1;
                }
                let name = self.src.get(start..self.pos).unwrap_or("");
                Ok(match name {
                    "true" => true,
                    "false" => false,
                    _ => (self.defined)(name),
                })
            }
            Some(b'|' | b'.' | b'&' | b')') | None => {
                Err(self.error(ExprErrorKind::ExpectedOperand))
            }
            Some(b) => Err(self.error(ExprErrorKind::Unexpected(b))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with(set: &[&str], expr: &str) -> Result<bool, ExprError> {
        eval(expr, |n| set.contains(&n))
    }

    #[test]
    fn precedence() {
        // `!` before `.`: (!a).b, not !(a.b).
        assert!(!with(&["a", "b"], "!a.b").unwrap());
        assert!(with(&["b"], "!a.b").unwrap());
        // `.` before `|`: a | (b . c).
        assert!(with(&["a"], "a|b.c").unwrap());
        assert!(with(&["a"], "b.c|a").unwrap());
        assert!(!with(&["c"], "a|b.c").unwrap());
        // Parentheses override.
        assert!(!with(&["a"], "(a|b).c").unwrap());
        assert!(with(&["a", "c"], "(a|b)&c").unwrap());
        assert!(with(&[], "!(a|b)").unwrap());
        assert!(with(&[], "!!!a").unwrap());
    }

    #[test]
    fn operators_literals_and_blanks() {
        assert!(with(&["x"], "x || y").unwrap());
        assert!(with(&["x", "y"], " x & y ").unwrap());
        assert!(with(&[], "true").unwrap());
        assert!(!with(&["false"], "false").unwrap());
        assert!(with(&["ns:c"], "ns:c").unwrap());
        assert!(with(
            &["entropy_www_in_low", "www_in_high_anomaly"],
            "entropy_www_in_low.www_in_high_anomaly"
        )
        .unwrap());
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = |s| with(&[], s).unwrap_err();
        assert_eq!(e("").kind, ExprErrorKind::Empty);
        assert_eq!(e("  ").kind, ExprErrorKind::Empty);
        assert_eq!(
            e("a."),
            ExprError {
                offset: 2,
                kind: ExprErrorKind::ExpectedOperand
            }
        );
        assert_eq!(
            e("|a"),
            ExprError {
                offset: 0,
                kind: ExprErrorKind::ExpectedOperand
            }
        );
        assert_eq!(
            e("a|(b"),
            ExprError {
                offset: 2,
                kind: ExprErrorKind::Unclosed
            }
        );
        assert_eq!(
            e("a)"),
            ExprError {
                offset: 1,
                kind: ExprErrorKind::Unexpected(b')')
            }
        );
        assert_eq!(
            e("a b"),
            ExprError {
                offset: 2,
                kind: ExprErrorKind::Unexpected(b'b')
            }
        );
        assert_eq!(
            e("$(x)"),
            ExprError {
                offset: 0,
                kind: ExprErrorKind::Unexpected(b'$')
            }
        );
        assert_eq!(e("()").kind, ExprErrorKind::ExpectedOperand);
        let deep = "(".repeat(40) + "a" + &")".repeat(40);
        assert_eq!(e(&deep).kind, ExprErrorKind::TooDeep);
        // An error after a decided value is still an error.
        assert_eq!(e("true|a.").kind, ExprErrorKind::ExpectedOperand);
        use std::string::ToString;
        assert_eq!(
            e("a.").to_string(),
            "class expression: expected a class name, '!' or '(' at column 3"
        );
    }

    fn canon(s: &str) -> Result<String, CanonicalError> {
        let mut out = String::new();
        canonical(s, &mut out).map(|()| out)
    }

    #[test]
    fn canonical_form() {
        assert_eq!(canon(" a & ( b || !c ) ").unwrap(), "a.(b|!c)");
        assert_eq!(canon("x").unwrap(), "x");
        assert_eq!(
            canon("a.(b"),
            Err(CanonicalError::Syntax(ExprError {
                offset: 2,
                kind: ExprErrorKind::Unclosed
            }))
        );
    }

    /// The seeds' expressions (CFEngine 2 `cfenvd` and CFEngine 3 `cf-monitord`
    /// policies, and a `process_result`), each with the classes defined and its truth.
    #[test]
    fn seed_expressions() {
        let table: &[(&str, &[&str], bool)] = &[
            ("nfsd_in_high_dev2", &["nfsd_in_high_dev2"], true),
            (
                "anomaly_hosts.RootProcs_high_dev2",
                &["RootProcs_high_dev2"],
                false,
            ),
            (
                "anomaly_hosts.RootProcs_high_dev2",
                &["anomaly_hosts", "RootProcs_high_dev2"],
                true,
            ),
            (
                "anomaly_hosts.UserProcs_high_anomaly",
                &["anomaly_hosts", "UserProcs_high_dev2"],
                false,
            ),
            (
                "entropy_www_in_high.anomaly_hosts.www_in_high_anomaly",
                &[
                    "entropy_www_in_high",
                    "anomaly_hosts",
                    "www_in_high_anomaly",
                ],
                true,
            ),
            (
                "entropy_www_in_low.anomaly_hosts.www_in_high_anomaly",
                &[
                    "entropy_www_in_high",
                    "anomaly_hosts",
                    "www_in_high_anomaly",
                ],
                false,
            ),
            (
                "entropy_www_in_low.www_in_high_anomaly",
                &["entropy_www_in_low", "www_in_high_anomaly"],
                true,
            ),
            (
                "entropy_smtp_in_low.anomaly_hosts.smtp_in_high_dev1",
                &["entropy_smtp_in_low", "anomaly_hosts", "smtp_in_high_dev2"],
                false,
            ),
            (
                "entropy_smtp_in_low.smtp_in_high_anomaly",
                &["entropy_smtp_in_low", "smtp_in_high_anomaly"],
                true,
            ),
            (
                "anomaly_hosts.icmp_in_high_anomaly.!entropy_icmp_in_high",
                &["anomaly_hosts", "icmp_in_high_anomaly"],
                true,
            ),
            (
                "anomaly_hosts.icmp_in_high_anomaly.!entropy_icmp_in_high",
                &[
                    "anomaly_hosts",
                    "icmp_in_high_anomaly",
                    "entropy_icmp_in_high",
                ],
                false,
            ),
            (
                "entropy_tcpsyn_in_low.anomaly_hosts.tcpsyn_in_high_dev2",
                &[
                    "entropy_tcpsyn_in_low",
                    "anomaly_hosts",
                    "tcpsyn_in_high_dev2",
                ],
                true,
            ),
            (
                "entropy_dns_in_low.anomaly_hosts.dns_in_high_anomaly",
                &["anomaly_hosts", "dns_in_high_anomaly"],
                false,
            ),
            ("rootprocs_high_dev1", &["rootprocs_high_dev2"], false),
            ("command.(process_owner|vsize)", &["command", "vsize"], true),
            (
                "command.(process_owner|vsize)",
                &["process_owner", "vsize"],
                false,
            ),
            (
                "command.(process_owner|vsize)",
                &["command", "process_owner"],
                true,
            ),
            ("users_high.(loadavg_high", &[], false),
        ];
        for (expr, set, want) in table {
            match with(set, expr) {
                Ok(got) => assert_eq!(got, *want, "{expr} with {set:?}"),
                // The one broken expression of the golden files stays an error.
                Err(e) => assert_eq!(
                    (*expr, e.kind),
                    ("users_high.(loadavg_high", ExprErrorKind::Unclosed)
                ),
            }
        }
    }

    /// A tiny expression tree to check the evaluator against.
    #[derive(Clone, Debug)]
    enum Tree {
        Var(usize),
        Not(Box<Tree>),
        And(Box<Tree>, Box<Tree>),
        Or(Box<Tree>, Box<Tree>),
    }

    use std::{boxed::Box, format, string::String};

    const VARS: [&str; 4] = ["a", "b", "c_1", "ns:d"];

    impl Tree {
        fn value(&self, env: u8) -> bool {
            match self {
                Tree::Var(i) => env & (1 << i) != 0,
                Tree::Not(t) => !t.value(env),
                Tree::And(a, b) => a.value(env) && b.value(env),
                Tree::Or(a, b) => a.value(env) || b.value(env),
            }
        }

        /// Written with the fewest parentheses the precedence allows.
        fn text(&self, and_op: &str, or_op: &str) -> String {
            match self {
                Tree::Var(i) => VARS[*i].into(),
                Tree::Not(t) => match **t {
                    Tree::Var(_) | Tree::Not(_) => format!("!{}", t.text(and_op, or_op)),
                    _ => format!("!({})", t.text(and_op, or_op)),
                },
                Tree::And(a, b) => {
                    let side = |t: &Tree| match t {
                        Tree::Or(..) => format!("({})", t.text(and_op, or_op)),
                        _ => t.text(and_op, or_op),
                    };
                    format!("{}{and_op}{}", side(a), side(b))
                }
                Tree::Or(a, b) => {
                    format!(
                        "{} {or_op} {}",
                        a.text(and_op, or_op),
                        b.text(and_op, or_op)
                    )
                }
            }
        }
    }

    fn tree() -> impl Strategy<Value = Tree> {
        (0..VARS.len())
            .prop_map(Tree::Var)
            .prop_recursive(6, 40, 2, |inner| {
                prop_oneof![
                    inner.clone().prop_map(|t| Tree::Not(Box::new(t))),
                    (inner.clone(), inner.clone())
                        .prop_map(|(a, b)| Tree::And(Box::new(a), Box::new(b))),
                    (inner.clone(), inner).prop_map(|(a, b)| Tree::Or(Box::new(a), Box::new(b))),
                ]
            })
    }

    proptest! {
        #[test]
        fn prop_minimal_parentheses_evaluate_like_the_tree(
            t in tree(), env in 0u8..16, and_op in prop_oneof![Just("."), Just("&")],
            or_op in prop_oneof![Just("|"), Just("||")],
        ) {
            let text = t.text(and_op, or_op);
            let got = eval(&text, |n| VARS.iter().position(|v| *v == n).is_some_and(|i| env & (1 << i) != 0));
            prop_assert_eq!(got, Ok(t.value(env)), "{}", text);
        }


        #[test]
        fn prop_printed_and_parsed_again_evaluates_the_same(
            t in tree(), and_op in prop_oneof![Just("."), Just("&"), Just(" & ")],
            or_op in prop_oneof![Just("|"), Just("||")], extra_parens in any::<bool>(),
        ) {
            let mut text = t.text(and_op, or_op);
            if extra_parens {
                text = format!("( {text} )");
            }
            let printed = canon(&text).unwrap();
            // Its own canonical form.
            prop_assert_eq!(canon(&printed).unwrap(), printed.clone());
            for env in 0u8..16 {
                let d = |n: &str| VARS.iter().position(|v| *v == n).is_some_and(|i| env & (1 << i) != 0);
                prop_assert_eq!(eval(&printed, d), eval(&text, d), "{} -> {}", text, printed);
                prop_assert_eq!(eval(&printed, d), Ok(t.value(env)));
            }
        }

        #[test]
        fn prop_canonical_agrees_with_check(s in "[a-c!.&|() ]{0,24}") {
            match check(&s) {
                Ok(()) => {
                    let printed = canon(&s).unwrap();
                    for env in 0u8..8 {
                        let d = |n: &str| ["a", "b", "c"].iter().position(|v| *v == n).is_some_and(|i| env & (1 << i) != 0);
                        prop_assert_eq!(eval(&printed, d), eval(&s, d), "{:?} -> {:?}", s, printed);
                    }
                }
                Err(e) => prop_assert_eq!(canon(&s), Err(CanonicalError::Syntax(e))),
            }
        }

        #[test]
        fn prop_expr_never_panics(s in "[a-c!.&|() $]{0,24}") {
            let _ = check(&s);
        }
    }
}
