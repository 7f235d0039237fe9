//! The learner's state blob (`learner.state` in the state directory, through
//! [`homeostat_core::feed::Storage`]): the 2 MiB table and everything else the learner
//! remembers, replaced atomically, checked on load, and set aside (never a crash) when
//! damaged.

use std::io;

use homeostat_core::feed::{BlobReader, BlobWriter, Storage};
use homeostat_core::stats::{persist, table, Learner, Report, Sample, Table};

use super::clock_step::{Source, Steps, Verdict};
use super::history::{self, History};

use crate::platform::StateDir;
use crate::state_dir::Reading;

/// Name of the learner's state in the state directory.
pub const STATE_FILE: &str = "learner.state";
/// Where a damaged state's head is kept.
const DAMAGED_FILE: &str = "learner.state.damaged";

/// The learner and its table, heap-placed (the table is 2,064,384 bytes), and the
/// recorded history of the last week.
pub struct Brain {
    pub learner: Box<Learner>,
    pub table: Box<Table>,
    pub history: History,
    /// The clock as the learner has seen it (from the history's last sample at load).
    pub steps: Steps,
}

impl Brain {
    pub fn fresh(forget_rate: f32) -> Brain {
        Brain {
            learner: Box::new(Learner::new(forget_rate)),
            table: table::boxed(),
            history: History::default(),
            steps: Steps::default(),
        }
    }

    /// Learns one sample at epoch `t` and records it in the history; while the clock is
    /// set back before the last sample learned, only judges it ([`super::clock_step`]).
    /// The verdict says which, and the step to report.
    pub fn learn(
        &mut self,
        t: i64,
        sample: &Sample,
        report: &mut Report,
        source: Source,
    ) -> Verdict {
        let v = self.steps.observe(t, source);
        if v.learn {
            self.learner.sample(&mut self.table, t, sample, report);
            self.history.record(report, &self.table);
        } else {
            self.learner.assess(&self.table, t, sample, report);
        }
        v
    }

    /// Loads the state kept in `store`, or a fresh one when there is none. A damaged state
    /// is set aside as `learner.state.damaged` and learning restarts; `warn` says so.
    pub fn load(
        store: &mut StateDir,
        forget_rate: f32,
        mut warn: impl FnMut(String),
    ) -> io::Result<Brain> {
        let mut brain = Brain::fresh(forget_rate);
        // The history only feeds views: a damaged one is said and started afresh.
        match History::load(store) {
            Ok(h) => {
                brain.history = h.unwrap_or_default();
                brain.steps = Steps::new(brain.history.latest());
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => warn(format!(
                "history {} is damaged ({e}); the recorded week starts afresh",
                store.path(history::FILE).display()
            )),
            Err(e) => return Err(e),
        }
        let read = match store.load(STATE_FILE)? {
            None => return Ok(brain),
            // Streamed: the table is filled as the bytes arrive, never held twice.
            Some(r) => persist::read_from(&mut Reading(r), &mut brain.learner, &mut brain.table),
        };
        match read {
            Ok(()) => {
                // The config's forget rate wins over the one saved with the state.
                brain.learner.set_forget_rate(forget_rate);
                Ok(brain)
            }
            Err(e)
                if e.kind() == io::ErrorKind::InvalidData
                    || e.kind() == io::ErrorKind::UnexpectedEof =>
            {
                set_aside(store)?;
                warn(format!(
                    "learner state {} is damaged ({e}); its first {} KiB are kept in {} and learning restarts",
                    store.path(STATE_FILE).display(),
                    ASIDE_BYTES / 1024,
                    store.path(DAMAGED_FILE).display()
                ));
                let history = std::mem::take(&mut brain.history);
                Ok(Brain {
                    history,
                    ..Brain::fresh(forget_rate)
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the stored state with this one, streamed ([`persist::ENCODED_LEN`] bytes),
    /// then the history ([`history::ENCODED_LEN`] bytes). A crash between the two leaves
    /// the history a sample behind the learner, which only a view ever reads.
    pub fn save(&self, store: &mut StateDir) -> io::Result<()> {
        let mut w = store.store(STATE_FILE)?;
        persist::encode_with(&self.learner, &self.table, |b: &[u8]| w.write(b))?;
        w.commit()?;
        self.history.save(store)
    }
}

/// How much of a damaged state is kept for diagnosis: the header and the learner's own
/// part, not a second 2 MiB table (the store must stay under 1.5× the table).
const ASIDE_BYTES: usize = 64 * 1024;

/// Keeps the head of the damaged state as `learner.state.damaged` and removes the state.
fn set_aside(store: &mut StateDir) -> io::Result<()> {
    let mut head = vec![0u8; ASIDE_BYTES];
    let mut len = 0;
    if let Some(mut r) = store.load(STATE_FILE)? {
        while len < head.len() {
            match r.read(&mut head[len..])? {
                0 => break,
                n => len += n,
            }
        }
    }
    let mut w = store.store(DAMAGED_FILE)?;
    w.write(&head[..len])?;
    w.commit()?;
    store.remove(STATE_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::stats::{ObsId, Report, Sample, DEFAULT_FORGET_RATE};
    use std::fs;

    #[test]
    fn save_load_is_bit_exact_and_damage_restarts() {
        let dir = std::env::temp_dir().join(format!("homeostat-store-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut store = StateDir::new(&dir);
        let mut b = Brain::fresh(DEFAULT_FORGET_RATE);
        let (mut s, mut r) = (Sample::new(), Report::new());
        s.set(ObsId::USERS, 3.0);
        b.learner.sample(&mut b.table, 1_700_000_000, &s, &mut r);
        b.save(&mut store).unwrap();
        let c = Brain::load(&mut store, DEFAULT_FORGET_RATE, |m| panic!("{m}")).unwrap();
        assert_eq!(*c.learner, *b.learner);
        assert!(c.table[..] == b.table[..]);
        let p = dir.join(STATE_FILE);
        let mut bytes = fs::read(&p).unwrap();
        bytes[100] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let mut said = Vec::new();
        let d = Brain::load(&mut store, DEFAULT_FORGET_RATE, |m| said.push(m)).unwrap();
        assert_eq!(d.learner.age(), 0);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(dir.join("learner.state.damaged").exists() && !p.exists());
        // The copy aside is as private as the state it comes from.
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join("learner.state.damaged"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "learner.state.damaged is {mode:o}");
        let _ = fs::remove_dir_all(dir);
    }
}
