//! Review's per-migration times and sources, through what the operator sees: the memo the frames
//! read, the advice's own numbers, and `--kong-lua-path`'s modules behind `v`.

use super::keys::{Action, Key};
use super::model::*;
use super::review::{Rehearsal, Staleness};
use super::testkit::H;
use super::tests::rehearsal_016;
use super::update::{update, Msg};
use crate::contract::clone::TableMark;
use crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS;

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

fn routes(n: i64) -> Vec<(String, i64)> {
    vec![("routes".into(), n), (ROUTES_WITH_REGEX_PATHS.into(), n)]
}

fn mark(table: &str, rows: i64) -> TableMark {
    TableMark {
        table: table.into(),
        rows,
        newest: None,
        digest: None,
    }
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

/// Review's rehearsed time is the advice's: the tables tripled since the clone, so 2 min 50 s
/// measured is 8 min 30 s now, as `plan`'s timeout advice (the reading's estimates) takes it.
#[test]
fn reviews_rehearsed_time_is_the_advices_scaled_for_the_tables_growth() {
    let mut h = H::scenario("clean");
    let mut record = rehearsal_016("2026-11-30T10:00:00Z", 170_000);
    record.clone.tables = vec![mark("routes", 100_000)];
    h.interpreter.row_counts = Some(routes(300_000));
    let i = at_review(&mut h);
    h.m.setup.rehearsal = Some(Rehearsal {
        record: record.clone(),
        staleness: Staleness::Fresh,
    });
    // The database read again as the runtime reads it with a journal: its rehearsal in the
    // history (the harness's own history is the demo's, which rehearsed nothing).
    let mut history = h.m.policy_history();
    history.rehearsals = vec![record];
    h.interpreter.history = Some(history);
    let snap = h.training.db.snapshot().expect("snapshot");
    h.seq += 1;
    let (seq, at) = (h.seq, h.m.now);
    update(
        &mut h.m,
        Msg::Snapshot {
            seq,
            result: Ok(Box::new(h.interpreter.reading(&snap))),
            at,
        },
    );
    assert_eq!(h.m.step, Step::Review);
    let advice =
        h.m.reading
            .as_ref()
            .unwrap()
            .estimates
            .iter()
            .find(|w| w.migration == "016_280_to_300")
            .expect("016 estimated")
            .clone();
    assert_eq!(advice.measured_secs, Some(510.0), "{advice:?}");
    let r = &h.m.migration_reviews()[i];
    assert_eq!(r.measured.len(), 1, "{:?}", r.measured);
    assert_eq!(r.measured[0].secs, advice.secs());
    assert_eq!(
        r.duration_text().as_deref(),
        Some("rehearsed: up 8 min 30 s (x3.0: the tables grew since the clone)")
    );
    let screen = crate::tui::view::render_to_string(&h.m, 200, 40);
    assert!(screen.contains("rehearsed: up 8 min 30 s"), "{screen}");

    // Rehearsed faster than estimated: the estimate stands, as in the advice.
    let mut fast = rehearsal_016("2026-11-30T10:00:00Z", 5_000);
    fast.clone.tables = vec![mark("routes", 300_000)];
    h.m.setup.rehearsal.as_mut().unwrap().record = fast;
    let r = &h.m.migration_reviews()[i];
    let est = r.estimate_secs.expect("estimated");
    assert_eq!(r.measured[0].secs, est);
    let text = r.duration_text().unwrap_or_default();
    assert!(
        text.starts_with("rehearsed: up ~") && text.ends_with("(the estimate; rehearsed 5 s)"),
        "{text}"
    );

    // A table empty at the clone holds rows now: the advice goes by the estimate alone.
    let mut empty = rehearsal_016("2026-11-30T10:00:00Z", 170_000);
    empty.clone.tables = vec![mark("routes", 0)];
    h.m.setup.rehearsal.as_mut().unwrap().record = empty;
    let text = h.m.migration_reviews()[i]
        .duration_text()
        .unwrap_or_default();
    assert!(
        text.starts_with("estimate: ~")
            && text.ends_with(
                "(the rehearsal's times not taken: a table empty at the clone holds rows now)"
            ),
        "{text}"
    );
}

/// A failed step's time was cut short: Review says it as a floor, not as the migration's time.
#[test]
fn a_failed_steps_time_is_said_as_at_least() {
    let mut h = H::scenario("clean");
    h.interpreter.row_counts = Some(routes(1_000));
    let i = at_review(&mut h);
    let mut record = rehearsal_016("2026-11-30T10:00:00Z", 2_000);
    record.steps[0].ok = false;
    record.steps[0].outcome = "exit code 1".into();
    record.ok = false;
    h.m.setup.rehearsal = Some(Rehearsal {
        record,
        staleness: Staleness::Fresh,
    });
    let r = &h.m.migration_reviews()[i];
    assert!(r.measured[0].at_least);
    assert_eq!(
        r.duration_text().as_deref(),
        Some("rehearsed: up at least 2 s (the step failed)")
    );
    let screen = crate::tui::view::render_to_string(&h.m, 200, 40);
    assert!(
        screen.contains("up at least 2 s (the step failed)"),
        "{screen}"
    );
}

/// A tree for `--kong-lua-path` whose core 016 has a tab and an escape character in it.
fn core_tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let core = d.path().join("kong/db/migrations/core");
    std::fs::create_dir_all(&core).unwrap();
    std::fs::write(core.join("init.lua"), "return { '016_280_to_300' }").unwrap();
    std::fs::write(
        core.join("016_280_to_300.lua"),
        "return { postgres = { up = [[\n\tCREATE TABLE IF NOT EXISTS sm_vaults (id uuid); -- \u{1b}[2J\n]] } }",
    )
    .unwrap();
    d
}

/// `--kong-lua-path`'s modules, read as the wizard's start reads them, reach Review's detail:
/// the footer offers `v` there, `v` opens the selected migration's module, tabs as spaces and
/// no escape sequence left.
#[test]
fn v_on_review_shows_the_migrations_module_from_the_lua_tree() {
    let tree = core_tree();
    let mut h = H::scenario("clean");
    h.m.setup.kong_lua_path = true;
    h.m.setup.migration_sources =
        std::sync::Arc::new(crate::tui::review_sources(tree.path()).expect("read the tree"));
    at_review(&mut h);
    let hint = crate::tui::view::footer_hints(&h.m)
        .into_iter()
        .find(|x| x.action == Action::Detail)
        .expect("the footer offers the full text on Review");
    assert_eq!(hint.keys_text, "v");
    assert!(hint.matches(Key::ch('v')));
    let screen = crate::tui::view::render_to_string(&h.m, 200, 40);
    assert!(screen.contains("v full text"), "{screen}");

    h.key(Key::ch('v'));
    let Some(Overlay::Detail { title, text }) = &h.m.overlay else {
        panic!("{:?}", h.m.overlay)
    };
    assert_eq!(title, "core/016_280_to_300");
    assert!(
        text.contains("kong/db/migrations/core/016_280_to_300.lua:"),
        "{text}"
    );
    assert!(
        text.contains("    CREATE TABLE IF NOT EXISTS sm_vaults (id uuid);"),
        "{text}"
    );
    assert!(!text.contains('\t') && !text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("\\x1b[2J"), "{text}");
    assert!(!text.contains("not found in --kong-lua-path"), "{text}");
    let screen = crate::tui::view::render_to_string(&h.m, 200, 40);
    assert!(
        screen.contains("CREATE TABLE IF NOT EXISTS sm_vaults"),
        "{screen}"
    );
}

/// With `--kong-lua-path` given, a migration whose module the tree lacks says so (not the hint
/// to pass the flag).
#[test]
fn v_on_review_says_a_module_missing_from_the_lua_tree() {
    let tree = core_tree();
    let mut h = H::scenario("clean");
    h.m.setup.kong_lua_path = true;
    h.m.setup.migration_sources =
        std::sync::Arc::new(crate::tui::review_sources(tree.path()).expect("read the tree"));
    at_review(&mut h);
    let j =
        h.m.migration_reviews()
            .iter()
            .position(|r| r.migration == "017_300_to_310")
            .expect("017 runs");
    h.m.cursor = j;
    h.key(Key::ch('v'));
    let Some(Overlay::Detail { title, text }) = &h.m.overlay else {
        panic!("{:?}", h.m.overlay)
    };
    assert_eq!(title, "core/017_300_to_310");
    assert!(
        text.contains("Its module was not found in --kong-lua-path."),
        "{text}"
    );
    assert!(!text.contains("With --kong-lua-path"), "{text}");
    assert!(!text.contains("sm_vaults (id uuid)"), "{text}");
}
