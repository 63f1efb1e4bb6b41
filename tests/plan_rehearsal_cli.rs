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
    assert_eq!(v["rehearsal"]["stale"], Value::Null, "{v}");

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

    // Another target's rehearsal says nothing of this one.
    let v = plan_json(&db, data.path(), "3.3.1");
    assert_eq!(v["rehearsal"], Value::Null, "{v}");
}
