//! `kongrade plan` shows the journal's rehearsal of this database for this target, the line the
//! wizard's Review and Up show, in text and `--json`: the real binary, a real PostgreSQL, the
//! stand-in as kong for the rehearsal.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::kong_db;
use support::pg::{self, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn kongrade(db: &TestDb, data: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data);
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade")
}

fn both(o: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn plan_json(db: &TestDb, data: &Path, target: &str) -> Value {
    let o = kongrade(db, data, &["plan", "--json", "--target-version", target]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", both(&o)))
}

#[test]
fn plan_shows_the_rehearsal_of_this_target_in_text_and_json() {
    pg::grant_createdb();
    let db = TestDb::new("plan_rh");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec("CREATE TABLE services (id uuid PRIMARY KEY, name text); INSERT INTO services VALUES (gen_random_uuid(), 'first');");
    let data = tempfile::tempdir().unwrap();

    // No rehearsal yet: nothing said.
    let v = plan_json(&db, data.path(), "3.4.2");
    assert_eq!(v["rehearsal"], Value::Null, "{v}");

    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 50");
    let o = kongrade(
        &db,
        data.path(),
        &["rehearse", "--kong-cmd", &kong, "--target-version", "3.4.2"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));

    let v = plan_json(&db, data.path(), "3.4.2");
    let line = v["rehearsal"]["line"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("rehearsed on "), "{v}");
    assert!(
        line.contains(": up ") && line.contains(", finish "),
        "{line}"
    );
    assert!(line.contains("; slowest "), "{line}");
    assert_eq!(v["rehearsal"]["target"], "3.4.2");
    assert_eq!(v["rehearsal"]["staleness"], "fresh", "{v}");
    assert_eq!(v["rehearsal"]["stale"], Value::Null, "{v}");
    assert_eq!(v["rehearsal"]["not_checked"], Value::Null, "{v}");
    let at = v["rehearsal"]["at"].clone();

    // The text says the same line.
    let o = kongrade(&db, data.path(), &["plan", "--target-version", "3.4.2"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains(&format!("Rehearsal: {line}")), "{text}");

    // The database changed since: said stale, as the wizard says it.
    db.exec("INSERT INTO services VALUES (gen_random_uuid(), 'late')");
    let v = plan_json(&db, data.path(), "3.4.2");
    assert!(
        v["rehearsal"]["line"]
            .as_str()
            .unwrap_or_default()
            .contains("(STALE: the database changed since"),
        "{v}"
    );
    assert_eq!(v["rehearsal"]["staleness"], "changed", "{v}");
    assert!(
        v["rehearsal"]["stale"]
            .as_str()
            .is_some_and(|s| s.contains("services")),
        "{v}"
    );

    // Another target's rehearsal says nothing of this one.
    let v = plan_json(&db, data.path(), "3.3.1");
    assert_eq!(v["rehearsal"], Value::Null, "{v}");

    // A later rehearsal of another target does not hide this target's: each plan shows its own.
    let kong = format!("'{BIN}' stand-in --kong-version 3.3.1 --delay-ms 50");
    let o = kongrade(
        &db,
        data.path(),
        &["rehearse", "--kong-cmd", &kong, "--target-version", "3.3.1"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let v = plan_json(&db, data.path(), "3.3.1");
    assert_eq!(v["rehearsal"]["target"], "3.3.1", "{v}");
    let v = plan_json(&db, data.path(), "3.4.2");
    assert_eq!(v["rehearsal"]["target"], "3.4.2", "{v}");
    assert_eq!(
        v["rehearsal"]["at"], at,
        "the same rehearsal as before: {v}"
    );
}

/// A staleness check that gets no answer (here: a table the marks must read is locked by
/// another session, as a large database outlasts the 10 s the check may take) is "not
/// checked", in text and JSON: no STALE, no change claimed, the measured times still shown.
#[test]
fn plan_says_not_checked_when_the_staleness_check_has_no_answer() {
    pg::grant_createdb();
    let db = TestDb::new("plan_rh_unchecked");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec("CREATE TABLE services (id uuid PRIMARY KEY, name text); CREATE TABLE hold (id int);");
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 50");
    let o = kongrade(
        &db,
        data.path(),
        &["rehearse", "--kong-cmd", &kong, "--target-version", "3.4.2"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));

    // Another session holds the table until it is killed.
    let mut holder = pg::psql_cmd(&db.server, &db.name)
        .args([
            "-c",
            "BEGIN; LOCK TABLE hold IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut holder);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db
        .exec("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'hold' AND l.mode = 'AccessExclusiveLock' AND l.granted")
        .trim()
        != "1"
    {
        assert!(std::time::Instant::now() < deadline, "the lock never showed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let v = plan_json(&db, data.path(), "3.4.2");
    let r = &v["rehearsal"];
    assert_eq!(r["staleness"], "not_checked", "{v}");
    assert_eq!(r["stale"], Value::Null, "no change claimed: {v}");
    assert!(
        r["not_checked"]
            .as_str()
            .is_some_and(|s| s.contains("no answer within 10 s")),
        "{v}"
    );
    let line = r["line"].as_str().unwrap_or_default();
    assert!(line.starts_with("rehearsed on "), "{line}");
    assert!(
        line.contains("(not checked: no answer within 10 s"),
        "{line}"
    );
    assert!(!line.contains("STALE"), "{line}");

    let o = kongrade(&db, data.path(), &["plan", "--target-version", "3.4.2"]);
    // As one line (the text wraps at 100 columns).
    let text = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains("Rehearsal: rehearsed on "), "{text}");
    assert!(
        text.contains("(not checked: no answer within 10 s"),
        "{text}"
    );
    assert!(!text.contains("STALE"), "{text}");
}
