//! In-place's last step on screen: the new nodes (`--new-admin-url`) and what each answers, the
//! smoke tests, the downtime clock, and the way back (the verified backup's restore).

use super::*;

use crate::wizard::model::SmokeState;

pub(super) fn start_new_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    if let Some(l) = super::strategy::downtime_line(m, t) {
        out.push(l);
    }
    push_wrapped(
        out,
        &format!(
            "Start the new nodes (Kong {}) on this database. Each --new-admin-url is probed: GET / must answer the target version.",
            m.setup.target.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
        ),
        w,
        Style::new(),
    );
    out.push(Line::raw(""));
    let nodes = m.new_nodes();
    if nodes.is_empty() {
        // auto's words: the old nodes' --admin-url never proves the new ones.
        push_wrapped(
            out,
            &format!(
                "{} Enter confirms it (journaled).",
                crate::kong::in_place::NO_NEW_NODES
            ),
            w,
            t.dim(),
        );
    }
    for (name, ok, label) in nodes {
        let (mark, style) = if ok {
            ("✓ ", t.ok())
        } else {
            ("· ", t.dim())
        };
        push_hanging(out, &format!("{mark}{name}  "), &label, w, style);
    }
    if let Err(why) = m.new_nodes_proven() {
        out.push(Line::raw(""));
        push_wrapped(out, &why, w, t.warn());
    }
    if !m.setup.in_place.smoke.is_empty() {
        out.push(Line::raw(""));
        match &m.smoke {
            SmokeState::NotRun => {
                for s in &m.setup.in_place.smoke {
                    push_hanging(out, "· smoke ", s, w, t.dim());
                }
            }
            SmokeState::Running => push_wrapped(out, "Smoke tests running...", w, t.dim()),
            SmokeState::Passed(lines) => {
                for l in lines {
                    push_hanging(out, "✓ ", l, w, t.ok());
                }
            }
            SmokeState::Failed(lines) => {
                for l in lines {
                    push_hanging(out, "✗ SMOKE FAILED: ", l, w, t.warn());
                }
                out.push(Line::raw(""));
                push_wrapped(
                    out,
                    "Send the new nodes no traffic: fix them, then Enter runs the smoke tests again. The proxy stays down meanwhile. Or roll back:",
                    w,
                    t.warn(),
                );
                // The rollback as auto prints it (the policy's words, the backup's exact restore).
                for l in super::overlays::rollback_text(m).lines() {
                    push_wrapped(out, l, w, Style::new());
                }
                return;
            }
        }
    }
    out.push(Line::raw(""));
    // In-place's way back after up: the verified backup, restored, with its exact command.
    let file = match &m.backup {
        crate::wizard::model::BackupState::Taken(rec) => rec.file.display().to_string(),
        crate::wizard::model::BackupState::Own(r) => format!("(your backup: {r})"),
        _ => "FILE".into(),
    };
    let how = match &m.setup.restore_command {
        Some(c) => format!("$ {c} {file}"),
        None => format!("restore {file}"),
    };
    push_wrapped(
        out,
        "If they do not come up, the way back is the backup, restored (b shows the rollback):",
        w,
        t.dim(),
    );
    push_wrapped(out, &how, w, t.dim());
}
