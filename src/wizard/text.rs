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
