//! The Strategy step and the flows per strategy, driven headless: what the step shows is what
//! `kong::strategy::choose` says, a refused strategy cannot be picked, the choice is journaled
//! before what it announces and read back on resume, and in-place runs in its own order.

use std::time::Duration;

use super::flow::{Flow, IN_PLACE_GATE_STEP, NEW_NODES_STEP};
use super::keys::Key;
use super::model::*;
use super::testkit::{actions, journal, H};
use super::update::{finish_blockers, gate};
use crate::contract::journal::Event;
use crate::contract::KongCommand;
use crate::kong::strategy::{self, Deployment, Jump, OldNode, Strategy, StrategyInput};

fn body(h: &H) -> String {
    crate::tui::view::step_body_text(&h.m, 100, 200).join("\n")
}

/// A scenario of the given versions and facts (traditional, one old and one new node).
fn scenario_json(from: &str, to: &str, facts: &str) -> String {
    format!(
        r#"{{"name": "t", "title": "t", "summary": "t", "bootstrapped_at": "{from}", "target": "{to}"{facts},
        "nodes": [{{"name": "kong-old-1", "version": "{from}"}}, {{"name": "kong-new-1", "version": "{to}"}}]}}"#
    )
}

fn choosing_json(text: &str) -> H {
    H::choosing_from(serde_json::from_str(text).expect("scenario json"), false)
}

/// At the Strategy step of a scenario, every question answered by its facts.
fn at_strategy(h: &mut H) {
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    h.enter();
    assert_eq!(h.m.step, Step::Strategy, "{}", h.notice());
}

/// The step's rows are `choose`'s answer on the same facts: allowed (recommended first), then
/// refused, and the screen says each with its reason.
fn assert_shows_choose(h: &H, old_nodes: &[OldNode], jump: Jump) {
    let want = strategy::choose(&StrategyInput {
        deployment: Deployment::Traditional,
        from: h.m.reading.as_ref().and_then(|r| r.from),
        to: h.m.setup.target,
        old_nodes,
        second_cluster: Some(false),
    });
    assert_eq!(want.jump, jump);
    assert_eq!(*h.m.strategy_choice(), want);
    let rows: Vec<(Strategy, bool)> = want
        .allowed
        .iter()
        .map(|o| (o.strategy, true))
        .chain(want.refused.iter().map(|r| (r.strategy, false)))
        .collect();
    assert_eq!(h.m.strategy_rows(), rows);
    if h.m.step != Step::Strategy {
        // Nothing to migrate (a patch without migrations): the step is not on screen.
        return;
    }
    let text = body(h);
    assert!(
        text.contains(&format!("Kong recommends {}", want.recommended)),
        "{text}"
    );
    // Every strategy on its line; the selected one's reason under the list.
    for (i, (s, allowed)) in rows.iter().enumerate() {
        let word = if *allowed { "allowed" } else { "refused" };
        assert!(text.contains(&format!("{word} {s}")), "{text}");
        let mut m = h.m.clone();
        m.cursor = i;
        let text = crate::tui::view::step_body_text(&m, 100, 200).join("\n");
        let why = match want.check(*s) {
            Ok(o) => o.why.clone(),
            Err(r) => r.why.clone(),
        };
        assert!(text.contains(&why[..20]), "{s}: {why}\n{text}");
    }
}

#[test]
fn the_lts_pair_refuses_blue_green_and_it_cannot_be_picked() {
    let mut h = H::choosing("clean");
    at_strategy(&mut h);
    let old = h.m.old_nodes_seen();
    assert_eq!(old.len(), 2, "kong-old-1 and kong-old-2: {old:?}");
    assert_shows_choose(&h, &old, Jump::LtsPair);
    let c = h.m.strategy_choice();
    assert_eq!(c.recommended, Strategy::InPlace, "no second cluster");
    let bg = c
        .check(Strategy::BlueGreen)
        .expect_err("refused on 2.8 -> 3.4");
    assert!(bg.why.contains("LTS"), "{}", bg.why);
    // Enter on it says why and changes nothing: no question, no journal entry.
    let rows = h.m.strategy_rows();
    h.m.cursor = rows
        .iter()
        .position(|r| r.0 == Strategy::BlueGreen)
        .expect("listed");
    let fx = h.enter();
    assert!(fx.is_empty(), "{fx:?}");
    assert!(h.m.overlay.is_none());
    assert_eq!(h.m.step, Step::Strategy);
    assert!(h.notice().contains(&bg.why), "{}", h.notice());
    assert_eq!(h.m.strategy, None);
}

#[test]
fn a_patch_jump_allows_blue_green_with_its_cautions() {
    let mut h = choosing_json(&scenario_json(
        "3.4.0",
        "3.4.2",
        r#", "deployment": "traditional", "second_cluster": false"#,
    ));
    h.read();
    let old = h.m.old_nodes_seen();
    assert_shows_choose(&h, &old, Jump::Patch);
    let c = h.m.strategy_choice();
    let o = c
        .check(Strategy::BlueGreen)
        .expect("blue-green is allowed between patch versions");
    assert!(o.why.contains("patch"), "{}", o.why);
    assert!(!o.caveats.is_empty());
}

#[test]
fn old_nodes_below_2_8_2_refuse_blue_green_to_3x_by_name() {
    let mut h = choosing_json(&scenario_json(
        "2.8.1",
        "3.0.2",
        r#", "deployment": "traditional", "second_cluster": false"#,
    ));
    at_strategy(&mut h);
    let old = h.m.old_nodes_seen();
    assert_eq!(old[0].version, Some("2.8.1".parse().expect("version")));
    assert_shows_choose(&h, &old, Jump::Major);
    let c = h.m.strategy_choice();
    let r = c.check(Strategy::BlueGreen).expect_err("refused");
    assert!(r.why.contains("kong-old-1 is 2.8.1"), "{}", r.why);
    // The same jump from 2.8.2 nodes allows it (not recommended).
    let mut h = choosing_json(&scenario_json(
        "2.8.2",
        "3.0.2",
        r#", "deployment": "traditional", "second_cluster": false"#,
    ));
    h.read();
    assert!(h.m.strategy_choice().check(Strategy::BlueGreen).is_ok());
}

#[test]
fn what_kongrade_cannot_see_the_step_asks() {
    let mut h = choosing_json(&scenario_json("2.8.5", "3.4.2", ""));
    at_strategy(&mut h);
    assert_eq!(h.m.strategy_question(), Some(StrategyQuestion::Deployment));
    assert!(body(&h).contains("How is this Kong cluster deployed?"));
    // Enter waits for the answer; the footer offers the digits.
    assert!(h.enter().is_empty());
    assert!(h.notice().contains("answer first"), "{}", h.notice());
    assert!(crate::wizard::keys::step_keys(&h.m)
        .iter()
        .any(|k| k.action == crate::wizard::keys::Action::Choose && k.enabled()));
    h.key(Key::ch('1'));
    assert_eq!(h.m.deployment().0, Deployment::Traditional);
    assert_eq!(
        h.m.strategy_question(),
        Some(StrategyQuestion::SecondCluster)
    );
    // With a second cluster Kong recommends dual-cluster, and the wizard says where it runs.
    h.key(Key::ch('1'));
    assert_eq!(h.m.strategy_question(), None);
    let c = h.m.strategy_choice();
    assert_eq!(c.recommended, Strategy::DualCluster);
    assert_eq!(h.m.strategy_rows()[0], (Strategy::DualCluster, true));
    h.m.cursor = 0;
    let fx = h.enter();
    assert!(fx.is_empty(), "nothing journaled: {fx:?}");
    assert!(
        h.notice().contains("kongrade auto --strategy dual-cluster"),
        "{}",
        h.notice()
    );
    assert_eq!(h.m.step, Step::Strategy);
}

#[test]
fn the_choice_is_journaled_before_the_next_step_and_read_back_on_resume() {
    let mut h = H::choosing("clean");
    at_strategy(&mut h);
    h.m.cursor = 0;
    assert_eq!(h.m.strategy_rows()[0], (Strategy::InPlace, true));
    assert!(h.enter().is_empty(), "the confirmation first");
    assert!(matches!(
        h.m.overlay,
        Some(Overlay::ConfirmStrategy {
            strategy: Strategy::InPlace
        })
    ));
    // Esc: nothing chosen.
    h.esc();
    assert_eq!(h.m.strategy, None);
    h.enter();
    let fx = h.key(Key::ch('y'));
    let j = journal(&fx);
    assert!(
        matches!(
            &j[0],
            Event::StrategyChosen {
                strategy: Strategy::InPlace,
                recommended: Strategy::InPlace,
                deployment: Deployment::Traditional,
                jump: Jump::LtsPair,
                by,
            } if by == "wizard"
        ),
        "{j:?}"
    );
    assert!(
        matches!(&j[1], Event::Step { step, phase, .. } if step == "backup" && phase == "entered"),
        "{j:?}"
    );
    assert_eq!(h.m.step, Step::Backup);
    assert_eq!(h.m.flow(), Flow::InPlace);

    // Resumed from that journal: not asked again, and the banner says which.
    let rb = crate::contract::journal::ReadBack {
        entries: j
            .into_iter()
            .enumerate()
            .map(|(i, event)| crate::contract::journal::Entry {
                seq: i as u64 + 1,
                at: "2026-12-01T10:00:00Z".into(),
                event,
            })
            .collect(),
        warnings: Vec::new(),
    };
    let resume = Resume::from_journal(&rb).expect("an upgrade under way");
    let mut h = H::choosing("clean");
    h.m = Model::new(
        Setup {
            resume: Some(resume),
            ..h.m.setup.clone()
        },
        h.m.now,
    );
    assert!(
        h.m.banner
            .as_deref()
            .is_some_and(|b| b.contains("strategy in-place chosen")),
        "{:?}",
        h.m.banner
    );
    h.read();
    let fx = h.enter();
    assert_eq!(h.m.step, Step::Backup, "the question is not asked again");
    assert!(!journal(&fx)
        .iter()
        .any(|e| matches!(e, Event::StrategyChosen { .. })));
}

#[test]
fn a_preselected_strategy_is_followed_and_a_refused_one_is_not() {
    let mut h = H::choosing("clean");
    h.m.setup.strategy.preselected = Some(Strategy::InPlace);
    h.read();
    let fx = h.enter();
    assert_eq!(h.m.step, Step::Backup);
    assert!(journal(&fx).iter().any(|e| matches!(
        e,
        Event::StrategyChosen { strategy: Strategy::InPlace, by, .. } if by == "wizard --strategy"
    )));
    // Refused at start by the runtime; should the facts change, the step refuses it too.
    let mut h = H::choosing("clean");
    h.m.setup.strategy.preselected = Some(Strategy::BlueGreen);
    h.read();
    let fx = h.enter();
    assert_eq!(h.m.step, Step::Strategy);
    assert!(
        h.notice().starts_with("Refused: --strategy blue-green"),
        "{}",
        h.notice()
    );
    assert!(!journal(&fx)
        .iter()
        .any(|e| matches!(e, Event::StrategyChosen { .. })));
}

#[test]
fn rolling_for_db_less_nodes_shows_the_order_and_ends_there() {
    let mut h = choosing_json(&scenario_json(
        "2.8.5",
        "3.4.2",
        r#", "deployment": "db-less""#,
    ));
    at_strategy(&mut h);
    assert_eq!(h.m.strategy_question(), None, "no database: nothing to ask");
    assert_eq!(h.m.strategy_rows()[0], (Strategy::Rolling, true));
    let text = body(&h);
    assert!(text.contains("Rolling (no migrations)"), "{text}");
    assert!(text.contains("Upgrade the control plane first"), "{text}");
    h.enter();
    let fx = h.key(Key::ch('y'));
    assert!(journal(&fx).iter().any(|e| matches!(
        e,
        Event::StrategyChosen {
            strategy: Strategy::Rolling,
            ..
        }
    )));
    assert_eq!(h.m.step, Step::Done);
    assert!(
        !actions(&fx)
            .iter()
            .any(|e| matches!(e, super::update::Effect::StartKong(..))),
        "rolling runs no migration"
    );
}

/// In-place on the clean scenario, from the Strategy step to Done: writes frozen, every old
/// node stopped before up (refused while one answers), finish right after up, the clock from
/// the gate, the new nodes probed.
#[test]
fn in_place_stops_every_old_node_before_up_and_finishes_right_after() {
    let mut h = H::choosing("clean");
    at_strategy(&mut h);
    h.choose_recommended();
    assert_eq!(h.m.strategy, Some(Strategy::InPlace));
    h.own_backup("snapshot vol-0abc of the db host");
    h.enter();
    assert_eq!(h.m.step, Step::Review);
    h.enter();
    assert_eq!(h.m.step, Step::Freeze);
    let fx = h.enter();
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Confirmed { what, .. } if what.starts_with("configuration writes are frozen"))
    ));
    assert_eq!(h.m.step, Step::Decommission);
    assert_eq!(h.m.flow().title(h.m.step), "Stop old nodes");
    // The old nodes answer: the gate stays shut, and up is refused by name.
    let fx = h.enter();
    assert!(actions(&fx).is_empty());
    assert_eq!(h.m.step, Step::Decommission);
    assert!(h.notice().contains("kong-old-1: answers"), "{}", h.notice());
    let why = gate(&h.m, KongCommand::Up).expect_err("up refused while old nodes answer");
    assert!(
        why.contains("kong-old-1") && why.contains("kong-old-2"),
        "{why}"
    );
    assert_eq!(h.m.downtime(), None, "no downtime before the gate");
    // Every old node stopped: the gate opens, the clock starts (journaled).
    h.tick_all();
    h.read();
    assert!(
        h.m.in_place_blockers().is_empty(),
        "{:?}",
        h.m.in_place_blockers()
    );
    let fx = h.enter();
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Step { step, phase, .. } if step == IN_PLACE_GATE_STEP && phase == "done")
    ));
    assert_eq!(h.m.step, Step::Up);
    assert_eq!(h.m.downtime(), Some(Duration::ZERO));
    h.advance(42.0);
    assert_eq!(h.m.downtime(), Some(Duration::from_secs(42)));
    assert!(
        body(&h).contains("Downtime: 0:42, counting"),
        "{}",
        body(&h)
    );
    // up: the checkpoint-free confirmation, then the run.
    h.enter();
    assert!(matches!(h.m.overlay, Some(Overlay::Confirm { .. })));
    let fx = h.enter();
    h.perform(&fx);
    h.advance(0.5);
    h.read();
    assert!(h.m.outcome.as_ref().is_some_and(|o| o.success));
    // The rollback is the backup now: in-place's way back after up.
    assert!(matches!(
        h.m.reading.as_ref().map(|r| &r.rollback),
        Some(crate::kong::policy::Rollback::InPlaceRestore { .. })
    ));
    h.enter();
    assert_eq!(h.m.step, Step::Finish, "finish right after up");
    assert!(
        finish_blockers(&h.m).is_empty(),
        "{:?}",
        finish_blockers(&h.m)
    );
    h.enter();
    assert!(
        matches!(h.m.overlay, Some(Overlay::Typed { .. })),
        "{}",
        h.notice()
    );
    h.typed("finish");
    let fx = h.enter();
    h.perform(&fx);
    h.advance(0.5);
    h.read();
    assert!(h.m.state().is_some_and(|s| s.up_to_date()));
    h.enter();
    assert_eq!(h.m.step, Step::StartNew);
    // The new nodes answer 3.4.2: proven; the clock stops there.
    assert_eq!(h.m.new_nodes_proven(), Ok(true));
    h.advance(3.0);
    let fx = h.enter();
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Step { step, phase, .. } if step == NEW_NODES_STEP && phase == "done")
    ));
    assert_eq!(h.m.step, Step::Done);
    let d = h.m.downtime().expect("counted");
    h.advance(60.0);
    assert_eq!(
        h.m.downtime(),
        Some(d),
        "the clock stopped at the new nodes"
    );
    assert!(d >= Duration::from_secs(45), "{d:?}");
}

#[test]
fn in_place_keeps_counting_the_downtime_on_resume() {
    let mut h = H::choosing("clean");
    let resume = Resume {
        started: "2026-12-01T10:00:00Z".into(),
        backup: Some(BackupState::Own("snap".into())),
        backup_problem: None,
        steps_done: vec!["backup".into()],
        strategy: Some(Strategy::InPlace),
        gate_secs_ago: Some(90.0),
        dual: Default::default(),
    };
    h.m = Model::new(
        Setup {
            resume: Some(resume),
            ..h.m.setup.clone()
        },
        h.m.now,
    );
    assert_eq!(h.m.downtime(), Some(Duration::from_secs(90)));
    h.advance(10.0);
    assert_eq!(h.m.downtime(), Some(Duration::from_secs(100)));
}

/// A resumed in-place upgrade confirms at "Stop old nodes" what a chosen one does: no traffic
/// shift to new nodes, no writes paused "until finish" (the shared database's confirmations).
#[test]
fn a_resumed_in_place_run_has_in_places_confirmations() {
    let labels =
        |m: &Model| -> Vec<String> { m.checklist.iter().map(|c| c.label.clone()).collect() };
    let mut chosen = H::choosing("clean");
    at_strategy(&mut chosen);
    chosen.choose_recommended();
    assert_eq!(chosen.m.strategy, Some(Strategy::InPlace));
    let mut h = H::choosing("clean");
    let resume = Resume {
        started: "2026-12-01T10:00:00Z".into(),
        backup: Some(BackupState::Own("snap".into())),
        backup_problem: None,
        steps_done: vec!["backup".into(), "freeze".into()],
        strategy: Some(Strategy::InPlace),
        gate_secs_ago: None,
        dual: Default::default(),
    };
    let fresh = h.m.setup.clone();
    h.m = Model::new(
        Setup {
            resume: Some(resume.clone()),
            ..fresh.clone()
        },
        h.m.now,
    );
    assert_eq!(labels(&h.m), labels(&chosen.m));
    assert!(
        !labels(&h.m)
            .iter()
            .any(|l| l.contains("Traffic is shifted") || l.contains("until finish")),
        "{:?}",
        labels(&h.m)
    );
    // With no node known, the operator's word that the old ones are stopped stays.
    let m = Model::new(
        Setup {
            resume: Some(resume),
            nodes: Vec::new(),
            ..fresh
        },
        h.m.now,
    );
    assert_eq!(
        labels(&m),
        ["Every old-version node is stopped (traditional nodes, control and data planes)"]
    );
}

#[test]
fn in_place_asks_only_who_runs_up_in_the_demo() {
    let mut h = H::choosing("clean");
    h.m.setup.checkpoints = true;
    at_strategy(&mut h);
    h.choose_recommended();
    assert_eq!(
        h.m.open_checkpoint(KongCommand::Up),
        Some(Checkpoint::BeforeUp)
    );
    assert_eq!(h.m.open_checkpoint(KongCommand::Finish), None);
    // Its answer holds for in-place too: it does not promise old nodes serving.
    let q = crate::wizard::text::checkpoint(Checkpoint::BeforeUp);
    assert!(!q.choices[q.right]
        .1
        .contains("while the old nodes keep serving"));
}

#[test]
fn every_scenario_plays_the_recommended_way() {
    for name in crate::training::names() {
        let mut h = H::choosing(name);
        h.read();
        match name {
            // Refused at Preflight (its own test); nothing to choose.
            "pre-1.0" => continue,
            // Its dual-cluster way is walked with its clone in tests_dual; here, without the
            // clone's setup, in-place (the trainee's other choice) must reach Done too.
            "stale-lock" => {
                h.training.db.lock_tables().lock = None;
                h.read();
            }
            _ => {}
        }
        h.play_to_done();
        assert!(
            h.m.state().is_some_and(|s| s.up_to_date()),
            "{name}: up to date at Done"
        );
        if let Some(s) = h.m.strategy {
            assert_eq!(
                s,
                Strategy::InPlace,
                "{name}: no second cluster, or no clone set up"
            );
        }
    }
}

/// In-place on the clean scenario with the new nodes at their own address, played to the
/// Start new nodes step.
fn in_place_at_start_new(new_url: &str, smoke: &[&str]) -> H {
    let mut h = H::choosing("clean");
    h.m.setup.in_place = InPlaceSetup {
        new_admin_urls: vec![new_url.to_string()],
        smoke: smoke.iter().map(|s| s.to_string()).collect(),
    };
    h.m.new_probes = vec![(new_url.to_string(), None)];
    at_strategy(&mut h);
    h.choose_recommended();
    assert_eq!(h.m.strategy, Some(Strategy::InPlace));
    for _ in 0..20 {
        if h.m.step == Step::StartNew {
            return h;
        }
        h.play_one();
    }
    panic!("never at Start new nodes: {:?}", h.m.step);
}

fn new_answer(url: &str, version: &str) -> crate::wizard::update::Msg {
    crate::wizard::update::Msg::Probed(vec![(
        url.to_string(),
        crate::kong::nodes::NodeClass::New {
            version: version.into(),
            hostname: None,
        },
    )])
}

/// Issue 14: the new nodes are the `--new-admin-url` ones, as auto proves them: the old nodes'
/// Admin APIs answering the target (the training nodes, replaced in place, do) prove nothing
/// while the new address is not probed or does not answer.
#[test]
fn in_place_proves_the_new_admin_urls_not_the_old_nodes() {
    let url = "http://new-1:8001";
    let mut h = in_place_at_start_new(url, &[]);
    h.read();
    assert!(
        h.m.nodes
            .iter()
            .any(|n| matches!(n.class, Some(crate::kong::nodes::NodeClass::New { .. }))),
        "an old node's address answers the target"
    );
    let why =
        h.m.new_nodes_proven()
            .expect_err("the new node is not probed");
    assert!(why.contains(url), "{why}");
    let fx = h.enter();
    assert!(journal(&fx).is_empty(), "{fx:?}");
    assert_eq!(h.m.step, Step::StartNew);
    crate::wizard::update::update(
        &mut h.m,
        crate::wizard::update::Msg::Probed(vec![(
            url.into(),
            crate::kong::nodes::NodeClass::Unreachable {
                error: "connection refused".into(),
            },
        )]),
    );
    let why = h.m.new_nodes_proven().expect_err("unreachable");
    assert!(why.contains("connection refused"), "{why}");
    assert!(body(&h).contains(url), "{}", body(&h));
    crate::wizard::update::update(&mut h.m, new_answer(url, "3.4.2"));
    assert_eq!(h.m.new_nodes_proven(), Ok(true));
    let fx = h.enter();
    assert!(journal(&fx).iter().any(|e| matches!(
        e,
        Event::Step { step, phase, detail: Some(d) } if step == NEW_NODES_STEP && phase == "done" && d == "http://new-1:8001: Kong 3.4.2"
    )), "{fx:?}");
    assert_eq!(h.m.step, Step::Done);
}

/// Without --new-admin-url the step says what auto says, and the operator's word is journaled.
#[test]
fn in_place_without_new_admin_urls_says_so_and_asks() {
    let mut h = H::choosing("clean");
    h.m.setup.in_place = InPlaceSetup::default();
    h.m.new_probes.clear();
    at_strategy(&mut h);
    h.choose_recommended();
    for _ in 0..20 {
        if h.m.step == Step::StartNew {
            break;
        }
        h.play_one();
    }
    assert_eq!(h.m.step, Step::StartNew);
    assert!(
        body(&h).contains("none given (--new-admin-url URL)"),
        "{}",
        body(&h)
    );
    let fx = h.enter();
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Confirmed { what, .. } if what.contains("no --new-admin-url"))
    ));
    assert_eq!(h.m.step, Step::Done);
}

/// Issue 14: `--smoke` in the wizard's in-place, after the new nodes answer: a failed smoke
/// keeps Done shut, the clock running and shows the way back (the backup's restore); journaled
/// as auto journals it; passing, the downtime ends there.
#[test]
fn in_place_smoke_tests_block_done_until_they_pass() {
    let url = "http://new-1:8001";
    let smoke = "GET http://new-1:8000/health 200";
    let mut h = in_place_at_start_new(url, &[smoke]);
    crate::wizard::update::update(&mut h.m, new_answer(url, "3.4.2"));
    assert!(body(&h).contains(smoke), "{}", body(&h));
    let fx = h.enter();
    assert!(
        actions(&fx).contains(&crate::wizard::update::Effect::Smoke),
        "{fx:?}"
    );
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Step { step, phase, .. } if step == NEW_NODES_STEP && phase == "done")
    ));
    assert_eq!(h.m.smoke, SmokeState::Running);
    // Enter while they run starts nothing more.
    assert!(actions(&h.enter()).is_empty());
    h.advance(7.0);
    let failed = "smoke GET http://new-1:8000/health: HTTP 503, expected 200".to_string();
    let fx = crate::wizard::update::update(
        &mut h.m,
        crate::wizard::update::Msg::Smoked(vec![Err(failed.clone())]),
    );
    assert!(journal(&fx).iter().any(|e| matches!(
        e,
        Event::Step { step, phase, detail: Some(d) } if step == super::flow::SMOKE_STEP && phase == "failed" && *d == failed
    )), "{fx:?}");
    assert_eq!(h.m.step, Step::StartNew, "a failed smoke test blocks Done");
    assert!(h.notice().contains("roll back"), "{}", h.notice());
    let text = body(&h);
    assert!(text.contains("SMOKE FAILED"), "{text}");
    assert!(text.contains("restoring the backup taken before"), "{text}");
    let before = h.m.downtime().expect("counting");
    h.advance(5.0);
    assert!(
        h.m.downtime().expect("counting") > before,
        "the clock runs on"
    );
    // Fixed: Enter runs them again; passing, Done, and the clock stops there.
    let fx = h.enter();
    assert!(actions(&fx).contains(&crate::wizard::update::Effect::Smoke));
    let fx = crate::wizard::update::update(
        &mut h.m,
        crate::wizard::update::Msg::Smoked(vec![Ok(
            "smoke GET http://new-1:8000/health: 200 as expected".to_string(),
        )]),
    );
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Step { step, phase, .. } if step == super::flow::SMOKE_STEP && phase == "done")
    ));
    assert_eq!(h.m.step, Step::Done);
    let d = h.m.downtime().expect("counted");
    h.advance(30.0);
    assert_eq!(h.m.downtime(), Some(d));
}

/// Issue 14: a kong the killed wizard left running (found at open): the banner says so from
/// the first screen, no key can start another (up refused with the same words), and once it
/// ends the journal notes it and the database is read again.
#[test]
fn a_kong_left_running_by_a_killed_run_is_waited_for_and_nothing_starts_meanwhile() {
    let mut h = H::choosing("clean");
    let seen = EarlierKongSeen {
        what: "kong migrations up".into(),
        pids: vec![4242],
        command_line: "kong migrations up --lock-timeout 4".into(),
    };
    let text = "a kong migrations up started by the previous run (pid 4242) is still running: waiting for it";
    assert_eq!(seen.text(), text);
    h.m = Model::new(
        Setup {
            earlier_kong: Some(seen),
            ..h.m.setup.clone()
        },
        h.m.now,
    );
    assert_eq!(h.m.banner.as_deref(), Some(text));
    at_strategy(&mut h);
    h.choose_recommended();
    for _ in 0..20 {
        if h.m.step == Step::Up {
            break;
        }
        h.play_one();
    }
    assert_eq!(h.m.step, Step::Up, "{}", h.notice());
    assert_eq!(gate(&h.m, KongCommand::Up), Err(text.to_string()));
    let hint = crate::wizard::keys::available(&h.m)
        .into_iter()
        .find(|x| x.matches(Key::plain(crate::wizard::keys::KeyCode::Enter)))
        .expect("Enter");
    assert!(
        hint.refused
            .as_ref()
            .is_some_and(|(_, why)| why.contains(text)),
        "{hint:?}"
    );
    let fx = h.enter();
    assert!(h.m.overlay.is_none(), "no confirmation offered");
    assert!(
        !actions(&fx)
            .iter()
            .any(|e| matches!(e, crate::wizard::update::Effect::StartKong(..))),
        "{fx:?}"
    );
    assert!(h.notice().contains(text), "{}", h.notice());
    // It ended: noted, the banner gone, the database read again; up may run now.
    let fx = crate::wizard::update::update(&mut h.m, crate::wizard::update::Msg::EarlierKongEnded);
    assert!(journal(&fx).iter().any(
        |e| matches!(e, Event::Note { text } if text == "the earlier run's kong ended: kong migrations up --lock-timeout 4")
    ));
    assert!(actions(&fx).contains(&crate::wizard::update::Effect::Refresh));
    assert_ne!(h.m.banner.as_deref(), Some(text));
    h.read();
    assert_eq!(gate(&h.m, KongCommand::Up), Ok(()));
}
