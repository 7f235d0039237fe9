//! The learner's state file: the 2 MiB table and everything else the learner remembers,
//! written atomically, checked on load, and set aside (never a crash) when damaged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use homeostat_core::stats::{persist, table, Learner, Table};

/// File name of the learner's state in the state directory.
pub const STATE_FILE: &str = "learner.state";

/// The learner and its table, heap-placed (the table is 2,064,384 bytes).
pub struct Brain {
    pub learner: Box<Learner>,
    pub table: Box<Table>,
}

impl Brain {
    pub fn fresh(forget_rate: f32) -> Brain {
        Brain {
            learner: Box::new(Learner::new(forget_rate)),
            table: table::boxed(),
        }
    }

    /// Loads the state of `dir`, or a fresh one when there is none. A damaged state is
    /// moved to `learner.state.damaged` and learning restarts; `warn` says so.
    pub fn load(dir: &Path, forget_rate: f32, mut warn: impl FnMut(String)) -> io::Result<Brain> {
        let path = dir.join(STATE_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Brain::fresh(forget_rate)),
            Err(e) => return Err(e),
        };
        let mut brain = Brain::fresh(forget_rate);
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        match persist::read_from(&mut reader, &mut brain.learner, &mut brain.table) {
            Ok(()) => {
                // The config's forget rate wins over the one saved with the state.
                brain.learner.set_forget_rate(forget_rate);
                Ok(brain)
            }
            Err(e)
                if e.kind() == io::ErrorKind::InvalidData
                    || e.kind() == io::ErrorKind::UnexpectedEof =>
            {
                let aside = damaged_path(dir);
                set_aside(&path, &aside)?;
                warn(format!(
                    "learner state {} is damaged ({e}); its first {} KiB are kept in {} and learning restarts",
                    path.display(),
                    ASIDE_BYTES / 1024,
                    aside.display()
                ));
                Ok(Brain::fresh(forget_rate))
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the state to a temporary file, fsyncs it and renames it into place.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp.{}", std::process::id()));
        let result = (|| {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            let mut w = BufWriter::with_capacity(64 * 1024, f);
            persist::write_to(&self.learner, &self.table, &mut w)?;
            w.flush()?;
            w.get_ref().sync_data()?;
            fs::rename(&tmp, &path)?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// How much of a damaged state is kept for diagnosis: the header and the learner's own
/// part, not a second 2 MiB table (the store must stay under 1.5× the table).
const ASIDE_BYTES: usize = 64 * 1024;

fn set_aside(path: &Path, aside: &Path) -> io::Result<()> {
    use std::io::Read;
    let mut head = Vec::with_capacity(ASIDE_BYTES);
    File::open(path)?
        .take(ASIDE_BYTES as u64)
        .read_to_end(&mut head)?;
    fs::write(aside, &head)?;
    fs::remove_file(path)
}

fn damaged_path(dir: &Path) -> PathBuf {
    dir.join(format!("{STATE_FILE}.damaged"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::stats::{ObsId, Report, Sample, DEFAULT_FORGET_RATE};

    #[test]
    fn save_load_is_bit_exact_and_damage_restarts() {
        let dir = std::env::temp_dir().join(format!("homeostat-store-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut b = Brain::fresh(DEFAULT_FORGET_RATE);
        let (mut s, mut r) = (Sample::new(), Report::new());
        s.set(ObsId::USERS, 3.0);
        b.learner.sample(&mut b.table, 1_700_000_000, &s, &mut r);
        b.save(&dir).unwrap();
        let c = Brain::load(&dir, DEFAULT_FORGET_RATE, |m| panic!("{m}")).unwrap();
        assert_eq!(*c.learner, *b.learner);
        assert!(c.table[..] == b.table[..]);
        let p = dir.join(STATE_FILE);
        let mut bytes = fs::read(&p).unwrap();
        bytes[100] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let mut said = Vec::new();
        let d = Brain::load(&dir, DEFAULT_FORGET_RATE, |m| said.push(m)).unwrap();
        assert_eq!(d.learner.age(), 0);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(dir.join("learner.state.damaged").exists() && !p.exists());
        let _ = fs::remove_dir_all(dir);
    }
}
