//! `homeostat state --watch`: the dashboard of [`super::dashboard`] on the terminal,
//! re-read whenever the daemon saves a sample (the state files' mtimes move) and redrawn
//! as the window changes size. q, Esc or Ctrl-C quits; the terminal is restored on every way
//! out, a panic included.

use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::{Duration, SystemTime};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

use super::dashboard::{draw, Snapshot};
use super::peaks;
use super::store::STATE_FILE;
use crate::exit::{Outcome, CONFIG, IO};

/// How often the state's mtime is looked at.
const POLL: Duration = Duration::from_millis(250);

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen);
}

/// Restores the terminal when dropped: at the end, on an error, while unwinding.
struct Screen;

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

pub fn command(state: &Path, all: bool) -> Outcome {
    if !io::stdout().is_terminal() {
        return Err((
            CONFIG,
            "state --watch needs a terminal on standard output".into(),
        ));
    }
    let io_err = |e: io::Error| (IO, format!("terminal: {e}"));
    // A panic prints its message on the restored screen, not into the raw alternate one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode().map_err(io_err)?;
    let _screen = Screen;
    execute!(io::stdout(), EnterAlternateScreen).map_err(io_err)?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout())).map_err(io_err)?;
    // A sample saves the learner state, the history, then the classes (monitor.state):
    // both ends are watched, so a read between them is followed by one after.
    let stamp = |name: &str| -> Option<SystemTime> {
        state.join(name).metadata().and_then(|m| m.modified()).ok()
    };
    let mut seen = (None, None);
    let mut snap = None;
    loop {
        let now = (stamp(STATE_FILE), stamp(peaks::FILE));
        if snap.is_none() || now != seen {
            seen = now;
            snap = Some(Snapshot::read(state, all).map_err(|e| (IO, format!("{e:#}")))?);
        }
        if let Some(s) = &snap {
            term.draw(|f| draw(f, s)).map_err(io_err)?;
        }
        if event::poll(POLL).map_err(io_err)? {
            if let Event::Key(k) = event::read().map_err(io_err)? {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if k.kind == KeyEventKind::Press
                    && (ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc))
                {
                    return Ok(0);
                }
            }
        }
    }
}
