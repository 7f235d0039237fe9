//! The observable names a config makes: each `[[measure]]` name and each `[monitor]
//! services` name (as `NAME_in` and `NAME_out`) becomes a slot of the learner, so each
//! must be a name the learner takes, and none may be a built-in observable or another's.
//! Checked at load: a name refused here would otherwise be refused (or, worse, merged into
//! a built-in's slot) at every sample.

use anyhow::{bail, Result};
use homeostat_core::stats::observables::{BUILTIN, NAME_LEN, SERVICES};

/// `_out`, the longer of the suffixes a service name gets.
const SUFFIX: usize = 4;

/// Why `name` cannot be an observable made by the config (at most `max` bytes).
fn unusable(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some(String::from("empty"));
    }
    if let Some(b) = name
        .bytes()
        .find(|b| !homeostat_core::classes::is_name_byte(*b))
    {
        return Some(format!(
            "invalid character {:?}: expected letters, digits and _ (it names a class)",
            char::from(b)
        ));
    }
    if name.len() > max {
        return Some(format!("longer than {max} bytes"));
    }
    None
}

/// Checks the measurement names and service names of a config (see the module).
pub fn check<'a>(
    measures: impl Iterator<Item = (usize, &'a str)>,
    services: &[(String, u16)],
    origin: &str,
) -> Result<()> {
    for (name, _) in services {
        if let Some(why) = unusable(name, NAME_LEN - SUFFIX) {
            bail!("{origin}: [monitor] services: name {name:?}: {why}");
        }
        if SERVICES.contains(&name.as_str()) {
            bail!("{origin}: [monitor] services: name {name:?} collides with the built-in service {name} ({name}_in, {name}_out): it is counted already");
        }
        for dir in ["in", "out"] {
            let obs = format!("{name}_{dir}");
            if BUILTIN.contains(&obs.as_str()) {
                bail!("{origin}: [monitor] services: name {name:?} makes {obs}, which collides with the built-in observable {obs}");
            }
        }
    }
    for (block, name) in measures {
        let key = format!("{origin}: [[measure]] block {block}: name {name:?}");
        if let Some(why) = unusable(name, NAME_LEN) {
            bail!("{key}: {why}");
        }
        if BUILTIN.contains(&name) {
            bail!("{key} collides with the built-in observable {name}");
        }
        if let Some((svc, _)) = services.iter().find(|(s, _)| {
            name.strip_prefix(s.as_str())
                .is_some_and(|d| d == "_in" || d == "_out")
        }) {
            bail!("{key} collides with {name} of [monitor] services {svc:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(names: &[&str]) -> Vec<(String, u16)> {
        names.iter().map(|n| (n.to_string(), 8080)).collect()
    }

    fn err(m: &[&str], s: &[&str]) -> String {
        let m = m.iter().enumerate().map(|(i, n)| (i + 1, *n));
        check(m, &services(s), "c.toml").unwrap_err().to_string()
    }

    #[test]
    fn names_that_collide_or_cannot_be_used_are_refused() {
        let e = err(&[], &["www"]);
        assert!(
            e.contains("[monitor] services: name \"www\" collides with the built-in service www"),
            "{e}"
        );
        let e = err(&["rootprocs"], &[]);
        assert!(e.contains("[[measure]] block 1: name \"rootprocs\" collides with the built-in observable rootprocs"), "{e}");
        let e = err(&["ok", "app_in"], &["app"]);
        assert!(
            e.contains(
                "block 2: name \"app_in\" collides with app_in of [monitor] services \"app\""
            ),
            "{e}"
        );
        for bad in ["a.b", "a-b", ""] {
            let e = err(&[bad], &[]);
            assert!(e.contains(&format!("name {bad:?}")), "{e}");
            let e = err(&[], &[bad]);
            assert!(e.contains(&format!("services: name {bad:?}")), "{e}");
        }
        let e = err(&["a.b"], &[]);
        assert!(e.contains("invalid character '.'"), "{e}");
        // At the limit accepted, one byte over refused.
        let at = "m".repeat(NAME_LEN);
        assert!(check([(1, at.as_str())].into_iter(), &[], "c").is_ok());
        let e = err(&[&"m".repeat(NAME_LEN + 1)], &[]);
        assert!(e.contains(&format!("longer than {NAME_LEN} bytes")), "{e}");
        let at = "s".repeat(NAME_LEN - SUFFIX);
        assert!(check(std::iter::empty(), &services(&[&at]), "c").is_ok());
        let e = err(&[], &[&"s".repeat(NAME_LEN - SUFFIX + 1)]);
        assert!(
            e.contains(&format!("longer than {} bytes", NAME_LEN - SUFFIX)),
            "{e}"
        );
        assert!(check([(1, "app_total")].into_iter(), &services(&["app"]), "c").is_ok());
    }
}
