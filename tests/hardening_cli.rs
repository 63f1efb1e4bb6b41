//! What a reliability probe found (issue 13), each against the real binary and a real
//! PostgreSQL: terminal escapes from the database and kong.conf, unbounded reads, kong.conf as
//! Kong reads it, odd lock rows and arrays, and an expired lock that needs no action.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::kong_db;
use support::pg::TestDb;

fn base(data: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    if let Some(d) = data {
        c.env("KONGRADE_DATA_DIR", d);
    }
    c
}

fn kongrade(db: Option<&TestDb>, args: &[&str]) -> Output {
    let mut c = base(None);
    if let Some(db) = db {
        c.envs(db.kong_env());
    }
    c.args(args).output().expect("run kongrade")
}

/// Runs with a deadline: a command that must end (it used to hang) is killed after `limit`, and
/// the test fails naming it rather than hanging the suite.
fn kongrade_within(mut c: Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start kongrade");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("poll kongrade").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kongrade {:?} did not end within {limit:?}", c.get_args());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No byte a terminal acts on: C0 controls other than newline and tab, DEL, and C1 (as UTF-8).
fn assert_no_controls(what: &str, s: &str) {
    for c in s.chars() {
        assert!(
            !(c.is_control() && c != '\n' && c != '\t'),
            "{what} holds a raw control character {c:?}:\n{s}"
        );
    }
}

const EVIL: &str = "\x1b]0;pwned\x07\x1b[2J\u{9b}31m";

#[test]
fn database_contents_reach_human_output_escaped() {
    let db = TestDb::new("hd_escape");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    // A subsystem no release knows, named with escapes, and a lock owner with them.
    db.exec(&format!(
        "INSERT INTO schema_meta (key, subsystem, last_executed, executed) VALUES ('schema_meta', E'evil{0}', E'000_x{0}', ARRAY[E'000_x{0}'])",
        "\\x1b]0;pwned\\x07\\x1b[2J\\u009b31m"
    ));
    db.exec("SET TIME ZONE 'UTC'; INSERT INTO locks (key, owner, ttl) VALUES ('migrations', E'own\\x1b]0;pwned\\x07', CURRENT_TIMESTAMP AT TIME ZONE 'UTC' - interval '600 seconds')");
    for cmd in ["status", "diagnose", "plan"] {
        let o = kongrade(Some(&db), &[cmd, "--target-version", "3.4.2"]);
        let text = out(&o);
        assert_no_controls(&format!("{cmd} stdout"), &text);
        assert_no_controls(&format!("{cmd} stderr"), &err(&o));
        if cmd != "plan" {
            assert!(text.contains("evil\\x1b]0;pwned\\x07"), "{cmd}: {text}");
        }
    }
    // JSON keeps the value itself (serde escapes it as \u001b).
    let o = kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lock"]["owner"], "own\x1b]0;pwned\x07");
    let _ = EVIL;
}

#[test]
fn kong_conf_values_reach_error_messages_escaped_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("e.conf");
    std::fs::write(&conf, format!("pg_port = {EVIL}\n")).unwrap();
    let o = kongrade(
        None,
        &[
            "status",
            "-c",
            conf.to_str().unwrap(),
            "--target-version",
            "3.4.2",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert_no_controls("stderr", &e);
    assert!(e.contains("pg_port = '\\x1b]0;pwned\\x07"), "{e}");
    // A huge value is echoed cut, with its size.
    std::fs::write(&conf, format!("pg_port = x{}\n", "9".repeat(99_999))).unwrap();
    let o = kongrade(
        None,
        &[
            "status",
            "-c",
            conf.to_str().unwrap(),
            "--target-version",
            "3.4.2",
        ],
    );
    let e = err(&o);
    assert!(e.len() < 2_000, "{} bytes of error", e.len());
    assert!(e.contains("... (100000 bytes)"), "{e}");
}

#[test]
fn a_conf_that_is_not_a_regular_file_or_too_big_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let args = |p: &str| {
        let mut c = base(None);
        c.args([
            "status",
            "-c",
            p,
            "--target-version",
            "3.4.2",
            "--pg-port",
            "1",
        ]);
        c
    };
    let o = kongrade_within(args("/dev/zero"), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));

    let fifo = dir.path().join("fifo.conf");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let o = kongrade_within(args(fifo.to_str().unwrap()), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));

    let o = kongrade_within(args(dir.path().to_str().unwrap()), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));

    let big = dir.path().join("big.conf");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    let o = kongrade_within(args(big.to_str().unwrap()), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("larger than"), "{}", err(&o));
}

#[test]
fn a_ca_file_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("tls.conf");
    std::fs::write(
        &conf,
        "pg_ssl = on\npg_ssl_verify = on\nlua_ssl_trusted_certificate = /dev/zero\npg_host = 127.0.0.1\n",
    )
    .unwrap();
    let mut c = base(None);
    c.args([
        "status",
        "-c",
        conf.to_str().unwrap(),
        "--target-version",
        "3.4.2",
    ]);
    let o = kongrade_within(c, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));
}

#[test]
fn kong_conf_is_read_as_kong_reads_bytes_and_bom() {
    let db = TestDb::new("hd_bytes");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let dir = tempfile::tempdir().unwrap();
    // A Latin-1 comment: Kong reads bytes and ignores comments.
    let conf = db.write_kong_conf(dir.path(), "");
    let mut body = std::fs::read(&conf).unwrap();
    body.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(&conf, &body).unwrap();
    let mut c = base(None);
    c.args([
        "status",
        "-c",
        conf.to_str().unwrap(),
        "--target-version",
        "3.4.2",
    ]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    // A byte-order mark does not hide the first key: pg_port = 1 is read, so the connection
    // fails on port 1 (not on the default 5432 or the test server).
    let mut bom = b"\xef\xbb\xbfpg_port = 1\n".to_vec();
    bom.extend_from_slice(&body[..]);
    let text =
        String::from_utf8_lossy(&bom).replace(&format!("pg_port = {}\n", db.server.port), "");
    std::fs::write(&conf, text.as_bytes()).unwrap();
    let mut c = base(None);
    c.args([
        "status",
        "-c",
        conf.to_str().unwrap(),
        "--target-version",
        "3.4.2",
    ]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains(":1/"), "{}", err(&o));

    // A non-UTF-8 value of a key kongrade needs is named with its line.
    std::fs::write(&conf, b"database = postgres\npg_host = caf\xe9\n").unwrap();
    let mut c = base(None);
    c.args([
        "status",
        "-c",
        conf.to_str().unwrap(),
        "--target-version",
        "3.4.2",
    ]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(e.contains("line 2") && e.contains("pg_host"), "{e}");
    assert!(e.contains("UTF-8"), "{e}");
}

#[test]
fn odd_lock_ttls_are_reported_not_failed_on() {
    let db = TestDb::new("hd_ttl");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let set = |ttl: &str| {
        db.exec(&format!(
            "INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'node-x', '{ttl}') \
             ON CONFLICT (key) DO UPDATE SET ttl = EXCLUDED.ttl"
        ))
    };
    let status = |json: bool| {
        let mut a = vec!["status", "--target-version", "3.4.2"];
        if json {
            a.push("--json");
        }
        kongrade(Some(&db), &a)
    };
    // 'infinity': live for ever, exit 6 (locked), and said so.
    set("infinity");
    let o = status(false);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(out(&o).contains("never expires"), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(v["lock"]["ttl"], "infinity");
    assert_eq!(v["lock"]["live"], true);
    // '-infinity': expired since ever, blocks nothing.
    set("-infinity");
    let o = status(false);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).contains("expired long ago"), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(v["lock"]["ttl"], "-infinity");
    assert_eq!(v["lock"]["live"], false);
    // A ttl before the common era keeps its era.
    set("4000-01-01 00:00:00+00 BC");
    let v: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(v["lock"]["ttl"], "4000-01-01T00:00:00Z BC");
}

#[test]
fn a_two_dimensional_array_is_named_by_table_column_and_row() {
    let db = TestDb::new("hd_2d");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    db.exec("UPDATE schema_meta SET pending = ARRAY[ARRAY['a','b'],ARRAY['c','d']] WHERE subsystem = 'core'");
    let o = kongrade(Some(&db), &["status", "--target-version", "3.4.2"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains("schema_meta") && e.contains("pending") && e.contains("core"),
        "{e}"
    );
    assert!(e.contains("2-dimensional"), "{e}");
}

/// `kongrade auto` with the stand-in as kong, wrapped: after `migrations up` ends, `sabotage`
/// runs (a shell line; $J is the journal directory). Returns the output.
fn auto_with_sabotage(db: &TestDb, data: &Path, sabotage: &str) -> Output {
    let bin = env!("CARGO_BIN_EXE_kongrade");
    let script = data.join("kong.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nJ='{}'\n'{bin}' stand-in --kong-version 3.4.2 \"$@\"\nrc=$?\nif [ \"$2\" = up ]; then {sabotage}; fi\nexit $rc\n",
            data.join("journal").display()
        ),
    )
    .unwrap();
    let mut c = base(Some(data));
    c.envs(db.kong_env())
        .args([
            "auto",
            "--kong-cmd",
            &format!("sh {}", script.display()),
            "--target-version",
            "3.4.2",
            "--backup=skip",
        ])
        // The LTS pair, in place (Kong's guide refuses blue-green there): up, then finish.
        .args(support::nodes::in_place());
    kongrade_within(c, Duration::from_secs(300))
}

fn pending(db: &TestDb) -> String {
    db.exec(
        "SELECT coalesce(array_length(pending, 1), 0) FROM schema_meta WHERE subsystem = 'core'",
    )
}

#[test]
fn a_journal_deleted_under_auto_stops_it_before_the_next_step() {
    let db = TestDb::new("hd_jdel");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let data = tempfile::tempdir().unwrap();
    let o = auto_with_sabotage(&db, data.path(), "rm -f \"$J\"/*.jsonl");
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(18), "{text}");
    assert!(text.contains("was deleted"), "{text}");
    assert!(text.contains("1 kong step(s) ran"), "{text}");
    // `up` ran, `finish` did not: the two-phase migrations are still pending.
    assert_ne!(pending(&db).trim(), "0");
}

#[test]
fn a_journal_lock_deleted_under_auto_stops_it_before_the_next_step() {
    let db = TestDb::new("hd_jlock");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let data = tempfile::tempdir().unwrap();
    let o = auto_with_sabotage(&db, data.path(), "rm -f \"$J\"/*.lock");
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(18), "{text}");
    assert!(text.contains("lost its lock file"), "{text}");
    assert_ne!(pending(&db).trim(), "0");
}

#[test]
fn a_journal_made_immutable_after_up_names_the_cause_and_says_a_step_ran() {
    let data = tempfile::tempdir().unwrap();
    // chattr +i needs root and a file system that has it: without them there is nothing to test.
    let probe = data.path().join("probe");
    std::fs::write(&probe, "x").unwrap();
    let can = Command::new("chattr")
        .arg("+i")
        .arg(&probe)
        .status()
        .is_ok_and(|s| s.success());
    let _ = Command::new("chattr").arg("-i").arg(&probe).status();
    if !can {
        eprintln!("skipped: chattr +i is not available here");
        return;
    }
    let db = TestDb::new("hd_jro");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let o = auto_with_sabotage(&db, data.path(), "chattr +i \"$J\"/*.jsonl");
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chattr -i '{}'/journal/*.jsonl",
            data.path().display()
        ))
        .status();
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(18), "{text}");
    assert!(text.contains("permission denied"), "{text}");
    assert!(!text.contains("disk full"), "{text}");
    assert!(text.contains("1 kong step(s) ran"), "{text}");
}

#[test]
fn a_journal_lock_path_that_is_a_directory_is_an_io_error_not_a_held_lock() {
    let db = TestDb::new("hd_jlockdir");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let data = tempfile::tempdir().unwrap();
    let jdir = data.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let entry = serde_json::json!({
        "seq": 1, "at": "2026-01-01T00:00:00Z", "event": "opened",
        "database": {"kind": "postgres", "host": db.server.host, "port": db.server.port,
                     "database": db.name, "schema": null},
        "source": null, "target": null, "kongrade": "0.1.0"
    });
    std::fs::write(jdir.join("20260101T000000Z-x.jsonl"), format!("{entry}\n")).unwrap();
    std::fs::create_dir(jdir.join("20260101T000000Z-x.lock")).unwrap();
    let mut c = base(Some(data.path()));
    c.envs(db.kong_env()).args([
        "auto",
        "--kong-cmd",
        &format!(
            "{} stand-in --kong-version 3.4.2",
            env!("CARGO_BIN_EXE_kongrade")
        ),
        "--target-version",
        "3.4.2",
        "--backup=skip",
    ]);
    let o = kongrade_within(c, Duration::from_secs(300));
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("is a directory"), "{text}");
    assert!(!text.contains("another kongrade"), "{text}");
}

fn backup(db: &TestDb, data: &Path, extra: &[&str]) -> Output {
    let mut c = base(Some(data));
    c.envs(db.kong_env()).arg("backup").args(extra);
    kongrade_within(c, Duration::from_secs(300))
}

#[test]
fn backup_out_never_follows_a_symlink_never_overwrites_silently_and_makes_private_dirs() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new("hd_bkout");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let data = tempfile::tempdir().unwrap();
    let victim = data.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = data.path().join("link.dump");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let o = backup(&db, data.path(), &["--out", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("symbolic link"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // Even with --force.
    let o = backup(
        &db,
        data.path(),
        &["--out", link.to_str().unwrap(), "--force"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // An existing file is refused without --force, replaced with it.
    let o = backup(&db, data.path(), &["--out", victim.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("--force"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let o = backup(
        &db,
        data.path(),
        &["--out", victim.to_str().unwrap(), "--force"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_ne!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Missing directories are created 0700; no temporary file is left beside the dump.
    let nested = data.path().join("a/b/c.dump");
    let o = backup(&db, data.path(), &["--out", nested.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    for d in ["a", "a/b"] {
        let mode = std::fs::metadata(data.path().join(d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{d}");
    }
    let left: Vec<_> = std::fs::read_dir(data.path().join("a/b"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("c.dump")]);
}

#[test]
fn a_recorded_backup_that_is_gone_or_changed_does_not_count() {
    for (tag, damage) in [("gone", 0), ("truncated", 1), ("garbage", 2)] {
        let db = TestDb::new(&format!("hd_bk_{tag}"));
        kong_db::bootstrap_at(&db, "2.8.5", None);
        let data = tempfile::tempdir().unwrap();
        let o = backup(&db, data.path(), &["--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        let rec: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let file = std::path::PathBuf::from(rec["file"].as_str().unwrap());
        let len = std::fs::metadata(&file).unwrap().len() as usize;
        match damage {
            0 => std::fs::remove_file(&file).unwrap(),
            1 => std::fs::write(&file, b"PGDMP").unwrap(),
            _ => std::fs::write(&file, vec![b'x'; len]).unwrap(),
        }
        // rollback --print says so, and does not offer the file.
        let mut c = base(Some(data.path()));
        c.envs(db.kong_env()).args(["rollback", "--print"]);
        let o = kongrade_within(c, Duration::from_secs(120));
        let text = out(&o);
        assert!(
            text.contains("WARNING: the recorded backup"),
            "{tag}: {text}"
        );
        assert!(
            !text.contains("Check the file is the one recorded"),
            "{tag}: {text}"
        );
        // auto takes a new one, saying why (blue-green from 2.8.5 nodes to 3.0: up, then stop).
        let mut c = base(Some(data.path()));
        c.envs(db.kong_env())
            .args([
                "auto",
                "--kong-cmd",
                &format!(
                    "{} stand-in --kong-version 3.0.2",
                    env!("CARGO_BIN_EXE_kongrade")
                ),
                "--target-version",
                "3.0.2",
                "--backup=pg_dump",
            ])
            .args(support::nodes::old_node_285());
        let o = kongrade_within(c, Duration::from_secs(300));
        let text = out(&o);
        assert!(!text.contains("Backup already taken"), "{tag}: {text}");
        assert!(
            text.contains("cannot be used: the recorded backup"),
            "{tag}: {text}"
        );
        assert!(text.contains("Backup verified:"), "{tag}: {text}");
        assert_eq!(o.status.code(), Some(4), "{tag}: {text}{}", err(&o));
    }
}

/// A lock row with a NULL ttl (a hand edit, a restore): Kong never removes it, so every run
/// aborts with exit 0 having done nothing. diagnose names it with a safe DELETE; auto refuses
/// with 14 instead of running a kong that changes nothing; after the DELETE, auto migrates.
#[test]
fn a_lock_row_without_ttl_is_named_and_auto_refuses_until_it_is_deleted() {
    let db = TestDb::new("hd_nullttl");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec("INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'restored', NULL)");
    let schema =
        || db.exec("SELECT subsystem, executed::text, pending::text FROM schema_meta ORDER BY 1");
    let before = schema();
    let standin = format!(
        "{} stand-in --kong-version 3.4.2",
        env!("CARGO_BIN_EXE_kongrade")
    );
    // Kong's contract, as the stand-in follows it: up aborts, exit 0, nothing run.
    let mut c = base(None);
    c.envs(db.kong_env())
        .args(["stand-in", "--kong-version", "3.4.2", "migrations", "up"]);
    let o = kongrade_within(c, Duration::from_secs(300));
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("aborted: another node is performing database changes"),
        "{text}"
    );
    assert_eq!(schema(), before);

    let o = kongrade(
        Some(&db),
        &["diagnose", "--target-version", "3.4.2", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("diagnose JSON");
    let f = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "lock-no-ttl"))
        .unwrap_or_else(|| panic!("no lock-no-ttl finding: {v}"));
    assert_eq!(f["severity"], "error");
    assert!(
        f["remedy"][0]
            .as_str()
            .unwrap_or("")
            .contains("ttl IS NULL"),
        "{f}"
    );

    // Blue-green from 2.8.5 nodes to 3.0 (auto's procedure without --strategy, allowed there).
    let data = tempfile::tempdir().unwrap();
    let old = support::nodes::old_node_285();
    let run_auto = || {
        let mut c = base(Some(data.path()));
        c.envs(db.kong_env())
            .args([
                "auto",
                "--kong-cmd",
                &standin.replace("3.4.2", "3.0.2"),
                "--target-version",
                "3.0.2",
                "--backup=skip",
            ])
            .args(&old);
        kongrade_within(c, Duration::from_secs(300))
    };
    let o = run_auto();
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(14), "{text}");
    assert!(text.contains("ttl IS NULL"), "{text}");
    assert_eq!(schema(), before, "auto must not have run kong");

    db.exec("DELETE FROM locks WHERE key = 'migrations' AND ttl IS NULL");
    let o = run_auto();
    let text = format!("{}{}", out(&o), err(&o));
    assert_eq!(o.status.code(), Some(4), "up ran, finish left: {text}");
    assert_ne!(schema(), before);
}
