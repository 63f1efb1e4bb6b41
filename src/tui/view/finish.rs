//! Finish: the command, what blocks it, and the override if one was given.

use super::*;

pub(super) fn finish_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let state = m.state();
    writes_warning(m, w, t, out);
    if let Some(l) = super::strategy::downtime_line(m, t) {
        out.push(l);
    }
    let pending = state.map(|s| s.total(MigState::Pending)).unwrap_or(0);
    push_wrapped(
        out,
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
        run_status(m, KongCommand::Finish, w, t, out);
    } else {
        let blockers = finish_blockers(m);
        let still = m.node_gate().blockers;
        if blockers.is_empty() && m.gate_override.is_some() && !still.is_empty() {
            // Not a tick: finish can run only because the operator opened the gate.
            out.push(Line::styled(
                "! finish can run only because you opened the node gate; still seen:",
                t.warn(),
            ));
            for b in &still {
                push_wrapped(out, &format!("! {b}"), w, t.warn());
            }
            out.push(Line::styled("Enter asks you to type 'finish'.", t.dim()));
        } else if blockers.is_empty() {
            out.push(Line::styled("✓ nothing blocks finish", t.ok()));
            out.push(Line::styled("Enter asks you to type 'finish'.", t.dim()));
        } else {
            out.push(Line::styled("Blocked:", t.err()));
            for b in &blockers {
                push_wrapped(out, &format!("✗ {b}"), w, t.err());
            }
            if m.gate_override.is_none() && !m.node_gate().open && !m.setup.read_only {
                push_wrapped(
                    out,
                    if m.setup.journal_path.is_some() {
                        "o opens the node gate anyway: you say why, and it goes into the journal."
                    } else {
                        "o opens the node gate anyway: you say why (kept in the log)."
                    },
                    w,
                    t.dim(),
                );
            }
        }
        if let Some(reason) = &m.gate_override {
            push_wrapped(
                out,
                &format!("! node gate opened anyway: {reason}"),
                w,
                t.warn(),
            );
        }
    }
}
