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

use crate::exec::runner::KongCommand;
use crate::kong::state::MigState;
use crate::wizard::keys::{keys_label, Action, KEYMAP};
use crate::wizard::model::{
    dp_key, BackupMethod, BackupState, DecomRow, Focus, LogKind, Model, NoticeLevel, Overlay,
    RunState, Step,
};
use crate::wizard::text::why;
use crate::wizard::update::finish_blockers;
use crate::wizard::{blocks, Severity};

/// Below this the layout cannot hold the step and the live pane: say so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

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

pub fn view(m: &Model, f: &mut Frame) {
    let area = f.area();
    let t = Theme {
        color: m.setup.color,
    };
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area, &t);
        return;
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
    let log_h = (body.height / 3).max(5);
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
    if let Some(ov) = &m.overlay {
        render_overlay(m, ov, f, area, &t);
    }
}

/// Renders the model into a `width` x `height` test terminal and returns the screen as text, one
/// line per row (for snapshots, tests and the benchmark).
pub fn render_to_string(m: &Model, width: u16, height: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(width, height);
    // The test backend cannot fail (its error type is uninhabited).
    let Ok(mut terminal) = ratatui::Terminal::new(backend);
    let Ok(_) = terminal.draw(|f| view(m, f));
    let buf = terminal.backend().buffer();
    let mut out = String::with_capacity((width as usize + 1) * height as usize);
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn too_small(f: &mut Frame, area: Rect, t: &Theme) {
    let text = vec![
        Line::styled("Terminal too small", t.warn()),
        Line::raw(format!(
            "{}x{}; need {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
    ];
    let h = area.height.min(2);
    let y = area.y + area.height.saturating_sub(h) / 2;
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
    let n = d.max(0.0);
    if n < 10.0 {
        format!("{n:.1} s")
    } else if n < 120.0 {
        format!("{} s", n.round() as u64)
    } else if n < 7200.0 {
        format!("{} min", (n / 60.0).round() as u64)
    } else {
        format!("{} h", (n / 3600.0).round() as u64)
    }
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
    let mut spans = vec![
        Span::styled(" kongrade ", t.accent()),
        Span::raw(m.setup.database.clone()),
        Span::styled("  schema ", t.dim()),
        Span::styled(from, t.bold()),
        Span::styled(" → Kong ", t.dim()),
        Span::styled(target, t.bold()),
    ];
    if m.setup.training.is_some() {
        spans.push(Span::styled("  TRAINING", t.warn()));
    }
    if m.setup.read_only {
        spans.push(Span::styled("  READ-ONLY", t.warn()));
    }
    let (l1, l2) = cut_top(area, 1);
    f.render_widget(Line::from(spans), l1);
    f.render_widget(progress(m, area.width as usize, t), l2);
}

/// `✓ Preflight › ✓ Backup › ▸ Review › Up › …`, or `step 3/7: Review` when it does not fit.
fn progress(m: &Model, width: usize, t: &Theme) -> Line<'static> {
    let steps = m.path.steps();
    let cur = steps.iter().position(|s| *s == m.step);
    let mut spans = vec![Span::raw(" ")];
    let mut len = 1;
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.dim()));
            len += 3;
        }
        let (mark, style) = match cur {
            Some(c) if i < c => ("✓ ", t.ok()),
            Some(c) if i == c => ("▸ ", t.accent()),
            _ => ("", t.dim()),
        };
        let text = format!("{mark}{}", s.title());
        len += text.chars().count();
        spans.push(Span::styled(text, style));
    }
    if cur.is_none() {
        spans.insert(1, Span::styled(format!("{} · ", m.step.title()), t.warn()));
        len += m.step.title().len() + 3;
    }
    if len <= width {
        return Line::from(spans);
    }
    let label = match cur {
        Some(c) => format!(" step {}/{}: {}", c + 1, steps.len(), m.step.title()),
        None => format!(" {}", m.step.title()),
    };
    Line::styled(label, t.accent())
}

fn step_number(m: &Model) -> String {
    match m.path.steps().iter().position(|s| *s == m.step) {
        Some(i) => format!(" {}. {} ", i + 1, m.step.title()),
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
    let mut why_lines = wrap(why(m.step), w);
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
    let why_h = why_lines.len() as u16 + 1;
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
    let lines = step_body(m, body.width as usize, body.height as usize, t);
    f.render_widget(Paragraph::new(lines), body);
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
    if let Some(f) = m.findings.iter().find(|f| f.id == "writes-since-up") {
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
    let state = m.state();
    match m.step {
        Step::Connecting => {
            push_wrapped(
                &mut out,
                &format!("Reading {} …", m.setup.database),
                w,
                Style::new(),
            );
            if let Some(e) = &m.db.last_error {
                push_wrapped(&mut out, e, w, t.err());
                out.push(Line::styled(
                    format!(
                        "retry {} (every {})",
                        m.db.failures,
                        secs(m.setup.refresh.as_secs_f64())
                    ),
                    t.dim(),
                ));
            }
        }
        Step::Waiting => {
            let owner = state
                .and_then(|s| s.lock.as_ref())
                .and_then(|l| l.owner.clone())
                .unwrap_or_else(|| "unknown".into());
            out.push(Line::from(vec![
                Span::raw("Lock held by "),
                Span::styled(owner, t.bold()),
            ]));
            match m.lock_seconds_left() {
                Some(s) if s > 0.0 => {
                    out.push(Line::styled(format!("expires in {}", secs(s)), t.warn()))
                }
                Some(_) => out.push(Line::styled("expired; waiting for the next read", t.dim())),
                None => {}
            }
            out.push(Line::raw(""));
            push_wrapped(
                &mut out,
                "If no kong runs anywhere, a killed run left it. kongrade never deletes it; the wizard continues by itself once it is released.",
                w,
                Style::new(),
            );
        }
        Step::Preflight => preflight_body(m, w, h, t, &mut out),
        Step::Backup => backup_body(m, w, h, t, &mut out),
        Step::Review => review_body(m, w, h, t, &mut out),
        Step::Up | Step::Bootstrap => {
            let cmd = if m.step == Step::Up {
                KongCommand::Up
            } else {
                KongCommand::Bootstrap
            };
            push_wrapped(
                &mut out,
                &format!("$ {}", m.command_line(cmd)),
                w,
                t.accent(),
            );
            out.push(Line::raw(""));
            run_status(m, cmd, w, t, &mut out);
        }
        Step::Decommission => {
            writes_warning(m, w, t, &mut out);
            decommission_body(m, w, h, t, &mut out)
        }
        Step::Finish => {
            writes_warning(m, w, t, &mut out);
            let pending = state.map(|s| s.total(MigState::Pending)).unwrap_or(0);
            push_wrapped(
                &mut out,
                &format!("$ {}", m.command_line(KongCommand::Finish)),
                w,
                t.accent(),
            );
            out.push(Line::raw(format!(
                "{pending} pending migrations to tear down"
            )));
            let ran = m
                .run
                .as_ref()
                .is_some_and(|r| r.command == KongCommand::Finish);
            if ran {
                out.push(Line::raw(""));
                run_status(m, KongCommand::Finish, w, t, &mut out);
            } else {
                let blockers = finish_blockers(m);
                if blockers.is_empty() {
                    out.push(Line::styled("✓ nothing blocks finish", t.ok()));
                    out.push(Line::styled("Enter asks you to type 'finish'.", t.dim()));
                } else {
                    out.push(Line::styled("Blocked:", t.err()));
                    for b in &blockers {
                        push_wrapped(&mut out, &format!("✗ {b}"), w, t.err());
                    }
                    if m.gate_override.is_none() && !m.node_gate().open && !m.setup.read_only {
                        push_wrapped(
                            &mut out,
                            "o opens the node gate anyway: you say why, and it goes into the journal.",
                            w,
                            t.dim(),
                        );
                    }
                }
                if let Some(reason) = &m.gate_override {
                    push_wrapped(
                        &mut out,
                        &format!("! node gate opened anyway: {reason}"),
                        w,
                        t.warn(),
                    );
                }
            }
        }
        Step::Done => {
            match state {
                Some(s) if s.up_to_date() => out.push(Line::styled(
                    format!(
                        "✓ The database is up to date for Kong {}",
                        m.setup
                            .target
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "?".into())
                    ),
                    t.ok(),
                )),
                Some(s) => out.push(Line::raw(format!(
                    "The database: {} executed, {} pending, {} new",
                    s.total(MigState::Executed),
                    s.total(MigState::Pending),
                    s.total(MigState::New)
                ))),
                None => {}
            }
            // The summary: what ran, how long it took, where the record is.
            let ran: Vec<&str> = m
                .log
                .lines
                .iter()
                .filter(|l| l.kind == LogKind::Command)
                .map(|l| l.text.as_str())
                .collect();
            let mins = m.now.saturating_duration_since(m.began).as_secs() / 60;
            let secs = m.now.saturating_duration_since(m.began).as_secs() % 60;
            out.push(Line::raw(format!(
                "This session: {mins} min {secs} s, {} command{} run:",
                ran.len(),
                if ran.len() == 1 { "" } else { "s" }
            )));
            for r in ran {
                push_wrapped(&mut out, &format!("  {r}"), w, t.dim());
            }
            match &m.setup.journal_path {
                Some(p) => push_wrapped(&mut out, &format!("Journal: {p}"), w, t.dim()),
                None if m.setup.training.is_some() => {
                    out.push(Line::styled("Journal: none (training cluster)", t.dim()))
                }
                None => {}
            }
            if m.outcome
                .as_ref()
                .is_some_and(|o| o.command == KongCommand::Finish && o.success)
            {
                push_wrapped(
                    &mut out,
                    "finish ran: old-version nodes can no longer run against this database.",
                    w,
                    Style::new(),
                );
            }
            out.push(Line::styled("Enter or q leaves.", t.dim()));
        }
    }
    out
}

fn preflight_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let Some(state) = m.state() else {
        return;
    };
    if state.needs_bootstrap {
        out.push(Line::raw("No Kong schema in this database."));
    } else {
        out.push(Line::raw(format!(
            "{} executed · {} pending · {} new",
            state.total(MigState::Executed),
            state.total(MigState::Pending),
            state.total(MigState::New)
        )));
    }
    if m.findings.is_empty() {
        out.push(Line::styled("✓ No findings: nothing unusual.", t.ok()));
        return;
    }
    // The selected finding's detail gets what the list leaves.
    let list_h = m.findings.len().min(h.saturating_sub(2) / 2).max(1);
    let (start, shown) = window(&m.findings, m.cursor, list_h);
    for (i, f) in shown.iter().enumerate() {
        let (tag, style) = match f.severity {
            Severity::Error => ("ERR ", t.err()),
            Severity::Warning => ("WARN", t.warn()),
            Severity::Info => ("INFO", t.dim()),
        };
        let selected = start + i == m.cursor;
        let title = truncate(&f.title, w.saturating_sub(7)).into_owned();
        let mut line = Line::from(vec![
            Span::raw(if selected { "▸ " } else { "  " }),
            Span::styled(tag, style),
            Span::raw(" "),
            Span::raw(title),
        ]);
        if selected && m.focus == Focus::Step {
            line = line.patch_style(t.selected());
        }
        out.push(line);
    }
    if let Some(f) = m.findings.get(m.cursor) {
        let room = h.saturating_sub(out.len());
        // As `kongrade diagnose` prints it: the commands first, then what was seen and why.
        let mut detail = Vec::new();
        for r in &f.remedy {
            push_hanging(&mut detail, "› ", r, w, t.accent());
        }
        push_hanging(&mut detail, "seen: ", &f.seen.join("; "), w, t.dim());
        push_wrapped(&mut detail, &f.why, w, t.dim());
        out.extend(detail.into_iter().take(room));
    }
}

/// `1.8 MB`, `640 KB`, `12 B`.
fn bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{} MB", n >> 20)
    } else if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{} KB", n >> 10)
    } else {
        format!("{n} B")
    }
}

fn backup_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let key = |k: &str, text: &str| {
        Line::from(vec![
            Span::styled(format!("{k:<6}"), t.accent()),
            Span::raw(text.to_string()),
        ])
    };
    match &m.setup.backup {
        BackupMethod::PgDump { .. } => {
            out.push(key("t", "take one now: pg_dump, verified"));
            out.push(key("Space", "I have my own backup (say where)"));
        }
        BackupMethod::OwnOnly { why } => {
            push_wrapped(out, why, w, t.dim());
            out.push(key("Space", "I have my own backup (say where)"));
        }
        BackupMethod::Cassandra {
            keyspace,
            tag,
            hosts,
        } => {
            push_wrapped(
                out,
                "On every node, run the snapshot, then tick it (Space):",
                w,
                Style::new(),
            );
            let cmd = BackupMethod::nodetool(keyspace, tag);
            let list_h = h.saturating_sub(out.len() + 2).max(1);
            let (start, shown) = window(hosts, m.cursor, list_h);
            for (i, host) in shown.iter().enumerate() {
                let idx = start + i;
                let selected = idx == m.cursor;
                let done = m.snapshots.get(idx).copied().unwrap_or(false);
                let mark = if done { "[x] " } else { "[ ] " };
                let text = truncate(&format!("{host}: {cmd}"), w.saturating_sub(6)).into_owned();
                let mut line = Line::from(vec![
                    Span::raw(if selected { "▸ " } else { "  " }),
                    Span::styled(mark, if done { t.ok() } else { t.bold() }),
                    Span::raw(text),
                ]);
                if selected && m.focus == Focus::Step {
                    line = line.patch_style(t.selected());
                }
                out.push(line);
            }
        }
    }
    out.push(Line::raw(""));
    match &m.backup {
        BackupState::Missing => {}
        BackupState::Running {
            bytes: b, elapsed, ..
        } => out.push(Line::styled(
            format!("pg_dump: {}, {} …", bytes(*b), secs(elapsed.as_secs_f64())),
            t.warn(),
        )),
        BackupState::Taken(rec) => {
            push_hanging(
                out,
                "✓ ",
                &format!("Backup written and verified: {}", rec.file.display()),
                w,
                t.ok(),
            );
            push_hanging(
                out,
                "  ",
                &format!(
                    "{} ({} bytes), sha256 {}",
                    bytes(rec.bytes),
                    rec.bytes,
                    rec.sha256
                ),
                w,
                t.dim(),
            );
        }
        BackupState::Failed(e) => {
            push_hanging(out, "✗ ", &format!("The backup failed: {e}"), w, t.err());
            if matches!(m.setup.backup, BackupMethod::PgDump { .. }) {
                out.push(Line::styled("t tries again; nothing was kept.", t.dim()));
            }
        }
        BackupState::Own(r) => push_hanging(out, "✓ ", &format!("Your backup: {r}"), w, t.ok()),
    }
    if let (BackupMethod::PgDump { command }, false) = (&m.setup.backup, m.backup_done()) {
        out.push(Line::styled("Taking it yourself:", t.dim()));
        push_wrapped(out, &format!("$ {command}"), w, t.accent());
        push_wrapped(
            out,
            "and a declarative export: kong config db_export kong.yaml",
            w,
            t.dim(),
        );
    }
}

fn review_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let migs = m.new_migrations();
    let two = migs.iter().filter(|x| x.2).count();
    push_wrapped(
        out,
        &format!(
            "{} migrations will run, {two} two-phase (pending until finish)",
            migs.len()
        ),
        w,
        Style::new(),
    );
    let sub_w = migs
        .iter()
        .map(|x| x.0.chars().count())
        .max()
        .unwrap_or(4)
        .min(w / 3);
    let (start, shown) = window(&migs, m.cursor, h.saturating_sub(out.len()));
    for (i, (sub, name, two_phase)) in shown.iter().enumerate() {
        let selected = start + i == m.cursor;
        let rest = w.saturating_sub(sub_w + 14);
        let mut line = Line::from(vec![
            Span::raw(if selected { "▸ " } else { "  " }),
            Span::styled(format!("{:<sub_w$} ", truncate(sub, sub_w)), t.dim()),
            Span::raw(format!("{:<rest$}", truncate(name, rest))),
            if *two_phase {
                Span::styled(" two-phase", t.warn())
            } else {
                Span::raw("")
            },
        ]);
        if selected && m.focus == Focus::Step {
            line = line.patch_style(t.selected());
        }
        out.push(line);
    }
}

fn run_status(m: &Model, cmd: KongCommand, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let run = m.run.as_ref().filter(|r| r.command == cmd);
    match (run, &m.outcome) {
        (None, _) => push_wrapped(
            out,
            "Enter asks, showing this command, then runs it. Its output goes to the log.",
            w,
            t.dim(),
        ),
        (Some(r), _) if r.state == RunState::Running => {
            let secs_run = m.now.saturating_duration_since(r.started).as_secs_f64();
            out.push(Line::styled(
                format!("running for {} …", secs(secs_run)),
                t.warn(),
            ));
            if let Some(last) = m
                .log
                .lines
                .iter()
                .rev()
                .find(|l| matches!(l.kind, LogKind::Stdout | LogKind::Stderr))
            {
                out.push(Line::styled(truncate(&last.text, w).into_owned(), t.dim()));
            }
            out.push(Line::styled("Ctrl-C asks before stopping it.", t.dim()));
        }
        (Some(_), Some(o)) if o.command == cmd => {
            let style = if o.success { t.ok() } else { t.err() };
            let mark = if o.success { "✓ " } else { "✗ " };
            push_wrapped(out, &format!("{mark}{}", o.text), w, style);
        }
        (Some(_), _) => out.push(Line::styled(
            "kong exited; re-reading the database …",
            t.warn(),
        )),
    }
}

fn decommission_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    if let Some(note) = &m.entry_note {
        push_wrapped(out, note, w, t.accent());
    }
    let gate = m.node_gate();
    let rows = m.decom_rows();
    // The gate's line stays at the bottom; the list scrolls above it.
    let list_h = h.saturating_sub(out.len() + 1).max(1);
    let (start, shown) = window(&rows, m.cursor, list_h);
    let dps = m.data_planes();
    for (i, row) in shown.iter().enumerate() {
        let selected = start + i == m.cursor;
        let check = |done: bool, label: &str, indent: &str| {
            vec![
                Span::raw(indent.to_string()),
                Span::styled(
                    if done { "[x] " } else { "[ ] " },
                    if done { t.ok() } else { t.bold() },
                ),
                Span::raw(truncate(label, w.saturating_sub(6 + indent.len())).into_owned()),
            ]
        };
        let spans: Vec<Span> = match row {
            DecomRow::General(j) => match m.checklist.get(*j) {
                Some(c) => check(c.done, &c.label, ""),
                None => continue,
            },
            DecomRow::Node(j) => {
                let Some(n) = m.nodes.get(*j) else { continue };
                let (blocks, label) = match (&n.class, n.kind.as_str()) {
                    (_, "manual") => (
                        !n.checklist.done(),
                        "manual entry: tick it when taken out".to_string(),
                    ),
                    (None, _) => (true, "not probed yet".to_string()),
                    (Some(c), _) => (c.blocks_finish(), c.label()),
                };
                let (mark, style) = if blocks {
                    ("✗ ", t.err())
                } else {
                    ("✓ ", t.ok())
                };
                vec![
                    Span::styled(mark, style),
                    Span::styled(
                        truncate(&format!("{}  {label}", n.name), w.saturating_sub(4)).into_owned(),
                        if blocks { style } else { Style::new() },
                    ),
                ]
            }
            DecomRow::NodeItem(j, it) => match m.nodes.get(*j) {
                Some(n) => check(it.get(&n.checklist), it.label(), "    "),
                None => continue,
            },
            DecomRow::DataPlane(k) => {
                let Some((dp, old, recent)) = dps.iter().find(|(dp, _, _)| dp_key(dp) == *k) else {
                    continue;
                };
                let ago = dp
                    .last_seen_secs_ago
                    .map(secs)
                    .unwrap_or_else(|| "?".into());
                let v = dp.version.as_deref().unwrap_or("?");
                let marked = m.dp_checks.get(k).is_some_and(|c| c.stopped);
                // The database's word on it: a data plane checks in every 30 s.
                let text = match (old, recent) {
                    (true, true) if marked => format!(
                        "{k}  OLD {v} data plane, still seen {ago} ago after its stop: stop it again"
                    ),
                    (true, true) => format!("{k}  OLD {v} data plane, seen {ago} ago"),
                    (true, false) => format!("{k}  old {v} data plane, gone (seen {ago} ago)"),
                    (false, _) => format!("{k}  new {v} data plane"),
                };
                let blocks = *old && *recent;
                let (mark, style) = if blocks {
                    ("✗ ", t.err())
                } else {
                    ("✓ ", t.ok())
                };
                vec![
                    Span::styled(mark, style),
                    Span::styled(
                        truncate(&text, w.saturating_sub(4)).into_owned(),
                        if blocks { style } else { Style::new() },
                    ),
                ]
            }
            DecomRow::DataPlaneItem(k, it) => check(
                it.get(&m.dp_checks.get(k).copied().unwrap_or_default()),
                it.label(),
                "    ",
            ),
        };
        let mut spans = spans;
        spans.insert(0, Span::raw(if selected { "▸ " } else { "  " }));
        let mut line = Line::from(spans);
        if selected && m.focus == Focus::Step {
            line = line.patch_style(t.selected());
        }
        out.push(line);
    }
    let probed = m
        .probed_at
        .map(|at| {
            format!(
                ", probed {} ago",
                secs(m.now.saturating_duration_since(at).as_secs_f64())
            )
        })
        .unwrap_or_default();
    let line = match (&m.gate_override, gate.open) {
        (Some(reason), _) => Line::styled(
            truncate(&format!("! finish gate opened anyway: {reason}"), w).into_owned(),
            t.warn(),
        ),
        (None, true) => Line::styled(
            truncate(&format!("✓ finish gate open: no old node seen{probed}"), w).into_owned(),
            t.ok(),
        ),
        (None, false) => Line::styled(
            truncate(
                &format!(
                    "✗ finish gate closed: {} old node(s) seen{probed}",
                    gate.blockers.len()
                ),
                w,
            )
            .into_owned(),
            t.err(),
        ),
    };
    out.push(line);
}

fn render_live(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(" Database (live) ", t.bold()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let h = inner.height as usize;
    if w < 8 || h == 0 {
        return;
    }
    let mut out: Vec<Line> = Vec::with_capacity(h);
    let every = secs(m.setup.refresh.as_secs_f64());
    match (m.read_age(), m.db.stale()) {
        (Some(age), false) => out.push(Line::from(vec![
            Span::styled("● ", t.ok()),
            Span::raw(format!("read {} ago", secs(age.as_secs_f64()))),
            Span::styled(format!(" / {every}"), t.dim()),
        ])),
        (Some(age), true) => {
            out.push(Line::styled(
                truncate(
                    &format!("● STALE, last read {} ago", secs(age.as_secs_f64())),
                    w,
                )
                .into_owned(),
                t.err(),
            ));
            let e = m.db.last_error.as_deref().unwrap_or("");
            out.push(Line::styled(
                truncate(&format!("retry {}: {e}", m.db.failures), w).into_owned(),
                t.dim(),
            ));
        }
        (None, _) => out.push(Line::styled(
            truncate(&format!("○ no read yet, retry {}", m.db.failures), w).into_owned(),
            t.warn(),
        )),
    }
    let Some(state) = m.state() else {
        f.render_widget(Paragraph::new(out), inner);
        return;
    };
    match &state.lock {
        None => out.push(Line::styled("lock: free", t.dim())),
        Some(l) if l.live => {
            let left = m
                .lock_seconds_left()
                .map(|s| format!(", {} left", secs(s)))
                .unwrap_or_default();
            let owner = l.owner.clone().unwrap_or_else(|| "?".into());
            out.push(Line::styled(format!("lock: HELD{left}"), t.warn()));
            out.push(Line::styled(
                truncate(&format!("  by {owner}"), w).into_owned(),
                t.dim(),
            ));
        }
        Some(_) => out.push(Line::styled("lock: expired row (harmless)", t.dim())),
    }
    if state.needs_bootstrap {
        let text = if state.legacy_table {
            "a pre-1.0 schema: schema_migrations, no schema_meta"
        } else {
            "no schema_meta: needs bootstrap"
        };
        push_wrapped(&mut out, text, w, t.warn());
        f.render_widget(Paragraph::new(out), inner);
        return;
    }
    // Gaps have their own column; the totals turn red when there are any.
    let totals = format!(
        "{} exec · {} pend · {} new",
        state.total(MigState::Executed),
        state.total(MigState::Pending),
        state.total(MigState::New)
    );
    let style = if state.gaps.is_empty() {
        Style::new()
    } else {
        t.err()
    };
    out.push(Line::styled(truncate(&totals, w).into_owned(), style));
    let room = h.saturating_sub(out.len() + 1);
    if room == 0 {
        f.render_widget(Paragraph::new(out), inner);
        return;
    }
    // Columns: name, executed/target, pending, new, skipped (gaps).
    let name_w = w.saturating_sub(18).max(4);
    out.push(Line::styled(
        format!(
            "{:<name_w$} {:>6} {:>3} {:>3} {:>2}",
            "subsystem", "done", "P", "N", "G"
        ),
        t.dim(),
    ));
    let gaps_in = |name: &str| {
        state
            .gaps
            .iter()
            .filter(|g| g.subsystem == name)
            .map(|g| g.migrations.len())
            .sum::<usize>()
    };
    let gap_of = |name: &str| gaps_in(name) > 0;
    let busy = |s: &&crate::kong::state::SubsystemState| {
        s.count(MigState::Pending) > 0 || s.count(MigState::New) > 0 || gap_of(&s.name)
    };
    // What still has work comes first; the rest as room allows.
    let mut rows: Vec<&crate::kong::state::SubsystemState> =
        state.subsystems.iter().filter(busy).collect();
    rows.extend(state.subsystems.iter().filter(|s| !busy(s)));
    let total = rows.len();
    let fits = if total > room { room - 1 } else { total };
    for s in rows.iter().take(fits) {
        let ex = s.count(MigState::Executed);
        let p = s.count(MigState::Pending);
        let n = s.count(MigState::New);
        let style = if gap_of(&s.name) {
            t.err()
        } else if p > 0 || n > 0 {
            t.warn()
        } else {
            Style::new()
        };
        out.push(Line::styled(
            format!(
                "{:<name_w$} {:>6} {:>3} {:>3} {:>2}",
                truncate(&s.name, name_w),
                format!("{ex}/{}", s.migrations.len()),
                p,
                n,
                gaps_in(&s.name)
            ),
            style,
        ));
    }
    if fits < total {
        let rest = &rows[fits..];
        let quiet = rest.iter().filter(|s| !busy(s)).count();
        let text = if quiet == rest.len() {
            format!("+{} more, up to date", rest.len())
        } else {
            format!("+{} more", rest.len())
        };
        out.push(Line::styled(text, t.dim()));
    }
    f.render_widget(Paragraph::new(out), inner);
}

fn render_log(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let mut title = String::from(" Log ");
    if m.log.scroll > 0 {
        title = format!(" Log (scrolled up {}; End follows) ", m.log.scroll);
    }
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(t.border(m.focus == Focus::Log))
        .title(Span::styled(title, t.bold()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    let len = m.log.lines.len();
    // Scrolled to the very top, the pane still fills from the first line.
    let end = len.saturating_sub(m.log.scroll).max(h.min(len));
    let start = end.saturating_sub(h);
    let lines: Vec<Line> = m.log.lines[start..end]
        .iter()
        .map(|l| {
            let (prefix, style) = match l.kind {
                LogKind::Command => ("", t.accent()),
                LogKind::Stdout => ("  ", Style::new()),
                LogKind::Stderr => ("  ", t.warn()),
                LogKind::Info => ("· ", t.dim()),
                LogKind::Warn => ("! ", t.warn()),
                LogKind::Error => ("✗ ", t.err()),
            };
            let text = format!("{prefix}{}", l.text);
            Line::styled(truncate(&text, w).into_owned(), style)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// What Enter does on this step, for the footer.
fn confirm_label(m: &Model) -> Option<&'static str> {
    let ran_ok = |c| {
        m.outcome
            .as_ref()
            .is_some_and(|o| o.command == c && o.success)
    };
    let runs_here = matches!(m.step, Step::Up | Step::Bootstrap | Step::Finish);
    Some(match m.step {
        Step::Connecting | Step::Waiting => return None,
        // Read-only runs nothing: no hint that Enter would.
        _ if runs_here && m.setup.read_only => return None,
        Step::Preflight if m.findings.iter().any(blocks) => return None,
        // Nothing to continue with until a backup exists.
        Step::Backup if !m.backup_done() => return None,
        Step::Up if m.running() => return None,
        Step::Up if ran_ok(KongCommand::Up) => "continue",
        Step::Up => "run up",
        Step::Bootstrap if ran_ok(KongCommand::Bootstrap) => "continue",
        Step::Bootstrap => "run bootstrap",
        Step::Finish if m.running() => return None,
        Step::Finish if ran_ok(KongCommand::Finish) => "continue",
        Step::Finish => "finish",
        Step::Done => "leave",
        _ => "continue",
    })
}

fn render_footer(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let toggles = matches!(m.step, Step::Backup | Step::Decommission);
    let cassandra = matches!(m.setup.backup, BackupMethod::Cassandra { .. });
    let lists = matches!(m.step, Step::Preflight | Step::Review | Step::Decommission)
        || (m.step == Step::Backup && cassandra);
    let offers_override = m.step == Step::Finish
        && !m.running()
        && !m.setup.read_only
        && m.gate_override.is_none()
        && !m.node_gate().open;
    let takes_backup = m.step == Step::Backup
        && !m.setup.read_only
        && !m.backup_running()
        && matches!(m.setup.backup, BackupMethod::PgDump { .. });
    let back_steps = matches!(
        m.step,
        Step::Backup | Step::Review | Step::Up | Step::Bootstrap | Step::Finish
    );
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    let mut room = (area.width as usize).saturating_sub(1);
    // The table order is the priority: hints that do not fit are left out, never cut.
    for b in KEYMAP {
        let Some((keys, label)) = b.hint else {
            continue;
        };
        let (keys, label) = match b.action {
            Action::Confirm => match confirm_label(m) {
                Some(l) => (keys, l),
                None => continue,
            },
            Action::Toggle if !toggles => continue,
            Action::Toggle if m.step == Step::Backup && !cassandra => (keys, "own backup"),
            Action::TakeBackup if !takes_backup => continue,
            Action::AddNode if m.step != Step::Decommission => continue,
            Action::Override if !offers_override => continue,
            Action::Down if !lists && m.focus == Focus::Step => continue,
            Action::Back if m.running() => ("Ctrl-C", "stop/leave"),
            Action::Back if !back_steps => (keys, "quit"),
            _ => (keys, label),
        };
        let need = keys.chars().count() + label.chars().count() + 3;
        if need > room {
            continue;
        }
        room -= need;
        spans.push(Span::styled(keys, t.accent()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    f.render_widget(Line::from(spans), area);
}

/// An overlay's text entry: what to type, the line being typed (its tail stays in view), the
/// refusal if any, and the keys.
fn text_entry(
    intro: &str,
    typed: &str,
    error: Option<&str>,
    inner_w: usize,
    t: &Theme,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    push_wrapped(&mut lines, intro, inner_w, Style::new());
    lines.push(Line::raw(""));
    let room = inner_w.saturating_sub(3);
    let n = typed.chars().count();
    let shown: String = typed.chars().skip(n.saturating_sub(room)).collect();
    lines.push(Line::from(vec![
        Span::styled("> ", t.accent()),
        Span::styled(shown, t.bold()),
        Span::styled("_", t.accent()),
    ]));
    if let Some(e) = error {
        push_wrapped(&mut lines, e, inner_w, t.err());
    }
    lines.push(Line::styled("Enter records it, Esc cancels.", t.dim()));
    lines
}

fn popup(area: Rect, w: u16, h: u16) -> Rect {
    area.centered(
        Constraint::Length(w.min(area.width)),
        Constraint::Length(h.min(area.height)),
    )
}

fn render_overlay(m: &Model, ov: &Overlay, f: &mut Frame, area: Rect, t: &Theme) {
    let w = area.width.saturating_sub(4).min(76);
    let inner_w = w.saturating_sub(2) as usize;
    let (title, lines): (String, Vec<Line>) = match ov {
        Overlay::Rollback => {
            let pending = m
                .reading
                .as_ref()
                .is_some_and(|r| r.state.any(MigState::Pending));
            let record = match &m.backup {
                crate::wizard::model::BackupState::Taken(rec) => Some(rec),
                _ => None,
            };
            let restore = match (record, &m.setup.restore_command) {
                (Some(rec), Some(cmd)) => Some(format!("{cmd} {}", rec.file.display())),
                _ => None,
            };
            let mut text = crate::cmd::rollback::guidance(pending, record, restore);
            if let crate::wizard::model::BackupState::Own(reference) = &m.backup {
                text.push_str(&format!("Your own backup, as you recorded it: {reference}\n"));
            }
            let mut lines = Vec::new();
            for l in text.lines() {
                let mut buf = Vec::new();
                push_wrapped(&mut buf, l, inner_w, Style::default());
                lines.extend(buf);
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Esc, q or b closes this.", t.dim()));
            (" Rollback ".into(), lines)
        }
        Overlay::Help => {
            let key_w = KEYMAP
                .iter()
                .map(|b| keys_label(b).chars().count())
                .max()
                .unwrap_or(8);
            let mut lines: Vec<Line> = KEYMAP
                .iter()
                .map(|b| {
                    Line::from(vec![
                        Span::styled(format!("{:<key_w$}  ", keys_label(b)), t.accent()),
                        Span::raw(truncate(b.help, inner_w.saturating_sub(key_w + 2)).into_owned()),
                    ])
                })
                .collect();
            lines.push(Line::raw(""));
            if m.setup.read_only {
                lines.push(Line::styled("Read-only: nothing runs.", t.warn()));
            }
            lines.push(Line::styled("Esc, q or ? closes this help.", t.dim()));
            (" Keys ".into(), lines)
        }
        Overlay::Confirm {
            command,
            command_line,
        } => {
            let mut lines = vec![Line::raw(format!(
                "This runs, against {}:",
                m.setup.database
            ))];
            push_wrapped(
                &mut lines,
                &format!("$ {command_line}"),
                inner_w,
                t.accent(),
            );
            lines.push(Line::raw(""));
            let what = match command {
                KongCommand::Up => "Old nodes keep serving; two-phase migrations stay pending until finish. Make no Admin API changes until then.",
                KongCommand::Bootstrap => "Creates every table of the target version in this empty database.",
                _ => "",
            };
            push_wrapped(&mut lines, what, inner_w, Style::new());
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("Enter/y", t.accent()),
                Span::raw(" run   "),
                Span::styled("Esc/n", t.accent()),
                Span::raw(" cancel"),
            ]));
            (format!(" Run {}? ", command.as_str()), lines)
        }
        Overlay::Typed {
            command_line,
            word,
            typed,
            error,
            ..
        } => {
            let mut lines = vec![Line::raw(format!(
                "This runs, against {}:",
                m.setup.database
            ))];
            push_wrapped(
                &mut lines,
                &format!("$ {command_line}"),
                inner_w,
                t.accent(),
            );
            lines.push(Line::raw(""));
            push_wrapped(
                &mut lines,
                "After it, old-version nodes cannot run against this database, and only the backup rolls back.",
                inner_w,
                t.warn(),
            );
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!("Type '{word}' and press Enter:")));
            lines.push(Line::from(vec![
                Span::styled("> ", t.accent()),
                Span::styled(typed.clone(), t.bold()),
                Span::styled("_", t.accent()),
            ]));
            if let Some(e) = error {
                lines.push(Line::styled(e.clone(), t.err()));
            }
            lines.push(Line::styled("Esc cancels.", t.dim()));
            (" Finish: the point of no return ".into(), lines)
        }
        Overlay::OwnBackup { typed, error } => (
            " Your own backup ".into(),
            text_entry(
                "Where is your backup? A file, a snapshot id, a ticket: whatever finds it again to restore. It goes into the upgrade journal.",
                typed,
                error.as_deref(),
                inner_w,
                t,
            ),
        ),
        Overlay::AddNode { typed, error } => (
            " A node kongrade cannot probe ".into(),
            text_entry(
                "Its name (a host, a container, a pod). It joins the list with its checklist; finish waits until it is ticked out of the load balancer, drained and stopped.",
                typed,
                error.as_deref(),
                inner_w,
                t,
            ),
        ),
        Overlay::Override { typed, error } => {
            let mut intro = String::from(
                "finish breaks every node still on the old version. The gate is closed by:",
            );
            for b in m.node_gate().blockers.iter().take(4) {
                intro.push_str(&format!("\n• {b}"));
            }
            intro.push_str("\nOpen it anyway only if you know better than the evidence. Why? It goes into the journal.");
            (
                " Open the finish gate anyway ".into(),
                text_entry(&intro, typed, error.as_deref(), inner_w, t),
            )
        }
        Overlay::LeaveWhileRunning => {
            let mut lines = Vec::new();
            if let Some(r) = &m.run {
                let ran = m.now.saturating_duration_since(r.started).as_secs_f64();
                push_wrapped(
                    &mut lines,
                    &format!("`{}` has run for {}.", r.command_line, secs(ran)),
                    inner_w,
                    t.bold(),
                );
            }
            push_wrapped(
                &mut lines,
                "Stopping it mid-migration can leave the lock held until it times out and one migration half-applied.",
                inner_w,
                Style::new(),
            );
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("i", t.accent()),
                Span::raw(" interrupt kong (SIGINT) and stay"),
            ]));
            if m.run.as_ref().is_some_and(|r| r.interrupted) {
                lines.push(Line::from(vec![
                    Span::styled("k", t.accent()),
                    Span::raw(" kill kong (SIGKILL)"),
                ]));
            }
            lines.push(Line::from(vec![
                Span::styled("q", t.accent()),
                Span::raw(" leave (interrupts kong first)"),
            ]));
            lines.push(Line::from(vec![
                Span::styled("Esc", t.accent()),
                Span::raw(" keep it running"),
            ]));
            (" kong is running ".into(), lines)
        }
    };
    let h = lines.len() as u16 + 2;
    let rect = popup(area, w, h);
    f.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(t.accent())
        .title(Span::styled(title, t.bold()));
    f.render_widget(Paragraph::new(lines).block(block), rect);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 3), vec![""]);
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
