//! Preflight: the findings, the selected one in full.

use super::*;

pub(super) fn preflight_body(
    m: &Model,
    w: usize,
    h: usize,
    t: &Theme,
    out: &mut Vec<Line<'static>>,
) {
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
    let pending = m.reading.as_ref().is_some_and(|r| r.preflight_pending);
    if pending {
        // Until they arrive, "no findings" would be a lie.
        push_wrapped(
            out,
            "… the preflight is reading kong.conf, the routes, the plugins and the server's login",
            w,
            t.warn(),
        );
    }
    if m.findings.is_empty() {
        if !pending {
            out.push(Line::styled("✓ No findings: nothing unusual.", t.ok()));
        }
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
        // As `kongrade diagnose` prints it: the commands first, then what was seen and why.
        let mut detail = Vec::new();
        for r in &f.remedy {
            push_hanging(&mut detail, "› ", r, w, t.accent());
        }
        push_hanging(&mut detail, "seen: ", &f.seen.join("; "), w, t.dim());
        push_wrapped(&mut detail, &f.why, w, t.dim());
        // What does not fit is marked below the step; v shows the finding in full.
        out.extend(detail);
    }
}
