//! Turns a snapshot of Kong's database into what the wizard shows ([`Reading`]): the state and
//! `kong::diagnose`'s findings, the very ones `kongrade diagnose` prints. Pure: the runtime's
//! poller feeds it what it read, the headless tests feed it the training database.

use std::sync::Arc;

use super::model::Reading;
use crate::contract::DbIdentity;
use crate::kong::catalog::Catalog;
use crate::kong::diagnose::{self, DiagnoseInput, Settings, WritesSinceUp};
use crate::kong::policy::{self, History, PolicyInput};
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
        }
    }

    pub fn reading(&self, snap: &Snapshot) -> Reading {
        let state = state::compute(&self.target, snap, self.catalog);
        let schema_label = if !state.schema_matches.is_empty() {
            Some(describe_versions(self.catalog, &state.schema_matches))
        } else if !state.core_matches.is_empty() {
            Some(describe_versions(self.catalog, &state.core_matches))
        } else {
            None
        };
        // The one policy: the findings, where the upgrade stands, how to roll back.
        let mut a = policy::assess(&PolicyInput {
            diagnose: DiagnoseInput {
                state: &state,
                snapshot: snap,
                target: &self.target,
                catalog: self.catalog,
                row_counts: self.row_counts.as_deref(),
                settings: &self.settings,
                writes_since_up: self.writes_since_up.as_ref(),
                history: self.history.as_ref(),
            },
            nodes: None,
            running: false,
        });
        if let Some(e) = &self.count_error {
            a.findings.push(diagnose::counts_unavailable(e));
        }
        Reading {
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
