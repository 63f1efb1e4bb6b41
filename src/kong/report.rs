//! Text and JSON renderings of a [`SchemaState`], shared by `status`, `auto` and the journal.
//! Pure: no I/O.

use serde_json::{json, Map, Value};

use super::catalog::Catalog;
use super::state::{describe_versions, MigState, SchemaState};

/// Kong's `Migrations_mt.__tostring`: subsystem names right-aligned to the longest, then names
/// (also what the kong stand-in prints).
pub fn kong_block(state: &SchemaState, which: MigState) -> Option<String> {
    let rows: Vec<(String, Vec<String>)> = state
        .subsystems
        .iter()
        .map(|s| (s.name.clone(), s.names(which)))
        .filter(|(_, n)| !n.is_empty())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    Some(
        rows.iter()
            .map(|(s, n)| format!("{s:>width$}: {}", n.join(", ")))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `kong migrations status` JSON (keys absent when empty) plus kongrade's extras.
pub fn status_json(state: &SchemaState, catalog: &Catalog) -> Value {
    let mut o = Map::new();
    o.insert("needs_bootstrap".into(), json!(state.needs_bootstrap));
    for (key, which) in [
        ("executed_migrations", MigState::Executed),
        ("pending_migrations", MigState::Pending),
        ("new_migrations", MigState::New),
        ("missing_migrations", MigState::Missing),
    ] {
        let list: Vec<Value> = state
            .subsystems
            .iter()
            .filter(|s| s.count(which) > 0)
            .map(|s| json!({"subsystem": s.name, "namespace": s.namespace, "migrations": s.names(which)}))
            .collect();
        if !list.is_empty() {
            o.insert(key.into(), Value::Array(list));
        }
    }
    o.insert(
        "target_version".into(),
        json!(state.target_version.map(|v| v.to_string())),
    );
    o.insert("database".into(), json!(state.db));
    let mut lock = json!(state.lock);
    if let (Some(obj), Some(l)) = (lock.as_object_mut(), state.lock.as_ref()) {
        // What the row means, for a pipeline: an expired row blocks nothing.
        obj.insert("blocks".into(), json!(l.live));
        obj.insert("action_needed".into(), json!(l.live));
        obj.insert("note".into(), json!(lock_note(l)));
    }
    o.insert("lock".into(), lock);
    o.insert("gaps".into(), json!(state.gaps));
    o.insert("unknown_migrations".into(), json!(state.unknown));
    o.insert(
        "schema_matches".into(),
        json!({
            "versions": state.schema_matches.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            "summary": if state.schema_matches.is_empty() { Value::Null } else { json!(describe_versions(catalog, &state.schema_matches)) },
            "core_versions": state.core_matches.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        }),
    );
    o.insert("legacy_schema_migrations".into(), json!(state.legacy_table));
    o.insert("anomalies".into(), json!(state.anomalies));
    o.insert("exit_code".into(), json!(state.status_code() as i32));
    Value::Object(o)
}

fn secs(n: f64) -> String {
    let n = n.abs().round() as u64;
    if n < 120 {
        format!("{n} s")
    } else if n < 7200 {
        format!("{} min", n / 60)
    } else {
        format!("{} h", n / 3600)
    }
}

/// What a lock row means for the next run, in one sentence.
pub fn lock_note(l: &crate::kong::snapshot::LockRow) -> &'static str {
    if l.live && l.ttl.as_deref() == Some("infinity") {
        "a ttl of 'infinity' never expires: no kong migrations run can take the lock until the row is deleted (once no run is going)"
    } else if l.live {
        "blocks every bootstrap/up/finish until it expires: a run is going now, or a killed one left it"
    } else {
        "expired: blocks nothing and needs no action; Kong deletes it itself on the next run"
    }
}

/// One line about the migrations lock, or None when there is no lock row.
pub fn lock_line(state: &SchemaState) -> Option<String> {
    let l = state.lock.as_ref()?;
    let owner = l.owner.clone().unwrap_or_else(|| "unknown owner".into());
    let infinite = |t: &str| l.ttl.as_deref() == Some(t);
    Some(match (l.live, l.seconds_left) {
        (true, _) if infinite("infinity") => format!("LIVE: held by {owner}, never expires (ttl 'infinity'): no run can take the lock until the row is deleted; make sure no kong migrations run is going, then delete it"),
        (true, Some(s)) => format!("LIVE: held by {owner}, expires in {}: migrations are running now, or a killed run left it", secs(s)),
        (true, None) => format!("LIVE: held by {owner}: migrations are running now"),
        (false, _) if infinite("-infinity") => format!("expired long ago (ttl '-infinity', owner {owner}): it blocks nothing, no action needed: Kong deletes it itself on the next run"),
        (false, Some(s)) => format!("expired {} ago (owner {owner}): a stale row a killed run left; it blocks nothing, no action needed: Kong deletes it itself on the next run", secs(s)),
        (false, None) => format!("expired (owner {owner}): it blocks nothing, no action needed: Kong deletes it itself on the next run"),
    })
}

/// The human report: Kong's `migrations list` blocks and closing advice, then what Kong does
/// not say.
pub fn status_text(state: &SchemaState, catalog: &Catalog, header: &str) -> String {
    let mut out = String::new();
    out.push_str(header);
    out.push('\n');
    if !state.schema_matches.is_empty() {
        out.push_str(&format!(
            "Recorded schema matches Kong {}\n",
            describe_versions(catalog, &state.schema_matches)
        ));
    } else if !state.core_matches.is_empty() {
        out.push_str(&format!(
            "Core schema matches Kong {} (some plugin subsystems do not)\n",
            describe_versions(catalog, &state.core_matches)
        ));
    }
    out.push('\n');

    if state.needs_bootstrap {
        if state.legacy_table {
            out.push_str(
                "Database holds a pre-1.0 Kong schema (schema_migrations table, no schema_meta).\n",
            );
            out.push_str("Do NOT run 'kong migrations bootstrap': upgrade through Kong 1.5 first ('kongrade plan').\n");
        } else {
            out.push_str("Database needs bootstrapping or is older than Kong 1.0.\n");
            out.push_str("\nRun 'kong migrations bootstrap' to start a new installation.\n");
        }
    } else {
        let mut r = "";
        for (title, which) in [
            ("Executed migrations:", MigState::Executed),
            ("Pending migrations:", MigState::Pending),
            ("New migrations available:", MigState::New),
            (
                "Missing migrations (Kong will not run them again):",
                MigState::Missing,
            ),
        ] {
            if let Some(block) = kong_block(state, which) {
                out.push_str(&format!("{r}{title}\n{block}\n"));
                r = "\n";
            }
        }
        let pending = state.any(MigState::Pending);
        let new = state.any(MigState::New);
        if pending && new {
            out.push_str("\nWARNING: pending migrations from a previous upgrade AND new migrations for this one.\n");
            out.push_str("Run 'kong migrations finish' (with the version that ran 'up') before 'up' for the new version.\n");
        } else if pending {
            out.push_str("\nRun 'kong migrations finish' when every old node is stopped.\n");
        } else if new {
            out.push_str("\nRun 'kong migrations up' with the new version to proceed.\n");
        } else {
            out.push_str("\nDatabase is up to date.\n");
        }
    }

    let mut extra: Vec<String> = Vec::new();
    if let Some(l) = lock_line(state) {
        extra.push(format!("Migrations lock: {l}"));
    }
    for g in &state.gaps {
        extra.push(format!(
            "Gap in {}: {} never recorded, yet {} is: an earlier upgrade skipped them ('kongrade diagnose')",
            g.subsystem,
            g.migrations.join(", "),
            g.before
        ));
    }
    for u in &state.unknown {
        if u.subsystem_loaded {
            extra.push(format!(
                "Unknown to the target in {}: {} (is the database newer than the target?)",
                u.subsystem,
                u.migrations.join(", ")
            ));
        } else {
            extra.push(format!(
                "Subsystem '{}' is recorded but not loaded by the target's plugins ({} migrations)",
                u.subsystem,
                u.migrations.len()
            ));
        }
    }
    if state.legacy_table && !state.needs_bootstrap {
        extra.push(
            "A pre-1.0 schema_migrations table is still present (left over from a 0.x import)"
                .into(),
        );
    }
    if !state.anomalies.is_empty() {
        extra.push(format!(
            "{} malformed schema_meta entr{} ('kongrade diagnose' explains)",
            state.anomalies.len(),
            if state.anomalies.len() == 1 {
                "y"
            } else {
                "ies"
            }
        ));
    }
    if !extra.is_empty() {
        out.push('\n');
        for e in extra {
            out.push_str(&e);
            out.push('\n');
        }
    }
    out
}
