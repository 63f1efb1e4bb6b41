//! `kongrade auto --strategy dual-cluster` end to end: the real binary, a real PostgreSQL, the
//! stand-in as the new kong (a real child process), a fake new-cluster node (Admin API and
//! proxy). The source must be unchanged at the end; a kill -9 at each step boundary resumes
//! without repeating a step.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::nodes::new_node;
use support::pg::{self, Scratch, TestDb};
use support::{kong_db, kong_rows};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");
/// How auto is asked for dual-cluster.
const STRATEGY: &[&str] = &["--strategy", "dual-cluster"];

fn auto_cmd(db: &TestDb, data: &Path, kong_cmd: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data);
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.arg("auto")
        .args(STRATEGY)
        .args(["--backup=skip", "--kong-cmd"])
        .arg(kong_cmd)
        .args(args)
        .stdin(Stdio::null());
    c
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

fn clone_db(src: &TestDb, name: &str) -> TestDb {
    TestDb {
        server: src.server.clone(),
        name: name.to_string(),
    }
}

fn source(tag: &str) -> TestDb {
    pg::grant_createdb();
    let db = TestDb::new(tag);
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, 20, 500);
    db
}

fn reference_meta() -> String {
    let r = TestDb::new("dc_ref");
    kong_db::bootstrap_at(&r, "2.8.5", None);
    kong_db::up_to(&r, "3.4.2", None);
    kong_db::finish(&r);
    meta(&r)
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn dual_cluster_clones_migrates_the_clone_probes_the_new_cluster_and_never_writes_the_source() {
    let src = source("dc_e2e");
    let before = (meta(&src), kong_rows::fingerprint(&src));
    let scratch = Scratch(format!("{}_new", src.name));
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 20");
    let node = new_node("3.4.2");

    // Without the new cluster's nodes: the clone is made and migrated, then auto says what next.
    let o = auto_cmd(&src, data.path(), &kong, &["--clone-database", &scratch.0])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(26), "{}", both(&o));
    let text = both(&o);
    assert!(
        text.contains("Clone proven: schema_meta identical"),
        "{text}"
    );
    assert!(
        text.contains("Write guard: no configuration table of the source changed"),
        "{text}"
    );
    assert!(text.contains("KONG_PG_DATABASE="), "{text}");
    assert!(!text.contains(pg::KONG_PASSWORD), "{text}");
    let clone = clone_db(&src, &scratch.0);
    assert_eq!(meta(&clone), reference_meta());

    // With them: probed, smoke-tested, the checklist printed; nothing repeated.
    let health = format!("GET {node}/health 200");
    let o = auto_cmd(
        &src,
        data.path(),
        &kong,
        &[
            "--clone-database",
            &scratch.0,
            "--new-admin-url",
            &node,
            "--smoke",
            &health,
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let text = both(&o);
    assert!(text.contains("taken and proven earlier"), "{text}");
    assert!(!text.contains("Streaming pg_dump"), "{text}");
    assert!(
        text.contains("'kong migrations up' has nothing to do there"),
        "{text}"
    );
    assert!(text.contains("Kong 3.4.2, database reachable"), "{text}");
    assert!(text.contains("/health: 200 as expected"), "{text}");
    assert!(text.contains("[ ] 1 % to the new cluster"), "{text}");
    assert!(
        text.contains("send all traffic back to the old cluster"),
        "{text}"
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(v["result"], "dual_cluster_ready", "{v}");

    // A smoke test that fails and a node on the wrong version: not ready, said.
    let old_node = new_node("2.8.5");
    let missing = format!("GET {node}/nope 200");
    let o = auto_cmd(
        &src,
        data.path(),
        &kong,
        &[
            "--clone-database",
            &scratch.0,
            "--new-admin-url",
            &old_node,
            "--smoke",
            &missing,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(26), "{}", both(&o));
    let text = both(&o);
    assert!(text.contains("not the target 3.4.2"), "{text}");
    assert!(text.contains("/nope: HTTP 404, expected 200"), "{text}");

    // The write guard: a service added to the source after the clone is caught and named.
    src.exec("INSERT INTO services (name) VALUES ('written-after-the-clone')");
    let o = auto_cmd(
        &src,
        data.path(),
        &kong,
        &["--clone-database", &scratch.0, "--new-admin-url", &node],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(25), "{}", both(&o));
    let text = both(&o);
    assert!(text.contains("services: 20 rows -> 21"), "{text}");
    assert!(text.contains("--clone-replace"), "{text}");

    // As the message says: --clone-replace takes a new clone (it holds the new service),
    // migrates it, and the guard passes.
    let o = auto_cmd(
        &src,
        data.path(),
        &kong,
        &[
            "--clone-database",
            &scratch.0,
            "--clone-replace",
            "--new-admin-url",
            &node,
        ],
    )
    .output()
    .unwrap();
    let text = both(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(!text.contains("taken and proven earlier"), "{text}");
    assert!(
        text.contains("Write guard: no configuration table of the source changed"),
        "{text}"
    );
    assert_eq!(meta(&clone), reference_meta());
    assert_eq!(
        clone
            .exec("SELECT count(*) FROM services WHERE name = 'written-after-the-clone'")
            .trim(),
        "1"
    );
    src.exec("DELETE FROM services WHERE name = 'written-after-the-clone'");

    // Every source table unchanged at the end (the service above was added by the test).
    assert_eq!((meta(&src), kong_rows::fingerprint(&src)), before);
    std::mem::forget(clone);
}

fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn read_until(rx: &std::sync::mpsc::Receiver<String>, text: &mut String, marker: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if line.contains(marker) {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}

#[test]
fn kill_9_at_every_dual_cluster_step_boundary_then_a_restart_repeats_no_step() {
    let expected = reference_meta();
    let node = new_node("3.4.2");
    // Where the first run dies: as the clone starts; once it is proven; as up starts on the
    // clone; while up migrates; between up and finish; while finish migrates; at the guard.
    let boundaries = [
        "Clone: kong@",
        "Clone proven:",
        "Clone: kong migrations up",
        "core migrated up to: 016_280_to_300 (pending)",
        "Clone: kong migrations finish",
        "core migrated up to: 016_280_to_300 (executed)",
        "Write guard:",
    ];
    for (i, marker) in boundaries.iter().enumerate() {
        let src = source(&format!("dc_k9_{i}"));
        let before = (meta(&src), kong_rows::fingerprint(&src));
        let scratch = Scratch(format!("{}_new", src.name));
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("kong");
        std::fs::create_dir(&dir).unwrap();
        // kong: each `up` and `finish` that really starts is logged.
        let script = write_script(
            &dir,
            "kong",
            &format!(
                "case \"$1 $2\" in\n  'migrations up'|'migrations finish') echo \"$1 $2\" >> '{d}/runs.log' ;;\nesac\nexec '{BIN}' stand-in --kong-version 3.4.2 --delay-ms 80 \"$@\"",
                d = dir.display()
            ),
        );
        let kong = script.display().to_string();
        let args = [
            "--clone-database",
            scratch.0.as_str(),
            "--new-admin-url",
            node.as_str(),
        ];
        let mut child = auto_cmd(&src, data.path(), &kong, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let seen = read_until(&lines_of(&mut child), &mut first, marker);
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        assert!(seen, "never reached '{marker}':\n{first}");

        let o = auto_cmd(&src, data.path(), &kong, &args).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "killed at '{marker}':\n--- first\n{first}{}",
            both(&o)
        );
        let clone = clone_db(&src, &scratch.0);
        assert_eq!(meta(&clone), expected, "killed at '{marker}'");
        std::mem::forget(clone);
        let runs = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
        assert_eq!(
            runs,
            "migrations up\nmigrations finish\n",
            "killed at '{marker}':\n--- first\n{first}{}",
            both(&o)
        );
        // The clone was proven once after it was taken: a restart after the proof reads it back.
        let restart = both(&o);
        if i >= 1 {
            assert!(
                restart.contains("taken and proven earlier"),
                "killed at '{marker}':\n{restart}"
            );
        }
        assert_eq!(
            (meta(&src), kong_rows::fingerprint(&src)),
            before,
            "killed at '{marker}'"
        );
    }
}

/// A clone target that already holds the operator's data is refused, and stays refused when
/// auto runs again; the data is kept. (The kill between the journaled start and that refusal,
/// after which a restart took the database for its own clone and replaced it, cannot be hit
/// from here: the start is no longer journaled for an occupied target at all.)
#[test]
fn an_occupied_clone_target_is_refused_every_time_and_never_dropped() {
    let src = source("dc_occupied");
    let theirs = TestDb::new("dc_theirs");
    theirs.exec("CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')");
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    for attempt in 1..=2 {
        let o = auto_cmd(
            &src,
            data.path(),
            &kong,
            &["--clone-database", &theirs.name],
        )
        .output()
        .unwrap();
        let text = both(&o);
        assert_eq!(o.status.code(), Some(24), "attempt {attempt}: {text}");
        assert!(text.contains("is not empty"), "attempt {attempt}: {text}");
        assert_eq!(
            theirs.exec("SELECT v FROM precious").trim(),
            "keep me",
            "attempt {attempt}: {text}"
        );
    }
}

/// A clone server nobody can reach is not an absent database: auto stops (24) before it
/// journals a clone start ("absent or empty at start" would be untrue), and the source is
/// untouched.
#[test]
fn an_unreachable_clone_server_is_refused_before_a_clone_start_is_journaled() {
    let src = source("dc_unreach");
    let before = meta(&src);
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let gone = support::nodes::stopped_node();
    let port = gone.rsplit(':').next().unwrap().to_string();
    let o = auto_cmd(
        &src,
        data.path(),
        &kong,
        &[
            "--clone-database",
            "kong_new",
            "--clone-pg-host",
            "127.0.0.1",
            "--clone-pg-port",
            &port,
        ],
    )
    .output()
    .unwrap();
    let text = both(&o);
    assert_eq!(o.status.code(), Some(24), "{text}");
    assert!(text.contains("cannot be read"), "{text}");
    let journal: String = std::fs::read_dir(data.path().join("journal"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !journal.contains("absent or empty at start"),
        "no clone start journaled: {journal}"
    );
    assert_eq!(meta(&src), before, "the source is untouched");
}

/// `--kong-image`: a multi-hop path (2.8.5 -> 3.4.2 -> 3.5.0) walked on the clone, each hop by
/// its own image (a fake docker that plays each tag with the stand-in and sees only the `-e`
/// names), each proven before the next; the source untouched, no password in argv.
#[test]
fn dual_cluster_walks_each_hop_on_the_clone_with_its_own_kong_image() {
    let src = source("dc_hops");
    let before = meta(&src);
    let name = format!("{}_new", src.name);
    let _scratch = Scratch(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("docker.log");
    support::docker::fake_docker(dir.path(), &log, BIN);
    let new = new_node("3.5.0");
    let data = tempfile::tempdir().unwrap();
    let o = support::docker::kongrade_with_docker(BIN, dir.path(), data.path(), src.kong_env())
        .args(["auto", "--strategy", "dual-cluster", "--backup=skip"])
        .args(["--kong-image", "kong", "--target-version", "3.5.0"])
        .args(["--clone-database", &name, "--new-admin-url", &new])
        .args(["--smoke", &format!("GET {new}/health 200")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(
        text.contains("Path: 3.4.2 -> 3.5.0, one kong per hop"),
        "{text}"
    );
    assert!(
        text.contains("== Hop 1 of 2 (Kong 3.4.2) on the clone"),
        "{text}"
    );
    assert!(
        text.contains("Proven on the clone: every migration of Kong 3.4.2 is executed."),
        "{text}"
    );
    // The clone went through both releases; the source is as it was.
    let want = TestDb::new("dc_hops_ref");
    kong_db::bootstrap_at(&want, "2.8.5", None);
    for v in ["3.4.2", "3.5.0"] {
        kong_db::up_to(&want, v, None);
        kong_db::finish(&want);
    }
    let sorted = |d: &TestDb| {
        d.exec("SELECT subsystem, array(SELECT unnest(executed) ORDER BY 1)::text, coalesce(cardinality(pending), 0) FROM schema_meta ORDER BY subsystem")
    };
    assert_eq!(sorted(&clone_db(&src, &name)), sorted(&want));
    assert_eq!(meta(&src), before, "the source was written");
    // Each hop's image ran its migrations, in order, never with a password in argv.
    let log = std::fs::read_to_string(&log).unwrap();
    let argvs: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("ARGV\t"))
        .collect();
    let mut images: Vec<&str> = argvs
        .iter()
        .filter(|a| a.contains("\tmigrations\t"))
        .filter_map(|a| a.split('\t').find(|w| w.starts_with("kong:")))
        .collect();
    images.dedup();
    assert_eq!(images, ["kong:3.4.2", "kong:3.5.0"], "{log}");
    for a in &argvs {
        assert!(!a.contains(pg::KONG_PASSWORD), "a password in argv: {a}");
    }
    // Journaled per hop: its steps, then its proof.
    let j: Vec<String> = std::fs::read_dir(data.path().join("journal"))
        .unwrap()
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["event"] == "step")
                .map(|v| {
                    format!(
                        "{} {}",
                        v["step"].as_str().unwrap(),
                        v["phase"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let at = |s: &str| {
        j.iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} not journaled: {j:?}"))
    };
    assert!(
        at("dual-cluster up (Kong 3.4.2) done") < at("dual-cluster hop 1 of 2 (Kong 3.4.2) done")
    );
    assert!(
        at("dual-cluster hop 1 of 2 (Kong 3.4.2) done")
            < at("dual-cluster up (Kong 3.5.0) started")
    );
    assert!(
        at("dual-cluster hop 2 of 2 (Kong 3.5.0) done")
            < at("dual-cluster new cluster proven done")
    );
}

/// The write guard sees an UPDATE that changes neither a row count nor an `updated_at`: a
/// plugin's config edited on a source whose `plugins` has no `updated_at` (Kong 2.8's).
#[test]
fn the_write_guard_names_a_plugin_whose_config_was_updated_after_the_clone() {
    let src = source("dc_digest");
    src.exec("ALTER TABLE plugins DROP COLUMN updated_at");
    let scratch = Scratch(format!("{}_new", src.name));
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let run = || {
        auto_cmd(&src, data.path(), &kong, &["--clone-database", &scratch.0])
            .output()
            .unwrap()
    };
    // Cloned and migrated; nothing written since: the guard passes (no new cluster given yet).
    let o = run();
    assert_eq!(o.status.code(), Some(26), "{}", both(&o));
    assert!(
        both(&o).contains("Write guard: no configuration table of the source changed"),
        "{}",
        both(&o)
    );
    src.exec(
        "UPDATE plugins SET config = jsonb_set(config, '{minute}', '5') \
         WHERE id = (SELECT id FROM plugins ORDER BY id LIMIT 1)",
    );
    let o = run();
    assert_eq!(o.status.code(), Some(25), "{}", both(&o));
    let text = both(&o);
    assert!(
        text.contains("plugins: 500 rows -> 500, rows changed in place"),
        "{text}"
    );
    assert!(
        !text.contains("  services:"),
        "only plugins changed: {text}"
    );
}

/// Issue 14: `--clone-replace` onto a target that holds something: the journal's clone start
/// says what it replaced (its tables and rows), not "absent or empty at start".
#[test]
fn a_clone_replace_journals_what_it_replaced() {
    let src = source("dc_replaced");
    let theirs = TestDb::new("dc_replaced_theirs");
    theirs
        .exec("CREATE TABLE old_stuff (v text); INSERT INTO old_stuff VALUES ('a'), ('b'), ('c')");
    let data = tempfile::tempdir().unwrap();
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let o = auto_cmd(
        &src,
        data.path(),
        &kong,
        &["--clone-database", &theirs.name, "--clone-replace"],
    )
    .output()
    .unwrap();
    let text = both(&o);
    let journal: String = std::fs::read_dir(data.path().join("journal"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        journal.contains("(replaced what it held: 1 tables / 3 rows)"),
        "{journal}\n{text}"
    );
    assert!(!journal.contains("absent or empty at start"), "{journal}");
}

/// An up on the clone cut short inside core 016's rewrite (kong::half_applied): the run that
/// resumes refuses to run up there again (it would prefix the rewritten routes twice), says to
/// take a new clone under another name, and runs nothing; the source is never touched.
#[test]
fn an_up_cut_short_in_016_on_the_clone_is_not_run_again() {
    let src = source("dc_half016");
    let clone = clone_db(&src, &format!("{}_clone", src.name));
    let data = tempfile::tempdir().unwrap();
    let before = meta(&src);
    // kong dies inside 016, before recording it (as a kill or a failover would leave it).
    let dying = format!("'{BIN}' stand-in --kong-version 3.4.2 --die-at core/016_280_to_300");
    let o = auto_cmd(
        &src,
        data.path(),
        &dying,
        &["--clone-database", &clone.name],
    )
    .output()
    .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    // What 016 had done on the clone by then: its SQL, and one route rewritten. The killed
    // kong's lock row is gone as its ttl would have passed.
    clone.exec(
        "DELETE FROM locks;\
         CREATE TABLE IF NOT EXISTS targets (id uuid PRIMARY KEY, target text);\
         ALTER TABLE targets ADD COLUMN cache_key text UNIQUE;\
         UPDATE routes SET paths = ARRAY['~/users/\\d+'] WHERE id = (SELECT id FROM routes ORDER BY id LIMIT 1);",
    );
    let clone_meta = meta(&clone);
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let o = auto_cmd(&src, data.path(), &kong, &["--clone-database", &clone.name])
        .output()
        .unwrap();
    let text = both(&o);
    assert_eq!(o.status.code(), Some(19), "{text}");
    assert!(text.contains("paths-half-rewritten"), "{text}");
    assert!(text.contains("--clone-database NEW_NAME"), "{text}");
    assert_eq!(meta(&clone), clone_meta, "nothing ran on the clone");
    assert_eq!(meta(&src), before, "the source is never written");
    let _ = pg::psql_admin(
        &src.server,
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", clone.name),
    );
}

/// The clone's gate is the policy's, as the wizard's: any finding it blocks on refuses `up` on
/// the clone, not only an interrupted 016. Here a lock row without a ttl (Kong never removes
/// it) left on the clone after its first up failed: refused with the policy's exit and the
/// clone's own psql line, and kong is not started.
#[test]
fn any_blocking_finding_on_the_clone_refuses_up_there() {
    let src = source("dc_block");
    let clone = clone_db(&src, &format!("{}_clone", src.name));
    let data = tempfile::tempdir().unwrap();
    let before = meta(&src);
    let dying = format!("'{BIN}' stand-in --kong-version 3.4.2 --die-at core/016_280_to_300");
    let o = auto_cmd(
        &src,
        data.path(),
        &dying,
        &["--clone-database", &clone.name],
    )
    .output()
    .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    clone.exec(
        "DELETE FROM locks; INSERT INTO locks (key, owner, ttl) VALUES ('migrations', NULL, NULL);",
    );
    let clone_meta = meta(&clone);
    let dir = data.path().join("kong");
    std::fs::create_dir(&dir).unwrap();
    let kong = write_script(
        &dir,
        "kong",
        &format!(
            "case \"$1 $2\" in\n  'migrations up'|'migrations finish') echo \"$1 $2\" >> '{d}/runs.log' ;;\nesac\nexec '{BIN}' stand-in --kong-version 3.4.2 \"$@\"",
            d = dir.display()
        ),
    );
    let o = auto_cmd(
        &src,
        data.path(),
        &kong.display().to_string(),
        &["--clone-database", &clone.name],
    )
    .output()
    .unwrap();
    let text = both(&o);
    assert_eq!(
        o.status.code(),
        Some(kongrade::kong::policy::exit::LOCK_HELD),
        "{text}"
    );
    assert!(
        text.contains("A migrations lock row without a ttl"),
        "{text}"
    );
    assert!(
        text.contains(&format!("-d {}", clone.name)),
        "the clone's psql: {text}"
    );
    assert!(
        !dir.join("runs.log").exists(),
        "kong was not started: {text}"
    );
    assert_eq!(meta(&clone), clone_meta, "nothing ran on the clone");
    assert_eq!(meta(&src), before, "the source is never written");
    let _ = pg::psql_admin(
        &src.server,
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", clone.name),
    );
}

/// A kong a killed run left running on the clone is waited for by the one reading the shared
/// database's is (`exec::journal::earlier_kong`), and the wait is journaled as there: waiting,
/// then ended. Nothing starts meanwhile; then up runs once, and the run goes on to the end.
#[test]
fn an_earlier_kong_on_the_clone_is_waited_for_and_the_wait_is_journaled() {
    let src = source("dc_wait");
    let before = meta(&src);
    let scratch = Scratch(format!("{}_new", src.name));
    let node = new_node("3.4.2");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("kong");
    std::fs::create_dir(&dir).unwrap();
    // While `hold` exists, `up` only sleeps (its marker in its environment, as kong's would
    // be) after writing its pid; otherwise the stand-in migrates. Each up and finish is logged.
    let script = write_script(
        &dir,
        "kong",
        &format!(
            "case \"$1 $2\" in\n  'migrations up'|'migrations finish') echo \"$1 $2\" >> '{d}/runs.log' ;;\nesac\nif [ \"$1 $2\" = 'migrations up' ] && [ -f '{d}/hold' ]; then echo $$ > '{d}/held.pid'; exec sleep 3599; fi\nexec '{BIN}' stand-in --kong-version 3.4.2 \"$@\"",
            d = dir.display()
        ),
    );
    std::fs::write(dir.join("hold"), "").unwrap();
    let kong = script.display().to_string();
    let args = [
        "--clone-database",
        scratch.0.as_str(),
        "--new-admin-url",
        node.as_str(),
    ];
    let mut first = auto_cmd(&src, data.path(), &kong, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.join("held.pid");
    let deadline = Instant::now() + Duration::from_secs(300);
    let held: i32 = loop {
        if let Some(p) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(Instant::now() < deadline, "up never started on the clone");
        std::thread::sleep(Duration::from_millis(100));
    };
    // auto killed while its kong runs on: that kong outlives it (its own process group).
    unsafe { libc::kill(first.id() as i32, libc::SIGKILL) };
    let _ = first.wait();
    std::fs::remove_file(dir.join("hold")).unwrap();
    let mut second = auto_cmd(&src, data.path(), &kong, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut second);
    let mut text = String::new();
    assert!(
        read_until(&rx, &mut text, "still running"),
        "the restart waits:\n{text}"
    );
    let runs = || std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    assert_eq!(runs(), "migrations up\n", "nothing started meanwhile");
    unsafe { libc::kill(held, libc::SIGKILL) };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(300)) {
        text.push_str(&line);
        text.push('\n');
    }
    let status = second.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert_eq!(runs(), "migrations up\nmigrations up\nmigrations finish\n");
    let journal: String = std::fs::read_dir(data.path().join("journal"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        journal.contains("waiting for the earlier run's kong, still running as pid"),
        "{journal}"
    );
    assert!(
        journal.contains("the earlier run's kong ended: dual-cluster up"),
        "{journal}"
    );
    assert_eq!(meta(&src), before, "the source is never written");
    let clone = clone_db(&src, &scratch.0);
    assert_eq!(meta(&clone), reference_meta());
    std::mem::forget(clone);
}
