//! How the runtime starts kong: a small trait boundary, so the app does not care where kong runs
//! and tests can put anything behind it.
//!
//! [`Runner`] is `exec::runner::start`, the one place kongrade starts kong (`auto` uses it too):
//! a real kong command line (split without a shell, secrets only in the child's environment,
//! signals to the child's own process group so `docker exec` or wrapper scripts get them), or
//! the stand-in in-process against the training database for `kongrade demo`.

use tokio::sync::mpsc::UnboundedSender;

use crate::contract::{Invocation, RunEvent, RunId};
use crate::exec::process::RUN_MARKER_ENV;
use crate::exec::runner::{self, KongTarget, RunHandle};

/// Starts kong runs. Events arrive on `tx` tagged with `run`, in order: Started, Lines, then one
/// Exited or SpawnFailed.
pub trait Launcher: Send + Sync {
    /// `marker`: the journaled run's marker, put in kong's environment (a restart after the
    /// wizard is killed finds this kong, and whatever it started, by it).
    fn start(
        &self,
        inv: &Invocation,
        run: RunId,
        tx: UnboundedSender<(RunId, RunEvent)>,
        marker: Option<&str>,
    ) -> Box<dyn RunControl>;
}

/// A started run. Whether it ended is known from its events (Exited / SpawnFailed), so this is
/// only the way to stop it.
pub trait RunControl: Send {
    /// SIGINT: kong stops (and may leave its lock until the lock timeout).
    fn interrupt(&self);
    /// SIGKILL.
    fn kill(&self);
    /// The child's pid (None in-process, or before it started), for the journal.
    fn pid(&self) -> Option<u32> {
        None
    }
}

/// `kong` with a run's marker ([`RUN_MARKER_ENV`]) added to the child's environment.
pub fn marked(kong: &KongTarget, marker: &str) -> KongTarget {
    match kong {
        KongTarget::Process { command_line, env } => {
            let mut env = env.clone();
            env.push((RUN_MARKER_ENV.to_string(), marker.into()));
            KongTarget::Process {
                command_line: command_line.clone(),
                env,
            }
        }
        other => other.clone(),
    }
}

/// kong through `exec::runner`, the runner `auto` and the tests use.
pub struct Runner(pub KongTarget);

impl Launcher for Runner {
    fn start(
        &self,
        inv: &Invocation,
        run: RunId,
        tx: UnboundedSender<(RunId, RunEvent)>,
        marker: Option<&str>,
    ) -> Box<dyn RunControl> {
        match marker {
            Some(m) => Box::new(runner::start(&marked(&self.0, m), inv, run, tx)),
            None => Box::new(runner::start(&self.0, inv, run, tx)),
        }
    }
}

impl RunControl for RunHandle {
    fn interrupt(&self) {
        RunHandle::interrupt(self);
    }
    fn kill(&self) {
        RunHandle::kill(self);
    }
    fn pid(&self) -> Option<u32> {
        RunHandle::pid(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{KongCommand, Stream};
    use std::time::Duration;

    fn process(command_line: &str, env: &[(&str, &str)]) -> Runner {
        Runner(KongTarget::Process {
            command_line: command_line.into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
        })
    }

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

    fn training(name: &str, speed: f64) -> crate::training::Training {
        crate::training::scenario(name)
            .and_then(|s| s.build(crate::kong::catalog::Catalog::embedded(), speed))
            .expect("scenario")
    }

    #[tokio::test]
    async fn the_demo_runs_the_stand_in_and_an_interrupt_leaves_its_lock() {
        let t = training("clean", 1.0);
        // 30 ms a migration: slow enough to interrupt mid-way.
        let l = crate::tui::demo_launcher(&t, 10.0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = l.start(&Invocation::new(KongCommand::Up), 3, tx, None);
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
        let _ctl = l.start(&inv, 1, tx, None);
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
        let l = process(
            "sh -c 'echo \"$0 $1 $KONG_PG_PASSWORD\"; echo oops >&2; exit 3'",
            &[("KONG_PG_PASSWORD", "s3cret")],
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ctl = l.start(&Invocation::new(KongCommand::Up), 7, tx, None);
        let evs = collect(rx).await;
        // The secret reaches the child through its environment, never the shown command line.
        assert!(
            matches!(&evs[0], RunEvent::Started { command_line } if command_line.ends_with("migrations up") && !command_line.contains("s3cret")),
            "{evs:?}"
        );
        assert!(evs.contains(&RunEvent::Line {
            stream: Stream::Stdout,
            text: "migrations up s3cret".into()
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
        // One process (perl, not `sh -c '...; sleep'`): a signal that reaches a shell's fork
        // before its `sleep` execs is lost on a busy machine.
        let l = process(
            "perl -e '$|=1; print qq(ready\\n); sleep 30; print qq(never\\n)'",
            &[],
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = l.start(&Invocation::new(KongCommand::Up), 1, tx, None);
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
        let l = process("/nonexistent/kong", &[]);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = l.start(&Invocation::new(KongCommand::Up), 1, tx, None);
        let evs = collect(rx).await;
        // The runner announces the command line it tried, then says it could not start it.
        assert!(
            matches!(&evs[..], [RunEvent::Started { .. }, RunEvent::SpawnFailed { message }] if message.contains("/nonexistent/kong")),
            "{evs:?}"
        );
        // Signalling a run that never started is harmless.
        ctl.interrupt();
        ctl.kill();
    }
}
