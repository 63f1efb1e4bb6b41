//! Done: where the database stands and what this session did.

use super::*;

pub(super) fn done_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let state = m.state();
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
        push_wrapped(out, &format!("  {r}"), w, t.dim());
    }
    match &m.setup.journal_path {
        Some(p) => push_wrapped(out, &format!("Journal: {p}"), w, t.dim()),
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
            out,
            "finish ran: old-version nodes can no longer run against this database.",
            w,
            Style::new(),
        );
    }
    out.push(Line::styled("Enter or q leaves.", t.dim()));
}
