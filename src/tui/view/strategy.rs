//! The Strategy step (Kong's recommendation, the allowed strategies with their cautions, the
//! refused ones with why, the questions), and in-place's own steps: Freeze, Start new nodes, and
//! the downtime clock. Everything comes from the model (`kong::strategy::choose` on what it
//! knows): no rule is written here.

use super::*;

use crate::kong::strategy::{self, Strategy};

pub(super) fn strategy_body(
    m: &Model,
    w: usize,
    h: usize,
    t: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    let c = m.strategy_choice();
    let (_, from) = m.deployment();
    push_wrapped(
        out,
        &format!(
            "{}; {} (deployment: {from})",
            c.deployment.describe(),
            c.jump.describe()
        ),
        w,
        t.dim(),
    );
    if let Some(s) = m.strategy {
        push_wrapped(out, &format!("✓ Chosen: {s} (in the journal)"), w, t.ok());
    }
    if let Some(q) = m.strategy_question() {
        out.push(Line::raw(""));
        push_wrapped(out, q.text(), w, t.bold());
        for (i, a) in q.choices().iter().enumerate() {
            push_hanging(out, &format!("  {}  ", i + 1), a, w, Style::new());
        }
        push_wrapped(
            out,
            "Press its number: the answer decides what Kong's guide recommends.",
            w,
            t.dim(),
        );
        return;
    }
    // One line per strategy first, so the whole choice fits; the selected one's reason and
    // cautions follow, then Kong's reason for its recommendation.
    let rows = m.strategy_rows();
    for (i, (s, allowed)) in rows.iter().enumerate() {
        let sel = i == m.cursor;
        let tag = if *s == c.recommended {
            "  Kong's recommendation"
        } else {
            ""
        };
        let text = format!(
            "{}{} {:<13}{tag}",
            if sel { "▸ " } else { "  " },
            if *allowed { "allowed" } else { "refused" },
            s.as_str()
        );
        let style = match (allowed, sel) {
            (true, true) => t.bold(),
            (true, false) => Style::new(),
            (false, _) => t.dim(),
        };
        out.push(Line::styled(truncate(&text, w).into_owned(), style));
    }
    out.push(Line::raw(""));
    if let Some((s, _)) = rows.get(m.cursor) {
        match c.check(*s) {
            Ok(o) => {
                push_hanging(out, &format!("{s}: "), &o.why, w, Style::new());
                for cav in &o.caveats {
                    push_hanging(out, "caution: ", cav, w, t.warn());
                }
            }
            Err(r) => push_hanging(out, &format!("{s} refused: "), &r.why, w, t.warn()),
        }
    }
    push_hanging(
        out,
        "Kong recommends ",
        &format!("{}: {}", c.recommended, c.reason),
        w,
        t.accent(),
    );
    if let Some(then) = &c.then {
        push_hanging(out, "Then: ", then, w, t.dim());
    }
    for u in &c.unknowns {
        push_hanging(out, "? ", u, w, t.dim());
    }
    // Rolling: nothing to migrate here; the order to replace the nodes is all there is.
    if c.recommended == Strategy::Rolling
        || rows.get(m.cursor).is_some_and(|r| r.0 == Strategy::Rolling)
    {
        out.push(Line::raw(""));
        for l in rolling_text(m).lines() {
            push_wrapped(out, l, w, Style::new());
        }
    }
    let _ = h;
}

/// What `plan --strategy rolling` prints: the rules, then the data planes in order; made again
/// only when the data planes or the target change.
pub(super) fn rolling_text(m: &Model) -> std::sync::Arc<String> {
    let rows = m
        .reading
        .as_ref()
        .map(|r| r.data_planes.as_slice())
        .unwrap_or(&[]);
    m.memo.rolling.get(
        |(r, target)| r.as_slice() == rows && *target == m.setup.target,
        || {
            let text = strategy::render_rolling(
                &strategy::rolling_order(rows, m.setup.target),
                m.setup.target,
            );
            ((rows.to_vec(), m.setup.target), text)
        },
    )
}

pub(super) fn freeze_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    push_wrapped(
        out,
        "Freeze configuration writes now, until the upgrade is complete: no Admin API writes, no Kong Manager, decK or `kong config` changes, no direct database edits (Kong's guide).",
        w,
        Style::new(),
    );
    out.push(Line::raw(""));
    push_wrapped(
        out,
        "In-place's way back after up is the backup's restore: whatever is written after it is lost.",
        w,
        t.warn(),
    );
    out.push(Line::raw(""));
    push_wrapped(
        out,
        "Enter: you confirm writes are frozen (journaled). Then: stop every old node.",
        w,
        t.dim(),
    );
    let _ = m;
}

/// In-place's running clock: from the gate (no old node answered) until the new nodes serve.
pub(super) fn downtime_line(m: &Model, t: &Theme) -> Option<Line<'static>> {
    let d = m.downtime()?.as_secs_f64();
    let text = if m.downtime_until.is_some() {
        format!(
            "Downtime: {} (old nodes stopped to new nodes serving)",
            clock(d)
        )
    } else {
        format!("Downtime: {}, counting until the new nodes serve", clock(d))
    };
    Some(Line::styled(text, t.warn()))
}

/// `1:05:09`, `4:07`: a clock, not an age.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
