//! Dual-cluster in the wizard, headless: the lts-dual-cluster training scenario driven through
//! the model, the runtime's dual jobs (`tui::dual`, the training side) carried out in step, the
//! journal kept as the app keeps it. Gates, journal-before-action, and resume after each step.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dual::{DualJob, STEP_CLONE, STEP_FINISH, STEP_GUARD, STEP_UP};
use super::keys::{Key, KeyCode};
use super::model::*;
use super::update::{update, Effect, Msg};
use crate::contract::journal::{Entry, Event, ReadBack};
use crate::contract::KongCommand;
use crate::kong::catalog::Catalog;
use crate::kong::state::MigState;
use crate::training::{scenario, Training};
use crate::tui::dual::{run_on_clone, DualRuntime, Slot};
use crate::wizard::Interpreter;

struct HD {
    m: Model,
    t: Arc<Training>,
    rt: Arc<DualRuntime>,
    interp: Interpreter,
    seq: u64,
    /// The live pane reads the clone (after Watch).
    on_clone: bool,
    /// Every journal entry, in the order the app writes them.
    journal: Vec<Event>,
    /// Every action effect carried out, in order.
    acted: Vec<Effect>,
    tokio: tokio::runtime::Runtime,
}

fn setup(t: &Training) -> Setup {
    let mut s = Setup::new("training:lts-dual-cluster", Some(t.target_version));
    s.training = Some("lts-dual-cluster".into());
    s.backup = t.backup_method();
    let c = t.clone.as_ref().expect("a dual-cluster scenario");
    s.dual = Some(super::dual::DualSetup {
        source: "training:lts-dual-cluster".into(),
        clone: crate::tui::dual::clone_name(t),
        clone_database: c.spec.clone_database.clone(),
        replace: false,
        new_admin_urls: c.spec.new_nodes.clone(),
        new_status_urls: Vec::new(),
        smoke: vec!["GET http://kong-new-1:8000/health 200".into()],
    });
    // The scenario's facts, with dual-cluster chosen as the clone's flags choose it in the
    // real wizard (the Strategy step's own tests pick it by hand).
    s.strategy = t.scenario.strategy_facts();
    s.strategy.preselected = Some(crate::kong::strategy::Strategy::DualCluster);
    s
}

impl HD {
    fn new() -> HD {
        let t = Arc::new(
            scenario("lts-dual-cluster")
                .and_then(|s| s.build(Catalog::embedded(), 1.0))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        HD::on(t, None, Vec::new())
    }

    /// A wizard started afresh on the same training cluster, resuming from `journal`.
    fn restart(&self) -> HD {
        let rb = ReadBack {
            entries: self
                .journal
                .iter()
                .enumerate()
                .map(|(i, e)| Entry {
                    seq: i as u64,
                    at: "2026-12-01T10:00:00Z".into(),
                    event: e.clone(),
                })
                .collect(),
            warnings: Vec::new(),
        };
        let resume = Resume::from_journal(&rb);
        HD::on(self.t.clone(), resume, self.journal.clone())
    }

    fn on(t: Arc<Training>, resume: Option<Resume>, journal: Vec<Event>) -> HD {
        let mut s = setup(&t);
        s.resume = resume;
        let rt = Arc::new(DualRuntime::Training {
            t: t.clone(),
            delay: Duration::ZERO,
        });
        HD {
            m: Model::new(s, Instant::now()),
            interp: t.interpreter(t.settings(None, None)),
            t,
            rt,
            seq: 0,
            on_clone: false,
            journal,
            acted: Vec::new(),
            tokio: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn send(&mut self, msg: Msg) {
        let fx = update(&mut self.m, msg);
        self.pump(fx);
    }

    fn read(&mut self) {
        self.seq += 1;
        self.interp.history = Some(self.m.policy_history());
        let db = match (self.on_clone, &self.t.clone) {
            (true, Some(c)) => c.db.clone(),
            _ => self.t.db.clone(),
        };
        let result = db
            .snapshot()
            .map(|s| Box::new(self.interp.reading(&s)))
            .map_err(|e| e.to_string());
        let at = self.m.now;
        self.send(Msg::Snapshot {
            seq: self.seq,
            result,
            at,
        });
    }

    fn advance(&mut self) {
        let now = self.m.now + Duration::from_millis(500);
        update(&mut self.m, Msg::Tick(now));
    }

    fn key(&mut self, k: Key) {
        self.send(Msg::Key(k));
    }
    fn enter(&mut self) {
        self.key(Key::plain(KeyCode::Enter));
    }
    fn typed(&mut self, s: &str) {
        for c in s.chars() {
            self.key(Key::ch(c));
        }
    }

    fn notice(&self) -> String {
        self.m
            .notice
            .as_ref()
            .map(|n| n.text.clone())
            .unwrap_or_default()
    }

    /// Carries out the effects as the app does: journal entries first (each batch's), then the
    /// actions, the dual jobs by the training runtime.
    fn pump(&mut self, fx: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = VecDeque::new();
        for e in fx {
            match e {
                Effect::Journal(ev) => self.journal.push(ev),
                other => queue.push_back(other),
            }
        }
        while let Some(e) = queue.pop_front() {
            self.acted.push(e.clone());
            match e {
                Effect::Refresh => self.read(),
                Effect::Dual(DualJob::Watch) => {
                    // As the poller: the next read is the clone's, and says so first.
                    self.on_clone = true;
                    let from_seq = self.seq + 1;
                    self.send(Msg::Dual(super::dual::DualMsg::Watching { from_seq }));
                    self.read();
                }
                Effect::Dual(DualJob::Kong {
                    id,
                    command,
                    marker,
                }) => self.kong(id, command, marker),
                Effect::Dual(job) => {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    let rt = self.rt.clone();
                    let msg = self
                        .tokio
                        .block_on(async move { rt.report(&job, &tx).await });
                    while let Ok(m) = rx.try_recv() {
                        self.send(m);
                    }
                    if let Some(msg) = msg {
                        self.send(Msg::Dual(msg));
                    }
                }
                Effect::StartKong(..) => panic!("kong started on the source in a dual-cluster run"),
                _ => {}
            }
        }
    }

    fn kong(&mut self, id: u64, command: KongCommand, marker: String) {
        let (run_tx, mut run_rx) = tokio::sync::mpsc::unbounded_channel();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut inv = self.m.setup.invocation.clone();
        inv.command = command;
        let rt = self.rt.clone();
        self.tokio.block_on(run_on_clone(
            rt,
            id,
            command,
            marker,
            inv,
            Slot::default(),
            run_tx,
            tx,
        ));
        let mut runs = Vec::new();
        while let Ok((rid, ev)) = run_rx.try_recv() {
            runs.push(Msg::Run(rid, ev));
        }
        let last = runs.pop();
        for m in runs {
            self.send(m);
        }
        // As the app: the source's check arrives before kong's exit is forwarded.
        while let Ok(m) = rx.try_recv() {
            self.send(m);
        }
        if let Some(m) = last {
            self.send(m);
        }
        self.advance();
        self.read();
    }

    /// Preflight and Backup (the trainee's own), into the dual steps.
    fn walk_to_clone(&mut self) {
        self.read();
        assert_eq!(self.m.step, Step::Preflight);
        assert_eq!(self.m.path, Path::Upgrade);
        assert!(self.m.dual.is_some(), "the clone's steps");
        self.enter();
        assert_eq!(self.m.step, Step::Backup);
        if !self.m.backup_done() {
            self.key(Key::ch(' '));
            self.typed("snapshot vol-0abc");
            self.enter();
        }
        self.enter();
    }

    fn steps_journaled(&self, step: &str) -> Vec<String> {
        self.journal
            .iter()
            .filter_map(|e| match e {
                Event::Step { step: s, phase, .. } if s == step => Some(phase.clone()),
                _ => None,
            })
            .collect()
    }

    fn clone_db_state(&self) -> crate::kong::state::SchemaState {
        let snap = self
            .t
            .clone
            .as_ref()
            .map(|c| c.db.snapshot().expect("clone readable"))
            .expect("clone");
        crate::kong::state::compute(&self.t.target, &snap, Catalog::embedded())
    }

    fn source_state(&self) -> crate::kong::state::SchemaState {
        let snap = self.t.db.snapshot().expect("source readable");
        crate::kong::state::compute(&self.t.target, &snap, Catalog::embedded())
    }

    fn take_clone(&mut self) {
        assert_eq!(self.m.step, Step::Clone);
        self.enter();
        assert!(
            matches!(
                self.m.overlay,
                Some(Overlay::Dual(super::dual::DualAsk::Clone { .. }))
            ),
            "{:?} {}",
            self.m.overlay,
            self.notice()
        );
        self.enter();
        assert!(
            self.m.dual.as_ref().is_some_and(|d| d.record().is_some()),
            "{}",
            self.notice()
        );
    }

    fn run_kong(&mut self) {
        self.enter();
        assert!(
            matches!(
                self.m.overlay,
                Some(Overlay::Dual(super::dual::DualAsk::Run { .. }))
            ),
            "{:?} {}",
            self.m.overlay,
            self.notice()
        );
        self.enter();
        assert!(
            self.m.outcome.as_ref().is_some_and(|o| o.success),
            "{:?}",
            self.m.outcome
        );
    }
}

/// Index of the first matching journal entry / action: the journal must come first.
fn pos_journal(h: &HD, step: &str, phase: &str) -> usize {
    h.journal
        .iter()
        .position(|e| matches!(e, Event::Step { step: s, phase: p, .. } if s == step && p == phase))
        .unwrap_or_else(|| panic!("no {step} {phase} in {:?}", h.journal))
}

#[test]
fn the_clone_is_journaled_before_it_is_taken_and_its_proof_shown() {
    let mut h = HD::new();
    h.walk_to_clone();
    assert_eq!(h.m.step, Step::Clone);
    // Enter looks at the clone's place first (read-only), then asks.
    let fx = update(&mut h.m, Msg::Key(Key::plain(KeyCode::Enter)));
    assert_eq!(fx, vec![Effect::Dual(DualJob::Inspect)]);
    h.pump(fx);
    assert!(matches!(h.m.overlay, Some(Overlay::Dual(_))));
    let fx = update(&mut h.m, Msg::Key(Key::plain(KeyCode::Enter)));
    let started = fx
        .iter()
        .position(|e| matches!(e, Effect::Journal(Event::Step { step, phase, .. }) if step == STEP_CLONE && phase == "started"))
        .expect("clone started journaled");
    let action = fx
        .iter()
        .position(|e| matches!(e, Effect::Dual(DualJob::Clone { .. })))
        .expect("clone job");
    assert!(started < action, "{fx:?}");
    h.pump(fx);
    let rec =
        h.m.dual
            .as_ref()
            .and_then(|d| d.record().cloned())
            .expect("proven");
    assert_eq!(rec.tables.len(), 9);
    let json = h
        .journal
        .iter()
        .find_map(|e| match e {
            Event::Step {
                step,
                phase,
                detail,
            } if step == STEP_CLONE && phase == "done" => detail.clone(),
            _ => None,
        })
        .expect("done with its record");
    assert!(json.contains("\"tables\""), "auto reads it back: {json}");
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("schema_meta identical"), "{screen}");
    assert!(screen.contains("9 tables' rows identical"), "{screen}");
    // The live pane reads the clone from now on.
    assert!(h.on_clone);
}

#[test]
fn an_occupied_clone_target_is_refused_without_clone_replace_and_typed_with_it() {
    let mut h = HD::new();
    if let Some(c) = &h.t.clone {
        c.exists.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    h.walk_to_clone();
    h.enter();
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("--clone-replace"), "{}", h.notice());
    assert!(
        h.steps_journaled(STEP_CLONE).is_empty(),
        "nothing journaled"
    );
    // Enter again refuses at once (the key table), without asking the runtime again.
    let fx = update(&mut h.m, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(fx.is_empty(), "{fx:?}");

    // With --clone-replace: the database's name is typed.
    let mut h = HD::new();
    if let Some(c) = &h.t.clone {
        c.exists.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    if let Some(d) = h.m.dual.as_mut() {
        d.setup.replace = true;
    }
    h.walk_to_clone();
    h.enter();
    assert!(
        matches!(
            &h.m.overlay,
            Some(Overlay::Dual(super::dual::DualAsk::Clone {
                typed: Some(_),
                ..
            }))
        ),
        "{:?}",
        h.m.overlay
    );
    h.typed("kong_nw");
    h.enter();
    assert!(
        h.steps_journaled(STEP_CLONE).is_empty(),
        "a wrong name takes nothing"
    );
    h.key(Key::plain(KeyCode::Backspace));
    h.typed("ew");
    h.enter();
    assert_eq!(h.steps_journaled(STEP_CLONE), ["started", "done"]);
}

#[test]
fn up_and_finish_run_on_the_clone_only_and_the_source_stays() {
    let mut h = HD::new();
    h.walk_to_clone();
    h.take_clone();
    let before = h.source_state();
    h.enter();
    assert_eq!(h.m.step, Step::CloneReview);
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("migrations will run"), "{screen}");
    h.enter();
    assert_eq!(h.m.step, Step::CloneUp);
    // finish is refused before up (no skipping ahead).
    h.run_kong();
    assert!(pos_journal(&h, STEP_UP, "started") < pos_journal(&h, STEP_UP, "done"));
    assert!(!h.clone_db_state().any(MigState::New));
    h.enter();
    // No decommission between them: no old node reads the clone.
    assert_eq!(h.m.step, Step::CloneFinish);
    h.run_kong();
    assert!(h.clone_db_state().up_to_date());
    assert_eq!(h.source_state(), before, "the source is never migrated");
    assert!(h.source_state().any(MigState::New));
    // kong was never started against the source.
    assert!(!h.acted.iter().any(|e| matches!(e, Effect::StartKong(..))));
    let up = h
        .acted
        .iter()
        .position(|e| {
            matches!(
                e,
                Effect::Dual(DualJob::Kong {
                    command: KongCommand::Up,
                    ..
                })
            )
        })
        .expect("up ran");
    let fin = h
        .acted
        .iter()
        .position(|e| {
            matches!(
                e,
                Effect::Dual(DualJob::Kong {
                    command: KongCommand::Finish,
                    ..
                })
            )
        })
        .expect("finish ran");
    assert!(up < fin);
    assert_eq!(h.steps_journaled(STEP_FINISH), ["started", "done"]);
}

#[test]
fn the_gates_refuse_what_is_not_yet_true() {
    let mut h = HD::new();
    h.walk_to_clone();
    // Up on the clone before there is a clone: back past it is the only way (Clone is first).
    h.m.step = Step::CloneUp;
    h.enter();
    assert!(
        h.notice().contains("take the clone first"),
        "{}",
        h.notice()
    );
    h.m.step = Step::CloneFinish;
    h.enter();
    assert!(
        h.notice().contains("take the clone first"),
        "{}",
        h.notice()
    );
    h.m.step = Step::NewCluster;
    h.enter();
    assert!(
        h.notice().contains("finish on the clone first"),
        "{}",
        h.notice()
    );
    h.m.step = Step::Traffic;
    h.key(Key::ch(' '));
    assert!(
        h.notice().contains("prove the new cluster first"),
        "{}",
        h.notice()
    );
    h.enter();
    assert!(h.notice().contains("shift traffic first"), "{}", h.notice());
    h.m.step = Step::Retire;
    h.enter();
    assert!(
        h.notice().contains("all traffic on the new cluster first"),
        "{}",
        h.notice()
    );
    assert!(
        h.journal
            .iter()
            .all(|e| !matches!(e, Event::Step { step, .. } if step.starts_with("dual-cluster"))),
        "nothing journaled: {:?}",
        h.journal
    );
    // The footer and the keys agree: a refused Enter is not offered as an action.
    let enter = crate::wizard::keys::available(&h.m)
        .into_iter()
        .find(|k| k.matches(Key::plain(KeyCode::Enter)))
        .expect("Enter bound");
    assert!(!enter.enabled());
}

/// Walks the whole scenario: the write guard catches the old cluster's write after the clone,
/// a new clone is taken and migrated again, traffic goes over in steps, the old cluster last.
fn walk(h: &mut HD, restart_after_each: bool) -> Vec<Step> {
    walk_until(h, restart_after_each, |_| false)
}

/// [`walk`], stopping before the first move where `stop` holds.
fn walk_until(h: &mut HD, restart_after_each: bool, stop: impl Fn(&HD) -> bool) -> Vec<Step> {
    let mut seen = Vec::new();
    h.walk_to_clone();
    for _ in 0..60 {
        if stop(h) {
            break;
        }
        let step = h.m.step;
        if !seen.contains(&step) {
            seen.push(step);
        }
        match step {
            Step::Done => break,
            Step::Clone if h.m.dual.as_ref().is_some_and(|d| d.record().is_none()) => {
                h.take_clone()
            }
            Step::Clone | Step::CloneReview => h.enter(),
            Step::CloneUp | Step::CloneFinish => {
                let done = h.m.dual.as_ref().is_some_and(|d| {
                    if step == Step::CloneUp {
                        d.up_done
                    } else {
                        d.finish_done
                    }
                });
                if !done {
                    h.run_kong();
                }
                h.enter();
            }
            Step::NewCluster => {
                h.enter();
                h.enter();
            }
            Step::Traffic if h.m.dual.as_ref().is_some_and(|d| d.stale()) => {
                h.key(Key::ch('c'));
                h.typed("kong_new");
                h.enter();
            }
            Step::Traffic
                if h.m
                    .dual
                    .as_ref()
                    .is_some_and(|d| d.next_traffic().is_some()) =>
            {
                h.key(Key::ch(' '))
            }
            Step::Traffic => h.enter(),
            Step::Retire => {
                h.enter();
                h.typed("retire");
                h.enter();
            }
            s => panic!("at {s:?}: {}", h.notice()),
        }
        // (Review to Up is no progress to resume: a restart shows the Review again.)
        if restart_after_each && h.m.step != step && !matches!(h.m.step, Step::Done | Step::CloneUp)
        {
            // A clone proven and not yet gone past resumes at its Review.
            let at = match h.m.step {
                Step::Clone if h.m.dual.as_ref().is_some_and(|d| d.record().is_some()) => {
                    Step::CloneReview
                }
                s => s,
            };
            let mut again = h.restart();
            again.walk_to_clone();
            assert_eq!(again.m.step, at, "a restart resumes where it was");
            // Entering did not repeat an action (a clone, a kong run).
            assert!(
                !again.acted.iter().any(|e| matches!(
                    e,
                    Effect::Dual(DualJob::Clone { .. } | DualJob::Kong { .. })
                )),
                "{:?}",
                again.acted
            );
            *h = again;
        }
    }
    seen
}

#[test]
fn the_lts_dual_cluster_scenario_walks_to_done_and_the_guard_catches_the_write() {
    let mut h = HD::new();
    let seen = walk(&mut h, false);
    assert_eq!(h.m.step, Step::Done, "{}", h.notice());
    assert_eq!(
        seen,
        [
            Step::Clone,
            Step::CloneReview,
            Step::CloneUp,
            Step::CloneFinish,
            Step::NewCluster,
            Step::Traffic,
            Step::Retire,
            Step::Done
        ]
    );
    // The guard found the write, named the table, and a second clone was taken.
    let stale = h.journal.iter().find_map(|e| match e {
        Event::Step {
            step,
            phase,
            detail,
        } if step == STEP_GUARD && phase == "failed" => detail.clone(),
        _ => None,
    });
    assert!(
        stale.as_deref().is_some_and(|d| d.contains("services")),
        "{stale:?}"
    );
    // Traffic's own tables are listed as expected to diverge, never as stale.
    assert!(
        stale
            .as_deref()
            .is_some_and(|d| d.contains("Expected to diverge")
                && d.contains("ratelimiting_metrics")
                && !d.contains("  ratelimiting_metrics:")),
        "{stale:?}"
    );
    assert_eq!(
        h.steps_journaled(STEP_CLONE),
        ["started", "done", "started", "done"]
    );
    assert_eq!(
        h.steps_journaled(STEP_UP),
        ["started", "done", "started", "done"]
    );
    for pct in super::dual::TRAFFIC {
        assert_eq!(h.steps_journaled(&super::dual::traffic_step(pct)), ["done"]);
    }
    assert_eq!(h.steps_journaled(super::dual::STEP_RETIRE), ["done"]);
    // The traffic steps come after the guard's clean verdict on the new clone.
    assert!(
        pos_journal(&h, STEP_GUARD, "failed")
            < pos_journal(&h, &super::dual::traffic_step(1), "done")
    );
    assert!(h.journal.iter().any(|e| matches!(e, Event::Closed { .. })));
    assert!(
        h.source_state().any(MigState::New),
        "the source was never migrated"
    );
    // The debrief names every dual step.
    let done = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(done.contains("Done"), "{done}");
}

#[test]
fn killed_after_any_step_it_resumes_there_without_repeating_one() {
    let mut h = HD::new();
    walk(&mut h, true);
    assert_eq!(h.m.step, Step::Done, "{}", h.notice());
    // Each clone and each kong run happened once per clone, however often it restarted.
    assert_eq!(
        h.steps_journaled(STEP_CLONE),
        ["started", "done", "started", "done"]
    );
    assert_eq!(
        h.steps_journaled(STEP_FINISH),
        ["started", "done", "started", "done"]
    );
}

#[test]
fn the_rollback_is_traffic_back_until_retired() {
    let mut h = HD::new();
    h.walk_to_clone();
    h.take_clone();
    h.key(Key::ch('b'));
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30).replace(['\n', '│'], " ");
    let flat = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("send all traffic"), "{screen}");
    // The Strategy step is on the flow before Backup: Clone is the fourth step.
    assert!(screen.contains("step 4/11: Clone"), "{screen}");
}

#[test]
fn while_the_clone_streams_the_screen_says_so_with_its_clock_and_enter_waits() {
    let mut h = HD::new();
    h.walk_to_clone();
    h.enter();
    // The clone job is not carried out: it is still streaming.
    let fx = update(&mut h.m, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Dual(DualJob::Clone { .. }))));
    update(
        &mut h.m,
        Msg::Dual(super::dual::DualMsg::CloneLine(
            "Streaming pg_dump | pg_restore at the source's snapshot 3-1B-1...".into(),
        )),
    );
    h.m.now += Duration::from_secs(12);
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(
        screen.contains("streaming pg_dump | pg_restore … 12 s"),
        "{screen}"
    );
    assert!(screen.contains("snapshot 3-1B-1"), "{screen}");
    let fx = update(&mut h.m, Msg::Key(Key::plain(KeyCode::Enter)));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(h.notice().contains("streaming"), "{}", h.notice());
}

/// A probe or a write-guard check in flight belongs to the clone it started on: `c` (a new
/// clone) waits until it ends, so its late report cannot prove or judge the new clone (review).
#[test]
fn a_new_clone_waits_for_a_probe_or_guard_in_flight() {
    let mut h = HD::new();
    walk_until(&mut h, false, |h| {
        h.m.step == Step::Traffic && h.m.dual.as_ref().is_some_and(|d| d.stale())
    });
    assert_eq!(h.m.step, Step::Traffic, "{}", h.notice());
    for busy in ["probing", "guarding"] {
        {
            let d = h.m.dual.as_mut().expect("dual");
            d.probing = busy == "probing";
            d.guard_for = (busy == "guarding").then_some(super::dual::GuardFor::Retire);
        }
        let before = h.acted.len();
        h.key(Key::ch('c'));
        assert!(h.notice().contains("busy"), "{busy}: {}", h.notice());
        assert!(
            !h.acted[before..]
                .iter()
                .any(|e| matches!(e, Effect::Dual(DualJob::Clone { .. }))),
            "{busy}: {:?}",
            &h.acted[before..]
        );
        assert!(h.m.overlay.is_none(), "{busy}: no name asked while busy");
    }
    // Once nothing is in flight, c asks for the name as before.
    let d = h.m.dual.as_mut().expect("dual");
    d.probing = false;
    d.guard_for = None;
    h.key(Key::ch('c'));
    assert!(h.m.overlay.is_some(), "{}", h.notice());
}

/// The demo asks its checkpoints in dual-cluster too (issue 12): before `up` on the clone
/// (where it runs) and before `finish` (why it may follow at once); a wrong answer runs nothing,
/// the right one opens the run's confirmation, and each is asked once.
#[test]
fn the_demo_asks_where_up_runs_and_why_finish_follows_on_the_clone() {
    let mut h = HD::new();
    h.m.setup.checkpoints = true;
    walk_until(&mut h, false, |h| h.m.step == Step::CloneUp);
    assert_eq!(h.m.step, Step::CloneUp, "{}", h.notice());
    for (command, which, wrong, right) in [
        (KongCommand::Up, Checkpoint::BeforeCloneUp, '1', '2'),
        (KongCommand::Finish, Checkpoint::BeforeCloneFinish, '1', '3'),
    ] {
        h.enter();
        assert!(
            matches!(h.m.overlay, Some(Overlay::Checkpoint { which: w, .. }) if w == which),
            "{command:?}: {:?}",
            h.m.overlay
        );
        let before = h.acted.len();
        h.key(Key::ch(wrong));
        h.enter();
        assert!(
            matches!(h.m.overlay, Some(Overlay::Checkpoint { .. })),
            "a wrong answer does not go on: {:?}",
            h.m.overlay
        );
        h.key(Key::ch(right));
        h.enter();
        assert!(
            matches!(
                h.m.overlay,
                Some(Overlay::Dual(super::dual::DualAsk::Run { command: c, .. })) if c == command
            ),
            "{command:?}: {:?} {}",
            h.m.overlay,
            h.notice()
        );
        assert!(
            !h.acted[before..]
                .iter()
                .any(|e| matches!(e, Effect::Dual(DualJob::Kong { .. }))),
            "nothing ran before the confirmation"
        );
        h.enter();
        assert!(
            h.m.outcome.as_ref().is_some_and(|o| o.success),
            "{:?}",
            h.m.outcome
        );
        h.enter();
    }
    assert_eq!(h.m.step, Step::NewCluster, "{}", h.notice());
    assert_eq!(
        h.m.checkpoints_passed,
        vec![Checkpoint::BeforeCloneUp, Checkpoint::BeforeCloneFinish]
    );
}

/// A journal that chose another strategy wins over the clone's flags: resumed in-place with
/// `--clone-database` given, the wizard follows in-place and never walks into the clone's
/// steps (review).
#[test]
fn a_journal_that_chose_in_place_is_not_walked_into_the_clone() {
    use crate::kong::strategy::{Deployment, Jump, Strategy};
    let t = Arc::new(
        scenario("lts-dual-cluster")
            .and_then(|s| s.build(Catalog::embedded(), 1.0))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let journal = vec![Event::StrategyChosen {
        strategy: Strategy::InPlace,
        recommended: Strategy::DualCluster,
        deployment: Deployment::Traditional,
        jump: Jump::LtsPair,
        by: "wizard".into(),
    }];
    let rb = ReadBack {
        entries: journal
            .iter()
            .enumerate()
            .map(|(i, e)| Entry {
                seq: i as u64,
                at: "2026-12-01T10:00:00Z".into(),
                event: e.clone(),
            })
            .collect(),
        warnings: Vec::new(),
    };
    let mut h = HD::on(t, Resume::from_journal(&rb), journal);
    assert!(
        h.m.dual.is_none(),
        "the clone's steps are not this upgrade's"
    );
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    h.enter();
    assert_eq!(h.m.step, Step::Backup, "{}", h.notice());
    h.key(Key::ch(' '));
    h.typed("snapshot vol-0abc");
    h.enter();
    h.enter();
    assert_eq!(h.m.flow(), crate::wizard::flow::Flow::InPlace);
    assert_eq!(h.m.step, Step::Review, "{}", h.notice());
    assert!(
        !h.acted
            .iter()
            .any(|e| matches!(e, Effect::Dual(DualJob::Clone { .. }))),
        "{:?}",
        h.acted
    );
}

/// Read-only records nothing: a traffic step cannot be ticked (a tick is journaled).
#[test]
fn read_only_ticks_no_traffic_step() {
    let mut h = HD::new();
    walk_until(&mut h, false, |h| h.m.step == Step::Traffic);
    assert_eq!(h.m.step, Step::Traffic, "{}", h.notice());
    h.m.setup.read_only = true;
    let before = h.journal.len();
    h.key(Key::ch(' '));
    assert!(h.notice().contains("read-only"), "{}", h.notice());
    assert_eq!(h.journal.len(), before, "nothing journaled");
    assert!(h
        .m
        .dual
        .as_ref()
        .is_some_and(|d| d.next_traffic() == Some(0)));
}

/// Issue 14: on a stale clone Enter and `c` are one path (the keys table binds both to the new
/// clone; the place is looked at, then the clone's name typed is the consent): at Traffic, where
/// the write guard said so, and at the Clone step a resumed run enters, without
/// --clone-replace (the guard's verdict is the trigger).
#[test]
fn on_a_stale_clone_enter_and_c_take_a_new_one_the_same_way() {
    let mut h = HD::new();
    walk_until(&mut h, false, |h| {
        h.m.step == Step::Traffic && h.m.dual.as_ref().is_some_and(|d| d.stale())
    });
    assert_eq!(h.m.step, Step::Traffic, "{}", h.notice());
    let keys = crate::wizard::keys::available(&h.m);
    let of = |k: Key| {
        keys.iter()
            .find(|x| x.matches(k))
            .map(|x| (x.action, x.label.to_string(), x.refused.clone()))
    };
    let enter = of(Key::plain(KeyCode::Enter)).expect("Enter bound");
    assert_eq!(enter, of(Key::ch('c')).expect("c bound"));
    assert_eq!(enter.0, crate::wizard::keys::Action::Reclone);
    assert_eq!(enter.1, "new clone");
    assert!(enter.2.is_none(), "{enter:?}");
    for key in [Key::plain(KeyCode::Enter), Key::ch('c')] {
        let before = h.acted.len();
        h.key(key);
        assert!(
            matches!(h.acted[before..], [Effect::Dual(DualJob::Inspect)]),
            "{key}: {:?}",
            &h.acted[before..]
        );
        assert!(
            matches!(
                h.m.overlay,
                Some(Overlay::Dual(super::dual::DualAsk::Clone {
                    typed: Some(_),
                    replace: true,
                    ..
                }))
            ),
            "{key}: {:?} {}",
            h.m.overlay,
            h.notice()
        );
        h.key(Key::plain(KeyCode::Esc));
        assert!(h.m.overlay.is_none());
    }
    // Restarted: the Clone step; Enter asks for the name (no --clone-replace), and takes it.
    let mut again = h.restart();
    again.walk_to_clone();
    assert_eq!(again.m.step, Step::Clone, "{}", again.notice());
    again.enter();
    assert!(
        matches!(
            again.m.overlay,
            Some(Overlay::Dual(super::dual::DualAsk::Clone {
                typed: Some(_),
                ..
            }))
        ),
        "{:?} {}",
        again.m.overlay,
        again.notice()
    );
    again.typed("kong_new");
    again.enter();
    assert!(
        again
            .acted
            .iter()
            .any(|e| matches!(e, Effect::Dual(DualJob::Clone { replace: true }))),
        "{:?}",
        again.acted
    );
    // The journal's clone starts say what was there: nothing at first, then what the new
    // clone replaced (the stale one's tables and rows), never "absent or empty".
    let starts: Vec<String> = again
        .journal
        .iter()
        .filter_map(|e| match e {
            Event::Step {
                step,
                phase,
                detail: Some(d),
            } if step == STEP_CLONE && phase == "started" => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(starts[0].ends_with("(absent at start)"), "{starts:?}");
    let tables = again.t.clone.as_ref().expect("clone").source_marks();
    let rows: i64 = tables.iter().map(|t| t.rows).sum();
    assert!(
        starts[1].ends_with(&format!(
            "(replaced what it held: {} tables / {rows} rows)",
            tables.len()
        )),
        "{starts:?}"
    );
    // Not ours: a restart now would not replace it without being asked.
    let restarted = again.restart();
    assert!(!restarted.m.dual.as_ref().expect("dual").ours);
}

/// Issue 14: a kong the killed wizard left running on the clone (found at open by its marker,
/// as auto finds it): `up` on the clone is refused with the waiting words until it ended.
#[test]
fn a_kong_left_running_on_the_clone_blocks_another_until_it_ends() {
    let mut h = HD::new();
    walk_until(&mut h, false, |h| h.m.step == Step::CloneUp);
    assert_eq!(h.m.step, Step::CloneUp, "{}", h.notice());
    let seen = EarlierKongSeen {
        what: "kong migrations up on the clone".into(),
        pids: vec![77],
        command_line: "dual-cluster up".into(),
    };
    h.m.earlier_kong = Some(seen.clone());
    let before = h.acted.len();
    h.enter();
    assert!(h.m.overlay.is_none(), "{:?}", h.m.overlay);
    assert!(h.notice().contains(&seen.text()), "{}", h.notice());
    assert!(
        !h.acted[before..]
            .iter()
            .any(|e| matches!(e, Effect::Dual(DualJob::Kong { .. }))),
        "{:?}",
        &h.acted[before..]
    );
    h.send(Msg::EarlierKongEnded);
    assert!(h.m.earlier_kong.is_none());
    h.enter();
    assert!(h.m.overlay.is_some(), "{}", h.notice());
}

/// The typed entries of the dual-cluster questions (the clone's name, `retire`) stay in view on
/// a small terminal: the explanation scrolls, the line being typed does not.
#[test]
fn the_typed_entries_stay_in_view_on_a_small_terminal() {
    let mut h = HD::new();
    walk_until(&mut h, false, |h| {
        h.m.step == Step::Traffic && h.m.dual.as_ref().is_some_and(|d| d.stale())
    });
    h.key(Key::ch('c'));
    h.typed("kong_n");
    // A wrong name: the error line too.
    h.enter();
    h.m.size = (60, 16);
    let screen = crate::tui::view::render_to_string(&h.m, 60, 16);
    assert!(screen.contains("> kong_n_"), "{screen}");
    assert!(screen.contains("exactly"), "{screen}");
    assert!(screen.contains("Esc cancels"), "{screen}");
    assert!(screen.contains("Type 'kong_new'"), "{screen}");
    // Full size, all of it: the new nodes run on the clone being replaced.
    let full = crate::tui::view::render_to_string(&h.m, 100, 40);
    assert!(full.contains("Send all traffic back"), "{full}");
    h.key(Key::plain(KeyCode::Esc));
    h.m.overlay = Some(Overlay::Dual(super::dual::DualAsk::Retire {
        typed: "reti".into(),
        error: None,
    }));
    let screen = crate::tui::view::render_to_string(&h.m, 60, 16);
    assert!(screen.contains("> reti_"), "{screen}");
}

/// The clone's gate is the policy's (`kong::policy::clone_refusal`, auto's too): any finding it
/// blocks on refuses kong on the clone, by its title; an interrupted 016 in the clone's words
/// (a new clone under another name). Nothing starts either way.
#[test]
fn any_blocking_finding_on_the_clone_refuses_kong_there() {
    use crate::kong::diagnose::{Finding, Severity};
    use crate::kong::policy::FindingId;
    let mut h = HD::new();
    walk_until(&mut h, false, |h| h.m.step == Step::CloneUp);
    assert_eq!(h.m.step, Step::CloneUp, "{}", h.notice());
    let finding = |id, title: &str| Finding {
        id,
        severity: Severity::Error,
        title: title.into(),
        seen: vec![],
        why: String::new(),
        remedy: vec![],
    };
    for (f, says) in [
        (
            finding(FindingId::LockNoTtl, "A migrations lock row without a ttl"),
            "A migrations lock row without a ttl: the finding says what to do first",
        ),
        (
            finding(FindingId::PathsHalfRewritten, "An interrupted up"),
            "take a new clone under another name",
        ),
    ] {
        h.m.findings = vec![f];
        let before = h.acted.len();
        h.enter();
        assert!(h.m.overlay.is_none(), "{:?}", h.m.overlay);
        assert!(h.notice().contains(says), "{}", h.notice());
        assert!(
            !h.acted[before..]
                .iter()
                .any(|e| matches!(e, Effect::Dual(DualJob::Kong { .. }))),
            "{:?}",
            &h.acted[before..]
        );
    }
    h.m.findings.clear();
    h.enter();
    assert!(h.m.overlay.is_some(), "{}", h.notice());
}
