//! Decommission: the probes' answers, the checklist ticks, nodes added by hand.

use super::*;

pub(super) fn on_probed(m: &mut Model, answers: Vec<(String, NodeClass)>) {
    let first = m.probed_at.is_none();
    m.probed_at = Some(m.now);
    for (name, class) in answers {
        let Some(n) = m
            .nodes
            .iter_mut()
            .find(|n| n.name == name && n.kind == "admin")
        else {
            continue;
        };
        // Changes are worth a line (an old node stopping answering is the point); the first
        // answers are on screen.
        let was = n.class.as_ref().map(NodeClass::label);
        if !first && was.as_deref() != Some(class.label().as_str()) {
            m.log
                .push(LogKind::Info, format!("{name}: now {}", class.label()));
        }
        n.class = Some(class);
    }
}

/// Space on a Decommission row: a confirmation, one item of a node's checklist, or (on the
/// node's own row) all three at once.
pub(super) fn toggle_decom(m: &mut Model, fx: &mut Vec<Effect>) {
    let Some(row) = m.decom_rows().get(m.cursor).cloned() else {
        return;
    };
    let (name, items, checks): (String, Vec<NodeItem>, Checklist) = match &row {
        DecomRow::General(i) => {
            if let Some(item) = m.checklist.get_mut(*i) {
                item.done = !item.done;
            }
            return;
        }
        DecomRow::Node(i) | DecomRow::NodeItem(i, _) => {
            let Some(n) = m.nodes.get(*i) else { return };
            if !node_needs_checklist(n) {
                notice(
                    m,
                    NoticeLevel::Info,
                    format!("{} runs the new version: nothing to take out", n.name),
                );
                return;
            }
            let items = match &row {
                DecomRow::NodeItem(_, it) => vec![*it],
                _ => NodeItem::ALL.to_vec(),
            };
            (n.name.clone(), items, n.checklist)
        }
        DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) => {
            let old = m
                .data_planes()
                .iter()
                .any(|(dp, old, _)| *old && dp_key(dp) == *k);
            if !old {
                notice(
                    m,
                    NoticeLevel::Info,
                    format!("{k} runs the new version: nothing to take out"),
                );
                return;
            }
            let items = match &row {
                DecomRow::DataPlaneItem(_, it) => vec![*it],
                _ => NodeItem::ALL.to_vec(),
            };
            (
                k.clone(),
                items,
                m.dp_checks.get(k).copied().unwrap_or_default(),
            )
        }
    };
    // One item flips; the node's own row ticks all three, or unticks them when all are ticked.
    let mut c = checks;
    let value = if items.len() == 1 {
        !items[0].get(&c)
    } else {
        !c.done()
    };
    for it in &items {
        it.set(&mut c, value);
    }
    match &row {
        DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) => {
            m.dp_checks.insert(k.clone(), c);
        }
        DecomRow::Node(i) | DecomRow::NodeItem(i, _) => {
            if let Some(n) = m.nodes.get_mut(*i) {
                n.checklist = c;
            }
        }
        DecomRow::General(_) => {}
    }
    if c.stopped && !checks.stopped {
        if m.setup.training.is_some() {
            fx.push(Effect::StopNode(name.clone()));
        }
        m.log.push(LogKind::Info, format!("marked stopped: {name}"));
    }
    if c.done() && !checks.done() {
        fx.push(Effect::Journal(Event::Confirmed {
            what: format!("{name}: out of the load balancer, drained and stopped"),
            typed: None,
        }));
    }
}

/// A node kongrade cannot probe: the operator ticks its checklist, and finish waits for it.
pub(super) fn add_node(m: &mut Model, name: String, fx: &mut Vec<Effect>) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name, so the node can be told apart".into());
    }
    if m.nodes.iter().any(|n| n.name == name) {
        return Err(format!("{name} is in the list already"));
    }
    m.log
        .push(LogKind::Info, format!("node added by hand: {name}"));
    fx.push(Effect::Journal(Event::Note {
        text: format!("manual node added: {name}"),
    }));
    m.nodes.push(NodeStatus {
        name,
        kind: "manual".into(),
        class: None,
        checklist: Checklist::default(),
    });
    Ok(())
}
