//! `homeostat replay FILE`: feeds recorded `epoch,observable,value` lines through the
//! learner, so a new machine can start from history instead of from nothing.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use homeostat_core::feed::Sink;
use homeostat_core::stats::learner::MAX_VALUE;
use homeostat_core::stats::observables::check_name;
use homeostat_core::stats::{ObsId, Report, Sample};

use crate::limits::REPLAY_LINE;

use super::clock_step::Source;
use super::events;
use super::store::Brain;

/// One parsed line.
struct Line {
    /// Its 1-based number in the file.
    n: usize,
    t: i64,
    name: String,
    value: f32,
}

/// Every error names `file:n`. Values are refused as the learner would drop them (not
/// finite, or beyond its [`MAX_VALUE`]): silently dropped history is lost history.
fn parse(line: &str, file: &Path, n: usize) -> Result<Option<Line>> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let place = || format!("{}:{n}", file.display());
    let mut parts = text.splitn(3, ',').map(str::trim);
    let (Some(t), Some(name), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("{}: expected `epoch,observable,value`", place());
    };
    let t: i64 = t
        .parse()
        .with_context(|| format!("{}: epoch {t:?} is not a whole number of seconds", place()))?;
    let written = value;
    let value: f64 = value
        .parse()
        .with_context(|| format!("{}: value {value:?} is not a number", place()))?;
    if !value.is_finite() {
        bail!("{}: value {written} is not finite", place());
    }
    // As the learner will hold it (f32), and compare it with its bound.
    if (value as f32).abs() > MAX_VALUE {
        bail!(
            "{}: value {written} is out of range: the learner takes -{MAX_VALUE:e} to {MAX_VALUE:e}",
            place()
        );
    }
    if ObsId::builtin(name).is_none() {
        check_name(name).map_err(|e| anyhow::anyhow!("{}: observable {name:?}: {e}", place()))?;
    }
    Ok(Some(Line {
        n,
        t,
        name: name.to_string(),
        value: value as f32,
    }))
}

/// The parsed lines of `file`, each read with the [`REPLAY_LINE`] bound (a file without
/// newlines, such as /dev/zero, is refused at its first line, not held in memory).
fn lines(file: &Path) -> Result<impl Iterator<Item = Result<Option<Line>>> + '_> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut r = BufReader::new(f);
    let (mut n, mut buf, mut done) = (0usize, Vec::new(), false);
    Ok(std::iter::from_fn(move || {
        if done {
            return None;
        }
        n += 1;
        buf.clear();
        let place = || format!("{}:{n}", file.display());
        // One byte past the limit tells a long line from one exactly at it.
        let read = (&mut r).take(REPLAY_LINE + 2).read_until(b'\n', &mut buf);
        match read {
            Ok(0) => None,
            Err(e) => {
                done = true;
                Some(Err(anyhow::anyhow!("{}: cannot read: {e}", place())))
            }
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                if buf.len() as u64 > REPLAY_LINE {
                    done = true;
                    return Some(Err(anyhow::anyhow!(
                        "{}: line longer than {REPLAY_LINE} bytes",
                        place()
                    )));
                }
                Some(match std::str::from_utf8(&buf) {
                    Ok(l) => parse(l, file, n),
                    Err(_) => Err(anyhow::anyhow!("{}: cannot read (not text?)", place())),
                })
            }
        }
    }))
}

/// Replays `file` into `brain`, printing each sample. Consecutive lines with the same
/// epoch are one sample. The whole file is checked before the first sample is learned,
/// so a bad line changes nothing.
/// The epoch and classes of a sample.
pub type Classified = (i64, BTreeSet<String>);

/// Returns the number of samples and the epoch and classes of the last one.
pub fn run(
    file: &Path,
    brain: &mut Brain,
    out: &mut dyn Sink<Error = io::Error>,
) -> Result<(u64, Option<Classified>)> {
    for l in lines(file)? {
        l?;
    }
    let (mut sample, mut report) = (Sample::new(), Report::new());
    let mut current: Option<i64> = None;
    let mut samples = 0u64;
    let mut last = None;
    let mut flush = |t: i64,
                     sample: &mut Sample,
                     brain: &mut Brain,
                     out: &mut dyn Sink<Error = io::Error>|
     -> Result<()> {
        let v = brain.learn(t, sample, &mut report, Source::Recorded);
        if let Some(step) = v.step {
            events::step(out, t, &step)?;
        }
        let all = events::sample(out, &brain.learner, &report, v.learn, |_| None)?;
        events::classes(out, t, &all)?;
        last = Some((t, all));
        sample.clear();
        samples += 1;
        Ok(())
    };
    for l in lines(file)? {
        let Some(l) = l? else { continue };
        if current.is_some_and(|t| t != l.t) {
            if let Some(t) = current {
                flush(t, &mut sample, brain, out)?;
            }
        }
        current = Some(l.t);
        let id = brain
            .learner
            .registry_mut()
            .register(&l.name)
            .map_err(|e| {
                anyhow::anyhow!("{}:{}: observable {:?}: {e}", file.display(), l.n, l.name)
            })?;
        sample.set(id, l.value);
    }
    if let Some(t) = current {
        flush(t, &mut sample, brain, out)?;
    }
    Ok((samples, last))
}

/// `homeostat replay FILE`: learns from `file` in the state of `state`, emitting each
/// sample's outcomes, and saves the state.
pub fn command(
    cfg: &crate::config::Config,
    state: &Path,
    file: &Path,
    out: &mut crate::output::Output,
) -> crate::exit::Outcome {
    use crate::exit::{CONFIG, IO};
    let mut session = crate::round::open_session(cfg, state, out)?;
    let (_, last) = run(file, &mut session.brain, out).map_err(|e| (CONFIG, format!("{e:#}")))?;
    out.commit()
        .map_err(|e| (IO, format!("cannot write report: {e}")))?;
    if let Some((t, classes)) = last {
        // `eval` and `state` see the classes of the last replayed sample, as after `run`.
        session.extras.last_t = t;
        session.extras.last_classes = classes.into_iter().collect();
    }
    session.save().map_err(|e| {
        (
            IO,
            format!("cannot save the learner state in {}: {e}", state.display()),
        )
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8]) -> Result<usize> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("h.csv");
        std::fs::write(&p, text).unwrap();
        let mut n = 0;
        for l in lines(&p)? {
            n += usize::from(l?.is_some());
        }
        Ok(n)
    }

    fn err(text: &[u8]) -> String {
        format!("{:#}", all(text).unwrap_err())
    }

    #[test]
    fn replay_refuses_out_of_range_values_naming_the_line() {
        assert_eq!(all(b"1,users,1e15\n2,users,-1e15\n").unwrap(), 2);
        let e = err(b"1,users,1\n2,users,1e16\n");
        assert!(
            e.contains("h.csv:2: value 1e16 is out of range: the learner takes -1e15 to 1e15"),
            "{e}"
        );
        let e = err(b"1,users,1e39\n");
        assert!(e.contains("h.csv:1: value 1e39 is out of range"), "{e}");
        let e = err(b"1,users,NaN\n");
        assert!(e.contains("h.csv:1: value NaN is not finite"), "{e}");
    }

    #[test]
    fn replay_name_errors_name_the_line() {
        let e = err(b"1,users,1\n# c\n3,a.b,1\n");
        assert!(e.contains("h.csv:3: observable \"a.b\": "), "{e}");
        let e = err(format!("1,{},1\n", "n".repeat(33)).as_bytes());
        assert!(e.contains("h.csv:1: observable"), "{e}");
        assert!(all(format!("1,{},1\n", "n".repeat(32)).as_bytes()).is_ok());
    }

    #[test]
    fn replay_lines_are_read_with_a_bound() {
        // A line of exactly the limit (a comment) is read, with or without its newline.
        let mut at = vec![b'#'; REPLAY_LINE as usize];
        assert_eq!(all(&at).unwrap(), 0);
        at.extend_from_slice(b"\n1,users,1\n");
        assert_eq!(all(&at).unwrap(), 1);
        let over = vec![b'#'; REPLAY_LINE as usize + 1];
        let e = err(&over);
        assert!(
            e.contains(&format!("h.csv:1: line longer than {REPLAY_LINE} bytes")),
            "{e}"
        );
        let mut second = b"1,users,1\n".to_vec();
        second.extend_from_slice(&over);
        assert!(err(&second).contains("h.csv:2: line longer"));
        // /dev/zero: refused at its first line, not read into memory.
        let e = lines(Path::new("/dev/zero"))
            .unwrap()
            .next()
            .unwrap()
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("/dev/zero:1: line longer than"),
            "{e:#}"
        );
    }
}
