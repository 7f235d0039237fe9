//! A progress line for long baselines, on a terminal only (never in pipes or JSON mode).

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::Duration;

use homeostat_core::fim::join::Live;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    bytes: Cell<u64>,
}

impl Progress {
    pub fn new(allowed: bool) -> Progress {
        let bytes = Cell::new(0);
        if !allowed || !std::io::stderr().is_terminal() {
            return Progress { bar: None, bytes };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {pos} entries, {msg} hashed")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: Some(bar),
            bytes,
        }
    }

    /// One more object examined (its bytes count as hashed when it has a digest).
    pub fn tick<P: AsRef<[u8]>>(&self, live: &Live<'_, P>) {
        if let Some(b) = &self.bar {
            b.inc(1);
            if let Live::Seen(e) = live {
                if e.meta.content.is_some() {
                    self.bytes.set(self.bytes.get() + e.meta.size);
                }
            }
            if b.position() % 256 == 0 {
                b.set_message(HumanBytes(self.bytes.get()).to_string());
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
