//! Drives the real kongrade binary in a private tmux server: fixed size, keys one at a time,
//! polling the screen for text with a deadline.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A tmux server of its own (`-L` socket), killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `sh SCRIPT` in a 100x30 session.
    pub fn start(tag: &str, script: &Path) -> Tmux {
        Self::start_sized(tag, script, 100, 30)
    }

    pub fn start_sized(tag: &str, script: &Path, w: u16, h: u16) -> Tmux {
        let socket = format!("kongrade-test-{}-{tag}", std::process::id());
        let t = Tmux { socket };
        let out = t
            .cmd(&[
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
                "-s",
                "t",
            ])
            .arg(format!("sh {}", script.display()))
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).args(args);
        c
    }

    pub fn screen(&self) -> String {
        let o = self
            .cmd(&["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    pub fn display(&self, fmt: &str) -> String {
        let o = self
            .cmd(&["display", "-p", "-t", "t", fmt])
            .output()
            .expect("display");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Keys one at a time, as a person types: each gets its own event.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let st = self
                .cmd(&["send-keys", "-t", "t", k])
                .status()
                .expect("send-keys");
            assert!(st.success());
            std::thread::sleep(Duration::from_millis(80));
        }
    }

    pub fn type_text(&self, text: &str) {
        let st = self
            .cmd(&["send-keys", "-t", "t", "-l", text])
            .status()
            .expect("send-keys");
        assert!(st.success());
        std::thread::sleep(Duration::from_millis(80));
    }

    /// Waits until every one of `texts` is on screen; panics with the screen after `secs`.
    pub fn wait_for(&self, texts: &[&str], secs: u64) -> String {
        // A deadline only ends a wait that would never succeed; on a busy 2-core machine a
        // screen can take seconds to settle, so no wait is shorter than 30 s.
        let secs = secs.max(30);
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if texts.iter().all(|t| s.contains(t)) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("waited {secs} s for {texts:?}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).output();
    }
}
