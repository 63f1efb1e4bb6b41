//! The live database pane and the log pane.

use super::*;

pub(super) fn render_live(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(
            // Dual-cluster: from the clone on, the pane reads the clone, and says so.
            if m.dual.as_ref().is_some_and(|d| d.watching) {
                " Clone (live) "
            } else {
                " Database (live) "
            },
            t.bold(),
        ));
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
        (Some(age), false) => {
            let read = format!("read {} ago", secs(age.as_secs_f64()));
            let every = format!(" / {every}");
            let mut spans = vec![Span::styled("● ", t.ok()), Span::raw(read.clone())];
            // The refresh interval is the first thing to go on a narrow pane.
            if 2 + read.chars().count() + every.chars().count() <= w {
                spans.push(Span::styled(every, t.dim()));
            }
            out.push(Line::from(spans))
        }
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
        // Live at the last read, expired by the model's clock since: said as the step says it,
        // not "HELD, 0.0 s left".
        Some(l) if l.live && m.lock_seconds_left().is_some_and(|s| s <= 0.0) => {
            out.push(Line::styled(
                truncate("lock: expired (re-reading)", w).into_owned(),
                t.dim(),
            ))
        }
        Some(l) if l.live => {
            let left = m
                .lock_seconds_left()
                .map(|s| format!(", {} left", secs(s)))
                .unwrap_or_default();
            let owner = l.owner.clone().unwrap_or_else(|| "?".into());
            out.push(Line::styled(format!("lock: HELD{left}"), t.warn()));
            let by = match m.own_lock_run() {
                Some(_) => "  left by your stopped run".to_string(),
                None => format!("  by {owner}"),
            };
            out.push(Line::styled(truncate(&by, w).into_owned(), t.dim()));
        }
        // As diagnose says (lock-no-ttl): Kong never removes it, so every run aborts.
        Some(l) if l.without_ttl(state.db) => out.push(Line::styled(
            truncate("lock: row without ttl (blocks every run; see findings)", w).into_owned(),
            t.warn(),
        )),
        // As diagnose says (lock-stale, Info): it blocks nothing and Kong deletes it itself.
        Some(_) => out.push(Line::styled(
            truncate("lock: expired row (blocks nothing; Kong deletes it)", w).into_owned(),
            t.dim(),
        )),
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
    let (e, p, n) = (
        state.total(MigState::Executed),
        state.total(MigState::Pending),
        state.total(MigState::New),
    );
    let mut totals = format!("{e} exec · {p} pend · {n} new");
    if totals.chars().count() > w {
        totals = format!("{e} exec {p} pend {n} new");
    }
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
    // Columns: name, executed/target, pending, new, skipped (gaps). A narrow pane drops the
    // gaps column while there are none (the totals turn red when there are), and the header
    // is cut to the columns' widths, so every value stands under its header.
    let show_gaps = !state.gaps.is_empty() || w >= 30;
    let numbers_w = if show_gaps { 18 } else { 15 };
    let name_w = w.saturating_sub(numbers_w).max(4);
    let name_head = if name_w >= 9 { "subsystem" } else { "name" };
    let row_text = |name: &str, done: &str, p: &str, n: &str, g: &str| {
        let mut s = format!(
            "{:<name_w$} {:>6} {:>3} {:>3}",
            truncate(name, name_w),
            done,
            p,
            n
        );
        if show_gaps {
            s.push_str(&format!(" {g:>2}"));
        }
        s
    };
    out.push(Line::styled(
        row_text(name_head, "done", "P", "N", "G"),
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
            row_text(
                &s.name,
                &format!("{ex}/{}", s.migrations.len()),
                &p.to_string(),
                &n.to_string(),
                &gaps_in(&s.name).to_string(),
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

pub(super) fn render_log(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
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
