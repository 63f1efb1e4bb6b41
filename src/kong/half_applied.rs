//! A migration whose SQL ran while its Lua part did not finish: core `016_280_to_300`, the 2.8 ->
//! 3.x step that rewrites every regex route path with 3.0's `~` prefix.
//!
//! Why it matters (Kong 3.0.0 to 3.9.x, `kong/db/init.lua` and `migrations/core/016_280_to_300.lua`):
//! Kong runs a migration's `up` SQL in its own transaction, then its `up_f` one statement at a
//! time, and records the migration only after both. 016's `up_f` (`p_migrate_regex_path`) sends
//! one UPDATE per route whose path is a regex, and `migrate_path` does not look for a `~` already
//! there. So a run killed or failed part-way (a million routes take minutes) leaves some routes
//! rewritten and 016 unrecorded, and the next `up` prefixes those routes a second time: `~~/x`,
//! which 3.x reads as a regex that starts with a literal `~`. Those routes stop matching, and
//! nothing reports it. Kong 2.x refuses any path that does not begin with `/`
//! (`typedefs.path`, `starts_with = "/"`), so while 016 is unrecorded, every path beginning with
//! `~` was written by that interrupted run.
//!
//! Stripping the one `~` restores what a rerun expects: the rest of the path is what 016 made of
//! it (`normalize_regex`), and 016 makes the same of it again.

use super::catalog::Db;
use super::diagnose::{DiagnoseInput, Finding, Severity};
use super::plan::shell_word;
use super::policy::FindingId;
use super::snapshot::{RewriteSeen, SchemaMetaRow, Snapshot, TildeRoutes};

/// The migration and the subsystem.
pub const MIGRATION: &str = "016_280_to_300";
pub const SUBSYSTEM: &str = "core";

/// A path 016 rewrote: it begins with `~` (2.x takes only paths that begin with `/`).
pub fn rewritten(path: &str) -> bool {
    path.starts_with('~')
}

/// [`rewritten`] in SQL, over an element `p` of `paths` (the snapshot's read and the repair).
pub const REWRITTEN_SQL: &str = "left(p, 1) = '~'";

/// How pg_stat_activity shows 016's rewrite at work: its read of the routes and its UPDATE per
/// route, as `p_migrate_regex_path` sends them (3.0.0 to 3.9.x).
pub const REWRITE_QUERIES_SQL: &str =
    "(query ILIKE 'UPDATE routes SET paths = %' OR query ILIKE 'SELECT id, paths FROM routes WHERE paths IS NOT NULL%')";

/// How pg_stat_activity shows a session this role may not read: its query is replaced by this
/// text and its state is NULL (PostgreSQL 10 to 17, for roles without `pg_read_all_stats`). Only
/// sessions with a role: an autovacuum worker in the database has none, and is no `up`.
pub const HIDDEN_SQL: &str =
    "(state IS NULL AND query = '<insufficient privilege>' AND usesysid IS NOT NULL)";

/// Whether core's row records 016 (executed or pending). `None`: no core row at all.
pub fn recorded(schema_meta: &[SchemaMetaRow]) -> Option<bool> {
    let core = schema_meta
        .iter()
        .find(|r| r.key == "schema_meta" && r.subsystem == SUBSYSTEM)?;
    let has =
        |c: &Option<Vec<String>>| c.as_ref().is_some_and(|v| v.iter().any(|m| m == MIGRATION));
    Some(has(&core.executed) || has(&core.pending))
}

/// The routes a rerun of 016 would prefix twice, when that is the case: 016 is not recorded, no
/// run holds the lock (a live run is still rewriting: `lock-live` says so), the server shows no
/// rewrite at work and hides no session that could be one (`rewrite-unseen` says so), and some
/// path begins with `~`.
pub fn at_risk(snapshot: &Snapshot) -> Option<&TildeRoutes> {
    // Kong never renews its lock: a rewrite running longer than --lock-timeout shows no live
    // lock, so the server's own view of the session is asked too.
    let t = snapshot
        .tilde_routes
        .as_ref()
        .filter(|t| t.count > 0 && t.rewrite == RewriteSeen::NotRunning)?;
    if recorded(snapshot.schema_meta.as_deref()?)? {
        return None;
    }
    if snapshot.lock.as_ref().is_some_and(|l| l.live) {
        return None;
    }
    Some(t)
}

/// On a clone (dual-cluster, rehearse) the way on is a new clone, not a repair: the source was
/// never written, and a proven clone is never taken twice under its own name.
pub fn on_clone(routes: Option<i64>, clone: &str) -> String {
    let n = routes.map(|n| format!("{n} ")).unwrap_or_default();
    format!(
        "The clone: an interrupted up left {n}route(s) rewritten by core/{MIGRATION} (paths-half-rewritten); running up again would make them ~~/... and those routes would stop matching. Nothing ran. The source was never written: take a new clone under another name (kongrade auto --strategy dual-cluster --clone-database NEW_NAME ...), then drop {clone}."
    )
}

/// core 016's rewrite at work although no live lock shows: Kong does not renew its lock, so a
/// rewrite that outlives `--lock-timeout` (a million routes take minutes) has none. A second
/// `up` now would take the expired lock and run 016 again over routes being rewritten. The
/// policy treats it as the live lock it should be: wait.
pub fn running(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    out.push(Finding {
        id: FindingId::LockLive,
        severity: Severity::Error,
        title: format!("core/{MIGRATION} is rewriting the routes now, and its migrations lock has expired"),
        seen: vec![
            "another session of Kong's role is sending 016's statements (pg_stat_activity)".into(),
            match &input.state.lock {
                Some(_) => "the locks row's ttl has passed: Kong does not renew it".into(),
                None => "no locks row: Kong does not renew it, and the next taker purged it".into(),
            },
        ],
        why: format!("A migration that runs longer than --lock-timeout keeps running without its lock. Any `up` started now would take the lock and run {MIGRATION} again over the routes being rewritten: those would become ~~/... and stop matching."),
        remedy: vec![
            "wait for that kong to end (kongrade waits: the wizard, auto --wait-lock SECONDS)".into(),
            input.psql("SELECT pid, usename, now() - query_start AS running, left(query, 60) FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()"),
        ],
    });
}

/// 016's SQL ran, 016 is unrecorded, no live lock, and the server hides the queries of other
/// roles' sessions in this database from the role kongrade connects as: one of them may be a
/// rewrite still at work, or the run was interrupted. Only seeing tells them apart, and the two
/// want opposite things (wait; repair), so neither the repair nor an `up` is offered: the
/// remedy is to see.
pub fn cannot_tell(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let RewriteSeen::CannotTell {
        role,
        hidden,
        applications,
    } = &input.state.rewrite
    else {
        return;
    };
    let esc = |s: &str| crate::text::escape(s).into_owned();
    let hidden_list = if hidden.is_empty() {
        "another role".to_string()
    } else {
        hidden.iter().map(|r| esc(r)).collect::<Vec<_>>().join(", ")
    };
    let ident = |r: &str| format!("\"{}\"", r.replace('"', "\"\""));
    let kong_role = match hidden.as_slice() {
        [one] => shell_word(one),
        _ => "ROLE_OF_KONG_MIGRATIONS_UP".to_string(),
    };
    out.push(Finding {
        id: FindingId::RewriteUnseen,
        severity: Severity::Error,
        title: format!(
            "kongrade cannot see whether a `kong migrations up` is still rewriting the routes (core/{MIGRATION}): role {} may not read other roles' queries",
            esc(role)
        ),
        seen: vec![
            format!("core/{MIGRATION}'s SQL ran and the migration is not recorded: an `up` is rewriting the routes now, or one was interrupted"),
            format!(
                "sessions of role(s) {hidden_list} in this database show `<insufficient privilege>` to role {} (pg_stat_activity): their queries and states are hidden",
                esc(role)
            ),
            if applications.is_empty() {
                "their application names are empty (Kong 3.4 and later connect as `kong`; 3.0 to 3.3 set none)".into()
            } else {
                format!(
                    "their application names: {} (Kong 3.4 and later connect as `kong`; 3.0 to 3.3 set none)",
                    applications.iter().map(|a| esc(a)).collect::<Vec<_>>().join(", ")
                )
            },
            match &input.state.lock {
                Some(_) => "the locks row's ttl has passed: Kong does not renew it, so a long rewrite runs on without it".into(),
                None => "no live migrations lock: Kong does not renew it, so a long rewrite runs on without one".into(),
            },
        ],
        why: format!(
            "Only a session's query tells a rewrite at work from an interrupted one, and PostgreSQL shows a session's query only to its own role, to superusers and to members of pg_read_all_stats. If an `up` is still rewriting, the repair of `~` paths would race it, and a second `up` would take the expired lock and run {MIGRATION} again: the routes already rewritten would become ~~/... and stop matching. So kongrade offers no repair and starts no `up` until it can see."
        ),
        remedy: vec![
            format!(
                "KONG_PG_USER={kong_role} kongrade diagnose   # as the role `kong migrations up` connects as (its password in KONG_PG_PASSWORD or kong.conf): a role sees its own sessions' queries"
            ),
            format!(
                "GRANT pg_read_all_stats TO {};   # or this, run by a superuser (psql as postgres, or the cloud's admin role), PostgreSQL 10 and later; then run kongrade again",
                ident(&esc(role))
            ),
            "KONG_PG_USER=postgres kongrade diagnose   # or as a superuser, which sees every session (the one way on PostgreSQL 9.5 and 9.6, which have no pg_read_all_stats)".into(),
            "ps -ef | grep '[k]ong migrations up'   # on every Kong node, CI runner and Kubernetes job: a rewrite is alive while one runs. kongrade still offers no repair and starts no up while it cannot see".into(),
        ],
    });
}

/// The finding, with the repair first.
pub fn finding(input: &DiagnoseInput<'_>, out: &mut Vec<Finding>) {
    let Some(t) = at_risk(input.snapshot) else {
        return;
    };
    let mut seen = vec![format!(
        "core/{MIGRATION} is not recorded in schema_meta, and {} route(s) have a path beginning with ~",
        t.count
    )];
    for (id, name, paths) in t.listed.iter().take(super::preflight::LIST_MAX) {
        let esc = |s: &str| crate::text::escape(s).into_owned();
        let name = name
            .as_deref()
            .map(|n| format!(" ({})", esc(n)))
            .unwrap_or_default();
        let paths: Vec<String> = paths.iter().map(|p| esc(p)).collect();
        seen.push(format!("route {}{name}: {}", esc(id), paths.join(", ")));
    }
    let shown = t.listed.len().min(super::preflight::LIST_MAX) as i64;
    if shown < t.count {
        seen.push(format!("... and {} more", t.count - shown));
    }
    let mut remedy = vec![
        "first make sure no `kong migrations up` runs anywhere: Kong does not renew its lock, so a rewrite that outlives --lock-timeout no longer shows a lock".to_string(),
    ];
    match input.state.db {
        Db::Postgres => {
            let repair = format!(
                "UPDATE {} SET paths = ARRAY(SELECT CASE WHEN {REWRITTEN_SQL} THEN substr(p, 2) ELSE p END \
                 FROM unnest(paths) WITH ORDINALITY AS u(p, n) ORDER BY n) \
                 WHERE EXISTS (SELECT 1 FROM unnest(paths) p WHERE {REWRITTEN_SQL})",
                input.table_sql("routes")
            );
            remedy.push(format!(
                "{}   # take the ~ off again (the rest is what {MIGRATION} made of the path, and it makes the same again)",
                input.psql(&repair)
            ));
        }
        // CQL has no UPDATE over a whole table: one statement per route, when all are listed.
        Db::Cassandra if t.listed.len() as i64 == t.count => {
            for (id, _, paths) in &t.listed {
                let list: Vec<String> = paths
                    .iter()
                    .map(|p| format!("'{}'", p.strip_prefix('~').unwrap_or(p).replace('\'', "''")))
                    .collect();
                let cql = format!(
                    "UPDATE \"{}\".routes SET paths = [{}] WHERE partition = 'routes' AND id = {id}",
                    input.snapshot.namespace.replace('"', "\"\""),
                    list.join(", ")
                );
                remedy.push(format!("cqlsh -e {}", shell_word(&cql)));
            }
        }
        Db::Cassandra => {}
    }
    if remedy.len() > 1 {
        remedy.push(format!(
            "{}   # then: each regex path is rewritten once",
            input.kong_cmd("up")
        ));
        remedy.push("or restore the backup taken before this up (kongrade rollback --print shows how), then run up again".into());
    } else {
        // More routes than kongrade lists, on a database without a table-wide UPDATE.
        remedy.push(format!("restore the backup taken before this up (kongrade rollback --print shows how): {} routes are more than kongrade lists one CQL statement each; then run up again", t.count));
    }
    out.push(Finding {
        id: FindingId::PathsHalfRewritten,
        severity: Severity::Error,
        title: format!(
            "An interrupted `up` left {} route(s) rewritten by core/{MIGRATION}: running `up` again would prefix them twice",
            t.count
        ),
        seen,
        why: format!(
            "Kong commits {MIGRATION}'s SQL first, then rewrites each regex path with 3.0's `~` one UPDATE at a time, and records the migration only at the end. This run stopped part-way. The rewrite does not look for a `~` already there: the next `up` would make these paths `~~/...`, which 3.x reads as a regex starting with a literal `~`, so those routes would stop matching, silently. Kong 2.x does not accept a path that does not begin with `/`, so every `~` here came from the interrupted run."
        ),
        remedy,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::snapshot::LockRow;

    fn core(executed: &[&str], pending: &[&str]) -> SchemaMetaRow {
        SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: "core".into(),
            last_executed: executed.last().map(|s| s.to_string()),
            executed: Some(executed.iter().map(|s| s.to_string()).collect()),
            pending: Some(pending.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn snap(row: SchemaMetaRow, tilde: i64, live: bool) -> Snapshot {
        let mut s = Snapshot::empty(Db::Postgres, "public");
        s.schema_meta = Some(vec![row]);
        s.tilde_routes = Some(TildeRoutes {
            count: tilde,
            listed: vec![],
            rewrite: RewriteSeen::NotRunning,
        });
        s.lock = live.then(|| LockRow {
            live: true,
            ..LockRow::default()
        });
        s
    }

    #[test]
    fn only_an_unrecorded_016_with_tilde_paths_and_no_live_run_is_at_risk() {
        let at_28 = core(&["000_base", "015_270_to_280"], &[]);
        assert!(at_risk(&snap(at_28.clone(), 3, false)).is_some());
        // No path rewritten yet: a rerun is safe.
        assert!(at_risk(&snap(at_28.clone(), 0, false)).is_none());
        // A live lock: kong is still rewriting; lock-live speaks.
        assert!(at_risk(&snap(at_28.clone(), 3, true)).is_none());
        // 016 recorded, pending or executed: 3.x paths are meant to carry `~`.
        let pending = core(&["000_base", "015_270_to_280"], &[MIGRATION]);
        assert!(at_risk(&snap(pending, 3, false)).is_none());
        let done = core(&["000_base", "015_270_to_280", MIGRATION], &[]);
        assert!(at_risk(&snap(done, 3, false)).is_none());
        // A rewrite seen at work, or one that may be (hidden from this role): not "interrupted".
        for rewrite in [
            RewriteSeen::Running,
            RewriteSeen::CannotTell {
                role: "reader".into(),
                hidden: vec!["kong".into()],
                applications: vec!["kong".into()],
            },
        ] {
            let mut s = snap(at_28.clone(), 3, false);
            s.tilde_routes.as_mut().unwrap().rewrite = rewrite;
            assert!(at_risk(&s).is_none());
        }
        // Not read.
        let mut s = snap(core(&["000_base"], &[]), 3, false);
        s.tilde_routes = None;
        assert!(at_risk(&s).is_none());
    }

    #[test]
    fn a_store_that_filters_nothing_counts_tilde_routes_and_lists_the_lowest_ids() {
        let mut t = TildeRoutes::default();
        for i in (0..30).rev() {
            t.add(format!("id-{i:02}"), None, vec![format!("~/r/{i}/\\d+")]);
            t.add(format!("plain-{i:02}"), None, vec!["/plain".into()]);
        }
        assert_eq!(t.count, 30);
        assert_eq!(t.listed.len(), crate::kong::preflight::LIST_MAX);
        assert_eq!(t.listed[0].0, "id-00");
        assert!(t.listed.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
