//! `kongrade rehearse` end to end: the real binary, a real PostgreSQL, the stand-in as kong (a
//! real child process). The million: rehearse runs on a million generated rows in
//! `routes` and a million in `plugins` (measured: under 3 minutes in the debug build on a busy
//! 2-core machine, about 1.6 GB of disk at the peak); KONGRADE_TEST_REHEARSE_ROWS=N picks another
//! size for development. The bench script tests/benches/clone.sh times the clone at that size.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::pg::{self, TestDb};
use support::{kong_db, kong_rows};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

/// The two tests that fill big tables (the million rows; the orphan restore's 200k and its
/// deadlines) run one after the other: side by side on 2 cores, the I/O of one could push the
/// other past its deadline.
static BIG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn big() -> std::sync::MutexGuard<'static, ()> {
    BIG.lock().unwrap_or_else(|p| p.into_inner())
}

fn rows_wanted() -> u64 {
    std::env::var("KONGRADE_TEST_REHEARSE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn rehearse(db: &TestDb, data: &Path, kong_cmd: &str, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data);
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.arg("rehearse")
        .arg("--kong-cmd")
        .arg(kong_cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade rehearse")
}

fn both(o: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn meta(db: &TestDb) -> String {
    db.exec("SELECT subsystem, executed::text, coalesce(pending::text, '') FROM schema_meta ORDER BY subsystem")
}

fn scratch_dbs(db: &TestDb) -> Vec<String> {
    pg::psql_admin(
        pg::server(),
        "postgres",
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE '{}\\_rehearsal\\_%' OR datname = '{}_kept'",
            db.name, db.name
        ),
    )
    .unwrap()
    .lines()
    .map(str::to_string)
    .collect()
}

fn journal_events(data: &Path, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data.join("journal")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    if v["event"] == kind {
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn rehearse_times_every_migration_on_a_clone_and_leaves_the_source_alone() {
    let _one_at_a_time = big();
    pg::grant_createdb();
    let n = rows_wanted();
    let db = TestDb::new("rh_ok");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, 1_000, n);
    let reference = TestDb::new("rh_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    let mut expected: Vec<String> = kong_db::up_to(&reference, "3.4.2", None)
        .into_iter()
        .map(|(s, m)| format!("{s}/{m}"))
        .collect();
    expected.sort();
    let before = (meta(&db), kong_rows::fingerprint(&db));
    let data = tempfile::tempdir().unwrap();

    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 150");
    let o = rehearse(&db, data.path(), &kong, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let r = &v["rehearsal"];
    assert_eq!(r["ok"], true);
    assert_eq!(r["kept"], false, "{r}");
    assert_eq!(r["target"], "3.4.2");
    let tables = r["clone"]["tables"].as_array().unwrap();
    let rows_of = |t: &str| {
        tables
            .iter()
            .find(|x| x["table"] == t)
            .map(|x| x["rows"].as_i64().unwrap())
    };
    assert_eq!(rows_of("routes"), Some(n as i64));
    assert_eq!(rows_of("plugins"), Some(n as i64));
    let steps = r["steps"].as_array().unwrap();
    let commands: Vec<&str> = steps
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["up", "finish"], "{}", both(&o));
    // Every migration `up` ran was seen, once, with its time; the times add up to no more than
    // the step took.
    let up = &steps[0];
    let mut seen: Vec<String> = up["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["subsystem"].as_str().unwrap(),
                m["migration"].as_str().unwrap()
            )
        })
        .collect();
    seen.sort();
    assert_eq!(seen, expected);
    let sum: u64 = up["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ms"].as_u64().unwrap())
        .sum();
    assert!(sum <= up["ms"].as_u64().unwrap(), "{up}");
    assert!(!steps[1]["migrations"].as_array().unwrap().is_empty());
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.starts_with("rehearsed on "), "{summary}");
    assert!(
        summary.contains(": up ") && summary.contains(", finish "),
        "{summary}"
    );
    assert!(summary.contains("; slowest "), "{summary}");
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("Clone proven: schema_meta identical"),
        "{text}"
    );
    assert!(text.contains("was dropped"), "{text}");

    // The source: not one row changed. The scratch database: gone. The journal: the result.
    assert_eq!((meta(&db), kong_rows::fingerprint(&db)), before);
    assert_eq!(scratch_dbs(&db), Vec::<String>::new());
    let j = journal_events(data.path(), "rehearsed");
    assert_eq!(j.len(), 1);
    assert_eq!(j[0]["record"]["steps"][0]["command"], "up");
    // No password in any argv kongrade printed or journaled.
    let all = format!(
        "{}{}",
        both(&o),
        std::fs::read_dir(data.path().join("journal"))
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    );
    assert!(!all.contains(pg::KONG_PASSWORD), "a password leaked");
}

#[test]
fn a_failing_migration_is_reported_with_kongs_output_and_keep_keeps_the_scratch() {
    pg::grant_createdb();
    let db = TestDb::new("rh_fail");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, 10, 100);
    let before = meta(&db);
    let data = tempfile::tempdir().unwrap();
    let kept = format!("{}_kept", db.name);
    let kong = format!(
        "'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 20 --fail-at core/016_280_to_300"
    );
    let o = rehearse(
        &db,
        data.path(),
        &kong,
        &["--json", "--keep", "--clone-database", &kept],
    );
    assert_eq!(o.status.code(), Some(15), "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["result"], "kong_failed");
    let up = &v["rehearsal"]["steps"][0];
    assert_eq!(up["ok"], false);
    assert_eq!(up["outcome"], "exit code 1");
    let output = up["output"].as_array().unwrap();
    assert!(
        output
            .iter()
            .any(|l| l.as_str().unwrap().contains("016_280_to_300")),
        "{up}"
    );
    assert_eq!(v["rehearsal"]["steps"].as_array().unwrap().len(), 1);
    assert!(v["summary"].as_str().unwrap().contains("up FAILED"), "{v}");
    // Kept: it is there, with what kong did before it failed; the source is as it was.
    assert_eq!(scratch_dbs(&db), vec![kept.clone()]);
    let clone = pg::psql_admin(pg::server(), &kept, "SELECT count(*) FROM routes").unwrap();
    assert_eq!(clone.trim(), "100");
    assert_eq!(meta(&db), before);
    let _ = pg::psql_admin(
        pg::server(),
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{kept}\" WITH (FORCE)"),
    );

    // A clone target that exists and is not empty is refused, the source untouched.
    let taken = TestDb::new("rh_taken");
    taken.exec("CREATE TABLE t (x int)");
    let o = rehearse(&db, data.path(), &kong, &["--clone-database", &taken.name]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("exists and is not empty"), "{}", both(&o));
    assert_eq!(meta(&db), before);
}

/// A kong that does not use the clone's connection (a wrapper that puts back its own
/// KONG_PG_DATABASE, as a `docker exec` or a template without `-e KONG_PG_*` would) migrates the
/// source: rehearse stops at once and says so loudly instead of reporting a clean rehearsal.
/// `docker exec` itself is refused before anything is cloned.
#[test]
fn a_kong_that_ignores_the_clones_connection_is_caught() {
    let db = TestDb::new("rh_ignores");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&[]));
    let data = tempfile::tempdir().unwrap();

    let o = rehearse(
        &db,
        data.path(),
        "docker exec -i kong-new kong",
        &["--target-version", "3.4.2"],
    );
    let text = both(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("does not reach"), "{text}");
    assert!(scratch_dbs(&db).is_empty(), "nothing may be cloned: {text}");

    let wrapper = data.path().join("kong-own-conf");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nKONG_PG_DATABASE='{}' exec '{BIN}' stand-in --kong-version 3.4.2 \"$@\"\n",
            db.name
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = meta(&db);
    let o = rehearse(
        &db,
        data.path(),
        &wrapper.display().to_string(),
        &["--target-version", "3.4.2"],
    );
    let text = both(&o);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("changed the SOURCE database"), "{text}");
    // The wrapper really did migrate the source (what the guard is for).
    assert_ne!(meta(&db), before, "{text}");
    assert!(
        scratch_dbs(&db).is_empty(),
        "the scratch database is dropped: {text}"
    );
}

/// A database an administrator made for the rehearsal (for a role without CREATEDB) is used
/// and left in place, never dropped: dropping it would stop the next rehearsal.
#[test]
fn a_database_made_beforehand_is_used_and_not_dropped() {
    let db = TestDb::new("rh_premade");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&[]));
    let data = tempfile::tempdir().unwrap();
    let name = format!("{}_kept", db.name);
    pg::psql_admin(
        pg::server(),
        "postgres",
        &format!("CREATE DATABASE \"{name}\" OWNER kong"),
    )
    .unwrap();
    let o = rehearse(
        &db,
        data.path(),
        &format!("'{BIN}' stand-in --kong-version 3.4.2"),
        &["--target-version", "3.4.2", "--clone-database", &name],
    );
    let text = both(&o);
    let left = scratch_dbs(&db);
    let _ = pg::psql_admin(
        pg::server(),
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{name}\""),
    );
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("existed before this rehearsal"), "{text}");
    assert_eq!(left, [name], "{text}");
}

/// `--kong-image`: a multi-hop path rehearsed on the scratch copy, each hop by its own image (a
/// fake docker playing each tag with the stand-in), each proven before the next, its steps and
/// time in the record and the output.
#[test]
fn a_multi_hop_path_is_rehearsed_hop_by_hop_with_each_hops_kong_and_its_times() {
    pg::grant_createdb();
    let db = TestDb::new("rh_hops");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, 20, 500);
    let before = meta(&db);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("docker.log");
    support::docker::fake_docker(dir.path(), &log, BIN);
    let data = tempfile::tempdir().unwrap();
    let o = support::docker::kongrade_with_docker(BIN, dir.path(), data.path(), db.kong_env())
        .args([
            "rehearse",
            "--kong-image",
            "kong",
            "--target-version",
            "3.5.0",
            "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let progress = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        progress.contains("Path: 3.4.2 -> 3.5.0, one kong per hop"),
        "{progress}"
    );
    assert!(
        progress.contains("Proven on the clone: every migration of Kong 3.4.2 is executed."),
        "{progress}"
    );
    assert!(progress.contains("Kong 3.4.2 hop: "), "{progress}");
    assert!(progress.contains("Kong 3.5.0 hop: "), "{progress}");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let steps: Vec<&str> = v["rehearsal"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["up (Kong 3.4.2)", "finish (Kong 3.4.2)", "up (Kong 3.5.0)"],
        "{v}"
    );
    // Each hop's migrations are timed under its own step.
    let first = &v["rehearsal"]["steps"][0]["migrations"];
    assert!(first.to_string().contains("016_280_to_300"), "{first}");
    assert!(v["rehearsal"]["steps"][2]["migrations"]
        .to_string()
        .contains("021_340_to_350"));
    assert_eq!(meta(&db), before, "the source was written");
    assert!(scratch_dbs(&db).is_empty(), "{:?}", scratch_dbs(&db));
    let mut images: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("ARGV\t"))
        .filter(|a| a.contains("\tmigrations\t"))
        .filter_map(|a| {
            a.split('\t')
                .find(|w| w.starts_with("kong:"))
                .map(String::from)
        })
        .collect();
    images.dedup();
    assert_eq!(images, ["kong:3.4.2", "kong:3.5.0"]);
    assert_eq!(journal_events(data.path(), "rehearsed").len(), 1);
}

/// How many sessions of a clone (`application_name` kongrade-clone) are on database `name`, and
/// their pids.
fn clone_sessions(name: &str) -> Vec<String> {
    pg::psql_admin(
        pg::server(),
        "postgres",
        &format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'kongrade-clone'"
        ),
    )
    .unwrap()
    .lines()
    .map(str::to_string)
    .collect()
}

fn wait_for(what: &str, limit: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pids of `parent`'s children named `name` (from /proc).
fn children_named(parent: u32, name: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && comm.ends_with(&format!("({name}")) {
            out.push(pid);
        }
    }
    out
}

/// kongrade killed with -9 mid-clone leaves its pg_restore running (a child in its own right):
/// the next clone into that database ends its session first, says so, and is proven. The
/// orphan is stopped (SIGSTOP) once its session is on the clone, so it is certainly still
/// connected when the second run starts: conditions, not times.
#[test]
fn a_killed_runs_pg_restore_is_ended_before_the_clone_target_is_used_again() {
    let _one_at_a_time = big();
    pg::grant_createdb();
    let db = TestDb::new("rh_orphan");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, 200, 200_000);
    let name = format!("{}_kept", db.name);
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let spawn = || {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("KONGRADE_DATA_DIR", data.path())
            .envs(db.kong_env())
            .args(["rehearse", "--kong-cmd", &kong, "--clone-database", &name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = spawn();
    // Its pg_restore is connected to the clone and restoring: stop it there.
    wait_for(
        "the first run's pg_restore on the clone",
        std::time::Duration::from_secs(120),
        || !clone_sessions(&name).is_empty(),
    );
    let restores = children_named(first.id(), "pg_restore");
    let dumps = children_named(first.id(), "pg_dump");
    assert_eq!(restores.len(), 1, "{restores:?}");
    unsafe { libc::kill(restores[0], libc::SIGSTOP) };
    let orphans = clone_sessions(&name);
    assert!(
        !orphans.is_empty(),
        "the restore ended before it could be stopped: the database is too small"
    );
    unsafe { libc::kill(first.id() as i32, libc::SIGKILL) };
    let _ = first.wait();
    assert_eq!(
        clone_sessions(&name),
        orphans,
        "the restore outlives kongrade"
    );

    // Without the orphan ended, the second restore would wait for ever on the first's
    // uncommitted tables: a deadline turns that into a failure.
    let second = spawn();
    let pid = second.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(second.wait_with_output());
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(300));
    // The orphans themselves (stopped, their session gone) are the test's to end.
    for p in restores.iter().chain(&dumps) {
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    let Ok(Ok(o)) = got else {
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("the second run did not end within 300 s (the orphan restore held the clone?)");
    };
    let text = both(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Ended 1 leftover session(s) of an earlier clone"),
        "{text}"
    );
    assert!(text.contains("Clone proven"), "{text}");
    assert!(
        !clone_sessions(&name).iter().any(|p| orphans.contains(p)),
        "the orphan's session is gone"
    );
    let _ = pg::psql_admin(
        pg::server(),
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    );
}
