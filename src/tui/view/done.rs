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
    if let Some(s) = m.strategy {
        out.push(Line::raw(format!("Strategy: {s}")));
    }
    if let Some(l) = super::strategy::downtime_line(m, t) {
        out.push(l);
    }
    if m.strategy == Some(crate::kong::strategy::Strategy::Rolling) {
        for l in super::strategy::rolling_text(m).lines() {
            push_wrapped(out, l, w, Style::new());
        }
    }
    // The summary: what ran and what the database said of it, how long, where the record is.
    let mins = m.now.saturating_duration_since(m.began).as_secs() / 60;
    let secs = m.now.saturating_duration_since(m.began).as_secs() % 60;
    let n = m.history.len();
    out.push(Line::raw(format!(
        "This session: {mins} min {secs} s, {n} kong run{}:",
        if n == 1 { "" } else { "s" }
    )));
    for r in &m.history {
        let (mark, style) = if r.success {
            ("✓", t.ok())
        } else {
            ("✗", t.err())
        };
        push_hanging(
            out,
            &format!("  {mark} "),
            &format!("{}: {}", r.command_line, r.summary),
            w,
            style,
        );
    }
    for (id, reason) in &m.finding_overrides {
        push_hanging(
            out,
            "  ! ",
            &format!("went past {id} at Preflight: {reason}"),
            w,
            t.warn(),
        );
    }
    if let Some(reason) = &m.gate_override {
        push_hanging(
            out,
            "  ! ",
            &format!("opened the finish gate anyway: {reason}"),
            w,
            t.warn(),
        );
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
    if m.setup.training.is_some() {
        out.push(Line::raw(""));
        out.push(Line::styled(
            "What you did, and what a mistake would have cost:",
            t.bold(),
        ));
        for (step, did, cost) in crate::wizard::text::debrief(m) {
            push_hanging(
                out,
                &format!("{step}: "),
                &format!("{did} {cost}"),
                w,
                Style::new(),
            );
        }
    }
    out.push(Line::styled("Enter or q leaves.", t.dim()));
}
