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
    // Each row's lines (a row may wrap); then the rows around the cursor that fit.
    let mut row_lines: Vec<Vec<Line<'static>>> = Vec::with_capacity(rows.len());
    let dps = m.data_planes();
    for (i, row) in rows.iter().enumerate() {
        let selected = i == m.cursor;
        let mut lines: Vec<Line<'static>> = Vec::new();
        // A node's or data plane's word is wrapped, never cut: it may be the instruction.
        let mut cont: Vec<(String, Style)> = Vec::new();
        let mut wrapped = |text: &str, style: Style| -> String {
            if text.chars().count() <= w.saturating_sub(4) {
                return text.to_string();
            }
            let mut lines = wrap(text, w.saturating_sub(4)).into_iter();
            let first = lines.next().unwrap_or_default();
            cont.extend(lines.map(|l| (format!("    {l}"), style)));
            first
        };
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
                None => {
                    row_lines.push(lines);
                    continue;
                }
            },
            DecomRow::Node(j) => {
                let Some(n) = m.nodes.get(*j) else {
                    row_lines.push(lines);
                    continue;
                };
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
                let style_t = if blocks { style } else { Style::new() };
                vec![
                    Span::styled(mark, style),
                    Span::styled(wrapped(&format!("{}  {label}", n.name), style_t), style_t),
                ]
            }
            DecomRow::NodeItem(j, it) => match m.nodes.get(*j) {
                Some(n) => check(it.get(&n.checklist), it.label(), "    "),
                None => {
                    row_lines.push(lines);
                    continue;
                }
            },
            DecomRow::DataPlane(k) => {
                let Some((_, old, recent)) = dps.iter().find(|(dp, _, _)| dp_key(dp) == *k) else {
                    continue;
                };
                let text = m.data_plane_text(k);
                let blocks = *old && *recent;
                let (mark, style) = if blocks {
                    ("✗ ", t.err())
                } else {
                    ("✓ ", t.ok())
                };
                let style_t = if blocks { style } else { Style::new() };
                vec![
                    Span::styled(mark, style),
                    Span::styled(wrapped(&text, style_t), style_t),
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
        lines.push(line);
        for (l, style) in cont {
            lines.push(Line::styled(l, style));
        }
        row_lines.push(lines);
    }
    let cursor = m.cursor.min(rows.len().saturating_sub(1));
    let size = |r: usize| row_lines.get(r).map_or(0, Vec::len);
    let (mut first, mut last) = (cursor, cursor);
    let mut used = size(cursor);
    while first > 0 && used + size(first - 1) <= list_h {
        first -= 1;
        used += size(first);
    }
    while last + 1 < rows.len() && used + size(last + 1) <= list_h {
        last += 1;
        used += size(last);
    }
    let mut list: Vec<Line<'static>> = row_lines
        .into_iter()
        .skip(first)
        .take(last + 1 - first)
        .flatten()
        .collect();
    if last + 1 < rows.len() {
        if list.len() >= list_h {
            list.pop();
        }
        list.push(Line::styled(
            format!("▼ {} more row(s) below (↓/j)", rows.len() - last - 1),
            t.accent(),
        ));
    }
    out.extend(list);
    let probed = m
        .probed_at
        .map(|at| {
            format!(
                ", probed {} ago",
                secs(m.now.saturating_duration_since(at).as_secs_f64())
            )
        })
        .unwrap_or_default();
    let unconfirmed = m.checklist.iter().filter(|c| !c.done).count();
    if m.flow().stops_old_nodes_before_up() {
        // In-place: the gate is up's, and it opens only when no old node answers.
        let b = m.in_place_blockers();
        let line = if b.is_empty() {
            Line::styled(
                truncate(&format!("✓ up's gate open: no old node answers{probed}"), w).into_owned(),
                t.ok(),
            )
        } else {
            Line::styled(
                truncate(
                    &format!(
                        "✗ up waits: {} old node(s) answer or unconfirmed{probed}",
                        b.len()
                    ),
                    w,
                )
                .into_owned(),
                t.err(),
            )
        };
        out.push(line);
        return;
    }
    let line = match (&m.gate_override, gate.open) {
        (Some(reason), _) => Line::styled(
            truncate(&format!("! finish gate opened anyway: {reason}"), w).into_owned(),
            t.warn(),
        ),
        // The gate's word agrees with Finish's: open only when nothing at all blocks finish.
        (None, true) if unconfirmed > 0 => Line::styled(
            truncate(
                &format!("✗ finish waits for {unconfirmed} confirmation(s) above{probed}"),
                w,
            )
            .into_owned(),
            t.err(),
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
