//! Dialogs drawn over the screen: help, rollback, confirmations, text entries.

use super::*;

/// The overlay's keys from the key table, on one line.
pub(super) fn keys_line(m: &Model, t: &Theme) -> Vec<Line<'static>> {
    let mut spans = Vec::new();
    for h in available(m).iter().filter(|h| h.footer && h.enabled()) {
        spans.push(Span::styled(h.keys_text, t.accent()));
        spans.push(Span::raw(format!(" {}   ", h.label)));
    }
    vec![Line::from(spans)]
}

/// A blank line, then the keys: the tail of a question.
fn keys_tail(m: &Model, t: &Theme) -> Vec<Line<'static>> {
    let mut v = vec![Line::raw("")];
    v.extend(keys_line(m, t));
    v
}

/// Where what the operator types is kept: the journal, or (demo, read-only) only the log.
fn recorded_where(m: &Model) -> &'static str {
    if m.setup.journal_path.is_some() {
        "It goes into the upgrade journal."
    } else if m.setup.training.is_some() {
        "Training keeps no journal: it goes into the log."
    } else {
        "It goes into the log."
    }
}

/// An overlay's text entry: what to type (the part that scrolls), then the line being typed
/// (its tail stays in view), the refusal if any, and the keys (the part always shown).
pub(super) fn text_entry(
    intro: &str,
    typed: &str,
    error: Option<&str>,
    inner_w: usize,
    t: &Theme,
) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let mut body = Vec::new();
    push_wrapped(&mut body, intro, inner_w, Style::new());
    let mut lines = vec![Line::raw("")];
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
    (body, lines)
}

pub(super) fn popup(area: Rect, w: u16, h: u16) -> Rect {
    area.centered(
        Constraint::Length(w.min(area.width)),
        Constraint::Length(h.min(area.height)),
    )
}

/// Lines of an overlay from `scroll`, with a marker for what is above and below, to fit `room`
/// rows; and the furthest it scrolls (what the model bounds its scroll by).
fn scroll_window(
    mut lines: Vec<Line<'static>>,
    scroll: usize,
    room: usize,
    arrows_only: bool,
    t: &Theme,
) -> (Vec<Line<'static>>, usize) {
    let (up, down) = if arrows_only {
        ("↑", "↓")
    } else {
        ("↑/k", "↓/j")
    };
    if lines.len() <= room || room < 3 {
        return (lines, 0);
    }
    // At the end both markers take a row: "▲ above" and "(end)".
    let max = lines.len() - (room - 2);
    let start = scroll.min(max);
    let more_above = start > 0;
    let body = room - 1 - usize::from(more_above);
    let end = (start + body).min(lines.len());
    let below = lines.len() - end;
    let mut out: Vec<Line<'static>> = Vec::with_capacity(room);
    if more_above {
        out.push(Line::styled(
            format!("▲ {start} more above ({up})"),
            t.accent(),
        ));
    }
    out.extend(lines.drain(start..end));
    if below > 0 {
        out.push(Line::styled(
            format!("▼ {below} more below ({down})"),
            t.accent(),
        ));
    } else {
        out.push(Line::styled("(end)", t.dim()));
    }
    (out, max)
}

/// Each hint as a help line: keys, what they do, and why not now when they do nothing.
fn help_lines(hints: &[Hint], inner_w: usize, t: &Theme) -> Vec<Line<'static>> {
    let key_w = hints
        .iter()
        .map(|h| h.keys_text.chars().count())
        .max()
        .unwrap_or(8);
    let mut lines = Vec::new();
    for h in hints {
        let mut text = h.help.to_string();
        if let Some((_, why)) = &h.refused {
            text.push_str(&format!(" (not now: {why})"));
        }
        let style = if h.enabled() { Style::new() } else { t.dim() };
        let pad = " ".repeat(key_w + 2);
        for (i, l) in wrap(&text, inner_w.saturating_sub(key_w + 2))
            .into_iter()
            .enumerate()
        {
            let head = if i == 0 {
                Span::styled(format!("{:<key_w$}  ", h.keys_text), t.accent())
            } else {
                Span::raw(pad.clone())
            };
            lines.push(Line::from(vec![head, Span::styled(l, style)]));
        }
    }
    lines
}

/// The policy's rollback from here, with what only the wizard knows: its own running kong and
/// the backup it took (the training cluster keeps no journal).
pub(super) fn rollback_text(m: &Model) -> String {
    use crate::kong::policy::{BackupRef, Rollback};
    // Dual-cluster: from the clone on, the old cluster and its database are the way back.
    if let Some(d) = m
        .dual
        .as_ref()
        .filter(|d| d.record().is_some() || d.retired)
    {
        return d.rollback_text();
    }
    let mut rb = match &m.reading {
        Some(r) => r.rollback.clone(),
        None => Rollback::NothingToUndo,
    };
    if let Some(run) = m.run.as_ref().filter(|r| r.active()) {
        if run.command == crate::contract::KongCommand::Finish {
            // Teardowns are running: whatever ends it, old nodes may be broken.
            rb = Rollback::RestoreBackup {
                backup: None,
                ran_here: true,
            };
        } else if matches!(rb, Rollback::NothingToUndo | Rollback::StopNewNodes) {
            rb = Rollback::WaitThenStopNewNodes;
        }
    }
    if let Rollback::RestoreBackup { backup, .. } | Rollback::InPlaceRestore { backup } = &mut rb {
        if let crate::wizard::model::BackupState::Taken(rec) = &m.backup {
            if backup.is_none() {
                *backup = Some(BackupRef {
                    file: rec.file.display().to_string(),
                    sha256: rec.sha256.clone(),
                    created_at: rec.created_at.clone(),
                    restore: None,
                    verified: true,
                });
            }
        }
        if let (Some(b), Some(cmd)) = (backup.as_mut(), &m.setup.restore_command) {
            b.restore = Some(format!("{cmd} {}", b.file));
        }
    }
    let mut text = rb.guidance();
    if let crate::wizard::model::BackupState::Own(reference) = &m.backup {
        text.push_str(&format!(
            "Your own backup, as you recorded it: {reference}\n"
        ));
    }
    text
}

/// A text entry's overlay: its title, the intro that scrolls, the entry line always shown.
fn entry(
    title: &str,
    (body, tail): (Vec<Line<'static>>, Vec<Line<'static>>),
) -> (String, Vec<Line<'static>>, Vec<Line<'static>>) {
    (title.into(), body, tail)
}

/// Draws the overlay; returns the furthest it scrolls at this size.
pub(super) fn render_overlay(
    m: &Model,
    ov: &Overlay,
    f: &mut Frame,
    area: Rect,
    t: &Theme,
) -> usize {
    let w = area.width.saturating_sub(4).min(76);
    let inner_w = w.saturating_sub(2) as usize;
    let room = area.height.saturating_sub(4) as usize;
    // Every overlay: a body that scrolls when it is taller than the screen (with a marker), then
    // a tail always in view (the keys, the line being typed).
    let no_tail = Vec::new;
    let (title, lines, tail): (String, Vec<Line>, Vec<Line>) = match ov {
        Overlay::Dual(ask) => {
            let (title, lines, tail) = super::dual::dual_overlay(m, ask, inner_w, t);
            (title, lines, tail)
        }
        Overlay::Rollback => {
            let text = rollback_text(m);
            let mut lines = Vec::new();
            for l in text.lines() {
                push_wrapped(&mut lines, l, inner_w, Style::default());
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Esc, q or b closes this.", t.dim()));
            (" Rollback ".into(), lines, no_tail())
        }
        Overlay::Help => {
            let (what, wrong) = m.flow().help(m.step);
            let mut lines = Vec::new();
            push_wrapped(&mut lines, what, inner_w, Style::new());
            push_hanging(&mut lines, "Can go wrong: ", wrong, inner_w, t.warn());
            lines.push(Line::raw(""));
            lines.push(Line::styled(format!("Keys on {}:", m.step.title()), t.bold()));
            lines.extend(help_lines(&step_keys(m), inner_w, t));
            lines.push(Line::raw(""));
            if m.setup.read_only {
                lines.push(Line::styled("Read-only: nothing runs.", t.warn()));
            }
            if m.setup.training.is_some() {
                lines.push(Line::styled(
                    "Training cluster: nothing real runs; no journal is kept.",
                    t.warn(),
                ));
            }
            lines.push(Line::styled("Esc, q or ? closes this help.", t.dim()));
            (format!(" Help: {} ", m.step.title()), lines, no_tail())
        }
        Overlay::StepInFull => {
            let mut lines = step_body(m, inner_w, usize::MAX / 4, t);
            lines.push(Line::raw(""));
            lines.push(Line::styled("Esc, q or v closes this.", t.dim()));
            (format!(" {} in full ", m.step.title()), lines, no_tail())
        }
        Overlay::Detail { title, text } => {
            let mut lines = Vec::new();
            for l in text.lines() {
                push_wrapped(&mut lines, l, inner_w, Style::new());
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Esc, q or v closes this.", t.dim()));
            (
                format!(" {} ", truncate(title, inner_w.saturating_sub(2))),
                lines,
                no_tail(),
            )
        }
        Overlay::Scenarios => {
            let mut lines = Vec::new();
            for (i, (name, title)) in m.setup.scenarios.iter().enumerate() {
                let this = m.setup.scenario.as_deref() == Some(name.as_str());
                let lead = format!("{}  ", i + 1);
                let text = if this {
                    format!("{name}: {title} (this one: starts over)")
                } else {
                    format!("{name}: {title}")
                };
                push_hanging(
                    &mut lines,
                    &lead,
                    &text,
                    inner_w,
                    if this { t.bold() } else { Style::new() },
                );
            }
            lines.push(Line::raw(""));
            push_wrapped(
                &mut lines,
                "A scenario starts afresh: its own training cluster, nothing of this one kept.",
                inner_w,
                t.dim(),
            );
            (
                " Scenarios (training) ".into(),
                lines,
                keys_line(m, t),
            )
        }
        Overlay::Checkpoint { which, chosen } => {
            let q = crate::wizard::text::checkpoint(*which);
            let mut lines = Vec::new();
            push_wrapped(&mut lines, q.question, inner_w, t.bold());
            lines.push(Line::raw(""));
            for (i, (answer, _)) in q.choices.iter().enumerate() {
                let (mark, style) = match chosen {
                    Some(c) if *c == i && i == q.right => ("✓ ", t.ok()),
                    Some(c) if *c == i => ("✗ ", t.err()),
                    _ => ("  ", Style::new()),
                };
                push_hanging(
                    &mut lines,
                    &format!("{mark}{}  ", i + 1),
                    answer,
                    inner_w,
                    style,
                );
            }
            if let Some((_, why)) = chosen.and_then(|c| q.choices.get(c)) {
                lines.push(Line::raw(""));
                let style = if *chosen == Some(q.right) {
                    t.ok()
                } else {
                    t.warn()
                };
                push_wrapped(&mut lines, why, inner_w, style);
            }
            (
                " Checkpoint (training) ".into(),
                lines,
                keys_tail(m, t),
            )
        }
        Overlay::ConfirmStrategy { strategy } => {
            let c = m.strategy_choice();
            let mut lines = Vec::new();
            let rec = if *strategy == c.recommended {
                "Kong's recommendation here.".to_string()
            } else {
                format!("Kong recommends {} here.", c.recommended)
            };
            push_wrapped(&mut lines, &format!("{}: {}", strategy, strategy.summary()), inner_w, t.bold());
            push_wrapped(&mut lines, &rec, inner_w, Style::new());
            if let Some(o) = c.offer(*strategy) {
                for cav in &o.caveats {
                    push_hanging(&mut lines, "caution: ", cav, inner_w, t.warn());
                }
            }
            lines.push(Line::raw(""));
            push_wrapped(
                &mut lines,
                if m.setup.journal_path.is_some() {
                    "The choice goes into the upgrade journal; a resumed wizard follows it."
                } else {
                    "The wizard follows it from here."
                },
                inner_w,
                t.dim(),
            );
            (format!(" Follow {strategy}? "), lines, keys_tail(m, t))
        }
        Overlay::Leave => {
            let mut lines = Vec::new();
            let what = if m.setup.training.is_some() {
                "This training session is lost: the training cluster lives only while kongrade runs."
                    .to_string()
            } else if m.setup.journal_path.is_some() {
                format!(
                    "The upgrade stands at {}. The journal remembers it: start kongrade again to go on.",
                    m.step.title()
                )
            } else {
                format!("The upgrade stands at {}.", m.step.title())
            };
            push_wrapped(&mut lines, &what, inner_w, Style::new());
            (
                " Leave kongrade? ".into(),
                lines,
                keys_tail(m, t),
            )
        }
        Overlay::ConfirmKill => {
            let mut lines = Vec::new();
            push_wrapped(
                &mut lines,
                "SIGKILL stops kong where it stands: the migrations lock stays until its timeout, and the migration it was running may be half-applied.",
                inner_w,
                t.warn(),
            );
            (" Kill kong? ".into(), lines, keys_tail(m, t))
        }
        Overlay::RemoveNode { name, .. } => {
            let mut lines = Vec::new();
            push_wrapped(
                &mut lines,
                &format!("{name} leaves the list, with its ticks. Finish no longer waits for it."),
                inner_w,
                Style::new(),
            );
            (" Remove the node? ".into(), lines, keys_tail(m, t))
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
                KongCommand::Up if !m.finding_overrides.is_empty() => {
                    let titles: Vec<String> = m
                        .findings
                        .iter()
                        .filter(|f| m.finding_overrides.contains_key(f.id.as_str()))
                        .map(|f| f.title.clone())
                        .collect();
                    push_wrapped(
                        &mut lines,
                        &format!(
                            "! You went past: {} (your reason is recorded).",
                            if titles.is_empty() {
                                m.finding_overrides.keys().cloned().collect::<Vec<_>>().join(", ")
                            } else {
                                titles.join("; ")
                            }
                        ),
                        inner_w,
                        t.warn(),
                    );
                    "Kong does not promise this path: old nodes may not keep serving once up changes the schema, and the backup is the way back. Make no Admin API changes until finish."
                }
                KongCommand::Up if m.flow().stops_old_nodes_before_up() => "In-place: no old node answers; the proxy is down until the new nodes serve. finish follows right after up, then the new nodes start. Writes stay frozen.",
                KongCommand::Up => {
                    // Blue-green: Kong's cautions for a shared database, said before up runs.
                    if let Some(o) = m.strategy_choice().offer(crate::kong::strategy::Strategy::BlueGreen) {
                        for cav in &o.caveats {
                            push_hanging(&mut lines, "caution: ", cav, inner_w, t.warn());
                        }
                    }
                    "Old nodes keep serving; two-phase migrations stay pending until finish. Make no Admin API changes until then."
                }
                KongCommand::Bootstrap => "Creates every table of the target version in this empty database.",
                _ => "",
            };
            push_wrapped(&mut lines, what, inner_w, Style::new());
            (
                format!(" Run {}? ", command.as_str()),
                lines,
                keys_tail(m, t),
            )
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
            let mut tail = vec![Line::raw("")];
            tail.push(Line::raw(format!("Type '{word}' and press Enter:")));
            tail.push(Line::from(vec![
                Span::styled("> ", t.accent()),
                Span::styled(typed.clone(), t.bold()),
                Span::styled("_", t.accent()),
            ]));
            if let Some(e) = error {
                push_wrapped(&mut tail, e, inner_w, t.err());
            }
            tail.push(Line::styled("Esc cancels.", t.dim()));
            (
                " Finish: the point of no return ".into(),
                lines,
                tail,
            )
        }
        Overlay::OwnBackup { typed, error } => entry(
            " Your own backup ",
            text_entry(
                &format!(
                    "Where is your backup? A file, a snapshot id, a ticket: whatever finds it again to restore. {}",
                    recorded_where(m)
                ),
                typed,
                error.as_deref(),
                inner_w,
                t,
            ),
        ),
        Overlay::AddNode { typed, error } => entry(
            " A node kongrade cannot probe ",
            text_entry(
                "Its name (a host, a container, a pod). It joins the list with its checklist; finish waits until it is ticked out of the load balancer, drained and stopped.",
                typed,
                error.as_deref(),
                inner_w,
                t,
            ),
        ),
        Overlay::Override {
            target,
            typed,
            error,
        } => {
            let (title, mut intro) = match target {
                OverrideTarget::Finding { title, .. } => (
                    " Go past an error anyway ",
                    format!(
                        "{title}.\nThe wizard stops here because Kong does not promise this works. Go on only if you know better than the finding; the backup is your way back."
                    ),
                ),
                OverrideTarget::FinishGate => {
                    let mut intro = String::from(
                        "finish breaks every old traditional node and old control plane still running. The gate is closed by:",
                    );
                    for b in m.node_gate().blockers.iter().take(4) {
                        intro.push_str(&format!("\n• {b}"));
                    }
                    intro.push_str("\nOpen it anyway only if you know better than the evidence.");
                    (" Open the finish gate anyway ", intro)
                }
            };
            intro.push_str(&format!(" Why? {}", recorded_where(m)));
            entry(
                title,
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
            let mut tail = vec![Line::raw("")];
            for h in available(m).iter().filter(|h| h.footer && h.enabled()) {
                tail.push(Line::from(vec![
                    Span::styled(h.keys_text, t.accent()),
                    Span::raw(format!(" {}", h.help)),
                ]));
            }
            (" kong is running ".into(), lines, tail)
        }
    };
    // The notice is drawn inside the overlay, above its keys: the step's notice line is under
    // the overlay, and what a key in the overlay did (or why it did nothing) must be readable.
    let mut tail = tail;
    if let Some(n) = &m.notice {
        let (mark, style) = match n.level {
            NoticeLevel::Info => ("", t.accent()),
            NoticeLevel::Warn => ("! ", t.warn()),
            NoticeLevel::Block => ("✗ ", t.err()),
        };
        let mut notice = Vec::new();
        push_wrapped(&mut notice, &format!("{mark}{}", n.text), inner_w, style);
        notice.truncate(3);
        if tail.first().is_some_and(|l| l.width() == 0) {
            tail.remove(0);
        }
        let mut with = vec![Line::raw("")];
        with.extend(notice);
        with.append(&mut tail);
        tail = with;
    }
    let arrows_only = matches!(
        ov,
        Overlay::OwnBackup { .. }
            | Overlay::AddNode { .. }
            | Overlay::Override { .. }
            | Overlay::Typed { .. }
            | Overlay::Dual(_)
    );
    let body_room = room.saturating_sub(tail.len()).max(3);
    let (mut lines, end) = scroll_window(lines, m.overlay_scroll, body_room, arrows_only, t);
    lines.extend(tail);
    let h = lines.len() as u16 + 2;
    let rect = popup(area, w, h);
    f.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(t.accent())
        .title(Span::styled(title, t.bold()));
    f.render_widget(Paragraph::new(lines).block(block), rect);
    end
}

#[cfg(test)]
mod tests {
    use crate::tui::view::render_measured;
    use crate::wizard::keys::{Key, KeyCode};
    use crate::wizard::testkit::H;

    /// The row "▲ N more above" says, or 0 at the top.
    fn above(screen: &str) -> usize {
        screen
            .lines()
            .find_map(|l| {
                let (_, rest) = l.split_once("▲ ")?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0)
    }

    /// Held past the end, Down stops where the text ends: the first Up moves it back at once
    /// (it kept counting, and Up did nothing for as many presses). Every overlay scrolls so.
    #[test]
    fn up_moves_an_overlay_at_once_after_scrolling_past_its_end() {
        let mut h = H::scenario("clean");
        h.read();
        // Help at Preflight: every overlay scrolls by the same rule (questions and entries too).
        h.key(Key::ch('?'));
        // As the runtime does: each frame says how far the overlay scrolls.
        let frame = |h: &mut H| {
            let (screen, drawn) = render_measured(&h.m, 60, 16);
            h.m.overlay_end = drawn.overlay_end;
            screen
        };
        frame(&mut h);
        let end = h.m.overlay_end.expect("an overlay is drawn");
        assert!(end >= 2, "the help must be taller than 60x16 shows: {end}");
        for _ in 0..end + 30 {
            h.key(Key::plain(KeyCode::Down));
            frame(&mut h);
        }
        assert_eq!(h.m.overlay_scroll, end, "no further than the end");
        assert_eq!(above(&frame(&mut h)), end);
        h.key(Key::plain(KeyCode::Up));
        assert_eq!(above(&frame(&mut h)), end - 1, "Up moves at once");
        h.esc();
        assert!(h.m.overlay.is_none());
    }
}
