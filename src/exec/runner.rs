//! Running `kong migrations ...`: the events a run produces, shared by the wizard, `auto` and
//! the stand-in running in-process for `demo`.

use crate::contract::{shell_quote, Invocation, RunEvent, RunId, RunOutcome, Stream};
use crate::kong::conf::Secret;

// ---------------------------------------------------------------------------------------------
// Running a kong invocation

/// Where `kong` runs.
#[derive(Clone, Debug)]
pub enum KongTarget {
    /// A real command line such as `docker exec -i kong-new kong` (split without a shell), with
    /// extra environment for the child. Secrets (e.g. `KONG_PG_PASSWORD`) travel only here: never
    /// in argv, never in `Started.command_line`.
    Process {
        command_line: String,
        env: Vec<(String, Secret)>,
    },
    /// The stand-in as a tokio task against the training database (`kongrade demo`).
    InProcess {
        db: crate::store::memory::MemoryDb,
        opts: crate::exec::standin::StandInOptions,
    },
}

#[derive(Debug, Clone, Copy)]
enum Control {
    Interrupt,
    Kill,
    Cancel(std::time::Duration),
}

/// A running invocation. Clones control the same run.
#[derive(Clone)]
pub struct RunHandle {
    run: RunId,
    pid: Option<u32>,
    ctl: tokio::sync::mpsc::UnboundedSender<Control>,
    done: tokio::sync::watch::Receiver<Option<RunOutcome>>,
}

impl RunHandle {
    pub fn id(&self) -> RunId {
        self.run
    }

    /// The child's pid (None in-process, or when it could not start).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// SIGINT to the child's process group (Kong dies on it, leaving its lock row).
    pub fn interrupt(&self) {
        let _ = self.ctl.send(Control::Interrupt);
    }

    /// SIGKILL to the child's process group.
    pub fn kill(&self) {
        let _ = self.ctl.send(Control::Kill);
    }

    /// SIGINT now, SIGKILL if it is still running after `grace`.
    pub fn cancel(&self, grace: std::time::Duration) {
        let _ = self.ctl.send(Control::Cancel(grace));
    }

    /// The outcome once the run is over (all its events sent by then).
    pub async fn wait(&self) -> RunOutcome {
        let mut done = self.done.clone();
        loop {
            if let Some(o) = done.borrow_and_update().clone() {
                return o;
            }
            if done.changed().await.is_err() {
                // The supervisor vanished without a word (runtime shutting down).
                return done.borrow().clone().unwrap_or(RunOutcome::SpawnFailed {
                    message: "the run's supervisor ended without an outcome".into(),
                });
            }
        }
    }

    pub fn is_finished(&self) -> bool {
        self.done.borrow().is_some()
    }
}

type EventTx = tokio::sync::mpsc::UnboundedSender<(RunId, RunEvent)>;

/// Starts `kong <inv>` on `kong` and streams its events, tagged with `run`, into `tx`:
/// `Started`, each output line as it comes, then exactly one `Exited` or `SpawnFailed`.
/// Must be called inside a tokio runtime. A child runs in its own process group, so a Ctrl-C
/// in kongrade's terminal reaches it only through [`RunHandle::interrupt`]/[`RunHandle::cancel`].
pub fn start(kong: &KongTarget, inv: &Invocation, run: RunId, tx: EventTx) -> RunHandle {
    let (ctl_tx, ctl_rx) = tokio::sync::mpsc::unbounded_channel();
    let (done_tx, done_rx) = tokio::sync::watch::channel(None);
    let mut handle = RunHandle {
        run,
        pid: None,
        ctl: ctl_tx,
        done: done_rx,
    };
    match kong {
        KongTarget::Process { command_line, env } => {
            handle.pid = start_process(command_line, env, inv, run, tx, ctl_rx, done_tx);
        }
        KongTarget::InProcess { db, opts } => {
            start_in_process(db.clone(), opts.clone(), inv, run, tx, ctl_rx, done_tx);
        }
    }
    handle
}

/// Runs to the end, calling `on_event` for each event as it arrives (to print it live), and
/// returns them all with the outcome. For `auto` and other plain commands.
pub async fn run_to_end(
    kong: &KongTarget,
    inv: &Invocation,
    mut on_event: impl FnMut(&RunEvent),
) -> (Vec<RunEvent>, RunOutcome) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = start(kong, inv, 0, tx);
    let mut events = Vec::new();
    let mut outcome = None;
    while let Some((_, ev)) = rx.recv().await {
        on_event(&ev);
        if let Some(o) = RunOutcome::from_event(&ev) {
            outcome = Some(o);
            events.push(ev);
            break;
        }
        events.push(ev);
    }
    let outcome = match outcome {
        Some(o) => o,
        None => handle.wait().await,
    };
    (events, outcome)
}

fn send(tx: &EventTx, run: RunId, ev: RunEvent) {
    // A receiver that went away (screen closed) does not stop the run.
    let _ = tx.send((run, ev));
}

fn finish(
    tx: &EventTx,
    run: RunId,
    done: &tokio::sync::watch::Sender<Option<RunOutcome>>,
    o: RunOutcome,
) {
    send(tx, run, o.event());
    let _ = done.send(Some(o));
}

fn start_process(
    command_line: &str,
    env: &[(String, Secret)],
    inv: &Invocation,
    run: RunId,
    tx: EventTx,
    ctl: tokio::sync::mpsc::UnboundedReceiver<Control>,
    done: tokio::sync::watch::Sender<Option<RunOutcome>>,
) -> Option<u32> {
    let mut argv = match crate::exec::kong_version::split_command(command_line) {
        Ok(a) => a,
        Err(e) => {
            send(
                &tx,
                run,
                RunEvent::Started {
                    command_line: command_line.to_string(),
                },
            );
            finish(
                &tx,
                run,
                &done,
                RunOutcome::SpawnFailed {
                    message: format!("{e}"),
                },
            );
            return None;
        }
    };
    argv.extend(inv.kong_args());
    let shown = argv
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    send(
        &tx,
        run,
        RunEvent::Started {
            command_line: shown,
        },
    );

    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.expose())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own group: the terminal's Ctrl-C goes to kongrade's group only, and a signal to
        // the group reaches everything the command started (a shell, docker exec...).
        .process_group(0);
    // A kongrade started in the background (`cmd &` in a script, some CI runners) inherits
    // SIGINT and SIGQUIT ignored, and exec keeps an ignored signal ignored: kong would then
    // never end on the interrupt kongrade sends. The child gets the default dispositions back.
    // SAFETY: only signal(2) runs between fork and exec, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            finish(
                &tx,
                run,
                &done,
                RunOutcome::SpawnFailed {
                    message: format!("cannot run '{}': {e}", argv[0]),
                },
            );
            return None;
        }
    };
    let pid = child.id();
    tokio::spawn(supervise(child, pid, run, tx, ctl, done));
    pid
}

fn signal_group(pid: Option<u32>, sig: i32) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
    unsafe {
        if libc::kill(-pid, sig) != 0 {
            libc::kill(pid, sig);
        }
    }
}

async fn pump(
    stream: Option<impl tokio::io::AsyncRead + Unpin>,
    which: Stream,
    run: RunId,
    tx: EventTx,
) {
    use tokio::io::AsyncBufReadExt;
    let Some(stream) = stream else { return };
    let mut r = tokio::io::BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                // Kong's output is UTF-8; anything else is shown, not fatal.
                let text = String::from_utf8_lossy(&buf).into_owned();
                send(
                    &tx,
                    run,
                    RunEvent::Line {
                        stream: which,
                        text,
                    },
                );
            }
        }
    }
}

async fn supervise(
    mut child: tokio::process::Child,
    pid: Option<u32>,
    run: RunId,
    tx: EventTx,
    mut ctl: tokio::sync::mpsc::UnboundedReceiver<Control>,
    done: tokio::sync::watch::Sender<Option<RunOutcome>>,
) {
    use std::os::unix::process::ExitStatusExt;
    let out = tokio::spawn(pump(child.stdout.take(), Stream::Stdout, run, tx.clone()));
    let err = tokio::spawn(pump(child.stderr.take(), Stream::Stderr, run, tx.clone()));
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut ctl_open = true;
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            c = ctl.recv(), if ctl_open => match c {
                None => ctl_open = false,
                Some(Control::Interrupt) => signal_group(pid, libc::SIGINT),
                Some(Control::Kill) => signal_group(pid, libc::SIGKILL),
                Some(Control::Cancel(grace)) => {
                    signal_group(pid, libc::SIGINT);
                    kill_at = Some(tokio::time::Instant::now() + grace);
                }
            },
            _ = tokio::time::sleep_until(kill_at.unwrap_or_else(tokio::time::Instant::now)), if kill_at.is_some() => {
                signal_group(pid, libc::SIGKILL);
                kill_at = None;
            }
        }
    };
    // Every line before the exit event. Something the child left running in the background may
    // keep the pipes open: do not wait for it forever.
    let (a, b) = (out.abort_handle(), err.abort_handle());
    if tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let _ = out.await;
        let _ = err.await;
    })
    .await
    .is_err()
    {
        a.abort();
        b.abort();
    }
    let outcome = match status {
        Ok(st) => RunOutcome::Exited {
            code: st.code(),
            signal: st.signal(),
        },
        Err(e) => RunOutcome::SpawnFailed {
            message: format!("lost track of the kong process: {e}"),
        },
    };
    finish(&tx, run, &done, outcome);
}

/// Sends the stand-in's lines as run events.
struct EventOut {
    run: RunId,
    tx: EventTx,
}

impl crate::exec::standin::Out for EventOut {
    fn line(&mut self, stream: Stream, text: &str) {
        send(
            &self.tx,
            self.run,
            RunEvent::Line {
                stream,
                text: text.to_string(),
            },
        );
    }
}

fn start_in_process(
    db: crate::store::memory::MemoryDb,
    opts: crate::exec::standin::StandInOptions,
    inv: &Invocation,
    run: RunId,
    tx: EventTx,
    mut ctl: tokio::sync::mpsc::UnboundedReceiver<Control>,
    done: tokio::sync::watch::Sender<Option<RunOutcome>>,
) {
    use crate::exec::standin::{self, Ending, KongArgs, MemoryBackend};
    let mut shown = vec!["kong".to_string()];
    shown.extend(inv.kong_args().iter().map(|a| shell_quote(a)));
    send(
        &tx,
        run,
        RunEvent::Started {
            command_line: shown.join(" "),
        },
    );
    let args = KongArgs::from_invocation(inv);
    tokio::spawn(async move {
        let mut backend = MemoryBackend { db };
        let mut out = EventOut {
            run,
            tx: tx.clone(),
        };
        let plugins = opts.plugins.clone();
        let work = standin::run(&mut backend, &mut out, &opts, &plugins, &args);
        tokio::pin!(work);
        let mut ctl_open = true;
        let outcome = loop {
            tokio::select! {
                end = &mut work => break match end {
                    Ending::Code(c) => RunOutcome::Exited { code: Some(c), signal: None },
                    Ending::Die => RunOutcome::Exited { code: None, signal: Some(libc::SIGKILL) },
                },
                // Kong has no SIGINT handler: either signal ends it where it stands, lock row
                // and all. Dropping the task does the same (no write is ever half done).
                c = ctl.recv(), if ctl_open => match c {
                    None => ctl_open = false,
                    Some(Control::Interrupt | Control::Cancel(_)) => {
                        break RunOutcome::Exited { code: None, signal: Some(libc::SIGINT) }
                    }
                    Some(Control::Kill) => {
                        break RunOutcome::Exited { code: None, signal: Some(libc::SIGKILL) }
                    }
                },
            }
        };
        finish(&tx, run, &done, outcome);
    });
}
