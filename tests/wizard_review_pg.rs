//! The wizard's Review after a real `kongrade rehearse` on PostgreSQL (the stand-in as kong):
//! the journal's Rehearsed record read back as the wizard reads it, the "rehearsed on DATE"
//! line on Review and Up, its measured times in place of the estimates, and STALE once the
//! database changed since.

mod support;

use std::process::{Command, Stdio};
use std::time::Instant;

use kongrade::cmd::context::{ConnOptions, Connection, Context};
use kongrade::tui::poller::Source;
use kongrade::wizard::review::Staleness;
use kongrade::wizard::{update, Interpreter, Key, KeyCode, Model, Msg, Setup, Step};
use support::pg::{self, TestDb};
use support::{kong_db, kong_rows};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn key(m: &mut Model, k: Key) {
    update(m, Msg::Key(k));
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_real_rehearsal_review_and_up_show_its_times_and_say_when_stale() {
    pg::grant_createdb();
    let db = TestDb::new("wrv_rehearsed");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, 50, 2_000);
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 60");
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data.path());
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    let o = c
        .args(["rehearse", "--target-version", "3.4.2", "--kong-cmd", &kong])
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade rehearse");
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(dir.path(), "");
    let ctx = Context::new(
        Connection::resolve(&ConnOptions {
            conf: Some(conf),
            target_version: Some("3.4.2".into()),
            ..ConnOptions::default()
        })
        .unwrap(),
    )
    .await
    .unwrap();
    // The journal, read back as the wizard reads it.
    let id = ctx.conn.endpoint.identity();
    let path = kongrade::exec::journal::unfinished(&data.path().join("journal"), &id)
        .unwrap()
        .expect("rehearse left this database's journal open");
    let rb = kongrade::exec::journal::read(&path).unwrap();
    let mut rehearsal = kongrade::tui::rehearsal_for(&rb, &ctx).expect("a rehearsal for 3.4.2");
    let opts = ctx.conn.pg().unwrap().clone();
    assert_eq!(rehearsal.staleness, Staleness::Checking, "not checked yet");
    rehearsal.staleness = kongrade::tui::rehearsal_staleness(&opts, &rehearsal.record).await;
    assert_eq!(
        rehearsal.staleness,
        Staleness::Fresh,
        "nothing changed since"
    );
    let line = rehearsal.line();
    assert!(
        line.starts_with("rehearsed on ") && line.contains("up ") && line.contains("finish "),
        "{line}"
    );
    assert!(
        said.contains(&line),
        "rehearse printed the same line: {said}"
    );
    let slowest = rehearsal
        .record
        .slowest()
        .expect("timed migrations")
        .clone();

    // The wizard on that database, its reads from its own source and interpreter.
    let mut setup = Setup::new("test", ctx.target.version);
    setup.rehearsal = Some(rehearsal.clone());
    // As `--strategy in-place --deployment traditional --second-cluster no` preselects it
    // (2.8 -> 3.4 refuses blue-green).
    setup.strategy = kongrade::wizard::model::StrategyFacts {
        preselected: Some(kongrade::kong::strategy::Strategy::InPlace),
        deployment: Some((
            kongrade::kong::strategy::Deployment::Traditional,
            "--deployment".into(),
        )),
        second_cluster: Some(false),
    };
    let mut m = Model::new(setup, Instant::now());
    let interp = Interpreter::new(
        std::sync::Arc::new(ctx.target.clone()),
        ctx.catalog,
        ctx.settings(None, None),
    );
    let mut src = Source::new(ctx.conn.endpoint.clone());
    let snap = src.read().await.unwrap();
    let at = m.now;
    update(
        &mut m,
        Msg::Snapshot {
            seq: 1,
            result: Ok(Box::new(interp.reading(&snap))),
            at,
        },
    );
    assert_eq!(m.step, Step::Preflight);
    key(&mut m, Key::plain(KeyCode::Enter));
    assert_eq!(m.step, Step::Backup, "{:?}", m.notice);
    key(&mut m, Key::ch(' '));
    for ch in "snapshot vol-0abc".chars() {
        key(&mut m, Key::ch(ch));
    }
    key(&mut m, Key::plain(KeyCode::Enter));
    key(&mut m, Key::plain(KeyCode::Enter));
    assert_eq!(m.step, Step::Review, "{:?}", m.notice);
    let screen = kongrade::tui::view::render_to_string(&m, 80, 24);
    let date = &rehearsal.record.at[..10];
    assert!(screen.contains(&format!("rehearsed on {date}")), "{screen}");
    // The slowest migration's measured time replaces its estimate.
    let r = m
        .migration_reviews()
        .into_iter()
        .find(|r| r.subsystem == slowest.subsystem && r.migration == slowest.migration)
        .expect("the slowest one runs");
    assert!(
        r.duration_text()
            .is_some_and(|d| d.starts_with("rehearsed: up")),
        "{:?}",
        r.duration_text()
    );
    // In-place: writes frozen, every old node confirmed stopped, then Up.
    key(&mut m, Key::plain(KeyCode::Enter));
    assert_eq!(m.step, Step::Freeze);
    key(&mut m, Key::plain(KeyCode::Enter));
    assert_eq!(m.step, Step::Decommission);
    key(&mut m, Key::ch(' '));
    key(&mut m, Key::plain(KeyCode::Enter));
    assert_eq!(m.step, Step::Up, "{:?}", m.notice);
    let screen = kongrade::tui::view::render_to_string(&m, 80, 24);
    assert!(screen.contains(&format!("rehearsed on {date}")), "{screen}");

    // A service added since: the times were measured on another database.
    db.exec("INSERT INTO services (name, host, port) VALUES ('late', 'late.internal', 80)");
    let stale = kongrade::tui::rehearsal_staleness(&opts, &rehearsal.record).await;
    let Staleness::Changed(why) = &stale else {
        panic!("stale after a write: {stale:?}")
    };
    assert!(why.contains("services"), "{why}");
    m.setup.rehearsal = Some(kongrade::wizard::review::Rehearsal {
        staleness: stale.clone(),
        ..rehearsal
    });
    let screen = kongrade::tui::view::render_to_string(&m, 120, 40);
    assert!(screen.contains("STALE"), "{screen}");
}
