//! Turns a snapshot of Kong's database into what the wizard shows ([`Reading`]): the state and
//! `kong::diagnose`'s findings, the very ones `kongrade diagnose` prints. Pure: the runtime's
//! poller feeds it what it read, the headless tests feed it the training database.

use std::sync::Arc;

use super::model::Reading;
use crate::contract::DbIdentity;
use crate::kong::catalog::Catalog;
use crate::kong::diagnose::{self, DiagnoseInput, Settings, WritesSinceUp};
use crate::kong::policy::{self, History, PolicyInput};
use crate::kong::preflight::PreflightData;
use crate::kong::snapshot::Snapshot;
use crate::kong::state::{self, describe_versions};
use crate::kong::target::Target;

/// Turns a snapshot into what the wizard shows: the state, and `kong::diagnose`'s findings, the
/// very ones `kongrade diagnose` prints. Pure.
pub struct Interpreter {
    pub target: Arc<Target>,
    pub catalog: &'static Catalog,
    /// kong.conf's settings that change the advice, with the wizard's --db-timeout and
    /// --lock-timeout.
    pub settings: Settings,
    /// The big tables' rows, counted once at the first good read (they change slowly and an
    /// estimate is all the advice needs), not on every refresh.
    pub row_counts: Option<Vec<(String, i64)>>,
    /// Why counting failed, when it did: said as a finding.
    pub count_error: Option<String>,
    /// Whose journal tells when `up` ended, for the Admin API write watch (PostgreSQL only).
    pub journal_id: Option<DbIdentity>,
    /// Entity writes since `up`, refreshed every WRITES_EVERY while migrations are pending.
    pub writes_since_up: Option<WritesSinceUp>,
    /// This upgrade's journal as the policy reads it, re-read with every snapshot.
    pub history: Option<History>,
    /// What `kong::preflight` looks at, as the poller gathered it (`cmd::preflight`'s gather,
    /// the one diagnose uses). `None`: not gathered (yet).
    pub preflight: Option<PreflightData>,
    /// The runtime gathers the preflight (a real database): until it has, the Preflight step
    /// waits. The training cluster has no kong.conf, routes or server to read: false.
    pub preflight_wanted: bool,
}

impl Interpreter {
    pub fn new(target: Arc<Target>, catalog: &'static Catalog, settings: Settings) -> Interpreter {
        Interpreter {
            target,
            catalog,
            settings,
            row_counts: None,
            count_error: None,
            journal_id: None,
            writes_since_up: None,
            history: None,
            preflight: None,
            preflight_wanted: false,
        }
    }

    pub fn reading(&self, snap: &Snapshot) -> Reading {
        // What the database holds is shown to a person: a name with a control character in it
        // (ESC, BEL) must not reach the terminal. Escaped once here, so the state, the findings
        // and every line built from them carry the visible `\x1b` instead.
        let escaped = safe_snapshot(snap);
        let snap = escaped.as_ref().unwrap_or(snap);
        let state = state::compute(&self.target, snap, self.catalog);
        let schema_label = if !state.schema_matches.is_empty() {
            Some(describe_versions(self.catalog, &state.schema_matches))
        } else if !state.core_matches.is_empty() {
            Some(describe_versions(self.catalog, &state.core_matches))
        } else {
            None
        };
        let input = DiagnoseInput {
            state: &state,
            snapshot: snap,
            target: &self.target,
            catalog: self.catalog,
            row_counts: self.row_counts.as_deref(),
            settings: &self.settings,
            writes_since_up: self.writes_since_up.as_ref(),
            history: self.history.as_ref(),
        };
        // The one policy: the findings, where the upgrade stands, how to roll back; and its
        // plan, used below as it is (planning again would be a second plan per read).
        let mut a = policy::assess(&PolicyInput {
            diagnose: input,
            nodes: None,
            running: false,
            strategy: None,
        });
        if let Some(e) = &self.count_error {
            a.findings.push(diagnose::counts_unavailable(e));
        }
        let plan = &a.plan;
        // The preflight on this read's plan, as `kongrade diagnose` adds it.
        if let (Some(d), Some(target)) = (&self.preflight, self.target.version) {
            a.findings
                .extend(d.findings_for_plan(plan, target, self.catalog));
            a.findings.sort_by_key(|f| f.severity);
        }
        // Each coming migration's estimated work, as diagnose's timeout advice makes it.
        let estimates = diagnose::timeout_advice(&input, plan).items;
        let from = crate::kong::plan::origin(
            &state,
            self.catalog,
            self.history.as_ref().and_then(|h| h.started_from),
        );
        Reading {
            from,
            row_counts: self.row_counts.clone(),
            estimates,
            preflight_pending: self.preflight_wanted && self.preflight.is_none(),
            state,
            data_planes: snap.data_planes.clone().unwrap_or_default(),
            schema_label,
            findings: a.findings,
            position: a.position,
            next: a.next,
            rollback: a.rollback,
        }
    }
}

/// The snapshot with every database-derived string escaped (`text::escape`), or None when
/// nothing needs it (the usual case: no copy).
fn safe_snapshot(snap: &Snapshot) -> Option<Snapshot> {
    use std::borrow::Cow;
    let bad = |s: &str| matches!(crate::text::escape(s), Cow::Owned(_));
    let bad_opt = |s: &Option<String>| s.as_deref().is_some_and(bad);
    let bad_list = |l: &Option<Vec<String>>| l.iter().flatten().any(|s| bad(s));
    let needs = snap.schema_meta.iter().flatten().any(|r| {
        bad(&r.key)
            || bad(&r.subsystem)
            || bad_opt(&r.last_executed)
            || bad_list(&r.executed)
            || bad_list(&r.pending)
    }) || snap.lock.as_ref().is_some_and(|l| bad_opt(&l.owner))
        || snap
            .legacy_migrations
            .iter()
            .flatten()
            .any(|(id, ms)| bad(id) || ms.iter().any(|m| bad(m)))
        || snap.data_planes.iter().flatten().any(|d| {
            bad(&d.id)
                || bad_opt(&d.hostname)
                || bad_opt(&d.ip)
                || bad_opt(&d.version)
                || bad_opt(&d.sync_status)
        })
        || bad(&snap.server_version)
        || bad(&snap.namespace);
    if !needs {
        return None;
    }
    let e = |s: &mut String| *s = crate::text::escape(s).into_owned();
    let eo = |s: &mut Option<String>| s.iter_mut().for_each(e);
    let el = |l: &mut Option<Vec<String>>| l.iter_mut().flatten().for_each(e);
    let mut out = snap.clone();
    for r in out.schema_meta.iter_mut().flatten() {
        e(&mut r.key);
        e(&mut r.subsystem);
        eo(&mut r.last_executed);
        el(&mut r.executed);
        el(&mut r.pending);
    }
    if let Some(l) = out.lock.as_mut() {
        eo(&mut l.owner);
    }
    for (id, ms) in out.legacy_migrations.iter_mut().flatten() {
        e(id);
        ms.iter_mut().for_each(e);
    }
    for d in out.data_planes.iter_mut().flatten() {
        e(&mut d.id);
        eo(&mut d.hostname);
        eo(&mut d.ip);
        eo(&mut d.version);
        eo(&mut d.sync_status);
    }
    e(&mut out.server_version);
    e(&mut out.namespace);
    Some(out)
}
