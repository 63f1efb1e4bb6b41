//! Every screen of the wizard as text, at 80x24 and 120x40 (insta snapshots in `snapshots/`),
//! plus renders at every small size to prove the view never panics.
//! Models are driven to each step by messages, the way the app gets there.

use crate::contract::{RunEvent, Stream};
use crate::wizard::keys::{Key, KeyCode};
use crate::wizard::model::{DecomRow, LogKind, Model, NodeItem, Step};
use crate::wizard::testkit::H;
use crate::wizard::{update, Msg};

use super::view::render_to_string;

fn snap(name: &str, m: &Model) {
    for (w, h) in [(80, 24), (120, 40)] {
        let text = render_to_string(m, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

/// The stale-lock scenario's countdown, pinned: the training lock runs on the real clock.
fn pin_lock(h: &mut H, secs: f64) {
    if let Some(l) = h.m.reading.as_mut().and_then(|r| r.state.lock.as_mut()) {
        l.seconds_left = Some(secs);
    }
}

fn at_up(name: &str) -> H {
    let mut h = H::scenario(name);
    h.read();
    h.enter();
    h.own_backup("nightly dump");
    h.enter();
    h.enter();
    assert_eq!(h.m.step, Step::Up);
    h
}

fn running_up() -> H {
    let mut h = at_up("clean");
    h.enter();
    h.enter();
    h.run(
        1,
        RunEvent::Started {
            command_line: "kong migrations up".into(),
        },
    );
    for l in [
        "migrating core on database 'kong'...",
        "core migrated up to: 016_280_to_300 (pending)",
        "core migrated up to: 017_300_to_310 (executed)",
    ] {
        h.run(
            1,
            RunEvent::Line {
                stream: Stream::Stdout,
                text: l.into(),
            },
        );
    }
    h.advance(3.2);
    h
}

#[test]
fn connecting() {
    let h = H::scenario("clean");
    snap("connecting", &h.m);
    let mut h = H::scenario("clean");
    h.training.db.lock_tables().unavailable = true;
    h.read();
    h.read();
    snap("connecting_failed", &h.m);
}

#[test]
fn waiting_for_a_live_lock() {
    let mut h = H::scenario("stale-lock");
    h.read();
    pin_lock(&mut h, 20.0);
    h.advance(2.5);
    snap("waiting", &h.m);
}

#[test]
fn preflight() {
    let mut h = H::scenario("clean");
    h.read();
    snap("preflight_clean", &h.m);

    let mut h = H::scenario("custom-plugin");
    h.read();
    snap("preflight_findings", &h.m);

    let mut h = H::scenario("pre-1.0");
    h.read();
    h.enter();
    snap("preflight_pre10_refused", &h.m);

    // An earlier upgrade skipped a core migration: a gap, in the findings and the live pane.
    let mut h = H::scenario("clean");
    if let Some(core) = h
        .training
        .db
        .lock_tables()
        .schema_meta
        .as_mut()
        .and_then(|m| m.get_mut("core"))
    {
        if let Some(e) = core.executed.as_mut() {
            e.retain(|n| n != "010_210_to_211");
        }
    }
    h.read();
    assert!(h
        .m
        .findings
        .iter()
        .any(|f| f.id == crate::kong::policy::FindingId::SkippedMigrations));
    snap("preflight_gap", &h.m);
}

#[test]
fn bootstrap() {
    let mut h = H::json(r#"{"name":"empty","title":"empty","summary":"","target":"3.4.2"}"#);
    h.read();
    h.enter();
    snap("bootstrap", &h.m);
}

#[test]
fn backup_and_review() {
    let mut h = H::scenario("clean");
    h.read();
    h.enter();
    snap("backup", &h.m);
    h.space();
    h.typed("s3://backups/kong-2026-11-21.dump");
    snap("backup_own_typing", &h.m);
    h.enter();
    snap("backup_own_done", &h.m);
    h.enter();
    h.down();
    h.down();
    snap("review", &h.m);
}

fn a_record() -> crate::contract::BackupRecord {
    crate::contract::BackupRecord {
        file: "/var/lib/kongrade/backups/20261122T040000Z-127.0.0.1-5432-kong.dump".into(),
        bytes: 1_843_200,
        sha256: "9f2c0e5be1d6a3f4c2b1a0e9d8c7b6a5f4e3d2c1b0a99887766554433221100f".into(),
        database: "kong@127.0.0.1:5432/kong".into(),
        pg_dump_version: "pg_dump (PostgreSQL) 16.4".into(),
        entries: 212,
        elapsed_ms: 3100,
        created_at: "2026-11-22T04:00:03Z".into(),
    }
}

#[test]
fn backup_taken_by_kongrade_and_cassandra_snapshots() {
    use crate::wizard::model::BackupMethod;
    let mut h = H::scenario("clean");
    h.m.setup.backup = BackupMethod::PgDump {
        command: "pg_dump -h 127.0.0.1 -p 5432 -U kong -Fc -f kong-kong-backup.dump kong".into(),
    };
    h.read();
    h.enter();
    snap("backup_pg_dump", &h.m);
    h.key(Key::ch('t'));
    h.advance(2.0);
    update(
        &mut h.m,
        Msg::BackupProgress {
            bytes: 917_504,
            elapsed: std::time::Duration::from_millis(1800),
        },
    );
    snap("backup_running", &h.m);
    update(&mut h.m, Msg::BackupDone(Ok(a_record())));
    snap("backup_taken", &h.m);

    let mut h = H::scenario("clean");
    h.m.setup.backup = BackupMethod::Cassandra {
        keyspace: "kong".into(),
        tag: "kongrade-20261122T040000Z".into(),
        hosts: vec!["10.0.0.1".into(), "10.0.0.2".into(), "10.0.0.3".into()],
    };
    h.m.snapshots = vec![false; 3];
    h.read();
    h.enter();
    h.space();
    h.down();
    snap("backup_cassandra", &h.m);
}

#[test]
fn up() {
    let mut h = at_up("clean");
    snap("up", &h.m);
    h.enter();
    snap("up_confirm", &h.m);

    let mut h = running_up();
    snap("up_running", &h.m);
    h.key(Key::ctrl('c'));
    snap("up_leave_while_running", &h.m);

    let mut h = running_up();
    h.run(
        1,
        RunEvent::Line {
            stream: Stream::Stderr,
            text: "Error: [PostgreSQL error] failed to run migration '018_310_to_320' up: timeout"
                .into(),
        },
    );
    h.run(
        1,
        RunEvent::Exited {
            code: Some(1),
            signal: None,
        },
    );
    h.read();
    snap("up_failed", &h.m);

    let mut h = at_up("clean");
    h.enter();
    let fx = h.enter();
    h.perform(&fx);
    h.read();
    snap("up_done", &h.m);
}

#[test]
fn decommission_and_finish() {
    let mut h = H::scenario("old-node-serving");
    // The data planes' ages are on screen: read them on the test's clock, not the machine's.
    h.freeze_db_clock();
    h.through_up();
    snap("decommission", &h.m);
    // The old control plane's checklist, half done, under the cursor.
    let cp =
        h.m.nodes
            .iter()
            .position(|n| n.name == "cp-old-1")
            .expect("node");
    h.select(&DecomRow::NodeItem(cp, NodeItem::OutOfLb));
    h.space();
    h.down();
    h.space();
    snap("decommission_old_node_checklist", &h.m);
    h.tick_all();
    h.read();
    // Just stopped: both data planes are within the window, dp-old-1 ageing.
    snap("decommission_dp_ageing", &h.m);
    // 10 s on: dp-old-1 still ages, the stuck dp-old-2 checked in after its stop.
    h.wait(10.0);
    h.read();
    snap("decommission_old_node_seen", &h.m);
    h.age_out();
    h.read();
    h.enter();
    h.enter();
    snap("finish_refused_old_node", &h.m);

    let mut h = H::scenario("unfinished");
    h.read();
    h.tick_all();
    h.enter();
    snap("finish", &h.m);
    h.enter();
    h.typed("fin");
    snap("finish_typed", &h.m);
    h.typed("ish");
    let fx = h.enter();
    h.perform(&fx);
    h.read();
    h.enter();
    snap("done", &h.m);
}

#[test]
fn help_and_log_focus() {
    let mut h = H::scenario("clean");
    h.read();
    h.key(Key::ch('?'));
    snap("help", &h.m);

    let mut h = H::scenario("clean");
    h.read();
    for i in 0..40 {
        h.m.log.push(LogKind::Stdout, format!("output line {i}"));
    }
    h.key(Key::plain(KeyCode::Tab));
    h.key(Key::plain(KeyCode::PageUp));
    snap("log_scrolled", &h.m);
}

#[test]
fn writes_since_up_are_warned_at_decommission() {
    let mut h = H::scenario("unfinished");
    h.read();
    assert_eq!(h.m.step, Step::Decommission);
    h.m.findings.push(crate::kong::diagnose::Finding {
        id: crate::kong::policy::FindingId::WritesSinceUp,
        severity: crate::kong::diagnose::Severity::Warning,
        title:
            "2 entity change(s) through the Admin API since `up` finished (2026-11-22T04:00:00Z)"
                .into(),
        seen: vec![],
        why: String::new(),
        remedy: vec![],
    });
    let text = render_to_string(&h.m, 120, 40);
    assert!(
        text.contains("freeze Admin API writes until finish"),
        "{text}"
    );
}

#[test]
fn rollback_guidance() {
    // Before finish: pending migrations, no restore advised.
    let mut h = H::scenario("unfinished");
    h.read();
    h.key(Key::ch('b'));
    snap("rollback_before_finish", &h.m);
    let text = render_to_string(&h.m, 120, 40);
    assert!(text.contains("has NOT run"), "{text}");
}

#[test]
fn stale_database() {
    let mut h = H::scenario("clean");
    h.read();
    h.training.db.lock_tables().unavailable = true;
    for _ in 0..4 {
        h.advance(1.0);
        h.read();
    }
    snap("stale", &h.m);
}

#[test]
fn no_color_renders_the_same_text() {
    let mut h = H::scenario("clean");
    h.read();
    let colored = render_to_string(&h.m, 80, 24);
    h.m.setup.color = false;
    assert_eq!(colored, render_to_string(&h.m, 80, 24));
}

#[test]
fn tiny_terminals_get_a_message_and_no_panic() {
    let mut h = H::scenario("clean");
    h.read();
    let text = render_to_string(&h.m, 20, 6);
    insta::assert_snapshot!("too_small_20x6", text);
    assert!(text.contains("Terminal too small"));
}

/// Every size from nothing to large, on screens with the most content, never panics.
#[test]
fn every_size_renders_without_panicking() {
    let mut models = Vec::new();
    let mut h = running_up();
    h.key(Key::ctrl('c'));
    models.push(h.m.clone());
    let mut h = H::scenario("old-node-serving");
    h.through_up();
    h.tick_all();
    h.read();
    h.enter();
    h.enter();
    models.push(h.m.clone());
    let mut h = H::scenario("custom-plugin");
    h.read();
    h.key(Key::ch('?'));
    models.push(h.m.clone());
    // A resumed session's banner takes rows from the body.
    h.m.banner = Some("Resuming the upgrade started then: ".repeat(6));
    models.push(h.m.clone());
    for m in &models {
        for w in (0..=130).step_by(7).chain([59, 60, 61, 79, 80, 81]) {
            for ht in (0..=45).step_by(3).chain([15, 16, 17, 23, 24]) {
                let _ = render_to_string(m, w, ht);
            }
        }
    }
}

#[test]
fn resize_is_just_another_message() {
    let mut h = H::scenario("clean");
    h.read();
    update(
        &mut h.m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    assert_eq!(h.m.size, (100, 30));
    // The log's page follows the height.
    for i in 0..100 {
        h.m.log.push(LogKind::Stdout, format!("{i}"));
    }
    h.key(Key::plain(KeyCode::PageUp));
    assert_eq!(h.m.log.scroll, 7);
}

#[test]
fn the_log_scrolled_to_the_top_still_fills_the_pane() {
    let mut h = H::scenario("clean");
    h.read();
    for i in 0..40 {
        h.m.log.push(LogKind::Stdout, format!("output line {i}"));
    }
    h.key(Key::plain(KeyCode::Tab));
    h.key(Key::plain(KeyCode::Home));
    let text = render_to_string(&h.m, 80, 24);
    assert!(
        text.contains("output line 0") && text.contains("output line 4"),
        "{text}"
    );
}

#[test]
fn resumed_upgrade_banner() {
    use crate::contract::journal::{Entry, Event, ReadBack};
    use crate::wizard::model::Resume;
    let rb = ReadBack {
        entries: vec![
            Entry {
                seq: 1,
                at: "2026-11-22T04:00:00Z".into(),
                event: Event::Note {
                    text: "opened".into(),
                },
            },
            Entry {
                seq: 2,
                at: "2026-11-22T04:00:09Z".into(),
                event: Event::Backup { record: a_record() },
            },
            Entry {
                seq: 3,
                at: "2026-11-22T04:01:00Z".into(),
                event: Event::Step {
                    step: "up".into(),
                    phase: "done".into(),
                    detail: None,
                },
            },
        ],
        warnings: Vec::new(),
    };
    let mut h = H::scenario("unfinished");
    h.m = Model::new(
        crate::wizard::Setup {
            resume: Resume::from_journal(&rb),
            ..h.m.setup.clone()
        },
        h.m.now,
    );
    h.read();
    snap("decommission_resumed", &h.m);
}

/// Issue 12: every scenario's first screen is readable at 80x24: no line of the step is wider
/// than its pane (the screen would cut it silently), and what does not fit is marked.
#[test]
fn every_scenarios_first_screen_fits_its_lines_at_80x24() {
    for name in crate::training::names() {
        let mut h = H::scenario(name);
        h.read();
        // The step pane at 80x24: 80 - the live pane (32) - borders.
        let (w, body_h) = (46, 10);
        for l in super::view::step_body_text(&h.m, w, body_h) {
            assert!(
                l.chars().count() <= w,
                "{name}: a line wider than the pane ({} > {w}): {l}",
                l.chars().count()
            );
        }
        let text = render_to_string(&h.m, 80, 24);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("TRAINING"), "{name}:\n{text}");
        assert!(lines[23].contains("? help"), "{name}:\n{text}");
        assert!(
            text.contains(h.m.step.title()),
            "{name}: the step's title\n{text}"
        );
    }
}

/// Issue 12: text from the database reaches the screen escaped: an ESC in a subsystem name, a
/// lock owner or a data plane's hostname shows as `\x1b`, and no control character is drawn.
#[test]
fn database_text_with_control_characters_is_escaped_on_screen() {
    use crate::kong::snapshot::SchemaMetaRow;
    let mut h = H::scenario("old-node-serving");
    {
        let mut t = h.training.db.lock_tables();
        if let Some(meta) = t.schema_meta.as_mut() {
            meta.insert(
                "evil\x1b]0;pwned\x07".into(),
                SchemaMetaRow {
                    key: "schema_meta".into(),
                    subsystem: "evil\x1b]0;pwned\x07".into(),
                    last_executed: Some("000_\x1b[2Jbase".into()),
                    executed: Some(vec!["000_\x1b[2Jbase".into()]),
                    pending: None,
                },
            );
        }
        t.lock = Some(crate::store::memory::MemoryDb::lock_for(
            "host\x1b[31m-1",
            std::time::Duration::from_secs(600),
        ));
        if let Some(dp) = t.data_planes.as_mut().and_then(|d| d.first_mut()) {
            dp.hostname = Some("dp\x1b[1Aold".into());
        }
    }
    h.read();
    let mut screens = vec![render_to_string(&h.m, 120, 40)];
    // The lock released: Preflight, with the findings.
    h.training.db.lock_tables().lock = None;
    h.read();
    assert_eq!(h.m.step, Step::Preflight);
    screens.push(render_to_string(&h.m, 120, 40));
    // Every finding in full (the unknown subsystem's names its migrations).
    for i in 0..h.m.findings.len() {
        h.m.cursor = i;
        h.key(Key::ch('v'));
        screens.push(render_to_string(&h.m, 120, 40));
        h.key(Key::plain(KeyCode::Esc));
    }
    let all = screens.join("\n");
    assert!(
        !all.chars().any(|c| c.is_control() && c != '\n'),
        "a control character on screen:\n{all}"
    );
    assert!(all.contains("evil\\x1b]0;pwned\\x07"), "{all}");
    assert!(all.contains("host\\x1b[31m-1"), "{all}");
    let dps: Vec<String> =
        h.m.data_planes()
            .iter()
            .filter_map(|(d, _, _)| d.hostname.clone())
            .collect();
    assert!(dps.contains(&"dp\\x1b[1Aold".to_string()), "{dps:?}");
}

/// The Strategy step as the demo shows it (2.8.5 -> 3.4.2, no second cluster: in-place
/// recommended, blue-green refused), its confirmation, the question when the facts are not
/// known, and in-place's own steps with the downtime clock.
#[test]
fn strategy_step_and_in_place() {
    let mut h = H::choosing("clean");
    h.read();
    h.enter();
    assert_eq!(h.m.step, Step::Strategy);
    snap("strategy_lts", &h.m);
    h.enter();
    snap("strategy_confirm", &h.m);
    h.key(Key::ch('y'));
    h.own_backup("nightly dump");
    h.enter();
    h.enter();
    assert_eq!(h.m.step, Step::Freeze);
    snap("in_place_freeze", &h.m);
    h.enter();
    snap("in_place_stop_old", &h.m);
    h.tick_all();
    h.read();
    h.enter();
    h.advance(75.0);
    assert_eq!(h.m.step, Step::Up);
    snap("in_place_up", &h.m);
    h.enter();
    snap("in_place_up_confirm", &h.m);

    let mut h = H::choosing_from(
        serde_json::from_str(
            r#"{"name": "t", "title": "t", "summary": "t", "bootstrapped_at": "2.8.5", "target": "3.4.2"}"#,
        )
        .expect("scenario"),
        false,
    );
    h.read();
    h.enter();
    snap("strategy_asks", &h.m);
}
