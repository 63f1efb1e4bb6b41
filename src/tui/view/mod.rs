//! Drawing the model: a pure function of [`Model`] into a [`Frame`]. No I/O, no clock (ages come
//! from the model's own `now`), no allocation beyond the lines on screen.
//!
//! Layout: a two-line header (database, versions, step progress), the step on the left with why
//! it exists, the live database pane on the right, the log across the bottom, key hints last.

use std::borrow::Cow;

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::contract::KongCommand;
use crate::kong::state::MigState;
use crate::wizard::keys::{available, step_keys, Hint};
pub use crate::wizard::keys::{MIN_HEIGHT, MIN_WIDTH};
use crate::wizard::model::{
    dp_key, BackupMethod, BackupState, DecomRow, Focus, LogKind, Model, NoticeLevel, Overlay,
    OverrideTarget, RunState, Step,
};
use crate::wizard::update::finish_blockers;
use crate::wizard::Severity;

// One file per step or overlay; each `use super::*` for the theme and the text helpers here.
mod backup;
mod decommission;
mod done;
mod dual;
mod finish;
mod footer;
mod in_place;
mod live;
mod overlays;
mod preflight;
mod review;
mod strategy;
mod up;
mod waiting;

use backup::backup_body;
use decommission::decommission_body;
use done::done_body;
use finish::finish_body;
pub use footer::footer_hints;
use footer::render_footer;
use live::{render_live, render_log};
use overlays::render_overlay;
use preflight::preflight_body;
use review::review_body;
use up::{run_status, up_body};
use waiting::{connecting_body, waiting_body};

/// Styles, with colour or (NO_COLOR) with attributes only.
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    fn err(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    fn border(&self, focused: bool) -> Style {
        if focused {
            self.accent()
        } else {
            Style::new()
        }
    }
}

/// What a frame measured that the model needs for the next key (the runtime stores it there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// The furthest the overlay drawn scrolls (`Model::overlay_end`); `None`: no overlay drawn.
    pub overlay_end: Option<usize>,
}

pub fn view(m: &Model, f: &mut Frame) -> Drawn {
    let area = f.area();
    let t = Theme {
        color: m.setup.color,
    };
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(m, f, area, &t);
        return Drawn::default();
    }
    let (header, rest) = cut_top(area, 2);
    let (body, footer) = cut_bottom(rest, 1);
    render_header(m, f, header, &t);
    // A resumed upgrade says so for the whole session, above everything else.
    let body = match &m.banner {
        Some(text) => {
            let mut lines = wrap(text, (body.width as usize).saturating_sub(3));
            lines.truncate(2);
            let (strip, body) = cut_top(body, lines.len() as u16);
            let lines: Vec<Line> = lines
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    Line::styled(
                        format!(" {} {l}", if i == 0 { "↻" } else { " " }),
                        t.accent(),
                    )
                })
                .collect();
            f.render_widget(Paragraph::new(lines), strip);
            body
        }
        None => body,
    };
    // A short terminal gives the log one row less, so the step keeps room for its result.
    let log_h = (body.height / 3).max(if body.height < 16 { 4 } else { 5 });
    let (top, log) = cut_bottom(body, log_h);
    let live_w = if top.width >= 110 {
        44
    } else {
        top.width * 2 / 5
    };
    let (step, live) = cut_right(top, live_w);
    render_step(m, f, step, &t);
    render_live(m, f, live, &t);
    render_log(m, f, log, &t);
    render_footer(m, f, footer, &t);
    let overlay_end = m
        .overlay
        .as_ref()
        .map(|ov| render_overlay(m, ov, f, area, &t));
    no_controls(f);
    Drawn { overlay_end }
}

/// The last guard: a control character that reached a cell by any path (text is escaped where
/// it enters: the reading, kong's lines, the probes) is drawn as `?`, never sent to the terminal.
fn no_controls(f: &mut Frame) {
    let buf = f.buffer_mut();
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(char::is_control) {
            cell.set_symbol("?");
        }
    }
}

/// Renders the model into a `width` x `height` test terminal and returns the screen as text, one
/// line per row (for snapshots, tests and the benchmark).
pub fn render_to_string(m: &Model, width: u16, height: u16) -> String {
    render_measured(m, width, height).0
}

/// [`render_to_string`], and what the frame measured (as the runtime keeps it in the model).
pub fn render_measured(m: &Model, width: u16, height: u16) -> (String, Drawn) {
    let backend = ratatui::backend::TestBackend::new(width, height);
    // The test backend cannot fail (its error type is uninhabited).
    let Ok(mut terminal) = ratatui::Terminal::new(backend);
    let mut drawn = Drawn::default();
    let Ok(_) = terminal.draw(|f| drawn = view(m, f));
    let buf = terminal.backend().buffer();
    let mut out = String::with_capacity((width as usize + 1) * height as usize);
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    (out, drawn)
}

/// Nothing else fits: the size, what quitting does, and the leaving question when it is open.
fn too_small(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let mut text = vec![
        Line::styled("Terminal too small", t.warn()),
        Line::raw(format!(
            "{}x{}; need {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
    ];
    let question = match &m.overlay {
        Some(Overlay::Leave) => Some("Leave kongrade?"),
        Some(Overlay::LeaveWhileRunning) => Some("kong runs. Leave (interrupts it)?"),
        _ => None,
    };
    // The keys of this screen, whatever size the model last heard of.
    let hints = crate::wizard::keys::too_small_keys(m);
    if let Some(q) = question {
        text.push(Line::styled(q, t.bold()));
    }
    let keys: Vec<String> = hints
        .iter()
        .filter(|h| h.footer && h.enabled())
        .map(|h| format!("{} {}", h.keys_text, h.label))
        .collect();
    text.push(Line::styled(keys.join("  "), t.dim()));
    let h = area.height.min(text.len() as u16);
    let y = area.y + area.height.saturating_sub(h) / 2;
    let text: Vec<Line> = text
        .into_iter()
        .map(|l| {
            let s: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            Line::styled(truncate(&s, area.width as usize).into_owned(), l.style)
        })
        .collect();
    f.render_widget(
        Paragraph::new(text).centered(),
        Rect::new(area.x, y, area.width, h),
    );
}

// Plain rect arithmetic instead of `Layout`: every split here is a fixed size plus the rest,
// and the constraint solver cost more than everything else in a frame (see the render bench).

/// The top `h` rows, and the rest.
fn cut_top(a: Rect, h: u16) -> (Rect, Rect) {
    let h = h.min(a.height);
    (
        Rect::new(a.x, a.y, a.width, h),
        Rect::new(a.x, a.y + h, a.width, a.height - h),
    )
}

/// The rest, and the bottom `h` rows.
fn cut_bottom(a: Rect, h: u16) -> (Rect, Rect) {
    let h = h.min(a.height);
    (
        Rect::new(a.x, a.y, a.width, a.height - h),
        Rect::new(a.x, a.y + a.height - h, a.width, h),
    )
}

/// The rest, and the right `w` columns.
fn cut_right(a: Rect, w: u16) -> (Rect, Rect) {
    let w = w.min(a.width);
    (
        Rect::new(a.x, a.y, a.width - w, a.height),
        Rect::new(a.x + a.width - w, a.y, w, a.height),
    )
}

/// Word wrap to `width` columns; words longer than a line are cut.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut len = 0;
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let wl = word.chars().count();
            if len > 0 && len + 1 + wl > width {
                out.push(std::mem::take(&mut line));
                len = 0;
            }
            if wl > width {
                let mut chars = word.chars().peekable();
                while chars.peek().is_some() {
                    if len == width {
                        out.push(std::mem::take(&mut line));
                        len = 0;
                    }
                    if let Some(c) = chars.next() {
                        line.push(c);
                        len += 1;
                    }
                }
                continue;
            }
            if len > 0 {
                line.push(' ');
                len += 1;
            }
            line.push_str(word);
            len += wl;
        }
        out.push(line);
    }
    out
}

fn truncate(s: &str, width: usize) -> Cow<'_, str> {
    if s.chars().count() <= width {
        Cow::Borrowed(s)
    } else if width == 0 {
        Cow::Borrowed("")
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        Cow::Owned(t)
    }
}

fn secs(d: f64) -> String {
    crate::wizard::model::secs_text(d)
}

fn render_header(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let from = match (&m.reading, m.state()) {
        (_, Some(s)) if s.needs_bootstrap && s.legacy_table => "0.x".to_string(),
        (_, Some(s)) if s.needs_bootstrap => "empty".to_string(),
        (Some(r), _) => r.schema_label.clone().unwrap_or_else(|| "?".into()),
        _ => "?".into(),
    };
    let target = m
        .setup
        .target
        .map(|v| v.to_string())
        .unwrap_or_else(|| "?".into());
    let mut badges = Vec::new();
    if m.setup.training.is_some() {
        badges.push(Span::styled("  TRAINING", t.warn()));
    }
    if m.setup.read_only {
        badges.push(Span::styled("  READ-ONLY", t.warn()));
    }
    // The badges say what kind of session this is: they always fit; the database's name gives
    // way first (with a marker), then the word "schema".
    let width = area.width as usize;
    let fixed = |schema: &str| {
        " kongrade ".len()
            + schema.chars().count()
            + from.chars().count()
            + " → Kong ".chars().count()
            + target.chars().count()
            + badges
                .iter()
                .map(|b| b.content.chars().count())
                .sum::<usize>()
    };
    let mut schema = "  schema ";
    if fixed(schema) + m.setup.database.chars().count() > width && fixed("  ") + 4 <= width {
        schema = "  ";
    }
    let room = width.saturating_sub(fixed(schema));
    let mut spans = vec![
        Span::styled(" kongrade ", t.accent()),
        Span::raw(truncate(&m.setup.database, room).into_owned()),
        Span::styled(schema, t.dim()),
        Span::styled(from, t.bold()),
        Span::styled(" → Kong ", t.dim()),
        Span::styled(target, t.bold()),
    ];
    spans.extend(badges);
    let (l1, l2) = cut_top(area, 1);
    f.render_widget(Line::from(spans), l1);
    f.render_widget(progress(m, area.width as usize, t), l2);
}

/// `✓ Preflight › ✓ Backup › ▸ Review › Up › …`; where that does not fit, the steps passed as
/// their marks only (`✓ › ✓ › ▸ Review › Up › …`); else `step 3/7: Review`.
fn progress(m: &Model, width: usize, t: &Theme) -> Line<'static> {
    for short in [false, true] {
        if let Some(l) = progress_line(m, width, t, short) {
            return l;
        }
    }
    let steps = m.flow().steps();
    let label = match steps.iter().position(|s| *s == m.step) {
        Some(c) => format!(
            " step {}/{}: {}",
            c + 1,
            steps.len(),
            m.flow().title(m.step)
        ),
        None => format!(" {}", m.step.title()),
    };
    Line::styled(label, t.accent())
}

fn progress_line(m: &Model, width: usize, t: &Theme, short: bool) -> Option<Line<'static>> {
    let flow = m.flow();
    let steps = flow.steps();
    let cur = steps.iter().position(|s| *s == m.step);
    let mut spans = vec![Span::raw(" ")];
    let mut len = 1;
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.dim()));
            len += 3;
        }
        // A tick only for what is true: a step passed but not done (no backup) says so.
        let (mark, style) = match cur {
            Some(c) if i < c => match crate::wizard::model::step_mark(m, *s) {
                crate::wizard::model::Mark::Done => ("✓ ", t.ok()),
                crate::wizard::model::Mark::Overridden => ("! ", t.warn()),
                crate::wizard::model::Mark::NotDone => ("– ", t.dim()),
            },
            Some(c) if i == c => ("▸ ", t.accent()),
            _ => ("", t.dim()),
        };
        let text = match cur {
            Some(c) if short && i < c => mark.trim_end().to_string(),
            _ => format!("{mark}{}", flow.label(*s)),
        };
        len += text.chars().count();
        spans.push(Span::styled(text, style));
    }
    if cur.is_none() {
        spans.insert(1, Span::styled(format!("{} · ", m.step.title()), t.warn()));
        len += m.step.title().len() + 3;
    }
    (len <= width).then(|| Line::from(spans))
}

fn step_number(m: &Model) -> String {
    let flow = m.flow();
    match flow.steps().iter().position(|s| *s == m.step) {
        Some(i) => format!(" {}. {} ", i + 1, flow.title(m.step)),
        None => format!(" {} ", m.step.title()),
    }
}

fn render_step(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(t.border(m.focus == Focus::Step))
        .title(Span::styled(step_number(m), t.bold()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.width < 4 || inner.height < 3 {
        return;
    }
    let w = inner.width as usize;
    // The step's purpose goes first when room is short (help, ?, has it in full): what the
    // step shows and says (up's result) must stay visible.
    let mut why_lines = if inner.height < 10 {
        Vec::new()
    } else {
        wrap(m.flow().why(m.step), w)
    };
    why_lines.truncate(3);
    let notice: Vec<Line> = match &m.notice {
        Some(n) => {
            let (mark, style) = match n.level {
                NoticeLevel::Info => ("", Style::new()),
                NoticeLevel::Warn => ("! ", t.warn()),
                NoticeLevel::Block => ("✗ ", t.err()),
            };
            wrap(&format!("{mark}{}", n.text), w)
                .into_iter()
                .take(4)
                .map(|l| Line::styled(l, style))
                .collect()
        }
        None => Vec::new(),
    };
    let why_h = if why_lines.is_empty() {
        0
    } else {
        why_lines.len() as u16 + 1
    };
    let notice_h = notice.len() as u16;
    let (why_a, rest) = cut_top(inner, why_h);
    let (body, notice_a) = cut_bottom(rest, notice_h);
    let why_text: Vec<Line> = why_lines
        .into_iter()
        .map(|l| Line::styled(l, t.dim().add_modifier(Modifier::ITALIC)))
        .collect();
    f.render_widget(Paragraph::new(why_text), why_a);
    if !notice.is_empty() {
        f.render_widget(Paragraph::new(notice), notice_a);
    }
    let h = body.height as usize;
    let mut lines = step_body(m, body.width as usize, h, t);
    // Never cut without saying so: the last row says more is below, and how to read it.
    if lines.len() > h && h > 0 {
        lines.truncate(h - 1);
        lines.push(Line::styled(
            truncate("▼ more below: v shows it in full", body.width as usize).into_owned(),
            t.accent(),
        ));
    }
    f.render_widget(Paragraph::new(lines), body);
}

/// The step pane's body lines for a `w` x `h` body, as text (tests: every line must fit, so the
/// screen never cuts one silently).
#[cfg(test)]
pub(crate) fn step_body_text(m: &Model, w: usize, h: usize) -> Vec<String> {
    let t = Theme { color: false };
    step_body(m, w, h, &t)
        .into_iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

/// Lines of a list around the cursor, so the selected row stays visible.
fn window<T>(items: &[T], cursor: usize, height: usize) -> (usize, &[T]) {
    if height == 0 || items.is_empty() {
        return (0, &[]);
    }
    let start = cursor.saturating_sub(height.saturating_sub(1));
    let end = (start + height).min(items.len());
    (start, &items[start..end])
}

/// Between up and finish: Admin API writes the teardowns may miss (diagnose's write watch).
fn writes_warning(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    if let Some(f) = m
        .findings
        .iter()
        .find(|f| f.id == crate::kong::policy::FindingId::WritesSinceUp)
    {
        push_wrapped(
            out,
            &format!("! {}: freeze Admin API writes until finish", f.title),
            w,
            t.warn(),
        );
    }
}

fn push_wrapped(out: &mut Vec<Line<'static>>, text: &str, width: usize, style: Style) {
    for l in wrap(text, width) {
        out.push(Line::styled(l, style));
    }
}

/// `lead` then `text` wrapped, its later lines indented under the text.
fn push_hanging(out: &mut Vec<Line<'static>>, lead: &str, text: &str, width: usize, style: Style) {
    let indent = lead.chars().count();
    let pad = " ".repeat(indent);
    for (i, l) in wrap(text, width.saturating_sub(indent).max(1))
        .into_iter()
        .enumerate()
    {
        let head = if i == 0 { lead } else { pad.as_str() };
        out.push(Line::styled(format!("{head}{l}"), style));
    }
}

fn step_body(m: &Model, w: usize, h: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    match m.step {
        Step::Connecting => connecting_body(m, w, t, &mut out),
        Step::Waiting => waiting_body(m, w, t, &mut out),
        Step::Preflight => preflight_body(m, w, h, t, &mut out),
        Step::Backup => backup_body(m, w, h, t, &mut out),
        Step::Review => review_body(m, w, h, t, &mut out),
        Step::Strategy => strategy::strategy_body(m, w, h, t, &mut out),
        Step::Freeze => strategy::freeze_body(m, w, t, &mut out),
        Step::StartNew => in_place::start_new_body(m, w, t, &mut out),
        Step::Up | Step::Bootstrap => up_body(m, w, t, &mut out),
        Step::Decommission => {
            writes_warning(m, w, t, &mut out);
            decommission_body(m, w, h, t, &mut out)
        }
        Step::Finish => finish_body(m, w, t, &mut out),
        Step::Clone
        | Step::CloneReview
        | Step::CloneUp
        | Step::CloneFinish
        | Step::NewCluster
        | Step::Traffic
        | Step::Retire => dual::dual_body(m, w, h, t, &mut out),
        Step::Done => done_body(m, w, t, &mut out),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Render reads what the model derived: a frame of an unchanged model makes none of Kong's
    /// choice, Review's facts or the failed up's account again (they were made every frame).
    #[test]
    fn frames_of_an_unchanged_model_make_nothing_again() {
        use crate::wizard::testkit::H;
        let mut h = H::choosing("clean");
        h.read();
        h.enter();
        assert_eq!(h.m.step, Step::Strategy);
        let first = render_to_string(&h.m, 120, 40);
        let made = h.m.memo.choice.made();
        assert!(made >= 1);
        for _ in 0..3 {
            assert_eq!(render_to_string(&h.m, 120, 40), first);
        }
        assert_eq!(
            h.m.memo.choice.made(),
            made,
            "Strategy: no choice made again"
        );
        // A new input (here the version the jump is judged from): chosen again, once.
        if let Some(r) = h.m.reading.as_mut() {
            r.from = Some(crate::kong::version::Version::new(3, 3, 1));
        }
        render_to_string(&h.m, 120, 40);
        render_to_string(&h.m, 120, 40);
        assert_eq!(h.m.memo.choice.made(), made + 1);

        let mut h = H::scenario("clean");
        h.read();
        h.enter();
        h.own_backup("nightly dump");
        h.enter();
        assert_eq!(h.m.step, Step::Review);
        render_to_string(&h.m, 120, 40);
        let made = h.m.memo.reviews.made();
        assert_eq!(made, 1);
        render_to_string(&h.m, 80, 24);
        render_to_string(&h.m, 120, 40);
        assert_eq!(h.m.memo.reviews.made(), made, "Review: its facts made once");
    }

    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 3), vec![""]);
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
