//! Decommission: the probes' answers, the checklist ticks, nodes added by hand.

use super::*;

use crate::wizard::keys::{tick_target, Tick};

pub(super) fn on_probed(m: &mut Model, answers: Vec<(String, NodeClass)>) {
    let first = m.probed_at.is_none();
    m.probed_at = Some(m.now);
    for (name, mut class) in answers {
        // What an Admin API answered is shown: no control character reaches the terminal.
        safe_class(&mut class);
        // In-place's new nodes (`--new-admin-url`) are probed with the old ones.
        for (_, c) in m.new_probes.iter_mut().filter(|(u, _)| *u == name) {
            *c = Some(class.clone());
        }
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

fn safe_class(class: &mut NodeClass) {
    let e = |s: &mut String| *s = crate::text::escape(s).into_owned();
    match class {
        NodeClass::Old { version, hostname } | NodeClass::New { version, hostname } => {
            e(version);
            hostname.iter_mut().for_each(e);
        }
        NodeClass::UnknownVersion { version } => e(version),
        NodeClass::Unreachable { error } => e(error),
        NodeClass::NotKong { why } => e(why),
    }
}

/// Space on a Decommission row: a confirmation, or one item of a node's checklist, in order
/// ([`tick_target`] says which, or why not).
pub(super) fn toggle_decom(m: &mut Model, fx: &mut Vec<Effect>) {
    let (row, name, item, value) = match tick_target(m) {
        Ok(Tick::General(i)) => {
            if let Some(item) = m.checklist.get_mut(i) {
                item.done = !item.done;
            }
            return;
        }
        Ok(Tick::Item {
            row,
            name,
            item,
            value,
        }) => (row, name, item, value),
        Err(why) => {
            notice(m, NoticeLevel::Warn, why);
            return;
        }
    };
    let checks = match &row {
        DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) => {
            m.dp_checks.get(k).copied().unwrap_or_default()
        }
        DecomRow::Node(i) | DecomRow::NodeItem(i, _) => {
            m.nodes.get(*i).map(|n| n.checklist).unwrap_or_default()
        }
        DecomRow::General(_) => return,
    };
    let mut c = checks;
    item.set(&mut c, value);
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
    if value && item == NodeItem::Stopped {
        m.log.push(LogKind::Info, format!("marked stopped: {name}"));
    } else if value {
        m.log
            .push(LogKind::Info, format!("{name}: {}", item.label()));
    }
    if let DecomRow::DataPlane(k) | DecomRow::DataPlaneItem(k, _) = &row {
        if c.stopped {
            m.dp_stopped_at.insert(k.clone(), m.now);
        } else {
            m.dp_stopped_at.remove(k);
        }
    }
    if c.stopped && !checks.stopped && m.setup.training.is_some() {
        fx.push(Effect::StopNode(name.clone()));
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

/// A node added by hand, removed again (a typo, a node that never existed): journaled.
pub(super) fn remove_node(m: &mut Model, index: usize, name: &str, fx: &mut Vec<Effect>) {
    if !m
        .nodes
        .get(index)
        .is_some_and(|n| n.name == name && n.kind == "manual")
    {
        return;
    }
    m.nodes.remove(index);
    m.log
        .push(LogKind::Info, format!("node removed from the list: {name}"));
    fx.push(Effect::Journal(Event::Note {
        text: format!("manual node removed: {name}"),
    }));
    m.cursor = m.cursor.min(list_len(m).saturating_sub(1));
}
