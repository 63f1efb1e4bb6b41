//! Taking and giving back the terminal. The terminal is restored on every way out: normal exit,
//! error (the guard's Drop), panic (the hook restores before the report prints) and signals (the
//! event task turns them into a normal exit).

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the app runs; dropping it restores the terminal.
pub struct Guard {
    pub terminal: Term,
}

/// Leaves raw mode and the alternate screen. Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

static HOOK: Once = Once::new();

/// Chains a hook in front of the current one (color-eyre's, installed first in main) so the
/// report lands on a normal screen, not the alternate one.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

pub fn enter() -> io::Result<Guard> {
    install_panic_hook();
    enable_raw_mode()?;
    let setup = || -> io::Result<Term> {
        execute!(io::stdout(), EnterAlternateScreen, Hide)?;
        Terminal::new(CrosstermBackend::new(io::stdout()))
    };
    match setup() {
        Ok(terminal) => Ok(Guard { terminal }),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}
