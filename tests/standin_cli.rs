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
    // The other node's lock outlives any wait this test would sit out: finish ending at all
    // shows it did not wait (a waiting finish would run into the deadline below).
    kong_db::lock(&db, "someone-else", 3600);
    let o = output_within(
        cmd(
            &db,
            &["--kong-version", "3.4.2"],
            &["migrations", "finish", "--lock-timeout", "3600"],
        ),
        Duration::from_secs(120),
    );
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "aborted: another node is performing database changes\n".to_string()
        )
    );
    assert_eq!(rows(&db), before);
    assert_eq!(
        lock_rows(&db),
        "migrations|someone-else|t\n",
        "not ours to remove"
    );

    // Even with nothing pending, finish gives up on the lock rather than saying so.
    kong_db::finish(&db);
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "finish"]);
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "aborted: another node is performing database changes\n".to_string()
        )
    );
}

/// Runs `c` to its end, failing the test if it has not ended by `limit` (a generous deadline
/// for something that must not wait at all).
fn output_within(mut c: Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the stand-in");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!("still running after {limit:?}: {}{}", out(&o), err(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the stand-in is in its wait loop on another node's lock: its session's last
/// statement is Kong's `read_lock`, which it only sends after failing to take the lock.
fn wait_until_waiting_on_the_lock(db: &TestDb, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = db.exec(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'SELECT 1 FROM locks WHERE key%'",
            db.name
        ));
        if seen.trim() != "0" {
            return;
        }
        if let Some(st) = child.try_wait().expect("wait") {
            panic!("the stand-in ended ({st:?}) before it waited on the lock");
        }
        assert!(
            Instant::now() < deadline,
            "the stand-in never waited on the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_waits_on_a_live_lock_then_times_out_or_aborts_when_it_goes() {
    let db = TestDb::new("si_lock_wait");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = rows(&db);

    // A lock that outlives the wait: up waits its --lock-timeout out (Kong's sleeps, unit tested
    // in `the_lock_wait_sleeps_as_kongs`), then fails. Nothing ran, the lock is not touched.
    kong_db::lock(&db, "someone-else", 3600);
    let mut child = cmd(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--lock-timeout", "2"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    wait_until_waiting_on_the_lock(&db, &mut child);
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    assert_eq!(
        err(&o),
        "Error: [PostgreSQL error] timeout\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
    );
    assert_eq!(out(&o), "");
    assert_eq!(rows(&db), before);
    assert_eq!(lock_rows(&db), "migrations|someone-else|t\n");

    // The other node's lock expires while up waits: up does not migrate, it reports the abort
    // and leaves the expired row (only a later insert_lock clears it).
    let mut child = cmd(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--lock-timeout", "3600"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    wait_until_waiting_on_the_lock(&db, &mut child);
    // The ttl passes (made to pass: the row now says it ended a second ago).
    kong_db::lock(&db, "someone-else", -1);
    let o = child.wait_with_output().expect("wait");
    assert_eq!(
        (code(&o), out(&o)),
        (
            0,
            "aborted: another node is performing database changes\n".to_string()
        ),
        "{}",
        err(&o)
    );
    assert_eq!(rows(&db), before);
    assert_eq!(lock_rows(&db), "migrations|someone-else|f\n");

    // An expired row is no obstacle: Kong deletes it and takes the lock.
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("migrated up to"));
    assert_eq!(lock_rows(&db), "");
}

#[test]
fn a_no_op_up_still_takes_the_lock_and_waits_on_another() {
    let db = TestDb::new("si_noop_lock");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    kong_db::lock(&db, "someone-else", 3600);
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--lock-timeout", "1"],
    );
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    assert!(
        err(&o).starts_with("Error: [PostgreSQL error] timeout\n"),
        "{}",
        err(&o)
    );
    assert_eq!(out(&o), "", "not 'Database is already up-to-date'");
    // reset gives up at once on a live lock, with exit 1.
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "reset", "--yes"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (
            1,
            "aborted: another node is performing database changes\n".to_string()
        )
    );
    assert_eq!(
        db.exec("SELECT to_regclass('schema_meta') IS NOT NULL"),
        "t\n"
    );
}

#[test]
fn the_lock_is_held_while_migrating_with_the_lock_timeout_as_ttl() {
    use std::os::unix::process::ExitStatusExt;
    let db = TestDb::new("si_lock_held");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    // Killed mid-run, the stand-in leaves the row it held while migrating, untouched; its ttl
    // lies between (start + 45 s) and (end + 45 s) in the database's own clock.
    let t0 = db.exec("SELECT extract(epoch FROM clock_timestamp())");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2", "--die-at", "core/019_320_to_330"],
        &["migrations", "up", "--lock-timeout", "45"],
    );
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{:?}", o.status);
    let t1 = db.exec("SELECT extract(epoch FROM clock_timestamp())");
    let seen = db.exec("SELECT owner, extract(epoch FROM ttl) FROM locks WHERE key = 'migrations'");
    let (owner, ttl) = seen.trim().split_once('|').expect("a lock row");
    assert_eq!(owner.len(), 36, "a random per-run id: {owner}");
    let num = |s: &str| -> f64 { s.trim().parse().unwrap() };
    let ttl = num(ttl);
    assert!(
        ttl >= num(&t0) + 45.0 - 1.0 && ttl <= num(&t1) + 45.0 + 1.0,
        "ttl = now + lock timeout: {t0} .. {ttl} .. {t1}"
    );

    // A run that ends releases it.
    let db = TestDb::new("si_lock_held2");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "--lock-timeout", "45"],
    );
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
fn quiet_is_ignored_as_by_real_kong_and_verbose_dates_every_line() {
    // Kong's -q disables its log, and loading kong.conf switches it back on: every command
    // prints what it prints without -q.
    let db = TestDb::new("si_quiet");
    let plain = TestDb::new("si_quiet_plain");
    let both = |args: &[&str]| {
        let q: Vec<&str> = args.iter().copied().chain(["-q"]).collect();
        let a = kong(&db, &["--kong-version", "2.8.5"], &q);
        let b = kong(&plain, &["--kong-version", "2.8.5"], args);
        assert_eq!(code(&a), code(&b), "{args:?}: {}{}", out(&a), err(&a));
        let same = |t: String, d: &TestDb| t.replace(&d.name, "DB");
        assert_eq!(same(out(&a), &db), same(out(&b), &plain), "{args:?}");
        assert_eq!(err(&a), err(&b), "{args:?}");
        assert!(
            !out(&a).is_empty() || !err(&a).is_empty(),
            "{args:?} printed"
        );
        out(&a)
    };
    assert!(both(&["migrations", "bootstrap"]).starts_with("Bootstrapping database...\n"));
    assert!(both(&["migrations", "list"]).starts_with("Executed migrations:\n"));
    // The same releases, up to 3.4.2 and finish.
    let both = |args: &[&str]| {
        let q: Vec<&str> = args.iter().copied().chain(["-q"]).collect();
        let a = kong(&db, &["--kong-version", "3.4.2"], &q);
        let b = kong(&plain, &["--kong-version", "3.4.2"], args);
        assert_eq!(code(&a), code(&b));
        let same = |t: String, d: &TestDb| t.replace(&d.name, "DB");
        assert_eq!(same(out(&a), &db), same(out(&b), &plain), "{args:?}");
        out(&a)
    };
    assert!(both(&["migrations", "up"]).contains(" migrated up to: "));
    assert!(both(&["migrations", "finish"]).ends_with("No pending migrations to finish\n"));
    assert_eq!(rows(&db), rows(&plain));

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
fn kong_arguments_need_no_double_dash() {
    let db = TestDb::new("si_nodash");
    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(dir.path(), "");
    let run = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(["stand-in", "--kong-version", "3.4.2"])
            .args(args)
            .stdin(Stdio::null());
        c.output().expect("run the stand-in")
    };
    let conf = conf.display().to_string();
    // Flags of kong's anywhere after the command, -c included (kongrade's own -c is global).
    let o = run(&[
        "migrations",
        "bootstrap",
        "-c",
        &conf,
        "--lock-timeout",
        "5",
    ]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(
        out(&o).starts_with("Bootstrapping database...\n"),
        "{}",
        out(&o)
    );
    let o = run(&["migrations", "list", "--conf", &conf]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(out(&o).starts_with("Executed migrations:\n"));
    // A kong flag first.
    let o = run(&["-f", "migrations", "bootstrap", "-c", &conf]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(
        out(&o).starts_with("Resetting database...\n"),
        "{}",
        out(&o)
    );
    let o = run(&["version"]);
    assert_eq!((code(&o), out(&o)), (0, "3.4.2\n".to_string()));
    // The `--` form still works.
    let o = run(&["--", "migrations", "up", "-c", &conf]);
    assert_eq!(
        (code(&o), out(&o)),
        (0, "Database is already up-to-date\n".to_string()),
        "{}",
        err(&o)
    );
    // The stand-in's own options still parse before kong's.
    let mut c = Command::new(BIN);
    let o = c
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "stand-in",
            "--delay-ms",
            "1",
            "--kong-version",
            "2.8.5",
            "version",
        ])
        .output()
        .unwrap();
    assert_eq!(
        (code(&o), out(&o)),
        (0, "2.8.5\n".to_string()),
        "{}",
        err(&o)
    );
}

#[test]
fn the_prefix_is_prepared_before_the_database_is_touched() {
    let db = TestDb::new("si_prefix");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "bootstrap", "-p", "/dev/null"],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        "Error: /dev/null is not a directory\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
    );
    assert_eq!(out(&o), "");
    assert_eq!(
        db.exec("SELECT to_regclass('schema_meta') IS NULL"),
        "t\n",
        "nothing ran"
    );

    // A missing prefix is created (parents too), with Kong's line first.
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("a/kong");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &[
            "migrations",
            "bootstrap",
            "-p",
            &prefix.display().to_string(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        out(&o).starts_with(&format!(
            "prefix directory {} not found, trying to create it\nBootstrapping database...\n",
            prefix.display()
        )),
        "{}",
        out(&o)
    );
    for f in ["logs/error.log", "logs/access.log", "logs/admin_access.log"] {
        assert!(prefix.join(f).is_file(), "{f}");
    }
    assert!(prefix.join("pids").is_dir());
    // There now: no line.
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "list", "-p", &prefix.display().to_string()],
    );
    assert_eq!(code(&o), 0);
    assert!(out(&o).starts_with("Executed migrations:\n"), "{}", out(&o));

    // Relative to the working directory, as Kong makes it absolute; KONG_PREFIX works too.
    let o = cmd(&db, &["--kong-version", "3.4.2"], &["migrations", "list"])
        .env("KONG_PREFIX", "rel/./p/")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).starts_with(&format!(
        "prefix directory {} not found, trying to create it\n",
        dir.path().join("rel/p").display()
    )));
    // A file in the way: the error of the mkdir that failed.
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "up", "-p", "/dev/null/kong"],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(
        (out(&o), err(&o)),
        (
            "prefix directory /dev/null/kong not found, trying to create it\n".to_string(),
            "Error: File exists\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
                .to_string()
        )
    );
}

/// A pseudo-terminal: the master side, and the slave side to give a child as stdin.
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(m)).to_owned();
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0, "open the pty slave");
        (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s))
    }
}

#[test]
fn reset_on_a_terminal_asks_with_the_versions_prompt() {
    use std::io::Write;
    for (version, prompt) in [("2.8.5", "[Y/n]"), ("3.4.2", "[y/n]")] {
        let db = TestDb::new("si_reset_tty");
        kong_db::bootstrap_at(&db, version, None);
        let ask = |answers: &str| {
            let (mut master, slave) = pty();
            let child = cmd(&db, &["--kong-version", version], &["migrations", "reset"])
                .stdin(Stdio::from(slave))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            // Typed ahead: the terminal keeps the lines until the stand-in reads them.
            master.write_all(answers.as_bytes()).unwrap();
            let o = child.wait_with_output().expect("wait");
            drop(master);
            o
        };
        let q = format!("> Are you sure? This operation is irreversible. {prompt} ");
        // An answer it does not know is asked again; "n" cancels.
        let o = ask("maybe\nn\n");
        assert_eq!(
            (code(&o), out(&o)),
            (0, format!("{q}{q}cancelled\n")),
            "{}",
            err(&o)
        );
        assert_eq!(
            db.exec("SELECT to_regclass('schema_meta') IS NOT NULL"),
            "t\n"
        );
        let o = ask("y\n");
        assert_eq!(
            (code(&o), out(&o)),
            (
                0,
                format!("{q}Resetting database...\nDatabase successfully reset\n")
            ),
            "{}",
            err(&o)
        );
        assert_eq!(db.exec("SELECT to_regclass('schema_meta') IS NULL"), "t\n");
    }
}

#[test]
fn database_off_answers_as_kongs_db_less_connector() {
    let db = TestDb::new("si_off");
    let off = |args: &[&str]| {
        cmd(&db, &["--kong-version", "3.4.2"], args)
            .env("KONG_DATABASE", "off")
            .output()
            .expect("run")
    };
    for (args, text) in [
        (
            &["migrations", "bootstrap"][..],
            "Database already bootstrapped\n",
        ),
        (
            &["migrations", "up"][..],
            "Database is already up-to-date\n",
        ),
        (
            &["migrations", "finish"][..],
            "No pending migrations to finish\n",
        ),
        (
            &["migrations", "reset", "--yes"][..],
            "Resetting database...\nDatabase successfully reset\n",
        ),
    ] {
        let o = off(args);
        assert_eq!(
            (code(&o), out(&o)),
            (0, text.to_string()),
            "{args:?}: {}",
            err(&o)
        );
        assert_eq!(err(&o), "", "{args:?}");
    }
    // Every migration of the release counts as executed.
    let o = off(&["migrations", "list"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).starts_with("Executed migrations:\n"), "{}", out(&o));
    assert!(out(&o).contains(" core: 000_base, "), "{}", out(&o));
    assert!(!out(&o).contains("New migrations"));
    let o = off(&["migrations", "status"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).expect("status JSON");
    assert_eq!(v["needs_bootstrap"], false);
    assert_eq!(v["executed_migrations"][0]["subsystem"], "core");
    assert!(v.get("new_migrations").is_none() && v.get("pending_migrations").is_none());
    // Forced, a migration has to run, and Kong's migrations have no DB-less part.
    let o = off(&["migrations", "up", "--force"]);
    assert_eq!(code(&o), 1);
    assert_eq!(out(&o), "migrating core on cache 'in memory'...\n");
    assert!(
        err(&o).starts_with("Error: [off error] cluster_mutex callback threw an error: [off error] missing off strategy for migration '000_base'"),
        "{}",
        err(&o)
    );
    // The PostgreSQL database was never touched.
    assert_eq!(db.exec("SELECT to_regclass('schema_meta') IS NULL"), "t\n");
}

#[test]
fn an_unreachable_database_or_a_refused_login_fails_as_kongs_connector_init() {
    let db = TestDb::new("si_unreach");
    let hint = "\n\n  Run with --v (verbose) or --vv (debug) for more details\n";
    let pre = "Error: [PostgreSQL error] failed to retrieve PostgreSQL server_version_num: ";
    for cmdline in [&["migrations", "list"][..], &["migrations", "up"][..]] {
        let o = cmd(&db, &["--kong-version", "3.4.2"], cmdline)
            .env("KONG_PG_PORT", "1")
            .output()
            .unwrap();
        assert_eq!(code(&o), 1);
        let e = err(&o);
        assert!(e.starts_with(pre) && e.ends_with(hint), "{e}");
        assert!(e.to_lowercase().contains("connection refused"), "{e}");
        assert!(
            !e.contains("cannot reach"),
            "the driver's words, not kongrade's: {e}"
        );
        assert_eq!(out(&o), "");
    }
    let o = cmd(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "bootstrap"],
    )
    .env("KONG_PG_PASSWORD", "not-the-password")
    .output()
    .unwrap();
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        format!("{pre}FATAL: password authentication failed for user \"kong\"{hint}")
    );
    assert!(!err(&o).contains(support::pg::KONG_PASSWORD));
    assert_eq!(db.exec("SELECT to_regclass('schema_meta') IS NULL"), "t\n");
}

#[test]
fn an_aborted_bootstrap_leaves_the_tables_and_up_then_runs_everything() {
    let db = TestDb::new("si_boot_abort");
    // Another node holds the lock: bootstrap creates the tables, then aborts.
    db.exec(kong_db::BOOTSTRAP_DDL);
    kong_db::lock(&db, "someone-else", 3600);
    db.exec("DROP TABLE schema_meta");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "bootstrap"],
    );
    assert_eq!(code(&o), 0);
    db.exec("DELETE FROM locks");
    let o = kong(
        &db,
        &["--kong-version", "3.4.2"],
        &["migrations", "bootstrap"],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (0, "Database already bootstrapped\n".to_string())
    );
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "list"]);
    assert_eq!(code(&o), 5, "{}", out(&o));
    assert!(
        out(&o).starts_with("New migrations available:\n"),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains(" core: 000_base, "), "{}", out(&o));
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).contains("core migrated up to: 000_base (executed)\n"));
    let reference = TestDb::new("si_boot_abort_ref");
    reference.exec(kong_db::BOOTSTRAP_DDL);
    kong_db::up_to(&reference, "3.4.2", None);
    assert_eq!(rows(&db), rows(&reference));
}

#[test]
fn one_migration_is_counted_in_the_singular() {
    let db = TestDb::new("si_singular");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    // Core's last migration not run yet (a one-phase one).
    db.exec(
        "UPDATE schema_meta SET executed = executed[1:cardinality(executed) - 1], \
         last_executed = executed[cardinality(executed) - 1] WHERE subsystem = 'core'",
    );
    let o = kong(&db, &["--kong-version", "3.4.2"], &["migrations", "up"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        out(&o).ends_with(" (executed)\n1 migration processed\n1 executed\n"),
        "{}",
        out(&o)
    );
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
