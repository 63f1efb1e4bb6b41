//! auto's refusals before the first step: the policy's rule table (`kong::policy::RULES`) over
//! the diagnosis, in the order of what must be fixed first, each lifted by its `--allow-...`
//! flag where one exists. A lifted refusal is journaled as an override.

use color_eyre::eyre::Result;

use super::report::Reporter;
use super::{exit, stop, AutoArgs, Phase, Session};
use crate::contract::journal::Event;
use crate::kong::diagnose::{self, DiagnoseInput, Severity};
use crate::kong::plan::Plan;
use crate::kong::policy::{self, Allowances, FindingId, History};

/// What auto's `--allow-...` flags lift (the clone's gate lifts the same).
pub(super) fn allowances(args: &AutoArgs) -> Allowances {
    Allowances {
        gaps: args.allow_gaps,
        unknown: args.allow_unknown,
        unsupported_jump: args.allow_unsupported_jump,
        breaking: args.allow_breaking,
        incomplete_preflight: args.allow_incomplete_preflight,
        // The step loop waits out (or refuses on) a live lock before the gates run.
        wait_lock: true,
    }
}

/// The gates, and the plan they judged by (its path is what a kong template walks hop by hop).
/// `walk_hops`: each release of the path runs with its own kong, so a jump Kong does not
/// support in one step is walked, not refused.
pub(super) async fn gates(
    s: &mut Session,
    args: &AutoArgs,
    history: &History,
    walk_hops: bool,
    rep: &Reporter,
) -> Result<Phase<Plan>> {
    // One session for the snapshot, the row counts and the preflight's query, as `diagnose`
    // reads them: the routes are read once (the count's read of every route, when the jump
    // crosses into 3.x, is kept by the store for the preflight).
    let read = async {
        let store = s.ctx.store().await?;
        let snap = store.snapshot().await?;
        Ok::<_, color_eyre::eyre::Report>((store, snap))
    };
    let (store, snapshot) = match read.await {
        Ok(r) => r,
        Err(e) => {
            return Ok(Err(stop(
                exit::DB_UNREADABLE,
                "database_unreadable",
                format!("cannot read the database: {e:#}"),
            )))
        }
    };
    let state = crate::kong::state::compute(&s.ctx.target, &snapshot, s.ctx.catalog);
    // The count diagnose makes (Kong's big tables; the regex routes only for a jump into 3.x).
    // Advice, and the Kong tables a database without schema_meta still holds: a failure to
    // count leaves the count out.
    let routes = crate::kong::preflight::reads_routes(&state, &s.ctx.target);
    let counts = crate::store::big_table_counts(store.as_ref(), &snapshot, routes)
        .await
        .ok()
        .flatten();
    let settings = s.ctx.settings(args.db_timeout, args.lock_timeout);
    let input = DiagnoseInput {
        state: &state,
        snapshot: &snapshot,
        target: &s.ctx.target,
        catalog: s.ctx.catalog,
        row_counts: counts.as_deref(),
        settings: &settings,
        writes_since_up: None,
        history: Some(history),
    };
    let plan = diagnose::plan_for(&input);
    let mut findings = diagnose::diagnose_with(&input, &plan);
    if walk_hops {
        findings.retain(|f| f.id != FindingId::UnsupportedJump);
    }
    // What the target (and each hop's Kong) will break, gathered as `diagnose` does, on the
    // same session.
    let pre = crate::cmd::preflight::gather_from(
        &s.ctx,
        &snapshot,
        &state,
        counts.as_deref(),
        &plan,
        &crate::cmd::preflight::env_names(),
        store.as_ref(),
    )
    .await;
    let mut preflight = crate::cmd::preflight::findings_for(&s.ctx, &plan, &pre);
    preflight.sort_by_key(|f| f.severity);
    for f in &preflight {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "note",
        };
        rep.say(&format!("Preflight {sev}: [{}] {}", f.id, f.title));
    }
    findings.extend(preflight);
    let allow = allowances(args);
    if let Some(r) = policy::auto_refusal(&findings, &allow) {
        return Ok(Err(stop(r.exit, r.result(), r.message())));
    }
    for (id, flag) in policy::lifted(&findings, &allow) {
        s.journal.append(Event::Override {
            gate: id.as_str().to_string(),
            reason: format!("{flag} given to kongrade auto"),
        })?;
    }
    // The timeouts the row counts (or a rehearsal) call for, where the operator gave none, as
    // `plan`'s steps carry them: Kong does not renew its lock, and a run that outlives it may be
    // joined by a second. A value given on the command line is kept, and said when short.
    let adv = diagnose::timeout_advice(&input, &plan);
    let advised = |flag: &str, given: Option<u64>, need: Option<u64>, slot: &mut Option<u64>| match (
        given, need,
    ) {
        (None, Some(t)) => {
            *slot = Some(t);
            rep.say(&format!("Timeouts: {flag} {t} (what the coming migrations' work calls for; give {flag} to choose)"));
        }
        (Some(g), Some(t)) => rep.say(&format!(
            "Timeouts: {flag} {g} as given, though the coming migrations' work calls for {t}"
        )),
        _ => {}
    };
    advised(
        "--db-timeout",
        args.db_timeout,
        adv.db_timeout,
        &mut s.template.db_timeout,
    );
    advised(
        "--lock-timeout",
        args.lock_timeout,
        adv.lock_timeout,
        &mut s.template.lock_timeout,
    );
    Ok(Ok(plan))
}
