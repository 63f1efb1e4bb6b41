//! Dual-cluster in the wizard, the real binary in a real terminal (tmux): on a real PostgreSQL
//! 2.8.5 database with `kongrade stand-in` as the new kong and a fake new-cluster node (Admin
//! API, Status API, proxy), from Preflight to Done; and the demo's lts-dual-cluster scenario
//! walked to Done. The source must be unchanged at the end, the clone at 3.4.2 and up to date.

mod support;

use std::path::{Path, PathBuf};

use support::nodes::new_node;
use support::pg::{self, Scratch, TestDb};
use support::tmux::{available, Tmux};
use support::{kong_db, kong_rows};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn meta(db: &TestDb) -> String {
    db.exec("SELECT subsystem, executed::text, coalesce(pending::text, '') FROM schema_meta ORDER BY subsystem")
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Waits for `texts` and says which step the screen shows when they do not come.
fn wait(t: &Tmux, texts: &[&str]) -> String {
    t.wait_for(texts, 60)
}

#[test]
fn the_wizard_takes_a_real_database_through_dual_cluster_to_done_and_never_writes_the_source() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    pg::grant_createdb();
    let src = TestDb::new("tui_dual");
    kong_db::bootstrap_at(&src, "2.8.5", None);
    kong_rows::fill(&src, 20, 200);
    let before = (meta(&src), kong_rows::fingerprint(&src));
    let scratch = Scratch(format!("{}_new", src.name));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The new kong: the stand-in, recording its argv (no password may be in it).
    let kong = write_script(
        dir.path(),
        "kong.sh",
        &format!(
            "#!/bin/sh\necho \"$*\" >> {args}\necho \"db=$KONG_PG_DATABASE\" >> {args}\nexec {bin} stand-in --kong-version 3.4.2 --delay-ms 30 -- \"$@\"\n",
            args = shq(&dir.path().join("args.log").display().to_string()),
            bin = shq(BIN),
        ),
    );
    let node = new_node("3.4.2");
    let mut env = format!(
        "PATH=\"$PATH\" TERM=\"$TERM\" HOME={d} KONGRADE_DATA_DIR={d}",
        d = shq(&data.display().to_string())
    );
    for (k, v) in src.kong_env() {
        env.push_str(&format!(" {k}={}", shq(&v)));
    }
    let run = write_script(
        dir.path(),
        "run.sh",
        &format!(
            // Run again after a kill (the test kills it once), until the test says stop.
            "while [ ! -f {stop} ]; do\nenv -i {env} {bin} --target-version 3.4.2 --kong-cmd {kong} --refresh 0.3 --clone-database {clone} --new-admin-url {node} --new-status-url {node} --smoke {smoke}\necho KONGRADE-EXIT=$?\ndone\nexec sh\n",
            stop = shq(&dir.path().join("stop").display().to_string()),
            bin = shq(BIN),
            kong = shq(&kong.display().to_string()),
            clone = shq(&scratch.0),
            smoke = shq(&format!("GET {node}/health 200")),
        ),
    );
    let t = Tmux::start("dual", &run);
    wait(&t, &["1. Preflight", "15 new", "Database (live)"]);
    t.keys(&["Enter"]);
    wait(&t, &["3. Backup", "t take backup"]);
    t.keys(&["t"]);
    wait(&t, &["Backup written and verified"]);
    t.keys(&["Enter"]);
    wait(&t, &["4. Clone", "take clone"]);
    t.keys(&["Enter"]);
    wait(&t, &["Take the clone?"]);
    t.keys(&["Enter"]);
    // The proof, and the live pane on the clone (its next read after the proof).
    wait(
        &t,
        &[
            "the clone is proven",
            "schema_meta identical",
            "tables' rows",
            "Clone (live)",
        ],
    );
    // Killed (-9) once the clone is proven: the restart resumes past it, not cloning again.
    let sh = t.display("#{pane_pid}");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &sh])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "kongrade's pid");
    std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    wait(&t, &["1. Preflight", "Resuming the upgrade"]);
    t.keys(&["Enter"]);
    wait(&t, &["3. Backup", "Backup written and verified"]);
    t.keys(&["Enter"]);
    let s = wait(
        &t,
        &["5. Review", "resuming at Review", "migrations will run"],
    );
    assert!(s.contains("Clone (live)"), "{s}");
    // Leaving after this quits for good.
    std::fs::write(dir.path().join("stop"), "").unwrap();
    t.keys(&["Enter"]);
    wait(&t, &["6. Up (clone)", "run up (clone)"]);
    t.keys(&["Enter"]);
    wait(&t, &["Run up on the clone?"]);
    t.keys(&["Enter"]);
    wait(&t, &["up on the clone is done", "the source is unchanged"]);
    t.keys(&["Enter"]);
    // Straight to finish on the clone: no Decommission in between.
    wait(&t, &["7. Finish (clone)", "run finish (clone)"]);
    t.keys(&["Enter"]);
    wait(&t, &["Run finish on the clone?"]);
    t.keys(&["Enter"]);
    wait(&t, &["finish on the clone is done"]);
    t.keys(&["Enter"]);
    wait(&t, &["8. New cluster", "probe"]);
    t.keys(&["Enter"]);
    wait(&t, &["the new cluster is proven"]);
    t.keys(&["Enter"]);
    wait(&t, &["9. Traffic", "Space tick next"]);
    for pct in ["1 %", "5 %", "10 %", "50 %", "100 %"] {
        t.keys(&["Space"]);
        wait(&t, &[&format!("[x] {pct} to the new cluster")]);
    }
    t.keys(&["Enter"]);
    wait(&t, &["10. Retire old", "retire old"]);
    t.keys(&["Enter"]);
    wait(&t, &["Retire the old cluster?"]);
    t.type_text("retire");
    t.keys(&["Enter"]);
    wait(&t, &["11. Done"]);
    t.keys(&["q"]);
    wait(&t, &["KONGRADE-EXIT=0"]);

    // The source: not a row, not a migration changed.
    assert_eq!(meta(&src), before.0, "the source's schema_meta");
    assert_eq!(
        kong_rows::fingerprint(&src),
        before.1,
        "every source table's rows"
    );
    // The clone: at 3.4.2, nothing pending.
    let clone = TestDb {
        server: src.server.clone(),
        name: scratch.0.clone(),
    };
    let pending = clone.exec(
        "SELECT count(*) FROM schema_meta WHERE pending IS NOT NULL AND cardinality(pending) > 0",
    );
    assert_eq!(pending.trim(), "0", "{}", meta(&clone));
    let reference = TestDb::new("tui_dual_ref");
    kong_db::bootstrap_at(&reference, "2.8.5", None);
    kong_db::up_to(&reference, "3.4.2", None);
    kong_db::finish(&reference);
    assert_eq!(meta(&clone), meta(&reference), "the clone is at 3.4.2");
    // kong ran on the clone, and never saw a password in argv.
    let args = std::fs::read_to_string(dir.path().join("args.log")).unwrap();
    assert!(args.contains(&format!("db={}", scratch.0)), "{args}");
    assert!(!args.contains(support::pg::KONG_PASSWORD), "{args}");
    // The journal lists the steps (auto's names).
    let journal_dir = data.join("journal");
    let text: String = std::fs::read_dir(&journal_dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    for step in [
        "dual-cluster clone",
        "dual-cluster up",
        "dual-cluster finish",
        "dual-cluster new cluster proven",
        "dual-cluster write guard",
        "dual-cluster traffic 100 %",
        "dual-cluster retire",
    ] {
        assert!(
            text.contains(&format!("\"step\":\"{step}\"")),
            "{step} in the journal:\n{text}"
        );
    }
    // The restart took no second clone and ran no kong step twice.
    for step in [
        "dual-cluster clone",
        "dual-cluster up",
        "dual-cluster finish",
    ] {
        assert_eq!(
            text.matches(&format!("\"step\":\"{step}\",\"phase\":\"started\""))
                .count(),
            1,
            "{step} started once:\n{text}"
        );
    }
    assert!(
        text.contains("up to date for Kong 3.4.2"),
        "the journal is closed:\n{text}"
    );
}

#[test]
fn the_demo_walks_lts_dual_cluster_to_done_and_the_guard_catches_the_write() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = write_script(
        dir.path(),
        "demo.sh",
        &format!(
            "KONGRADE_DATA_DIR={} {} demo --scenario lts-dual-cluster --speed 20\necho KONGRADE-EXIT=$?\nsleep 60\n",
            shq(&dir.path().join("data").display().to_string()),
            shq(BIN)
        ),
    );
    let t = Tmux::start("dualdemo", &run);
    wait(&t, &["1. Preflight", "TRAINING", "No findings"]);
    t.keys(&["Enter"]);
    // The Strategy step: a second cluster can be had, so Kong recommends dual-cluster.
    wait(
        &t,
        &[
            "2. Strategy",
            "allowed dual-cluster",
            "Kong's recommendation",
        ],
    );
    t.keys(&["Enter"]);
    wait(&t, &["Follow dual-cluster?"]);
    t.keys(&["y"]);
    wait(&t, &["3. Backup"]);
    t.keys(&["Space"]);
    wait(&t, &["Your own backup"]);
    t.type_text("vol-0abc");
    t.keys(&["Enter"]);
    wait(&t, &["Your backup: vol-0abc"]);
    t.keys(&["Enter"]);
    wait(&t, &["4. Clone", "take clone"]);
    t.keys(&["Enter"]);
    wait(&t, &["Take the clone?"]);
    t.keys(&["Enter"]);
    wait(&t, &["the clone is proven", "9 tables' rows identical"]);
    // Review, up and finish on the clone, the new cluster proven; then traffic: the first tick.
    // The first time through, the trainee's checkpoints come before each run's confirmation.
    let migrate_and_prove = |t: &Tmux, first: bool| {
        t.keys(&["Enter"]);
        wait(t, &["5. Review"]);
        t.keys(&["Enter"]);
        wait(t, &["6. Up (clone)"]);
        t.keys(&["Enter"]);
        if first {
            wait(t, &["Dual-cluster: where does `up` run?"]);
            t.keys(&["2"]);
            wait(t, &["✓ 2", "Right: the new kong"]);
            t.keys(&["Enter"]);
        }
        wait(t, &["Run up on the clone?"]);
        t.keys(&["Enter"]);
        wait(t, &["up on the clone is done"]);
        t.keys(&["Enter"]);
        wait(t, &["7. Finish (clone)"]);
        t.keys(&["Enter"]);
        if first {
            wait(t, &["Why may `finish` run right after `up`"]);
            t.keys(&["3"]);
            wait(t, &["✓ 3", "Right: what finish removes"]);
            t.keys(&["Enter"]);
        }
        wait(t, &["Run finish on the clone?"]);
        t.keys(&["Enter"]);
        wait(t, &["finish on the clone is done"]);
        t.keys(&["Enter"]);
        wait(t, &["8. New cluster"]);
        t.keys(&["Enter"]);
        wait(t, &["the new cluster is proven"]);
        t.keys(&["Enter"]);
        wait(t, &["9. Traffic"]);
        t.keys(&["Space"]);
    };
    migrate_and_prove(&t, true);
    // The old cluster's write after the clone (the scenario makes one while finish runs): the
    // guard names the table, ticks nothing, offers a new clone.
    let s = wait(&t, &["clone is stale", "(services)", "c new clone"]);
    assert!(s.contains("[ ] 1 %"), "nothing ticked:\n{s}");
    t.keys(&["c"]);
    wait(&t, &["Take the clone?", "Type 'kong_new'"]);
    t.type_text("kong_new");
    t.keys(&["Enter"]);
    wait(&t, &["the clone is proven", "00000003-0000001B-2"]);
    // The new clone is migrated and proven again; now the guard lets the first step through.
    migrate_and_prove(&t, false);
    wait(&t, &["[x] 1 % to the new cluster"]);
    for pct in ["5 %", "10 %", "50 %", "100 %"] {
        t.keys(&["Space"]);
        wait(&t, &[&format!("[x] {pct} to the new cluster")]);
    }
    t.keys(&["Enter"]);
    wait(&t, &["10. Retire old"]);
    t.keys(&["Enter"]);
    wait(&t, &["Retire the old cluster?"]);
    t.type_text("retire");
    t.keys(&["Enter"]);
    wait(&t, &["11. Done"]);
    t.keys(&["q"]);
    wait(&t, &["KONGRADE-EXIT=0"]);
}

/// The wizard and `auto --strategy dual-cluster` share the journal's step names: auto resumes a
/// wizard killed after up on the clone (no second clone, up not run again), and the wizard
/// resumes auto's run where it stopped (at the traffic shift).
#[test]
fn auto_and_the_wizard_resume_each_others_dual_cluster_run() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    pg::grant_createdb();
    let src = TestDb::new("tui_dual_x");
    kong_db::bootstrap_at(&src, "2.8.5", None);
    kong_rows::fill(&src, 5, 20);
    let scratch = Scratch(format!("{}_new", src.name));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kong = format!("{} stand-in --kong-version 3.4.2 --delay-ms 20", shq(BIN));
    let node = new_node("3.4.2");
    let mut env = format!(
        "PATH=\"$PATH\" TERM=\"$TERM\" HOME={d} KONGRADE_DATA_DIR={d}",
        d = shq(&data.display().to_string())
    );
    for (k, v) in src.kong_env() {
        env.push_str(&format!(" {k}={}", shq(&v)));
    }
    let wizard = format!(
        "env -i {env} {bin} --target-version 3.4.2 --kong-cmd {kong} --refresh 0.3 --clone-database {clone} --new-admin-url {node}\necho KONGRADE-EXIT=$?\n",
        bin = shq(BIN),
        kong = shq(&kong),
        clone = shq(&scratch.0),
    );
    let run = write_script(dir.path(), "w1.sh", &format!("{wizard}sleep 120\n"));
    let t = Tmux::start("dualx1", &run);
    wait(&t, &["1. Preflight", "15 new"]);
    t.keys(&["Enter"]);
    wait(&t, &["3. Backup"]);
    t.keys(&["t"]);
    wait(&t, &["Backup written and verified"]);
    t.keys(&["Enter"]);
    wait(&t, &["4. Clone"]);
    t.keys(&["Enter"]);
    wait(&t, &["Take the clone?"]);
    t.keys(&["Enter"]);
    wait(&t, &["the clone is proven", "Clone (live)"]);
    t.keys(&["Enter"]);
    wait(&t, &["5. Review"]);
    t.keys(&["Enter"]);
    wait(&t, &["6. Up (clone)", "run up (clone)"]);
    t.keys(&["Enter"]);
    wait(&t, &["Run up on the clone?"]);
    t.keys(&["Enter"]);
    wait(&t, &["up on the clone is done"]);
    let sh = t.display("#{pane_pid}");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &sh])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "kongrade's pid");
    std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    wait(&t, &["KONGRADE-EXIT=137"]);

    // auto goes on from the wizard's journal.
    let mut c = std::process::Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &data)
        .env("KONGRADE_DATA_DIR", &data);
    for (k, v) in src.kong_env() {
        c.env(k, v);
    }
    let health = format!("GET {node}/health 200");
    let o = c
        .args(["auto", "--strategy", "dual-cluster", "--backup=skip"])
        .args(["--target-version", "3.4.2", "--kong-cmd", &kong])
        .args(["--clone-database", &scratch.0, "--new-admin-url", &node])
        .args(["--smoke", &health])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("taken and proven earlier"), "{text}");
    assert!(!text.contains("Streaming pg_dump"), "{text}");
    assert!(
        text.contains("'kong migrations up' has nothing to do there"),
        "{text}"
    );
    assert!(text.contains("kong migrations finish"), "{text}");

    // And the wizard goes on from auto's: the clone migrated and the new cluster proven, so
    // it resumes at the traffic shift.
    let run = write_script(dir.path(), "w2.sh", &format!("{wizard}sleep 120\n"));
    let t = Tmux::start("dualx2", &run);
    wait(&t, &["1. Preflight", "Resuming the upgrade"]);
    t.keys(&["Enter"]);
    wait(&t, &["3. Backup", "Backup written and verified"]);
    t.keys(&["Enter"]);
    wait(&t, &["9. Traffic", "resuming at Traffic", "Clone (live)"]);
    t.keys(&["C-c"]);
    wait(&t, &["Leave kongrade?"]);
    t.keys(&["y"]);
    wait(&t, &["KONGRADE-EXIT=0"]);
}

/// The live pane retargeted to the clone reads the clone as the clone: a finding shown while
/// watching it names the clone's database in its command (not the source's kong.conf
/// connection), and its preflight is the clone's own, gathered again there.
#[tokio::test(flavor = "multi_thread")]
async fn the_live_pane_on_the_clone_says_the_clones_findings_in_the_clones_words() {
    use kongrade::cmd::context::{ConnOptions, Connection, Context};
    use kongrade::cmd::preflight::PreflightSource;
    use kongrade::kong::policy::FindingId;
    use kongrade::store::Endpoint;
    use kongrade::tui::poller::{self, Poller, Retarget, Source};
    use kongrade::wizard::{Interpreter, Msg};
    use std::time::{Duration, Instant};

    let src = TestDb::new("pane_src");
    kong_db::bootstrap_at(&src, "2.8.5", None);
    let clone = TestDb::new("pane_clone");
    kong_db::bootstrap_at(&clone, "2.8.5", None);
    // Only the clone holds a lock row without a ttl (a blocking finding whose remedy is a psql
    // line) and a route 3.x refuses (a preflight finding).
    clone.exec(
        "INSERT INTO locks (key, owner, ttl) VALUES ('migrations', NULL, NULL);\
         CREATE TABLE routes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, paths text[]);\
         INSERT INTO routes (name, paths) VALUES ('lookahead', ARRAY['/(?!admin).*']);",
    );
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::resolve(&ConnOptions {
        conf: Some(src.write_kong_conf(dir.path(), "")),
        target_version: Some("3.4.2".into()),
        ..ConnOptions::default()
    })
    .expect("connection");
    let ctx = Context::new(conn).await.expect("context");
    let mut clone_opts = ctx.conn.pg().expect("postgres").clone();
    clone_opts.database = clone.name.clone();
    // As `tui::wizard` builds it: the source's settings, journal identity and preflight.
    let mut interpreter = Interpreter::new(
        std::sync::Arc::new(ctx.target.clone()),
        ctx.catalog,
        ctx.settings(None, None),
    );
    interpreter.journal_id = Some(ctx.conn.endpoint.identity());
    interpreter.preflight_wanted = true;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = poller::spawn(
        Poller {
            source: Source::new(ctx.conn.endpoint.clone()),
            interpreter,
            every: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
            own_history: None,
            preflight: Some(PreflightSource::of(&ctx, &[])),
        },
        tx,
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    macro_rules! next {
        () => {
            tokio::time::timeout(
                deadline.saturating_duration_since(Instant::now()),
                rx.recv(),
            )
            .await
            .expect("within 90 s")
            .expect("poller alive")
        };
    }
    // The source read with its preflight first, then the clone.
    loop {
        if let Msg::Snapshot { result: Ok(r), .. } = next!() {
            if !r.preflight_pending {
                assert!(!r.findings.iter().any(|f| f.id == FindingId::LockNoTtl));
                break;
            }
        }
    }
    handle.retarget(Retarget {
        endpoint: Endpoint::Postgres(clone_opts),
        conf: None,
    });
    let from = loop {
        if let Msg::Dual(kongrade::wizard::dual::DualMsg::Watching { from_seq }) = next!() {
            break from_seq;
        }
    };
    let reading = loop {
        if let Msg::Snapshot {
            seq, result: Ok(r), ..
        } = next!()
        {
            if seq >= from && !r.preflight_pending {
                break r;
            }
        }
    };
    let ids: Vec<String> = reading.findings.iter().map(|f| f.id.to_string()).collect();
    let lock = reading
        .findings
        .iter()
        .find(|f| f.id == FindingId::LockNoTtl)
        .unwrap_or_else(|| panic!("the clone's lock row is found: {ids:?}"));
    let psql = lock
        .remedy
        .iter()
        .find(|r| r.starts_with("psql "))
        .expect("a psql remedy");
    assert!(psql.contains(&format!("-d {}", clone.name)), "{psql}");
    assert!(!psql.contains(&src.name), "{psql}");
    assert!(
        reading
            .findings
            .iter()
            .any(|f| f.id == FindingId::RoutesRegexIncompatible),
        "the preflight is gathered again on the clone: {ids:?}"
    );
    drop(handle);
}

/// Killed (-9) while kong runs `up` on the clone: the restarted wizard names that kong from its
/// first screen, refuses a second `up` on the clone while it runs, and goes on once it ended,
/// from what the clone then says. One `up` ran in all; the source is never written.
#[test]
fn killed_during_up_on_the_clone_the_restarted_wizard_waits_for_that_kong() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    pg::grant_createdb();
    let src = TestDb::new("tui_dual_k9");
    kong_db::bootstrap_at(&src, "2.8.5", None);
    let before = meta(&src);
    let scratch = Scratch(format!("{}_new", src.name));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = dir.path().display().to_string();
    // The new kong: `up` waits for its go file (its marker in its environment, as kong's),
    // then is logged as it really runs.
    let kong = write_script(
        dir.path(),
        "kong.sh",
        &format!(
            "#!/bin/sh\necho \"$*\" >> {args}\ncase \"$1 $2\" in\n  'migrations up')\n    while [ ! -e {go} ]; do sleep 0.05; done\n    echo \"$1 $2\" >> {runs} ;;\nesac\nexec {bin} stand-in --kong-version 3.4.2 --delay-ms 30 -- \"$@\"\n",
            args = shq(&format!("{d}/args.log")),
            go = shq(&format!("{d}/go-up")),
            runs = shq(&format!("{d}/runs.log")),
            bin = shq(BIN),
        ),
    );
    // Whatever happens, the held kong does not outlive the test.
    struct Release(PathBuf);
    impl Drop for Release {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, "");
        }
    }
    let _release = Release(dir.path().join("go-up"));
    let mut env = format!(
        "PATH=\"$PATH\" TERM=\"$TERM\" HOME={d} KONGRADE_DATA_DIR={d}",
        d = shq(&data.display().to_string())
    );
    for (k, v) in src.kong_env() {
        env.push_str(&format!(" {k}={}", shq(&v)));
    }
    let line = format!(
        "env -i {env} {bin} --target-version 3.4.2 --kong-cmd {kong} --refresh 0.3 --clone-database {clone}\necho KONGRADE-EXIT=$?\n",
        bin = shq(BIN),
        kong = shq(&kong.display().to_string()),
        clone = shq(&scratch.0),
    );
    let run = write_script(
        dir.path(),
        "run.sh",
        &format!("#!/bin/sh\n{line}{line}exec sh\n"),
    );
    let t = Tmux::start("dualk9", &run);
    wait(&t, &["1. Preflight", "15 new", "Database (live)"]);
    t.keys(&["Enter"]);
    wait(&t, &["3. Backup", "t take backup"]);
    t.keys(&["t"]);
    wait(&t, &["Backup written and verified"]);
    t.keys(&["Enter"]);
    wait(&t, &["4. Clone", "take clone"]);
    t.keys(&["Enter"]);
    wait(&t, &["Take the clone?"]);
    t.keys(&["Enter"]);
    wait(&t, &["the clone is proven", "Clone (live)"]);
    t.keys(&["Enter"]);
    wait(&t, &["5. Review"]);
    t.keys(&["Enter"]);
    wait(&t, &["6. Up (clone)", "run up (clone)"]);
    t.keys(&["Enter"]);
    wait(&t, &["Run up on the clone?"]);
    t.keys(&["Enter"]);
    // kong started (held by its wrapper), and its start journaled with the marker.
    let args = dir.path().join("args.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let journal = || -> String {
        std::fs::read_dir(data.join("journal"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    };
    while !(std::fs::read_to_string(&args).is_ok_and(|a| a.contains("migrations up"))
        && journal().contains("\"step\":\"dual-cluster up\",\"phase\":\"started\""))
    {
        assert!(std::time::Instant::now() < deadline, "kong never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sh = t.display("#{pane_pid}");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &sh])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "kongrade's pid");
    std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    // Restarted: the kong it left on the clone is named from the first screen.
    wait(
        &t,
        &[
            "a kong migrations up on the clone started by the previous run (pid ",
            "1. Preflight",
        ],
    );
    t.keys(&["Enter"]);
    wait(&t, &["3. Backup", "Backup written and verified"]);
    t.keys(&["Enter"]);
    wait(&t, &["5. Review", "resuming at Review"]);
    t.keys(&["Enter"]);
    wait(&t, &["6. Up (clone)"]);
    t.keys(&["Enter"]);
    // Refused, with the waiting words (wrapped on the screen).
    let s = wait(
        &t,
        &["6. Up (clone)", "✗ a kong migrations up on the clone"],
    );
    assert!(!s.contains("Run up on the clone?"), "{s}");
    let log = std::fs::read_to_string(&args).unwrap();
    assert_eq!(log.matches("migrations up").count(), 1, "{log}");
    // Released: that kong runs up on the clone; the wizard sees it end and goes on from there.
    std::fs::write(dir.path().join("go-up"), "").unwrap();
    // Enter once the pane shows what it left (its migrations in, its lock gone).
    wait(
        &t,
        &[
            "has ended: reading the database again",
            "4 pend · 0 new",
            "lock: free",
        ],
    );
    t.keys(&["Enter"]);
    wait(&t, &["7. Finish (clone)", "run finish (clone)"]);
    let runs = std::fs::read_to_string(dir.path().join("runs.log")).unwrap_or_default();
    assert_eq!(runs, "migrations up\n", "one up ran");
    assert_eq!(
        journal()
            .matches("\"step\":\"dual-cluster up\",\"phase\":\"started\"")
            .count(),
        1,
        "{}",
        journal()
    );
    assert_eq!(meta(&src), before, "the source is never written");
}
