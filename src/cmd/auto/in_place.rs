//! `--strategy in-place` (Kong's in-place guide, kong-upgrades.md 1.3): configuration writes
//! frozen (the operator says so with `--writes-frozen`), every old node stopped (the gate: none
//! of their Admin APIs answers), then `up` and `finish` on the same database, then the new nodes
//! probed (`--new-admin-url`: `GET /` answers the target version) and smoke-tested through their
//! proxy (`--smoke METHOD URL STATUS`, as dual-cluster's). The downtime is counted from the gate
//! to done, across resumed runs, and shown as a running clock while it lasts; the rollback is the
//! verified backup, its exact command.

use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use serde_json::json;

use super::report::Reporter;
use super::{exit, stop, AutoArgs, FinishMode, Phase, Session, Stopped};
use crate::contract::journal::{Event, ReadBack};
use crate::exec::datadir::{now_secs, parse_utc_stamp};
use crate::exec::probe;
use crate::kong::nodes::{self, NodeClass};
use crate::kong::policy::{BackupRef, RunCommand};
use crate::kong::strategy;
use crate::kong::version::Version;

use crate::kong::in_place::{GATE_STEP, NEW_NODES_STEP, SMOKE_STEP};

/// How often the running downtime clock prints a line.
const CLOCK_EVERY: Duration = Duration::from_secs(5);

/// The gate passed: when the downtime began (seconds since the epoch, the journal's clock), and
/// the clock printing it while the proxy is down.
pub(super) struct Gate {
    pub since: u64,
    clock: tokio::task::JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.clock.abort();
    }
}

/// A line every [`CLOCK_EVERY`] with the downtime so far, where auto's progress goes (stderr
/// under --json), between kong's lines, until the gate is dropped.
fn start_clock(since: u64, json: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CLOCK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            let line = format!(
                "  {}",
                strategy::downtime_line(now_secs().saturating_sub(since))
            );
            if json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
    })
}

/// In-place runs `finish` right after `up`: every old node is already stopped.
pub(super) fn args_for(args: &AutoArgs) -> AutoArgs {
    AutoArgs {
        finish: FinishMode::Always,
        ..args.clone()
    }
}

/// The preconditions and the gate, before anything runs: writes frozen, the old nodes' Admin
/// APIs known, none answering.
pub(super) async fn begin(
    s: &mut Session,
    args: &AutoArgs,
    rep: &mut Reporter,
) -> Result<Phase<Gate>> {
    if !args.writes_frozen {
        return Ok(Err(stop(
            exit::IN_PLACE_PRECONDITION,
            "in_place_writes_not_frozen",
            "In-place needs configuration writes frozen for the whole upgrade (Kong's guide: no Admin API, Kong Manager or decK changes, no direct database edits, until it is complete). Freeze them, then run again with --writes-frozen. Nothing was run.",
        )));
    }
    // The gate tells old nodes from new ones by the target version: without it every Kong that
    // answers would pass as new, and up would run while old nodes serve.
    if s.ctx.target.version.is_none() {
        return Ok(Err(stop(
            exit::IN_PLACE_PRECONDITION,
            "in_place_target_unknown",
            "In-place proves every old node stopped by telling old versions from the target's, and the target version is not known (--kong-lua-path names no release): pass --target-version X.Y.Z. Nothing was run.",
        )));
    }
    if let Some(why) = crate::kong::in_place::smoke_refusal(
        !args.dual.smoke.is_empty(),
        !args.new_admin_urls.is_empty(),
    ) {
        return Ok(Err(stop(
            exit::IN_PLACE_PRECONDITION,
            "in_place_smoke_without_new_nodes",
            why,
        )));
    }
    let urls = match crate::cmd::nodes::sources(
        &args.nodes.admin_urls,
        args.nodes.nodes_file.as_deref(),
    ) {
        Ok((urls, _)) => urls,
        Err(e) => {
            return Ok(Err(stop(
                exit::IN_PLACE_PRECONDITION,
                "in_place_nodes_unknown",
                format!("The old nodes cannot be listed: {e:#}. Nothing was run."),
            )))
        }
    };
    if urls.is_empty() {
        return Ok(Err(stop(
            exit::IN_PLACE_PRECONDITION,
            "in_place_nodes_unknown",
            "In-place runs `up` only once every old node is stopped, and kongrade must prove none answers: give each old node's Admin API with --admin-url URL (repeatable) or a nodes file (--nodes-file). Nothing was run.",
        )));
    }
    let target = s.ctx.target.version.unwrap_or(Version::new(0, 0, 0));
    let answers =
        futures::future::join_all(urls.iter().map(|u| probe::probe(u, &args.nodes.probe))).await;
    let answering: Vec<String> = urls
        .iter()
        .zip(&answers)
        .filter_map(|(u, a)| match nodes::classify(a, target) {
            NodeClass::Unreachable { .. } => None,
            // A node of the target version is not an old one (a rerun after `finish`).
            NodeClass::New { .. } => None,
            c => Some(format!("{u}: {}", c.label())),
        })
        .collect();
    if !answering.is_empty() {
        return Ok(Err(stop(
            exit::IN_PLACE_PRECONDITION,
            "in_place_old_nodes_answer",
            format!(
                "In-place: old nodes still answer, so `up` does not run:\n  - {}\nStop every old node (the proxy's downtime starts then), then run kongrade auto again. Nothing was run.",
                answering.join("\n  - ")
            ),
        )));
    }
    let entry = s.journal.append(Event::Step {
        step: GATE_STEP.into(),
        phase: "done".into(),
        detail: Some(format!(
            "none of {} old node Admin API(s) answers: {}",
            urls.len(),
            urls.join(", ")
        )),
    })?;
    // A resumed upgrade's downtime began at its first gate.
    let since = first_gate(&s.earlier)
        .or_else(|| parse_utc_stamp(&entry.at))
        .unwrap_or_else(now_secs);
    rep.say(&format!(
        "In-place: no old node answers ({} Admin API(s) probed); downtime counted from {}.",
        urls.len(),
        crate::exec::datadir::utc_stamp(since).0
    ));
    Ok(Ok(Gate {
        since,
        clock: start_clock(since, args.json),
    }))
}

fn first_gate(rb: &ReadBack) -> Option<u64> {
    rb.entries.iter().find_map(|e| match &e.event {
        Event::Step { step, phase, .. } if step == GATE_STEP && phase == "done" => {
            parse_utc_stamp(&e.at)
        }
        _ => None,
    })
}

/// After the migrations: the new nodes proven (when given), the downtime, the rollback.
pub(super) async fn end(
    s: &mut Session,
    args: &AutoArgs,
    gate: &Gate,
    mut stopped: Stopped,
    rep: &mut Reporter,
) -> Result<Stopped> {
    let mut new_nodes = Vec::new();
    let mut smokes = Vec::new();
    if stopped.code == exit::UP_TO_DATE {
        if args.new_admin_urls.is_empty() {
            stopped.message.push('\n');
            stopped
                .message
                .push_str(crate::kong::in_place::NO_NEW_NODES);
        } else {
            match prove_new_nodes(s, args, rep).await? {
                Ok(seen) => {
                    new_nodes = seen;
                    let (ran, failed) = smoke_tests(s, args, rep).await?;
                    smokes = ran;
                    if !failed.is_empty() {
                        stopped = stop(
                            exit::NEW_NODES_UNPROVEN,
                            "in_place_smoke_failed",
                            format!(
                                "Database is up to date and the new nodes answer Kong {}, but smoke tests failed:\n  - {}\nSend them no traffic: fix them (or roll back with the restore below), then run kongrade auto again: the migrations will not run again.",
                                s.ctx.target.version.map(|v| v.to_string()).unwrap_or_default(),
                                failed.join("\n  - ")
                            ),
                        );
                    }
                }
                Err(why) => {
                    stopped = stop(
                        exit::NEW_NODES_UNPROVEN,
                        "new_nodes_unproven",
                        format!(
                            "Database is up to date, but the new nodes are not proven:\n  - {}\nStart them (or fix them), then run kongrade auto again: the migrations will not run again.",
                            why.join("\n  - ")
                        ),
                    );
                }
            }
        }
    }
    gate.clock.abort();
    let downtime = now_secs().saturating_sub(gate.since);
    let done = stopped.code == exit::UP_TO_DATE;
    stopped.message.push_str(&format!(
        "\nDowntime{}: {} (from the old nodes stopped at {}{}).",
        if done { "" } else { " so far" },
        strategy::clock(downtime),
        crate::exec::datadir::utc_stamp(gate.since).0,
        if done {
            " to the new nodes proven"
        } else {
            "; the proxy is down until new nodes serve"
        }
    ));
    let rollback = rollback(s);
    stopped.message.push_str(&format!(
        "\n\nRollback (in-place):\n{}",
        rollback.guidance()
    ));
    rep.header["in_place"] = json!({
        "downtime_secs": downtime,
        "old_nodes_stopped_at": crate::exec::datadir::utc_stamp(gate.since).0,
        "new_nodes": new_nodes,
        "smoke": smokes,
        "rollback": rollback,
    });
    Ok(stopped)
}

/// Probes every `--new-admin-url` until each answers the target version, for up to
/// `--new-nodes-wait` seconds. `Err`: what each unproven node last answered.
async fn prove_new_nodes(
    s: &mut Session,
    args: &AutoArgs,
    rep: &Reporter,
) -> Result<std::result::Result<Vec<String>, Vec<String>>> {
    let target = s.ctx.target.version.unwrap_or(Version::new(0, 0, 0));
    let deadline = Instant::now() + Duration::from_secs(args.new_nodes_wait);
    rep.say(&format!(
        "New nodes: waiting up to {} s for {} Admin API(s) to answer Kong {target}",
        args.new_nodes_wait,
        args.new_admin_urls.len()
    ));
    let result = loop {
        let answers = futures::future::join_all(
            args.new_admin_urls
                .iter()
                .map(|u| probe::probe(u, &args.nodes.probe)),
        )
        .await;
        let classes: Vec<NodeClass> = answers.iter().map(|a| nodes::classify(a, target)).collect();
        let verdict = crate::kong::in_place::judge_new_nodes(
            args.new_admin_urls.iter().map(String::as_str).zip(&classes),
        );
        if verdict.is_ok() || Instant::now() >= deadline {
            break verdict;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (phase, detail) = crate::kong::in_place::new_nodes_entry(&result);
    for l in detail.split(", ") {
        rep.say(&format!("  {l}"));
    }
    s.journal.append(Event::Step {
        step: NEW_NODES_STEP.into(),
        phase: phase.into(),
        detail: Some(detail),
    })?;
    Ok(result)
}

/// `--smoke` through the new nodes' proxy, once they answer (each run once: a failure is not
/// retried), journaled. Returns each test's result for the JSON report, and the failures.
async fn smoke_tests(
    s: &mut Session,
    args: &AutoArgs,
    rep: &Reporter,
) -> Result<(Vec<serde_json::Value>, Vec<String>)> {
    let mut ran = Vec::new();
    let mut failed = Vec::new();
    if args.dual.smoke.is_empty() {
        return Ok((ran, failed));
    }
    for r in super::dual_cluster::run_smokes(&args.dual.smoke, args.nodes.probe.timeout).await {
        match r.verdict() {
            Ok(line) => rep.say(&format!("  {line}")),
            Err(problem) => failed.push(problem),
        }
        let t = &r.test;
        ran.push(json!({
            "method": t.method,
            "url": t.url,
            "expected": t.status,
            "status": r.got.as_ref().ok(),
            "error": r.got.as_ref().err(),
        }));
    }
    for f in &failed {
        rep.say(&format!("  SMOKE FAILED: {f}"));
    }
    let (phase, detail) = crate::kong::in_place::smoke_entry(ran.len(), &failed);
    s.journal.append(Event::Step {
        step: SMOKE_STEP.into(),
        phase: phase.into(),
        detail: Some(detail),
    })?;
    Ok((ran, failed))
}

/// The in-place rollback from what this upgrade's journal recorded: before any `up`, start the
/// old nodes again; after, the verified backup with its exact restore command.
fn rollback(s: &Session) -> crate::kong::policy::Rollback {
    use crate::kong::policy::Rollback;
    let rb = crate::exec::journal::read(&s.journal.path).unwrap_or_default();
    let h = rb.history(crate::exec::backup::record_still_matches);
    let migrated = h
        .runs
        .iter()
        .any(|r| matches!(r.command, RunCommand::Up | RunCommand::Finish));
    if !migrated {
        return Rollback::InPlaceStartOldNodes;
    }
    let record = rb.entries.iter().rev().find_map(|e| match &e.event {
        Event::Backup { record } => Some(record.clone()),
        _ => None,
    });
    let backup = match (h.backup, record) {
        (Some(b), Some(r)) => Some(BackupRef {
            restore: s
                .ctx
                .conn
                .pg()
                .map(|pg| crate::exec::backup::restore_command(pg, &r.file)),
            ..b
        }),
        (b, _) => b,
    };
    Rollback::InPlaceRestore { backup }
}
