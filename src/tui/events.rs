//! The event task: terminal input, a clock tick and termination signals, turned into [`Msg`]s on
//! the app's one channel.

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEvent, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::wizard::{Key, KeyCode, Msg};

/// crossterm's key, as the wizard's own key type; `None` for keys the wizard has no use for.
pub fn key_of(k: &KeyEvent) -> Option<Key> {
    use crossterm::event::KeyCode as C;
    // Release events (kitty protocol) would double every key.
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let code = match k.code {
        C::Char(c) => KeyCode::Char(c),
        C::Enter => KeyCode::Enter,
        C::Esc => KeyCode::Esc,
        C::Backspace => KeyCode::Backspace,
        C::Tab => KeyCode::Tab,
        C::BackTab => KeyCode::BackTab,
        C::Up => KeyCode::Up,
        C::Down => KeyCode::Down,
        C::Left => KeyCode::Left,
        C::Right => KeyCode::Right,
        C::PageUp => KeyCode::PageUp,
        C::PageDown => KeyCode::PageDown,
        C::Home => KeyCode::Home,
        C::End => KeyCode::End,
        _ => return None,
    };
    Some(Key { code, ctrl })
}

pub fn msg_of(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) => key_of(&k).map(Msg::Key),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        _ => None,
    }
}

/// The next delivery of a signal; never, when it could not be registered.
async fn next(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads the terminal and ticks every `tick` until the receiver is gone or the task is aborted.
/// SIGTERM, SIGHUP and an external SIGINT become [`Msg::Terminate`], so the terminal is restored
/// on those too.
pub fn spawn(tx: UnboundedSender<Msg>, tick: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        // In raw mode Ctrl-C is a key; a SIGINT can only come from outside (kill -INT).
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut reader = EventStream::new();
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let msg = tokio::select! {
                _ = ticker.tick() => Some(Msg::Tick(Instant::now())),
                ev = reader.next() => match ev {
                    Some(Ok(ev)) => msg_of(ev),
                    Some(Err(e)) => {
                        tracing::warn!("terminal input: {e}");
                        None
                    }
                    None => break,
                },
                Some(_) = next(&mut term) => Some(Msg::Terminate),
                Some(_) = next(&mut hup) => Some(Msg::Terminate),
                Some(_) = next(&mut int) => Some(Msg::Terminate),
            };
            if let Some(m) = msg {
                if tx.send(m).is_err() {
                    break;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode as C, KeyEventState};

    #[test]
    fn keys_translate_and_releases_are_ignored() {
        let press = KeyEvent::new(C::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(key_of(&press), Some(Key::ctrl('c')));
        let release = KeyEvent {
            code: C::Enter,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Release,
            state: KeyEventState::NONE,
        };
        assert_eq!(key_of(&release), None);
        assert_eq!(
            msg_of(Event::Resize(80, 24)),
            Some(Msg::Resize {
                width: 80,
                height: 24
            })
        );
    }
}
