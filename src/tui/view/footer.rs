//! The key hints along the bottom: the key table's acting hints, in its order, as many as fit.

use super::*;

pub(super) fn render_footer(m: &Model, f: &mut Frame, area: Rect, t: &Theme) {
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    let mut room = (area.width as usize).saturating_sub(1);
    // The table order is the priority: hints that do not fit are left out, never cut.
    for h in footer_hints(m) {
        let need = h.keys_text.chars().count() + h.label.chars().count() + 3;
        if need > room {
            continue;
        }
        room -= need;
        spans.push(Span::styled(h.keys_text, t.accent()));
        spans.push(Span::raw(format!(" {}  ", h.label)));
    }
    f.render_widget(Line::from(spans), area);
}

/// The hints the footer may show: bound now, acting now, meant for the footer.
pub fn footer_hints(m: &Model) -> Vec<Hint> {
    available(m)
        .into_iter()
        .filter(|h| h.footer && h.enabled())
        .collect()
}
