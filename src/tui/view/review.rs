//! Review: the migrations `up` will run.

use super::*;

pub(super) fn review_body(m: &Model, w: usize, h: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let migs = m.new_migrations();
    let two = migs.iter().filter(|x| x.2).count();
    push_wrapped(
        out,
        &format!(
            "{} migrations will run, {two} two-phase (pending until finish)",
            migs.len()
        ),
        w,
        Style::new(),
    );
    let sub_w = migs
        .iter()
        .map(|x| x.0.chars().count())
        .max()
        .unwrap_or(4)
        .min(w / 3);
    let (start, shown) = window(&migs, m.cursor, h.saturating_sub(out.len()));
    for (i, (sub, name, two_phase)) in shown.iter().enumerate() {
        let selected = start + i == m.cursor;
        let rest = w.saturating_sub(sub_w + 14);
        let mut line = Line::from(vec![
            Span::raw(if selected { "▸ " } else { "  " }),
            Span::styled(format!("{:<sub_w$} ", truncate(sub, sub_w)), t.dim()),
            Span::raw(format!("{:<rest$}", truncate(name, rest))),
            if *two_phase {
                Span::styled(" two-phase", t.warn())
            } else {
                Span::raw("")
            },
        ]);
        if selected && m.focus == Focus::Step {
            line = line.patch_style(t.selected());
        }
        out.push(line);
    }
}
