//! `kongrade rehearse`: the upgrade tried on a copy. The source is cloned into a scratch
//! database (see `exec::clone`: streamed, proven), the target kong runs `up` and `finish` there
//! with the clone's connection in its environment, and `schema_meta` is polled meanwhile so
//! each migration's time is known. The scratch database is dropped unless `--keep`. The result
//! goes to the source's upgrade journal (the wizard shows it) and to stdout, human or JSON.
//!
//! The source is only read: the clone's read-only session and pg_dump; kong never sees it.

use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, Result};

use super::context::{Connection, Context};
use super::Code;
use crate::cmd::auto::hops::{self, Hop};
use crate::contract::clone::{human_ms, RehearsalRecord, RehearsedStep, Sightings};
use crate::contract::journal::Event;
use crate::contract::{Invocation, KongCommand, RunEvent, RunOutcome, Stream};
use crate::exec::clone::{self, CloneSpec};
use crate::exec::datadir;
use crate::exec::journal::Journal;
use crate::exec::runner::{self, KongTarget};
use crate::kong::policy::exit;
use crate::kong::snapshot::Snapshot;
use crate::kong::state::{self, MigState};
use crate::store::postgres::{PgOptions, PgStore};

/// How often `schema_meta` is read while kong runs.
const POLL: Duration = Duration::from_millis(100);
/// Lines of kong's output kept for a failed step.
const OUTPUT_KEPT: usize = 40;

/// `kongrade rehearse`'s flags as plain values.
#[derive(Debug, Clone, Default)]
pub struct RehearseArgs {
    pub clone: CloneSpec,
    pub keep: bool,
    pub json: bool,
    pub db_timeout: Option<u64>,
    pub lock_timeout: Option<u64>,
}

/// The scratch database's default name: the source's, with `_rehearsal_` and the time (63
/// bytes at most, PostgreSQL's limit).
pub fn scratch_name(source_db: &str, stamp: &str) -> String {
    let tail = format!("_rehearsal_{}", stamp.to_lowercase());
    let keep = 63usize.saturating_sub(tail.len());
    let head: String = source_db.chars().take(keep).collect();
    format!("{head}{tail}")
}

/// What is recorded in `schema_meta` (executed, and pending too when `with_pending`), in order.
fn recorded(snap: &Snapshot, with_pending: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in snap.schema_meta.iter().flatten() {
        if r.key != "schema_meta" {
            continue;
        }
        let lists = [
            r.executed.as_ref(),
            if with_pending {
                r.pending.as_ref()
            } else {
                None
            },
        ];
        for names in lists.into_iter().flatten() {
            out.extend(names.iter().map(|n| (r.subsystem.clone(), n.clone())));
        }
    }
    out
}

struct Printer {
    json: bool,
}

impl Printer {
    /// Progress: stdout, or stderr when stdout carries the JSON.
    fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

pub async fn run(conn: Connection, args: &RehearseArgs) -> Result<Code> {
    let out = Printer { json: args.json };
    let source = conn.pg().cloned().ok_or_else(|| {
        eyre!("kongrade rehearse needs PostgreSQL (pg_dump and pg_restore make the clone)")
    })?;
    let ctx = Context::new(conn).await?;
    ctx.ensure_supported()?;
    let (_, stamp) = datadir::utc_stamp(datadir::now_secs());
    let target = args
        .clone
        .resolve(&source, Some(&scratch_name(&source.database, &stamp)))?;
    // The journal first: a second kongrade on this upgrade stops the rehearsal before the clone.
    // One kong per hop with a template: each hop's kong checked before anything is cloned.
    let plan = {
        let state = ctx.read_state().await?;
        crate::kong::plan::plan_with(
            &state,
            &ctx.target,
            ctx.catalog,
            ctx.db,
            &crate::kong::plan::PlanOptions::default(),
        )
    };
    let hops = hops::walk(&ctx, &plan).await?.map_err(|why| eyre!(why))?;
    // A kong run by `docker exec` and the like never sees the clone's connection.
    if let Some(why) = hops::clone_unreachable(&ctx.conn.kong(), &hops) {
        return Err(eyre!(why));
    }
    let jdir = datadir::sub_dir("journal")?;
    let (mut journal, _, _) = Journal::open_for(&jdir, &ctx.conn.endpoint.identity())?;
    journal.append(Event::Note {
        text: format!(
            "kongrade rehearse: target {}, clone {}",
            ctx.target
                .version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "of the Lua tree".into()),
            target.describe()
        ),
    })?;
    out.say(&format!("kongrade rehearse\n{}", ctx.header()));
    out.say(&format!(
        "Cloning {} into {}...",
        source.describe(),
        target.describe()
    ));
    let rec = clone::clone_database(&source, &target, args.clone.replace, |l| out.say(l)).await?;
    out.say(&clone::proven_line(&rec));

    let on_clone = |kong: KongTarget| hops::on_clone(&kong, &target);
    let started_at = datadir::utc_stamp(datadir::now_secs()).0;
    let steps = if hops.is_empty() {
        let kong = on_clone(ctx.conn.kong());
        rehearse_steps(&ctx, &ctx.target, None, &kong, &source, &target, args, &out).await
    } else {
        out.say(&format!(
            "Path: {}, one kong per hop; each hop is proven on the clone before the next starts.",
            hops.iter()
                .map(|h| h.version.to_string())
                .collect::<Vec<_>>()
                .join(" -> ")
        ));
        walk_hops(&ctx, &hops, &on_clone, &source, &target, args, &out).await
    };
    let kept = args.keep;
    // Only a database this run created is dropped: one an administrator made for it (a role
    // without CREATEDB) stays, or the next rehearsal could not run.
    let created = rec.created;
    let dropped = if kept || !created {
        None
    } else {
        Some(clone::drop_database(&target).await)
    };
    let steps = steps?;
    let record = RehearsalRecord {
        at: started_at,
        target: ctx.target.version.map(|v| v.to_string()),
        kong_cmd: ctx.conn.kong_cmd.clone(),
        ok: steps.iter().all(|s| s.ok),
        clone: rec,
        steps,
        kept,
    };
    journal.append(Event::Rehearsed {
        record: Box::new(record.clone()),
    })?;
    out.say("");
    for s in &record.steps {
        out.say(&format!(
            "{}: {} ({}), {} migration(s)",
            s.command,
            human_ms(s.ms),
            s.outcome,
            s.migrations.len()
        ));
        for m in &s.migrations {
            out.say(&format!(
                "  {}/{}  {}",
                m.subsystem,
                m.migration,
                human_ms(m.ms)
            ));
        }
        if !s.ok {
            out.say("  kong's output:");
            for l in &s.output {
                out.say(&format!("  | {l}"));
            }
        }
    }
    for (label, ms) in hop_times(&record.steps) {
        out.say(&format!("{label}: {}", human_ms(ms)));
    }
    out.say(&format!("\n{}", record.summary()));
    match dropped {
        None if !kept => out.say(&format!(
            "The scratch database {} existed before this rehearsal, so it was not dropped: it now holds the rehearsed copy. The next rehearsal into it needs --clone-replace (or empty it).",
            target.describe()
        )),
        None => out.say(&format!(
            "The scratch database {} is kept (--keep): drop it when done (DROP DATABASE \"{}\";).",
            target.describe(),
            target.database
        )),
        Some(Ok(())) => out.say(&format!(
            "The scratch database {} was dropped.",
            target.describe()
        )),
        Some(Err(e)) => out.say(&format!("{e:#}")),
    }
    if args.json {
        let v = serde_json::json!({
            "result": if record.ok { "ok" } else { "kong_failed" },
            "summary": record.summary(),
            "rehearsal": record,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(if record.ok {
        exit::UP_TO_DATE
    } else {
        exit::KONG_FAILED
    })
}

/// Each hop's `up` and `finish` on the clone with that hop's kong, the hop proven (every
/// migration of its release executed) before the next; stops at the first failure. Each step is
/// labelled with its hop (`up (Kong 3.4.2)`).
async fn walk_hops(
    ctx: &Context,
    hops: &[Hop],
    on_clone: &dyn Fn(KongTarget) -> KongTarget,
    source: &PgOptions,
    clone_db: &PgOptions,
    args: &RehearseArgs,
    out: &Printer,
) -> Result<Vec<RehearsedStep>> {
    let store = PgStore::connect(clone_db)
        .await
        .map_err(|e| eyre!("the clone: {e}"))?;
    let n = hops.len();
    let mut steps = Vec::new();
    for (i, hop) in hops.iter().enumerate() {
        let label = hops::label(i, n, hop.version);
        out.say(&format!("\n== {}", hops::capital(&label)));
        let kong = on_clone(hop.kong.clone());
        let tag = format!("Kong {}", hop.version);
        let these = rehearse_steps(
            ctx,
            &hop.target,
            Some(&tag),
            &kong,
            source,
            clone_db,
            args,
            out,
        )
        .await?;
        let failed = these.iter().any(|s| !s.ok);
        steps.extend(these);
        if failed {
            break;
        }
        let snap = store
            .snapshot()
            .await
            .map_err(|e| eyre!("the clone: {e}"))?;
        if let Err(why) = hops::Proof::of(hop, &snap, ctx.catalog).verdict {
            steps.push(RehearsedStep {
                command: format!("proof ({tag})"),
                ms: 0,
                ok: false,
                outcome: format!("not every migration executed: {why}"),
                migrations: Vec::new(),
                output: Vec::new(),
            });
            break;
        }
        out.say(&format!(
            "  Proven on the clone: every migration of Kong {} is executed.",
            hop.version
        ));
    }
    Ok(steps)
}

/// The time of each hop (`up (Kong 3.4.2)` and `finish (Kong 3.4.2)` together), in order; empty
/// for a rehearsal of one kong.
fn hop_times(steps: &[RehearsedStep]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for s in steps {
        let Some(hop) = s
            .command
            .split_once(" (")
            .map(|(_, h)| h.trim_end_matches(')'))
        else {
            continue;
        };
        let label = format!("{hop} hop");
        match out.last_mut() {
            Some((l, ms)) if *l == label => *ms += s.ms,
            _ => out.push((label, s.ms)),
        }
    }
    out
}

/// `up` (when the clone has new migrations) then `finish` (when it has pending ones), each
/// timed; stops at the first failure. `hop`: the label of the hop they belong to.
#[allow(clippy::too_many_arguments)]
async fn rehearse_steps(
    ctx: &Context,
    target: &crate::kong::target::Target,
    hop: Option<&str>,
    kong: &KongTarget,
    source: &PgOptions,
    clone_db: &PgOptions,
    args: &RehearseArgs,
    out: &Printer,
) -> Result<Vec<RehearsedStep>> {
    let store = PgStore::connect(clone_db)
        .await
        .map_err(|e| eyre!("the clone: {e}"))?;
    let mut steps = Vec::new();
    for command in [KongCommand::Up, KongCommand::Finish] {
        let snap = store
            .snapshot()
            .await
            .map_err(|e| eyre!("the clone: {e}"))?;
        let st = state::compute(target, &snap, ctx.catalog);
        if st.needs_bootstrap {
            return Err(eyre!(
                "the clone has no Kong schema to migrate (needs bootstrap): nothing to rehearse"
            ));
        }
        let due = match command {
            KongCommand::Up => st.total(MigState::New),
            _ => st.total(MigState::Pending),
        };
        if due == 0 {
            out.say(&format!(
                "\nkong migrations {}: nothing to do on the clone.",
                command.as_str()
            ));
            continue;
        }
        let inv = Invocation {
            command,
            conf: ctx.conn.conf_path.clone(),
            db_timeout: args.db_timeout,
            lock_timeout: args.lock_timeout,
            force: false,
        };
        out.say(&format!(
            "\nkong migrations {} on the clone ({due} migration(s))",
            command.as_str()
        ));
        let source_before = clone::source_schema_meta(source).await?;
        let mut step = timed_step(kong, &inv, &store, snap, out).await;
        if let Some(h) = hop {
            step.command = format!("{} ({h})", step.command);
        }
        if clone::source_schema_meta(source).await? != source_before {
            return Err(eyre!(clone::source_changed_message(
                source,
                command.as_str()
            )));
        }
        let ok = step.ok;
        steps.push(step);
        if !ok {
            break;
        }
    }
    Ok(steps)
}

/// One kong run, `schema_meta` polled meanwhile.
async fn timed_step(
    kong: &KongTarget,
    inv: &Invocation,
    store: &PgStore,
    before: Snapshot,
    out: &Printer,
) -> RehearsedStep {
    // `up` records a migration as executed or pending; `finish` moves pending to executed.
    let with_pending = inv.command == KongCommand::Up;
    let mut seen = Sightings::new(&recorded(&before, with_pending));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let began = Instant::now();
    let handle = runner::start(kong, inv, 0, tx);
    let mut output: Vec<String> = Vec::new();
    let mut tick = tokio::time::interval(POLL);
    let outcome = loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some((_, RunEvent::Started { command_line })) => out.say(&format!("  $ {command_line}")),
                Some((_, RunEvent::Line { stream, text })) => {
                    out.say(&format!("  {} {text}", if stream == Stream::Stdout { "|" } else { "!" }));
                    output.push(text);
                }
                Some((_, ev @ (RunEvent::Exited { .. } | RunEvent::SpawnFailed { .. }))) => {
                    break RunOutcome::from_event(&ev).unwrap_or(RunOutcome::SpawnFailed {
                        message: "no outcome".into(),
                    });
                }
                None => break handle.wait().await,
            },
            _ = tick.tick() => {
                if let Ok(snap) = store.snapshot().await {
                    seen.observe(&recorded(&snap, with_pending), began.elapsed().as_millis() as u64);
                }
            }
        }
    };
    let ms = began.elapsed().as_millis() as u64;
    // What kong recorded after the last poll ended with it.
    if let Ok(snap) = store.snapshot().await {
        seen.observe(&recorded(&snap, with_pending), ms);
    }
    let ok = outcome.success();
    let keep_from = output.len().saturating_sub(OUTPUT_KEPT);
    RehearsedStep {
        command: inv.command.as_str().to_string(),
        ms,
        ok,
        outcome: outcome.describe(),
        migrations: seen.timings,
        output: if ok {
            Vec::new()
        } else {
            output.split_off(keep_from)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hops_time_is_its_steps_together() {
        let step = |command: &str, ms: u64| RehearsedStep {
            command: command.into(),
            ms,
            ok: true,
            outcome: "exit code 0".into(),
            migrations: Vec::new(),
            output: Vec::new(),
        };
        let steps = [
            step("up (Kong 3.4.2)", 2000),
            step("finish (Kong 3.4.2)", 500),
            step("up (Kong 3.5.0)", 300),
        ];
        assert_eq!(
            hop_times(&steps),
            [
                ("Kong 3.4.2 hop".to_string(), 2500),
                ("Kong 3.5.0 hop".to_string(), 300)
            ]
        );
        assert!(hop_times(&[step("up", 1)]).is_empty());
    }

    #[test]
    fn the_scratch_name_fits_postgresql() {
        assert_eq!(
            scratch_name("kong", "20261201T123000Z"),
            "kong_rehearsal_20261201t123000z"
        );
        let long = "k".repeat(80);
        let n = scratch_name(&long, "20261201T123000Z");
        assert_eq!(n.len(), 63);
        assert!(n.ends_with("_rehearsal_20261201t123000z"));
    }
}
