//! The dual-cluster steps (`wizard::dual`): the clone and its proof, the runs on the clone, the
//! new cluster's probes, the traffic checklist, the retirement; and their questions.

use super::*;

use crate::wizard::dual::{CloneState, Dual, DualAsk, TRAFFIC};

pub(super) fn dual_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let now = m.now;
    let Some(d) = &m.dual else {
        return;
    };
    if let Some(why) = &d.source_changed {
        push_wrapped(out, &format!("✗ {why}"), w, t.err());
        return;
    }
    match m.step {
        Step::Clone => clone_body(d, now, w, t, out),
        Step::CloneReview => {
            push_wrapped(
                out,
                &format!(
                    "On the clone {} (the source stays as it is):",
                    d.setup.clone
                ),
                w,
                t.dim(),
            );
            review::review_body(m, w, h.saturating_sub(out.len()), t, out);
        }
        Step::CloneUp | Step::CloneFinish => {
            let cmd = if m.step == Step::CloneUp {
                KongCommand::Up
            } else {
                KongCommand::Finish
            };
            push_wrapped(out, &format!("$ {}", m.command_line(cmd)), w, t.accent());
            push_wrapped(
                out,
                &format!(
                    "kong gets the clone's connection ({}) in its environment; the source's schema_meta is compared before and after.",
                    d.setup.clone
                ),
                w,
                t.dim(),
            );
            out.push(Line::raw(""));
            let done = if cmd == KongCommand::Up {
                d.up_done
            } else {
                d.finish_done
            };
            let ours = m.run.as_ref().is_some_and(|r| Some(r.id) == d.kong_run);
            if done && !(ours && m.outcome.as_ref().is_some_and(|o| o.command == cmd)) {
                out.push(Line::styled(
                    format!("✓ {} is done on the clone: Enter goes on", cmd.as_str()),
                    t.ok(),
                ));
            } else if ours {
                up::run_status(m, cmd, w, t, out);
            } else {
                up::run_status(m, KongCommand::Bootstrap, w, t, out);
            }
        }
        Step::NewCluster => new_cluster_body(m, d, w, t, out),
        Step::Traffic => traffic_body(d, w, t, out),
        Step::Retire => {
            guard_lines(d, w, t, out);
            push_wrapped(
                out,
                &format!(
                    "Retire the old cluster's nodes, then its database {}. Unfreeze configuration writes only then, on the new cluster ({}).",
                    d.setup.source, d.setup.clone
                ),
                w,
                Style::new(),
            );
            push_wrapped(
                out,
                "Until you do, the rollback is: send all traffic back to the old cluster. Enter checks the write guard, then asks.",
                w,
                t.dim(),
            );
        }
        _ => {}
    }
}

fn clone_body(
    d: &Dual,
    now: std::time::Instant,
    w: usize,
    t: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    push_wrapped(
        out,
        &format!("{}  →  {}", d.setup.source, d.setup.clone),
        w,
        t.accent(),
    );
    match &d.clone {
        CloneState::None | CloneState::Inspected(_) => push_wrapped(
            out,
            &format!(
                "Enter: kongrade creates the clone's database when missing (an existing one must be empty{}), streams pg_dump | pg_restore at one snapshot of the source, then proves the copy.",
                if d.setup.replace {
                    "; --clone-replace: one that holds something is dropped and re-created, its name typed to confirm"
                } else {
                    ""
                }
            ),
            w,
            t.dim(),
        ),
        CloneState::Inspecting => out.push(Line::styled("looking at the clone's place …", t.warn())),
        CloneState::Running => {
            let secs_run = d
                .clone_started
                .map(|s| now.saturating_duration_since(s).as_secs_f64())
                .unwrap_or(0.0);
            out.push(Line::styled(
                format!("streaming pg_dump | pg_restore … {}", secs(secs_run)),
                t.warn(),
            ));
            for l in d.clone_lines.iter().rev().take(3).rev() {
                push_wrapped(out, l, w, t.dim());
            }
        }
        CloneState::Proven(rec) => {
            out.push(Line::styled("✓ the clone is proven:", t.ok()));
            push_wrapped(
                out,
                &format!("schema_meta identical ({} rows)", rec.schema_meta_rows),
                w,
                t.ok(),
            );
            push_wrapped(
                out,
                &format!(
                    "{} tables' rows identical ({} rows) at the snapshot {}",
                    rec.tables.len(),
                    rec.total_rows(),
                    rec.snapshot
                ),
                w,
                t.ok(),
            );
            push_wrapped(
                out,
                &format!("PostgreSQL {} on both servers; taken {}", rec.server_major, rec.created_at),
                w,
                t.dim(),
            );
            if d.stale() {
                guard_lines(d, w, t, out);
            }
        }
        CloneState::Failed(e) => push_wrapped(out, &format!("✗ {e}"), w, t.err()),
    }
}

fn new_cluster_body(m: &Model, d: &Dual, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let target = m
        .setup
        .target
        .map(|v| v.to_string())
        .unwrap_or_else(|| "the target".into());
    push_wrapped(
        out,
        &format!(
            "Start the new cluster (Kong {target}, as many nodes as the old one) on the clone {}; copy certificates, keys and custom templates (not in the database).",
            d.setup.clone
        ),
        w,
        t.dim(),
    );
    let urls = if d.setup.new_admin_urls.is_empty() {
        "(none given: --new-admin-url)".to_string()
    } else {
        d.setup.new_admin_urls.join(", ")
    };
    push_wrapped(out, &format!("Admin APIs: {urls}"), w, Style::new());
    if !d.setup.smoke.is_empty() {
        push_wrapped(
            out,
            &format!("Smoke tests: {}", d.setup.smoke.join("; ")),
            w,
            Style::new(),
        );
    }
    if d.probing {
        out.push(Line::styled("probing …", t.warn()));
    }
    if let Some(r) = &d.report {
        for l in &r.ok {
            push_wrapped(out, &format!("✓ {l}"), w, t.ok());
        }
        for l in &r.problems {
            push_wrapped(out, &format!("✗ {l}"), w, t.err());
        }
        if r.problems.is_empty() {
            out.push(Line::styled("✓ ready for traffic: Enter", t.ok()));
        }
    } else if !d.probing {
        push_wrapped(
            out,
            "Enter probes them and runs the smoke tests.",
            w,
            t.dim(),
        );
    }
}

fn traffic_body(d: &Dual, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    push_wrapped(
        out,
        "Shift with your load balancer, DNS or the Canary plugin; watch errors and latency at each step, then tick it (Space). The write guard is checked before each tick.",
        w,
        t.dim(),
    );
    let next = d.next_traffic();
    for (i, pct) in TRAFFIC.iter().enumerate() {
        let mark = if d.traffic[i] { "[x]" } else { "[ ]" };
        let tail = if *pct == 100 {
            ", then keep watching"
        } else {
            ""
        };
        let style = if Some(i) == next {
            t.accent()
        } else {
            Style::new()
        };
        out.push(Line::styled(
            truncate(&format!("{mark} {pct} % to the new cluster{tail}"), w).into_owned(),
            style,
        ));
    }
    if d.guarding() {
        out.push(Line::styled("checking the write guard …", t.warn()));
    }
    guard_lines(d, w, t, out);
    push_wrapped(
        out,
        "Rollback until the old cluster is retired: send all traffic back to it.",
        w,
        t.dim(),
    );
}

fn guard_lines(d: &Dual, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let Some(g) = &d.guard else {
        return;
    };
    let style = if g.stale.is_empty() { t.ok() } else { t.err() };
    for l in &g.lines {
        push_wrapped(out, l, w, style);
    }
    if !g.stale.is_empty() {
        push_wrapped(
            out,
            "c takes a new clone (send all traffic back to the old cluster first); it is migrated again.",
            w,
            t.warn(),
        );
    }
}

/// A dual-cluster question: its title and lines.
pub(super) fn dual_overlay(
    m: &Model,
    ask: &DualAsk,
    inner_w: usize,
    t: &Theme,
) -> (String, Vec<Line<'static>>, Vec<Line<'static>>) {
    let mut lines = Vec::new();
    // The line being typed and the keys: always in view (the explanation above scrolls).
    let mut tail = Vec::new();
    let Some(d) = &m.dual else {
        return (String::new(), lines, tail);
    };
    match ask {
        DualAsk::Clone {
            replace,
            held,
            typed,
            error,
        } => {
            push_wrapped(
                &mut lines,
                &format!("Clone {} into {}:", d.setup.source, d.setup.clone),
                inner_w,
                Style::new(),
            );
            push_wrapped(
                &mut lines,
                "pg_dump | pg_restore at one snapshot of the source (only read), then the proof: schema_meta and every table's rows identical.",
                inner_w,
                t.dim(),
            );
            let n = held.unwrap_or(0);
            if n > 0 || typed.is_some() {
                push_wrapped(
                    &mut lines,
                    &format!(
                        "! {} {}: it is DROPPED and re-created{}.",
                        d.setup.clone_database,
                        if let Some(crate::contract::clone::PlaceAtStart::Held {
                            tables,
                            rows,
                            ..
                        }) = &d.place
                        {
                            format!("holds {tables} table(s) / {rows} row(s)")
                        } else if n > 0 {
                            format!("holds {n} relation(s)")
                        } else {
                            "is the clone in use".to_string()
                        },
                        if d.setup.replace && *replace {
                            " (--clone-replace)"
                        } else {
                            ""
                        }
                    ),
                    inner_w,
                    t.warn(),
                );
                // The stale clone being replaced is where the new nodes run.
                if d.record().is_some() || d.stale() {
                    push_wrapped(
                        &mut lines,
                        "Send all traffic back to the old cluster and stop the new nodes first: they run on this database.",
                        inner_w,
                        t.warn(),
                    );
                }
            }
            if let Some(typed) = typed {
                tail.push(Line::raw(format!(
                    "Type '{}' and press Enter:",
                    d.setup.clone_database
                )));
                tail.push(Line::from(vec![
                    Span::styled("> ", t.accent()),
                    Span::styled(typed.clone(), t.bold()),
                    Span::styled("_", t.accent()),
                ]));
                if let Some(e) = error {
                    tail.push(Line::styled(e.clone(), t.err()));
                }
                tail.push(Line::styled("Esc cancels.", t.dim()));
            } else {
                lines.push(Line::raw(""));
                tail.extend(super::overlays::keys_line(m, t));
            }
            (" Take the clone? ".into(), lines, tail)
        }
        DualAsk::Run {
            command,
            command_line,
        } => {
            lines.push(Line::raw(format!(
                "This runs, against the clone {}:",
                d.setup.clone
            )));
            push_wrapped(
                &mut lines,
                &format!("$ {command_line}"),
                inner_w,
                t.accent(),
            );
            lines.push(Line::raw(""));
            push_wrapped(
                &mut lines,
                &format!(
                    "The clone's connection is in kong's environment, not in argv. The source {} is not touched: its schema_meta is compared before and after.",
                    d.setup.source
                ),
                inner_w,
                Style::new(),
            );
            lines.push(Line::raw(""));
            tail.extend(super::overlays::keys_line(m, t));
            (
                format!(" Run {} on the clone? ", command.as_str()),
                lines,
                tail,
            )
        }
        DualAsk::Retire { typed, error } => {
            push_wrapped(
                &mut lines,
                &format!(
                    "Retire the old cluster and, after it, its database {}. After this, the rollback is no longer 'send traffic back': it is rebuilding from the backup.",
                    d.setup.source
                ),
                inner_w,
                t.warn(),
            );
            tail.push(Line::raw(format!(
                "Type '{}' and press Enter:",
                crate::wizard::dual::RETIRE_WORD
            )));
            tail.push(Line::from(vec![
                Span::styled("> ", t.accent()),
                Span::styled(typed.clone(), t.bold()),
                Span::styled("_", t.accent()),
            ]));
            if let Some(e) = error {
                tail.push(Line::styled(e.clone(), t.err()));
            }
            tail.push(Line::styled("Esc cancels.", t.dim()));
            (" Retire the old cluster? ".into(), lines, tail)
        }
    }
}
