//! The model driven headless, message by message, through every path. The database is the
//! training cluster's `MemoryDb`; kong is the training kong run to completion between messages,
//! or events written by hand where a test needs a particular failure.

use std::time::{Duration, Instant};

use super::keys::{Key, KeyCode};
use super::model::*;
use super::testkit::{actions, journal, H};
use super::update::{finish_blockers, update, Effect, Msg};
use crate::contract::journal::Event;
use crate::contract::{Invocation, KongCommand, RunEvent, Stream};
use crate::kong::state::MigState;
use crate::training::scenario;

#[test]
fn clean_upgrade_to_done() {
    let mut h = H::scenario("clean");
    assert_eq!(h.m.step, Step::Connecting);
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    assert_eq!(h.m.path, Path::Upgrade);

    h.enter();
    assert_eq!(h.m.step, Step::Backup);
    // No backup confirmed: no way on.
    assert!(h.enter().is_empty());
    assert_eq!(h.m.step, Step::Backup);
    assert!(h.notice().contains("backup"));
    h.own_backup("nightly dump 2026-11-21");
    h.enter();
    assert_eq!(h.m.step, Step::Review);
    assert_eq!(h.m.new_migrations().len(), 15);
    h.enter();
    assert_eq!(h.m.step, Step::Up);

    // Nothing runs without a confirmation that shows the command line.
    let fx = h.enter();
    assert!(fx.is_empty());
    assert_eq!(
        h.m.overlay,
        Some(Overlay::Confirm {
            command: KongCommand::Up,
            command_line: "kong migrations up".into()
        })
    );
    let fx = h.enter();
    assert_eq!(
        actions(&fx),
        vec![Effect::StartKong(1, Invocation::new(KongCommand::Up))]
    );
    assert!(h.m.running());
    let fx = h.perform(&fx);
    assert_eq!(actions(&fx), vec![Effect::Refresh]);
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.text == "core migrated up to: 016_280_to_300 (pending)"));
    h.advance(0.2);
    h.read();
    let o = h.m.outcome.clone().expect("judged after the re-read");
    assert!(o.success, "{o:?}");
    assert!(
        o.text.contains("4 two-phase migrations wait for finish"),
        "{}",
        o.text
    );
    h.enter();
    assert_eq!(h.m.step, Step::Decommission);

    // Finish is refused while an old node answers, and while the checklist is open.
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    assert!(h.enter().is_empty());
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("finish refused"), "{}", h.notice());
    let b = finish_blockers(&h.m);
    assert!(
        b.contains(&"kong-old-1: OLD 2.8.5: still serving".to_string()),
        "{b:?}"
    );
    assert!(b.iter().any(|x| x.starts_with("not confirmed")), "{b:?}");
    h.esc();
    assert_eq!(h.m.step, Step::Decommission);
    h.tick_all();
    assert!(h.m.checklist.iter().all(|c| c.done));
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    h.enter();
    assert!(matches!(h.m.overlay, Some(Overlay::Typed { .. })));
    h.typed("finis");
    let fx = h.enter();
    assert!(fx.is_empty(), "a wrong word runs nothing");
    assert!(matches!(
        &h.m.overlay,
        Some(Overlay::Typed { error: Some(_), .. })
    ));
    h.typed("h");
    let fx = h.enter();
    assert_eq!(
        actions(&fx),
        vec![Effect::StartKong(2, Invocation::new(KongCommand::Finish))]
    );
    h.perform(&fx);
    h.advance(0.2);
    h.read();
    assert!(h.m.outcome.as_ref().is_some_and(|o| o.success));
    assert!(h.m.state().is_some_and(|s| s.up_to_date()));
    h.enter();
    assert_eq!(h.m.step, Step::Done);
    assert_eq!(h.enter(), vec![Effect::Quit]);
    assert!(h.m.quit);
}

#[test]
fn bootstrap_path_on_an_empty_database() {
    let mut h = H::json(
        r#"{"name":"empty","title":"empty","summary":"","target":"3.4.2",
            "nodes":[{"name":"kong-new-1","version":"3.4.2"}]}"#,
    );
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    assert_eq!(h.m.path, Path::Bootstrap);
    assert!(h
        .m
        .findings
        .iter()
        .any(|f| f.id == crate::kong::policy::FindingId::NeedsBootstrap));
    h.enter();
    assert_eq!(h.m.step, Step::Bootstrap);
    h.enter();
    assert!(matches!(
        h.m.overlay,
        Some(Overlay::Confirm {
            command: KongCommand::Bootstrap,
            ..
        })
    ));
    let fx = h.enter();
    h.perform(&fx);
    h.read();
    assert!(h.m.outcome.as_ref().is_some_and(|o| o.success));
    h.enter();
    assert_eq!(h.m.step, Step::Done);
}

#[test]
fn a_pre_1_0_database_is_never_bootstrapped() {
    let mut h = H::scenario("pre-1.0");
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    let fx = h.enter();
    assert!(fx.is_empty());
    assert_eq!(h.m.step, Step::Preflight);
    let n = h.m.notice.clone().expect("refusal");
    assert_eq!(n.level, NoticeLevel::Block);
    assert!(
        n.text
            .contains("stops here: Kong 0.x database: never bootstrap it"),
        "{}",
        n.text
    );
    // kong::diagnose's finding, the one `kongrade diagnose` prints.
    let f =
        h.m.findings
            .iter()
            .find(|f| f.id == crate::kong::policy::FindingId::LegacyDatabase)
            .expect("finding");
    assert!(
        f.remedy.iter().any(|r| r.contains("with Kong 1.5")),
        "{:?}",
        f.remedy
    );
    assert_eq!(h.m.path, Path::Upgrade, "never the bootstrap path");
    // Even forced onto the step, the gate holds.
    h.m.step = Step::Bootstrap;
    h.enter();
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("pre-1.0"), "{}", h.notice());
}

#[test]
fn pending_migrations_enter_at_decommission() {
    let mut h = H::scenario("unfinished");
    h.read();
    assert_eq!(h.m.step, Step::Decommission);
    assert!(h
        .m
        .entry_note
        .as_deref()
        .is_some_and(|n| n.contains("already ran")));
    h.tick_all();
    h.enter();
    h.enter();
    h.typed("finish");
    let fx = h.enter();
    h.perform(&fx);
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Done);
}

#[test]
fn a_live_lock_waits_and_continues_when_released() {
    let mut h = H::scenario("stale-lock");
    h.read();
    assert_eq!(h.m.step, Step::Waiting);
    assert!(h
        .m
        .findings
        .iter()
        .any(|f| f.id == crate::kong::policy::FindingId::LockLive));
    let left = h.m.lock_seconds_left().expect("countdown");
    h.advance(5.0);
    let later = h.m.lock_seconds_left().expect("countdown");
    assert!((left - later - 5.0).abs() < 0.01, "{left} {later}");
    // Enter does nothing but explain; reads while the lock is held keep waiting.
    assert!(h.enter().is_empty());
    h.read();
    assert_eq!(h.m.step, Step::Waiting);
    // The lock expires.
    h.training.db.lock_tables().lock = Some(crate::store::memory::MemoryLock {
        owner: "5c1e0a9e-killed-run".into(),
        expires: Instant::now() - Duration::from_secs(1),
    });
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    assert!(h
        .m
        .findings
        .iter()
        .any(|f| f.id == crate::kong::policy::FindingId::LockStale));
}

#[test]
fn kong_failing_shows_the_failure_and_the_reread_state_without_retrying() {
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    h.own_backup("nightly dump");
    h.enter();
    h.enter();
    h.enter();
    let fx = h.enter();
    assert_eq!(actions(&fx).len(), 1);
    h.run(
        1,
        RunEvent::Started {
            command_line: "kong migrations up".into(),
        },
    );
    // Two migrations ran before the failure: they stay recorded.
    {
        let mut t = h.training.db.lock_tables();
        let meta = t.schema_meta.as_mut().expect("bootstrapped");
        let core = meta.get_mut("core").expect("core row");
        core.pending
            .get_or_insert_with(Vec::new)
            .push("016_280_to_300".into());
        core.executed
            .get_or_insert_with(Vec::new)
            .push("017_300_to_310".into());
    }
    h.run(
        1,
        RunEvent::Line {
            stream: Stream::Stderr,
            text: "Error: [PostgreSQL error] failed to run migration '018_310_to_320' up: timeout"
                .into(),
        },
    );
    let fx = h.run(
        1,
        RunEvent::Exited {
            code: Some(1),
            signal: None,
        },
    );
    assert_eq!(actions(&fx), vec![Effect::Refresh]);
    assert!(h.m.outcome.is_none(), "judged only after the re-read");
    h.advance(0.5);
    let fx = h.read();
    assert!(actions(&fx).is_empty(), "no automatic retry");
    let o = h.m.outcome.clone().expect("judged");
    assert!(!o.success);
    assert!(o.text.contains("exited with code 1"), "{}", o.text);
    assert!(o.text.contains("1 pending, 13 new"), "{}", o.text);
    assert_eq!(h.m.step, Step::Up);
    assert!(h.m.log.lines.iter().any(|l| l.kind == LogKind::Stderr));
    // Running again asks again: Kong itself now refuses up (pending), and the wizard says so.
    let fx = h.enter();
    assert!(fx.is_empty());
    assert!(h.notice().contains("pending"), "{}", h.notice());
}

#[test]
fn kong_exiting_0_without_doing_anything_is_not_success() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    h.run(
        1,
        RunEvent::Line {
            stream: Stream::Stdout,
            text: "aborted: another node is performing database changes".into(),
        },
    );
    h.run(
        1,
        RunEvent::Exited {
            code: Some(0),
            signal: None,
        },
    );
    h.read();
    let o = h.m.outcome.clone().expect("judged");
    assert!(!o.success);
    assert!(
        o.text.contains("another node held the migrations lock"),
        "{}",
        o.text
    );
}

#[test]
fn a_read_started_before_the_exit_does_not_judge_the_run() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    let before = h.m.now;
    h.advance(1.0);
    h.run(
        1,
        RunEvent::Exited {
            code: Some(0),
            signal: None,
        },
    );
    h.seq += 1;
    let reading = h
        .training
        .db
        .snapshot()
        .map(|s| Box::new(h.interpreter.reading(&s)))
        .map_err(|e| e.to_string());
    update(
        &mut h.m,
        Msg::Snapshot {
            seq: h.seq,
            result: reading,
            at: before,
        },
    );
    assert!(h.m.outcome.is_none());
    h.read();
    assert!(h.m.outcome.is_some());
}

#[test]
fn ctrl_c_during_up_asks_first() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    assert!(h.m.running());
    let ctrl_c = Key::ctrl('c');
    assert!(h.key(ctrl_c).is_empty());
    assert_eq!(h.m.overlay, Some(Overlay::LeaveWhileRunning));
    // Esc keeps it running.
    assert!(h.esc().is_empty());
    assert!(h.m.overlay.is_none() && h.m.running() && !h.m.quit);
    // q (back) while running asks too.
    h.key(Key::ch('q'));
    assert_eq!(h.m.overlay, Some(Overlay::LeaveWhileRunning));
    // i interrupts and stays.
    assert_eq!(h.key(Key::ch('i')), vec![Effect::Interrupt(1)]);
    assert!(!h.m.quit);
    // A second Ctrl-C in the dialog leaves, interrupting kong first.
    h.key(ctrl_c);
    assert_eq!(h.key(ctrl_c), vec![Effect::Interrupt(1), Effect::Quit]);
    assert!(h.m.quit);
    assert_eq!(h.m.exit_code, 130, "leaving while kong runs exits non-zero");
}

#[test]
fn kill_has_its_own_key_and_its_own_question() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    h.key(Key::ctrl('c'));
    // k is "up" among the vim keys: in this dialog it does nothing.
    assert!(h.key(Key::ch('k')).is_empty());
    assert_eq!(h.m.overlay, Some(Overlay::LeaveWhileRunning));
    // K asks; only y kills.
    assert!(h.key(Key::ch('K')).is_empty());
    assert_eq!(h.m.overlay, Some(Overlay::ConfirmKill));
    assert!(h.key(Key::ch('n')).is_empty());
    assert!(h.m.overlay.is_none() && h.m.running());
    h.key(Key::ctrl('c'));
    h.key(Key::ch('K'));
    assert_eq!(h.key(Key::ch('y')), vec![Effect::Kill(1)]);
}

#[test]
fn leaving_asks_whenever_something_happened() {
    // Nothing happened yet: q and Ctrl-C leave at once.
    let mut h = H::scenario("clean");
    h.read();
    assert_eq!(h.key(Key::ch('q')), vec![Effect::Quit]);
    // Past Preflight: q goes back, and at Preflight leaving asks.
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Backup);
    // Back walks the flow: Backup, the Strategy step, Preflight.
    assert!(actions(&h.key(Key::ch('q'))).is_empty());
    assert_eq!(h.m.step, Step::Strategy);
    assert!(actions(&h.key(Key::ch('q'))).is_empty());
    assert_eq!(h.m.step, Step::Preflight);
    assert!(actions(&h.key(Key::ch('q'))).is_empty());
    assert_eq!(h.m.overlay, Some(Overlay::Leave));
    assert!(h.key(Key::ch('n')).is_empty());
    assert!(!h.m.quit && h.m.overlay.is_none());
    // After up: q on Decommission is back to Up (its result on screen), never leaving.
    let mut h = H::scenario("clean");
    h.through_up();
    assert!(actions(&h.key(Key::ch('q'))).is_empty());
    assert_eq!(h.m.step, Step::Up);
    assert!(h.m.outcome.as_ref().is_some_and(|o| o.success));
    assert!(actions(&h.key(Key::ch('q'))).is_empty());
    assert_eq!(h.m.step, Step::Review);
    // Ctrl-C asks; y leaves, exit 0 (nothing runs).
    assert!(h.key(Key::ctrl('c')).is_empty());
    assert_eq!(h.m.overlay, Some(Overlay::Leave));
    assert_eq!(h.key(Key::ch('y')), vec![Effect::Quit]);
    assert_eq!(h.m.exit_code, 0);
}

#[test]
fn behind_terminal_too_small_only_quitting_acts() {
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    h.own_backup("snap-1");
    h.enter();
    h.enter();
    assert_eq!(h.m.step, Step::Up);
    update(
        &mut h.m,
        Msg::Resize {
            width: 50,
            height: 12,
        },
    );
    // Enter, y, Space, t: nothing moves, nothing starts.
    for k in [
        Key::plain(KeyCode::Enter),
        Key::ch('y'),
        Key::ch(' '),
        Key::ch('t'),
        Key::ch('j'),
        Key::plain(KeyCode::Esc),
    ] {
        assert!(h.key(k).is_empty(), "{k}");
        assert_eq!(h.m.step, Step::Up);
        assert!(h.m.overlay.is_none());
    }
    // q asks, as everywhere; the question is answered here too.
    assert!(h.key(Key::ch('q')).is_empty());
    assert_eq!(h.m.overlay, Some(Overlay::Leave));
    let screen = crate::tui::view::render_to_string(&h.m, 50, 12);
    assert!(
        screen.contains("Terminal too small") && screen.contains("Leave kongrade?"),
        "{screen}"
    );
    assert!(h.key(Key::ch('n')).is_empty());
    assert!(h.m.overlay.is_none() && !h.m.quit);
    // Back to a readable size: the keys act again.
    update(
        &mut h.m,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    h.enter();
    assert!(matches!(h.m.overlay, Some(Overlay::Confirm { .. })));
}

#[test]
fn the_lock_an_interrupted_run_left_is_named_as_yours() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    h.key(Key::ctrl('c'));
    assert_eq!(h.key(Key::ch('i')), vec![Effect::Interrupt(1)]);
    // Kong ended by the signal, its lock row left behind with 40 s to live.
    h.training.db.lock_tables().lock = Some(crate::store::memory::MemoryDb::lock_for(
        "kong-run-1",
        Duration::from_secs(40),
    ));
    h.run(
        1,
        RunEvent::Exited {
            code: None,
            signal: Some(2),
        },
    );
    h.advance(0.1);
    h.read();
    assert!(h.enter().is_empty());
    let n = h.notice();
    assert!(
        n.contains("your own up left when it was interrupted"),
        "{n}"
    );
    assert!(n.contains("expires in"), "{n}");
    assert!(!n.contains("another kong"), "{n}");
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("left by your stopped run"), "{screen}");
}

#[test]
fn an_expired_lock_row_is_called_what_diagnose_calls_it() {
    let mut h = H::scenario("clean");
    h.training.db.lock_tables().lock = Some(crate::store::memory::MemoryLock {
        owner: "old".into(),
        expires: Instant::now() - Duration::from_secs(5),
    });
    h.read();
    let f =
        h.m.findings
            .iter()
            .find(|f| f.id == crate::kong::policy::FindingId::LockStale)
            .expect("the stale-lock finding");
    assert_eq!(f.severity, crate::kong::diagnose::Severity::Info);
    assert!(f.title.contains("blocks nothing"), "{}", f.title);
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(screen.contains("blocks nothing"), "{screen}");
    assert!(!screen.contains("harmless"), "{screen}");
}

#[test]
fn ticks_only_when_true() {
    // Resumed at Decommission with no backup taken or recorded: no tick for Backup.
    let mut h = H::scenario("unfinished");
    h.read();
    assert_eq!(h.m.step, Step::Decommission);
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    // Entered with up already run and no strategy recorded: what is left is Decommission and
    // Finish; no step before them is claimed, let alone ticked.
    assert!(
        screen.contains(" ▸ Decommission › Finish › Done"),
        "{screen}"
    );
    assert!(!screen.contains("✓ Backup"), "{screen}");
    // The Decommission gate line agrees with Finish: confirmations open means not open.
    let mut h = H::scenario("clean");
    h.through_up();
    for i in 0..h.m.nodes.len() {
        let name = h.m.nodes[i].name.clone();
        if name.starts_with("kong-old") {
            h.select(&DecomRow::Node(i));
            for _ in 0..3 {
                let fx = h.space();
                h.stop_nodes(&fx);
            }
        }
    }
    h.read();
    assert!(h.m.node_gate().open);
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(
        screen.contains("finish waits for 2 confirmation(s)"),
        "{screen}"
    );
    assert!(!screen.contains("finish gate open"), "{screen}");
    // After an override, Finish says it can run only because of it, naming what still serves.
    let mut h = H::scenario("clean");
    h.through_up();
    for i in 0..h.m.checklist.len() {
        h.select(&DecomRow::General(i));
        h.space();
    }
    h.enter();
    h.key(Key::ch('o'));
    h.typed("canary, drained by hand");
    h.enter();
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(!screen.contains("✓ nothing blocks finish"), "{screen}");
    assert!(
        screen.contains("only because you opened the node gate"),
        "{screen}"
    );
    assert!(screen.contains("kong-old-1"), "{screen}");
    // Done: each run once, with its outcome, and the override.
    h.play_to_done();
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert_eq!(h.m.history.len(), 2, "{:?}", h.m.history);
    assert!(
        screen.contains("✓ kong migrations up: up is done"),
        "{screen}"
    );
    assert!(
        screen.contains("✓ kong migrations finish: finish is done"),
        "{screen}"
    );
    assert_eq!(screen.matches("kong migrations up:").count(), 1, "{screen}");
    assert!(
        screen.contains("opened the finish gate anyway: canary"),
        "{screen}"
    );
    // The debrief is below the fold at 120x40 (marked); a tall terminal shows it whole.
    assert!(
        screen.contains("▼ more below: v shows it in full"),
        "{screen}"
    );
    let screen = crate::tui::view::render_to_string(&h.m, 120, 90);
    assert!(
        screen.contains("Decommission: gone past with an override"),
        "{screen}"
    );
}

#[test]
fn a_manual_node_can_be_removed() {
    let mut h = H::scenario("clean");
    h.through_up();
    h.key(Key::ch('a'));
    h.typed("kong-ld-3");
    h.enter();
    let i =
        h.m.nodes
            .iter()
            .position(|n| n.name == "kong-ld-3")
            .expect("added");
    h.select(&DecomRow::Node(i));
    assert!(h.key(Key::ch('d')).is_empty());
    assert!(matches!(h.m.overlay, Some(Overlay::RemoveNode { .. })));
    let fx = h.key(Key::ch('y'));
    assert!(journal(&fx)
        .iter()
        .any(|e| matches!(e, Event::Note { text } if text.contains("removed: kong-ld-3"))));
    assert!(!h.m.nodes.iter().any(|n| n.name == "kong-ld-3"));
    // A probed node cannot be removed: d says why.
    h.select(&DecomRow::Node(0));
    assert!(h.key(Key::ch('d')).is_empty());
    assert!(h.m.overlay.is_none());
    assert!(
        h.notice().contains("only a node added by hand"),
        "{}",
        h.notice()
    );
}

#[test]
fn stopping_waits_for_out_of_the_load_balancer() {
    let mut h = H::scenario("clean");
    h.through_up();
    let i =
        h.m.nodes
            .iter()
            .position(|n| n.name == "kong-old-1")
            .expect("node");
    h.select(&DecomRow::NodeItem(i, NodeItem::Stopped));
    let fx = h.space();
    assert!(!fx.contains(&Effect::StopNode("kong-old-1".into())));
    assert!(!h.m.nodes[i].checklist.stopped);
    assert!(
        h.notice().contains("first out of the load balancer"),
        "{}",
        h.notice()
    );
    assert!(h.notice().contains("drops its requests"), "{}", h.notice());
}

#[test]
fn ctrl_c_with_nothing_running_leaves_and_sigterm_always_does() {
    let mut h = H::scenario("clean");
    h.read();
    assert_eq!(h.key(Key::ctrl('c')), vec![Effect::Quit]);

    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    assert_eq!(
        update(&mut h.m, Msg::Terminate),
        vec![Effect::Interrupt(1), Effect::Quit]
    );
}

#[test]
fn stale_run_events_and_snapshots_are_dropped() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    h.run(
        1,
        RunEvent::Exited {
            code: Some(1),
            signal: None,
        },
    );
    h.read();
    // Run 2 is the current one; run 1's late events change nothing.
    h.enter();
    h.enter();
    assert!(h.m.run.as_ref().is_some_and(|r| r.id == 2 && r.active()));
    let lines = h.m.log.lines.len();
    let dropped = h.m.dropped;
    h.run(
        1,
        RunEvent::Line {
            stream: Stream::Stdout,
            text: "late".into(),
        },
    );
    h.run(
        1,
        RunEvent::Exited {
            code: Some(0),
            signal: None,
        },
    );
    assert_eq!(h.m.log.lines.len(), lines);
    assert!(h.m.running(), "run 2 still runs");
    assert_eq!(h.m.dropped, dropped + 2);

    // A snapshot older than the last applied one is dropped, whatever it says.
    let (seq, at) = (h.seq, h.m.now);
    let r = update(
        &mut h.m,
        Msg::Snapshot {
            seq: seq - 1,
            result: Err("old failure".into()),
            at,
        },
    );
    assert!(r.is_empty());
    assert!(!h.m.db.stale());
    assert_eq!(h.m.dropped, dropped + 3);
}

#[test]
fn read_only_refuses_every_action() {
    let sc = scenario("clean").expect("scenario");
    let mut h = H::from(sc, true);
    h.read();
    h.m.step = Step::Up;
    assert!(h.enter().is_empty());
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("read-only"));

    let mut h = H::from(scenario("unfinished").expect("scenario"), true);
    h.read();
    h.tick_all();
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    h.enter();
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("read-only"), "{}", h.notice());
}

#[test]
fn finish_needs_the_typed_word() {
    let mut h = H::scenario("unfinished");
    h.read();
    h.tick_all();
    h.enter();
    h.enter();
    h.typed("yes");
    assert!(h.enter().is_empty());
    h.key(Key::plain(KeyCode::Backspace));
    h.key(Key::plain(KeyCode::Backspace));
    h.key(Key::plain(KeyCode::Backspace));
    h.typed("FINISH");
    assert!(h.enter().is_empty(), "exactly 'finish'");
    assert!(h.esc().is_empty());
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("nothing ran"));
    assert!(h.m.state().is_some_and(|s| s.any(MigState::Pending)));
}

#[test]
fn an_old_node_still_serving_blocks_finish() {
    let mut h = H::scenario("old-node-serving");
    h.through_up();
    h.tick_all();
    // The stopped data planes age out over the window; the stuck one ignored its stop and
    // still checks in.
    h.age_out();
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.text.contains("restarted it")));
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    assert!(h.enter().is_empty());
    assert!(h.m.overlay.is_none(), "finish must not even be offered");
    assert!(h.notice().contains("finish refused"), "{}", h.notice());
    // The gate's words (kong::nodes, as `kongrade nodes` says them): the data plane the
    // database saw within the window.
    let b = finish_blockers(&h.m);
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(
        b[0].contains("data plane dp-old-2") && b[0].contains("on 2.8.5 seen"),
        "{b:?}"
    );
    // Stop it again (untick, tick): now it is gone, and finish is offered.
    h.esc();
    h.select(&DecomRow::DataPlane("dp-old-2".into()));
    h.space();
    let fx = h.space();
    h.stop_nodes(&fx);
    h.read();
    // Stopped, it is not gone at once: its row stays and ages, seen longer ago with the clock.
    assert!(h
        .m
        .decom_rows()
        .contains(&DecomRow::DataPlane("dp-old-2".into())));
    assert!(!finish_blockers(&h.m).is_empty(), "seen within the window");
    let text = h.m.data_plane_text("dp-old-2");
    h.advance(20.0);
    assert_ne!(
        h.m.data_plane_text("dp-old-2"),
        text,
        "the age grows: {text}"
    );
    // Past the --dp-window it no longer serves: its row is still listed, the gate opens.
    h.age_out();
    h.read();
    assert!(h
        .m
        .decom_rows()
        .contains(&DecomRow::DataPlane("dp-old-2".into())));
    assert!(
        h.m.data_plane_text("dp-old-2").contains("gone"),
        "{}",
        h.m.data_plane_text("dp-old-2")
    );
    h.enter();
    h.enter();
    assert!(
        matches!(h.m.overlay, Some(Overlay::Typed { .. })),
        "{}",
        h.notice()
    );
}

/// The gate follows what the nodes answer, not the ticks: an old node left running blocks
/// finish by name, even with every confirmation given.
#[test]
fn an_old_node_left_running_blocks_finish_by_name() {
    let mut h = H::scenario("clean");
    h.through_up();
    // The confirmations, and kong-old-1 taken out; kong-old-2 forgotten.
    for i in 0..h.m.checklist.len() {
        h.select(&DecomRow::General(i));
        h.space();
    }
    let old1 =
        h.m.nodes
            .iter()
            .position(|n| n.name == "kong-old-1")
            .expect("node");
    h.select(&DecomRow::Node(old1));
    // The node's row ticks its items one by one, in the order a node is taken out.
    assert!(!h.space().contains(&Effect::StopNode("kong-old-1".into())));
    assert!(h.m.nodes[old1].checklist.out_of_lb && !h.m.nodes[old1].checklist.drained);
    assert!(!h.space().contains(&Effect::StopNode("kong-old-1".into())));
    let fx = h.space();
    assert!(fx.contains(&Effect::StopNode("kong-old-1".into())));
    h.stop_nodes(&fx);
    h.read();
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.text.starts_with("kong-old-1: now unreachable")));
    h.enter();
    h.enter();
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("finish refused"), "{}", h.notice());
    assert_eq!(
        finish_blockers(&h.m),
        vec!["kong-old-2: OLD 2.8.5: still serving".to_string()]
    );
    // A node on the new version needs no taking out.
    let new1 =
        h.m.nodes
            .iter()
            .position(|n| n.name == "kong-new-1")
            .expect("node");
    h.esc();
    h.select(&DecomRow::Node(new1));
    assert!(h.space().is_empty());
    assert!(h.notice().contains("new version"), "{}", h.notice());
}

#[test]
fn a_manual_node_blocks_finish_until_ticked_out() {
    let mut h = H::scenario("unfinished");
    h.read();
    h.tick_all();
    assert!(
        finish_blockers(&h.m).is_empty(),
        "{:?}",
        finish_blockers(&h.m)
    );
    h.key(Key::ch('a'));
    assert!(h.enter().is_empty(), "a name is needed");
    h.typed("kong-legacy-vm");
    let fx = h.enter();
    assert_eq!(
        journal(&fx),
        vec![Event::Note {
            text: "manual node added: kong-legacy-vm".into()
        }]
    );
    assert_eq!(
        finish_blockers(&h.m),
        vec![
            "kong-legacy-vm: not confirmed out of the load balancer, drained and stopped"
                .to_string()
        ]
    );
    let i = h.m.nodes.len() - 1;
    for it in NodeItem::ALL {
        h.select(&DecomRow::NodeItem(i, it));
        let fx = h.space();
        // Fully ticked out: a confirmation for the journal.
        assert_eq!(
            journal(&fx).len(),
            usize::from(it == NodeItem::Stopped),
            "{fx:?}"
        );
    }
    assert!(finish_blockers(&h.m).is_empty());
    // The same name twice is refused.
    h.key(Key::ch('a'));
    h.typed("kong-legacy-vm");
    assert!(h.enter().is_empty());
    assert!(matches!(
        &h.m.overlay,
        Some(Overlay::AddNode { error: Some(e), .. }) if e.contains("already")
    ));
}

/// Opening the gate anyway takes a typed reason, goes into the journal, and then finish is
/// offered (still behind its typed word).
#[test]
fn the_gate_opens_anyway_only_with_a_reason_in_the_journal() {
    let mut h = H::scenario("old-node-serving");
    h.through_up();
    for i in 0..h.m.checklist.len() {
        h.select(&DecomRow::General(i));
        h.space();
    }
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    assert!(h.enter().is_empty());
    assert!(h.notice().contains("finish refused"));
    h.key(Key::ch('o'));
    assert!(matches!(h.m.overlay, Some(Overlay::Override { .. })));
    h.typed("ok");
    assert!(h.enter().is_empty(), "a reason of a few words");
    assert!(h.m.gate_override.is_none());
    for _ in 0..2 {
        h.key(Key::plain(KeyCode::Backspace));
    }
    h.typed("DPs drained by the platform team, OPS-4411");
    let fx = h.enter();
    match &journal(&fx)[..] {
        [Event::Override { gate, reason }] => {
            assert_eq!(reason, "DPs drained by the platform team, OPS-4411");
            assert!(
                gate.contains("cp-old-1") && gate.contains("dp-old-1"),
                "{gate}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(finish_blockers(&h.m).is_empty());
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.kind == LogKind::Warn && l.text.contains("opened anyway")));
    h.enter();
    assert!(matches!(h.m.overlay, Some(Overlay::Typed { .. })));
    // With the gate open, there is nothing to override.
    let mut h = H::scenario("unfinished");
    h.read();
    h.tick_all();
    h.enter();
    h.key(Key::ch('o'));
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("nothing to override"), "{}", h.notice());
}

#[test]
fn the_database_going_away_makes_the_pane_stale_and_gates_runs() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.training.db.lock_tables().unavailable = true;
    h.advance(1.0);
    h.read();
    h.advance(1.0);
    h.read();
    assert!(h.m.db.stale());
    assert_eq!(h.m.db.failures, 2);
    assert_eq!(h.m.read_age(), Some(Duration::from_secs(2)));
    assert_eq!(h.m.step, Step::Up, "the step stays; the pane says stale");
    h.enter();
    assert!(h.m.overlay.is_none());
    assert!(h.notice().contains("cannot be read"), "{}", h.notice());
    h.training.db.lock_tables().unavailable = false;
    h.read();
    assert!(!h.m.db.stale());
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.text.contains("answers again")));
}

#[test]
fn keys_move_focus_scroll_and_help() {
    let mut h = H::scenario("clean");
    h.read();
    for i in 0..50 {
        h.m.log.push(LogKind::Stdout, format!("line {i}"));
    }
    h.key(Key::plain(KeyCode::Tab));
    assert_eq!(h.m.focus, Focus::Log);
    h.key(Key::ch('k'));
    assert_eq!(h.m.log.scroll, 1);
    h.key(Key::plain(KeyCode::PageUp));
    assert!(h.m.log.scroll > 1);
    h.key(Key::plain(KeyCode::End));
    assert_eq!(h.m.log.scroll, 0);
    h.key(Key::ch('?'));
    assert_eq!(h.m.overlay, Some(Overlay::Help));
    h.key(Key::ch('j'));
    assert_eq!(h.m.overlay, Some(Overlay::Help), "stays until closed");
    assert_eq!(h.m.overlay_scroll, 1, "help scrolls");
    h.esc();
    assert!(h.m.overlay.is_none());
    assert!(!h.m.quit);
    assert_eq!(h.key(Key::ch('r')), vec![Effect::Refresh]);
}

#[test]
fn the_database_judges_a_run_even_when_the_exit_code_disagrees() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    let fx = h.enter();
    let Some((id, inv)) = fx.iter().find_map(|e| match e {
        Effect::StartKong(id, inv) => Some((*id, inv.clone())),
        _ => None,
    }) else {
        panic!("{fx:?}");
    };
    let mut events = super::testkit::run_training_kong(&h.training, &inv, id);
    // Every migration recorded, but kong ended with 1 (say, a failing post-run hook).
    if let Some(last) = events.last_mut() {
        *last = RunEvent::Exited {
            code: Some(1),
            signal: None,
        };
    }
    for ev in events {
        h.run(id, ev);
    }
    h.read();
    let o = h.m.outcome.clone().expect("judged");
    assert!(o.success, "{o:?}");
    assert!(
        o.text
            .contains("kong exited with code 1, yet the database shows it complete"),
        "{}",
        o.text
    );
}

/// Every training scenario plays with the stand-in `kongrade demo` runs (the code of `kongrade
/// stand-in`): to Done, or to the refusal it trains for.
#[test]
fn every_demo_scenario_plays_with_the_stand_in() {
    for name in crate::training::names() {
        let mut h = H::scenario(name);
        h.read();
        match name {
            "pre-1.0" => {
                h.enter();
                assert_eq!(h.m.step, Step::Preflight, "{name}: refused at Preflight");
                assert_eq!(
                    h.m.notice.as_ref().map(|n| n.level),
                    Some(NoticeLevel::Block)
                );
                continue;
            }
            "stale-lock" => {
                assert_eq!(h.m.step, Step::Waiting, "{name}");
                h.training.db.lock_tables().lock = None;
                h.read();
            }
            "unfinished" => assert_eq!(h.m.step, Step::Decommission, "{name}"),
            _ => assert_eq!(h.m.step, Step::Preflight, "{name}"),
        }
        h.play_to_done();
        assert!(
            h.m.state().is_some_and(|s| s.up_to_date()),
            "{name}: up to date at Done"
        );
    }
}

#[test]
fn the_stand_in_migrates_the_custom_plugin_as_kong_would() {
    let mut h = H::scenario("custom-plugin");
    h.read();
    let new: Vec<_> =
        h.m.new_migrations()
            .into_iter()
            .filter(|(s, _, _)| *s == "acme-audit")
            .map(|(_, n, two)| (n.to_string(), two))
            .collect();
    assert_eq!(new, vec![("001_340_to_390".to_string(), true)]);
    h.play_to_done();
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.text == "acme-audit migrated up to: 001_340_to_390 (pending)"));
}

/// Preflight shows kong::diagnose's findings, the ones `kongrade diagnose` prints, for the state
/// the wizard read: not a second opinion.
#[test]
fn preflight_findings_are_kong_diagnose_s() {
    use crate::kong::diagnose::{diagnose, DiagnoseInput};
    for name in crate::training::names() {
        let mut h = H::scenario(name);
        h.read();
        let snap = h.training.db.snapshot().expect("readable");
        let state = h.m.state().cloned().expect("read");
        let expected = diagnose(&DiagnoseInput {
            state: &state,
            snapshot: &snap,
            target: &h.training.target,
            catalog: crate::kong::catalog::Catalog::embedded(),
            row_counts: None,
            settings: &h.training.settings(None, None),
            writes_since_up: None,
            history: None,
        });
        assert_eq!(h.m.findings, expected, "{name}");
    }
    // An unsupported jump is an error: the wizard stops until the operator overrides it with a
    // typed reason (journaled), never on one Enter.
    let mut h = H::scenario("custom-plugin");
    h.read();
    assert!(h
        .m
        .findings
        .iter()
        .any(|f| f.id == crate::kong::policy::FindingId::UnsupportedJump));
    assert!(h.enter().is_empty());
    assert_eq!(h.m.step, Step::Preflight);
    assert!(h.notice().contains("o overrides it"), "{}", h.notice());
    h.key(Key::ch('o'));
    assert!(matches!(
        &h.m.overlay,
        Some(Overlay::Override {
            target: OverrideTarget::Finding { id, .. },
            ..
        }) if id == "unsupported-jump"
    ));
    h.typed("short");
    assert!(h.enter().is_empty(), "a few letters are no reason");
    assert!(h.m.overlay.is_some());
    for _ in 0..5 {
        h.key(Key::plain(KeyCode::Backspace));
    }
    h.typed("vendor tested 3.4 -> 3.9 on staging");
    let fx = h.enter();
    assert_eq!(
        journal(&fx),
        vec![Event::Override {
            gate: format!(
                "preflight: unsupported-jump: {}",
                h.m.findings
                    .iter()
                    .find(|f| f.id == crate::kong::policy::FindingId::UnsupportedJump)
                    .map(|f| f.title.clone())
                    .unwrap_or_default()
            ),
            reason: "vendor tested 3.4 -> 3.9 on staging".into(),
        }]
    );
    assert!(h.m.overlay.is_none());
    h.enter();
    assert_eq!(h.m.step, Step::Backup);
    // The Up confirmation no longer promises that old nodes keep serving.
    h.own_backup("snap-1");
    h.enter();
    h.enter();
    h.enter();
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("You went past"), "{screen}");
    assert!(!screen.contains("Old nodes keep serving"), "{screen}");
}

fn pg_dump_setup(h: &mut H) {
    h.m.setup.backup = BackupMethod::PgDump {
        command: "pg_dump -Fc -f kong.dump kong".into(),
    };
}

fn record() -> crate::contract::BackupRecord {
    crate::contract::BackupRecord {
        file: "/data/backups/x.dump".into(),
        bytes: 4096,
        sha256: "ab".repeat(32),
        database: "kong@db:5432/kong".into(),
        pg_dump_version: "pg_dump (PostgreSQL) 16.4".into(),
        entries: 12,
        elapsed_ms: 100,
        created_at: "2026-11-22T04:00:00Z".into(),
    }
}

#[test]
fn the_backup_step_takes_a_pg_dump_journaled_before_it_starts() {
    let mut h = H::scenario("clean");
    pg_dump_setup(&mut h);
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Backup);
    let fx = h.key(Key::ch('t'));
    // The journal hears of it before the runtime starts pg_dump.
    assert_eq!(
        fx,
        vec![
            Effect::Journal(Event::Step {
                step: "backup".into(),
                phase: "started".into(),
                detail: Some("pg_dump --format=custom".into())
            }),
            Effect::TakeBackup
        ]
    );
    assert!(h.m.backup_running());
    // A second t, and Enter, while it runs: nothing starts, nothing goes on.
    assert!(h.key(Key::ch('t')).is_empty());
    assert!(h.enter().is_empty());
    assert_eq!(h.m.step, Step::Backup);
    update(
        &mut h.m,
        Msg::BackupProgress {
            bytes: 2048,
            elapsed: Duration::from_secs(1),
        },
    );
    assert!(matches!(
        h.m.backup,
        BackupState::Running { bytes: 2048, .. }
    ));
    // It fails: said, journaled, nothing to go on with; t tries again.
    let fx = update(
        &mut h.m,
        Msg::BackupDone(Err("pg_dump failed: boom".into())),
    );
    assert!(matches!(&fx[..], [Effect::Journal(Event::Step { phase, .. })] if phase == "failed"));
    assert!(h.enter().is_empty());
    assert_eq!(h.m.step, Step::Backup);
    assert_eq!(h.key(Key::ch('t')).len(), 2);
    let fx = update(&mut h.m, Msg::BackupDone(Ok(record())));
    assert_eq!(
        fx,
        vec![
            Effect::Journal(Event::Backup { record: record() }),
            Effect::Journal(Event::Step {
                step: "backup".into(),
                phase: "done".into(),
                detail: None
            }),
        ]
    );
    assert!(h.m.backup_done());
    // A late second result is dropped.
    let dropped = h.m.dropped;
    assert!(update(&mut h.m, Msg::BackupDone(Err("late".into()))).is_empty());
    assert_eq!(h.m.dropped, dropped + 1);
    h.enter();
    assert_eq!(h.m.step, Step::Review);
}

#[test]
fn an_own_backup_needs_a_reference_and_goes_into_the_journal() {
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    // A database kongrade cannot dump: t explains, and starts nothing.
    h.m.setup.training = None;
    assert!(h.key(Key::ch('t')).is_empty());
    assert!(
        h.notice().contains("Space records your own"),
        "{}",
        h.notice()
    );
    assert!(h.space().is_empty());
    // An empty reference is refused.
    assert!(h.enter().is_empty());
    assert!(matches!(
        &h.m.overlay,
        Some(Overlay::OwnBackup { error: Some(_), .. })
    ));
    h.typed("  ");
    assert!(h.enter().is_empty());
    assert!(!h.m.backup_done());
    h.typed("s3://bk/kong.dump");
    let fx = h.enter();
    assert_eq!(
        fx[0],
        Effect::Journal(Event::OwnBackup {
            reference: "s3://bk/kong.dump".into()
        })
    );
    assert_eq!(h.m.backup, BackupState::Own("s3://bk/kong.dump".into()));
    h.enter();
    assert_eq!(h.m.step, Step::Review);

    // Esc records nothing.
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    h.space();
    h.typed("x");
    assert!(h.esc().is_empty());
    assert!(!h.m.backup_done() && h.m.overlay.is_none());
}

#[test]
fn cassandra_is_backed_up_by_a_snapshot_on_every_node() {
    let mut h = H::scenario("clean");
    h.m.setup.backup = BackupMethod::Cassandra {
        keyspace: "kong".into(),
        tag: "kongrade-1".into(),
        hosts: vec!["10.0.0.1".into(), "10.0.0.2".into()],
    };
    h.m.snapshots = vec![false; 2];
    h.read();
    h.enter();
    assert!(h.key(Key::ch('t')).is_empty(), "no pg_dump on Cassandra");
    assert!(h.space().is_empty());
    assert!(h.enter().is_empty(), "one node is not enough");
    assert!(h.notice().contains("every node"), "{}", h.notice());
    h.down();
    let fx = h.space();
    assert_eq!(
        fx[0],
        Effect::Journal(Event::OwnBackup {
            reference: "nodetool snapshot -t kongrade-1 kong on 10.0.0.1, 10.0.0.2".into()
        })
    );
    assert!(h.m.backup_done());
    // Unticking a node makes the set incomplete again.
    h.space();
    assert!(!h.m.backup_done());
    h.space();
    h.enter();
    assert_eq!(h.m.step, Step::Review);
}

#[test]
fn read_only_takes_no_backup() {
    let mut h = H::from(scenario("clean").expect("scenario"), true);
    pg_dump_setup(&mut h);
    h.read();
    h.enter();
    assert!(h.key(Key::ch('t')).is_empty());
    assert!(h.notice().contains("read-only"), "{}", h.notice());
}

/// Every decision lands in the journal, each entry before the action it announces, and the
/// upgrade's journal is closed at Done.
#[test]
fn the_journal_records_the_upgrade_before_each_action() {
    use super::testkit::journal;
    let mut h = H::scenario("clean");
    let mut events = Vec::new();
    let fx = h.read();
    events.extend(journal(&fx));
    let fx = h.enter();
    events.extend(journal(&fx));
    let fx = h.own_backup("nightly dump");
    events.extend(journal(&fx));
    for _ in 0..3 {
        let fx = h.enter();
        events.extend(journal(&fx));
    }
    // The confirmation of up: confirmed, the state, the command, all before kong starts.
    let fx = h.enter();
    let start = fx
        .iter()
        .position(|e| matches!(e, Effect::StartKong(..)))
        .expect("kong starts");
    let cmd = fx
        .iter()
        .position(|e| matches!(e, Effect::Journal(Event::Command { .. })))
        .expect("the command is journaled");
    assert!(cmd < start);
    events.extend(journal(&fx));
    let fx = h.perform(&fx);
    events.extend(journal(&fx));
    h.advance(0.5);
    let fx = h.read();
    events.extend(journal(&fx));
    let fx = h.enter();
    events.extend(journal(&fx));
    h.tick_all();
    h.read();
    let fx = h.enter();
    events.extend(journal(&fx));
    h.enter();
    h.typed("finish");
    let fx = h.enter();
    events.extend(journal(&fx));
    let fx = h.perform(&fx);
    events.extend(journal(&fx));
    h.advance(0.5);
    let fx = h.read();
    events.extend(journal(&fx));
    let fx = h.enter();
    events.extend(journal(&fx));
    assert_eq!(h.m.step, Step::Done);

    let step = |s: &str, p: &str| Event::Step {
        step: s.into(),
        phase: p.into(),
        detail: None,
    };
    let pos = |e: &Event| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e:?} not in {events:#?}"))
    };
    let order = [
        pos(&step("preflight", "entered")),
        pos(&Event::OwnBackup {
            reference: "nightly dump".into(),
        }),
        pos(&step("backup", "done")),
        pos(&step("up", "entered")),
        pos(&Event::Confirmed {
            what: "run kong migrations up".into(),
            typed: None,
        }),
        pos(&Event::Command {
            command_line: "kong migrations up".into(),
            kong_version: h.m.setup.target.map(|v| v.to_string()),
        }),
        pos(&Event::CommandExit {
            command_line: "kong migrations up".into(),
            code: Some(0),
            signal: None,
        }),
        pos(&step("up", "done")),
        pos(&step("decommission", "entered")),
        pos(&Event::Confirmed {
            what: "run kong migrations finish".into(),
            typed: Some("finish".into()),
        }),
        pos(&step("finish", "done")),
        pos(&step("done", "entered")),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(matches!(events.last(), Some(Event::Closed { outcome }) if outcome.contains("3.4.2")));
    assert!(events.iter().any(
        |e| matches!(e, Event::State { when, state } if when == "after up" && state.pending == 4)
    ));
}

fn entry(seq: u64, event: Event) -> crate::contract::journal::Entry {
    crate::contract::journal::Entry {
        seq,
        at: format!("2026-11-22T04:00:0{seq}Z"),
        event,
    }
}

fn opened() -> Event {
    Event::Opened {
        database: crate::contract::DbIdentity {
            kind: "postgres".into(),
            host: "db".into(),
            port: 5432,
            database: "kong".into(),
            schema: None,
        },
        source: None,
        target: None,
        kongrade: "0.1.0".into(),
    }
}

#[test]
fn a_resumed_upgrade_says_what_it_found_and_does_not_ask_for_the_backup_again() {
    use crate::contract::journal::ReadBack;
    let step = |s: &str, p: &str| Event::Step {
        step: s.into(),
        phase: p.into(),
        detail: None,
    };
    let rb = ReadBack {
        entries: vec![
            entry(1, opened()),
            entry(2, Event::Backup { record: record() }),
            entry(3, step("backup", "done")),
            entry(
                4,
                Event::Command {
                    command_line: "kong migrations up".into(),
                    kong_version: None,
                },
            ),
            entry(5, step("up", "done")),
        ],
        warnings: Vec::new(),
    };
    let r = Resume::from_journal(&rb).expect("an upgrade under way");
    assert_eq!(
        r.summary(),
        "Resuming the upgrade started 2026-11-22T04:00:01Z: backup done (x.dump), up done"
    );

    // up ran: the database proves it, the wizard enters at Decommission and says why.
    let mut h = H::scenario("unfinished");
    h.m = Model::new(
        Setup {
            resume: Some(r.clone()),
            ..h.m.setup.clone()
        },
        h.m.now,
    );
    assert_eq!(h.m.banner.as_deref(), Some(r.summary().as_str()));
    assert!(h.m.log.lines.iter().any(|l| l.text == r.summary()));
    h.read();
    assert_eq!(h.m.step, Step::Decommission);

    // Only the backup was done: the database says up is next, the Backup step lets it through.
    let rb = ReadBack {
        entries: vec![
            entry(1, opened()),
            entry(
                2,
                Event::OwnBackup {
                    reference: "snap-1".into(),
                },
            ),
            entry(3, step("backup", "done")),
            // The strategy chosen then is followed, not asked again.
            entry(
                4,
                Event::StrategyChosen {
                    strategy: crate::kong::strategy::Strategy::InPlace,
                    recommended: crate::kong::strategy::Strategy::InPlace,
                    deployment: crate::kong::strategy::Deployment::Traditional,
                    jump: crate::kong::strategy::Jump::LtsPair,
                    by: "wizard".into(),
                },
            ),
        ],
        warnings: Vec::new(),
    };
    assert!(Resume::from_journal(&rb)
        .expect("resumed")
        .summary()
        .contains("strategy in-place chosen"));
    let mut h = H::scenario("clean");
    h.m = Model::new(
        Setup {
            resume: Resume::from_journal(&rb),
            ..h.m.setup.clone()
        },
        h.m.now,
    );
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    assert_eq!(h.m.strategy, Some(crate::kong::strategy::Strategy::InPlace));
    h.enter();
    assert_eq!(h.m.step, Step::Backup, "the strategy is not asked again");
    assert!(h.m.backup_done());
    h.enter();
    assert_eq!(h.m.step, Step::Review, "not asked again");

    // A closed journal, or one with nothing of an upgrade in it, resumes nothing.
    let mut closed = rb.clone();
    closed.entries.push(entry(
        4,
        Event::Closed {
            outcome: "done".into(),
        },
    ));
    assert_eq!(Resume::from_journal(&closed), None);
    let empty = ReadBack {
        entries: vec![entry(1, opened())],
        warnings: Vec::new(),
    };
    assert_eq!(Resume::from_journal(&empty), None);
}

#[test]
fn b_shows_the_way_back_and_runs_nothing() {
    let mut h = H::scenario("clean");
    h.read();
    assert!(h.key(Key::ch('b')).is_empty(), "guidance only: no effect");
    assert_eq!(h.m.overlay, Some(Overlay::Rollback));
    h.key(Key::ch('j'));
    assert_eq!(h.m.overlay, Some(Overlay::Rollback), "stays until closed");
    assert_eq!(h.m.overlay_scroll, 1, "scrolls");
    h.esc();
    assert!(h.m.overlay.is_none());
    assert!(!h.m.quit);
}

/// What a key press changed, in the fields a key can change (the notice aside: a refused key
/// says why and changes nothing else).
fn fingerprint(m: &Model) -> String {
    format!(
        "{:?}|{:?}|{}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{:?}|{}",
        m.step,
        m.overlay,
        // The reading overlays' scroll (as it was part of them); questions' scroll is marked
        // on the overlay itself.
        if matches!(
            m.overlay,
            Some(Overlay::Help | Overlay::Rollback | Overlay::StepInFull | Overlay::Detail { .. })
        ) {
            m.overlay_scroll
        } else {
            0
        },
        m.cursor,
        m.focus,
        m.log.scroll,
        m.log.lines.len(),
        m.backup,
        m.run.as_ref().map(|r| (r.id, r.interrupted)),
        m.checklist,
        m.nodes
            .iter()
            .map(|n| (&n.name, n.checklist))
            .collect::<Vec<_>>(),
        m.dp_checks,
        m.gate_override,
        m.finding_overrides,
        m.snapshots,
        m.quit,
        m.path,
        m.exit_code,
    )
}

fn key_universe() -> Vec<Key> {
    let mut keys: Vec<Key> = "abcdefghijklmnopqrstuvwxyzGKS0123456789 ?-"
        .chars()
        .map(Key::ch)
        .collect();
    keys.extend(
        [
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
        ]
        .map(Key::plain),
    );
    keys.push(Key::ctrl('c'));
    keys.push(Key::ctrl('d'));
    keys
}

/// Whether pressing `k` on a copy of `m` acts (changes what a key can change, or asks the
/// runtime for something).
fn acts(m: &Model, k: Key) -> bool {
    let mut c = m.clone();
    let before = fingerprint(&c);
    let fx = update(&mut c, Msg::Key(k));
    !fx.is_empty() || fingerprint(&c) != before
}

/// Models at every step of every scenario, as operator and trainee, read-only, with the log
/// focused, kong running, and one key further (overlays open).
fn many_states() -> Vec<Model> {
    let mut base: Vec<Model> = Vec::new();
    for name in crate::training::names() {
        let mut h = H::scenario(name);
        h.read();
        base.push(h.m.clone());
        for _ in 0..40 {
            if matches!(h.m.step, Step::Done | Step::Waiting | Step::Connecting) {
                break;
            }
            // kong running at Up and Finish.
            if matches!(h.m.step, Step::Up | Step::Finish) {
                let mut r = H::scenario(name);
                r.m = h.m.clone();
                r.enter();
                let mut fx = r.enter();
                if h.m.step == Step::Finish {
                    r.typed("finish");
                    fx = r.enter();
                }
                if fx.iter().any(|e| matches!(e, Effect::StartKong(..))) {
                    assert!(r.m.running());
                    base.push(r.m.clone());
                }
            }
            let step = h.m.step;
            match step {
                Step::Decommission => {
                    h.tick_all();
                    h.read();
                }
                Step::Backup if !h.m.backup_done() => {
                    h.own_backup("snap-1");
                }
                Step::Finish if !finish_blockers(&h.m).is_empty() => {
                    h.key(Key::ch('o'));
                    h.typed("old node is being replaced");
                    h.enter();
                }
                _ => {}
            }
            base.push(h.m.clone());
            let before = fingerprint(&h.m);
            // One move of the operator's play.
            h.play_one();
            if fingerprint(&h.m) == before {
                break;
            }
        }
        base.push(h.m.clone());
    }
    let mut variants = Vec::new();
    for m in &base {
        let mut ro = m.clone();
        ro.setup.read_only = true;
        variants.push(ro);
        let mut real = m.clone();
        real.setup.training = None;
        real.setup.journal_path = Some("/var/lib/kongrade/journal".into());
        variants.push(real);
        let mut log = m.clone();
        log.focus = Focus::Log;
        variants.push(log);
        let mut small = m.clone();
        small.size = (50, 12);
        variants.push(small);
    }
    base.extend(variants);
    // One key further: the overlays and what the keys lead to.
    let mut deeper = Vec::new();
    for m in &base {
        for k in key_universe() {
            let mut c = m.clone();
            update(&mut c, Msg::Key(k));
            if c.overlay.is_some() && c.overlay != m.overlay {
                deeper.push(c);
            }
        }
    }
    base.extend(deeper);
    base
}

#[test]
fn the_footer_the_help_and_update_read_one_key_table() {
    use crate::wizard::keys::{available, step_keys, Action};
    let states = many_states();
    assert!(states.len() > 200, "{} states", states.len());
    let mut overlays = std::collections::BTreeSet::new();
    for m in &states {
        if let Some(ov) = &m.overlay {
            overlays.insert(
                format!("{ov:?}")
                    .split([' ', '{', '('])
                    .next()
                    .map(String::from),
            );
        }
        let hints = available(m);
        // One meaning per key in each context.
        for (i, a) in hints.iter().enumerate() {
            for b in &hints[i + 1..] {
                for k in a.keys {
                    assert!(
                        !b.matches(*k),
                        "{k} is bound twice on {:?}: {a:?} {b:?}",
                        m.step
                    );
                }
            }
        }
        // Every key update acts on is a hint that acts now, shown in the footer or the help.
        for k in key_universe() {
            if !acts(m, k) {
                continue;
            }
            let h = hints.iter().find(|h| h.matches(k)).unwrap_or_else(|| {
                panic!(
                    "{k} acts on {:?} / {:?} but is not in the key table",
                    m.step, m.overlay
                )
            });
            assert!(h.enabled(), "{k} acts though refused: {h:?}");
            let in_help = m.overlay.is_none() && step_keys(m).iter().any(|s| s.matches(k));
            // ↑ is named by the ↓ hint's "↑↓", typing by the entry itself, Ctrl-C by every help.
            let named = matches!(
                h.action,
                Action::Up | Action::LogPageUp | Action::Type | Action::Cancel | Action::Erase
            );
            assert!(
                h.footer || in_help || named,
                "{k} acts on {:?} / {:?} but is shown nowhere",
                m.step,
                m.overlay
            );
            if crate::wizard::keys::too_small(m) {
                let mut c = m.clone();
                let fx = update(&mut c, Msg::Key(k));
                assert_eq!(c.step, m.step, "{k} moved the wizard behind 'too small'");
                assert!(
                    fx.iter()
                        .all(|e| matches!(e, Effect::Quit | Effect::Interrupt(_))),
                    "{k} behind 'too small': {fx:?}"
                );
            }
        }
        // Every key the footer shows acts.
        for h in crate::tui::view::footer_hints(m) {
            let mut keys: Vec<Key> = h.keys.to_vec();
            match h.action {
                Action::Down => keys.extend([Key::ch('k'), Key::plain(KeyCode::Up)]),
                Action::LogPageDown => keys.push(Key::plain(KeyCode::PageUp)),
                Action::Type | Action::Choose => keys.push(Key::ch('1')),
                _ => {}
            }
            assert!(
                keys.iter().any(|k| acts(m, *k)),
                "the footer shows {} {} on {:?} / {:?}, and it does nothing",
                h.keys_text,
                h.label,
                m.step,
                m.overlay
            );
        }
    }
    for ov in [
        "Some(\"Help\")",
        "Some(\"Rollback\")",
        "Some(\"Confirm\")",
        "Some(\"Typed\")",
        "Some(\"OwnBackup\")",
        "Some(\"AddNode\")",
        "Some(\"Override\")",
        "Some(\"Leave\")",
        "Some(\"LeaveWhileRunning\")",
        "Some(\"Detail\")",
        "Some(\"StepInFull\")",
    ] {
        assert!(
            overlays.iter().any(|o| format!("{o:?}") == ov),
            "no state with overlay {ov}: {overlays:?}"
        );
    }
}

#[test]
fn demo_backup_keys_do_something_and_say_it() {
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Backup);
    // Enter without a backup says how to get one, naming t.
    assert!(h.enter().is_empty());
    assert!(
        h.notice().contains("t takes a simulated one"),
        "{}",
        h.notice()
    );
    // t in training records a simulated backup and says so; Enter then goes on.
    let fx = h.key(Key::ch('t'));
    assert!(matches!(
        journal(&fx).first(),
        Some(Event::OwnBackup { reference }) if reference.contains("simulated")
    ));
    assert!(
        h.notice().contains("simulated backup recorded"),
        "{}",
        h.notice()
    );
    assert!(h
        .m
        .log
        .lines
        .iter()
        .any(|l| l.text.contains("on a real database kongrade runs pg_dump")));
    h.enter();
    assert_eq!(h.m.step, Step::Review);
}

/// Issue 12: the demo keeps no journal, so the policy's history is the model's own runs. After
/// an interrupted `up` that recorded only one-phase migrations, `b` must not say "nothing to
/// undo": the new migrations are in the database and the new nodes are the thing to stop.
#[test]
fn an_interrupted_up_is_known_to_the_policy_without_a_journal() {
    let mut h = H::scenario("clean");
    h.read();
    h.m.step = Step::Up;
    h.enter();
    h.enter();
    h.key(Key::ctrl('c'));
    assert_eq!(h.key(Key::ch('i')), vec![Effect::Interrupt(1)]);
    // Kong recorded one one-phase migration before the signal ended it.
    let (sub, name) =
        h.m.new_migrations()
            .into_iter()
            .find(|(_, _, two)| !two)
            .map(|(s, n, _)| (s.to_string(), n.to_string()))
            .expect("a one-phase migration");
    {
        let mut t = h.training.db.lock_tables();
        let row = t
            .schema_meta
            .as_mut()
            .and_then(|m| m.get_mut(&sub))
            .expect("the subsystem's row");
        row.executed.get_or_insert_with(Vec::new).push(name.clone());
        row.last_executed = Some(name);
    }
    h.run(
        1,
        RunEvent::Exited {
            code: None,
            signal: Some(2),
        },
    );
    h.advance(0.1);
    h.read();
    let policy = h.m.policy_history();
    assert_eq!(policy.runs.len(), 1, "{policy:?}");
    assert_eq!(policy.runs[0].end, crate::kong::policy::RunEnd::Signalled);
    let r = &h.m.reading.as_ref().expect("a reading").rollback;
    assert_ne!(*r, crate::kong::policy::Rollback::NothingToUndo, "{r:?}");
    h.key(Key::ch('b'));
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(!screen.contains("Nothing to undo"), "{screen}");
    assert!(screen.contains("Stop every new-version node"), "{screen}");

    // Without the model's history (what the demo had), the policy sees nothing ran.
    h.key(Key::plain(KeyCode::Esc));
    let snap = h.training.db.snapshot().expect("readable");
    h.interpreter.history = None;
    let blind = h.interpreter.reading(&snap);
    assert_eq!(blind.rollback, crate::kong::policy::Rollback::NothingToUndo);
}

/// Issue 12: the trainee's checkpoints. Before up and before finish the demo asks a question;
/// nothing runs until it is answered rightly, and every answer is explained.
#[test]
fn demo_checkpoints_ask_before_up_and_finish() {
    let mut h = H::scenario("clean");
    h.m.setup.checkpoints = true;
    h.read();
    h.enter();
    h.own_backup("nightly dump");
    h.enter();
    h.enter();
    assert_eq!(h.m.step, Step::Up);
    assert!(h.enter().is_empty());
    assert!(
        matches!(
            h.m.overlay,
            Some(Overlay::Checkpoint {
                which: Checkpoint::BeforeUp,
                chosen: None
            })
        ),
        "{:?}",
        h.m.overlay
    );
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(
        screen.contains("Which version's kong runs `up`?"),
        "{screen}"
    );
    // Enter before an answer: nothing runs, the overlay stays and says why.
    assert!(h.enter().is_empty());
    assert!(h.notice().contains("answer first"), "{}", h.notice());
    assert!(matches!(h.m.overlay, Some(Overlay::Checkpoint { .. })));
    // A wrong answer is explained, and does not let the trainee on.
    h.key(Key::ch('1'));
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("✗ 1"), "{screen}");
    assert!(
        screen.contains("does not know the target's migrations"),
        "{screen}"
    );
    assert!(h.enter().is_empty());
    assert!(matches!(h.m.overlay, Some(Overlay::Checkpoint { .. })));
    // A number with no answer changes nothing.
    h.key(Key::ch('9'));
    assert!(matches!(
        h.m.overlay,
        Some(Overlay::Checkpoint {
            chosen: Some(0),
            ..
        })
    ));
    h.key(Key::ch('2'));
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("✓ 2"), "{screen}");
    assert!(screen.contains("Enter go on"), "{screen}");
    // Right: Enter goes on to the command's confirmation, and the question is not asked again.
    assert!(h.enter().is_empty());
    assert!(
        matches!(h.m.overlay, Some(Overlay::Confirm { .. })),
        "{:?}",
        h.m.overlay
    );
    h.esc();
    h.enter();
    assert!(matches!(h.m.overlay, Some(Overlay::Confirm { .. })));
    h.esc();
    // Through up and Decommission to Finish.
    while h.m.step != Step::Finish {
        h.play_one();
    }
    assert!(h.enter().is_empty());
    assert!(
        matches!(
            h.m.overlay,
            Some(Overlay::Checkpoint {
                which: Checkpoint::BeforeFinish,
                ..
            })
        ),
        "{:?}",
        h.m.overlay
    );
    // Esc closes it; nothing runs, and Enter asks again.
    h.esc();
    assert!(h.m.overlay.is_none());
    h.enter();
    h.key(Key::ch('3'));
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(
        screen.contains("What must be true before `finish`?"),
        "{screen}"
    );
    assert!(screen.contains("the backup belongs before up"), "{screen}");
    h.key(Key::ch('2'));
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(
        screen.contains("Data planes never read the database"),
        "{screen}"
    );
    h.enter();
    assert!(
        matches!(h.m.overlay, Some(Overlay::Typed { .. })),
        "{:?}",
        h.m.overlay
    );
    assert_eq!(
        h.m.checkpoints_passed,
        vec![Checkpoint::BeforeUp, Checkpoint::BeforeFinish]
    );
}

/// Outside the demo there is no quiz between the operator and the command.
#[test]
fn no_checkpoints_outside_the_demo() {
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    h.own_backup("nightly dump");
    h.enter();
    h.enter();
    h.enter();
    assert!(matches!(h.m.overlay, Some(Overlay::Confirm { .. })));
}

/// Issue 12: demo's Done offers the scenario menu: another scenario, or this one over.
#[test]
fn the_scenario_menu_at_done_starts_another() {
    let mut h = H::scenario("clean");
    h.m.setup.scenario = Some("clean".into());
    h.m.setup.scenarios = crate::training::names()
        .into_iter()
        .map(|n| (n.to_string(), format!("title of {n}")))
        .collect();
    // Not before Done.
    h.read();
    h.key(Key::ch('s'));
    assert!(h.m.overlay.is_none());
    h.play_to_done();
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(screen.contains("s scenarios"), "{screen}");
    h.key(Key::ch('s'));
    assert_eq!(h.m.overlay, Some(Overlay::Scenarios));
    let screen = crate::tui::view::render_to_string(&h.m, 100, 30);
    assert!(
        screen.contains("clean: title of clean (this one: starts over)"),
        "{screen}"
    );
    assert!(screen.contains("3  stale-lock"), "{screen}");
    // A number with no scenario does nothing; Esc closes.
    assert!(h.key(Key::ch('0')).is_empty());
    h.esc();
    assert!(h.m.overlay.is_none() && !h.m.quit);
    h.key(Key::ch('s'));
    let fx = h.key(Key::ch('3'));
    assert!(fx.contains(&Effect::Quit), "{fx:?}");
    assert_eq!(h.m.restart.as_deref(), Some("stale-lock"));
}

/// Issue 12 point 11: which rule blocks what. Data planes never read the database; finish breaks
/// old traditional nodes and old control planes; an old data plane blocks for compatibility, and
/// a data plane must not be newer than its control plane.
#[test]
fn the_help_says_which_rule_blocks_what() {
    let (what, wrong) = crate::wizard::text::step_help(Step::Decommission);
    assert!(
        what.contains("Data planes never read the database"),
        "{what}"
    );
    assert!(
        what.contains("old traditional node and old control plane"),
        "{what}"
    );
    assert!(
        what.contains("must not be newer than its control plane"),
        "{what}"
    );
    assert!(
        what.contains("lose compatibility with the new control plane"),
        "{what}"
    );
    assert!(!wrong.contains("A node still serving"), "{wrong}");
    for step in [Step::Decommission, Step::Finish] {
        let why = crate::wizard::text::why(step);
        assert!(why.contains("control planes"), "{why}");
        assert!(!why.contains("data planes too"), "{why}");
    }
}

/// Issue 12: in old-node-serving, finish after an override while the old node still serves
/// shows the cost: the old node's log, and the rollback guidance restoring the backup.
#[test]
fn finish_after_an_override_shows_what_it_costs() {
    let mut h = H::scenario("old-node-serving");
    h.through_up();
    // Every node out except the stuck data plane, which the database still sees.
    h.tick_all();
    h.read();
    assert!(!h.m.old_data_planes_seen().is_empty());
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    h.key(Key::ch('o'));
    h.typed("the supervisor will be fixed later");
    h.enter();
    assert!(h.m.gate_override.is_some());
    h.enter();
    h.typed("finish");
    let fx = h.enter();
    let fx = h.perform(&fx);
    let _ = fx;
    h.advance(0.5);
    h.read();
    assert!(
        h.m.outcome.as_ref().is_some_and(|o| o.success),
        "{:?}",
        h.m.outcome
    );
    let log: Vec<&str> = h.m.log.lines.iter().map(|l| l.text.as_str()).collect();
    // In Kong's words: the new control plane (3.4.2) turns the 2.8.5 data plane away, as
    // kong/clustering/compat and control_plane.lua log it.
    assert!(
        log.iter().any(|l| l.contains("(training) cp-new-1 log: [error] … [lua] control_plane.lua:250: handle_cp_websocket(): [clustering] data plane version 2.8.5 is incompatible with control plane version 3.4.2 (3.x.y are accepted) [id: ")
            && l.contains("host: dp-old-2, ip: 10.0.1.12, version: 2.8.5]")),
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("dp-old-2 log")),
        "a data plane reads no database: no schema error of its own\n{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("b shows the restore")),
        "{log:#?}"
    );
    h.key(Key::ch('b'));
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(screen.contains("restoring the backup"), "{screen}");
}

/// The wizard's Preflight runs `kong::preflight` on what the poller gathered (as diagnose):
/// until the gather arrives, Enter waits and the step says so; its error then blocks until
/// overridden with a typed reason; read-only shows the same findings.
#[test]
fn preflight_waits_for_its_reads_then_shows_and_gates_their_findings() {
    use crate::kong::preflight::{PreflightData, RoutePaths};
    for read_only in [false, true] {
        let mut h = H::from(
            crate::training::scenario("clean").expect("clean"),
            read_only,
        );
        h.interpreter.preflight_wanted = true;
        h.read();
        assert!(h.enter().is_empty());
        assert_eq!(h.m.step, Step::Preflight);
        assert!(
            h.notice().contains("waiting for the preflight"),
            "{}",
            h.notice()
        );
        let screen = crate::tui::view::render_to_string(&h.m, 80, 24);
        assert!(screen.contains("the preflight is reading"), "{screen}");
        h.interpreter.preflight = Some(PreflightData {
            regex_routes: Some(vec![RoutePaths {
                id: "r1".into(),
                name: Some("admin".into()),
                paths: vec!["/(?!admin).*".into()],
            }]),
            regex_route_count: Some(1),
            ..PreflightData::default()
        });
        h.read();
        assert!(
            h.m.findings
                .iter()
                .any(|f| f.id == crate::kong::policy::FindingId::RoutesRegexIncompatible),
            "{:?}",
            h.m.findings
        );
        let screen = crate::tui::view::render_to_string(&h.m, 80, 24);
        assert!(!screen.contains("the preflight is reading"), "{screen}");
        if read_only {
            continue;
        }
        h.enter();
        assert_eq!(h.m.step, Step::Preflight, "an error stops Enter");
        assert!(h.notice().contains("o overrides it"), "{}", h.notice());
    }
}

/// A preflight read that failed stops the wizard as an error does: Enter is refused, `o` asks
/// for a typed reason, which is journaled, and then the step goes on; kong.conf's findings read
/// before the failure stay beside it.
#[test]
fn an_incomplete_preflight_is_overridden_with_a_journaled_reason() {
    use crate::kong::policy::FindingId;
    use crate::kong::preflight::PreflightData;
    let mut h = H::from(crate::training::scenario("clean").expect("clean"), false);
    h.interpreter.preflight_wanted = true;
    h.interpreter.preflight = Some(PreflightData {
        conf_path: Some("/etc/kong/kong.conf".into()),
        conf_keys: vec![("pg_hots".into(), "db".into())],
        incomplete: vec![
            "routes, plugins and server version: the server closed the connection".into(),
        ],
        ..PreflightData::default()
    });
    h.read();
    let ids: Vec<FindingId> = h.m.findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&FindingId::PreflightIncomplete), "{ids:?}");
    assert!(ids.contains(&FindingId::ConfKeyUnknown), "{ids:?}");
    assert!(h.enter().is_empty());
    assert_eq!(
        h.m.step,
        Step::Preflight,
        "a check that did not run stops Enter"
    );
    assert!(h.notice().contains("o overrides it"), "{}", h.notice());
    h.key(Key::ch('o'));
    assert!(matches!(
        &h.m.overlay,
        Some(Overlay::Override {
            target: OverrideTarget::Finding { id, .. },
            ..
        }) if id == "preflight-incomplete"
    ));
    h.typed("routes checked by hand on a replica");
    let fx = h.enter();
    let title =
        h.m.findings
            .iter()
            .find(|f| f.id == FindingId::PreflightIncomplete)
            .map(|f| f.title.clone())
            .unwrap_or_default();
    assert_eq!(
        journal(&fx),
        vec![Event::Override {
            gate: format!("preflight: preflight-incomplete: {title}"),
            reason: "routes checked by hand on a replica".into(),
        }]
    );
    h.enter();
    assert_eq!(
        h.m.step,
        Step::Backup,
        "past the override, the step goes on"
    );
}

/// A rehearsal record measuring core 016 as the journal keeps it.
pub(super) fn rehearsal_016(at: &str, ms_016: u64) -> crate::contract::clone::RehearsalRecord {
    use crate::contract::clone::{CloneRecord, MigrationTiming, RehearsalRecord, RehearsedStep};
    RehearsalRecord {
        at: at.into(),
        target: Some("3.4.2".into()),
        kong_cmd: "kong".into(),
        clone: CloneRecord {
            source: "kong@db:5432/kong".into(),
            clone: "kong@db:5432/kong_rehearsal".into(),
            clone_host: "db".into(),
            clone_port: 5432,
            clone_database: "kong_rehearsal".into(),
            created: true,
            replaced: false,
            server_major: "16".into(),
            snapshot: "00000003-1".into(),
            tables: vec![],
            schema_meta_rows: 3,
            elapsed_ms: 1000,
            created_at: at.into(),
        },
        steps: vec![
            RehearsedStep {
                command: "up".into(),
                ms: 192_000,
                ok: true,
                outcome: "exit code 0".into(),
                migrations: vec![MigrationTiming {
                    subsystem: "core".into(),
                    migration: "016_280_to_300".into(),
                    ms: ms_016,
                }],
                output: vec![],
            },
            RehearsedStep {
                command: "finish".into(),
                ms: 41_000,
                ok: true,
                outcome: "exit code 0".into(),
                migrations: vec![],
                output: vec![],
            },
        ],
        ok: true,
        kept: false,
    }
}

/// Review, per migration: what it changes (the catalog's facts), the rows its tables hold now
/// (labelled estimates), the large-table flag, the estimate, and a rehearsal's measured time in
/// its place; the rehearsal line on Review and Up.
#[test]
fn review_shows_each_migrations_changes_rows_large_flag_and_duration() {
    let mut h = H::scenario("clean");
    h.interpreter.row_counts = Some(vec![
        ("routes".into(), 1_000_000),
        (
            crate::kong::rewrites::ROUTES_WITH_REGEX_PATHS.into(),
            1_000_000,
        ),
        ("targets".into(), 12),
    ]);
    h.read();
    h.enter();
    h.own_backup("snapshot vol-0abc of the db host");
    h.enter();
    assert_eq!(h.m.step, Step::Review);
    let reviews = h.m.migration_reviews();
    let i = reviews
        .iter()
        .position(|r| r.subsystem == "core" && r.migration == "016_280_to_300")
        .expect("016 runs");
    let r = &reviews[i];
    assert!(
        r.changes
            .iter()
            .any(|c| c.starts_with("up: creates sm_vaults")),
        "{:?}",
        r.changes
    );
    assert!(
        r.changes
            .iter()
            .any(|c| c.contains("up_f") && c.contains("rewrites routes rows (updates paths)")),
        "{:?}",
        r.changes
    );
    assert!(r
        .changes
        .iter()
        .any(|c| c.contains("teardown") && c.contains("drops vaults_beta")));
    assert_eq!(r.large, ["routes"]);
    assert!(
        r.rows.contains(&("routes".to_string(), 1_000_000)),
        "{:?}",
        r.rows
    );
    // 1,000,000 UPDATEs at 2,900/s: about 6 minutes.
    let est = r.estimate_secs.expect("estimated");
    assert!((300.0..400.0).contains(&est), "{est}");
    // A migration on uncounted tables has no estimate and no flag.
    let other = reviews
        .iter()
        .find(|r| r.migration == "017_300_to_310")
        .unwrap();
    assert!(other.large.is_empty() && other.estimate_secs.is_none());

    h.m.cursor = i;
    let screen = crate::tui::view::render_to_string(&h.m, 80, 24);
    assert!(
        screen.contains("016_280_to_300") && screen.contains("LARGE"),
        "{screen}"
    );
    h.key(Key::ch('v'));
    let Some(Overlay::Detail { text, .. }) = &h.m.overlay else {
        panic!("{:?}", h.m.overlay)
    };
    assert!(text.contains("rows now (estimates): "), "{text}");
    assert!(text.contains("routes ~1,000,000"), "{text}");
    assert!(text.contains("estimate: ~"), "{text}");
    assert!(text.contains("With --kong-lua-path"), "{text}");
    h.key(Key::plain(KeyCode::Esc));

    // A rehearsal's measured time replaces the estimate; its line is on Review and Up.
    h.m.setup.rehearsal = Some(crate::wizard::review::Rehearsal {
        record: rehearsal_016("2026-11-30T10:00:00Z", 170_000),
        staleness: crate::wizard::review::Staleness::Fresh,
    });
    // Below the estimate: the estimate stands, as in `plan`'s advice.
    let r = &h.m.migration_reviews()[i];
    assert_eq!(
        r.duration_text().as_deref(),
        Some("rehearsed: up ~5 min 45 s (the estimate; rehearsed 2 min 50 s)")
    );
    let want = "rehearsed on 2026-11-30: up 3 min 12 s, finish 41 s; slowest core/016_280_to_300 2 min 50 s";
    assert_eq!(h.m.rehearsal_line().as_deref(), Some(want));
    let shown = "rehearsed on 2026-11-30: up 3 min 12 s, finish 41 s; slowest";
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(screen.contains(shown), "{screen}");
    h.enter();
    assert_eq!(h.m.step, Step::Up);
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(screen.contains(shown), "{screen}");
    // Stale: said so.
    h.m.setup.rehearsal.as_mut().unwrap().staleness =
        crate::wizard::review::Staleness::Changed("services: 10 rows -> 11".into());
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(
        screen.contains("STALE: the database changed since"),
        "{screen}"
    );
}

/// The rehearsal's staleness is three answers and a wait: "checking" until the check's one
/// message comes (the check runs beside the UI), then fresh, changed, or not checked. A check
/// without an answer claims no change: not STALE, and the measured times are marked.
#[test]
fn a_rehearsal_not_checked_is_not_called_stale_and_checking_answers_by_message() {
    use crate::wizard::review::{Rehearsal, Staleness};
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    h.own_backup("snapshot vol-0abc of the db host");
    h.enter();
    assert_eq!(h.m.step, Step::Review);
    h.m.setup.rehearsal = Some(Rehearsal::unchecked(rehearsal_016(
        "2026-11-30T10:00:00Z",
        170_000,
    )));
    let i =
        h.m.migration_reviews()
            .iter()
            .position(|r| r.migration == "016_280_to_300")
            .expect("016 runs");
    let screen = crate::tui::view::render_to_string(&h.m, 300, 40);
    assert!(
        screen.contains("(checking whether the database changed since...)"),
        "{screen}"
    );
    assert_eq!(
        h.m.migration_reviews()[i].duration_text().as_deref(),
        Some("rehearsed (checking): up 2 min 50 s (as measured on the clone: the tables were not counted)")
    );

    // No answer in time: not checked, and said so, with its reason; no change claimed.
    let why = "no answer within 10 s (a large or busy database)";
    update(
        &mut h.m,
        Msg::RehearsalChecked(Staleness::NotChecked(why.into())),
    );
    let line = h.m.rehearsal_line().unwrap_or_default();
    assert!(line.contains(&format!("(not checked: {why};")), "{line}");
    let screen = crate::tui::view::render_to_string(&h.m, 300, 40);
    assert!(
        screen.contains("not checked: no answer within 10 s"),
        "{screen}"
    );
    assert!(!screen.contains("STALE"), "{screen}");
    assert!(!screen.contains("changed since:"), "{screen}");
    assert_eq!(
        h.m.migration_reviews()[i].duration_text().as_deref(),
        Some("rehearsed (not checked): up 2 min 50 s (as measured on the clone: the tables were not counted)")
    );
    assert!(
        h.m.log
            .lines
            .iter()
            .any(|l| l.text.contains("(not checked: ")),
        "the answer is logged"
    );

    // Checked and unchanged: the plain line, the times unmarked.
    update(&mut h.m, Msg::RehearsalChecked(Staleness::Fresh));
    assert_eq!(
        h.m.rehearsal_line().as_deref(),
        Some("rehearsed on 2026-11-30: up 3 min 12 s, finish 41 s; slowest core/016_280_to_300 2 min 50 s")
    );
    assert_eq!(
        h.m.migration_reviews()[i].duration_text().as_deref(),
        Some("rehearsed: up 2 min 50 s (as measured on the clone: the tables were not counted)")
    );
}

/// Issue 12: an old 2.8 traditional node still serving when finish runs after an override logs
/// what Kong 2.8.5 logs once 016_280_to_300's teardown dropped vaults_beta.
#[test]
fn an_old_traditional_node_after_finish_logs_kongs_own_error() {
    let mut h = H::json(
        r#"{"name":"stuck-old","title":"t","summary":"s","bootstrapped_at":"2.8.5","target":"3.4.2",
            "nodes":[{"name":"kong-old-1","version":"2.8.5","stuck":true},{"name":"kong-new-1","version":"3.4.2"}]}"#,
    );
    h.through_up();
    h.tick_all_once();
    h.read();
    assert!(!h.m.node_gate().open, "the stuck node still answers");
    h.enter();
    assert_eq!(h.m.step, Step::Finish);
    h.key(Key::ch('o'));
    h.typed("it will be stopped right after");
    h.enter();
    h.enter();
    h.typed("finish");
    let fx = h.enter();
    h.perform(&fx);
    h.advance(0.5);
    h.read();
    assert!(h.m.outcome.as_ref().is_some_and(|o| o.success));
    let log: Vec<&str> = h.m.log.lines.iter().map(|l| l.text.as_str()).collect();
    assert!(
        log.contains(&"(training) kong-old-1 log: [error] … [kong] api_helpers.lua:340 [postgres] ERROR: relation \"vaults_beta\" does not exist, client: …, server: kong_admin, request: \"GET /vaults-beta HTTP/1.1\""),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.starts_with("(training) kongrade: finish ran core 016_280_to_300's teardown, which dropped vaults_beta")),
        "{log:#?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.contains("the database no longer has the columns")),
        "{log:#?}"
    );
}

/// Issue 12: failed-up. A migration fails in the middle of up: Kong's error and exit code, the
/// migrations before it recorded, it and those after it not, the lock released; the screen says
/// so and what to do; up again unchanged fails the same way; after the fix it resumes and the
/// wizard reaches Done.
#[test]
fn a_migration_failing_mid_up_is_shown_and_the_retry_after_the_fix_reaches_done() {
    use crate::wizard::failed::failed_up;
    let mut h = H::scenario("failed-up");
    h.read();
    assert_eq!(h.m.step, Step::Preflight, "{:?}", h.m.findings);
    h.enter();
    assert_eq!(h.m.step, Step::Backup, "{}", h.notice());
    h.own_backup("snapshot vol-0abc");
    h.enter();
    h.enter();
    assert_eq!(h.m.step, Step::Up);
    // Nothing to fix before kong said what is wrong.
    assert!(h.key(Key::ch('f')).is_empty());
    assert!(h.notice().contains("nothing to fix yet"), "{}", h.notice());
    let before = h.training.db.snapshot().expect("readable");
    let st_before = crate::kong::state::compute(
        &h.training.target,
        &before,
        crate::kong::catalog::Catalog::embedded(),
    );
    let new_before = st_before.total(MigState::New);
    h.enter();
    let fx = h.enter();
    let fx = h.perform(&fx);
    assert_eq!(actions(&fx), vec![Effect::Refresh]);
    h.advance(0.5);
    h.read();
    let o = h.m.outcome.clone().expect("judged");
    assert!(!o.success, "{o:?}");
    assert!(o.text.contains("kong exited with code 1"), "{}", o.text);
    // Kong's stderr, in its shape.
    let stderr: Vec<&str> =
        h.m.log
            .lines
            .iter()
            .filter(|l| l.kind == LogKind::Stderr)
            .map(|l| l.text.as_str())
            .collect();
    assert_eq!(
        stderr.first().copied(),
        Some("Error: [PostgreSQL error] cluster_mutex callback threw an error: [PostgreSQL error] failed to run migration '001_320_to_330' up: ERROR: could not create unique index \"partner_keys_key_key\""),
        "{stderr:#?}"
    );
    assert!(
        stderr.contains(&"Key (key)=(pk-7f3c21) is duplicated."),
        "{stderr:#?}"
    );
    // What Kong left: those before it recorded, it and the rest not, no lock.
    let snap = h.training.db.snapshot().expect("readable");
    assert!(snap.lock.is_none(), "the lock is released");
    let st = h.m.state().expect("read").clone();
    let f = failed_up(&h.m).expect("an account of the failure");
    assert_eq!(f.failed.as_deref(), Some("partner-keys/001_320_to_330"));
    assert!(f.lock_released && !f.pending, "{f:?}");
    assert!(
        f.recorded.iter().any(|r| r == "core/019_320_to_330"),
        "{f:?}"
    );
    assert!(
        !f.recorded.iter().any(|r| r.starts_with("partner-keys/")),
        "{f:?}"
    );
    for r in &f.recorded {
        let (sub, name) = r.split_once('/').expect("sub/name");
        let s = st.subsystem(sub).expect("subsystem");
        assert!(
            s.names(MigState::Executed).contains(&name.to_string()),
            "{r} recorded"
        );
    }
    assert_eq!(f.recorded.len() + 1 + f.not_run, new_before, "{f:?}");
    assert!(
        f.not_run > 0,
        "migrations after the failed one never ran: {f:?}"
    );
    assert_eq!(
        st.subsystem("partner-keys").map(|s| s.names(MigState::New)),
        Some(vec!["001_320_to_330".to_string()])
    );
    // The screen: what happened and what to do.
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    for want in [
        "Kong's error: failed to run migration '001_320_to_330' up: ERROR: could",
        "Recorded in schema_meta by this run:",
        "Not recorded: partner-keys/001_320_to_330, which failed",
        "The migrations lock: released",
        "What to do: read Kong's error",
        "f fix the row (training)",
    ] {
        assert!(screen.contains(want), "{want}\n{screen}");
    }
    // The policy: up part way, the old nodes still work (finish never ran).
    assert!(
        matches!(
            h.m.reading.as_ref().map(|r| &r.position),
            Some(crate::kong::policy::Position::UpPartial { .. })
        ),
        "{:?}",
        h.m.reading.as_ref().map(|r| &r.position)
    );
    // Up again without fixing the cause fails the same way.
    h.enter();
    let fx = h.enter();
    h.perform(&fx);
    h.advance(0.5);
    h.read();
    assert!(h.m.outcome.as_ref().is_some_and(|o| !o.success));
    assert_eq!(
        failed_up(&h.m).map(|f| f.recorded.len()),
        Some(0),
        "nothing new recorded"
    );
    // The fix, then up resumes at the failed migration.
    let fx = h.key(Key::ch('f'));
    assert_eq!(actions(&fx), vec![Effect::FixCause]);
    h.fix(&fx);
    assert!(h.training.db.lock_tables().faults.is_empty());
    assert!(h.notice().contains("Enter runs up again"), "{}", h.notice());
    h.enter();
    let fx = h.enter();
    h.perform(&fx);
    h.advance(0.5);
    h.read();
    assert!(
        h.m.outcome.as_ref().is_some_and(|o| o.success),
        "{:?}",
        h.m.outcome
    );
    let last_cmd =
        h.m.log
            .lines
            .iter()
            .rposition(|l| l.kind == LogKind::Command)
            .expect("ran");
    let rerun: Vec<&str> = h.m.log.lines[last_cmd..]
        .iter()
        .filter(|l| l.text.contains(" migrated up to: "))
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        rerun.len(),
        1 + f.not_run,
        "only what was not recorded ran: {rerun:#?}"
    );
    assert!(
        rerun[0].starts_with("partner-keys migrated up to: 001_320_to_330"),
        "{rerun:#?}"
    );
    h.enter();
    assert_eq!(h.m.step, Step::Decommission);
    h.play_to_done();
    assert_eq!(h.m.step, Step::Done);
    let screen = crate::tui::view::render_to_string(&h.m, 120, 40);
    assert!(screen.contains("up to date for Kong 3.3.1"), "{screen}");
    let debrief = crate::wizard::text::debrief(&h.m);
    let up = debrief
        .iter()
        .find(|(s, _, _)| *s == "Up")
        .expect("Up in the debrief");
    assert!(up.1.contains("fixed its cause and ran up again"), "{up:?}");
}

/// Issue 12 point 4: keys the table does not bind now say so, as the table words it: digits
/// beyond the choices of a checkpoint or the scenario menu, and any other key.
#[test]
fn keys_that_do_nothing_say_so() {
    let mut h = H::scenario("clean");
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    h.key(Key::ch('z'));
    assert!(
        h.notice()
            .starts_with("z does nothing on Preflight: the keys that act are Enter"),
        "{}",
        h.notice()
    );
    assert!(
        h.notice().ends_with("; ? lists every key"),
        "{}",
        h.notice()
    );
    assert_eq!(h.m.step, Step::Preflight);
    // A checkpoint has 3 answers: 4 to 9 choose nothing, and say so.
    h.m.overlay = Some(Overlay::Checkpoint {
        which: Checkpoint::BeforeUp,
        chosen: None,
    });
    h.key(Key::ch('4'));
    assert_eq!(h.notice(), "4 chooses nothing: there are 3 answers, 1-3");
    assert!(matches!(
        h.m.overlay,
        Some(Overlay::Checkpoint { chosen: None, .. })
    ));
    h.key(Key::ch('2'));
    assert!(matches!(
        h.m.overlay,
        Some(Overlay::Checkpoint {
            chosen: Some(1),
            ..
        })
    ));
    assert_eq!(h.notice(), "", "an accepted key clears the notice");
    // The menu with 2 scenarios: 7 starts nothing.
    h.m.overlay = Some(Overlay::Scenarios);
    h.m.setup.scenarios = vec![
        ("clean".into(), "A".into()),
        ("stale-lock".into(), "B".into()),
    ];
    h.key(Key::ch('7'));
    assert_eq!(h.notice(), "7 chooses nothing: there are 2 scenarios, 1-2");
    assert!(h.m.restart.is_none() && !h.m.quit);
    let screen = crate::tui::view::render_to_string(&h.m, 80, 24);
    assert!(screen.contains("1-2 start it"), "{screen}");
    assert!(
        screen.contains("7 chooses nothing"),
        "the notice shows in the menu\n{screen}"
    );
    // In an entry, Tab does nothing, and says so.
    h.m.overlay = Some(Overlay::AddNode {
        typed: String::new(),
        error: None,
    });
    h.key(Key::plain(KeyCode::Tab));
    assert_eq!(
        h.notice(),
        "Tab does nothing in this dialog: the keys that act are Enter, Esc"
    );
    // Too small: the screen says what acts; no notice is set behind it.
    h.m.overlay = None;
    h.m.notice = None;
    update(
        &mut h.m,
        Msg::Resize {
            width: 50,
            height: 12,
        },
    );
    h.key(Key::ch('z'));
    assert_eq!(h.notice(), "");
}

/// Issue 12 points 2 and 3: at 60x16 the finish checkpoint's explanation scrolls with a marker
/// to its last line, and a notice shows inside the overlay, in full.
#[test]
fn overlays_scroll_with_a_marker_and_show_the_notice() {
    let mut h = H::scenario("clean");
    h.read();
    update(
        &mut h.m,
        Msg::Resize {
            width: 60,
            height: 16,
        },
    );
    h.m.overlay = Some(Overlay::Checkpoint {
        which: Checkpoint::BeforeUp,
        chosen: None,
    });
    h.enter();
    let screen = crate::tui::view::render_to_string(&h.m, 60, 16);
    assert!(
        screen.contains("answer first: the number of the answer you think is")
            && screen.contains("║right"),
        "the notice, whole, inside the box\n{screen}"
    );
    let q = crate::wizard::text::checkpoint(Checkpoint::BeforeFinish);
    h.m.overlay = Some(Overlay::Checkpoint {
        which: Checkpoint::BeforeFinish,
        chosen: None,
    });
    h.key(Key::ch(char::from(b'1' + q.right as u8)));
    let screen = crate::tui::view::render_to_string(&h.m, 60, 16);
    assert!(screen.contains("more below (↓/j)"), "{screen}");
    let last: String = q.choices[q.right]
        .1
        .split_whitespace()
        .next_back()
        .unwrap_or_default()
        .to_string();
    assert!(!screen.contains(&last), "{last}\n{screen}");
    let mut seen = false;
    for _ in 0..40 {
        h.key(Key::ch('j'));
        let screen = crate::tui::view::render_to_string(&h.m, 60, 16);
        if screen.contains(&last) {
            seen = true;
            assert!(screen.contains("more above (↑/k)"), "{screen}");
            assert!(
                screen.contains("Enter go on"),
                "the keys stay in view\n{screen}"
            );
            break;
        }
    }
    assert!(
        seen,
        "the explanation's last words ({last}) never came into view (scroll {})\n{}",
        h.m.overlay_scroll,
        crate::tui::view::render_to_string(&h.m, 60, 16)
    );
    assert!(matches!(
        h.m.overlay,
        Some(Overlay::Checkpoint {
            chosen: Some(_),
            ..
        })
    ));
    let at = h.m.overlay_scroll;
    assert!(at > 0);
    h.key(Key::ch('k'));
    assert_eq!(h.m.overlay_scroll, at - 1);
}

/// Issue 12 point 6: a lock live at the last read but expired by the wizard's clock since is
/// "expired" in the live pane too, as the Waiting step says, never "HELD, 0.0 s left".
#[test]
fn a_lock_expired_since_the_last_read_is_not_called_held() {
    let mut h = H::scenario("stale-lock");
    h.read();
    assert_eq!(h.m.step, Step::Waiting);
    let left = h.m.lock_seconds_left().expect("a lock with a ttl");
    let screen = crate::tui::view::render_to_string(&h.m, 80, 24);
    assert!(screen.contains("lock: HELD"), "{screen}");
    h.advance(left + 1.0);
    let screen = crate::tui::view::render_to_string(&h.m, 80, 24);
    assert!(
        screen.contains("expired; waiting for the next read"),
        "{screen}"
    );
    assert!(screen.contains("lock: expired (re-reading)"), "{screen}");
    assert!(!screen.contains("lock: HELD"), "{screen}");
}
