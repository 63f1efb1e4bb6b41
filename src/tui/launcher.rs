//! How the runtime starts kong: a small trait boundary, so the app does not care where kong runs
//! and tests can put anything behind it.
//!
//! [`Runner`] is `exec::runner::start`: the stand-in in-process against the training database
//! for `kongrade demo` (the very code `kongrade stand-in` runs), or a real kong command.
//! [`ProcessLauncher`] is the plain implementation: the kong command line split without a shell,
//! Kong's arguments after it, lines streamed from stdout and stderr, signals through libc to the
//! child's own process group (so `docker exec` or kong's wrapper scripts get them too).

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::Result;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc::UnboundedSender;

use crate::exec::kong_version::split_command;
use crate::exec::runner::{self, Invocation, KongTarget, RunEvent, RunHandle, RunId, Stream};
use crate::wizard::model::display_command;

/// Starts kong runs. Events arrive on `tx` tagged with `run`, in order: Started, Lines, then one
/// Exited or SpawnFailed.
pub trait Launcher: Send + Sync {
    fn start(
        &self,
        inv: &Invocation,
        run: RunId,
        tx: UnboundedSender<(RunId, RunEvent)>,
    ) -> Box<dyn RunControl>;
}

/// A started run. Whether it ended is known from its events (Exited / SpawnFailed), so this is
/// only the way to stop it.
pub trait RunControl: Send {
    /// SIGINT: kong stops (and may leave its lock until the lock timeout).
    fn interrupt(&self);
    /// SIGKILL.
    fn kill(&self);
}

/// kong through `exec::runner`, the runner `auto` and the tests use.
pub struct Runner(pub KongTarget);

impl Launcher for Runner {
    fn start(
        &self,
        inv: &Invocation,
        run: RunId,
        tx: UnboundedSender<(RunId, RunEvent)>,
    ) -> Box<dyn RunControl> {
        Box::new(runner::start(&self.0, inv, run, tx))
    }
}

impl RunControl for RunHandle {
    fn interrupt(&self) {
        RunHandle::interrupt(self);
    }
    fn kill(&self) {
        RunHandle::kill(self);
    }
}

/// Runs the kong command as a child process.
pub struct ProcessLauncher {
    kong_cmd: String,
    argv: Vec<String>,
    /// Extra environment (the `KONG_*` equivalents of kongrade's flags); secrets travel here,
    /// never in argv.
    env: Vec<(String, String)>,
}

impl ProcessLauncher {
    pub fn new(kong_cmd: &str, env: Vec<(String, String)>) -> Result<ProcessLauncher> {
        Ok(ProcessLauncher {
            kong_cmd: kong_cmd.to_string(),
            argv: split_command(kong_cmd)?,
            env,
        })
    }
}

struct ProcessRun {
    /// Also the process group id (the child leads its own group).
    pid: Option<i32>,
    done: Arc<AtomicBool>,
}

impl ProcessRun {
    fn signal(&self, sig: i32) {
        // After the exit the pid may belong to someone else: never signal a finished run.
        if let (Some(pid), false) = (self.pid, self.done.load(Ordering::SeqCst)) {
            // SAFETY: kill(2) with a negative pid signals the process group; no memory involved.
            unsafe {
                libc::kill(-pid, sig);
            }
        }
    }
}

impl RunControl for ProcessRun {
    fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }
    fn kill(&self) {
        self.signal(libc::SIGKILL);
    }
}

/// Sends each line of `r` as an event; bytes that are not UTF-8 are replaced, not fatal.
async fn pump<R: AsyncRead + Unpin>(
    r: R,
    stream: Stream,
    run: RunId,
    tx: UnboundedSender<(RunId, RunEvent)>,
) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if tx.send((run, RunEvent::Line { stream, text })).is_err() {
                    break;
                }
            }
        }
    }
}

/// After kong exits, how long its output may still drain (a grandchild can hold the pipe open).
const DRAIN: Duration = Duration::from_secs(2);

impl Launcher for ProcessLauncher {
    fn start(
        &self,
        inv: &Invocation,
        run: RunId,
        tx: UnboundedSender<(RunId, RunEvent)>,
    ) -> Box<dyn RunControl> {
        let done = Arc::new(AtomicBool::new(false));
        let mut cmd = tokio::process::Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .args(inv.kong_args())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send((
                    run,
                    RunEvent::SpawnFailed {
                        message: format!("{}: {e}", self.argv[0]),
                    },
                ));
                done.store(true, Ordering::SeqCst);
                return Box::new(ProcessRun { pid: None, done });
            }
        };
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        tracing::info!(
            run,
            pid,
            "started kong: {}",
            display_command(&self.kong_cmd, inv)
        );
        let _ = tx.send((
            run,
            RunEvent::Started {
                command_line: display_command(&self.kong_cmd, inv),
            },
        ));
        let out = child
            .stdout
            .take()
            .map(|s| tokio::spawn(pump(s, Stream::Stdout, run, tx.clone())));
        let err = child
            .stderr
            .take()
            .map(|s| tokio::spawn(pump(s, Stream::Stderr, run, tx.clone())));
        let done2 = done.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            done2.store(true, Ordering::SeqCst);
            let drain = async {
                if let Some(h) = out {
                    let _ = h.await;
                }
                if let Some(h) = err {
                    let _ = h.await;
                }
            };
            let _ = tokio::time::timeout(DRAIN, drain).await;
            let ev = match status {
                Ok(st) => {
                    use std::os::unix::process::ExitStatusExt;
                    RunEvent::Exited {
                        code: st.code(),
                        signal: st.signal(),
                    }
                }
                Err(e) => {
                    tracing::warn!("waiting for kong failed: {e}");
                    RunEvent::Exited {
                        code: None,
                        signal: None,
                    }
                }
            };
            tracing::info!(run, "kong ended: {ev:?}");
            let _ = tx.send((run, ev));
        });
        Box::new(ProcessRun { pid, done })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::runner::KongCommand;

    async fn collect(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<(RunId, RunEvent)>,
    ) -> Vec<RunEvent> {
        let mut out = Vec::new();
        while let Some((_, ev)) = rx.recv().await {
            let end = matches!(ev, RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. });
            out.push(ev);
            if end {
                break;
            }
        }
        out
    }

    fn training(name: &str, speed: f64) -> crate::tui::demo::Training {
        crate::tui::demo::scenario(name)
            .and_then(|s| s.build(crate::kong::catalog::Catalog::embedded(), speed))
            .expect("scenario")
    }

    #[tokio::test]
    async fn the_demo_runs_the_stand_in_and_an_interrupt_leaves_its_lock() {
        let t = training("clean", 1.0);
        // 30 ms a migration: slow enough to interrupt mid-way.
        let l = crate::tui::demo_launcher(&t, 10.0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = l.start(&Invocation::new(KongCommand::Up), 3, tx);
        loop {
            match rx.recv().await {
                Some((3, RunEvent::Line { text, .. })) if text.contains("migrated up to") => break,
                Some((3, _)) => {}
                other => panic!("{other:?}"),
            }
        }
        ctl.interrupt();
        let evs = collect(rx).await;
        assert_eq!(
            evs.last(),
            Some(&RunEvent::Exited {
                code: None,
                signal: Some(libc::SIGINT)
            })
        );
        // Kong has no SIGINT handler: its lock row stays, as a killed Kong's does.
        let snap = t.db.snapshot().expect("readable");
        assert!(snap.lock.is_some_and(|l| l.live));
    }

    #[tokio::test]
    async fn in_the_demo_up_waits_on_a_live_lock_as_kong_does() {
        // The stale-lock scenario's 20 s lock, at speed 20: about 1 s left.
        let t = training("stale-lock", 20.0);
        let l = crate::tui::demo_launcher(&t, 20.0);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut inv = Invocation::new(KongCommand::Up);
        inv.lock_timeout = Some(10);
        let start = std::time::Instant::now();
        let _ctl = l.start(&inv, 1, tx);
        let evs = collect(rx).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(700), "{waited:?}");
        // Released (here: expired) while it waited: Kong says so, changes nothing and exits 0.
        assert!(evs.contains(&RunEvent::Line {
            stream: Stream::Stdout,
            text: crate::exec::standin::NOT_LEADER_MSG.into()
        }));
        assert_eq!(
            evs.last(),
            Some(&RunEvent::Exited {
                code: Some(0),
                signal: None
            })
        );
    }

    #[tokio::test]
    async fn streams_lines_and_the_exit_code() {
        let l = ProcessLauncher::new("sh -c 'echo \"$0 $1\"; echo oops >&2; exit 3'", vec![])
            .expect("launcher");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ctl = l.start(&Invocation::new(KongCommand::Up), 7, tx);
        let evs = collect(rx).await;
        assert!(
            matches!(&evs[0], RunEvent::Started { command_line } if command_line.ends_with("migrations up"))
        );
        assert!(evs.contains(&RunEvent::Line {
            stream: Stream::Stdout,
            text: "migrations up".into()
        }));
        assert!(evs.contains(&RunEvent::Line {
            stream: Stream::Stderr,
            text: "oops".into()
        }));
        assert_eq!(
            evs.last(),
            Some(&RunEvent::Exited {
                code: Some(3),
                signal: None
            })
        );
    }

    #[tokio::test]
    async fn interrupt_reaches_the_process_group() {
        let l = ProcessLauncher::new("sh -c 'echo ready; sleep 30; echo never'", vec![])
            .expect("launcher");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = l.start(&Invocation::new(KongCommand::Up), 1, tx);
        // Wait for the script to be running before signalling it.
        loop {
            match rx.recv().await {
                Some((_, RunEvent::Line { text, .. })) if text == "ready" => break,
                Some(_) => {}
                None => panic!("no output"),
            }
        }
        ctl.interrupt();
        let evs = collect(rx).await;
        assert_eq!(
            evs.last(),
            Some(&RunEvent::Exited {
                code: None,
                signal: Some(libc::SIGINT)
            })
        );
    }

    #[tokio::test]
    async fn a_missing_command_is_a_spawn_failure() {
        let l = ProcessLauncher::new("/nonexistent/kong", vec![]).expect("launcher");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = l.start(&Invocation::new(KongCommand::Up), 1, tx);
        let evs = collect(rx).await;
        assert!(
            matches!(&evs[..], [RunEvent::SpawnFailed { .. }]),
            "{evs:?}"
        );
        // Signalling a run that never started is harmless.
        ctl.interrupt();
        ctl.kill();
    }
}
