//! The kong stand-in as a process against a real PostgreSQL: the rows it leaves must be the
//! rows Kong's own statements leave (tests/support/kong_db.rs), its texts and exit codes
//! Kong's, and the migrations lock taken, waited on and released as Kong does.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kongrade::kong::catalog::{Catalog, Db};
use kongrade::kong::version::Version;
use support::kong_db;
use support::pg::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn cmd(db: &TestDb, standin_flags: &[&str], kong_args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.arg("stand-in")
        .args(standin_flags)
        .arg("--")
        .args(kong_args)
        .stdin(Stdio::null());
    c
}

fn kong(db: &TestDb, standin_flags: &[&str], kong_args: &[&str]) -> Output {
    cmd(db, standin_flags, kong_args)
        .output()
        .expect("run the stand-in")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("no exit code: {:?}\n{}{}", o.status, out(o), err(o)))
}

/// schema_meta, NULL and empty arrays told apart.
fn rows(db: &TestDb) -> String {
    db.exec(
        "SELECT key, subsystem, coalesce(last_executed, '<null>'), coalesce(executed::text, '<null>'), \
         coalesce(pending::text, '<null>') FROM schema_meta ORDER BY key, subsystem",
    )
}

fn lock_rows(db: &TestDb) -> String {
    // Kong's liveness test, in a UTC session like Kong's (the test server runs in New York time).
    db.exec("SET TIME ZONE 'UTC'; SELECT key, owner, ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC' FROM locks")
}

/// The new migrations of core from 2.8.5 to 3.4.2, in Kong's order.
fn core_new_285_to_342() -> Vec<String> {
    let cat = Catalog::embedded();
    let old = cat.release(Version::new(2, 8, 5)).unwrap();
    let new = cat.release(Version::new(3, 4, 2)).unwrap();
    let had: Vec<&str> = old
        .subsystem("core")
        .unwrap()
        .migrations
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    new.subsystem("core")
        .unwrap()
        .migrations
        .iter()
        .filter(|m| !had.contains(&m.name.as_str()))
        .map(|m| m.name.clone())
        .collect()
}

#[test]
fn up_then_finish_leave_exactly_kongs_rows() {
    let db = TestDb::new("si_upfin");
    let reference = TestDb::new("si_upfin_ref");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    let ran = kong_db::up_to(&reference, "3.4.2", None);

    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert_eq!(rows(&db), rows(&reference));
    assert_eq!(lock_rows(&db), "", "the lock is released");
    let text = out(&o);
    assert!(
        text.contains(&format!("migrating core on database '{}'...", db.name)),
        "{text}"
    );
    assert!(
        text.contains("core migrated up to: 016_280_to_300 (pending)"),
        "{text}"
    );
    assert!(
        text.contains("core migrated up to: 017_300_to_310 (executed)"),
        "{text}"
    );
    let pending = ran
        .iter()
        .filter(|(s, n)| {
            Catalog::embedded()
                .release(Version::new(3, 4, 2))
                .unwrap()
                .subsystem(s)
                .unwrap()
                .migrations
                .iter()
                .any(|m| &m.name == n && m.two_phase(Db::Postgres))
        })
        .count();
    let tail = format!(
        "{} migrations processed\n{} executed\n{} pending\n\nDatabase has pending migrations; run 'kong migrations finish' when ready\n",
        ran.len(),
        ran.len() - pending,
        pending
    );
    assert!(text.ends_with(&tail), "{text}\n--- expected tail:\n{tail}");

    // Kong refuses a second up while migrations are pending.
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        "Error: Database has pending migrations; run 'kong migrations finish'\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
    );
    assert_eq!(out(&o), "");

    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "finish"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    kong_db::finish(&reference);
    assert_eq!(rows(&db), rows(&reference));
    let text = out(&o);
    assert!(
        text.contains("core migrated up to: 016_280_to_300 (executed)"),
        "{text}"
    );
    // Kong 3.x tests the state re-read after the teardowns, so it says this after finishing too.
    assert!(
        text.ends_with(&format!(
            "{pending} migrations processed\n{pending} executed\nNo pending migrations to finish\n"
        )),
        "{text}"
    );
    assert_eq!(lock_rows(&db), "");

    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "finish"]);
    assert_eq!(
        (code(&o), out(&o)),
        (0, "No pending migrations to finish\n".to_string())
    );
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(
        (code(&o), out(&o)),
        (0, "Database is already up-to-date\n".to_string())
    );
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "list"]);
    assert_eq!(code(&o), 0);
    assert!(out(&o).starts_with("Executed migrations:\n"), "{}", out(&o));
}

#[test]
fn bootstrap_records_every_migration_as_kong_does() {
    let db = TestDb::new("si_boot");
    let o = kong(
        &db,
        &["--kong-version", "2.8.5"],
        &["migrations", "bootstrap"],
    );
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    let text = out(&o);
    assert!(text.starts_with(&format!(
        "Bootstrapping database...\nmigrating core on database '{}'...\ncore migrated up to: 000_base (executed)\n",
        db.name
    )), "{text}");
    assert!(
        text.ends_with(" executed\nDatabase is up-to-date\n"),
        "{text}"
    );
    // Kong records a two-phase migration pending, then tears it down: its subsystem's `pending`
    // ends as an empty array where the reference's one-statement bootstrap leaves NULL. Apart
    // from that the rows are the same.
    let reference = TestDb::new("si_boot_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    let norm = |d: &TestDb| {
        d.exec("SELECT subsystem, last_executed, executed::text, coalesce(pending, '{}')::text FROM schema_meta ORDER BY subsystem")
    };
    assert_eq!(norm(&db), norm(&reference));
    assert_eq!(
        db.exec("SELECT pending::text FROM schema_meta WHERE subsystem = 'core'"),
        "{}\n"
    );
    assert_eq!(lock_rows(&db), "");

    let o = kong(
        &db,
        &["--kong-version", "2.8.5"],
        &["migrations", "bootstrap"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (0, "Database already bootstrapped\n".to_string())
    );
}

#[test]
fn needs_bootstrap_messages_and_list_and_status_codes() {
    let db = TestDb::new("si_needs");
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).starts_with(
        "Error: Cannot run migrations: Database needs bootstrapping or is older than Kong 1.0.\n\nTo start a new installation from scratch, run 'kong migrations bootstrap'.\n"
    ), "{}", err(&o));
    assert!(err(&o).ends_with("\n\n  Run with --v (verbose) or --vv (debug) for more details\n"));
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "finish"]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).starts_with("Error: Cannot run migrations: Database needs bootstrapping"));
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "list"]);
    assert_eq!(code(&o), 3);
    assert!(out(&o).starts_with("Database needs bootstrapping or is older than Kong 1.0.\n"));
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "status"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).expect("status JSON");
    assert_eq!(v["needs_bootstrap"], true);
    assert!(v.get("executed_migrations").is_none());
    assert_eq!(v["new_migrations"][0]["subsystem"], "core");
    assert_eq!(v["new_migrations"][0]["migrations"][0], "000_base");

    kong_db::bootstrap_at(&db, "2.8.5", None);
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "list"]);
    assert_eq!(code(&o), 5, "{}", out(&o));
    assert!(out(&o).ends_with("\nRun 'kong migrations up' to proceed\n"));
    assert!(out(&o).contains("New migrations available:\n"));
    kong_db::up_to(&db, "3.4.2", None);
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "list"]);
    assert_eq!(code(&o), 4);
    assert!(out(&o).ends_with("\nRun 'kong migrations finish' when ready\n"));
    // Pending from 3.4.2 and new for 3.9.3: Kong's warning on stderr, still 4.
    let o = kong(&db, &["--kong-version", "3.9.3"], &["migrations", "list"]);
    assert_eq!(code(&o), 4);
    assert!(err(&o).contains("[warn] Database has pending migrations from a previous upgrade, and new migrations from this upgrade (version 3.9.3)"), "{}", err(&o));
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "status"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).expect("status JSON");
    assert_eq!(v["needs_bootstrap"], false);
    assert!(v["pending_migrations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["subsystem"] == "core" && s["migrations"][0] == "016_280_to_300"));
    assert!(v.get("new_migrations").is_none());
    // `migrations status` arrived in 3.0.0.
    let o = kong(&db, &["--kong-version", "2.8.5"], &["migrations", "status"]);
    assert_eq!(code(&o), 1);
}

#[test]
fn version_prints_what_kong_prints() {
    let db = TestDb::new("si_version");
    let o = kong(&db, &["--kong-version", "3.4.2"], &["version"]);
    assert_eq!((code(&o), out(&o)), (0, "3.4.2\n".to_string()));
    let o = kong(&db, &["--kong-version", "3.4.2"], &["version", "-a"]);
    assert!(out(&o).starts_with("Kong: 3.4.2\n"));
}

#[test]
fn bootstrap_and_finish_give_up_at_once_on_a_live_lock() {
    let db = TestDb::new("si_lock_nowait");
    db.exec(kong_db::BOOTSTRAP_DDL);
    kong_db::lock(&db, "someone-else", 30);
    // Kong creates the tables before it tries the lock, then aborts with exit 0.
    db.exec("DROP TABLE schema_meta");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "bootstrap"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "Bootstrapping database...\naborted: another node is performing database changes\n"
                .to_string()
        )
    );
    assert_eq!(rows(&db), "");

    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::up_to(&db, "3.4.2", None);
    let before = rows(&db);
    let t = Instant::now();
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "finish"]);
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "aborted: another node is performing database changes\n".to_string()
        )
    );
    assert!(t.elapsed() < Duration::from_secs(5), "no waiting");
    assert_eq!(rows(&db), before);
    assert_eq!(
        lock_rows(&db),
        "migrations|someone-else|t\n",
        "not ours to remove"
    );
}

#[test]
fn up_waits_on_a_live_lock_then_times_out_or_aborts_when_it_goes() {
    let db = TestDb::new("si_lock_wait");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = rows(&db);

    kong_db::lock(&db, "someone-else", 60);
    let t = Instant::now();
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--lock-timeout", "2"],
    );
    assert!(t.elapsed() >= Duration::from_millis(1900), "it waited");
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    assert_eq!(
        err(&o),
        "Error: [PostgreSQL error] timeout\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
    );
    assert_eq!(rows(&db), before);

    // The other node's lock expires while up waits: up does not migrate, it reports the abort.
    kong_db::lock(&db, "someone-else", 2);
    let t = Instant::now();
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--lock-timeout", "20"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "aborted: another node is performing database changes\n".to_string()
        )
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(rows(&db), before);

    // An expired row is no obstacle: Kong deletes it and takes the lock.
    kong_db::lock(&db, "someone-dead", -5);
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("migrated up to"));
    assert_eq!(lock_rows(&db), "");
}

#[test]
fn the_lock_is_held_while_migrating_with_the_lock_timeout_as_ttl() {
    let db = TestDb::new("si_lock_held");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let child = cmd(
        &db,
        &["--kong-version", "3.4.2", "--delay-ms", "150"],
        &["migrations", "up", "--lock-timeout", "45"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    let t = Instant::now();
    let mut seen = String::new();
    while t.elapsed() < Duration::from_secs(20) {
        seen = db.exec(
            "SELECT owner, round(extract(epoch FROM ttl - CURRENT_TIMESTAMP)) FROM locks WHERE key = 'migrations'",
        );
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (owner, secs) = seen
        .trim()
        .split_once('|')
        .expect("a lock row while it runs");
    assert_eq!(owner.len(), 36, "a random per-run id: {owner}");
    let secs: f64 = secs.parse().unwrap();
    assert!(
        (40.0..=45.0).contains(&secs),
        "ttl = now + lock timeout: {secs}"
    );
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(lock_rows(&db), "", "released at the end");
}

#[test]
fn fail_at_leaves_the_earlier_migrations_and_releases_the_lock() {
    let db = TestDb::new("si_fail");
    let reference = TestDb::new("si_fail_ref");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    let new = core_new_285_to_342();
    let k = new.iter().position(|n| n == "018_310_to_320").unwrap();
    kong_db::up_to(&reference, "3.4.2", Some(k));

    let o = kong(
        &db,
        &[
            "--kong-version",
            "3.4.2",
            "--fail-at",
            "core/018_310_to_320",
        ],
        &["migrations", "up"],
    );
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    assert_eq!(rows(&db), rows(&reference));
    assert_eq!(lock_rows(&db), "", "released after the failure");
    assert!(err(&o).starts_with("Error: [PostgreSQL error] cluster_mutex callback threw an error: [PostgreSQL error] failed to run migration '018_310_to_320' up: "), "{}", err(&o));
    assert!(out(&o).contains("core migrated up to: 017_300_to_310 (executed)\n"));
    assert!(!out(&o).contains("018_310_to_320"));

    // Its teardown fails in finish: nothing of that subsystem's teardowns after it.
    let db2 = TestDb::new("si_fail_fin");
    kong_db::bootstrap_at(&db2, "2.8.5", None);
    kong_db::up_to(&db2, "3.4.2", None);
    let before = rows(&db2);
    let o = kong(
        &db2,
        &[
            "--kong-version",
            "3.4.2",
            "--fail-at",
            "core/016_280_to_300",
        ],
        &["migrations", "finish"],
    );
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("failed to run migration '016_280_to_300' teardown"),
        "{}",
        err(&o)
    );
    assert_eq!(rows(&db2), before, "core's teardown is the first one");
    assert_eq!(lock_rows(&db2), "");
}

#[test]
fn die_at_leaves_the_earlier_migrations_and_a_live_lock() {
    use std::os::unix::process::ExitStatusExt;
    let db = TestDb::new("si_die");
    let reference = TestDb::new("si_die_ref");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    let new = core_new_285_to_342();
    let k = new.iter().position(|n| n == "019_320_to_330").unwrap();
    kong_db::up_to(&reference, "3.4.2", Some(k));

    let o = kong(
        &db,
        &["--kong-version", "3.4.2", "--die-at", "core/019_320_to_330"],
        &["migrations", "up", "--lock-timeout", "30"],
    );
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{:?}", o.status);
    assert_eq!(rows(&db), rows(&reference));
    let lock = lock_rows(&db);
    assert!(
        lock.starts_with("migrations|") && lock.ends_with("|t\n"),
        "a live lock row stays: {lock}"
    );
    assert!(out(&o).contains("core migrated up to: 018_310_to_320 (executed)\n"));
}

#[test]
fn reset_needs_a_tty_or_yes_and_drops_only_the_bookkeeping() {
    let db = TestDb::new("si_reset");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    db.exec("CREATE TABLE services (id int)");
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "reset"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        "Error: not a tty: invoke 'reset' non-interactively with the --yes flag\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
    );
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "reset", "--yes"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "Resetting database...\nDatabase successfully reset\n".to_string()
        )
    );
    assert_eq!(
        db.exec("SELECT to_regclass('schema_meta') IS NULL, to_regclass('locks') IS NULL, to_regclass('services') IS NOT NULL"),
        "t|t|t\n"
    );
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "reset", "-y"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (
            1,
            "Database not bootstrapped, nothing to reset\n".to_string()
        )
    );
}

#[test]
fn quiet_and_verbose() {
    let db = TestDb::new("si_verbosity");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "bootstrap", "-q"],
    );
    assert_eq!((code(&o), out(&o)), (0, String::new()));
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--v"],
    );
    assert_eq!(code(&o), 0);
    // Every line dated, as Kong's log does below the info level.
    assert!(
        out(&o)
            .lines()
            .all(|l| l.len() > 20 && l.as_bytes()[4] == b'/' && l.contains("] ")),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("[info] Database is already up-to-date"));
    assert!(out(&o).contains("[verbose] Kong: 3.4.2"));
}

#[test]
fn configuration_and_connection_errors_have_kongs_shape() {
    let db = TestDb::new("si_errors");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "-c", "/nonexistent/kong.conf"],
    );
    assert_eq!(code(&o), 1);
    assert!(err(&o).starts_with("Error: "), "{}", err(&o));
    assert!(err(&o).contains("/nonexistent/kong.conf"));
    let o = cmd(&db, &["--kong-version", "3.4.2"], &["migrations", "list"])
        .env("KONG_PG_PORT", "1")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("Error: [PostgreSQL error] "),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains(support::pg::KONG_PASSWORD));
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--bogus"],
    );
    assert_eq!(code(&o), 1);
    assert!(err(&o).starts_with("unrecognized parameter: --bogus\n"));
}
