//! Keys as the wizard sees them, and the one key table: [`available`] is a pure function of the
//! model, and `update` (what a key does), the footer and the `?` help all read it, so what the
//! screen says is what the keys do.
//!
//! The key type is kongrade's own: the model stays independent of crossterm, and tests type keys
//! without a terminal.

use std::borrow::Cow;
use std::fmt;

use super::model::{
    dp_key, finding_gate, node_needs_checklist, BackupMethod, BackupState, DecomRow, Focus, Model,
    NodeItem, NoticeLevel, Overlay, SmokeState, Step, WizardGate,
};
use super::update::{finish_blockers, gate, list_len};
use crate::contract::KongCommand;
use crate::kong::diagnose::Finding;
use crate::kong::state::MigState;

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

/// What a key means. Each context (a step, an overlay, the too-small screen) binds its own keys
/// to these; [`available`] says which are bound now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Continue, run (after a confirmation), accept.
    Confirm,
    /// Tick or untick the selected item.
    Toggle,
    /// Backup step: kongrade takes a pg_dump now (in the training cluster: a simulated one).
    TakeBackup,
    /// Decommission: add a node kongrade cannot probe.
    AddNode,
    /// Decommission: remove a node added by hand (asks).
    RemoveNode,
    /// Open a gate anyway with a typed reason: an Error finding at Preflight, the node gate at
    /// Finish.
    Override,
    /// The selected finding, row or log line in full.
    Detail,
    /// Go back one step; where there is none, leave (asking when something happened).
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
    /// Ctrl-C: leave, asking first when something happened or kong runs.
    Cancel,
    /// Training: the scenario menu.
    Scenarios,
    /// Training: fix what made a migration fail (the scenario's fix).
    FixCause,
    /// Overlays: close it (a question: the answer "no").
    Close,
    /// Overlays: the answer "yes" (run, leave, remove, kill).
    Yes,
    /// Text entry: a printable character.
    Type,
    /// Text entry: delete the last character.
    Erase,
    /// kong is running: interrupt it (SIGINT) and stay.
    Interrupt,
    /// kong is running: kill it (SIGKILL), after its own confirmation.
    Kill,
    /// A choice in a list of answers (checkpoints, the scenario menu), by its number.
    Choose,
    /// Dual-cluster: a new clone, replacing the stale one (asks).
    Reclone,
    /// Dual-cluster: probe the new cluster again.
    Probe,
}

/// One key binding as it stands now: gitui's idea of a command that is shown and either acts or
/// says why not. The footer shows the acting ones that fit, in order; `?` shows them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    pub action: Action,
    pub keys: &'static [Key],
    /// The keys as the footer and help name them (`↑↓/jk`).
    pub keys_text: &'static str,
    /// Short, for the footer.
    pub label: Cow<'static, str>,
    /// The line in the help overlay.
    pub help: Cow<'static, str>,
    /// Offered in the footer (the rest are in the help only).
    pub footer: bool,
    /// Why the key does nothing now: `update` says this and changes nothing else.
    pub refused: Option<(NoticeLevel, String)>,
    /// [`Action::Choose`]: the digits 1 to this one choose (the answers, the scenarios there
    /// are); any other digit is not bound, and [`unbound`] says so.
    pub digits: u8,
}

impl Hint {
    pub fn enabled(&self) -> bool {
        self.refused.is_none()
    }

    pub fn matches(&self, key: Key) -> bool {
        match self.action {
            // Any printable character, typed into the entry.
            Action::Type => !key.ctrl && matches!(key.code, KeyCode::Char(_)),
            Action::Choose => {
                !key.ctrl
                    && matches!(key.code, KeyCode::Char(c)
                        if c.is_ascii_digit() && c != '0' && (c as u8 - b'0') <= self.digits)
            }
            _ => self.keys.contains(&key),
        }
    }
}

fn hint(
    action: Action,
    keys: &'static [Key],
    keys_text: &'static str,
    label: impl Into<Cow<'static, str>>,
    help: impl Into<Cow<'static, str>>,
) -> Hint {
    Hint {
        action,
        keys,
        keys_text,
        label: label.into(),
        help: help.into(),
        footer: true,
        refused: None,
        digits: 0,
    }
}

impl Hint {
    fn help_only(mut self) -> Hint {
        self.footer = false;
        self
    }

    fn refuse(mut self, level: NoticeLevel, why: impl Into<String>) -> Hint {
        self.refused = Some((level, why.into()));
        self
    }

    /// A [`Action::Choose`] for `n` choices (at most 9: one digit each).
    fn choices(mut self, n: usize) -> Hint {
        self.digits = n.min(9) as u8;
        self.keys_text = DIGIT_RANGES[self.digits.saturating_sub(1) as usize];
        self
    }

    fn refuse_if(self, cond: bool, level: NoticeLevel, why: impl Into<String>) -> Hint {
        if cond {
            self.refuse(level, why)
        } else {
            self
        }
    }
}

use KeyCode as K;

/// A `'static` slice of keys built by const fns.
macro_rules! keys {
    ($($k:expr),* $(,)?) => {{
        const KEYS: &[Key] = &[$($k),*];
        KEYS
    }};
}

const ENTER: &[Key] = keys![Key::plain(K::Enter)];
const SPACE: &[Key] = keys![Key::ch(' '), Key::ch('x')];
const BACK: &[Key] = keys![Key::ch('q'), Key::plain(K::Esc)];
const UP: &[Key] = keys![Key::plain(K::Up), Key::ch('k')];
const DOWN: &[Key] = keys![Key::plain(K::Down), Key::ch('j')];
const CTRL_C: &[Key] = keys![Key::ctrl('c')];
const YES: &[Key] = keys![Key::plain(K::Enter), Key::ch('y')];
const NO: &[Key] = keys![Key::plain(K::Esc), Key::ch('n')];

/// How the footer and help name the digits that choose, by how many there are.
const DIGIT_RANGES: [&str; 9] = ["1", "1-2", "1-3", "1-4", "1-5", "1-6", "1-7", "1-8", "1-9"];

/// What a key the table does not bind now says (the notice `update` shows, changing nothing
/// else): a digit beyond the choices names the ones there are; any other key names the keys
/// that act here. None while the terminal is too small: that screen says what acts.
pub fn unbound(m: &Model, key: Key) -> Option<(NoticeLevel, String)> {
    if too_small(m) {
        return None;
    }
    let hints = available(m);
    let digit = !key.ctrl && matches!(key.code, KeyCode::Char(c) if c.is_ascii_digit());
    if let Some(choose) = hints
        .iter()
        .find(|h| h.action == Action::Choose)
        .filter(|_| digit)
    {
        let what = match m.overlay {
            Some(Overlay::Scenarios) => "scenarios",
            _ => "answers",
        };
        return Some((
            NoticeLevel::Info,
            format!(
                "{key} chooses nothing: there are {} {what}, {}",
                choose.digits, choose.keys_text
            ),
        ));
    }
    let acting: Vec<&str> = hints
        .iter()
        .filter(|h| h.footer && h.enabled())
        .map(|h| h.keys_text)
        .collect();
    let (here, help) = match &m.overlay {
        Some(_) => ("in this dialog".to_string(), ""),
        None => (format!("on {}", m.step.title()), "; ? lists every key"),
    };
    Some((
        NoticeLevel::Info,
        format!(
            "{key} does nothing {here}: the keys that act are {}{help}",
            acting.join(", ")
        ),
    ))
}

/// Below this the layout cannot hold the step and the live pane: the screen says so and only
/// quitting acts (nothing may happen that cannot be read).
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn too_small(m: &Model) -> bool {
    m.size.0 < MIN_WIDTH || m.size.1 < MIN_HEIGHT
}

/// Something the operator would lose or leave half-done by leaving: a step past Preflight, a
/// run, a backup, a tick. Leaving then asks.
pub fn something_happened(m: &Model) -> bool {
    let past_preflight =
        |s: &Step| !matches!(s, Step::Connecting | Step::Waiting | Step::Preflight);
    past_preflight(&m.step)
        || m.visited.iter().any(past_preflight)
        || m.run.is_some()
        || m.backup != BackupState::Missing
        || m.gate_override.is_some()
        || !m.finding_overrides.is_empty()
}

/// Where q/Esc goes from this step: the step before it on the path (Done and the steps before
/// the first have none: q leaves there, asking first).
pub fn back_target(m: &Model) -> Option<Step> {
    if m.running() {
        return None;
    }
    match m.step {
        Step::Connecting | Step::Waiting | Step::Preflight | Step::Done => None,
        // The flow says which step came before. After up nothing undoes it: back shows the
        // step before, where up's result is.
        s => m.flow().prev(s),
    }
}

/// The keys bound now, in footer priority order. `update` acts on a key only through this, the
/// footer and the help print it: what the screen says is what the keys do.
pub fn available(m: &Model) -> Vec<Hint> {
    if too_small(m) {
        return too_small_keys(m);
    }
    match &m.overlay {
        Some(ov) => overlay_keys(m, ov),
        None => step_keys(m),
    }
}

fn leave_keys(m: &Model) -> Vec<Hint> {
    let label = if m.running() || something_happened(m) {
        "quit (asks)"
    } else {
        "quit"
    };
    vec![
        hint(
            Action::Back,
            keys![Key::ch('q')],
            "q",
            label,
            "leave kongrade",
        ),
        hint(Action::Cancel, CTRL_C, "Ctrl-C", label, "leave kongrade").help_only(),
    ]
}

/// Nothing can be read: only leaving acts, and its question is answered here too.
pub fn too_small_keys(m: &Model) -> Vec<Hint> {
    match &m.overlay {
        Some(Overlay::Leave) => leave_question_keys(),
        Some(Overlay::LeaveWhileRunning) => vec![
            hint(
                Action::Yes,
                keys![Key::ch('y'), Key::ch('q'), Key::ctrl('c')],
                "y",
                "leave (interrupts kong)",
                "leave: kong is interrupted first, kongrade exits non-zero",
            ),
            hint(Action::Close, NO, "n/Esc", "stay", "keep kong running"),
        ],
        _ => leave_keys(m),
    }
}

fn leave_question_keys() -> Vec<Hint> {
    vec![
        hint(
            Action::Yes,
            keys![Key::ch('y'), Key::plain(K::Enter), Key::ctrl('c')],
            "y",
            "leave",
            "leave kongrade",
        ),
        hint(
            Action::Close,
            keys![Key::ch('n'), Key::plain(K::Esc), Key::ch('q')],
            "n/Esc",
            "stay",
            "stay",
        ),
    ]
}

fn scroll_keys() -> [Hint; 2] {
    [
        hint(Action::Down, DOWN, "↑↓/jk", "scroll", "scroll down"),
        hint(Action::Up, UP, "↑/k", "", "scroll up").help_only(),
    ]
}

/// Scrolling a question, menu or entry taller than the screen (help only: its marker names the
/// key). Entries take j and k as text, so they scroll with the arrows alone.
fn question_scroll_keys(arrows_only: bool) -> [Hint; 2] {
    let (down, up, text): (&'static [Key], &'static [Key], _) = if arrows_only {
        (keys![Key::plain(K::Down)], keys![Key::plain(K::Up)], "↑↓")
    } else {
        (DOWN, UP, "↑↓/jk")
    };
    [
        hint(Action::Down, down, text, "scroll", "scroll down").help_only(),
        hint(Action::Up, up, text, "", "scroll up").help_only(),
    ]
}

fn text_entry_keys(submit: &'static str) -> Vec<Hint> {
    let [down, up] = question_scroll_keys(true);
    vec![
        hint(
            Action::Confirm,
            ENTER,
            "Enter",
            submit,
            "record what you typed",
        ),
        hint(
            Action::Close,
            keys![Key::plain(K::Esc)],
            "Esc",
            "cancel",
            "cancel",
        ),
        hint(
            Action::Erase,
            keys![Key::plain(K::Backspace)],
            "Backspace",
            "erase",
            "erase a character",
        )
        .help_only(),
        hint(Action::Type, &[], "a-z…", "type", "type the text").help_only(),
        hint(
            Action::Cancel,
            CTRL_C,
            "Ctrl-C",
            "quit",
            "leave kongrade (asks)",
        )
        .help_only(),
        down,
        up,
    ]
}

fn overlay_keys(m: &Model, ov: &Overlay) -> Vec<Hint> {
    let ctrl_c = || {
        hint(
            Action::Cancel,
            CTRL_C,
            "Ctrl-C",
            "quit",
            "leave kongrade (asks)",
        )
        .help_only()
    };
    let scroll = || question_scroll_keys(false);
    match ov {
        Overlay::Help => {
            let mut v = vec![hint(
                Action::Close,
                keys![
                    Key::plain(K::Esc),
                    Key::ch('q'),
                    Key::ch('?'),
                    Key::plain(K::Enter)
                ],
                "Esc/?",
                "close",
                "close this help",
            )];
            v.extend(scroll_keys());
            v.push(ctrl_c());
            v
        }
        Overlay::Rollback => {
            let mut v = vec![hint(
                Action::Close,
                keys![
                    Key::plain(K::Esc),
                    Key::ch('q'),
                    Key::ch('b'),
                    Key::plain(K::Enter)
                ],
                "Esc/b",
                "close",
                "close the rollback guidance",
            )];
            v.extend(scroll_keys());
            v.push(ctrl_c());
            v
        }
        Overlay::Detail { .. } | Overlay::StepInFull => {
            let mut v = vec![hint(
                Action::Close,
                keys![
                    Key::plain(K::Esc),
                    Key::ch('q'),
                    Key::ch('v'),
                    Key::plain(K::Enter)
                ],
                "Esc/v",
                "close",
                "close the full text",
            )];
            v.extend(scroll_keys());
            v.push(ctrl_c());
            v
        }
        Overlay::Confirm { command, .. } => {
            let mut v = vec![
                hint(
                    Action::Yes,
                    YES,
                    "Enter/y",
                    format!("run {}", command.as_str()),
                    "run it",
                ),
                hint(
                    Action::Close,
                    keys![Key::plain(K::Esc), Key::ch('n'), Key::ch('q')],
                    "Esc/n",
                    "cancel",
                    "cancel: nothing runs",
                ),
                ctrl_c(),
            ];
            v.extend(scroll());
            v
        }
        Overlay::Typed { .. } => text_entry_keys("run"),
        Overlay::OwnBackup { .. } | Overlay::AddNode { .. } | Overlay::Override { .. } => {
            text_entry_keys("record")
        }
        Overlay::Checkpoint { which, chosen } => {
            let q = crate::wizard::text::checkpoint(*which);
            let right = *chosen == Some(q.right);
            let mut v = vec![
                hint(
                    Action::Confirm,
                    ENTER,
                    "Enter",
                    "go on",
                    "go on to the step, once the answer is right",
                )
                .refuse_if(
                    !right,
                    NoticeLevel::Info,
                    "answer first: the number of the answer you think is right",
                ),
                hint(
                    Action::Choose,
                    &[],
                    "1-3",
                    if chosen.is_some() && !right {
                        "try another"
                    } else {
                        "answer"
                    },
                    "pick an answer by its number: what it means is explained",
                )
                .choices(q.choices.len()),
                hint(
                    Action::Close,
                    keys![Key::plain(K::Esc)],
                    "Esc",
                    "not now",
                    "close the question: nothing runs until it is answered",
                ),
                ctrl_c(),
            ];
            if right {
                // Answered: Enter goes on; the other answers can still be read.
                v[1].footer = false;
            } else {
                v[0].footer = false;
            }
            v.extend(scroll());
            v
        }
        Overlay::Scenarios => {
            let mut v = vec![
                hint(
                    Action::Choose,
                    &[],
                    "1-9",
                    "start it",
                    "start that scenario afresh (this one too: it starts over)",
                )
                .choices(m.setup.scenarios.len()),
                hint(
                    Action::Close,
                    keys![Key::plain(K::Esc), Key::ch('q'), Key::ch('s')],
                    "Esc",
                    "close",
                    "close the menu",
                ),
                ctrl_c(),
            ];
            v.extend(scroll());
            v
        }
        Overlay::Leave => {
            let mut v = leave_question_keys();
            v.extend(scroll());
            v
        }
        Overlay::Dual(ask) => {
            // Its questions may hold a text entry: the arrows scroll, j and k stay text.
            let mut v = dual_overlay_keys(ask);
            if !v.iter().any(|h| h.action == Action::Down) {
                v.extend(question_scroll_keys(true));
            }
            v
        }
        Overlay::ConfirmStrategy { strategy } => {
            let mut v = vec![
                hint(
                    Action::Yes,
                    YES,
                    "Enter/y",
                    format!("follow {strategy}"),
                    "follow it: the choice goes into the upgrade journal",
                ),
                hint(
                    Action::Close,
                    keys![Key::plain(K::Esc), Key::ch('n'), Key::ch('q')],
                    "Esc/n",
                    "cancel",
                    "cancel: nothing is chosen",
                ),
                ctrl_c(),
            ];
            v.extend(scroll());
            v
        }
        Overlay::LeaveWhileRunning => {
            vec![
            hint(
                Action::Interrupt,
                keys![Key::ch('i')],
                "i",
                "interrupt, stay",
                "interrupt kong (SIGINT) and stay",
            )
            .refuse_if(
                m.run.as_ref().is_some_and(|r| r.interrupted),
                NoticeLevel::Info,
                "kong was interrupted already; it is finishing what it started",
            ),
            hint(
                Action::Yes,
                keys![Key::ch('q'), Key::ch('y'), Key::ctrl('c')],
                "q",
                "leave",
                "leave: kong is interrupted first, kongrade exits non-zero",
            ),
            hint(
                Action::Kill,
                keys![Key::ch('K')],
                "K",
                "kill (asks)",
                "kill kong (SIGKILL), after a confirmation: its lock stays until the lock timeout",
            ),
            hint(Action::Close, NO, "Esc/n", "keep running", "keep kong running"),
            scroll()[0].clone(),
            scroll()[1].clone(),
        ]
        }
        Overlay::ConfirmKill => vec![
            hint(
                Action::Yes,
                keys![Key::ch('y')],
                "y",
                "kill kong",
                "kill kong (SIGKILL) now",
            ),
            hint(
                Action::Close,
                keys![Key::plain(K::Esc), Key::ch('n'), Key::ch('q')],
                "n/Esc",
                "do not kill",
                "keep kong running",
            ),
            scroll()[0].clone(),
            scroll()[1].clone(),
        ],
        Overlay::RemoveNode { .. } => vec![
            hint(
                Action::Yes,
                keys![Key::ch('y')],
                "y",
                "remove it",
                "remove the node from the list",
            ),
            hint(
                Action::Close,
                keys![Key::plain(K::Esc), Key::ch('n'), Key::ch('q')],
                "n/Esc",
                "keep it",
                "keep it",
            ),
            scroll()[0].clone(),
            scroll()[1].clone(),
        ],
    }
}

/// The finding the wizard stops at Preflight for, and whether a typed reason may lift it.
/// The preflight's findings have not arrived yet (the poller gathers them after the first read).
pub fn preflight_pending(m: &Model) -> bool {
    m.reading.as_ref().is_some_and(|r| r.preflight_pending)
}

pub fn preflight_block(m: &Model) -> Option<(&Finding, WizardGate)> {
    if let Some(f) = m
        .findings
        .iter()
        .find(|f| finding_gate(f) == WizardGate::Block)
    {
        return Some((f, WizardGate::Block));
    }
    m.findings
        .iter()
        .find(|f| {
            finding_gate(f) == WizardGate::Override
                && !m.finding_overrides.contains_key(f.id.as_str())
        })
        .map(|f| (f, WizardGate::Override))
}

/// The Error finding `o` would override at Preflight: the selected one if it can be, else the
/// first that can.
pub fn overridable_finding(m: &Model) -> Option<&Finding> {
    let open = |f: &&Finding| {
        finding_gate(f) == WizardGate::Override && !m.finding_overrides.contains_key(f.id.as_str())
    };
    m.findings
        .get(m.cursor)
        .filter(open)
        .or_else(|| m.findings.iter().find(open))
}

/// What Space does on the selected Decommission row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Flip `checklist[i]`.
    General(usize),
    /// Set one item of a node's (or data plane's) checklist.
    Item {
        row: DecomRow,
        name: String,
        item: NodeItem,
        value: bool,
    },
}

/// Space on the selected Decommission row, or why it does nothing. The checklist is the order a
/// node is taken out in: each item waits for the one before it (and comes off in reverse); on a
/// node's own row Space ticks its next item.
pub fn tick_target(m: &Model) -> Result<Tick, String> {
    let Some(row) = m.decom_rows().get(m.cursor).cloned() else {
        return Err("nothing selected".into());
    };
    let (name, checks, item) = match &row {
        DecomRow::General(i) => return Ok(Tick::General(*i)),
        DecomRow::Node(i) | DecomRow::NodeItem(i, _) => {
            let Some(n) = m.nodes.get(*i) else {
                return Err("nothing selected".into());
            };
            if !node_needs_checklist(n) {
                return Err(format!(
                    "{} runs the new version: nothing to take out",
                    n.name
                ));
            }
            let item = match &row {
                DecomRow::NodeItem(_, it) => Some(*it),
                _ => None,
            };
            (n.name.clone(), n.checklist, item)
        }
        DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) => {
            let old = m
                .data_planes()
                .iter()
                .any(|(dp, old, _)| *old && dp_key(dp) == *k);
            if !old {
                return Err(format!("{k} runs the new version: nothing to take out"));
            }
            let item = match &row {
                DecomRow::DataPlaneItem(_, it) => Some(*it),
                _ => None,
            };
            (
                k.clone(),
                m.dp_checks.get(k).copied().unwrap_or_default(),
                item,
            )
        }
    };
    let (item, value) = match item {
        Some(it) => (it, !it.get(&checks)),
        // The node's own row: its next item, or (all ticked) the last one comes off.
        None => match NodeItem::ALL.iter().find(|it| !it.get(&checks)) {
            Some(it) => (*it, true),
            None => (NodeItem::Stopped, false),
        },
    };
    let idx = NodeItem::ALL.iter().position(|x| *x == item).unwrap_or(0);
    if value {
        if let Some(before) = NodeItem::ALL[..idx].iter().find(|b| !b.get(&checks)) {
            let cost = match item {
                NodeItem::Stopped => {
                    " Stopping a node the load balancer still sends to drops its requests."
                }
                _ => "",
            };
            return Err(format!(
                "{name}: first {}, then {}.{cost}",
                before.label(),
                item.label()
            ));
        }
    } else if let Some(after) = NodeItem::ALL[idx + 1..].iter().find(|a| a.get(&checks)) {
        return Err(format!(
            "{name}: untick '{}' first (the items come off in the reverse order)",
            after.label()
        ));
    }
    Ok(Tick::Item {
        row,
        name,
        item,
        value,
    })
}

fn confirm_hint(m: &Model) -> Hint {
    use NoticeLevel::{Block, Info, Warn};
    // A stale clone: Enter is `c` (one path: look at the place, then its name typed).
    if crate::wizard::update::dual::enter_reclones(m) {
        return reclone_hint(m, ENTER, "Enter");
    }
    let h = |label: &'static str| hint(Action::Confirm, ENTER, "Enter", label, "");
    let ran_ok = |c| {
        m.outcome
            .as_ref()
            .is_some_and(|o| o.command == c && o.success)
    };
    let running = "kong is running; Ctrl-C asks whether to stop it";
    let mut out = match m.step {
        Step::Connecting => h("continue").refuse(Info, "waiting for the first read of the database"),
        Step::Waiting => h("continue").refuse(
            Info,
            "the wizard continues by itself once the lock is released",
        ),
        Step::Preflight => match (m.state(), preflight_block(m)) {
            (None, _) => h("continue").refuse(Info, "waiting for a read of the database"),
            _ if preflight_pending(m) => h("continue").refuse(
                Info,
                "waiting for the preflight's reads (kong.conf, routes, plugins, the server's login)",
            ),
            (_, Some((f, WizardGate::Block))) => h("continue").refuse(
                Block,
                format!(
                    "The wizard stops here: {}. The finding above says what to do instead.",
                    f.title
                ),
            ),
            (_, Some((f, _))) => h("continue").refuse(
                Block,
                format!(
                    "The wizard stops here: {}. Follow the path the finding names, or o overrides it with your reason (journaled).",
                    f.title
                ),
            ),
            _ => h("continue"),
        },
        Step::Backup if m.backup_done() => h("continue"),
        Step::Backup if m.backup_running() => h("continue").refuse(
            Info,
            "the backup is running: the step goes on once it is written and verified",
        ),
        Step::Backup => {
            let how = match m.setup.backup {
                BackupMethod::PgDump { .. } => {
                    "a backup first: t takes one now, Space records your own"
                }
                BackupMethod::OwnOnly { .. } if m.setup.training.is_some() => {
                    "a backup first: t takes a simulated one (training), Space records your own"
                }
                BackupMethod::OwnOnly { .. } => "a backup first: Space records your own",
                BackupMethod::Cassandra { .. } => {
                    "a snapshot on every node first: run each command, then tick it (Space)"
                }
            };
            h("continue").refuse(Warn, how)
        }
        Step::Review => h("continue"),
        Step::Up | Step::Bootstrap => {
            let cmd = if m.step == Step::Up {
                KongCommand::Up
            } else {
                KongCommand::Bootstrap
            };
            let done_already = m.state().is_some_and(|s| match cmd {
                KongCommand::Up => !s.needs_bootstrap && !s.any(MigState::New),
                _ => !s.needs_bootstrap,
            });
            if m.running() {
                h("continue").refuse(Info, running)
            } else if ran_ok(cmd) || (done_already && !m.db.stale()) {
                h("continue")
            } else {
                let label = if cmd == KongCommand::Up {
                    "run up"
                } else {
                    "run bootstrap"
                };
                match gate(m, cmd) {
                    Err(why) => h(label).refuse(Block, why),
                    Ok(()) => h(label),
                }
            }
        }
        Step::Strategy => strategy_confirm(m),
        Step::Freeze => h("writes are frozen"),
        Step::Decommission if m.flow().stops_old_nodes_before_up() => {
            let blockers = m.in_place_blockers();
            h("continue").refuse_if(
                !blockers.is_empty(),
                Block,
                format!(
                    "in-place: up runs only once every old node is stopped: {}",
                    blockers.join("; ")
                ),
            )
        }
        Step::Decommission => h("continue"),
        Step::StartNew => match m.new_nodes_proven() {
            Ok(true) => match &m.smoke {
                SmokeState::Running => {
                    h("continue").refuse(Info, "the smoke tests are running")
                }
                _ if m.setup.in_place.smoke.is_empty() => h("continue"),
                SmokeState::Passed(_) => h("continue"),
                SmokeState::Failed(_) => h("smoke tests again"),
                SmokeState::NotRun => h("run smoke tests"),
            },
            Ok(false) => h("they serve"),
            Err(why) => h("continue").refuse(Info, why),
        },
        Step::Finish => {
            let nothing_pending = m
                .state()
                .is_some_and(|s| !s.needs_bootstrap && !s.any(MigState::Pending));
            if m.running() {
                h("continue").refuse(Info, running)
            } else if ran_ok(KongCommand::Finish) || (nothing_pending && !m.db.stale()) {
                h("continue")
            } else if !m.setup.read_only && !finish_blockers(m).is_empty() {
                h("finish").refuse(
                    Block,
                    "finish refused: see what blocks it above. Esc goes back to Decommission.",
                )
            } else {
                match gate(m, KongCommand::Finish) {
                    Err(why) => h("finish").refuse(Block, format!("finish refused: {why}")),
                    Ok(()) => h("finish"),
                }
            }
        }
        Step::Clone
        | Step::CloneReview
        | Step::CloneUp
        | Step::CloneFinish
        | Step::NewCluster
        | Step::Traffic
        | Step::Retire => match crate::wizard::update::dual::confirm_refusal(m) {
            Ok(label) => h(label),
            Err((level, why)) => h("continue").refuse(level, why),
        },
        Step::Done => h("leave"),
    };
    out.help = match out.label.as_ref() {
        "run up" | "run bootstrap" | "finish" | "run up (clone)" | "run finish (clone)" => {
            "run the step: asks first, showing the exact command".into()
        }
        "take clone" => "clone the source into the clone's place and prove it (asks first)".into(),
        "probe" => "probe the new cluster's nodes and run the smoke tests".into(),
        "retire old" => {
            "retire the old cluster, after the write guard (asks: type 'retire')".into()
        }
        "leave" => "leave kongrade".into(),
        "choose" => "follow the selected strategy: asks first, then it is journaled".into(),
        "writes are frozen" => {
            "confirm configuration writes are frozen until the upgrade is complete (journaled)"
                .into()
        }
        "they serve" => {
            "no --new-admin-url to probe: confirm the new nodes serve (journaled)".into()
        }
        "run smoke tests" | "smoke tests again" => {
            "run the --smoke tests through the new nodes' proxy: all must pass before Done".into()
        }
        _ => "continue to the next step".into(),
    };
    out
}

/// Enter at the Strategy step: the questions first, then only an allowed strategy the wizard
/// can follow (a refused one says why; dual-cluster says where it runs).
fn strategy_confirm(m: &Model) -> Hint {
    let h = hint(Action::Confirm, ENTER, "Enter", "choose", "");
    if let Some(q) = m.strategy_question() {
        return h.refuse(
            NoticeLevel::Info,
            format!("answer first (1-{}): {}", q.choices().len(), q.text()),
        );
    }
    let choice = m.strategy_choice();
    let Some((s, _)) = m.strategy_rows().get(m.cursor).copied() else {
        return h.refuse(NoticeLevel::Info, "nothing selected");
    };
    match choice.check(s) {
        Err(r) => h.refuse(
            NoticeLevel::Block,
            format!("{s} is refused here: {}", r.why),
        ),
        Ok(_) => match m.strategy_unavailable(s) {
            Some(why) => h.refuse(NoticeLevel::Warn, why),
            None => h,
        },
    }
}

/// The keys of the step on screen (no overlay), in footer priority order.
pub fn step_keys(m: &Model) -> Vec<Hint> {
    use NoticeLevel::{Block, Info};
    let mut v = vec![confirm_hint(m)];
    if m.step == Step::Strategy {
        if let Some(q) = m.strategy_question() {
            v.push(
                hint(
                    Action::Choose,
                    &[],
                    if q.choices().len() == 2 { "1-2" } else { "1-4" },
                    "answer",
                    "answer the question by its number: it decides what Kong's guide recommends",
                )
                .choices(q.choices().len()),
            );
        }
    }
    let read_only = "read-only (--read-only): nothing runs and no gate is opened";
    match m.step {
        Step::Backup => {
            let t = hint(
                Action::TakeBackup,
                keys![Key::ch('t')],
                "t",
                "take backup",
                "kongrade takes a pg_dump now, verified before it counts",
            );
            let t = match &m.setup.backup {
                _ if m.setup.read_only => t.refuse(
                    Info,
                    "read-only (--read-only): kongrade takes no backup; Space records your own",
                ),
                _ if m.backup_running() => {
                    t.refuse(Info, "the backup is running; its progress is above")
                }
                BackupMethod::OwnOnly { .. } if m.setup.training.is_some() => {
                    let mut t = t;
                    t.label = "take backup (simulated)".into();
                    t.help = "training: a simulated pg_dump (nothing is written), as t does on a real database".into();
                    t
                }
                BackupMethod::OwnOnly { why } => {
                    t.refuse(Info, format!("{why}; Space records your own backup"))
                }
                BackupMethod::Cassandra { .. } => t.refuse(
                    Info,
                    "Cassandra has no single dump: run the snapshot on every node below and tick it",
                ),
                BackupMethod::PgDump { .. } => t,
            };
            v.push(t);
            let cassandra = matches!(m.setup.backup, BackupMethod::Cassandra { .. });
            let (label, help) = if cassandra {
                ("tick", "tick the selected node's snapshot as taken")
            } else {
                ("own backup", "record your own backup: say where it is")
            };
            v.push(hint(Action::Toggle, SPACE, "Space", label, help).refuse_if(
                m.backup_running(),
                Info,
                "the backup is running; its progress is above",
            ));
        }
        Step::Traffic => v.extend(dual_step_keys(m)),
        Step::Clone | Step::CloneUp | Step::CloneFinish | Step::NewCluster | Step::Retire => {
            v.extend(dual_step_keys(m))
        }
        Step::Decommission => {
            let mut tick = hint(
                Action::Toggle,
                SPACE,
                "Space",
                "tick",
                "tick or untick the selected item: out of the load balancer, then drained, then stopped",
            );
            if let Err(why) = tick_target(m) {
                tick = tick.refuse(NoticeLevel::Warn, why);
            }
            v.push(tick);
        }
        _ => {}
    }
    match m.step {
        Step::Preflight
            if m.findings
                .iter()
                .any(|f| finding_gate(f) == WizardGate::Override) =>
        {
            let o = hint(
                Action::Override,
                keys![Key::ch('o')],
                "o",
                "override",
                "go on past an Error finding anyway, saying why (journaled)",
            );
            let o = if m.setup.read_only {
                o.refuse(Info, read_only)
            } else if overridable_finding(m).is_none() {
                o.refuse(Info, "overridden already: the reason is in the journal")
            } else {
                o
            };
            v.push(o);
        }
        Step::Finish => {
            let o = hint(
                Action::Override,
                keys![Key::ch('o')],
                "o",
                "override",
                "open the node gate anyway, saying why (journaled)",
            );
            let o = if m.setup.read_only {
                o.refuse(Info, read_only)
            } else if m.running() {
                o.refuse(Info, "kong is running")
            } else if m.gate_override.is_some() {
                o.refuse(Info, "the gate is already open (overridden)")
            } else if m.node_gate().open {
                o.refuse(Info, "the finish gate is open: nothing to override")
            } else {
                o
            };
            v.push(o);
        }
        _ => {}
    }
    if let (Step::Up, Some((label, _))) = (m.step, &m.setup.training_fix) {
        let failed = m
            .outcome
            .as_ref()
            .is_some_and(|o| o.command == KongCommand::Up && !o.success);
        let f = hint(
            Action::FixCause,
            keys![Key::ch('f')],
            "f",
            format!("{label} (training)"),
            "training: fix what kong's error says stopped the migration, as you would in the database",
        );
        v.push(if m.fixed {
            f.refuse(Info, "fixed already: Enter runs up again")
                .help_only()
        } else if m.running() {
            f.refuse(Info, "kong is running").help_only()
        } else if !failed {
            f.refuse(
                Info,
                "nothing to fix yet: kong's error, once up fails, says what to fix",
            )
            .help_only()
        } else {
            f
        });
    }
    if m.step == Step::Decommission {
        v.push(hint(
            Action::AddNode,
            keys![Key::ch('a')],
            "a",
            "add node",
            "add a node kongrade cannot probe",
        ));
        let manual = match m.decom_rows().get(m.cursor) {
            Some(DecomRow::Node(i) | DecomRow::NodeItem(i, _)) => {
                m.nodes.get(*i).filter(|n| n.kind == "manual")
            }
            _ => None,
        };
        let d = hint(
            Action::RemoveNode,
            keys![Key::ch('d')],
            "d",
            "remove node",
            "remove a node you added by hand (asks)",
        );
        v.push(match manual {
            Some(_) => d,
            None => d
                .refuse(Info, "only a node added by hand (a) can be removed")
                .help_only(),
        });
    }
    let moves = match m.focus {
        Focus::Log => m.log.lines.len() > 1,
        Focus::Step => list_len(m) > 1,
    };
    if moves {
        v.push(hint(
            Action::Down,
            DOWN,
            "↑↓/jk",
            "move",
            "move down (or scroll the log when it has focus)",
        ));
        v.push(
            hint(
                Action::Up,
                UP,
                "↑/k",
                "",
                "move up (or scroll the log when it has focus)",
            )
            .help_only(),
        );
    }
    let back = match back_target(m) {
        Some(s) => hint(
            Action::Back,
            BACK,
            "q/Esc",
            "back",
            format!("back to {}", s.title()),
        ),
        None if m.step == Step::Done => hint(Action::Back, BACK, "q", "leave", "leave kongrade"),
        None if m.running() => hint(
            Action::Back,
            BACK,
            "q",
            "quit (asks)",
            "leave: asks, offers to interrupt kong",
        ),
        None if something_happened(m) => hint(
            Action::Back,
            BACK,
            "q",
            "quit (asks)",
            "leave kongrade (asks first)",
        ),
        None => hint(Action::Back, BACK, "q", "quit", "leave kongrade"),
    };
    v.push(back);
    if m.step == Step::Done && !m.setup.scenarios.is_empty() {
        v.push(hint(
            Action::Scenarios,
            keys![Key::ch('s')],
            "s",
            "scenarios",
            "training: pick another scenario, or start this one over",
        ));
    }
    v.push(hint(
        Action::Help,
        keys![Key::ch('?')],
        "?",
        "help",
        "this help: the step, what can go wrong, the keys",
    ));
    let detail_of = match (m.focus, m.step) {
        (Focus::Log, _) => !m.log.lines.is_empty(),
        (_, Step::Preflight | Step::Review | Step::CloneReview | Step::Decommission) => {
            list_len(m) > 0
        }
        _ => true,
    };
    if detail_of {
        v.push(hint(
            Action::Detail,
            keys![Key::ch('v')],
            "v",
            "full text",
            "the selected finding, row or log line in full (the step in full where it has no list)",
        ));
    }
    v.push(hint(
        Action::Focus,
        keys![Key::plain(K::Tab), Key::plain(K::BackTab)],
        "Tab",
        "focus",
        "switch focus between the step and the log",
    ));
    if m.log.lines.len() > 1 {
        v.push(hint(
            Action::LogPageDown,
            keys![Key::plain(K::PageDown)],
            "PgUp/PgDn",
            "log",
            "scroll the log down a page",
        ));
        v.push(
            hint(
                Action::LogPageUp,
                keys![Key::plain(K::PageUp)],
                "PgUp",
                "",
                "scroll the log up a page",
            )
            .help_only(),
        );
    }
    v.push(
        hint(
            Action::Top,
            keys![Key::plain(K::Home), Key::ch('g')],
            "Home/g",
            "",
            "to the top of the list or log",
        )
        .help_only(),
    );
    v.push(
        hint(
            Action::Bottom,
            keys![Key::plain(K::End), Key::ch('G')],
            "End/G",
            "",
            "to the bottom (the log follows new lines again)",
        )
        .help_only(),
    );
    v.push(
        hint(
            Action::Refresh,
            keys![Key::ch('r')],
            "r",
            "",
            "read the database now",
        )
        .help_only(),
    );
    v.push(
        hint(
            Action::Rollback,
            keys![Key::ch('b')],
            "b",
            "",
            "back out: how to roll back from here",
        )
        .help_only(),
    );
    let cancel = if m.running() || something_happened(m) {
        "leave kongrade (asks first; while kong runs, offers to interrupt it)"
    } else {
        "leave kongrade"
    };
    v.push(hint(Action::Cancel, CTRL_C, "Ctrl-C", "", cancel).help_only());
    let _ = Block;
    v
}

/// The dual-cluster steps' own keys: Space ticks the next traffic step, `c` takes a new clone
/// once the write guard found the old one stale, `p` probes the new cluster again.
fn dual_step_keys(m: &Model) -> Vec<Hint> {
    use crate::wizard::update::dual::tick_refusal;
    let mut v = Vec::new();
    if m.step == Step::Traffic {
        let mut t = hint(
            Action::Toggle,
            SPACE,
            "Space",
            "tick next",
            "tick the next traffic step once shifted (the write guard is checked first)",
        );
        if let Some((level, why)) = tick_refusal(m) {
            t = t.refuse(level, why);
        }
        v.push(t);
    }
    let stale = m.dual.as_ref().is_some_and(|d| d.stale());
    let mut c = reclone_hint(m, keys![Key::ch('c')], "c");
    if !stale {
        c = c.help_only();
    }
    v.push(c);
    if m.step == Step::NewCluster {
        let p = hint(
            Action::Probe,
            keys![Key::ch('p')],
            "p",
            "probe again",
            "probe the new cluster's nodes and run the smoke tests again",
        );
        let busy = m.dual.as_ref().is_some_and(|d| d.probing);
        let ready = m.dual.as_ref().is_some_and(|d| d.finish_done);
        let p = if busy {
            p.refuse(NoticeLevel::Info, "probing the new cluster...")
        } else if !ready {
            p.refuse(NoticeLevel::Block, "finish on the clone first")
        } else if m.dual.as_ref().is_some_and(|d| d.report.is_none()) {
            p.help_only()
        } else {
            p
        };
        v.push(p);
    }
    v
}

/// A new clone in place of the stale one: `c`, and Enter on the Clone and Traffic steps while
/// the write guard's verdict is stale. One action, one refusal, one label for both keys.
fn reclone_hint(m: &Model, keys: &'static [Key], keys_text: &'static str) -> Hint {
    let mut c = hint(
        Action::Reclone,
        keys,
        keys_text,
        "new clone",
        "take a new clone, replacing the stale one (its name typed to confirm; it is migrated again)",
    );
    if let Some((level, why)) = crate::wizard::update::dual::reclone_refusal(m) {
        c = c.refuse(level, why);
    }
    c
}

fn dual_overlay_keys(ask: &crate::wizard::dual::DualAsk) -> Vec<Hint> {
    use crate::wizard::dual::DualAsk;
    let ctrl_c = hint(
        Action::Cancel,
        CTRL_C,
        "Ctrl-C",
        "quit",
        "leave kongrade (asks)",
    )
    .help_only();
    let yes_no = |label: String| {
        vec![
            hint(Action::Yes, YES, "Enter/y", label, "go ahead"),
            hint(
                Action::Close,
                keys![Key::plain(K::Esc), Key::ch('n'), Key::ch('q')],
                "Esc/n",
                "cancel",
                "cancel: nothing happens",
            ),
            ctrl_c.clone(),
        ]
    };
    match ask {
        DualAsk::Clone { typed: Some(_), .. } => text_entry_keys("replace it"),
        DualAsk::Clone { .. } => yes_no("take the clone".into()),
        DualAsk::Run { command, .. } => yes_no(format!("run {} on the clone", command.as_str())),
        DualAsk::Retire { .. } => text_entry_keys("retire"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Key::ctrl('c').to_string(), "Ctrl-C");
        assert_eq!(Key::ch(' ').to_string(), "Space");
    }
}
