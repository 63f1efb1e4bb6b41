//! An interrupted core 016_280_to_300 (`kong::half_applied`) in the wizard: the finding blocks
//! every step, and the failed-up account says not to run `up` again.

use super::failed::{account, FailedUp};
use super::model::*;
use super::testkit::H;
use super::update::{update, Msg};
use crate::kong::policy::FindingId;
use crate::kong::snapshot::{RewriteSeen, TildeRoutes};

/// A read of the training database with `count` routes already carrying `~`.
fn read_with_tilde(h: &mut H, count: i64) {
    read_with(h, count, RewriteSeen::NotRunning);
}

/// The same, with what the server showed of 016's rewrite in other sessions.
fn read_with(h: &mut H, count: i64, rewrite: RewriteSeen) {
    h.seq += 1;
    let mut s = h.training.db.snapshot().expect("training snapshot");
    s.tilde_routes = Some(TildeRoutes {
        count,
        listed: vec![],
        rewrite,
    });
    let result = Ok(Box::new(h.interpreter.reading(&s)));
    let at = h.m.now;
    update(
        &mut h.m,
        Msg::Snapshot {
            seq: h.seq,
            result,
            at,
        },
    );
    h.probe();
}

#[test]
fn half_rewritten_paths_block_the_wizard_until_repaired() {
    let mut h = H::scenario("clean");
    read_with_tilde(&mut h, 2);
    let has = |h: &H| {
        h.m.reading.as_ref().is_some_and(|r| {
            r.findings
                .iter()
                .any(|f| f.id == FindingId::PathsHalfRewritten)
        })
    };
    assert!(has(&h), "the 2.8 scenario with `~` paths is at risk");
    let fx = h.enter();
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(h.m.step, Step::Preflight);
    let n = h.m.notice.clone().expect("refusal");
    assert_eq!(n.level, NoticeLevel::Block, "{}", n.text);

    // Repaired (no `~` left): the same read lets the wizard on.
    read_with_tilde(&mut h, 0);
    assert!(!has(&h));
    h.enter();
    assert_ne!(h.m.step, Step::Preflight, "{:?}", h.m.notice);
}

/// kongrade's role cannot read other roles' sessions: whether 016's rewrite still runs is not
/// known, and the wizard neither waits as for a seen run nor starts kong; once it can see (an
/// interrupted run), the repair's finding takes over.
#[test]
fn a_rewrite_kongrade_cannot_see_blocks_the_wizard_and_offers_no_repair() {
    let mut h = H::scenario("clean");
    let unseen = RewriteSeen::CannotTell {
        role: "reader".into(),
        hidden: vec!["kong".into()],
        applications: Vec::new(),
    };
    read_with(&mut h, 0, unseen);
    let ids: Vec<FindingId> =
        h.m.reading
            .as_ref()
            .map(|r| r.findings.iter().map(|f| f.id).collect())
            .unwrap_or_default();
    assert!(ids.contains(&FindingId::RewriteUnseen), "{ids:?}");
    assert!(!ids.contains(&FindingId::PathsHalfRewritten), "{ids:?}");
    assert!(!ids.contains(&FindingId::LockLive), "{ids:?}");
    let fx = h.enter();
    assert!(super::testkit::actions(&fx).is_empty(), "{fx:?}");
    assert_eq!(h.m.step, Step::Preflight);
    let n = h.m.notice.clone().expect("refusal");
    assert_eq!(n.level, NoticeLevel::Block, "{}", n.text);
    assert!(n.text.contains("cannot see whether"), "{}", n.text);
    assert!(super::failed::rerun_harms(&h.m).is_some());

    // Seen now: no run, 2 routes rewritten: the interrupted run's finding.
    read_with_tilde(&mut h, 2);
    assert!(h.m.reading.as_ref().is_some_and(|r| r
        .findings
        .iter()
        .any(|f| f.id == FindingId::PathsHalfRewritten)));
}

#[test]
fn the_failed_up_account_never_says_run_up_again_when_a_rerun_would_harm() {
    let mut f = FailedUp {
        error: vec!["failed to run migration '016_280_to_300' up_f: timeout".into()],
        failed: Some("core/016_280_to_300".into()),
        recorded: vec![],
        not_run: 3,
        lock_released: true,
        pending: false,
        rerun_harms: None,
    };
    let text = |f: &FailedUp| {
        account(f, None)
            .into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(text(&f).contains("Enter runs up again"), "{}", text(&f));
    f.rerun_harms = Some("An interrupted `up` left 5 route(s) rewritten".into());
    let t = text(&f);
    assert!(t.contains("Do not run up again yet"), "{t}");
    assert!(!t.contains("Enter runs up again"), "{t}");
}

/// The training scenario: up fails inside 016's Lua part with 412 routes rewritten; the Up step
/// says not to run up again and Enter is refused; `f` takes the `~` off; up then runs and the
/// wizard reaches Done.
#[test]
fn interrupted_016_is_taught_fail_refuse_repair_then_done() {
    use super::keys::Key;
    let mut h = H::scenario("interrupted-016");
    h.read();
    for _ in 0..20 {
        if h.m.step == Step::Up {
            break;
        }
        h.play_one();
    }
    assert_eq!(h.m.step, Step::Up, "{}", h.notice());
    h.enter();
    let fx = h.enter();
    h.perform(&fx);
    h.advance(0.5);
    h.read();
    assert!(
        h.m.outcome.as_ref().is_some_and(|o| !o.success),
        "{:?}",
        h.m.outcome
    );
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    for want in [
        "failed to run migration '016_280_to_300' up_f: timeout",
        "Do not run up again yet",
        "412 route(s)",
    ] {
        assert!(screen.contains(want), "{want}\n{screen}");
    }
    assert!(!screen.contains("Enter runs up again"), "{screen}");
    // Enter is refused while the routes carry their `~`.
    h.enter();
    let fx = h.enter();
    assert!(super::testkit::actions(&fx).is_empty(), "{fx:?}");
    assert_eq!(
        h.m.notice.as_ref().map(|n| n.level),
        Some(NoticeLevel::Block),
        "{}",
        h.notice()
    );
    // The repair, then up runs 016 and what follows, and the upgrade ends.
    let fx = h.key(Key::ch('f'));
    h.fix(&fx);
    assert!(h.training.db.lock_tables().tilde_routes.is_none());
    h.play_to_done();
    assert_eq!(h.m.step, Step::Done);
}
