//! `auto --strategy in-place`'s end: the new nodes smoke-tested through their proxy (`--smoke`)
//! once they answer, and the downtime shown as a running clock. The real binary, a real
//! PostgreSQL, the stand-in as kong, loopback servers as the nodes.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::cli::{both, code, lines_of, out, read_until};
use support::kong_db;
use support::nodes::{silent_node, stopped_node, SwitchNode};
use support::pg::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn data_dir(db: &TestDb) -> PathBuf {
    std::env::temp_dir()
        .join("kongrade-tests")
        .join(format!("data-{}", db.name))
}

/// `kongrade auto --strategy in-place --writes-frozen` over the LTS pair, the old node stopped.
fn in_place(db: &TestDb, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data_dir(db))
        .envs(db.kong_env())
        .args([
            "auto",
            "--kong-cmd",
            &format!("'{BIN}' stand-in --kong-version 3.4.2"),
            "--strategy",
            "in-place",
            "--writes-frozen",
            "--admin-url",
            &stopped_node(),
        ])
        .args(args)
        .stdin(Stdio::null());
    c
}

fn run(db: &TestDb, args: &[&str]) -> Output {
    in_place(db, args).output().expect("run kongrade auto")
}

fn status_code(db: &TestDb) -> i64 {
    let o = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(db.kong_env())
        .args(["status", "--json", "--target-version", "3.4.2"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    v["exit_code"].as_i64().unwrap()
}

fn journal_steps(db: &TestDb) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data_dir(db).join("journal"))
        .unwrap()
        .flatten()
    {
        for l in std::fs::read_to_string(e.path())
            .unwrap_or_default()
            .lines()
        {
            if let Ok(v) = serde_json::from_str::<Value>(l) {
                if v["event"] == "step" {
                    out.push(format!(
                        "{} {}",
                        v["step"].as_str().unwrap_or_default(),
                        v["phase"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    out
}

/// The seconds of a clock line `  downtime 1 min 20 s (since the old nodes stopped)`.
fn clock_secs(line: &str) -> Option<u64> {
    let t = line.trim().strip_prefix("downtime ")?;
    let t = t.strip_suffix(" (since the old nodes stopped)")?;
    let words: Vec<&str> = t.split_whitespace().collect();
    match words.as_slice() {
        [s, "s"] => s.parse().ok(),
        [m, "min", s, "s"] => Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?),
        _ => None,
    }
}

#[test]
fn the_downtime_clock_runs_until_the_new_nodes_answer_and_pass_their_smoke_tests() {
    let db = TestDb::new("ip_clock");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    // The new node is not up yet: it still answers as the old version.
    let node = SwitchNode::start("2.8.5");
    let smoke = format!("GET {}/health 200", node.url);
    let mut child = in_place(
        &db,
        &[
            "--backup=skip",
            "--new-admin-url",
            &node.url,
            "--new-nodes-wait",
            "600",
            "--smoke",
            &smoke,
            "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let report = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut s).unwrap();
        s
    });
    // Progress is on stderr under --json.
    let rx = lines_of(child.stderr.take().unwrap());
    let mut text = String::new();
    let waiting = read_until(
        &rx,
        &mut text,
        Some("New nodes: waiting up to 600 s"),
        Duration::from_secs(300),
    );
    // The clock keeps printing while auto waits for the node.
    let ticked = waiting == Some(true)
        && read_until(
            &rx,
            &mut text,
            Some("(since the old nodes stopped)"),
            Duration::from_secs(120),
        ) == Some(true);
    if !ticked {
        let _ = child.kill();
        panic!("no downtime clock while waiting for the new nodes:\n{text}");
    }
    // The node comes up on the target.
    node.set_version("3.4.2");
    if read_until(&rx, &mut text, None, Duration::from_secs(300)) != Some(true) {
        let _ = child.kill();
        panic!("auto did not end:\n{text}");
    }
    let status = child.wait().unwrap();
    let report = report.join().unwrap();
    assert_eq!(status.code(), Some(0), "{text}\n{report}");
    let v: Value = serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {report}"));
    assert_eq!(v["result"], "up_to_date", "{v}");
    assert!(
        text.contains(&format!("  smoke GET {}/health: 200 as expected", node.url)),
        "{text}"
    );
    let ticks: Vec<u64> = text.lines().filter_map(clock_secs).collect();
    assert!(!ticks.is_empty(), "{text}");
    // The clock runs forward, and the total covers it.
    assert!(ticks.windows(2).all(|w| w[0] <= w[1]), "{ticks:?}");
    let total = v["in_place"]["downtime_secs"]
        .as_u64()
        .expect("downtime_secs");
    assert!(total >= *ticks.last().unwrap(), "{total} {ticks:?}");
    assert!(
        v["message"].as_str().unwrap().contains("\nDowntime: "),
        "{v}"
    );
    assert_eq!(v["in_place"]["smoke"][0]["status"], 200, "{v}");
    assert_eq!(status_code(&db), 0);
    let steps = journal_steps(&db);
    assert!(
        steps.contains(&"in-place-smoke done".to_string()),
        "{steps:?}"
    );
}

#[test]
fn a_failed_smoke_test_stops_with_23_and_the_restore_command_and_is_not_a_rerun_of_migrations() {
    let db = TestDb::new("ip_smoke_fail");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let node = SwitchNode::start("3.4.2");
    // The default --backup=pg_dump: the rollback is that backup's exact restore command.
    let failing = format!("GET {}/fail 200", node.url);
    let o = run(&db, &["--new-admin-url", &node.url, "--smoke", &failing]);
    assert_eq!(code(&o), 23, "{}", both(&o));
    let text = out(&o);
    assert!(text.contains("smoke tests failed"), "{text}");
    assert!(
        text.contains(&format!(
            "smoke GET {}/fail: HTTP 503, expected 200",
            node.url
        )),
        "{text}"
    );
    assert!(text.contains("Send them no traffic"), "{text}");
    assert!(text.contains("Rollback (in-place):"), "{text}");
    assert!(
        text.contains("pg_restore --clean --if-exists --no-owner"),
        "{text}"
    );
    assert!(text.contains("Downtime so far: "), "{text}");
    assert_eq!(status_code(&db), 0, "the migrations ran");
    assert!(journal_steps(&db).contains(&"in-place-smoke failed".to_string()));

    // Fixed, run again: the smoke passes, no migration runs again.
    let passing = format!("GET {}/health 200", node.url);
    let o = run(
        &db,
        &[
            "--backup=skip",
            "--new-admin-url",
            &node.url,
            "--smoke",
            &passing,
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(!out(&o).contains("Step 1"), "{}", both(&o));
    assert!(out(&o).contains("200 as expected"), "{}", both(&o));
}

#[test]
fn a_smoke_url_that_never_answers_fails_with_its_timeout_and_smoke_needs_new_nodes() {
    let db = TestDb::new("ip_smoke_timeout");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = db.exec("SELECT subsystem, executed::text FROM schema_meta ORDER BY 1");
    let node = SwitchNode::start("3.4.2");
    let hang = format!("GET {}/slow 200", silent_node());

    // --smoke without --new-admin-url: refused before anything runs.
    let o = run(&db, &["--backup=skip", "--smoke", &hang]);
    assert_eq!(code(&o), 22, "{}", both(&o));
    assert!(out(&o).contains("--new-admin-url"), "{}", both(&o));
    assert_eq!(
        db.exec("SELECT subsystem, executed::text FROM schema_meta ORDER BY 1"),
        before,
        "nothing ran"
    );

    let o = run(
        &db,
        &[
            "--backup=skip",
            "--new-admin-url",
            &node.url,
            "--smoke",
            &hang,
            "--json",
        ],
    );
    assert_eq!(code(&o), 23, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "in_place_smoke_failed", "{v}");
    let e = v["in_place"]["smoke"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(e.contains("no answer within"), "{v}");
    assert!(v["in_place"]["downtime_secs"].is_u64(), "{v}");
}
