//! Dialogs drawn over the screen: help, rollback, confirmations, text entries.

use super::*;

/// An overlay's text entry: what to type, the line being typed (its tail stays in view), the
/// refusal if any, and the keys.
pub(super) fn text_entry(
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

pub(super) fn popup(area: Rect, w: u16, h: u16) -> Rect {
    area.centered(
        Constraint::Length(w.min(area.width)),
        Constraint::Length(h.min(area.height)),
    )
}

pub(super) fn render_overlay(m: &Model, ov: &Overlay, f: &mut Frame, area: Rect, t: &Theme) {
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
