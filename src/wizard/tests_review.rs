//! Review's per-migration times, through what the operator sees: the memo the frames read.

use super::model::*;
use super::review::{Rehearsal, Staleness};
use super::testkit::H;
use super::tests::rehearsal_016;
use super::update::{update, Msg};

/// The clean scenario at Review (backup owned), the cursor on core 016.
fn at_review(h: &mut H) -> usize {
    h.read();
    h.enter();
    h.own_backup("snapshot vol-0abc of the db host");
    h.enter();
    assert_eq!(h.m.step, Step::Review);
    let i =
        h.m.migration_reviews()
            .iter()
            .position(|r| r.subsystem == "core" && r.migration == "016_280_to_300")
            .expect("016 runs");
    h.m.cursor = i;
    i
}

/// The frames read Review's facts from the memo: the staleness check answering while Review is
/// on screen changes the measured times' mark there too, not only the header's line.
#[test]
fn the_staleness_answer_reaches_reviews_list_through_the_memo() {
    let mut h = H::scenario("clean");
    at_review(&mut h);
    h.m.setup.rehearsal = Some(Rehearsal::unchecked(rehearsal_016(
        "2026-11-30T10:00:00Z",
        170_000,
    )));
    let screen = crate::tui::view::render_to_string(&h.m, 300, 40);
    assert!(screen.contains("rehearsed (checking): up"), "{screen}");
    let made = h.m.memo.reviews.made();
    // Another frame: the facts are kept.
    crate::tui::view::render_to_string(&h.m, 300, 40);
    assert_eq!(h.m.memo.reviews.made(), made);

    update(
        &mut h.m,
        Msg::RehearsalChecked(Staleness::Changed("services: 10 rows -> 11".into())),
    );
    let screen = crate::tui::view::render_to_string(&h.m, 300, 40);
    assert!(
        screen.contains("STALE: the database changed since"),
        "{screen}"
    );
    assert!(screen.contains("rehearsed (stale): up"), "{screen}");
    assert!(!screen.contains("(checking)"), "{screen}");

    update(&mut h.m, Msg::RehearsalChecked(Staleness::Fresh));
    let screen = crate::tui::view::render_to_string(&h.m, 300, 40);
    assert!(screen.contains("rehearsed: up"), "{screen}");
    assert!(!screen.contains("(stale)"), "{screen}");
}
