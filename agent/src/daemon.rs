//! `homeostat run`: the daemon's clock and signals. What a round does is the caller's;
//! this module only decides when: a sample every interval (the first at once), the files
//! on their own longer interval, SIGHUP to reload, SIGTERM or SIGINT to finish cleanly.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{interval, Instant, MissedTickBehavior};

/// What the daemon asks of its owner.
pub trait Rounds {
    /// One sample (monitor and measurements); `files` when the file check is due too.
    fn round(&mut self, files: bool);
    /// Reload the configuration; returns the (sample, files) intervals now in force.
    fn reload(&mut self) -> (Duration, Duration);
    /// Flush and save everything before exit.
    fn finish(&mut self);
}

/// Runs until SIGTERM or SIGINT. `intervals` = (sample, files).
pub fn run(rounds: &mut impl Rounds, intervals: (Duration, Duration)) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (mut every, mut files_every) = intervals;
        let mut tick = interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut files_due = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let files = Instant::now() >= files_due;
                    if files {
                        files_due = Instant::now() + files_every;
                    }
                    rounds.round(files);
                }
                _ = hup.recv() => {
                    let (e, f) = rounds.reload();
                    if e != every {
                        every = e;
                        tick = interval(every);
                        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        tick.reset();
                    }
                    files_every = f;
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        rounds.finish();
        Ok::<(), std::io::Error>(())
    })
}
