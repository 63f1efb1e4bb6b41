//! The words of the wizard that do not depend on state: why each step exists.

use super::model::Step;

/// Two or three lines on why the step exists (kong-migrations.md section 7), short enough for the
/// narrow pane of an 80-column terminal.
pub fn why(step: Step) -> &'static str {
    match step {
        Step::Connecting => "kongrade reads Kong's tables (it never writes them) and decides every step from what the database says.",
        Step::Waiting => "One migration at a time: a held lock means a kong is migrating now, or a killed run left it. It expires by itself.",
        Step::Preflight => "Read from the database as Kong reads it, plus what Kong does not say. Nothing runs here.",
        Step::Strategy => "Kong's guide picks the procedure from the deployment, the jump and the old nodes' versions. Choose one it allows.",
        Step::Freeze => "No configuration change may land from here to the end: what is written after the backup is lost on a restore.",
        Step::StartNew => "The new nodes start on the migrated database; the proxy is down until they answer. Prove each one.",
        Step::Bootstrap => "bootstrap creates a new installation's tables at the target version. It is only for an empty database.",
        Step::Backup => "After finish only a restore goes back; before it, stopping the new nodes is the rollback. Take a backup now.",
        Step::Review => "These run next. Two-phase ones stay pending after up, so old nodes keep working, until finish.",
        Step::Up => "up runs once with the NEW kong while old nodes serve: it only adds, so both versions run side by side.",
        Step::Decommission => "finish drops what old traditional nodes and old control planes read: they must be gone. Old data planes are replaced too (see ?).",
        Step::Finish => "finish runs the pending teardowns. Point of no return: old traditional nodes and control planes cannot run after it.",
        Step::Done => "The database is at the target version. Keep the backup until the new version has proven itself.",
        Step::Clone
        | Step::CloneReview
        | Step::CloneUp
        | Step::CloneFinish
        | Step::NewCluster
        | Step::Traffic
        | Step::Retire => super::dual::why(step),
    }
}

/// The help overlay's words for a step: what it is for, and what can go wrong here.
pub fn step_help(step: Step) -> (&'static str, &'static str) {
    match step {
        Step::Connecting => (
            "kongrade reads Kong's tables to learn where this database stands. It never writes them.",
            "A wrong address, credentials or a firewall: the read retries; the error is shown until it answers.",
        ),
        Step::Waiting => (
            "Kong lets one migration run at a time, guarded by a lock row with an expiry. The wizard waits for it.",
            "Deleting the lock while a kong migrates lets two run at once. A lock your own killed run left expires by itself.",
        ),
        Step::Preflight => (
            "What the database says, read as Kong reads it, plus what Kong does not say. Nothing runs here.",
            "An ERR stops the wizard: follow the path the finding names, or override it with your reason (journaled). WARN is yours to weigh.",
        ),
        Step::Strategy => (
            "Kong's upgrade guide chooses the procedure: dual-cluster when a second cluster and database can be had, in-place when not (downtime), rolling for DB-less nodes and data planes, blue-green only between patch versions, never for the LTS pair 2.8 -> 3.4, and to 3.x only from 2.8.2+ nodes. The choice goes into the journal.",
            "Blue-green where Kong refuses it: old nodes read a schema their version cannot (2.8.0/2.8.1 break on the `~` paths 3.0's up writes). In-place without a backup: no way back.",
        ),
        Step::Freeze => (
            "In-place: freeze configuration writes (Admin API, Kong Manager, decK, direct database edits) from now until the upgrade is complete.",
            "A change written after the backup is lost if the way back is the restore; one written while the old nodes stop may be half-seen.",
        ),
        Step::StartNew => (
            "In-place: start the new nodes on the migrated database, then prove them: each Admin API's GET / answers the target version. The downtime ends when they serve.",
            "A new node that does not start (a plugin missing, kong.conf keys the new version refuses) keeps the proxy down: the log of that node says why. The way back is the backup's restore.",
        ),
        Step::Bootstrap => (
            "bootstrap creates a new installation's tables at the target version.",
            "Bootstrap on a database that has Kong's tables (or a pre-1.0 one) would wreck it: the wizard only offers it on an empty one.",
        ),
        Step::Backup => (
            "Before finish, stopping the new nodes is the rollback. After finish only a restore goes back: this is that backup.",
            "A backup that cannot be restored is none: kongrade's is verified. Yours: say where it is, so it can be found.",
        ),
        Step::Review => (
            "The migrations up will run. Two-phase ones stay pending after up, so old nodes keep working until finish.",
            "Admin API changes made between up and finish may be missed by finish's teardowns: pause them.",
        ),
        Step::Up => (
            "up runs once, with the NEW version's kong, while the old nodes serve. It only adds.",
            "Running up with the old kong does nothing; interrupting it can leave the lock held until it expires and one migration half-applied.",
        ),
        Step::Decommission => (
            "Take every old node out, one at a time, in order: out of the load balancer, drained, then stopped. Which rule blocks what: finish waits for every old traditional node and old control plane, because they read the database and finish removes what their version reads. Data planes never read the database: finish does not break them. An old data plane still blocks finish, because it may lose compatibility with the new control plane (Kong's guide replaces data planes before finish). And a data plane must not be newer than its control plane: new data planes only once a new control plane serves them.",
            "Stopping a node the load balancer still sends to drops its requests. An old traditional node or control plane still serving after finish fails: its schema is gone.",
        ),
        Step::Finish => (
            "finish runs the pending teardowns with the new kong. It is the point of no return.",
            "An old traditional node or old control plane still running breaks after it; only the backup goes back.",
        ),
        Step::Clone
        | Step::CloneReview
        | Step::CloneUp
        | Step::CloneFinish
        | Step::NewCluster
        | Step::Traffic
        | Step::Retire => super::dual::help(step),
        Step::Done => (
            "The database is at the target version.",
            "Keep the backup until the new version has proven itself; finish cannot be undone.",
        ),
    }
}

/// Demo's Done: each step the trainee went through, what they did there, and what a mistake at
/// that step would have cost.
pub fn debrief(m: &super::model::Model) -> Vec<(&'static str, String, &'static str)> {
    use super::model::{step_mark, Mark};
    let mut out = Vec::new();
    let in_place = m.flow().stops_old_nodes_before_up();
    for step in m.flow().steps() {
        if *step == Step::Done {
            continue;
        }
        let mark = step_mark(m, *step);
        let did = match (step, mark) {
            (_, Mark::Overridden) => "gone past with an override (your reason is in the log).",
            (Step::Strategy, Mark::Done) => {
                "chose the procedure Kong's guide allows here (journaled)."
            }
            (Step::Freeze, Mark::Done) => "confirmed configuration writes frozen.",
            (Step::StartNew, Mark::Done) => {
                "started the new nodes and proved them; the downtime ended."
            }
            (Step::Up, Mark::Done) if in_place => {
                "ran up with the new kong once no old node answered."
            }
            (Step::Decommission, Mark::Done) if in_place => {
                "stopped every old node: the gate saw none answer."
            }
            (Step::Preflight, _) => "read the database and weighed the findings.",
            (Step::Backup, Mark::Done) => "a backup taken or recorded before anything changed.",
            (Step::Backup, _) => "passed without a backup.",
            (Step::Review, Mark::Done) => "read what up would run.",
            (Step::Review, _) => "not seen this session.",
            (Step::Up, Mark::Done) if up_stopped_early(m) == Some(true) => "up failed part way; you read Kong's error, fixed its cause and ran up again, which resumed at the migration that failed.",
            (Step::Up, Mark::Done) if up_stopped_early(m) == Some(false) => "an up ended early (interrupted, refused or failed); the next up resumed from the migrations Kong had recorded.",
            (Step::Up, Mark::Done) => "ran up with the new kong while the old nodes served.",
            (Step::Bootstrap, Mark::Done) => "bootstrapped the empty database.",
            (Step::Decommission, Mark::Done) => "took every old node out, in order.",
            (Step::Finish, Mark::Done) => "ran finish once nothing old was left.",
            (Step::Clone, Mark::Done) => "cloned the source and proved the copy; the old cluster kept serving from the source.",
            (Step::CloneReview, Mark::Done) => "read what up would run on the clone.",
            (Step::CloneUp, Mark::Done) => "ran up on the clone with the new kong; the source stayed as it was.",
            (Step::CloneFinish, Mark::Done) => "ran finish on the clone at once: no old node reads it.",
            (Step::NewCluster, Mark::Done) => "proved the new nodes: version, database, smoke tests.",
            (Step::Traffic, Mark::Done) => "shifted traffic in steps, the write guard checked before each.",
            (Step::Retire, Mark::Done) => "retired the old cluster last.",
            _ => "not done.",
        };
        let cost = match step {
            Step::Strategy => "Blue-green where Kong refuses it: old nodes read a schema their version cannot.",
            Step::Freeze => "A change made now: lost on the restore, or half-seen by nodes mid-stop.",
            Step::StartNew => "Unproven new nodes: the proxy stays down without anyone noticing.",
            Step::Decommission if in_place => "An old node still serving during up: it reads a schema changing under it (in-place's gate refuses up).",
            Step::Preflight => "Skipping it: an ERR (a jump Kong does not support, a pre-1.0 schema) found only when up fails.",
            Step::Backup => "Without it: after finish, nothing brings the old schema back.",
            Step::Review => "Unread: two-phase migrations and Admin API writes lost between up and finish surprise you.",
            Step::Up => "With the old kong: nothing happens; interrupted: a held lock and a half-applied migration.",
            Step::Bootstrap => "On a database with Kong's tables: the installation is wrecked.",
            Step::Decommission => "Stopping before out of the load balancer: dropped requests. An old traditional node or control plane left running: it fails after finish.",
            Step::Finish => "Too early: every old traditional node and old control plane breaks; only the backup goes back.",
            Step::Clone => "Into a database that held something: the operator's data replaced. Unproven: the new cluster serves a partial copy.",
            Step::CloneReview => "Unread: the migrations and their time on the clone surprise you.",
            Step::CloneUp => "With kong pointed at the source: the old cluster's database migrated under it.",
            Step::CloneFinish => "Skipped: the new cluster refuses to start on a half-migrated clone.",
            Step::NewCluster => "Unproven nodes: traffic sent to the wrong version or a node without its database.",
            Step::Traffic => "All at once: every user hits a problem the first 1 % would have shown. A stale clone: configuration lost.",
            Step::Retire => "Too early: no old cluster to send traffic back to; only the backup rebuilds it.",
            _ => "",
        };
        out.push((step.title(), did.to_string(), cost));
    }
    out
}

/// An up failed this session, and a later one succeeded.
/// Whether an `up` ended early before the one that succeeded: `Some(true)` when one failed
/// (kong exited with an error) and the trainee made the scenario's fix, so "you fixed its
/// cause" is true; `Some(false)` for any other early end (interrupted, a lock timeout, a cause
/// fixed outside the app); `None` when no up ended early.
fn up_stopped_early(m: &super::model::Model) -> Option<bool> {
    use crate::kong::policy::RunEnd;
    let ups: Vec<&super::model::RunRecord> = m
        .history
        .iter()
        .filter(|r| r.command == crate::contract::KongCommand::Up)
        .collect();
    if !ups.last().is_some_and(|r| r.success) || ups.iter().all(|r| r.success) {
        return None;
    }
    let failed = ups.iter().any(|r| !r.success && r.end == RunEnd::Failed);
    Some(failed && m.fixed)
}

/// A training checkpoint: the question, the answers with what each one means, the right one.
pub struct Question {
    pub question: &'static str,
    /// (answer, why it is right or wrong)
    pub choices: &'static [(&'static str, &'static str)],
    pub right: usize,
}

pub fn checkpoint(c: super::model::Checkpoint) -> Question {
    use super::model::Checkpoint;
    match c {
        Checkpoint::BeforeUp => Question {
            question: "Which version's kong runs `up`?",
            choices: &[
                (
                    "The old version's: the one the nodes run now",
                    "No: the old kong does not know the target's migrations. Its up finds nothing to do, or Kong refuses the mix of versions.",
                ),
                (
                    "The new version's: the target release",
                    "Right: up runs the target release's migrations, so the new kong runs it, once, from one place. Blue-green runs it while old nodes serve (what up adds is additive); in-place runs it once every old node is stopped, and finish right after.",
                ),
                (
                    "Every node's own kong, one node after the other",
                    "No: migrations run once per database, not per node. One new kong runs up; a second run at the same time waits on the migrations lock, and an old one has nothing to add.",
                ),
            ],
            right: 1,
        },
        Checkpoint::BeforeFinish => Question {
            question: "What must be true before `finish`?",
            choices: &[
                (
                    "The new nodes have started",
                    "Needed, but not enough: finish runs the teardowns, which remove what the old version still reads. Any old node still running breaks then.",
                ),
                (
                    "No old traditional node and no old control plane runs any more, and the old data planes are replaced",
                    "Right. Old traditional nodes and old control planes read the database: after finish their schema is gone. Data planes never read the database, so finish does not break them directly; but a data plane must not be newer than its control plane, and an old one may lose compatibility with the new control plane, so Kong's guide replaces them before finish.",
                ),
                (
                    "A backup was taken in the last hour",
                    "No: the backup belongs before up, and it is the only way back after finish. But it does not make finish safe: what finish breaks is the old nodes still running.",
                ),
            ],
            right: 1,
        },
        Checkpoint::BeforeCloneUp => Question {
            question: "Dual-cluster: where does `up` run?",
            choices: &[
                (
                    "On the source database, while the old cluster serves",
                    "No: that is blue-green, which Kong's LTS guide does not offer. The source stays exactly as it is: the old cluster keeps serving from it, and it is the way back.",
                ),
                (
                    "On the clone, with the new version's kong pointed at it",
                    "Right: the new kong, its connection in its environment, migrates the clone only. No old node reads the clone, so nothing old can break; kongrade checks the source's schema_meta is unchanged around the run.",
                ),
                (
                    "On both, so they stay alike",
                    "No: the source must not be migrated. The old cluster reads it, and it is what all traffic goes back to if the new cluster fails.",
                ),
            ],
            right: 1,
        },
        Checkpoint::BeforeCloneFinish => Question {
            question: "Why may `finish` run right after `up` on the clone?",
            choices: &[
                (
                    "Because the traffic has already moved to the new cluster",
                    "No: no traffic moves before the new cluster is proven, and that comes after finish.",
                ),
                (
                    "Because finish is harmless",
                    "No: finish removes what old versions read; on a shared database it breaks every old node still running.",
                ),
                (
                    "Because no old node reads the clone: the old cluster serves from the source",
                    "Right: what finish removes, only old nodes read, and none runs on the clone. The new cluster then starts on a fully migrated database; the old one keeps serving from the untouched source until traffic has moved and it is retired.",
                ),
            ],
            right: 2,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::up_stopped_early;
    use crate::contract::KongCommand;
    use crate::kong::policy::RunEnd;
    use crate::wizard::model::RunRecord;
    use crate::wizard::testkit::H;

    fn up(success: bool, end: RunEnd) -> RunRecord {
        RunRecord {
            command_line: "kong migrations up".into(),
            success,
            summary: String::new(),
            command: KongCommand::Up,
            end,
        }
    }

    /// The debrief says "you fixed its cause" only when an up failed and the trainee made the
    /// fix: an interrupted up, or a failure fixed nowhere, gets the neutral words.
    #[test]
    fn the_debrief_claims_a_fix_only_when_one_was_made() {
        let mut h = H::scenario("clean");
        assert_eq!(up_stopped_early(&h.m), None, "no up yet");
        h.m.history = vec![up(true, RunEnd::Succeeded)];
        assert_eq!(up_stopped_early(&h.m), None, "one clean up");
        h.m.history = vec![up(false, RunEnd::Signalled), up(true, RunEnd::Succeeded)];
        assert_eq!(
            up_stopped_early(&h.m),
            Some(false),
            "interrupted, then done"
        );
        h.m.history = vec![up(false, RunEnd::Failed), up(true, RunEnd::Succeeded)];
        assert_eq!(
            up_stopped_early(&h.m),
            Some(false),
            "failed, no fix made here"
        );
        h.m.fixed = true;
        assert_eq!(up_stopped_early(&h.m), Some(true), "failed, fixed, done");
        h.m.history = vec![up(true, RunEnd::Succeeded), up(false, RunEnd::Failed)];
        assert_eq!(
            up_stopped_early(&h.m),
            None,
            "the last up failed: not resumed"
        );
    }
}
