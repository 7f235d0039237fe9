//! `homeostat watch-peers` (and `run` every `[peers] interval`): fetch each neighbour's
//! key and signed database, pin the key on first use, verify, compare with the copy
//! fetched last time, and report one `peer` event per neighbour.
//!
//! Neighbours are fetched concurrently, each request under its own timeouts, so one dead
//! or slow neighbour delays no other's report; the events come out in list order.
//! Verifying and comparing run on tokio's blocking pool, so `run`'s runtime keeps
//! serving (the peers' server, `/metrics`) meanwhile.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use homeostat_core::event::{Epoch, Event, PeerReport, PeerState};
use homeostat_core::feed::Sink;
use tokio::sync::mpsc;

use crate::config::peers::PeerSettings;
use crate::config::Config;
use crate::exit::{Outcome, CONFIG, IO};
use crate::files::database::{verify, DbFileError};
use crate::files::signing::Keys;
use crate::output::Output;
use crate::peers::client::{self, Timeouts};
use crate::peers::compare::{self, Counts};
use crate::peers::pins::{key_hex, parse_key, Pin, Pins, MAX_KEY_TEXT};

/// Largest database fetched from a neighbour (a million records is some 150 MB).
pub const MAX_DATABASE: u64 = 1 << 30;

/// What one watch found of one neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// As the host list names it.
    pub host: String,
    pub state: PeerState,
    /// Against the copy fetched last time (zero where that does not apply).
    pub counts: Counts,
    /// Why, in words; may quote the neighbour (renderers escape it).
    pub message: String,
}

/// One watch: per neighbour, what was found, or a local failure (this host's state
/// directory, not the neighbour) that kept it from being judged.
pub type Watched = Vec<Result<Found, String>>;

/// `homeostat watch-peers`: exits with the OR of the events' bits (0 when nothing is
/// wrong). A host not in the list watches none: a warning says so.
pub fn command(cfg: &Config, state: &Path, out: &mut Output) -> Outcome {
    let settings = cfg
        .peers
        .as_ref()
        .filter(|p| !p.hosts.is_empty())
        .ok_or((CONFIG, "watch-peers: [peers] has no hosts".to_string()))?;
    let neighbours = settings.neighbours();
    if neighbours.is_empty() {
        let me = settings.me().unwrap_or_default();
        out.warning(
            me.as_bytes(),
            &format!("watch-peers: this host ({me:?}) is not in [peers] hosts or has no neighbours (set [peers] self or listen); nothing to watch"),
        )
        .and_then(|()| out.commit())
        .map_err(|e| (IO, format!("cannot write report: {e}")))?;
        return Ok(0);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (IO, format!("watch-peers: cannot start the runtime: {e}")))?;
    let watched = rt.block_on(watch(&neighbours, state, Timeouts::PEERS));
    let now = out.now();
    let (bits, failure) = report(out, now, &watched);
    let written = out.commit();
    if let Some(why) = failure {
        return Err((IO, why));
    }
    written.map_err(|e| (IO, format!("cannot write report: {e}")))?;
    Ok(bits)
}

/// Emits one `peer` event per neighbour judged; returns the OR of their exit bits and the
/// first local failure (or report error), if any.
pub fn report(out: &mut Output, now: Epoch, watched: &Watched) -> (u8, Option<String>) {
    let mut bits = 0;
    let mut failure = None;
    for w in watched {
        let f = match w {
            Ok(f) => f,
            Err(why) => {
                failure.get_or_insert_with(|| why.clone());
                continue;
            }
        };
        bits |= f.state.exit_bit();
        let event = Event::Peer(PeerReport {
            t: now,
            host: &f.host,
            state: f.state,
            added: f.counts.added,
            removed: f.counts.removed,
            changed: f.counts.changed,
            message: &f.message,
        });
        if let Err(e) = out.emit(&event) {
            failure.get_or_insert_with(|| format!("cannot write report: {e}"));
        }
    }
    (bits, failure)
}

/// The `[peers]` settings `run` watches with; a reload sends new ones.
pub type Settings = tokio::sync::watch::Receiver<Option<PeerSettings>>;

/// For `run`: watches the neighbours at once and then every `[peers] interval`, on the
/// current runtime, while the settings have hosts; each watch arrives on the returned
/// channel. New settings (a reload) take effect at once.
pub fn every(mut settings: Settings, state: PathBuf) -> mpsc::Receiver<Watched> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let current = settings.borrow_and_update().clone();
            if let Some(p) = current.filter(|p| !p.hosts.is_empty()) {
                let watched = watch(&p.neighbours(), &state, Timeouts::PEERS).await;
                if tx.send(watched).await.is_err() {
                    return; // the daemon is finishing
                }
                let period = p.interval.max(Duration::from_secs(1));
                tokio::select! {
                    _ = tokio::time::sleep(period) => continue,
                    changed = settings.changed() => if changed.is_err() { return },
                }
            } else if settings.changed().await.is_err() {
                return;
            }
        }
    });
    rx
}

/// One watch of `neighbours`, all at once; the results in list order.
pub async fn watch(neighbours: &[String], state: &Path, timeouts: Timeouts) -> Watched {
    let pins = match Pins::open(state) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("watch-peers: cannot open the peers directory: {e}");
            return neighbours.iter().map(|_| Err(why.clone())).collect();
        }
    };
    let held = {
        let pins = pins.clone();
        tokio::task::spawn_blocking(move || pins.lock()).await
    };
    let locked = match held {
        Ok(lock) => lock.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let _lock = match locked {
        Ok(lock) => lock,
        Err(e) => {
            let why = format!("watch-peers: cannot lock the peers directory: {e}");
            return neighbours.iter().map(|_| Err(why.clone())).collect();
        }
    };
    let tasks: Vec<_> = neighbours
        .iter()
        .map(|host| tokio::spawn(neighbour(host.clone(), pins.clone(), timeouts)))
        .collect();
    let mut watched = Vec::with_capacity(tasks.len());
    for (task, host) in tasks.into_iter().zip(neighbours) {
        watched.push(match task.await {
            Ok(r) => r,
            Err(e) => Err(format!("watch-peers: watching {host} failed: {e}")),
        });
    }
    watched
}

fn found(host: &str, state: PeerState, message: String) -> Found {
    Found {
        host: host.to_owned(),
        state,
        counts: Counts::default(),
        message,
    }
}

/// A GET that failed: the neighbour's fault (it is unreachable) or ours.
enum Fetch {
    Peer(String),
    Local(String),
}

/// GETs `target` from `host` into `out`; anything but a whole 200 is a failure.
async fn fetch<W: Write + ?Sized>(
    host: &str,
    target: &str,
    limit: u64,
    timeouts: Timeouts,
    out: &mut W,
) -> Result<(), Fetch> {
    match client::get(host, target, limit, timeouts, out).await {
        Ok(got) if got.status == 200 => Ok(()),
        Ok(got) => Err(Fetch::Peer(format!(
            "GET http://{host}{target}: HTTP status {}",
            got.status
        ))),
        Err(e) if e.is_local() => Err(Fetch::Local(e.to_string())),
        Err(e) => Err(Fetch::Peer(e.to_string())),
    }
}

/// Watches one neighbour: its key against the pin, then its database.
async fn neighbour(host: String, pins: Pins, timeouts: Timeouts) -> Result<Found, String> {
    let mut served = Vec::new();
    match fetch(&host, "/v1/key", MAX_KEY_TEXT, timeouts, &mut served).await {
        Ok(()) => {}
        Err(Fetch::Peer(why)) => return Ok(found(&host, PeerState::Unreachable, why)),
        Err(Fetch::Local(why)) => return Err(why),
    }
    let served = parse_key(&served);
    let pin_file = pins.key_file(&host);
    let pinned = pins.pinned(&host).map_err(|e| e.to_string())?;
    let (key, first) = match (pinned, served) {
        (Pin::Key(p), Some(s)) if p == s => (p, false),
        (Pin::None, Some(s)) => (s, true),
        (Pin::Key(p), s) => {
            let serves = s.map_or("no valid key".to_string(), |s| {
                format!("key {}", key_hex(&s))
            });
            let why = format!(
                "{host} serves {serves}, not the key pinned in {} ({}); its database is not trusted until an operator removes that file",
                pin_file.display(),
                key_hex(&p)
            );
            return Ok(found(&host, PeerState::KeyChanged, why));
        }
        (Pin::Unreadable, _) => {
            let why = format!(
                "the pin file {} holds no key; {host} is not trusted until an operator removes it",
                pin_file.display()
            );
            return Ok(found(&host, PeerState::KeyChanged, why));
        }
        (Pin::None, None) => {
            let why = format!(
                "{host} serves no valid key (64 hex digits expected): nothing to verify its database with"
            );
            return Ok(found(&host, PeerState::BadSignature, why));
        }
    };
    let download = pins.download(&host);
    let mut file = crate::state_file::open_with(
        &download,
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600),
    )
    .map(|f| BufWriter::with_capacity(64 * 1024, f))
    .map_err(|e| format!("cannot create {}: {e}", download.display()))?;
    let fetched = fetch(&host, "/v1/files.db", MAX_DATABASE, timeouts, &mut file).await;
    let flushed = file.flush();
    drop(file);
    match (fetched, flushed) {
        (Ok(()), Ok(())) => {}
        (Ok(()), Err(e)) => {
            pins.discard_download(&host);
            return Err(format!("cannot write {}: {e}", download.display()));
        }
        (Err(Fetch::Peer(why)), _) => {
            pins.discard_download(&host);
            return Ok(found(&host, PeerState::Unreachable, why));
        }
        (Err(Fetch::Local(why)), _) => {
            pins.discard_download(&host);
            return Err(why);
        }
    }
    tokio::task::spawn_blocking(move || judge(&host, &pins, key, first))
        .await
        .map_err(|e| format!("watch-peers: judging a database failed: {e}"))?
}

/// Verifies the download with `key` (pinning it when `first`), compares it with the copy
/// fetched last time and keeps it in that copy's place.
fn judge(host: &str, pins: &Pins, key: VerifyingKey, first: bool) -> Result<Found, String> {
    let keys = Keys {
        signing: None,
        verifying: Some(key),
    };
    let fresh = match verify(&pins.download(host), &keys) {
        Ok(v) => v,
        Err(DbFileError::Invalid { offset, reason, .. }) => {
            pins.discard_download(host);
            let whose = if first {
                "the key it serves"
            } else {
                "its pinned key"
            };
            let why = format!(
                "the database {host} serves is refused at byte {offset}: {reason} (checked with {whose}); the copy fetched last time is kept"
            );
            return Ok(found(host, PeerState::BadSignature, why));
        }
        Err(e) => {
            pins.discard_download(host);
            return Err(e.to_string());
        }
    };
    let local = |e: io::Error| e.to_string();
    if first {
        pins.pin(host, &key).map_err(local)?;
    }
    let copy = pins.copy(host);
    let earlier = if copy.exists() {
        Some(verify(&copy, &keys))
    } else {
        None
    };
    let result = match earlier {
        None if first => found(
            host,
            PeerState::New,
            format!("{host}: key {} pinned, {} records", key_hex(&key), fresh.count),
        ),
        None => found(
            host,
            PeerState::New,
            format!("{host}: no copy from an earlier fetch to compare with; {} records kept", fresh.count),
        ),
        Some(Err(e)) => found(
            host,
            PeerState::New,
            format!("{host}: the copy fetched last time cannot be used ({e}); replaced by this fetch of {} records", fresh.count),
        ),
        Some(Ok(old)) => {
            let counts = compare::databases(&old, &fresh).map_err(|e| e.to_string())?;
            let (state, message) = if counts.is_zero() {
                (
                    PeerState::Unchanged,
                    format!("{host}: {} records, as fetched last time", fresh.count),
                )
            } else {
                (
                    PeerState::Changed,
                    format!(
                        "{host}: {} added, {} removed, {} changed since the last fetch",
                        counts.added, counts.removed, counts.changed
                    ),
                )
            };
            Found {
                host: host.to_owned(),
                state,
                counts,
                message,
            }
        }
    };
    pins.keep_download(host).map_err(local)?;
    Ok(result)
}

#[cfg(test)]
mod tests;
