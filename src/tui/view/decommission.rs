//! Decommission: the confirmations, each node with its checklist, the data planes, the gate.

use super::*;

pub(super) fn decommission_body(
    m: &Model,
    w: usize,
    h: usize,
    t: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    if let Some(note) = &m.entry_note {
        push_wrapped(out, note, w, t.accent());
    }
    let gate = m.node_gate();
    let rows = m.decom_rows();
    // The gate's line stays at the bottom; the list scrolls above it.
    let list_h = h.saturating_sub(out.len() + 1).max(1);
    let (start, shown) = window(&rows, m.cursor, list_h);
    let dps = m.data_planes();
    for (i, row) in shown.iter().enumerate() {
        let selected = start + i == m.cursor;
        let check = |done: bool, label: &str, indent: &str| {
            vec![
                Span::raw(indent.to_string()),
                Span::styled(
                    if done { "[x] " } else { "[ ] " },
                    if done { t.ok() } else { t.bold() },
                ),
                Span::raw(truncate(label, w.saturating_sub(6 + indent.len())).into_owned()),
            ]
        };
        let spans: Vec<Span> = match row {
            DecomRow::General(j) => match m.checklist.get(*j) {
                Some(c) => check(c.done, &c.label, ""),
                None => continue,
            },
            DecomRow::Node(j) => {
                let Some(n) = m.nodes.get(*j) else { continue };
                let (blocks, label) = match (&n.class, n.kind.as_str()) {
                    (_, "manual") => (
                        !n.checklist.done(),
                        "manual entry: tick it when taken out".to_string(),
                    ),
                    (None, _) => (true, "not probed yet".to_string()),
                    (Some(c), _) => (c.blocks_finish(), c.label()),
                };
                let (mark, style) = if blocks {
                    ("✗ ", t.err())
                } else {
                    ("✓ ", t.ok())
                };
                vec![
                    Span::styled(mark, style),
                    Span::styled(
                        truncate(&format!("{}  {label}", n.name), w.saturating_sub(4)).into_owned(),
                        if blocks { style } else { Style::new() },
                    ),
                ]
            }
            DecomRow::NodeItem(j, it) => match m.nodes.get(*j) {
                Some(n) => check(it.get(&n.checklist), it.label(), "    "),
                None => continue,
            },
            DecomRow::DataPlane(k) => {
                let Some((dp, old, recent)) = dps.iter().find(|(dp, _, _)| dp_key(dp) == *k) else {
                    continue;
                };
                let ago = dp
                    .last_seen_secs_ago
                    .map(secs)
                    .unwrap_or_else(|| "?".into());
                let v = dp.version.as_deref().unwrap_or("?");
                let marked = m.dp_checks.get(k).is_some_and(|c| c.stopped);
                // The database's word on it: a data plane checks in every 30 s.
                let text = match (old, recent) {
                    (true, true) if marked => format!(
                        "{k}  OLD {v} data plane, still seen {ago} ago after its stop: stop it again"
                    ),
                    (true, true) => format!("{k}  OLD {v} data plane, seen {ago} ago"),
                    (true, false) => format!("{k}  old {v} data plane, gone (seen {ago} ago)"),
                    (false, _) => format!("{k}  new {v} data plane"),
                };
                let blocks = *old && *recent;
                let (mark, style) = if blocks {
                    ("✗ ", t.err())
                } else {
                    ("✓ ", t.ok())
                };
                vec![
                    Span::styled(mark, style),
                    Span::styled(
                        truncate(&text, w.saturating_sub(4)).into_owned(),
                        if blocks { style } else { Style::new() },
                    ),
                ]
            }
            DecomRow::DataPlaneItem(k, it) => check(
                it.get(&m.dp_checks.get(k).copied().unwrap_or_default()),
                it.label(),
                "    ",
            ),
        };
        let mut spans = spans;
        spans.insert(0, Span::raw(if selected { "▸ " } else { "  " }));
        let mut line = Line::from(spans);
        if selected && m.focus == Focus::Step {
            line = line.patch_style(t.selected());
        }
        out.push(line);
    }
    let probed = m
        .probed_at
        .map(|at| {
            format!(
                ", probed {} ago",
                secs(m.now.saturating_duration_since(at).as_secs_f64())
            )
        })
        .unwrap_or_default();
    let line = match (&m.gate_override, gate.open) {
        (Some(reason), _) => Line::styled(
            truncate(&format!("! finish gate opened anyway: {reason}"), w).into_owned(),
            t.warn(),
        ),
        (None, true) => Line::styled(
            truncate(&format!("✓ finish gate open: no old node seen{probed}"), w).into_owned(),
            t.ok(),
        ),
        (None, false) => Line::styled(
            truncate(
                &format!(
                    "✗ finish gate closed: {} old node(s) seen{probed}",
                    gate.blockers.len()
                ),
                w,
            )
            .into_owned(),
            t.err(),
        ),
    };
    out.push(line);
}
