//! `kongrade auto` end to end: the real binary, a real PostgreSQL, and the kongrade stand-in as
//! the kong command (a real child process). Every outcome is checked in the database.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{both, code, err, lines_of, out, read_until};
use support::kong_db;
use support::nodes::{admin_api, args, in_place, old_node_285};
use support::pg::{self, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

/// The stand-in as `--kong-cmd`, taking kong's arguments as any kong does (no `--`).
fn standin(v: &str, extra: &str) -> String {
    format!("'{BIN}' stand-in --kong-version {v} {extra}")
}

fn auto_cmd<S: AsRef<std::ffi::OsStr>>(db: &TestDb, kong_cmd: &str, args: &[S]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        // Each database gets its own data directory (journal, backups), as one machine would.
        .env(
            "KONGRADE_DATA_DIR",
            std::env::temp_dir()
                .join("kongrade-tests")
                .join(format!("data-{}", db.name)),
        );
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.arg("auto")
        .arg("--kong-cmd")
        .arg(kong_cmd)
        .args(args)
        .stdin(Stdio::null());
    c
}

fn auto<S: AsRef<std::ffi::OsStr>>(db: &TestDb, kong_cmd: &str, args: &[S]) -> Output {
    auto_cmd(db, kong_cmd, args)
        .output()
        .expect("run kongrade auto")
}

fn rows(db: &TestDb) -> String {
    db.exec(
        "SELECT subsystem, coalesce(last_executed, '<null>'), coalesce(executed::text, '<null>'), \
         coalesce(pending::text, '<null>') FROM schema_meta ORDER BY subsystem",
    )
}

/// The owner of the migrations lock row.
fn lock_owner(db: &TestDb) -> String {
    db.exec("SELECT owner FROM locks WHERE key = 'migrations'")
        .trim()
        .to_string()
}

/// The recorded migrations as sets: a finish run before an up changes only their order.
fn sorted(d: &TestDb) -> String {
    d.exec(
        "SELECT subsystem, array(SELECT unnest(executed) ORDER BY 1)::text, coalesce(cardinality(pending), 0) \
         FROM schema_meta ORDER BY subsystem",
    )
}

fn live_locks(db: &TestDb) -> String {
    db.exec("SET TIME ZONE 'UTC'; SELECT count(*) FROM locks WHERE ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC'")
}

fn status_json(db: &TestDb, v: &str) -> Value {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, val) in db.kong_env() {
        c.env(k, val);
    }
    let o = c
        .args(["status", "--json", "--target-version", v])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

const STEP_TIMEOUT: &[&str] = &["--backup=skip"];

#[test]
fn auto_to_342_with_finish_always_ends_up_to_date() {
    let db = TestDb::new("au_always");
    let reference = TestDb::new("au_always_ref");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    kong_db::up_to(&reference, "3.4.2", None);
    kong_db::finish(&reference);

    // The LTS pair: Kong's guide refuses blue-green, so auto runs it in place.
    let o = auto(
        &db,
        &standin("3.4.2", ""),
        &args(&["--backup=skip"], &in_place()),
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(rows(&db), rows(&reference));
    assert_eq!(live_locks(&db), "0\n");
    let text = out(&o);
    assert!(
        text.contains("Target:   Kong 3.4.2 (kong migrations status)"),
        "{text}"
    );
    assert!(text.contains("Step 1: kong migrations up\n"), "{text}");
    assert!(
        text.contains("  | core migrated up to: 016_280_to_300 (pending)\n"),
        "{text}"
    );
    assert!(
        text.contains("    core/016_280_to_300: new -> pending\n"),
        "{text}"
    );
    assert!(text.contains("Step 2: kong migrations finish\n"), "{text}");
    assert!(
        text.contains("    core/016_280_to_300: pending -> executed\n"),
        "{text}"
    );
    assert!(
        text.contains("\nDatabase is up to date for Kong 3.4.2.\n"),
        "{text}"
    );
    let st = status_json(&db, "3.4.2");
    assert_eq!(st["exit_code"], 0);
    assert!(st.get("pending_migrations").is_none() && st.get("new_migrations").is_none());

    // Nothing left to do: no kong migration command runs (and no strategy is needed).
    let o = auto(
        &db,
        &standin("3.4.2", ""),
        &["--backup=skip", "--finish=always"],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(!out(&o).contains("Step 1"), "{}", out(&o));
}

#[test]
fn finish_never_stops_after_up_with_4_and_the_two_phase_ones_pending() {
    // 2.8.5 nodes to 3.0: Kong's guide allows blue-green, auto's procedure without --strategy.
    let db = TestDb::new("au_never");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let o = auto(
        &db,
        &standin("3.0.2", ""),
        &args(&["--backup=skip", "--json"], &old_node_285()),
    );
    assert_eq!(code(&o), 4, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON report on stdout");
    assert_eq!(v["exit_code"], 4);
    assert_eq!(v["result"], "pending_finish");
    assert_eq!(v["target"]["version"], "3.0.2");
    assert_eq!(v["steps"].as_array().unwrap().len(), 1);
    assert_eq!(v["steps"][0]["command"], "up");
    assert_eq!(v["steps"][0]["outcome"]["code"], 0);
    let moved = v["steps"][0]["moved"].as_array().unwrap();
    assert!(moved.iter().any(|m| m["subsystem"] == "core"
        && m["migration"] == "016_280_to_300"
        && m["from"] == "new"
        && m["to"] == "pending"));
    let mut pending: Vec<String> = v["state"]["pending_migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let sub = s["subsystem"].as_str().unwrap().to_string();
            s["migrations"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |m| format!("{sub}/{}", m.as_str().unwrap()))
        })
        .collect();
    pending.sort();
    assert_eq!(
        pending,
        vec![
            "core/016_280_to_300",
            "http-log/001_280_to_300",
            "post-function/001_280_to_300",
            "pre-function/001_280_to_300"
        ]
    );
    assert!(v["state"].get("new_migrations").is_none());
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("kong migrations finish"));
    // Progress went to stderr, the report alone to stdout.
    assert!(err(&o).contains("  | core migrated up to"), "{}", err(&o));

    // A second run with pending migrations stops at once, with no kong run (the old nodes'
    // versions no longer count once `up` ran: none is given).
    let o = auto(&db, &standin("3.0.2", ""), &["--backup=skip"]);
    assert_eq!(code(&o), 4);
    assert!(!out(&o).contains("Step 1"));
}

#[test]
fn a_fresh_database_is_bootstrapped() {
    let db = TestDb::new("au_fresh");
    let o = auto(&db, &standin("3.4.2", ""), &["--backup=skip"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(out(&o).contains("Step 1: kong migrations bootstrap"));
    assert!(!out(&o).contains("Step 2"));
    assert_eq!(status_json(&db, "3.4.2")["exit_code"], 0);
}

#[test]
fn after_a_killed_run_the_lock_stops_auto_unless_it_waits_it_out() {
    // Blue-green from 2.8.5 nodes to 3.0 (auto's shared-database procedure, allowed there).
    let db = TestDb::new("au_die");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let reference = TestDb::new("au_die_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    kong_db::up_to(&reference, "3.0.2", None);
    let old = old_node_285();

    // The kong run dies at http-log's migration, after core's and acme's, holding a lock that
    // outlives the test (its end is then set by hand: the test does not sit out a real ttl).
    let o = auto(
        &db,
        &standin("3.0.2", "--die-at http-log/001_280_to_300"),
        &args(&["--backup=skip", "--lock-timeout", "3600"], &old),
    );
    assert_eq!(code(&o), 15, "{}", both(&o));
    let text = out(&o);
    assert!(text.contains("  = killed by signal 9 (SIGKILL)"), "{text}");
    assert!(
        text.contains("    core/016_280_to_300: new -> pending\n"),
        "{text}"
    );
    assert!(text.contains("    acme/001_280_to_300: new -> "), "{text}");
    assert!(!text.contains("http-log/001_280_to_300: new"), "{text}");
    assert!(text.contains("Migrations lock: LIVE"), "{text}");
    assert_eq!(live_locks(&db), "1\n");

    // Without --wait-lock: refused with the lock's exit code, nothing run.
    let before = rows(&db);
    let o = auto(&db, &standin("3.0.2", ""), &["--backup=skip"]);
    assert_eq!(code(&o), 14, "{}", both(&o));
    assert!(
        out(&o).contains("The migrations lock is held: LIVE"),
        "{}",
        out(&o)
    );
    assert!(!out(&o).contains("Step 1"));
    assert_eq!(rows(&db), before);

    // With it, auto waits; the ttl passes while it does (set to have passed once auto says it
    // waits). The killed `up` left core's two-phase migration pending, and Kong's `up` refuses
    // while anything is pending: with --finish=never auto stops there.
    let mut child = auto_cmd(
        &db,
        &standin("3.0.2", ""),
        &args(&["--backup=skip", "--wait-lock", "600"], &old),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let rx = lines_of(child.stdout.take().expect("piped stdout"));
    let mut text = String::new();
    let waits = read_until(
        &rx,
        &mut text,
        Some("Waiting up to 600 s for the migrations lock"),
        Duration::from_secs(120),
    );
    // Still live while it waits: auto does not take a lock it cannot see expire.
    assert_eq!(live_locks(&db), "1\n");
    kong_db::lock(&db, &lock_owner(&db), -1);
    let ended = read_until(&rx, &mut text, None, Duration::from_secs(300));
    if waits != Some(true) || ended != Some(true) {
        let _ = child.kill();
        panic!("auto did not wait for the lock, or did not end:\n{text}");
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{text}{}", err(&o));
    assert!(text.contains("The lock is gone after"), "{text}");
    assert!(
        text.contains("Kong's 'up' refuses while migrations are pending"),
        "{text}"
    );
    assert!(!text.contains("Step 1"), "{text}");
    assert_eq!(rows(&db), before);

    // With --finish=always it recovers: finish (016's teardown), up (the rest), finish. The
    // arrays hold the same names as an uninterrupted run's, 016 recorded later.
    let o = auto(
        &db,
        &standin("3.0.2", ""),
        &args(&["--backup=skip", "--finish=always"], &old),
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    let text = out(&o);
    let steps: Vec<&str> = text.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(
        steps,
        vec![
            "Step 1: kong migrations finish",
            "Step 2: kong migrations up",
            "Step 3: kong migrations finish"
        ]
    );
    kong_db::finish(&reference);
    assert_eq!(sorted(&db), sorted(&reference));
    assert_eq!(live_locks(&db), "0\n");
}

/// Kong `to`'s SQL for core only (its `up` from 2.8.5), for a database with `plugins = off`.
fn core_up_rows(db: &TestDb, to: &str) {
    let cat = kongrade::kong::catalog::Catalog::embedded();
    let rel = cat.release(to.parse().unwrap()).unwrap();
    let old = cat.release("2.8.5".parse().unwrap()).unwrap();
    let had = &old.subsystem("core").unwrap().migrations;
    let mut sql = String::new();
    for m in &rel.subsystem("core").unwrap().migrations {
        if had.iter().any(|h| h.name == m.name) {
            continue;
        }
        if m.two_phase(kongrade::kong::catalog::Db::Postgres) {
            sql.push_str(&kong_db::sql_pending("core", &m.name));
        } else {
            sql.push_str(&kong_db::sql_executed("core", &m.name));
        }
    }
    db.exec(&sql);
}

#[test]
fn two_autos_at_once_migrate_once() {
    let db = TestDb::new("au_race");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&[]));
    let reference = TestDb::new("au_race_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", Some(&[]));
    core_up_rows(&reference, "3.0.2");

    // Blue-green from 2.8.5 nodes to 3.0: auto's shared-database procedure, allowed there.
    let old = old_node_285();
    let kong_cmd = standin("3.0.2", "--delay-ms 400");
    // Two machines: each its own data directory (on one machine the journal lock refuses the
    // second run before Kong's lock is even reached).
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let spawn = |i: usize| {
        auto_cmd(
            &db,
            &kong_cmd,
            &args(&["--backup=skip", "--wait-lock", "60"], &old),
        )
        .env("KONG_PLUGINS", "off")
        .env("KONGRADE_DATA_DIR", dirs[i].path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn auto")
    };
    let (a, b) = (spawn(0), spawn(1));
    let outs = [
        a.wait_with_output().expect("auto a"),
        b.wait_with_output().expect("auto b"),
    ];
    for o in &outs {
        assert_eq!(code(o), 4, "{}", both(o));
    }
    let migrated: Vec<&Output> = outs
        .iter()
        .filter(|o| out(o).contains("  | core migrated up to:"))
        .collect();
    assert_eq!(migrated.len(), 1, "exactly one ran the migrations");
    let other = outs
        .iter()
        .find(|o| !out(o).contains("  | core migrated up to:"))
        .unwrap();
    let t = out(other);
    // The other either ran `up`, which waited on the lock and aborted (exit 0), or saw the lock
    // before starting kong and waited it out, or (a slow start on a busy machine) first read the
    // database once the work was done, and ran nothing. Either way it judged the database.
    assert!(
        t.contains("  | aborted: another node is performing database changes")
            || t.contains("Waiting up to 60 s for the migrations lock")
            || (!t.contains("\nStep 1") && t.contains("migration(s) pending")),
        "{t}"
    );
    if t.contains("  | aborted:") {
        assert!(t.contains("the changes above are that node's"), "{t}");
        assert!(
            t.contains("    core/016_280_to_300: new -> pending\n"),
            "{t}"
        );
    }
    assert_eq!(rows(&db), rows(&reference), "recorded once, in order");
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn refusals_have_their_exit_codes() {
    let _db = TestDb::new("au_refuse");
    // Pre-1.0.
    let legacy = TestDb::new("au_legacy");
    kong_db::legacy_014(&legacy);
    let o = auto(&legacy, &standin("3.4.2", ""), STEP_TIMEOUT);
    assert_eq!(code(&o), 10, "{}", both(&o));
    assert!(out(&o).contains("pre-1.0"));
    assert_eq!(
        legacy.exec("SELECT to_regclass('schema_meta') IS NULL"),
        "t\n",
        "no bootstrap"
    );

    // A gap.
    let gap = TestDb::new("au_gap");
    kong_db::bootstrap_at(&gap, "2.8.5", None);
    gap.exec("UPDATE schema_meta SET executed = array_remove(executed, '010_210_to_211') WHERE subsystem = 'core'");
    let o = auto(&gap, &standin("3.4.2", ""), STEP_TIMEOUT);
    assert_eq!(code(&o), 11, "{}", both(&o));
    assert!(out(&o).contains("core: 010_210_to_211"), "{}", out(&o));
    // Let through, it runs in place (the LTS pair: Kong's guide refuses blue-green there).
    let o = auto(
        &gap,
        &standin("3.4.2", ""),
        &args(&["--backup=skip", "--allow-gaps"], &in_place()),
    );
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Unknown migrations: the database is newer than the target.
    let newer = TestDb::new("au_unknown");
    kong_db::bootstrap_at(&newer, "3.4.2", None);
    let before = rows(&newer);
    let o = auto(&newer, &standin("2.8.5", ""), STEP_TIMEOUT);
    assert_eq!(code(&o), 12, "{}", both(&o));
    assert!(out(&o).contains("core 016_280_to_300"), "{}", out(&o));
    assert_eq!(rows(&newer), before);

    // An unsupported jump: 2.8 straight to 3.9.
    let jump = TestDb::new("au_jump");
    kong_db::bootstrap_at(&jump, "2.8.5", None);
    let o = auto(&jump, &standin("3.9.3", ""), STEP_TIMEOUT);
    assert_eq!(code(&o), 13, "{}", both(&o));
    assert!(out(&o).contains("upgrade from Kong 2.8.5"), "{}", out(&o));
    // Let through, from 2.8.5 nodes: blue-green (allowed, not recommended), up then stop.
    let o = auto(
        &jump,
        &standin("3.9.3", ""),
        &args(
            &["--backup=skip", "--allow-unsupported-jump"],
            &old_node_285(),
        ),
    );
    assert_eq!(code(&o), 4, "{}", both(&o));

    // A live lock.
    let locked = TestDb::new("au_locked");
    kong_db::bootstrap_at(&locked, "2.8.5", None);
    kong_db::lock(&locked, "someone", 60);
    let o = auto(&locked, &standin("3.4.2", ""), STEP_TIMEOUT);
    assert_eq!(code(&o), 14, "{}", both(&o));
    let o = auto(
        &locked,
        &standin("3.4.2", ""),
        &["--backup=skip", "--wait-lock", "1"],
    );
    assert_eq!(code(&o), 14, "{}", both(&o));
    assert!(out(&o).contains("still held after 1 s"), "{}", out(&o));
}

#[test]
fn a_missing_or_broken_kong_is_reported_and_never_retried() {
    let db = TestDb::new("au_broken");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = rows(&db);
    // The LTS pair, in place (Kong's guide refuses blue-green there).
    let in_place = args(STEP_TIMEOUT, &in_place());

    let o = auto(&db, "/nonexistent/bin/kong", &in_place);
    assert_eq!(code(&o), 15, "{}", both(&o));
    assert!(out(&o).contains("/nonexistent/bin/kong"), "{}", out(&o));

    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    // Garbage for everything.
    let garbage = write_script(dir.path(), "garbage", "echo '%%% garbage $$$'; exit 2");
    let o = auto(&db, &garbage.display().to_string(), &in_place);
    assert_eq!(code(&o), 15, "{}", both(&o));
    assert!(out(&o).contains("garbage"), "{}", out(&o));

    // A kong that knows its version but fails `up` with garbage: reported, state re-read, not
    // retried. `migrations status` fails too, so the target comes from the catalog.
    let bad_up = write_script(
        dir.path(),
        "bad-up",
        &format!(
            "echo \"$*\" >> '{}'\ncase \"$1 $2\" in\n  version*) echo 3.4.2 ;;\n  *) echo '%%% garbage $$$'; echo 'oops' >&2; exit 2 ;;\nesac",
            calls.display()
        ),
    );
    let o = auto(&db, &bad_up.display().to_string(), &in_place);
    assert_eq!(code(&o), 15, "{}", both(&o));
    let text = out(&o);
    assert!(
        text.contains("Target from the catalog: 'kong migrations status' failed"),
        "{text}"
    );
    assert!(
        text.contains("  | %%% garbage $$$\n  ! oops\n  = exit code 2\n"),
        "{text}"
    );
    assert!(text.contains("  Database: nothing changed."), "{text}");
    assert!(
        text.contains("'kong migrations up' failed (exit code 2)"),
        "{text}"
    );
    let log = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(log.matches("migrations up").count(), 1, "{log}");
    assert_eq!(rows(&db), before);

    // A kong that claims success without touching the database: its words are not progress.
    std::fs::remove_file(&calls).unwrap();
    let liar = write_script(
        dir.path(),
        "liar",
        &format!(
            "echo \"$*\" >> '{}'\ncase \"$1 $2\" in\n  version*) echo 3.4.2 ;;\n  'migrations status') exit 1 ;;\n  *) echo 'core migrated up to: 016_280_to_300 (pending)'; echo '1 migration processed' ;;\nesac",
            calls.display()
        ),
    );
    let o = auto(&db, &liar.display().to_string(), &in_place);
    assert_eq!(code(&o), 15, "{}", both(&o));
    assert!(out(&o).contains("  Database: nothing changed."));
    assert!(out(&o).contains("Not running 'kong migrations up' again in this run: it exited 0 but the database did not change"), "{}", out(&o));
    let log = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(log.matches("migrations up").count(), 1, "{log}");
}

#[test]
fn a_database_that_drops_mid_run_is_reported() {
    let db = TestDb::new("au_drop");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().unwrap();
    let s = pg::server();
    // `up` makes the database refuse every new connection of the kong role, then fails.
    let script = write_script(
        dir.path(),
        "dropper",
        &format!(
            "case \"$1 $2\" in\n  version*) echo 3.4.2 ;;\n  'migrations status') exit 1 ;;\n  *) PGPASSWORD='{pw}' psql -X -q -h {h} -p {p} -U {u} -d postgres -c 'ALTER DATABASE \"{db}\" CONNECTION LIMIT 0' >/dev/null; echo 'connection lost' >&2; exit 1 ;;\nesac",
            pw = s.admin_password,
            h = s.host,
            p = s.port,
            u = s.admin_user,
            db = db.name
        ),
    );
    let o = auto(
        &db,
        &script.display().to_string(),
        &args(STEP_TIMEOUT, &in_place()),
    );
    assert_eq!(code(&o), 16, "{}", both(&o));
    let text = out(&o);
    assert!(
        text.contains(
            "'kong migrations up' ended (exit code 1), and then the database could not be read"
        ),
        "{text}"
    );
    assert!(text.contains("Nothing was retried"), "{text}");
    assert!(!text.contains(pg::KONG_PASSWORD));
}

#[tokio::test]
async fn the_target_comes_from_the_running_kongs_status() {
    use kongrade::contract::{Invocation, KongCommand};
    use kongrade::exec::kong_target::target_from_kong;
    use kongrade::exec::runner::KongTarget;
    use kongrade::kong::catalog::{Catalog, Db};
    use kongrade::kong::conf::{self, LoadOptions};
    use kongrade::kong::target::Target;

    let db = TestDb::new("au_target");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::up_to(&db, "3.4.2", None);
    let env = db.kong_env();
    let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let c = conf::load(&LoadOptions::new(None).clone(), &lookup).unwrap();
    let kong = KongTarget::Process {
        command_line: standin("3.4.2", ""),
        env: db
            .kong_env()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
    };
    let info = target_from_kong(
        &kong,
        &Invocation::new(KongCommand::Status),
        &c,
        Db::Postgres,
    )
    .await
    .unwrap();
    assert_eq!(info.fallback, None);
    assert_eq!(info.target.source, "kong migrations status");
    let rel = Catalog::embedded()
        .release("3.4.2".parse().unwrap())
        .unwrap();
    let expected = Target::from_release(rel, Db::Postgres, &c.plugins, &[], "catalog");
    assert_eq!(info.target.subsystems, expected.subsystems);

    // Before 3.0 there is no `migrations status`: the catalog, said so.
    let kong = KongTarget::Process {
        command_line: standin("2.8.5", ""),
        env: db
            .kong_env()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
    };
    let info = target_from_kong(
        &kong,
        &Invocation::new(KongCommand::Status),
        &c,
        Db::Postgres,
    )
    .await
    .unwrap();
    assert!(info
        .fallback
        .unwrap()
        .contains("no 'kong migrations status'"));
    assert_eq!(info.target.source, "catalog");
}

/// Starts auto, waits until kong is migrating, sends `signals` SIGINTs to auto alone (as a
/// terminal's Ctrl-C would reach it: kong has its own process group), each once auto has said
/// it took the one before, and returns its output.
fn interrupted_auto(db: &TestDb, signals: usize) -> (i32, String) {
    // Slow migrations when kong is to be interrupted mid-run: it must still be running then.
    let delay = if signals >= 2 { 5000 } else { 300 };
    // The LTS pair, in place (Kong's guide refuses blue-green there).
    let mut child = auto_cmd(
        db,
        &standin("3.4.2", &format!("--delay-ms {delay}")),
        &args(&["--backup=skip"], &in_place()),
    )
    .env("KONG_PLUGINS", "off")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn auto");
    let rx = lines_of(child.stdout.take().expect("piped stdout"));
    let pid = child.id() as i32;
    let mut text = String::new();
    let expect = |child: &mut std::process::Child, text: &mut String, marker: &str| {
        if read_until(&rx, text, Some(marker), Duration::from_secs(120)) != Some(true) {
            let _ = child.kill();
            panic!("auto never said '{marker}':\n{text}");
        }
    };
    expect(
        &mut child,
        &mut text,
        "| core migrated up to: 016_280_to_300",
    );
    let acks = [
        "Interrupt: letting this kong step end",
        "Interrupting kong (SIGINT",
    ];
    for ack in acks.iter().take(signals) {
        unsafe { libc::kill(pid, libc::SIGINT) };
        expect(&mut child, &mut text, ack);
    }
    if read_until(&rx, &mut text, None, Duration::from_secs(300)) != Some(true) {
        let _ = child.kill();
        panic!("auto did not end:\n{text}");
    }
    let status = child.wait().expect("wait auto");
    (status.code().expect("an exit code, not a signal"), text)
}

#[test]
fn ctrl_c_lets_the_running_step_end_and_starts_no_other() {
    let db = TestDb::new("au_int1");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&[]));
    let reference = TestDb::new("au_int1_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", Some(&[]));
    core_up_rows(&reference, "3.4.2");

    let (code, text) = interrupted_auto(&db, 1);
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("Interrupt: letting this kong step end"),
        "{text}"
    );
    assert!(
        text.contains("  = exit code 0"),
        "kong ran to its end: {text}"
    );
    assert!(
        !text.contains("Step 2"),
        "no finish after the interrupt: {text}"
    );
    assert!(
        text.contains("Interrupted: 'kong migrations up' ended (exit code 0)"),
        "{text}"
    );
    assert_eq!(rows(&db), rows(&reference));
    assert_eq!(live_locks(&db), "0\n");
}

#[test]
fn a_second_ctrl_c_interrupts_kong() {
    let db = TestDb::new("au_int2");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&[]));
    let (code, text) = interrupted_auto(&db, 2);
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("Interrupting kong (SIGINT"), "{text}");
    assert!(text.contains("  = killed by signal 2 (SIGINT)"), "{text}");
    assert!(text.contains("Migrations lock: LIVE"), "{text}");
    assert_eq!(live_locks(&db), "1\n", "as a killed Kong's");
    assert!(
        rows(&db).contains("{016_280_to_300}"),
        "the first one recorded"
    );
}

#[test]
fn kong_aborting_on_another_nodes_lock_is_judged_by_the_database() {
    let db = TestDb::new("au_abort");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&[]));
    let reference = TestDb::new("au_abort_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", Some(&[]));
    core_up_rows(&reference, "3.0.2");
    // Another node takes the lock just before this kong's `up` starts (the kong wrapper does it:
    // auto itself refuses a live lock before its first step), so that `up` waits on it. Once it
    // waits, that node records its migrations and releases the lock: this `up` aborts with exit
    // 0, having run nothing.
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("lock.sql");
    std::fs::write(
        &sql,
        "SET TIME ZONE 'UTC'; INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'another-node', CURRENT_TIMESTAMP AT TIME ZONE 'UTC' + interval '3600 seconds');\n",
    )
    .unwrap();
    let script = write_script(
        dir.path(),
        "kong",
        &format!(
            "case \"$1 $2\" in\n  'migrations up')\n    PGPASSWORD=\"$KONG_PG_PASSWORD\" psql -X -q -h \"$KONG_PG_HOST\" -p \"$KONG_PG_PORT\" -U \"$KONG_PG_USER\" -d \"$KONG_PG_DATABASE\" -v ON_ERROR_STOP=1 -f '{sql}' || exit 99 ;;\nesac\nexec '{BIN}' stand-in --kong-version 3.0.2 \"$@\"",
            sql = sql.display()
        ),
    );
    // Blue-green from 2.8.5 nodes to 3.0 (auto's procedure without --strategy, allowed there).
    let mut child = auto_cmd(
        &db,
        &script.display().to_string(),
        &args(
            &["--backup=skip", "--lock-timeout", "3600"],
            &old_node_285(),
        ),
    )
    .env("KONG_PLUGINS", "off")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let rx = lines_of(child.stdout.take().expect("piped stdout"));
    let mut text = String::new();
    if !kong_waits_on_the_lock(&db) {
        let _ = child.kill();
        let _ = read_until(&rx, &mut text, None, Duration::from_secs(5));
        panic!("kong never waited on the other node's lock:\n{text}");
    }
    core_up_rows(&db, "3.0.2");
    db.exec("DELETE FROM locks");
    let ended = read_until(&rx, &mut text, None, Duration::from_secs(300));
    if ended != Some(true) {
        let _ = child.kill();
        panic!("auto did not end:\n{text}");
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{text}{}", err(&o));
    assert!(
        text.contains(
            "  | aborted: another node is performing database changes\n  = exit code 0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    core/016_280_to_300: new -> pending\n"),
        "{text}"
    );
    assert!(text.contains("kong aborted: another node held the migrations lock; the changes above are that node's."), "{text}");
    assert!(
        !text.contains("  | core migrated up to"),
        "this kong migrated nothing: {text}"
    );
    assert_eq!(rows(&db), rows(&reference));
}

/// Whether kong (the stand-in) gets to wait on the migrations lock within a generous deadline:
/// its session's last statement is then Kong's `read_lock`, sent only after it failed to take
/// the lock.
fn kong_waits_on_the_lock(db: &TestDb) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let seen = db.exec(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'SELECT 1 FROM locks WHERE key%'",
            db.name
        ));
        if seen.trim() != "0" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn backup_pg_dump_runs_first_and_a_failed_backup_migrates_nothing() {
    let db = TestDb::new("au_backup");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let data = tempfile::tempdir().unwrap();
    let before = rows(&db);
    // A pg_dump that fails: exit 17, and the database untouched.
    let bin = data.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    write_script(&bin, "pg_dump", "if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 15'; exit 0; fi\necho 'pg_dump: error: connection to server failed' >&2; exit 1");
    let o = auto_cmd(&db, &standin("3.4.2", ""), &in_place())
        .env("KONGRADE_DATA_DIR", data.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert_eq!(code(&o), 17, "{}", both(&o));
    assert!(out(&o).contains("nothing was migrated"), "{}", both(&o));
    assert_eq!(rows(&db), before);
    // The real pg_dump (the default --backup=pg_dump): a proven dump, then the migrations.
    let o = auto_cmd(&db, &standin("3.4.2", ""), &in_place())
        .env("KONGRADE_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(out(&o).contains("Backup verified:"), "{}", both(&o));
    let dumps: Vec<_> = std::fs::read_dir(data.path().join("backups"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(dumps.len(), 1);
    assert_eq!(status_json(&db, "3.4.2")["exit_code"], 0);
}

#[test]
fn finish_when_no_old_nodes_follows_the_node_gate() {
    let db = TestDb::new("au_nodes");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    // Blue-green from 2.8.5 nodes to 3.0 (auto's procedure without --strategy, allowed there):
    // `up` while the old node serves, `finish` once it is gone.
    let old = admin_api("2.8.5");
    let new = admin_api("3.0.2");
    let o = auto(
        &db,
        &standin("3.0.2", ""),
        &[
            "--backup=skip",
            "--finish=when-no-old-nodes",
            "--admin-url",
            &old,
            "--admin-url",
            &new,
        ],
    );
    assert_eq!(code(&o), 4, "{}", both(&o));
    assert!(out(&o).contains("OLD 2.8.5"), "{}", both(&o));
    assert_eq!(status_json(&db, "3.0.2")["exit_code"], 4);
    let o = auto(
        &db,
        &standin("3.0.2", ""),
        &[
            "--backup=skip",
            "--finish=when-no-old-nodes",
            "--admin-url",
            &new,
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(status_json(&db, "3.0.2")["exit_code"], 0);
}

/// The kong commands a journal announced.
fn journal_commands(data: &Path) -> Vec<String> {
    journal_events(data, "command")
}

/// The command lines of the journal's entries of one kind (`command`, `command_started`).
fn journal_events(data: &Path, kind: &str) -> Vec<String> {
    let dir = data.join("journal");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    if v["event"] == kind {
                        out.push(v["command_line"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn kill_9_at_every_step_boundary_then_a_restart_finishes_without_repeating_a_step() {
    let reference = TestDb::new("au_k9_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    kong_db::up_to(&reference, "3.4.2", None);
    kong_db::finish(&reference);
    // Where auto dies (the first line containing the marker), and which kong step is held at
    // its start until the restart has said it waits for it (a gate the kong wrapper waits on):
    // after the backup; as step 1 is announced (kong may or may not have started); once kong
    // `up` runs (held: the restart must wait for it); while `up` migrates; between up and
    // finish; once kong `finish` runs (held); after a step ended.
    let boundaries: [(&str, Option<&str>); 7] = [
        ("Backup verified:", None),
        ("Step 1: kong migrations up", None),
        ("migrations up --lock-timeout", Some("up")),
        ("  | core migrated up to: 016_280_to_300 (pending)", None),
        ("Step 2: kong migrations finish", None),
        ("migrations finish --lock-timeout", Some("finish")),
        ("  = exit code 0", None),
    ];
    for (i, (marker, held)) in boundaries.iter().enumerate() {
        let db = TestDb::new(&format!("au_k9_{i}"));
        kong_db::bootstrap_at(&db, "2.8.5", None);
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("kong");
        std::fs::create_dir(&dir).unwrap();
        for step in ["up", "finish"] {
            if *held != Some(step) {
                std::fs::write(dir.join(format!("go-{step}")), "").unwrap();
            }
        }
        // kong: `up` and `finish` wait for their gate file, then are logged as they really run.
        let script = write_script(
            &dir,
            "kong",
            &format!(
                "case \"$1 $2\" in\n  'migrations up'|'migrations finish')\n    while [ ! -e '{d}/go-'\"$2\" ]; do sleep 0.05; done\n    echo \"$1 $2\" >> '{d}/runs.log' ;;\nesac\nexec '{BIN}' stand-in --kong-version 3.4.2 --delay-ms 60 \"$@\"",
                d = dir.display()
            ),
        );
        let kong_cmd = script.display().to_string();
        // The LTS pair, in place (Kong's guide refuses blue-green there).
        let mut child = auto_cmd(&db, &kong_cmd, &args(&["--lock-timeout", "4"], &in_place()))
            .env("KONGRADE_DATA_DIR", data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let seen = read_until(
            &lines_of(child.stdout.take().expect("piped stdout")),
            &mut first,
            Some(marker),
            Duration::from_secs(300),
        );
        // SIGKILL: no handler runs, nothing is cleaned up; kong (its own process group) lives on.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        assert_eq!(seen, Some(true), "auto never reached '{marker}':\n{first}");

        // The restart, at once.
        let mut restart = auto_cmd(&db, &kong_cmd, &args(&["--wait-lock", "60"], &in_place()))
            .env("KONGRADE_DATA_DIR", data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = lines_of(restart.stdout.take().expect("piped stdout"));
        let mut text = String::new();
        // Whatever goes wrong, the restart and the held kong do not outlive the test.
        let release = |restart: &mut std::process::Child| {
            for step in ["up", "finish"] {
                let _ = std::fs::write(dir.join(format!("go-{step}")), "");
            }
            let _ = restart.kill();
        };
        if let Some(step) = held {
            // It names the kong it waits for, and starts nothing while it runs.
            let waits = read_until(
                &rx,
                &mut text,
                Some("that kong is still running: pid "),
                Duration::from_secs(120),
            );
            if waits != Some(true) {
                release(&mut restart);
                panic!("killed at '{marker}': the restart did not wait:\n{text}");
            }
            assert!(
                text.contains(&format!("migrations {step} --lock-timeout 4)")),
                "{text}"
            );
            assert!(!text.contains("\nStep "), "{text}");
            std::fs::write(dir.join(format!("go-{step}")), "").unwrap();
        }
        if read_until(&rx, &mut text, None, Duration::from_secs(300)) != Some(true) {
            release(&mut restart);
            panic!("killed at '{marker}': the restart did not end:\n{text}");
        }
        let o = restart.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "killed at '{marker}':\n--- first run\n{first}--- restart\n{text}{}",
            err(&o)
        );
        assert!(text.contains("Resuming the upgrade journal"), "{text}");
        assert_eq!(
            rows(&db).replace("{}", "<null>"),
            rows(&reference).replace("{}", "<null>"),
            "killed at '{marker}'"
        );
        // Each kong step ran exactly once (the wrapper's log), and the journal records each
        // started once.
        let runs = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
        assert_eq!(
            runs, "migrations up\nmigrations finish\n",
            "killed at '{marker}':\n--- first run\n{first}--- restart\n{text}"
        );
        let started = journal_events(data.path(), "command_started");
        let count = |c: &str| started.iter().filter(|s| s.contains(c)).count();
        // A kong spawned in the instant before auto was killed has no `command_started` (its pid
        // is journaled just after the spawn): the restart finds it by its marker and waits, so
        // either step may show none. That each ran exactly once is the wrapper's log above.
        assert!(
            count("migrations up") <= 1 && count("migrations finish") <= 1,
            "killed at '{marker}': {started:?}"
        );
        assert!(
            journal_commands(data.path()).len() <= 3,
            "an announced step is repeated only when auto died before it started"
        );
        let dumps = std::fs::read_dir(data.path().join("backups"))
            .unwrap()
            .count();
        assert_eq!(dumps, 1, "the backup was taken again after '{marker}'");
    }
}

#[test]
fn admin_api_writes_between_up_and_finish_are_reported() {
    let db = TestDb::new("au_writes");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec("CREATE TABLE services (id uuid PRIMARY KEY, name text, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());\
             INSERT INTO services (id, name, created_at, updated_at) VALUES ('a0000000-0000-4000-8000-000000000001', 'before-up', now() - interval '1 hour', now() - interval '1 hour')");
    // Blue-green from 2.8.5 nodes to 3.0: `up` while they serve, writes seen before `finish`.
    let o = auto(
        &db,
        &standin("3.0.2", ""),
        &args(&["--backup=skip"], &old_node_285()),
    );
    assert_eq!(code(&o), 4, "{}", both(&o));
    let diagnose = || {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "KONGRADE_DATA_DIR",
                std::env::temp_dir()
                    .join("kongrade-tests")
                    .join(format!("data-{}", db.name)),
            )
            .envs(db.kong_env())
            .args(["diagnose", "--json", "--target-version", "3.0.2"]);
        let o = c.output().unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", both(&o)));
        v
    };
    let has = |v: &Value| v.to_string().contains("writes-since-up");
    assert!(!has(&diagnose()), "nothing written since up yet");
    db.exec("INSERT INTO services (id, name) VALUES ('a0000000-0000-4000-8000-000000000002', 'during-upgrade')");
    let v = diagnose();
    assert!(has(&v), "{v}");
    assert!(v.to_string().contains("services: 1 row(s)"), "{v}");
}

/// Another kongrade command against the same database and data directory (journal) as `auto`.
fn kongrade_same_data(db: &TestDb, args: &[&str]) -> Output {
    let mut c = auto_cmd::<&str>(db, "kong", &[]);
    // auto_cmd names the subcommand; start again with the same environment.
    let mut k = Command::new(BIN);
    k.env_clear();
    for (key, val) in c.get_envs() {
        if let Some(val) = val {
            k.env(key, val);
        }
    }
    c.stdin(Stdio::null());
    k.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade")
}

/// Issue 11's first case: a 2.8.5 database, auto to 3.4.2 (in place: the LTS pair) with a kong
/// that fails at core/018_310_to_320. diagnose, plan, rollback and a second auto then agree:
/// 3.4.2 ran `up` (the journal says so), so 3.4.2 finishes it, no jump is unsupported, and the
/// way back is in-place's (the backup).
#[test]
fn after_a_failed_up_every_command_agrees_on_where_it_stands() {
    let db = TestDb::new("au_agree");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let reference = TestDb::new("au_agree_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    kong_db::up_to(&reference, "3.4.2", None);
    kong_db::finish(&reference);

    let o = auto(
        &db,
        &standin("3.4.2", "--fail-at core/018_310_to_320"),
        &args(&["--backup=skip"], &in_place()),
    );
    assert_eq!(code(&o), 15, "{}", both(&o));

    let o = kongrade_same_data(&db, &["diagnose", "--json", "--target-version", "3.4.2"]);
    let d: Value = serde_json::from_slice(&o.stdout).expect("diagnose JSON");
    let ids: Vec<&str> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"unsupported-jump"), "{ids:?}");
    let unfinished = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "unfinished-upgrade")
        .expect("unfinished-upgrade");
    let title = unfinished["title"].as_str().unwrap();
    assert!(
        title.contains("Kong 3.4.2") && !title.contains("3.1.1"),
        "{title}"
    );
    assert_eq!(d["upgrade"]["position"]["position"], "up_partial", "{d:#}");
    assert_eq!(d["upgrade"]["position"]["kong_version"], "3.4.2");
    // In place: the way back after `up` is the backup, every command says so.
    assert_eq!(d["upgrade"]["rollback"]["rollback"], "in_place_restore");

    let o = kongrade_same_data(&db, &["plan", "--json", "--target-version", "3.4.2"]);
    let p: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    assert_eq!(p["path"], serde_json::json!(["3.4.2"]), "{p:#}");
    let fin = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "finish_previous")
        .expect("finish first");
    assert_eq!(fin["kong_version"], "3.4.2");
    // No backup recorded: that comes first, exported with the kong that still serves.
    assert_eq!(p["next"]["kind"], "backup", "{p:#}");
    assert_eq!(p["next"]["kong_version"], "2.8.5", "{p:#}");

    let o = kongrade_same_data(&db, &["rollback", "--target-version", "3.4.2"]);
    let text = out(&o);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(
        text.contains("In-place: `up` ran (in whole or in part)"),
        "{text}"
    );
    assert!(text.contains("restoring the backup"), "{text}");

    // And auto goes on with 3.4.2 itself, to the reference state (016's teardown ran before
    // 018's up, so only the order of `executed` differs).
    let o = auto(
        &db,
        &standin("3.4.2", ""),
        &args(&["--backup=skip"], &in_place()),
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(sorted(&db), sorted(&reference));
}

/// The journal's entries of one kind, whole, across the data directory's journals.
fn journal_entries(data: &Path, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data.join("journal")).unwrap().flatten() {
        for line in std::fs::read_to_string(e.path())
            .unwrap_or_default()
            .lines()
        {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                if v["event"] == kind {
                    out.push(v);
                }
            }
        }
    }
    out
}

#[test]
fn without_a_strategy_auto_runs_nothing_where_kong_refuses_blue_green_and_gives_each_allowed_command(
) {
    let db = TestDb::new("au_unasked");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let data = std::env::temp_dir()
        .join("kongrade-tests")
        .join(format!("data-{}", db.name));
    let before = rows(&db);

    // The LTS pair 2.8 -> 3.4: Kong's guide offers no blue-green, auto's own procedure.
    let o = auto(&db, &standin("3.4.2", ""), &["--backup=skip"]);
    assert_eq!(code(&o), 21, "{}", both(&o));
    let text = out(&o);
    assert!(text.contains("Refused: no --strategy was given"), "{text}");
    assert!(text.contains("LTS"), "{text}");
    assert!(
        text.contains("Kong's guide recommends dual-cluster here"),
        "{text}"
    );
    let in_place_line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("in-place: "))
        .unwrap_or_else(|| panic!("no in-place command:\n{text}"))
        .to_string();
    assert!(
        in_place_line.starts_with("kongrade auto --kong-cmd ")
            && in_place_line.ends_with(
                " --backup=skip --strategy in-place --writes-frozen --admin-url OLD_ADMIN_URL --new-admin-url NEW_ADMIN_URL"
            ),
        "{in_place_line}"
    );
    assert!(
        text.contains("  dual-cluster: kongrade auto --kong-cmd ")
            && text.contains(" --strategy dual-cluster --clone-database CLONE_NAME"),
        "{text}"
    );
    assert!(text.contains("Nothing was run."), "{text}");
    assert!(!text.contains("Step 1"), "{text}");
    assert_eq!(rows(&db), before, "nothing ran");

    // JSON says the same.
    let o = auto(&db, &standin("3.4.2", ""), &["--backup=skip", "--json"]);
    assert_eq!(code(&o), 21, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(v["result"], "refused_strategy", "{v}");
    assert_eq!(v["exit_code"], 21);
    assert_eq!(v["strategy"]["refused_without_strategy"], true, "{v}");
    assert_eq!(v["strategy"]["recommended"], "dual-cluster", "{v}");
    let commands: Vec<(&str, &str)> = v["strategy"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["strategy"].as_str().unwrap(),
                c["command"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(commands.len(), 2, "{v}");
    assert_eq!(commands[0].0, "dual-cluster");
    assert_eq!(commands[1].0, "in-place");
    assert!(
        commands[1]
            .1
            .contains("--backup=skip --json --strategy in-place --writes-frozen"),
        "{v}"
    );
    assert_eq!(v["steps"].as_array().unwrap().len(), 0);
    assert_eq!(rows(&db), before, "nothing ran");

    // The journal: each refusal noted, no kong command announced, no strategy chosen.
    let notes: Vec<Value> = journal_entries(&data, "note")
        .into_iter()
        .filter(|n| {
            n["text"]
                .as_str()
                .unwrap_or_default()
                .contains("refused (exit 21)")
        })
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(journal_entries(&data, "command").is_empty());
    assert!(journal_entries(&data, "strategy_chosen").is_empty());

    // 2.8 -> 3.0 with a 2.8.1 node: refused, the node named.
    let old_281 = admin_api("2.8.1");
    let o = auto(
        &db,
        &standin("3.0.2", ""),
        &["--backup=skip", "--admin-url", &old_281],
    );
    assert_eq!(code(&o), 21, "{}", both(&o));
    assert!(
        out(&o).contains(&format!("{old_281} is 2.8.1")),
        "{}",
        both(&o)
    );
    // The old node given is in the command line: no placeholder for it.
    assert!(
        !out(&o).contains("OLD_ADMIN_URL") && out(&o).contains("--writes-frozen --new-admin-url"),
        "{}",
        both(&o)
    );
    assert_eq!(rows(&db), before, "nothing ran");

    // The in-place command it gave runs the upgrade as it is, once its placeholders are filled.
    let new = admin_api("3.4.2");
    let line = in_place_line
        .replacen("kongrade ", &format!("'{BIN}' "), 1)
        .replace("OLD_ADMIN_URL", &support::nodes::stopped_node())
        .replace("NEW_ADMIN_URL", &new);
    let o = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", &data)
        .envs(db.kong_env())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{line}\n{}", both(&o));
    assert_eq!(status_json(&db, "3.4.2")["exit_code"], 0);
}

/// The clone's reach is judged from the command as it runs, not its first words: `sudo`,
/// `env X=1`, `nice`, `timeout` or `sh -c` before `docker exec` are refused before anything is
/// cloned, with the plain command's message. A fake `docker` (and `sudo`) on PATH answers
/// `kong version` with the stand-in, so the run gets as far as the reach check.
#[test]
fn dual_cluster_refuses_a_wrapped_docker_exec_as_it_refuses_the_plain_one() {
    let db = TestDb::new("au_reach");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = rows(&db);
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls");
    // `docker exec CONTAINER kong ARGS`: the stand-in with ARGS; every call logged.
    write_script(
        bin.path(),
        "docker",
        &format!(
            "echo \"docker $*\" >> '{}'\nshift 3\nexec '{BIN}' stand-in --kong-version 3.4.2 \"$@\"",
            log.display()
        ),
    );
    write_script(bin.path(), "sudo", "[ \"$1\" = -E ] && shift\nexec \"$@\"");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let clone = format!("{}_new", db.name);
    let refusal = |kong_cmd: &str| {
        let o = auto_cmd(
            &db,
            kong_cmd,
            &[
                "--strategy",
                "dual-cluster",
                "--clone-database",
                &clone,
                "--target-version",
                "3.4.2",
                "--backup=skip",
            ],
        )
        .env("PATH", &path)
        .output()
        .expect("run kongrade auto");
        assert_eq!(code(&o), 1, "{kong_cmd}: {}", both(&o));
        let text = out(&o);
        let line = text
            .lines()
            .find(|l| l.contains("where kongrade's environment does not reach"))
            .unwrap_or_else(|| panic!("{kong_cmd}: no reach refusal: {}", both(&o)))
            .to_string();
        line.replace(kong_cmd, "CMD")
    };
    let plain = refusal("docker exec kong-old kong");
    assert!(plain.contains("(docker)"), "{plain}");
    for wrapped in [
        "sudo docker exec kong-old kong",
        "sudo -E docker exec kong-old kong",
        "env X=1 docker exec kong-old kong",
        "nice -n 5 docker exec kong-old kong",
        "timeout 600 docker exec kong-old kong",
        "sh -c 'docker exec kong-old kong \"$@\"' sh",
        // (not -l: a login shell's profile would set PATH again)
        "bash -ec 'docker exec kong-old kong \"$@\"' bash",
    ] {
        assert_eq!(refusal(wrapped), plain, "{wrapped}");
    }
    // Each kong was asked its version, and nothing more; nothing was cloned or migrated.
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        calls.lines().all(|l| l.ends_with("kong version")),
        "{calls}"
    );
    assert_eq!(
        pg::psql_admin(
            pg::server(),
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{clone}'")
        )
        .unwrap()
        .trim(),
        "0"
    );
    assert_eq!(rows(&db), before);
}

/// The statements the server logged for `db` (`log_statement = 'all'` is set for this database
/// alone) while `run` ran, each as (backend pid, text); `None` when the tests did not start the
/// server (then its log is not theirs to read).
fn logged_statements(db: &TestDb, run: impl FnOnce()) -> Option<Vec<(String, String)>> {
    let log = db.server.data_dir.as_ref()?.parent()?.join("server.log");
    pg::psql_admin(
        &db.server,
        "postgres",
        &format!("ALTER DATABASE \"{}\" SET log_statement = 'all'", db.name),
    )
    .expect("log_statement");
    let start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    run();
    let text = pg::read_to_string(&log);
    let mine = text.get(start as usize..).unwrap_or_default();
    Some(
        mine.lines()
            .filter_map(|l| {
                let (head, stmt) = l.split_once(" LOG:  statement: ")?;
                let pid = head.rsplit_once('[')?.1.trim_end_matches(']').to_string();
                Some((pid, stmt.to_string()))
            })
            .collect(),
    )
}

/// auto reads the preflight on the session that read the state and the row counts, as
/// diagnose does: on a jump into 3.x every route is read once in the whole run (the count's
/// read is kept for the preflight's query, not made again on a connection of its own).
#[test]
fn one_auto_run_reads_the_routes_once_on_the_session_of_its_preflight() {
    let db = TestDb::new("au_routes_once");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    support::kong_rows::fill(&db, 5, 300);
    db.exec("UPDATE routes SET paths = ARRAY['/users/\\d+/' || name] WHERE name LIKE 'route-1%'; ANALYZE routes;");
    let mut o = None;
    let Some(logged) = logged_statements(&db, || {
        o = Some(auto(
            &db,
            &standin("3.4.2", ""),
            &args(&["--backup=skip"], &in_place()),
        ))
    }) else {
        eprintln!("skipped: the server's log is not the tests' own");
        return;
    };
    let o = o.expect("ran");
    assert_eq!(code(&o), 0, "{}", both(&o));
    // The preflight saw the regex routes (so the routes were read, and judged).
    assert!(
        out(&o).contains("Preflight warning: [routes-regex-unprefixed]"),
        "{}",
        both(&o)
    );
    let reads: Vec<&(String, String)> = logged
        .iter()
        .filter(|(_, s)| s.contains("FROM \"routes\""))
        .collect();
    assert_eq!(reads.len(), 1, "routes read more than once: {reads:#?}");
    let preflight: Vec<&(String, String)> = logged
        .iter()
        .filter(|(_, s)| s.contains("'server_version_num'"))
        .collect();
    assert_eq!(preflight.len(), 1, "{preflight:#?}");
    // The row counts (the planner's estimates) were read on the preflight's session.
    let counted: Vec<&String> = logged
        .iter()
        .filter(|(_, s)| s.contains("reltuples"))
        .map(|(pid, _)| pid)
        .collect();
    assert!(
        counted.contains(&&preflight[0].0) && reads[0].0 == preflight[0].0,
        "the preflight ran on a session of its own: {logged:#?}"
    );
}

/// Kong's tables without schema_meta: auto refuses as diagnose does (the row counts it reads
/// now are diagnose's), instead of bootstrapping over them.
#[test]
fn auto_does_not_bootstrap_over_kongs_tables_without_schema_meta() {
    let db = TestDb::new("au_no_meta");
    support::kong_rows::fill(&db, 2, 10);
    let o = auto(
        &db,
        &standin("3.4.2", ""),
        &args(&["--backup=skip"], &in_place()),
    );
    assert_eq!(code(&o), 19, "{}", both(&o));
    assert!(
        out(&o).contains("Kong's tables are here but schema_meta is not: do not bootstrap"),
        "{}",
        both(&o)
    );
    assert_eq!(
        db.exec("SELECT count(*) FROM pg_tables WHERE tablename = 'schema_meta'")
            .trim(),
        "0"
    );
}
