//! Before the steps: connecting, and waiting for a live migrations lock.

use super::*;

pub(super) fn connecting_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    push_wrapped(
        out,
        &format!("Reading {} …", m.setup.database),
        w,
        Style::new(),
    );
    if let Some(e) = &m.db.last_error {
        push_wrapped(out, e, w, t.err());
        out.push(Line::styled(
            format!(
                "retry {} (every {})",
                m.db.failures,
                secs(m.setup.refresh.as_secs_f64())
            ),
            t.dim(),
        ));
    }
}

pub(super) fn waiting_body(m: &Model, w: usize, t: &Theme, out: &mut Vec<Line<'static>>) {
    let state = m.state();
    let owner = state
        .and_then(|s| s.lock.as_ref())
        .and_then(|l| l.owner.clone())
        .unwrap_or_else(|| "unknown".into());
    out.push(Line::from(vec![
        Span::raw("Lock held by "),
        Span::styled(owner, t.bold()),
    ]));
    match m.lock_seconds_left() {
        Some(s) if s > 0.0 => out.push(Line::styled(format!("expires in {}", secs(s)), t.warn())),
        Some(_) => out.push(Line::styled("expired; waiting for the next read", t.dim())),
        None => {}
    }
    out.push(Line::raw(""));
    push_wrapped(
        out,
        "If no kong runs anywhere, a killed run left it. kongrade never deletes it; the wizard continues by itself once it is released.",
        w,
        Style::new(),
    );
}
