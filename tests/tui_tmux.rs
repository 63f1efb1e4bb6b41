//! The real binary in a real terminal: tmux on a private socket at a fixed size, keys sent with
//! send-keys, the screen read with capture-pane. Against a real PostgreSQL (tests/support) with
//! `kongrade stand-in` as the kong command (Kong cannot be installed on these machines).

mod support;

use support::tmux::Tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::kong_db;
use support::pg::{TestDb, KONG_PASSWORD};

/// Quotes for sh.
fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The kong command: the real `kongrade stand-in` for 3.4.2 (Kong's CLI contract, Kong's
/// bookkeeping, no DDL: Kong itself cannot be installed here), behind a wrapper that records the
/// arguments kongrade passed it.
fn write_standin(_db: &TestDb, dir: &Path) -> PathBuf {
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {args}\nexec {bin} stand-in --kong-version 3.4.2 --delay-ms 50 -- \"$@\"\n",
        args = shq(&dir.join("args.log").display().to_string()),
        bin = shq(env!("CARGO_BIN_EXE_kongrade")),
    );
    let p = dir.join("kong-standin.sh");
    std::fs::write(&p, script).expect("write stand-in");
    make_executable(&p);
    p
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// kongrade in a clean environment pointing at the test database, then its exit code.
fn kongrade_line(db: &TestDb, dir: &Path, kong: &Path, extra: &str) -> String {
    let data = shq(&dir.join("data").display().to_string());
    let mut env = format!("PATH=\"$PATH\" TERM=\"$TERM\" HOME={data} KONGRADE_DATA_DIR={data}");
    for (k, v) in db.kong_env() {
        env.push_str(&format!(" {k}={}", shq(&v)));
    }
    format!(
        "env -i {env} {bin} --target-version 3.4.2 --kong-cmd {kong} --refresh 0.3 {extra}\n\
         echo KONGRADE-EXIT=$?\n",
        bin = shq(env!("CARGO_BIN_EXE_kongrade")),
        kong = shq(&kong.display().to_string()),
    )
}

/// The script tmux runs: kongrade, its exit code, then a shell (so the pane shows what is left
/// after kongrade).
fn write_runner(db: &TestDb, dir: &Path, kong: &Path, extra: &str) -> PathBuf {
    let script = format!("{}exec sh\n", kongrade_line(db, dir, kong, extra));
    let p = dir.join("run.sh");
    std::fs::write(&p, script).expect("write runner");
    p
}

/// kongrade's pid: the pane runs sh, whose child is kongrade (env execs it).
fn kongrade_pid(t: &Tmux) -> String {
    let sh = t.display("#{pane_pid}");
    let out = Command::new("pgrep")
        .args(["-P", &sh])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "kongrade's pid");
    pid
}

/// The strategy preselected as an operator would on 2.8.5 -> 3.4.2 without a second cluster:
/// Kong's in-place (blue-green is refused for the LTS pair).
const IN_PLACE: &str = "--strategy in-place --deployment traditional --second-cluster no";

/// From the Backup step to Up on the in-place flow when no Admin API is known: Review, Freeze
/// (writes frozen), Stop old nodes (the operator's confirmation), Up's confirmation.
fn backup_to_run_up(t: &Tmux) {
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes"], 5);
    t.keys(&["Enter"]);
    t.wait_for(
        &["6. Stop old nodes", "Every old-version node is stopped"],
        5,
    );
    t.keys(&["Space", "Enter"]);
    t.wait_for(&["7. Up"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?"], 5);
}

fn pending_count(db: &TestDb) -> usize {
    db.exec("SELECT coalesce(sum(cardinality(pending)), 0) FROM schema_meta")
        .trim()
        .parse()
        .expect("a count")
}

/// A node's Admin API on a fixed loopback port that can be stopped (connection refused) and
/// started again as another version, as an in-place upgrade replaces the node: `set(None)`
/// stops it, `set(Some("3.4.2"))` starts the new one on the same address.
struct Node {
    url: String,
    version: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Node {
    fn start(version: &str) -> Node {
        use std::io::{Read, Write};
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        let state = std::sync::Arc::new(std::sync::Mutex::new(Some(version.to_string())));
        let shared = state.clone();
        std::thread::spawn(move || {
            let mut l = Some(first);
            loop {
                let v = shared.lock().map(|g| g.clone()).unwrap_or(None);
                match (&v, &l) {
                    (None, Some(_)) => l = None,
                    (Some(_), None) => {
                        l = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
                    }
                    _ => {}
                }
                if let (Some(v), Some(lis)) = (&v, &l) {
                    let _ = lis.set_nonblocking(true);
                    if let Ok((mut c, _)) = lis.accept() {
                        let _ = c.set_nonblocking(false);
                        let body = format!(
                            r#"{{"version":"{v}","hostname":"gw-1","node_id":"6a1f9d3c-0b2e-4c8d-9e7f-1a2b3c4d5e6f","tagline":"Welcome to kong"}}"#
                        );
                        let mut buf = [0u8; 2048];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        );
                        continue;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Node {
            url: format!("http://127.0.0.1:{port}"),
            version: state,
        }
    }

    /// Sets what the node answers, and returns once its listener is in that state: its thread
    /// binds or drops the port on its own time, and a probe sent before would race it.
    fn set(&self, v: Option<&str>) {
        *self.version.lock().expect("node state") = v.map(str::to_string);
        let addr = self
            .url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_ok() != v.is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the node at {addr} never took its new state"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Issue 14: the wizard on a real 2.8.5 database, in-place (Kong's choice for the LTS pair
/// without a second cluster), from Preflight to Done: up refused while the old node answers,
/// the downtime clock from the gate, finish right after up, the new node proven by its
/// `GET /`; the database ends up to date and the journal holds the strategy.
#[test]
fn the_wizard_takes_a_real_database_in_place_from_preflight_to_done() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let db = TestDb::new("tui_e2e");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    // A killed run's lock row, expired 10 minutes ago: harmless, and diagnose says so.
    kong_db::lock(&db, "killed-run", -600);
    let node = Node::start("2.8.5");
    // The new node's proxy, down until the smoke test is fixed.
    let proxy = Node::start("3.4.2");
    proxy.set(None);
    let dir = tempfile::tempdir().expect("tempdir");
    let kong = write_standin(&db, dir.path());
    // The new node is replaced at the old one's address: auto's --new-admin-url names it.
    let run = write_runner(
        &db,
        dir.path(),
        &kong,
        &format!(
            "--deployment traditional --second-cluster no --admin-url {u} --new-admin-url {u} --smoke 'GET {p}/health 200' --probe-timeout 700",
            u = node.url,
            p = proxy.url
        ),
    );
    let t = Tmux::start("e2e", &run);

    // Preflight's findings are kong::diagnose's, read through the live poller: the stale lock
    // with its UTC-safe DELETE.
    let s = t.wait_for(
        &[
            "1. Preflight",
            "15 new",
            "● read",
            "left a stale lock",
            "blocks nothing",
        ],
        20,
    );
    // The big tables were counted once, through the poller's connection.
    assert!(!s.contains("Table sizes"), "{s}");
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "the wizard draws on the alternate screen"
    );
    t.keys(&["Enter"]);
    // The Strategy step: the LTS pair refuses blue-green; no second cluster: in-place.
    t.wait_for(
        &[
            "2. Strategy",
            "allowed in-place",
            "Kong's recommendation",
            "refused blue-green",
        ],
        10,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["Follow in-place?", "upgrade journal"], 5);
    t.keys(&["y"]);
    t.wait_for(&["3. Backup", "pg_dump -h 127.0.0.1", "t take backup"], 5);
    // Continuing without a backup is refused.
    t.keys(&["Enter"]);
    t.wait_for(&["a backup first"], 5);
    // kongrade takes it: pg_dump, proven with pg_restore --list.
    t.keys(&["t"]);
    t.wait_for(&["Backup written and verified", "sha256"], 60);
    let backups: Vec<_> = std::fs::read_dir(dir.path().join("data/backups"))
        .expect("the backups directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&backups[0]).expect("the dump");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(meta.len() > 0);
    }
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review", "15 migrations will run"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["6. Stop old nodes", "OLD 2.8.5: still serving"], 10);
    // up while the old node answers: refused, by name.
    t.keys(&["Enter"]);
    t.wait_for(
        &["up runs only once every old node is stopped", "answers"],
        5,
    );
    t.keys(&["Space", "Space", "Space"]);
    t.wait_for(&["marked stopped"], 5);
    assert!(t.screen().contains("up waits"), "{}", t.screen());
    // The operator really stops it: its Admin API goes away, the probes open the gate.
    node.set(None);
    t.wait_for(&["up's gate open: no old node answers"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["7. Up", "Downtime: 0:0"], 5);
    t.keys(&["Enter"]);
    let line = format!("$ {} migrations up", kong.display());
    t.wait_for(&["Run up?", &line, "In-place: no old node answers"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["up is done", "4 pend", "Enter: Finish."], 30);
    assert_eq!(pending_count(&db), 4);
    // finish right after up: no decommission between.
    t.keys(&["Enter"]);
    t.wait_for(&["8. Finish", "Downtime"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["Type 'finish'"], 5);
    t.type_text("finish");
    t.keys(&["Enter"]);
    t.wait_for(&["finish is done"], 30);
    assert_eq!(pending_count(&db), 0);
    t.keys(&["Enter"]);
    // The new node is not up yet: not proven, Enter refused.
    t.wait_for(
        &[
            "9. Start new nodes",
            "not every new node answers the target version",
        ],
        10,
    );
    // The way back from here: the verified backup's exact restore command (v: in full).
    t.keys(&["v"]);
    t.wait_for(&["pg_restore --clean", "data/backups/"], 5);
    t.keys(&["Escape"]);
    t.keys(&["Enter"]);
    assert!(!t.screen().contains("10. Done"), "{}", t.screen());
    node.set(Some("3.4.2"));
    t.wait_for(&["new 3.4.2", "run smoke tests"], 20);
    // The smoke test fails (the proxy refuses): Done stays shut, the way back is shown.
    t.keys(&["Enter"]);
    t.wait_for(&["SMOKE FAILED", "Enter smoke tests again"], 30);
    // The way back in full (v): in-place's rollback as auto prints it, the exact restore.
    t.keys(&["v"]);
    t.wait_for(
        &[
            "Start new nodes in full",
            "pg_restore --clean",
            "Or roll back",
        ],
        5,
    );
    t.keys(&["Escape"]);
    assert!(!t.screen().contains("10. Done"), "{}", t.screen());
    proxy.set(Some("3.4.2"));
    t.keys(&["Enter"]);
    let done = t.wait_for(
        &[
            "10. Done",
            "up to date for Kong 3.4.2",
            "Strategy: in-place",
            "Downtime: ",
            "2 kong runs:",
        ],
        10,
    );
    assert!(done.contains("finish is done"), "{done}");
    // The whole summary (v): the journal named.
    t.keys(&["v"]);
    t.wait_for(&["Done in full", "Journal: "], 5);
    t.keys(&["Escape", "q"]);
    let s = t.wait_for(&["KONGRADE-EXIT=0"], 10);
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "alternate screen left:\n{s}"
    );

    let args = std::fs::read_to_string(dir.path().join("args.log")).expect("args");
    assert_eq!(args, "migrations up\nmigrations finish\n");
    // The upgrade's journal: the strategy before the backup, the gate before up, the commands,
    // the new node proven, closed at Done.
    let journal = std::fs::read_dir(dir.path().join("data/journal"))
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a journal");
    let text = std::fs::read_to_string(journal).expect("journal");
    for event in [
        "strategy_chosen",
        "backup",
        "command",
        "command_exit",
        "confirmed",
        "closed",
    ] {
        assert!(
            text.contains(&format!("\"event\":\"{event}\"")),
            "{event} in {text}"
        );
    }
    assert!(
        text.contains("\"strategy\":\"in-place\"") && text.contains("\"by\":\"wizard\""),
        "{text}"
    );
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    assert!(pos("\"event\":\"strategy_chosen\"") < pos("\"event\":\"backup\""));
    assert!(pos("in-place-old-nodes-stopped") < pos("\"event\":\"command\""));
    assert!(pos("\"event\":\"closed\"") > pos("in-place-new-nodes"));
    // The smoke tests as auto journals them: failed, then passed, before the close.
    assert!(
        text.contains("\"step\":\"in-place-smoke\",\"phase\":\"failed\""),
        "{text}"
    );
    assert!(pos("\"event\":\"closed\"") > pos("1 smoke test(s) passed"));
    assert!(text.contains("configuration writes are frozen"), "{text}");
    assert!(text.contains("\"typed\":\"finish\""), "{text}");
    let log = std::fs::read_to_string(dir.path().join("data/kongrade.log")).expect("log file");
    assert!(log.contains("starting Up"), "{log}");
    assert!(!log.contains(KONG_PASSWORD), "no password in the log");
}

/// A refused --strategy stops at start, before the terminal is taken, with auto's message
/// and exit code.
#[test]
fn a_refused_strategy_is_refused_at_start_with_exit_21() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let db = TestDb::new("tui_refused");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let kong = write_standin(&db, dir.path());
    let run = write_runner(&db, dir.path(), &kong, "--strategy blue-green");
    let t = Tmux::start("refused", &run);
    let s = t.wait_for(&["Refused: --strategy blue-green", "KONGRADE-EXIT=21"], 30);
    assert!(s.contains("LTS"), "{s}");
    assert!(s.contains("Allowed here: dual-cluster, in-place."), "{s}");
}

#[test]
fn ctrl_c_during_up_asks_then_interrupts_kong_and_restores_the_terminal() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping");
        return;
    }
    let db = TestDb::new("tui_ctrlc");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let signals = dir.path().join("signals.log");
    let kong = dir.path().join("kong-slow.sh");
    std::fs::write(
        &kong,
        format!(
            "#!/bin/sh\n# TEST STAND-IN for kong: an up that never ends, noting the signals it gets.\n\
             trap 'echo INT >> {s}; exit 130' INT\n\
             echo \"migrating core on database 'kong'...\"\n\
             while :; do sleep 0.1; done\n",
            s = shq(&signals.display().to_string())
        ),
    )
    .expect("write");
    make_executable(&kong);
    let run = write_runner(&db, dir.path(), &kong, IN_PLACE);
    let t = Tmux::start("ctrlc", &run);
    t.wait_for(&["1. Preflight", "15 new"], 20);
    t.keys(&["Enter", "Space"]);
    t.wait_for(&["Your own backup"], 5);
    t.type_text("nightly dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: nightly dump"], 5);
    backup_to_run_up(&t);
    t.keys(&["Enter"]);
    t.wait_for(&["running for", "migrating core"], 10);
    t.keys(&["C-c"]);
    t.wait_for(&["kong is running", "interrupt kong (SIGINT)"], 5);
    // Esc: kong keeps running.
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(t.screen().contains("running for"));
    assert!(!signals.exists(), "nothing was signalled yet");
    // Ctrl-C, then q: leave, interrupting kong first; leaving kong unfinished exits non-zero.
    t.keys(&["C-c", "q"]);
    let s = t.wait_for(&["KONGRADE-EXIT=130"], 15);
    assert_eq!(t.display("#{alternate_on}"), "0", "{s}");
    let got = std::fs::read_to_string(&signals).unwrap_or_default();
    assert!(got.contains("INT"), "kong got SIGINT: {got:?}\n{s}");
}

fn run_piped(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kongrade"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .output()
        .expect("run kongrade")
}

#[test]
fn without_a_terminal_the_wizard_points_at_status_and_auto() {
    for args in [&["--target-version", "3.4.2"][..], &["demo"][..]] {
        let o = run_piped(args);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("kongrade status") && err.contains("kongrade auto"),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn demo_list_prints_the_scenarios() {
    let o = run_piped(&["demo", "--list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    for name in [
        "clean",
        "custom-plugin",
        "stale-lock",
        "unfinished",
        "pre-1.0",
        "old-node-serving",
        "failed-up",
        "interrupted-016",
    ] {
        assert!(out.contains(name), "{out}");
    }
    let o = run_piped(&["demo", "--scenario", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no scenario 'nope'"));
}

#[test]
fn sigterm_restores_the_terminal() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = shq(&dir.path().join("data").display().to_string());
    let run = dir.path().join("run.sh");
    std::fs::write(
        &run,
        format!(
            "env -i PATH=\"$PATH\" TERM=\"$TERM\" HOME={data} KONGRADE_DATA_DIR={data} {} demo\necho KONGRADE-EXIT=$?\nexec sh\n",
            shq(env!("CARGO_BIN_EXE_kongrade"))
        ),
    )
    .expect("write runner");
    let t = Tmux::start("term", &run);
    t.wait_for(&["1. Preflight", "TRAINING"], 20);
    assert_eq!(t.display("#{alternate_on}"), "1");
    let pid = kongrade_pid(&t);
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let s = t.wait_for(&["KONGRADE-EXIT=0"], 10);
    assert_eq!(t.display("#{alternate_on}"), "0", "{s}");
}

#[test]
fn killed_after_up_the_wizard_resumes_at_finish_from_its_journal() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping");
        return;
    }
    let db = TestDb::new("tui_resume");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let kong = write_standin(&db, dir.path());
    // kongrade, and once it is gone (killed), kongrade again, as the operator would restart it.
    // The first run chooses in-place; the restarted one is not told: the journal says it.
    let first = kongrade_line(&db, dir.path(), &kong, IN_PLACE);
    let once = kongrade_line(&db, dir.path(), &kong, "");
    let run = dir.path().join("run.sh");
    std::fs::write(&run, format!("{first}stty sane\n{once}exec sh\n")).expect("write runner");
    let t = Tmux::start("resume", &run);

    t.wait_for(&["1. Preflight", "15 new", "● read"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["3. Backup"], 5);
    t.keys(&["t"]);
    t.wait_for(&["Backup written and verified"], 60);
    backup_to_run_up(&t);
    t.keys(&["Enter"]);
    t.wait_for(&["up is done", "4 pend", "Enter: Finish."], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["8. Finish", "Downtime"], 5);

    // SIGKILL: no goodbye, no cleanup; the journal is what survives.
    let pid = kongrade_pid(&t);
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill")
        .success());
    // Resumed: the strategy from the journal, not asked again; in-place's finish is next,
    // and the downtime clock counts on from the gate the journal recorded.
    t.wait_for(
        &[
            "Resuming the upgrade started",
            "strategy in-place chosen",
            "backup done (",
            "up done",
            "8. Finish",
            "Downtime",
        ],
        20,
    );
    let journals: Vec<_> = std::fs::read_dir(dir.path().join("data/journal"))
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(journals.len(), 1, "the same journal, resumed: {journals:?}");
    let text = std::fs::read_to_string(&journals[0]).expect("journal");
    // Each entry was on disk before what it announces: the command before its exit.
    let command = text.find("\"event\":\"command\"").expect("command entry");
    let exit = text.find("\"event\":\"command_exit\"").expect("exit entry");
    assert!(command < exit, "{text}");
    assert!(text.contains("\"event\":\"backup\""), "{text}");
    assert!(!text.contains(KONG_PASSWORD), "no password in the journal");

    // A second kongrade on the same upgrade is refused, saying who holds the journal.
    let second = dir.path().join("second.sh");
    std::fs::write(&second, format!("{once}exec sh\n")).expect("write");
    let o = t
        .cmd(&["new-window", "-t", "t"])
        .arg(format!("sh {}", second.display()))
        .output()
        .expect("new-window");
    assert!(o.status.success());
    let s = t.wait_for(&["another kongrade", "KONGRADE-EXIT=1"], 20);
    assert!(s.contains("--read-only"), "{s}");
    let _ = t.cmd(&["kill-window", "-t", "t:1"]).output();

    t.wait_for(&["8. Finish"], 5);
    // Leaving after up asks first.
    t.keys(&["C-c"]);
    t.wait_for(&["Leave kongrade?", "The journal remembers"], 5);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT=0"], 10);
}

/// A loopback server answering every connection with Kong's `GET /` of `version`.
fn admin_api(version: &str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let body = format!(
        r#"{{"version":"{version}","hostname":"gw-{version}","node_id":"6a1f9d3c-0b2e-4c8d-9e7f-1a2b3c4d5e6f","tagline":"Welcome to kong"}}"#
    );
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = c.write_all(answer.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn decommission_probes_the_admin_apis_and_finish_opens_anyway_only_with_a_reason() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping");
        return;
    }
    let db = TestDb::new("tui_nodes");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    // `up` to 3.4.2 already ran: the wizard enters at Decommission.
    kong_db::up_to(&db, "3.4.2", None);
    let old = admin_api("2.8.5");
    let new = admin_api("3.4.2");
    let dir = tempfile::tempdir().expect("tempdir");
    let kong = write_standin(&db, dir.path());
    let run = write_runner(
        &db,
        dir.path(),
        &kong,
        &format!("--admin-url {old} --admin-url {new} --probe-timeout 700"),
    );
    let t = Tmux::start("nodes", &run);
    // No strategy journaled: what is left of any procedure is old nodes out, then finish.
    t.wait_for(
        &[
            "1. Decommission",
            "OLD 2.8.5: still serving",
            "new 3.4.2",
            "finish gate closed",
        ],
        20,
    );
    // The two confirmations; the old node is still answering.
    t.keys(&["Space", "j", "Space", "Enter", "Enter"]);
    t.wait_for(
        &["finish refused", "OLD 2.8.5: still serving", "o override"],
        5,
    );
    t.keys(&["o"]);
    t.wait_for(&["Open the finish gate anyway"], 5);
    t.type_text("later");
    t.keys(&["Enter"]);
    t.wait_for(&["say why, in a few words"], 5);
    t.type_text(": the old node is a drained canary, OPS-4411");
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "node gate opened anyway",
            "only because you opened the node gate",
        ],
        5,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["Type 'finish'"], 5);
    t.type_text("finish");
    t.keys(&["Enter"]);
    t.wait_for(&["finish is done"], 30);
    assert_eq!(pending_count(&db), 0);
    t.keys(&["Enter", "q"]);
    t.wait_for(&["KONGRADE-EXIT=0"], 10);
    let journal = std::fs::read_dir(dir.path().join("data/journal"))
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a journal");
    let text = std::fs::read_to_string(journal).expect("journal");
    assert!(
        text.contains("\"event\":\"override\"")
            && text.contains("later: the old node is a drained canary, OPS-4411"),
        "{text}"
    );
}

#[test]
fn a_panicking_poller_stops_kong_restores_the_terminal_and_says_why() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping");
        return;
    }
    let db = TestDb::new("tui_supervise");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let signals = dir.path().join("signals.log");
    let kong = dir.path().join("kong-slow.sh");
    std::fs::write(
        &kong,
        format!(
            "#!/bin/sh\n# TEST STAND-IN for kong: an up that never ends, noting the signals it gets.\n\
             trap 'echo INT >> {s}; exit 130' INT\n\
             echo \"migrating core on database 'kong'...\"\n\
             while :; do sleep 0.1; done\n",
            s = shq(&signals.display().to_string())
        ),
    )
    .expect("write");
    make_executable(&kong);
    // The test hook of debug builds: the poller panics once this file exists.
    let trigger = dir.path().join("panic-now");
    let line = kongrade_line(&db, dir.path(), &kong, IN_PLACE).replacen(
        "env -i ",
        &format!(
            "env -i KONGRADE_TEST_PANIC=poller:{} ",
            shq(&trigger.display().to_string())
        ),
        1,
    );
    let run = dir.path().join("run.sh");
    std::fs::write(&run, format!("{line}exec sh\n")).expect("write runner");
    let t = Tmux::start("supervise", &run);
    t.wait_for(&["1. Preflight", "15 new"], 20);
    t.keys(&["Enter", "Space"]);
    t.wait_for(&["Your own backup"], 5);
    t.type_text("nightly dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: nightly dump"], 5);
    backup_to_run_up(&t);
    t.keys(&["Enter"]);
    t.wait_for(&["running for", "migrating core"], 10);
    assert!(!signals.exists(), "nothing was signalled yet");

    std::fs::write(&trigger, "").expect("arm the hook");
    // Leaving as on quit: kong interrupted (it obeys), the terminal back, the reason printed.
    let s = t.wait_for(&["KONGRADE-EXIT=1"], 30);
    assert_eq!(t.display("#{alternate_on}"), "0", "{s}");
    assert!(s.contains("database poller stopped"), "{s}");
    assert!(s.contains("panicked"), "{s}");
    let got = std::fs::read_to_string(&signals).unwrap_or_default();
    assert!(got.contains("INT"), "kong got SIGINT: {got:?}\n{s}");
}

/// After a real `kongrade rehearse` of this database, the wizard (the real binary, at 80x24)
/// says the rehearsal's times when it starts and on Review (issue 14 point 7).
#[test]
fn after_a_rehearsal_the_wizard_shows_its_times_on_review() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    support::pg::psql_admin(
        support::pg::server(),
        "postgres",
        "ALTER ROLE kong CREATEDB",
    )
    .unwrap();
    let db = TestDb::new("tui_rehearsed");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    support::kong_rows::fill(&db, 20, 500);
    let dir = tempfile::tempdir().expect("tempdir");
    let kong = write_standin(&db, dir.path());
    let data = dir.path().join("data");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &data)
        .env("KONGRADE_DATA_DIR", &data);
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    let o = c
        .args(["rehearse", "--target-version", "3.4.2", "--kong-cmd"])
        .arg(&kong)
        .output()
        .expect("rehearse");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = write_runner(&db, dir.path(), &kong, IN_PLACE);
    let t = Tmux::start_sized("rehearsed", &run, 80, 24);
    t.wait_for(&["1. Preflight", "rehearsed on"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["3. Backup"], 10);
    t.keys(&["t"]);
    t.wait_for(&["Backup written and verified"], 60);
    t.keys(&["Enter"]);
    let s = t.wait_for(&["4. Review", "rehearsed on"], 10);
    // In the step's pane (the log's copy is indented under its "· ").
    assert!(s.lines().any(|l| l.starts_with("│rehearsed on ")), "{s}");
    assert!(!s.contains("STALE"), "{s}");
    t.keys(&["q"]);
}

/// The rehearsal's staleness check reads every table, and may take its 10 s: it runs beside
/// the UI. Here a table it must read is locked by another session, so it never answers: the
/// wizard is on screen at once saying "checking", moves on with the keys, and once the check
/// gives up says "not checked" (not STALE: nothing is known to have changed).
#[test]
fn the_rehearsal_check_runs_beside_the_ui_and_an_unanswered_one_is_not_stale() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    support::pg::grant_createdb();
    let db = TestDb::new("tui_rh_checking");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    support::kong_rows::fill(&db, 20, 500);
    db.exec("CREATE TABLE hold (id int)");
    let dir = tempfile::tempdir().expect("tempdir");
    let kong = write_standin(&db, dir.path());
    let data = dir.path().join("data");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &data)
        .env("KONGRADE_DATA_DIR", &data);
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    let o = c
        .args(["rehearse", "--target-version", "3.4.2", "--kong-cmd"])
        .arg(&kong)
        .output()
        .expect("rehearse");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Another session holds the table until it is killed.
    struct Holder(std::process::Child);
    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _holder = Holder(
        support::pg::psql_cmd(&db.server, &db.name)
            .args([
                "-c",
                "BEGIN; LOCK TABLE hold IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("psql"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db
        .exec("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'hold' AND l.mode = 'AccessExclusiveLock' AND l.granted")
        .trim()
        != "1"
    {
        assert!(std::time::Instant::now() < deadline, "the lock never showed");
        std::thread::sleep(Duration::from_millis(100));
    }

    let run = write_runner(&db, dir.path(), &kong, IN_PLACE);
    let t = Tmux::start_sized("rh_checking", &run, 200, 40);
    // On screen while the check waits: before, the terminal was taken only after it.
    t.wait_for(
        &["1. Preflight", "checking whether the database changed"],
        30,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["3. Backup"], 20);
    let s = t.wait_for(&["not checked: no answer within 10 s"], 60);
    assert!(!s.contains("STALE"), "{s}");
    t.keys(&["q"]);
}

/// Issue 14: the wizard killed with kill -9 while `kong migrations up` runs, then restarted: it
/// finds that kong (journaled as auto journals it: the command's marker in kong's environment,
/// its pid), says it waits for it from the first screen, starts no second one (Enter at Up is
/// refused with the same words), and once it ended reads the database again. The wrapper's log
/// proves one `up` ran.
#[test]
fn killed_during_up_the_restarted_wizard_waits_for_that_kong_and_runs_no_second() {
    if !support::tmux::available() {
        eprintln!("tmux is not installed: skipping");
        return;
    }
    let db = TestDb::new("tui_k9_up");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    // kong: `up` waits for its gate file, then is logged as it really runs.
    let kong = dir.path().join("kong-held.sh");
    std::fs::write(
        &kong,
        format!(
            "#!/bin/sh\necho \"$*\" >> {args}\ncase \"$1 $2\" in\n  'migrations up')\n    while [ ! -e {go} ]; do sleep 0.05; done\n    echo \"$1 $2\" >> {runs} ;;\nesac\nexec {bin} stand-in --kong-version 3.4.2 --delay-ms 50 -- \"$@\"\n",
            args = shq(&format!("{d}/args.log")),
            go = shq(&format!("{d}/go-up")),
            runs = shq(&format!("{d}/runs.log")),
            bin = shq(env!("CARGO_BIN_EXE_kongrade")),
        ),
    )
    .expect("write kong");
    make_executable(&kong);
    let first = kongrade_line(&db, dir.path(), &kong, IN_PLACE);
    let once = kongrade_line(&db, dir.path(), &kong, "");
    let run = dir.path().join("run.sh");
    std::fs::write(&run, format!("{first}stty sane\n{once}exec sh\n")).expect("write runner");
    let t = Tmux::start_sized("k9up", &run, 140, 34);
    // Whatever happens, the held kong does not outlive the test.
    struct Release(std::path::PathBuf);
    impl Drop for Release {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, "");
        }
    }
    let _release = Release(dir.path().join("go-up"));

    t.wait_for(&["1. Preflight", "15 new", "● read"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["3. Backup"], 5);
    t.keys(&["t"]);
    t.wait_for(&["Backup written and verified"], 60);
    backup_to_run_up(&t);
    t.keys(&["Enter"]);
    // kong started (the wrapper holds it before the stand-in runs).
    let args = dir.path().join("args.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&args).is_ok_and(|a| a.contains("migrations up")) {
        assert!(std::time::Instant::now() < deadline, "kong never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // And its start journaled (written just after the spawn): on a busy machine the kill could
    // land between the two, and this test is about the journaled start.
    let journaled = || {
        std::fs::read_dir(dir.path().join("data/journal"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .any(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|t| t.contains("\"event\":\"command_started\""))
            })
    };
    while !journaled() {
        assert!(
            std::time::Instant::now() < deadline,
            "kong's start never journaled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = kongrade_pid(&t);
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill")
        .success());
    // Restarted: the kong it left is named from the first screen.
    let waiting = "a kong migrations up started by the previous run (pid ";
    t.wait_for(
        &[waiting, "is still running: waiting for it", "1. Preflight"],
        30,
    );
    // Walked to Up: Enter starts nothing, and says why.
    t.keys(&["Enter"]);
    t.wait_for(&["3. Backup"], 10);
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes"], 5);
    t.keys(&["Enter"]);
    let s = t.wait_for(&["6. Stop old nodes"], 5);
    // Resumed, the step confirms what in-place does (no traffic shift to new nodes, no writes
    // paused until finish): the old nodes' stop, ticked.
    assert!(
        !s.contains("Traffic is shifted") && !s.contains("paused until finish"),
        "{s}"
    );
    t.keys(&["Space", "Enter"]);
    t.wait_for(&["7. Up"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["7. Up", "is still running: waiting for it"], 5);
    assert!(!t.screen().contains("Run up?"), "{}", t.screen());
    let log = std::fs::read_to_string(&args).expect("args");
    assert_eq!(log.matches("migrations up").count(), 1, "{log}");
    // Released: that kong runs up; the wizard sees it end and reads the database again.
    std::fs::write(dir.path().join("go-up"), "").expect("release");
    t.wait_for(&["has ended: reading the database again"], 60);
    let s = t.wait_for(&["4 pend"], 60);
    assert!(
        !s.lines().take(4).any(|l| l.contains("still running")),
        "the banner is gone:\n{s}"
    );
    let runs = std::fs::read_to_string(dir.path().join("runs.log")).unwrap_or_default();
    assert_eq!(runs, "migrations up\n", "one up ran");
    assert_eq!(pending_count(&db), 4);
    let journal = std::fs::read_dir(dir.path().join("data/journal"))
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a journal");
    let text = std::fs::read_to_string(journal).expect("journal");
    assert!(text.contains("\"event\":\"command_started\""), "{text}");
    assert!(
        text.contains("waiting for the earlier run's kong"),
        "{text}"
    );
    assert!(text.contains("the earlier run's kong ended"), "{text}");
    t.keys(&["C-c"]);
    t.wait_for(&["Leave kongrade?"], 10);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT="], 10);
}
