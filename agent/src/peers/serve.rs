//! `homeostat serve`: the read-only HTTP/1.1 server of the neighbourhood watch, on a
//! two-worker tokio runtime until SIGTERM or SIGINT.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use super::server::{self, Shared};
use crate::config::Config;
use crate::exit::{Outcome, CONFIG, IO};
use crate::files::signing::Keys;

/// `homeostat serve`.
pub fn command(cfg: &Config, keys: &Keys, state: &Path) -> Outcome {
    let settings = cfg.peers.clone().ok_or((
        CONFIG,
        "serve: the configuration has no [peers] section".to_string(),
    ))?;
    let addr = settings
        .listen
        .ok_or((CONFIG, "serve: [peers] listen is not set".to_string()))?;
    server::raise_nofile();
    let shared = Arc::new(Shared::new(cfg, keys, state, settings));
    let rt = server::runtime().map_err(|e| (IO, format!("serve: cannot start tokio: {e}")))?;
    let done = rt.block_on(async move {
        let listener = server::bind(addr).await.map_err(|e| (IO, e))?;
        let at = listener.local_addr().map_or(addr, |a| a);
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| (IO, format!("serve: cannot watch SIGTERM: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| (IO, format!("serve: cannot watch SIGINT: {e}")))?;
        crate::output::stdio::say(&format!("serving on {at}"));
        tokio::select! {
            () = server::serve(listener, shared) => {}
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        crate::output::stdio::say("serve: stopped");
        Ok(0)
    });
    // Blocking reads still running are abandoned, not waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    done
}
