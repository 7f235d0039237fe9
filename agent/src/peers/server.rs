//! The neighbourhood watch's read-only HTTP/1.1 server (hyper on tokio): this host's key,
//! signed database, journal and matching files, for the clients `[peers] allow` admits.
//!
//! - [`admit`]: clients outside `allow` get a canned 403 at accept and never take a slot.
//! - [`slots`]: at most `max_connections` at once; when full, the oldest connection still
//!   waiting for its request head is evicted for the new one.
//! - [`conn`]: one connection: hyper with the head limit, the 10 s head timeout, one
//!   request, then a lingering close ([`linger`]).
//! - [`routes`]: GET only, no body; `/v1/key`, `/v1/files.db`, `/v1/journal`, `/v1/file`.
//! - [`file`]: what `/v1/file?path=P` may serve, and opening it without symlinks.
//! - [`body`]: response bodies, files streamed in chunks.
//! - [`stall`]: an answer the client stops taking ends its connection after a minute.

mod admit;
mod body;
mod conn;
mod file;
mod linger;
#[cfg(test)]
mod prop_tests;
mod routes;
mod slots;
mod stall;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use crate::config::peers::PeerSettings;
use crate::config::Config;
use crate::files::signing::Keys;
use crate::output::escape::sanitize;

use self::slots::Slots;

/// Connections waiting in the kernel for `accept`: a burst of hostile connections must
/// not make an allowed client's connect fail while the server catches up.
const BACKLOG: u32 = 1024;

/// What every connection reads: where the files are, the keys, the watched trees.
pub struct Shared {
    /// The state directory: `files.db` and `journal.jsonl`.
    pub state: PathBuf,
    pub keys: Keys,
    /// The configured trees' roots: `/v1/file` serves nothing outside them.
    pub roots: Vec<Vec<u8>>,
    pub settings: PeerSettings,
}

impl Shared {
    pub fn new(cfg: &Config, keys: &Keys, state: &Path, settings: PeerSettings) -> Shared {
        Shared {
            state: state.to_owned(),
            keys: keys.clone(),
            roots: cfg.trees.iter().map(|t| t.spec.root.clone()).collect(),
            settings,
        }
    }

    pub fn database(&self) -> PathBuf {
        self.state.join("files.db")
    }

    pub fn journal(&self) -> PathBuf {
        self.state.join("journal.jsonl")
    }
}

/// The server's log line about a client (stderr). `msg` must already have escaped what
/// the client sent.
pub fn log(peer: SocketAddr, msg: &str) {
    crate::output::stdio::say(&format!("serve: {peer}: {msg}"));
}

/// Listens on `addr`; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    let fail = |e: std::io::Error| format!("[peers] listen: cannot listen on {addr}: {e}");
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)
}

/// Accepts and serves until the runtime stops.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Slots::new(shared.settings.max_connections);
    let refusals = admit::Refusals::default();
    loop {
        // Full of connections that are all streaming: accept nobody (they wait in the
        // backlog) until one ends.
        slots.room().await;
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, or a connection reset before accept: say so and
                // try again shortly rather than spin.
                crate::output::stdio::say(&format!("serve: accept: {}", sanitize(&e.to_string())));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let accepted = tokio::time::Instant::now();
        if !shared.settings.admits(peer.ip()) {
            refusals.refuse(stream, peer);
            continue;
        }
        let (slot, evicted) = loop {
            match slots.enter(peer) {
                Some(s) => break s,
                // The evictable one began streaming since `room`: wait again.
                None => slots.room().await,
            }
        };
        tokio::spawn(conn::serve(
            stream,
            peer,
            accepted,
            slot,
            evicted,
            shared.clone(),
        ));
    }
}

/// A runtime for the server: two workers; few blocking threads (file reads and the
/// database checks of `/v1/file`), which bounds the memory they take.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_name("homeostat-serve")
        .enable_all()
        .build()
}

/// Raises the soft limit on open descriptors to the hard one: every connection is one,
/// and hostile clients come by the hundred.
pub fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.maximum.is_some() && lim.current != lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            crate::output::stdio::say(&format!("serve: cannot raise the open-file limit: {e}"));
        }
    }
}

/// `run` with `[peers] listen`: the server on a thread of its own with its own runtime
/// (the daemon's single-threaded runtime is busy while a round runs). Returns once it
/// listens; a bind error is returned, naming the address.
pub fn start_thread(cfg: &Config, keys: &Keys, state: &Path) -> Result<(), String> {
    let Some(settings) = cfg.peers.clone() else {
        return Ok(());
    };
    let Some(addr) = settings.listen else {
        return Ok(());
    };
    raise_nofile();
    let shared = Arc::new(Shared::new(cfg, keys, state, settings));
    let (tx, rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
    std::thread::Builder::new()
        .name("homeostat-serve".into())
        .spawn(move || {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(format!("[peers] listen: cannot start the server: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                match bind(addr).await {
                    Ok(l) => {
                        let _ = tx.send(l.local_addr().map_err(|e| e.to_string()));
                        serve(l, shared).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| format!("[peers] listen: cannot start the server thread: {e}"))?;
    match rx.recv() {
        Ok(Ok(at)) => {
            crate::output::stdio::say(&format!("serving on {at}"));
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err("[peers] listen: the server thread ended before listening".into()),
    }
}
