//! Up and Bootstrap: the command, then how the run went.

use super::*;

pub(super) fn up_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let cmd = if m.step == Step::Up {
        KongCommand::Up
    } else {
        KongCommand::Bootstrap
    };
    if let Some(l) = super::strategy::downtime_line(m, t) {
        out.push(l);
    }
    push_wrapped(out, &format!("$ {}", m.command_line(cmd)), w, t.accent());
    // What the rehearsal measured for this database: how long up should take.
    if let Some(line) = m.rehearsal_line().filter(|_| cmd == KongCommand::Up) {
        push_wrapped(out, &line, w, t.dim());
    }
    out.push(Line::raw(""));
    run_status(m, cmd, w, t, out);
}

pub(super) fn run_status(
    m: &Model,
    cmd: KongCommand,
    w: usize,
    t: &Theme,
    out: &mut Vec<Line<'static>>,
) {
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
            let account = failed_up(m);
            // With the account below, the outcome's first sentence says enough.
            let text = match (&*account, o.text.find(". ")) {
                (Some(_), Some(i)) => &o.text[..=i],
                _ => o.text.as_str(),
            };
            push_wrapped(out, &format!("{mark}{text}"), w, style);
            if let Some(f) = &*account {
                let fix = m
                    .setup
                    .training_fix
                    .as_ref()
                    .map(|(label, _)| (label.as_str(), m.fixed));
                for (tone, text) in crate::wizard::failed::account(f, fix) {
                    use crate::wizard::failed::Tone;
                    let style = match tone {
                        Tone::Plain => Style::new(),
                        Tone::Good => t.ok(),
                        Tone::Warn => t.warn(),
                        Tone::Error => t.err(),
                    };
                    push_wrapped(out, &text, w, style);
                }
            }
        }
        (Some(_), _) => out.push(Line::styled(
            "kong exited; re-reading the database …",
            t.warn(),
        )),
    }
}

/// The failed up's account (`wizard::failed::failed_up`), made again only when the run, its log
/// or the state it is checked against changes.
fn failed_up(m: &Model) -> std::sync::Arc<Option<crate::wizard::failed::FailedUp>> {
    let last = m.log.lines.last().map(|l| l.text.as_str());
    m.memo.failed_up.get(
        |(o, run, len, tail, st, harms)| {
            o.as_ref() == m.outcome.as_ref()
                && *run == m.run.as_ref().map(|r| r.id)
                && *len == m.log.lines.len()
                && tail.as_deref() == last
                && st.as_ref() == m.state()
                && *harms == crate::wizard::failed::rerun_harms(m)
        },
        || {
            (
                (
                    m.outcome.clone(),
                    m.run.as_ref().map(|r| r.id),
                    m.log.lines.len(),
                    last.map(str::to_string),
                    m.state().cloned(),
                    crate::wizard::failed::rerun_harms(m),
                ),
                crate::wizard::failed::failed_up(m),
            )
        },
    )
}
