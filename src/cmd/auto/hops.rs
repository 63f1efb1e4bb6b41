//! One kong per hop (`--kong-cmd-template`, `--kong-image`): a path through several releases
//! (2.8.5 -> 3.4.2 -> 3.9.3) runs each release's `up` and `finish` with that release's own kong,
//! and each hop is proven from the database (every migration of the release executed, nothing
//! pending) before the next one starts. Kong's `up` refuses while migrations are pending, and a
//! multi-version jump in one `up` is what Kong does not support, so a hop is never skipped.

use color_eyre::eyre::{eyre, Result};

use super::report::Reporter;
use super::{exit, stop, Phase, Session};
use crate::contract::journal::Event;
use crate::contract::StateSummary;
use crate::exec::kong_target;
use crate::exec::runner::KongTarget;
use crate::kong::plan::{Plan, StepKind};
use crate::kong::state::MigState;
use crate::kong::target::Target;
use crate::kong::version::Version;

/// One release of the path: its migrations and its kong.
pub(crate) struct Hop {
    pub version: Version,
    pub target: Target,
    pub kong: KongTarget,
}

/// The Kong versions whose kong runs a step of `plan`, in order (a finish of an earlier `up`
/// runs with the kong that ran it).
pub(crate) fn versions(plan: &Plan) -> Vec<Version> {
    let mut out: Vec<Version> = Vec::new();
    for s in &plan.steps {
        let runs = matches!(
            s.kind,
            StepKind::Bootstrap | StepKind::FinishPrevious | StepKind::Up | StepKind::Finish
        );
        if let Some(v) = s.kong_version.filter(|_| runs) {
            if out.last() != Some(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// The hops to walk, each with its kong (checked with `kong version` before anything runs, so a
/// missing image or a wrong tag stops here, not half way). Empty: one kong for the whole run,
/// the session's own (no template, or a path of one release).
pub(super) async fn path(s: &Session, plan: &Plan, rep: &mut Reporter) -> Result<Phase<Vec<Hop>>> {
    let hops = match walk(&s.ctx, plan).await? {
        Ok(h) => h,
        Err(why) => return Ok(Err(stop(exit::KONG_FAILED, "kong_failed", why))),
    };
    if let (Some(template), false) = (&s.ctx.conn.kong_template, hops.is_empty()) {
        let shown = hops
            .iter()
            .map(|h| h.version.to_string())
            .collect::<Vec<_>>()
            .join(" -> ");
        rep.say(&format!(
            "Path: {shown}, one kong per hop ({}); each hop is proven from the database before the next starts.",
            template.template()
        ));
        rep.header["hops"] = serde_json::json!(hops
            .iter()
            .map(|h| h.version.to_string())
            .collect::<Vec<_>>());
    }
    Ok(Ok(hops))
}

/// The hops of `plan` for `ctx`'s kong template, each with its kong, nothing run. Empty: no
/// template, or a path of one release.
pub(crate) fn planned(ctx: &crate::cmd::context::Context, plan: &Plan) -> Result<Vec<Hop>> {
    let Some(template) = &ctx.conn.kong_template else {
        return Ok(Vec::new());
    };
    let vs = versions(plan);
    if vs.len() < 2 {
        return Ok(Vec::new());
    }
    let last = ctx.target.version;
    vs.iter()
        .map(|v| {
            let target = if Some(*v) == last {
                ctx.target.clone()
            } else {
                let rel = ctx.catalog.release(*v).ok_or_else(|| {
                    eyre!("Kong {v}, a release of the path, is not in kongrade's catalog")
                })?;
                Target::from_release(rel, ctx.db, &ctx.conn.conf.plugins, &[], "catalog")
            };
            Ok(Hop {
                version: *v,
                target,
                kong: template.kong_for(*v),
            })
        })
        .collect()
}

/// The hops of `plan` for `ctx`'s kong template ([`planned`]), each kong checked (`Err`: why one
/// cannot run, nothing was run). Empty: no template, or a path of one release. Shared by auto,
/// its dual-cluster procedure (on the clone) and rehearse.
pub(crate) async fn walk(
    ctx: &crate::cmd::context::Context,
    plan: &Plan,
) -> Result<std::result::Result<Vec<Hop>, String>> {
    let hops = planned(ctx, plan)?;
    let last = ctx.target.version;
    for h in hops.iter().filter(|h| Some(h.version) != last) {
        let (v, shown) = (h.version, line_of(&h.kong).unwrap_or_default());
        match kong_target::version_of(&h.kong).await {
            Ok(kv) if kv == v => {}
            Ok(kv) => {
                return Ok(Err(format!(
                    "the kong for the Kong {v} hop ('{shown}') says it is Kong {kv}: fix --kong-cmd-template (or the image's tags). Nothing was run."
                )))
            }
            Err(e) => {
                return Ok(Err(format!(
                    "cannot run the kong for the Kong {v} hop ('{shown}'): {e:#}. Nothing was run."
                )))
            }
        }
    }
    Ok(Ok(hops))
}

fn line_of(k: &KongTarget) -> Option<String> {
    match k {
        KongTarget::Process { command_line, .. } => Some(command_line.clone()),
        KongTarget::InProcess { .. } => None,
    }
}

/// Why one of the kongs that would run on a clone cannot be pointed at it, if one cannot: each
/// hop's (`--kong-cmd-template`, `--kong-image`), named by its hop, then the session's, all
/// judged by the same rule ([`crate::exec::clone::env_unreachable`]) before anything is cloned.
pub(crate) fn clone_unreachable(session: &KongTarget, hops: &[Hop]) -> Option<String> {
    hops.iter()
        .find_map(|h| {
            let why = crate::exec::clone::env_unreachable(&line_of(&h.kong)?)?;
            Some(format!("the kong for the Kong {} hop: {why}", h.version))
        })
        .or_else(|| line_of(session).and_then(|l| crate::exec::clone::env_unreachable(&l)))
}

/// [`clone_unreachable`] for `ctx`'s kongs on `plan`'s path (`None`: not known, the session's
/// kong alone), nothing run: the wizard's check before it takes a clone, the one auto and
/// rehearse make.
pub(crate) fn clone_reach(
    ctx: &crate::cmd::context::Context,
    plan: Option<&Plan>,
) -> Result<Option<String>> {
    let hops = match plan {
        Some(p) => planned(ctx, p)?,
        None => Vec::new(),
    };
    Ok(clone_unreachable(&ctx.conn.kong(), &hops))
}

/// `kong` pointed at the clone `target`: the clone's connection in its environment.
pub(crate) fn on_clone(
    kong: &KongTarget,
    target: &crate::store::postgres::PgOptions,
) -> KongTarget {
    match kong {
        KongTarget::Process { command_line, env } => KongTarget::Process {
            command_line: command_line.clone(),
            env: crate::exec::clone::with_clone_env(env, target),
        },
        other => other.clone(),
    }
}

/// `Hop i of n (Kong v)`.
pub(crate) fn label(i: usize, n: usize, v: Version) -> String {
    format!("hop {} of {n} (Kong {v})", i + 1)
}

/// Points the session at the hop: its migrations, its kong, the state read against them.
pub(super) async fn enter(
    s: &mut Session,
    hop: &Hop,
    i: usize,
    n: usize,
    rep: &mut Reporter,
) -> Result<Phase<()>> {
    s.ctx.target = hop.target.clone();
    s.kong = hop.kong.clone();
    let command_line = match &hop.kong {
        KongTarget::Process { command_line, .. } => command_line.clone(),
        KongTarget::InProcess { .. } => String::new(),
    };
    let state = match s.ctx.read_state().await {
        Ok(st) => st,
        Err(e) => {
            return Ok(Err(stop(
                exit::DB_UNREADABLE,
                "database_unreadable",
                format!("cannot read the database: {e:#}"),
            )))
        }
    };
    s.state = state;
    rep.say(&format!(
        "\n== {}: {command_line}\n  State for Kong {}: {}",
        capital(&label(i, n, hop.version)),
        hop.version,
        super::report::summary(&s.state, s.ctx.catalog)
    ));
    s.journal.append(Event::Step {
        step: label(i, n, hop.version),
        phase: "started".into(),
        detail: Some(command_line),
    })?;
    Ok(Ok(()))
}

/// Proves the hop from a fresh read of the database: every migration of the release executed,
/// nothing pending, and journals it. The next hop starts only after this.
pub(super) async fn prove(
    s: &mut Session,
    hop: &Hop,
    i: usize,
    n: usize,
    rep: &mut Reporter,
) -> Result<Phase<()>> {
    let snap = match s.ctx.snapshot().await {
        Ok(snap) => snap,
        Err(e) => {
            return Ok(Err(stop(
                exit::DB_UNREADABLE,
                "database_unreadable",
                format!(
                    "cannot read the database to prove {}: {e:#}",
                    label(i, n, hop.version)
                ),
            )))
        }
    };
    let proof = Proof::of(hop, &snap, s.ctx.catalog);
    let executed = match proof.verdict {
        Ok(executed) => executed,
        Err(why) => {
            s.journal.append(Event::Step {
                step: label(i, n, hop.version),
                phase: "failed".into(),
                detail: Some(format!(
                    "not every migration executed: {}",
                    proof.open.join(", ")
                )),
            })?;
            return Ok(Err(stop(
                exit::KONG_FAILED,
                "hop_unproven",
                format!(
                    "{} is not complete in the database: {why}. The next hop was not started.",
                    capital(&label(i, n, hop.version)),
                ),
            )));
        }
    };
    s.journal.append(Event::State {
        when: format!("{} proven", label(i, n, hop.version)),
        state: StateSummary::of(&proof.state),
    })?;
    s.journal.append(Event::Step {
        step: label(i, n, hop.version),
        phase: "done".into(),
        detail: Some(format!(
            "every migration of Kong {} executed ({executed}), none pending",
            hop.version
        )),
    })?;
    rep.say(&format!(
        "  Proven: every migration of Kong {} is executed ({executed}), none pending.",
        hop.version
    ));
    s.state = proof.state;
    rep.final_state = Some(s.state.clone());
    Ok(Ok(()))
}

/// Whether a hop reached its release, from a read of the database (the shared one, or the
/// clone) taken after the hop's kong ran. The one rule for auto, its dual-cluster procedure and
/// rehearse: the next hop's kong never starts on a database this does not prove.
pub(crate) struct Proof {
    /// The database against the hop's release.
    pub state: crate::kong::state::SchemaState,
    /// Each migration of the release not executed (`subsystem/name (State)`).
    pub open: Vec<String>,
    /// Proven: how many migrations are executed; else why not (what is missing).
    pub verdict: std::result::Result<usize, String>,
}

impl Proof {
    pub(crate) fn of(
        hop: &Hop,
        snap: &crate::kong::snapshot::Snapshot,
        catalog: &crate::kong::catalog::Catalog,
    ) -> Proof {
        let state = crate::kong::state::compute(&hop.target, snap, catalog);
        let open = unfinished(&state);
        let verdict = if state.needs_bootstrap && open.is_empty() {
            Err("it needs bootstrap".to_string())
        } else if state.needs_bootstrap || !open.is_empty() {
            Err(open.join(", "))
        } else {
            Ok(state.total(MigState::Executed))
        };
        Proof {
            state,
            open,
            verdict,
        }
    }
}

/// What keeps a hop from being proven: each migration of the hop's release not executed.
fn unfinished(st: &crate::kong::state::SchemaState) -> Vec<String> {
    st.subsystems
        .iter()
        .flat_map(|sub| {
            sub.migrations
                .iter()
                .filter(|m| m.state != MigState::Executed)
                .map(move |m| format!("{}/{} ({:?})", sub.name, m.name, m.state))
        })
        .collect()
}

pub(crate) fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::{Catalog, Db};
    use crate::kong::plan::{plan_with, PlanOptions};
    use crate::kong::snapshot::Snapshot;

    /// schema_meta with every migration of Kong `v` executed, but those named `pending`.
    fn recorded(v: &str, pending: &[&str]) -> Snapshot {
        let rel = Catalog::embedded().release(v.parse().unwrap()).unwrap();
        crate::kong::snapshot::recorded_at(rel, pending)
    }

    #[test]
    fn a_hop_is_proven_only_when_its_release_is_executed_in_the_database() {
        let cat = Catalog::embedded();
        let v: Version = "3.4.2".parse().unwrap();
        let hop = Hop {
            version: v,
            target: Target::from_release(
                cat.release(v).unwrap(),
                Db::Postgres,
                &["bundled".into()],
                &[],
                "catalog",
            ),
            kong: KongTarget::Process {
                command_line: "kong".into(),
                env: Vec::new(),
            },
        };
        let done = Proof::of(&hop, &recorded("3.4.2", &[]), cat);
        let all: usize = cat
            .release(v)
            .unwrap()
            .subsystems
            .iter()
            .map(|s| s.migrations.len())
            .sum();
        assert_eq!(done.verdict, Ok(all));
        assert!(done.open.is_empty());
        // One migration left pending (an `up` without its `finish`): not proven, and named.
        let last = cat.release(v).unwrap().subsystems[0]
            .migrations
            .last()
            .unwrap()
            .name
            .clone();
        let half = Proof::of(&hop, &recorded("3.4.2", &[&last]), cat);
        let why = half.verdict.unwrap_err();
        assert!(why.contains(&format!("{last} (Pending)")), "{why}");
        assert_eq!(half.open.len(), 1, "{:?}", half.open);
        // The previous release's database: the hop's new migrations are not there.
        let before = Proof::of(&hop, &recorded("2.8.5", &[]), cat);
        assert!(before.verdict.unwrap_err().contains("(New)"));
        // No schema_meta at all.
        let empty = Proof::of(&hop, &Snapshot::empty(Db::Postgres, "public"), cat);
        assert!(empty.verdict.is_err());
    }

    #[test]
    fn every_hops_kong_is_judged_before_a_clone_is_taken() {
        let cat = Catalog::embedded();
        let kong = |c: &str| KongTarget::Process {
            command_line: c.into(),
            env: Vec::new(),
        };
        let hop = |v: &str, c: &str| {
            let v: Version = v.parse().unwrap();
            Hop {
                version: v,
                target: Target::from_release(
                    cat.release(v).unwrap(),
                    Db::Postgres,
                    &["bundled".into()],
                    &[],
                    "catalog",
                ),
                kong: kong(c),
            }
        };
        let fine = [
            hop("3.4.2", "/opt/kong-3.4.2/bin/kong"),
            hop("3.9.3", "/opt/kong-3.9.3/bin/kong"),
        ];
        assert_eq!(
            clone_unreachable(&kong("/opt/kong-3.9.3/bin/kong"), &fine),
            None
        );
        // The session's kong is fine, a hop's is not: refused, naming the hop.
        let one_bad = [
            hop("3.4.2", "ssh kong-old /usr/local/bin/kong"),
            hop("3.9.3", "/opt/kong-3.9.3/bin/kong"),
        ];
        let why = clone_unreachable(&kong("/opt/kong-3.9.3/bin/kong"), &one_bad)
            .expect("the 3.4.2 hop's kong cannot see the clone");
        assert!(why.starts_with("the kong for the Kong 3.4.2 hop:"), "{why}");
        assert!(why.contains("(ssh)"), "{why}");
        // The session's kong alone (no hops) by the same rule.
        assert!(clone_unreachable(&kong("docker exec -i kong-new kong"), &[]).is_some());
    }

    #[test]
    fn the_path_2_8_to_3_9_has_one_kong_version_per_release() {
        let cat = Catalog::embedded();
        let v = |s: &str| -> Version { s.parse().unwrap() };
        let snap = recorded("2.8.5", &[]);
        let to = cat.release(v("3.9.3")).unwrap();
        let target = Target::from_release(to, Db::Postgres, &["bundled".into()], &[], "catalog");
        let state = crate::kong::state::compute(&target, &snap, cat);
        let plan = plan_with(&state, &target, cat, Db::Postgres, &PlanOptions::default());
        let vs = versions(&plan);
        assert_eq!(vs.first(), Some(&v("3.4.2")), "{vs:?}");
        assert_eq!(vs.last(), Some(&v("3.9.3")), "{vs:?}");
        assert_eq!(vs, plan.path, "one kong per release of the path");
    }
}
