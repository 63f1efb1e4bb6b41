//! The live pane when PostgreSQL goes away under it: the real binary in tmux, the test cluster
//! stopped with pg_ctl and started again. In a test binary of its own, since stopping the
//! cluster would break any other test sharing it.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::kong_db;
use support::pg::{restart_server, stop_server, Server, TestDb};

/// Leaves the cluster stopped whatever happens (after a restart it no longer dies with us).
struct StopAtEnd(Server);

impl Drop for StopAtEnd {
    fn drop(&mut self) {
        let _ = stop_server(&self.0);
    }
}

struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.0).args(args);
        c
    }
    fn screen(&self) -> String {
        let o = self
            .cmd(&["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&o.stdout).to_string()
    }
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            assert!(self
                .cmd(&["send-keys", "-t", "t", k])
                .status()
                .expect("send-keys")
                .success());
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    fn wait_for(&self, texts: &[&str], absent: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if texts.iter().all(|t| s.contains(t)) && !absent.iter().any(|t| s.contains(t)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {texts:?} without {absent:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).output();
    }
}

fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn runner(db: &TestDb, dir: &Path) -> std::path::PathBuf {
    let data = shq(&dir.join("data").display().to_string());
    let mut env = format!("PATH=\"$PATH\" TERM=\"$TERM\" HOME={data} KONGRADE_DATA_DIR={data}");
    for (k, v) in db.kong_env() {
        env.push_str(&format!(" {k}={}", shq(&v)));
    }
    let script = format!(
        "env -i {env} {bin} --target-version 3.4.2 --kong-cmd false --refresh 0.3\necho KONGRADE-EXIT=$?\nexec sh\n",
        bin = shq(env!("CARGO_BIN_EXE_kongrade")),
    );
    let p = dir.join("run.sh");
    std::fs::write(&p, script).expect("write runner");
    p
}

#[test]
fn the_live_pane_goes_stale_when_postgresql_stops_and_recovers_when_it_is_back() {
    let tmux_ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let db = TestDb::new("tui_outage");
    if !tmux_ok || db.server.data_dir.is_none() {
        eprintln!("needs tmux and a cluster started by the tests: skipping");
        return;
    }
    let _stop = StopAtEnd(db.server.clone());
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let run = runner(&db, dir.path());
    let t = Tmux(format!("kongrade-test-{}-outage", std::process::id()));
    let out = t
        .cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "t",
        ])
        .arg(format!("sh {}", run.display()))
        .output()
        .expect("tmux");
    assert!(out.status.success());
    t.wait_for(&["1. Preflight", "● read"], &[], 20);

    stop_server(&db.server).expect("pg_ctl stop");
    let s = t.wait_for(&["STALE, last read", "retry 2"], &[], 20);
    assert!(
        s.contains("cannot read the database"),
        "the log says why:\n{s}"
    );
    // The app does not wait on the database: keys still work.
    t.keys(&["Enter"]);
    t.wait_for(&["2. Strategy", "STALE"], &[], 30);

    restart_server(&db.server).expect("pg_ctl start");
    let s = t.wait_for(&["● read", "answers again"], &["STALE"], 30);
    assert!(s.contains("15 new"), "{s}");
    // q goes back to Preflight; leaving from there asks first.
    t.keys(&["q", "q"]);
    t.wait_for(&["Leave kongrade?"], &[], 30);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT=0"], &[], 30);
    let alt = t
        .cmd(&["display", "-p", "-t", "t", "#{alternate_on}"])
        .output()
        .expect("display");
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
}
