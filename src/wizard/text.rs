//! The words of the wizard that do not depend on state: why each step exists.

use super::model::Step;

/// Two or three lines on why the step exists (kong-migrations.md section 7), short enough for the
/// narrow pane of an 80-column terminal.
pub fn why(step: Step) -> &'static str {
    match step {
        Step::Connecting => "kongrade reads Kong's tables (it never writes them) and decides every step from what the database says.",
        Step::Waiting => "One migration at a time: a held lock means a kong is migrating now, or a killed run left it. It expires by itself.",
        Step::Preflight => "Read from the database as Kong reads it, plus what Kong does not say. Nothing runs here.",
        Step::Bootstrap => "bootstrap creates a new installation's tables at the target version. It is only for an empty database.",
        Step::Backup => "After finish only a restore goes back; before it, stopping the new nodes is the rollback. Take a backup now.",
        Step::Review => "These run next. Two-phase ones stay pending after up, so old nodes keep working, until finish.",
        Step::Up => "up runs once with the NEW kong while old nodes serve: it only adds, so both versions run side by side.",
        Step::Decommission => "finish removes what old nodes still use: every old node, data planes too, must be gone first.",
        Step::Finish => "finish runs the pending teardowns. Point of no return: old nodes cannot run after it, only the backup goes back.",
        Step::Done => "The database is at the target version. Keep the backup until the new version has proven itself.",
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
            "Take every old node out, one at a time, in order: out of the load balancer, drained, then stopped.",
            "Stopping a node the load balancer still sends to drops its requests. A node still serving after finish fails: its schema is gone.",
        ),
        Step::Finish => (
            "finish runs the pending teardowns with the new kong. It is the point of no return.",
            "An old traditional node or old control plane still running breaks after it; only the backup goes back.",
        ),
        Step::Done => (
            "The database is at the target version.",
            "Keep the backup until the new version has proven itself; finish cannot be undone.",
        ),
    }
}
