//! The wizard's Preflight and row counts on a real PostgreSQL, through the wizard's own poller:
//! the same gather and the same count as `kongrade diagnose` (issue 15), so its findings and
//! its core 016_280_to_300 estimate are diagnose's.

mod support;

use std::time::{Duration, Instant};

use kongrade::cmd::context::{ConnOptions, Connection, Context};
use kongrade::cmd::diagnose::{self, MigrationFlags};
use kongrade::cmd::preflight::PreflightSource;
use kongrade::kong::rewrites::{self, ROUTES_WITH_REGEX_PATHS};
use kongrade::tui::poller::{self, Poller, Source};
use kongrade::wizard::{update, Interpreter, Key, KeyCode, Model, Msg, Setup, Step};
use support::kong_db;
use support::pg::TestDb;

async fn context(db: &TestDb, dir: &std::path::Path, conf_extra: &str) -> Context {
    let conf = db.write_kong_conf(dir, conf_extra);
    let conn = Connection::resolve(&ConnOptions {
        conf: Some(conf),
        target_version: Some("3.4.2".into()),
        ..ConnOptions::default()
    })
    .expect("connection");
    Context::new(conn).await.expect("context")
}

/// A 2.8.5 database with `regex` routes whose paths are 2.x regexes (one of them with a
/// look-ahead 3.x's default router refuses when `refused`), and `plain` plain ones.
fn database(tag: &str, regex: u32, plain: u32, refused: bool) -> TestDb {
    let db = TestDb::new(tag);
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, paths text[]);\
         CREATE TABLE plugins (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text);",
    );
    db.exec(&format!(
        "INSERT INTO routes (name, paths) SELECT 'rx-' || g, ARRAY['/users/\\d+/' || g] FROM generate_series(1, {regex}) g;\
         INSERT INTO routes (name, paths) SELECT 'plain-' || g, ARRAY['/plain/' || g] FROM generate_series(1, {plain}) g;"
    ));
    if refused {
        db.exec("INSERT INTO routes (name, paths) VALUES ('lookahead', ARRAY['/(?!admin).*'])");
    }
    db
}

/// The wizard's poller against the context's database, as `tui::wizard` builds it.
fn spawn_poller(
    ctx: &Context,
) -> (
    poller::PollerHandle,
    tokio::sync::mpsc::UnboundedReceiver<Msg>,
) {
    let mut interpreter = Interpreter::new(
        std::sync::Arc::new(ctx.target.clone()),
        ctx.catalog,
        ctx.settings(None, None),
    );
    interpreter.preflight_wanted = true;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let h = poller::spawn(
        Poller {
            source: Source::new(ctx.conn.endpoint.clone()),
            interpreter,
            every: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
            own_history: None,
            preflight: Some(PreflightSource::of(ctx, &[])),
        },
        tx,
    );
    (h, rx)
}

/// Feeds the poller's messages to the model until `done` holds (generous deadline: the machine
/// is busy).
async fn pump(
    m: &mut Model,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
    done: impl Fn(&Model) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(m) {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, rx.recv())
            .await
            .expect("condition reached within 60 s")
            .expect("poller alive");
        update(m, Msg::Tick(Instant::now()));
        update(m, msg);
    }
}

fn ids(m: &Model) -> Vec<String> {
    m.findings.iter().map(|f| f.id.to_string()).collect()
}

fn key(m: &mut Model, c: char) {
    update(m, Msg::Key(Key::ch(c)));
}

fn enter(m: &mut Model) {
    update(m, Msg::Key(Key::plain(KeyCode::Enter)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wizards_preflight_is_diagnoses_and_an_error_blocks_until_overridden() {
    let db = database("wpf_dirty", 30, 5, true);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&db, dir.path(), "upstream_keepalive = 60\n").await;
    // diagnose's findings, from its own gather.
    let g = diagnose::gather(&ctx, &MigrationFlags::default())
        .await
        .unwrap();
    let pre = kongrade::cmd::preflight::gather(&ctx, &g, &[]).await;
    let diag: Vec<String> = kongrade::cmd::preflight::findings(&ctx, &g, &pre)
        .iter()
        .map(|f| f.id.to_string())
        .collect();
    for id in [
        "conf-key-removed",
        "routes-regex-unprefixed",
        "routes-regex-incompatible",
    ] {
        assert!(diag.iter().any(|d| d == id), "diagnose: {diag:?}");
    }

    let (h, mut rx) = spawn_poller(&ctx);
    let mut m = Model::new(Setup::new("test", ctx.target.version), Instant::now());
    pump(&mut m, &mut rx, |m| {
        m.reading.as_ref().is_some_and(|r| !r.preflight_pending)
    })
    .await;
    assert_eq!(m.step, Step::Preflight);
    let wiz = ids(&m);
    for id in &diag {
        assert!(wiz.contains(id), "the wizard lacks {id}: {wiz:?}");
    }
    let screen = kongrade::tui::view::render_to_string(&m, 120, 40);
    assert!(screen.contains("regex paths"), "{screen}");

    // The errors stop Enter; an override with a typed reason passes each (journaled).
    enter(&mut m);
    assert_eq!(m.step, Step::Preflight, "an error finding blocks Enter");
    let mut journaled = Vec::new();
    for _ in 0..5 {
        if kongrade::wizard::keys::overridable_finding(&m).is_none() {
            break;
        }
        key(&mut m, 'o');
        for c in "reviewed with the routing team".chars() {
            key(&mut m, c);
        }
        let fx = update(&mut m, Msg::Key(Key::plain(KeyCode::Enter)));
        journaled.extend(fx.into_iter().filter_map(|e| match e {
            kongrade::wizard::Effect::Journal(ev) => Some(format!("{ev:?}")),
            _ => None,
        }));
    }
    assert!(
        journaled
            .iter()
            .any(|j| j.contains("routes-regex-incompatible") && j.contains("routing team")),
        "{journaled:?}"
    );
    assert!(m.finding_overrides.contains_key("conf-key-removed"));
    enter(&mut m);
    assert_ne!(m.step, Step::Preflight, "{:?}", m.notice);
    drop(h);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_database_has_no_preflight_finding_in_the_wizard_and_a_fix_is_seen_on_r() {
    let db = database("wpf_clean", 0, 10, false);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&db, dir.path(), "").await;
    let (h, mut rx) = spawn_poller(&ctx);
    let mut m = Model::new(Setup::new("test", ctx.target.version), Instant::now());
    // Before the preflight's reads arrive, Enter waits for them.
    pump(&mut m, &mut rx, |m| m.reading.is_some()).await;
    pump(&mut m, &mut rx, |m| {
        m.reading.as_ref().is_some_and(|r| !r.preflight_pending)
    })
    .await;
    let preflight_ids = [
        "conf-key-removed",
        "routes-regex-unprefixed",
        "routes-regex-incompatible",
        "plugins-not-shipped",
        "preflight-incomplete",
    ];
    let wiz = ids(&m);
    assert!(
        !wiz.iter().any(|i| preflight_ids.contains(&i.as_str())),
        "{wiz:?}"
    );
    // A route the target refuses appears, then the operator's r reads the preflight again.
    db.exec("INSERT INTO routes (name, paths) VALUES ('lookahead', ARRAY['/(?!admin).*'])");
    h.refresh_now();
    pump(&mut m, &mut rx, |m| {
        ids(m).iter().any(|i| i == "routes-regex-incompatible")
    })
    .await;
    drop(h);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wizards_016_estimate_is_diagnoses_with_regex_routes_counted() {
    let db = database("wpf_counts", 400, 600, false);
    db.exec("ANALYZE routes");
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&db, dir.path(), "").await;
    let g = diagnose::gather(&ctx, &MigrationFlags::default())
        .await
        .unwrap();
    let diag = g.row_counts.clone().expect("diagnose counted");

    // The poller's count, through its own source and connection.
    let mut src = Source::new(ctx.conn.endpoint.clone());
    let snap = src.read().await.unwrap();
    let wiz = src
        .row_counts(
            &snap,
            kongrade::kong::preflight::reads_routes(&g.state, &ctx.target),
        )
        .await
        .unwrap()
        .expect("the poller counted");
    assert_eq!(wiz, diag);
    let count = |c: &[(String, i64)], t: &str| c.iter().find(|(n, _)| n == t).map(|(_, n)| *n);
    assert_eq!(count(&wiz, ROUTES_WITH_REGEX_PATHS), Some(400), "{wiz:?}");

    // Core 016's estimate, as each side makes it.
    let r = rewrites::of("core", "016_280_to_300")
        .find(|r| r.phase == rewrites::Phase::Up)
        .expect("016 rewrites routes");
    let (seen_d, secs_d) = r.estimate(|t| count(&diag, t)).unwrap();
    let (seen_w, secs_w) = r.estimate(|t| count(&wiz, t)).unwrap();
    assert_eq!((seen_w, secs_w), (seen_d, secs_d));
    // And not the whole table taken as rewritten: 400 UPDATEs, 600 rows only read.
    let all = r
        .estimate(|t| if t == "routes" { Some(1000) } else { None })
        .unwrap()
        .1;
    assert!(secs_w < all, "{secs_w} vs {all}");
}

/// The preflight adds one round trip to diagnose: its one query, on diagnose's own session (no
/// connection of its own), and no login handshake when no Kong of the plan lacks SCRAM.
#[tokio::test(flavor = "multi_thread")]
async fn the_preflight_adds_one_round_trip_to_diagnose() {
    let db = database("wpf_trips", 5, 5, true);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&db, dir.path(), "").await;
    let (g, store) = diagnose::gather_keeping(&ctx, &MigrationFlags::default())
        .await
        .unwrap();
    let pg = store.as_postgres().expect("a PostgreSQL session");
    let before = pg.statements_sent();
    assert!(before >= 2, "the snapshot and the counts were read on it");
    let pre = kongrade::cmd::preflight::gather_on(&ctx, &g, &[], store.as_ref()).await;
    assert_eq!(pg.statements_sent() - before, 1, "one statement");
    // It did the preflight's work in that one trip: routes, plugins, the server.
    assert_eq!(pre.regex_route_count, Some(6), "{pre:?}");
    assert!(
        pre.db_plugins.is_some() && pre.server_version_num.is_some(),
        "{pre:?}"
    );
    assert!(pre.incomplete.is_empty(), "{:?}", pre.incomplete);
    // 2.8.5 -> 3.4.2 runs only Kongs that speak SCRAM: the handshake was not made.
    assert_eq!(pre.scram, None);
    let ids: Vec<String> = kongrade::cmd::preflight::findings(&ctx, &g, &pre)
        .iter()
        .map(|f| f.id.to_string())
        .collect();
    assert!(
        ids.iter().any(|i| i == "routes-regex-incompatible"),
        "{ids:?}"
    );
}
