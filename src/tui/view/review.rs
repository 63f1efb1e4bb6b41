//! Review: the migrations `up` will run, and for the selected one what it changes, the rows its
//! tables hold, a large-table flag and how long it should take (v: all of it, with the real SQL
//! under --kong-lua-path).

use super::*;

pub(super) fn review_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let migs = reviews(m);
    let two = migs.iter().filter(|x| x.two_phase).count();
    push_wrapped(
        out,
        &format!(
            "{} migrations will run, {two} two-phase (pending until finish)",
            migs.len()
        ),
        w,
        Style::new(),
    );
    if let (Some(line), Some(r)) = (m.rehearsal_line(), m.setup.rehearsal.as_ref()) {
        use crate::wizard::review::Staleness;
        let style = match r.staleness {
            Staleness::Fresh => t.ok(),
            Staleness::Checking => t.dim(),
            Staleness::Changed(_) | Staleness::NotChecked(_) => t.warn(),
        };
        push_wrapped(out, &line, w, style);
    }
    let sub_w = migs
        .iter()
        .map(|x| x.subsystem.chars().count())
        .max()
        .unwrap_or(4)
        .min(w / 3);
    // The selected migration's facts get what the list leaves (at least 3 rows of it).
    let room = h.saturating_sub(out.len());
    let list_h = migs.len().min(room.saturating_sub(3).max(room / 2)).max(1);
    let (start, shown) = window(&migs[..], m.cursor, list_h);
    for (i, r) in shown.iter().enumerate() {
        let selected = start + i == m.cursor;
        let tag = match (r.two_phase, r.large.is_empty()) {
            (true, false) => " two-phase LARGE",
            (true, true) => " two-phase",
            (false, false) => " LARGE",
            (false, true) => "",
        };
        let rest = w.saturating_sub(sub_w + 3 + tag.chars().count().max(10));
        let mut line = Line::from(vec![
            Span::raw(if selected { "▸ " } else { "  " }),
            Span::styled(
                format!("{:<sub_w$} ", truncate(&r.subsystem, sub_w)),
                t.dim(),
            ),
            Span::raw(format!("{:<rest$}", truncate(&r.migration, rest))),
            Span::styled(
                tag.to_string(),
                if r.large.is_empty() {
                    t.warn()
                } else {
                    t.err()
                },
            ),
        ]);
        if selected && m.focus == Focus::Step {
            line = line.patch_style(t.selected());
        }
        out.push(line);
    }
    let Some(r) = migs.get(m.cursor) else {
        return;
    };
    // The flag and the time first (they decide the plan); then what it changes. What does not
    // fit is marked below the step; v shows it in full (with the SQL).
    if let Some(work) = r.large_text() {
        push_wrapped(out, &format!("LARGE: {work}"), w, t.err());
    }
    if let Some(d) = r.duration_text() {
        push_wrapped(out, &d, w, t.accent());
    }
    if let Some(rows) = r.rows_text() {
        push_wrapped(out, &rows, w, t.dim());
    }
    if let Some(none) = r.no_changes_text() {
        push_wrapped(out, &format!("changes: {none}"), w, t.dim());
    }
    for c in &r.changes {
        push_hanging(out, "· ", c, w, Style::new());
    }
}

/// Review's facts (`Model::migration_reviews`), made again only when the reading they come from
/// (the state, the row counts, the estimates), the target or the rehearsal (its staleness
/// answers while Review is on screen) changes.
fn reviews(m: &Model) -> std::sync::Arc<Vec<crate::wizard::review::MigrationReview>> {
    let r = m.reading.as_ref();
    let counts = r.and_then(|r| r.row_counts.as_ref());
    let estimates = r.map(|r| r.estimates.as_slice()).unwrap_or(&[]);
    let rehearsal = m.setup.rehearsal.as_ref();
    m.memo.reviews.get(
        |(st, c, e, target, reh)| {
            st.as_ref() == m.state()
                && c.as_ref() == counts
                && e.as_slice() == estimates
                && *target == m.setup.target
                && reh.as_ref() == rehearsal
        },
        || {
            (
                (
                    m.state().cloned(),
                    counts.cloned(),
                    estimates.to_vec(),
                    m.setup.target,
                    rehearsal.cloned(),
                ),
                m.migration_reviews(),
            )
        },
    )
}
