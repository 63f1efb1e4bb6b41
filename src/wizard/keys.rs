//! Keys as the wizard sees them, and the one key table that drives both the dispatch and the
//! on-screen hints (footer and `?` help), so what the screen says is what the keys do.
//!
//! The key type is kongrade's own: the model stays independent of crossterm, and tests type keys
//! without a terminal.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyCode {
    Char(char),
    Enter,
    Esc,
    Backspace,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.ctrl => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
        }
    }
}

/// What a key means outside of text entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Continue, run (after a confirmation), accept.
    Confirm,
    /// Tick or untick the selected checklist item.
    Toggle,
    /// Backup step: kongrade takes a pg_dump now.
    TakeBackup,
    /// Decommission: add a node kongrade cannot probe.
    AddNode,
    /// Finish: open the node gate anyway, with a typed reason.
    Override,
    /// Close an overlay, go back one step, or leave.
    Back,
    Up,
    Down,
    /// Switch focus between the step and the log.
    Focus,
    LogPageUp,
    LogPageDown,
    Top,
    Bottom,
    /// Read the database now instead of at the next refresh.
    Refresh,
    /// How to roll back from where the database stands.
    Rollback,
    Help,
    /// Ctrl-C: leave, asking first while kong runs.
    Cancel,
}

/// One entry of the key table.
#[derive(Debug)]
pub struct Binding {
    pub action: Action,
    pub keys: &'static [Key],
    /// Footer keys and label; `None` keeps it out of the footer (still in `?` help). The footer
    /// shows hints in table order and drops what does not fit, so the table order is priority.
    pub hint: Option<(&'static str, &'static str)>,
    /// The line in the help overlay.
    pub help: &'static str,
}

use KeyCode as K;

/// The key table. Dispatch is a lookup in it; the footer and the help overlay are printed from it.
pub const KEYMAP: &[Binding] = &[
    Binding {
        action: Action::Confirm,
        keys: &[Key::plain(K::Enter)],
        hint: Some(("Enter", "continue")),
        help: "continue, or run the step (asks first, showing the command)",
    },
    Binding {
        action: Action::TakeBackup,
        keys: &[Key::ch('t')],
        hint: Some(("t", "take backup")),
        help: "take a pg_dump now (Backup step), verified before it counts",
    },
    Binding {
        action: Action::Toggle,
        keys: &[Key::ch(' '), Key::ch('x')],
        hint: Some(("Space", "tick")),
        help: "tick or untick the selected checklist item",
    },
    Binding {
        action: Action::AddNode,
        keys: &[Key::ch('a')],
        hint: Some(("a", "add node")),
        help: "add a node kongrade cannot probe (Decommission)",
    },
    Binding {
        action: Action::Override,
        keys: &[Key::ch('o')],
        hint: Some(("o", "override")),
        help: "open the finish gate anyway, saying why (Finish; journaled)",
    },
    Binding {
        action: Action::Up,
        keys: &[Key::plain(K::Up), Key::ch('k')],
        hint: None,
        help: "move up (or scroll the log when it has focus)",
    },
    Binding {
        action: Action::Down,
        keys: &[Key::plain(K::Down), Key::ch('j')],
        hint: Some(("↑↓/jk", "move")),
        help: "move down (or scroll the log when it has focus)",
    },
    Binding {
        action: Action::Back,
        keys: &[Key::ch('q'), Key::plain(K::Esc)],
        hint: Some(("q/Esc", "back")),
        help: "close, go back a step, or leave (asks while kong runs)",
    },
    Binding {
        action: Action::Rollback,
        keys: &[Key::ch('b')],
        hint: None,
        help:
            "back out: how to roll back from here (before finish: no restore; after: the restore)",
    },
    Binding {
        action: Action::Help,
        keys: &[Key::ch('?')],
        hint: Some(("?", "help")),
        help: "this help",
    },
    Binding {
        action: Action::Focus,
        keys: &[Key::plain(K::Tab), Key::plain(K::BackTab)],
        hint: Some(("Tab", "focus")),
        help: "switch focus between the step and the log",
    },
    Binding {
        action: Action::LogPageUp,
        keys: &[Key::plain(K::PageUp)],
        hint: None,
        help: "scroll the log up a page",
    },
    Binding {
        action: Action::LogPageDown,
        keys: &[Key::plain(K::PageDown)],
        hint: Some(("PgUp/PgDn", "log")),
        help: "scroll the log down a page",
    },
    Binding {
        action: Action::Top,
        keys: &[Key::plain(K::Home), Key::ch('g')],
        hint: None,
        help: "to the top of the list or log",
    },
    Binding {
        action: Action::Bottom,
        keys: &[Key::plain(K::End), Key::ch('G')],
        hint: None,
        help: "to the bottom (the log follows new lines again)",
    },
    Binding {
        action: Action::Refresh,
        keys: &[Key::ch('r')],
        hint: None,
        help: "read the database now",
    },
    Binding {
        action: Action::Cancel,
        keys: &[Key::ctrl('c')],
        hint: None,
        help: "leave (while kong runs: asks, offers to interrupt it)",
    },
];

pub fn action_for(key: Key) -> Option<Action> {
    KEYMAP
        .iter()
        .find(|b| b.keys.contains(&key))
        .map(|b| b.action)
}

pub fn binding(action: Action) -> Option<&'static Binding> {
    KEYMAP.iter().find(|b| b.action == action)
}

/// `q/Esc`, `↓/j`: the keys of a binding as the screen names them.
pub fn keys_label(b: &Binding) -> String {
    b.keys
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_meaning() {
        let mut seen = std::collections::HashSet::new();
        for b in KEYMAP {
            for k in b.keys {
                assert!(seen.insert(*k), "{k} is bound twice");
            }
        }
    }

    #[test]
    fn lookup_and_labels() {
        assert_eq!(action_for(Key::ch('j')), Some(Action::Down));
        assert_eq!(action_for(Key::ctrl('c')), Some(Action::Cancel));
        assert_eq!(action_for(Key::ch('c')), None);
        let back = binding(Action::Back).expect("back is bound");
        assert_eq!(keys_label(back), "q/Esc");
        assert_eq!(Key::ctrl('c').to_string(), "Ctrl-C");
    }
}
