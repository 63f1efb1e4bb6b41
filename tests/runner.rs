//! The runner with real child processes (streaming, cancel, secrets, process groups) and the
//! in-process stand-in against the training database.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kongrade::contract::{Invocation, KongCommand, RunEvent, RunOutcome, Stream};
use kongrade::exec::runner::{run_to_end, start, KongTarget};
use kongrade::exec::standin::{MigrationRef, StandInOptions};
use kongrade::kong::catalog::{Catalog, Db};
use kongrade::kong::snapshot::SchemaMetaRow;
use kongrade::kong::state::{self, MigState, SchemaState};
use kongrade::kong::target::Target;
use kongrade::kong::version::Version;
use kongrade::store::memory::{MemoryDb, MemoryTables};
use tokio::sync::mpsc::unbounded_channel;

fn sh(script: &str) -> KongTarget {
    // The runner appends kong's arguments; after `sh -c SCRIPT sh` they are $1.., unused.
    KongTarget::Process {
        command_line: format!("sh -c '{script}' sh"),
        env: vec![],
    }
}

fn inv() -> Invocation {
    Invocation::new(KongCommand::Up)
}

#[tokio::test]
async fn lines_stream_as_they_come_in_order_before_the_exit() {
    let (tx, mut rx) = unbounded_channel();
    let h = start(
        &sh("echo one; sleep 0.6; echo two >&2; sleep 0.6; echo three"),
        &inv(),
        7,
        tx,
    );
    let t0 = Instant::now();
    let mut got: Vec<(Duration, RunEvent)> = Vec::new();
    while let Some((run, ev)) = rx.recv().await {
        assert_eq!(run, 7, "events carry the run id");
        let end = matches!(ev, RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. });
        got.push((t0.elapsed(), ev));
        if end {
            break;
        }
    }
    let events: Vec<&RunEvent> = got.iter().map(|(_, e)| e).collect();
    assert!(
        matches!(events[0], RunEvent::Started { command_line } if command_line.starts_with("sh -c "))
    );
    assert_eq!(
        events[1..].to_vec(),
        vec![
            &RunEvent::Line {
                stream: Stream::Stdout,
                text: "one".into()
            },
            &RunEvent::Line {
                stream: Stream::Stderr,
                text: "two".into()
            },
            &RunEvent::Line {
                stream: Stream::Stdout,
                text: "three".into()
            },
            &RunEvent::Exited {
                code: Some(0),
                signal: None
            },
        ]
    );
    let at = |i: usize| got[i].0;
    // "one" came while the child still had more than a second to live.
    assert!(at(4) - at(1) >= Duration::from_millis(1000), "{got:?}");
    assert!(at(2) - at(1) >= Duration::from_millis(400), "{got:?}");
    assert_eq!(
        h.wait().await,
        RunOutcome::Exited {
            code: Some(0),
            signal: None
        }
    );
}

#[tokio::test]
async fn exit_codes_and_spawn_failures() {
    let (events, o) = run_to_end(&sh("echo garbage; exit 2"), &inv(), |_| {}).await;
    assert_eq!(
        o,
        RunOutcome::Exited {
            code: Some(2),
            signal: None
        }
    );
    assert!(!o.success());
    assert_eq!(events.len(), 3);

    let missing = KongTarget::Process {
        command_line: "/nonexistent/bin/kong".into(),
        env: vec![],
    };
    let (events, o) = run_to_end(&missing, &inv(), |_| {}).await;
    assert!(matches!(&events[0], RunEvent::Started { .. }));
    match &o {
        RunOutcome::SpawnFailed { message } => {
            assert!(message.contains("/nonexistent/bin/kong"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(events.last(), Some(RunEvent::SpawnFailed { .. })));

    let broken = KongTarget::Process {
        command_line: "'unbalanced".into(),
        env: vec![],
    };
    let (_, o) = run_to_end(&broken, &inv(), |_| {}).await;
    assert!(matches!(o, RunOutcome::SpawnFailed { .. }));
}

/// Waits for the run's first stdout line (the child says it is ready), with a generous deadline.
async fn ready(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(u64, RunEvent)>) {
    let wait = async {
        while let Some((_, ev)) = rx.recv().await {
            if matches!(ev, RunEvent::Line { .. }) {
                return;
            }
        }
        panic!("the child ended before it was ready");
    };
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .expect("the child never said it was ready");
}

/// kongrade started with SIGINT ignored (a background job of a script, as CI may start it):
/// its kong must still end on the interrupt, since exec keeps an ignored signal ignored.
#[tokio::test]
async fn an_interrupt_reaches_kong_even_when_kongrade_ignores_sigint() {
    // SAFETY: sets this test process's SIGINT disposition; no memory involved. The other tests
    // of this binary start children, which the runner resets to the defaults anyway.
    let before = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let (tx, mut rx) = unbounded_channel();
    let one_process = KongTarget::Process {
        command_line: "perl -e '$|=1; print qq(ready\\n); sleep 600'".into(),
        env: vec![],
    };
    let h = start(&one_process, &inv(), 9, tx);
    // SAFETY: as above: the disposition is restored once the child has started.
    unsafe { libc::signal(libc::SIGINT, before) };
    ready(&mut rx).await;
    h.interrupt();
    let o = tokio::time::timeout(Duration::from_secs(120), h.wait())
        .await
        .expect("kong ignored the interrupt");
    assert_eq!(
        o,
        RunOutcome::Exited {
            code: None,
            signal: Some(libc::SIGINT)
        }
    );
}

#[tokio::test]
async fn interrupt_and_cancel_with_a_grace_period() {
    // A child that dies on SIGINT: ended by the signal, not by running its 600 s out.
    let (tx, mut rx) = unbounded_channel();
    // One process that says ready and then sleeps (perl, not `sh -c '...; sleep'`): a signal
    // that reaches a shell's fork before its `sleep` execs is lost, and the run would last 600 s.
    let one_process = KongTarget::Process {
        command_line: "perl -e '$|=1; print qq(ready\\n); sleep 600'".into(),
        env: vec![],
    };
    let h = start(&one_process, &inv(), 1, tx);
    ready(&mut rx).await;
    h.interrupt();
    let o = h.wait().await;
    assert_eq!(
        o,
        RunOutcome::Exited {
            code: None,
            signal: Some(libc::SIGINT)
        }
    );

    // A child that ignores SIGINT (once it has said so): SIGKILL after the grace period, not
    // before (a lower bound only: a busy machine can only make it later).
    let (tx, mut rx) = unbounded_channel();
    let h = start(
        &sh("trap \"\" INT; echo ready; sleep 600; echo survived"),
        &inv(),
        2,
        tx,
    );
    ready(&mut rx).await;
    let t = Instant::now();
    h.cancel(Duration::from_millis(700));
    let o = h.wait().await;
    let took = t.elapsed();
    assert_eq!(
        o,
        RunOutcome::Exited {
            code: None,
            signal: Some(libc::SIGKILL)
        }
    );
    assert!(took >= Duration::from_millis(650), "{took:?}");
}

#[tokio::test]
async fn secrets_travel_in_the_environment_only_and_children_get_their_own_group() {
    let secret = "s3cret-pw-4711";
    let kong = KongTarget::Process {
        command_line: "sh -c 'sleep 2' sh".into(),
        env: vec![("KONG_PG_PASSWORD".into(), secret.into())],
    };
    assert!(
        !format!("{kong:?}").contains(secret),
        "Debug hides env values"
    );
    let (tx, mut rx) = unbounded_channel();
    let h = start(&kong, &inv(), 3, tx);
    let pid = h.pid().expect("a pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !contains(&cmdline, secret),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(contains(&environ, &format!("KONG_PG_PASSWORD={secret}")));
    // Its own process group: a Ctrl-C in kongrade's terminal does not reach it.
    let pgid = unsafe { libc::getpgid(pid as i32) };
    assert_eq!(pgid, pid as i32);
    assert_ne!(pgid, unsafe { libc::getpgrp() });
    h.kill();
    let o = h.wait().await;
    assert_eq!(
        o,
        RunOutcome::Exited {
            code: None,
            signal: Some(libc::SIGKILL)
        }
    );
    while let Ok((_, ev)) = rx.try_recv() {
        if let RunEvent::Started { command_line } = ev {
            assert!(!command_line.contains(secret));
            assert_eq!(command_line, "sh -c 'sleep 2' sh migrations up");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The in-process stand-in against the training database

fn training_db_at(v: &str) -> MemoryDb {
    let rel = Catalog::embedded()
        .release(v.parse().unwrap())
        .expect("release");
    let mut meta = BTreeMap::new();
    for sub in &rel.subsystems {
        meta.insert(
            sub.name.clone(),
            SchemaMetaRow {
                key: "schema_meta".into(),
                subsystem: sub.name.clone(),
                last_executed: sub.migrations.last().map(|m| m.name.clone()),
                executed: Some(sub.migrations.iter().map(|m| m.name.clone()).collect()),
                pending: None,
            },
        );
    }
    MemoryDb::new(MemoryTables {
        schema_meta: Some(meta),
        ..MemoryTables::default()
    })
}

fn state_of(db: &MemoryDb, v: &str) -> SchemaState {
    let cat = Catalog::embedded();
    let rel = cat.release(v.parse().unwrap()).unwrap();
    let target = Target::from_release(rel, Db::Postgres, &["bundled".to_string()], &[], "test");
    state::compute(&target, &db.snapshot().unwrap(), cat)
}

fn opts(v: &str) -> StandInOptions {
    StandInOptions::new(v.parse::<Version>().unwrap())
}

fn lines(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Line { text, .. } => Some(format!("{text}\n")),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn in_process_up_then_finish_move_the_training_database_and_hold_the_lock() {
    let db = training_db_at("2.8.5");
    let mut o = opts("3.4.2");
    o.delay = Duration::from_millis(40);
    let kong = KongTarget::InProcess {
        db: db.clone(),
        opts: o,
    };
    let (tx, mut rx) = unbounded_channel();
    let h = start(&kong, &inv(), 11, tx);
    assert_eq!(h.pid(), None);
    // While it runs, the lock is live and migrations move one by one.
    let mut saw_lock = false;
    let mut saw_partial = false;
    while !h.is_finished() {
        let snap = db.snapshot().unwrap();
        if snap.lock.as_ref().is_some_and(|l| l.live) {
            saw_lock = true;
            let st = state_of(&db, "3.4.2");
            if st.any(MigState::New)
                && (st.any(MigState::Pending) || st.total(MigState::Executed) > 0)
            {
                saw_partial = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_lock && saw_partial);
    assert_eq!(
        h.wait().await,
        RunOutcome::Exited {
            code: Some(0),
            signal: None
        }
    );
    let mut events = Vec::new();
    while let Ok((run, ev)) = rx.try_recv() {
        assert_eq!(run, 11);
        events.push(ev);
    }
    assert_eq!(
        events[0],
        RunEvent::Started {
            command_line: "kong migrations up".into()
        }
    );
    let text = lines(&events);
    assert!(
        text.contains("core migrated up to: 016_280_to_300 (pending)\n"),
        "{text}"
    );
    assert!(text
        .ends_with("Database has pending migrations; run 'kong migrations finish' when ready\n"));
    let st = state_of(&db, "3.4.2");
    assert!(st.any(MigState::Pending) && !st.any(MigState::New));
    assert!(db.snapshot().unwrap().lock.is_none(), "released");

    let (events, out) = run_to_end(
        &KongTarget::InProcess {
            db: db.clone(),
            opts: opts("3.4.2"),
        },
        &Invocation::new(KongCommand::Finish),
        |_| {},
    )
    .await;
    assert!(out.success());
    assert!(lines(&events).ends_with("No pending migrations to finish\n"));
    let st = state_of(&db, "3.4.2");
    assert!(st.up_to_date(), "{st:?}");
    assert!(db.snapshot().unwrap().lock.is_none());
}

#[tokio::test]
async fn in_process_lock_contention_interrupt_and_death() {
    // Someone else's live lock: finish aborts at once, exit 0, nothing moves.
    let db = training_db_at("2.8.5");
    db.lock_tables().lock = Some(MemoryDb::lock_for("other", Duration::from_secs(30)));
    let kong = KongTarget::InProcess {
        db: db.clone(),
        opts: opts("3.4.2"),
    };
    let (events, out) = run_to_end(&kong, &Invocation::new(KongCommand::Finish), |_| {}).await;
    assert!(out.success());
    assert_eq!(
        lines(&events),
        "aborted: another node is performing database changes\n"
    );
    // up waits, then times out after --lock-timeout.
    let mut i = inv();
    i.lock_timeout = Some(1);
    let (events, out) = run_to_end(&kong, &i, |_| {}).await;
    assert_eq!(
        out,
        RunOutcome::Exited {
            code: Some(1),
            signal: None
        }
    );
    assert!(lines(&events).starts_with("Error: [PostgreSQL error] timeout\n"));
    assert!(state_of(&db, "3.4.2").any(MigState::New));

    // Interrupted mid-run: it stops where it stands, the lock row stays (as a killed Kong's).
    db.lock_tables().lock = None;
    let mut o = opts("3.4.2");
    o.delay = Duration::from_millis(100);
    let (tx, _rx) = unbounded_channel();
    let h = start(
        &KongTarget::InProcess {
            db: db.clone(),
            opts: o,
        },
        &inv(),
        12,
        tx,
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    h.interrupt();
    assert_eq!(
        h.wait().await,
        RunOutcome::Exited {
            code: None,
            signal: Some(libc::SIGINT)
        }
    );
    let st = state_of(&db, "3.4.2");
    assert!(st.any(MigState::New), "stopped part way");
    assert!(
        st.any(MigState::Pending),
        "core's first new migration went pending"
    );
    assert!(st.lock_live());

    // --die-at: the same as a kill, at a chosen migration.
    let db = training_db_at("2.8.5");
    let mut o = opts("3.4.2");
    o.die_at = Some(MigrationRef {
        subsystem: "core".into(),
        name: "018_310_to_320".into(),
    });
    let (events, out) = run_to_end(
        &KongTarget::InProcess {
            db: db.clone(),
            opts: o,
        },
        &inv(),
        |_| {},
    )
    .await;
    assert_eq!(
        out,
        RunOutcome::Exited {
            code: None,
            signal: Some(libc::SIGKILL)
        }
    );
    assert!(lines(&events).ends_with("core migrated up to: 017_300_to_310 (executed)\n"));
    let st = state_of(&db, "3.4.2");
    let core = st.subsystem("core").unwrap();
    assert_eq!(core.names(MigState::Pending), vec!["016_280_to_300"]);
    assert!(core
        .names(MigState::New)
        .contains(&"018_310_to_320".to_string()));
    assert!(st.lock_live());
}
