//! The real-time producer: a thread waits on the watch and gathers what it reports into
//! batches (a window of [`WINDOW`] after the first change), which a checker takes one at
//! a time (`daemon::realtime`). A flood of changes is a few checks, each one database
//! rewrite, not one per file; the kernel's queue is read on while a check runs.

// Off Linux there is no watch to feed the batches (`start` says so).
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use homeostat_core::feed::{WatchSource, Watched};
use homeostat_core::fim::join::{is_under, tidy, Touched};
use std::sync::mpsc;

use super::origin::Proc;

/// How long changes gather after the first before they are checked: short enough to
/// report within a second, long enough that a burst is one check.
pub const WINDOW: Duration = Duration::from_millis(150);
/// Paths waiting at most; past it the batch becomes an overflow (a full check of the
/// trees), so memory stays bounded whatever the flood.
pub const MAX_PENDING: usize = 200_000;

/// What the watch saw in one window.
#[derive(Debug, Default)]
pub struct Batch {
    /// Touched paths → whether what lies below them changed too.
    pub paths: BTreeMap<Vec<u8>, bool>,
    /// The last writer of each path, when the kernel named it.
    pub writers: BTreeMap<Vec<u8>, Proc>,
    /// Changes were lost (the kernel's queue, or [`MAX_PENDING`]).
    pub overflow: bool,
    /// Parts of trees that are not watched, one sentence each.
    pub blind: Vec<String>,
    /// Changes reported by the watch, before merging repeats.
    pub events: u64,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.overflow && self.blind.is_empty()
    }

    /// Takes one report of the watch; changes under `skip` (the state dir: our own
    /// database) are left out.
    pub fn add(&mut self, w: Watched<'_>, skip: &Path) {
        use std::os::unix::ffi::OsStrExt;
        match w {
            Watched::Touched {
                path,
                below,
                writer,
            } => {
                let skip = skip.as_os_str().as_bytes();
                if path == skip || is_under(path, skip) {
                    return;
                }
                self.events += 1;
                if self.overflow {
                    return;
                }
                *self.paths.entry(path.to_vec()).or_default() |= below;
                if let Some(w) = writer {
                    self.writers.insert(path.to_vec(), Proc::of(&w));
                }
                if self.paths.len() > MAX_PENDING {
                    self.overflow = true;
                }
            }
            Watched::Overflow => self.overflow = true,
            Watched::Blind(why) => self.blind.push(why.to_string()),
        }
        if self.overflow {
            // A full check covers every path: none need keeping.
            self.paths.clear();
            self.writers.clear();
        }
    }

    /// The paths to check, tidied for the join.
    pub fn touched(&self) -> Vec<Touched<Vec<u8>>> {
        let mut v: Vec<Touched<Vec<u8>>> = self
            .paths
            .iter()
            .map(|(path, below)| Touched {
                path: path.clone(),
                below: *below,
            })
            .collect();
        let n = tidy(&mut v);
        v.truncate(n);
        v
    }
}

/// The watch running on its thread: batches to check, and its figures.
pub struct Feed {
    /// The batches, one waiting at most (the thread gathers into the next meanwhile).
    pub batches: mpsc::Receiver<Batch>,
    /// Kernel watches in use, as the thread last saw.
    pub watches: Arc<AtomicU64>,
    pub mechanism: &'static str,
    /// Set to end the thread (a reload that changed the trees): it stops within a second.
    pub stop: Arc<AtomicBool>,
    /// How long the last check of a batch took, in milliseconds: the next batch gathers
    /// at least as long, so checks of a big database under a steady stream of changes
    /// take half a core at most.
    pub pace: Arc<AtomicU64>,
}

/// Watches `trees` on a thread of its own (changes under `state_dir` left out); the
/// reason when no watch can be set up. `say` gets lines for the daemon's log.
#[cfg(target_os = "linux")]
pub fn start(
    trees: &[crate::platform::TreeSpec],
    state_dir: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<Feed, String> {
    use crate::platform::watch::{Mechanism, Watcher};
    use homeostat_core::feed::WatchSource;

    let mechanism = match std::env::var_os("HOMEOSTAT_WATCH") {
        Some(v) if v == "inotify" => Mechanism::Inotify,
        _ => Mechanism::Best,
    };
    let mut watcher =
        Watcher::open(trees, mechanism, say).map_err(|e| format!("real-time watch: {e}"))?;
    let watches = Arc::new(AtomicU64::new(watcher.watches()));
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Arc::new(AtomicBool::new(false));
    let pace = Arc::new(AtomicU64::new(0));
    let feed = Feed {
        pace: pace.clone(),
        batches: rx,
        watches: watches.clone(),
        mechanism: watcher.mechanism(),
        stop: stop.clone(),
    };
    let skip = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    std::thread::Builder::new()
        .name("realtime".into())
        .spawn(move || {
            let shared = Shared {
                watches: &watches,
                stop: &stop,
                pace: &pace,
            };
            gather(&mut watcher, &tx, &shared, &skip)
        })
        .map_err(|e| format!("real-time watch: cannot start its thread: {e}"))?;
    Ok(feed)
}

/// No real-time watch off Linux.
#[cfg(not(target_os = "linux"))]
pub fn start(
    _trees: &[crate::platform::TreeSpec],
    _state_dir: &Path,
    _say: &mut dyn FnMut(&str),
) -> Result<Feed, String> {
    Err("real-time watch: only on Linux (fanotify, inotify)".into())
}

/// What the thread shares with the daemon.
struct Shared<'a> {
    watches: &'a AtomicU64,
    stop: &'a AtomicBool,
    pace: &'a AtomicU64,
}

/// The thread: waits, gathers, hands over a batch once its window has passed and the
/// checker has room; ends when told to, when the checker has gone or the watch fails.
fn gather<W: WatchSource<Error: std::fmt::Display>>(
    watcher: &mut W,
    tx: &mpsc::SyncSender<Batch>,
    shared: &Shared<'_>,
    skip: &Path,
) {
    let mut pending = Batch::default();
    let mut since: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let window = WINDOW.max(Duration::from_millis(shared.pace.load(Ordering::Relaxed)));
        // At least a few milliseconds: a busy checker is not polled in a tight loop.
        let timeout = since.map_or(Duration::from_secs(1), |s| {
            window
                .saturating_sub(s.elapsed())
                .max(Duration::from_millis(5))
        });
        if let Err(e) = watcher.wait(timeout, &mut |w| pending.add(w, skip)) {
            crate::output::stdio::say(&format!("real-time watch stopped: {e}"));
            return;
        }
        shared.watches.store(watcher.watches(), Ordering::Relaxed);
        if pending.is_empty() {
            continue;
        }
        let first = *since.get_or_insert_with(Instant::now);
        if first.elapsed() < window {
            continue;
        }
        match tx.try_send(std::mem::take(&mut pending)) {
            Ok(()) => since = None,
            // The checker is busy: keep gathering into this batch.
            Err(mpsc::TrySendError::Full(b)) => pending = b,
            Err(mpsc::TrySendError::Disconnected(_)) => return,
        }
    }
    // Stopped for a new watch (a reload): what was gathered is still checked.
    if !pending.is_empty() {
        let _ = tx.send(pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::event::Writer;

    fn touched(path: &[u8], below: bool, pid: Option<u32>) -> Watched<'_> {
        Watched::Touched {
            path,
            below,
            writer: pid.map(|pid| Writer {
                pid,
                exe: None,
                uid: Some(0),
            }),
        }
    }

    #[test]
    fn batch_merges_repeats_and_leaves_the_state_dir_out() {
        let mut b = Batch::default();
        let state = Path::new("/t/state");
        b.add(touched(b"/t/a", false, Some(7)), state);
        b.add(touched(b"/t/a", true, Some(8)), state);
        b.add(touched(b"/t", false, None), state);
        b.add(touched(b"/t/state/files.db", false, Some(1)), state);
        assert_eq!(b.events, 3);
        assert_eq!(b.writers[&b"/t/a"[..]].pid, 8);
        let t = b.touched();
        assert_eq!(t.len(), 2);
        assert_eq!((&t[0].path[..], t[0].below), (&b"/t"[..], false));
        assert_eq!((&t[1].path[..], t[1].below), (&b"/t/a"[..], true));
    }

    /// A watch that reports a script of changes, one step per wait, then stops the thread.
    struct Script<'a> {
        steps: Vec<Vec<&'static [u8]>>,
        stop: &'a AtomicBool,
    }

    impl WatchSource for Script<'_> {
        type Error = String;
        fn wait(&mut self, _: Duration, each: &mut dyn FnMut(Watched<'_>)) -> Result<(), String> {
            if self.steps.is_empty() {
                self.stop.store(true, Ordering::Relaxed);
                return Ok(());
            }
            for path in self.steps.remove(0) {
                each(touched(path, false, None));
            }
            Ok(())
        }
        fn watches(&self) -> u64 {
            7
        }
        fn mechanism(&self) -> &'static str {
            "script"
        }
    }

    /// Changes that come within the window are one batch; all are handed over, the last
    /// when the thread is told to stop.
    #[test]
    fn the_thread_gathers_a_burst_into_one_batch() {
        // A window of a minute (as after a slow check): the steps always fall within it.
        let (watches, stop) = (AtomicU64::new(0), AtomicBool::new(false));
        let pace = AtomicU64::new(60_000);
        let mut w = Script {
            steps: vec![vec![b"/t/a", b"/t/b"], vec![b"/t/a"], vec![b"/t/c"]],
            stop: &stop,
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let shared = Shared {
            watches: &watches,
            stop: &stop,
            pace: &pace,
        };
        gather(&mut w, &tx, &shared, Path::new("/state"));
        drop(tx);
        let batches: Vec<Batch> = rx.iter().collect();
        assert_eq!(batches.len(), 1, "{batches:?}");
        let b = &batches[0];
        assert_eq!(b.events, 4);
        let paths: Vec<&[u8]> = b.paths.keys().map(Vec::as_slice).collect();
        assert_eq!(paths, [&b"/t/a"[..], b"/t/b", b"/t/c"]);
        assert_eq!(watches.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn an_overflow_drops_the_paths_for_a_full_check() {
        let mut b = Batch::default();
        let state = Path::new("/s");
        b.add(touched(b"/t/a", false, None), state);
        b.add(Watched::Overflow, state);
        b.add(touched(b"/t/b", false, None), state);
        assert!(b.overflow && b.paths.is_empty() && b.touched().is_empty());
        assert_eq!(b.events, 2);
        b.add(
            Watched::Blind(&"/t/deep: inotify watch limit reached"),
            state,
        );
        assert_eq!(b.blind, ["/t/deep: inotify watch limit reached"]);
    }
}
