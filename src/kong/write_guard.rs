//! The write guard of a dual-cluster upgrade: from the clone on, the source's configuration
//! must not change, or the new cluster serves a stale copy. Per table, the row count, the
//! newest `created_at`/`updated_at` and a digest of the rows (an UPDATE to a 2.8 `plugins` row
//! touches no `updated_at`: the column came in later 3.x releases) at the clone's snapshot are
//! compared with the source now.
//! Tables written by proxy traffic are expected to diverge and are only listed.

use serde::Serialize;

use crate::contract::clone::TableMark;

/// Tables Kong's proxy path writes (rate-limiting counters, OAuth2 tokens and codes, sessions,
/// ACME with `storage = kong`): they diverge between the two clusters whatever the operator
/// does, and a token or session issued by the old cluster after the clone is not on the new.
pub const TRAFFIC_TABLES: &[&str] = &[
    "ratelimiting_metrics",
    "response_ratelimiting_metrics",
    "oauth2_tokens",
    "oauth2_authorization_codes",
    "sessions",
    "acme_storage",
];

/// Kong's own bookkeeping, written by running nodes (cluster events, data planes checking in,
/// the migrations lock): not configuration.
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "schema_meta",
    "locks",
    "cluster_events",
    "clustering_data_planes",
    "clustering_rpc_requests",
    "clustering_sync_version",
    "clustering_sync_delta",
    "ttls",
];

/// Whether `table` (unqualified) holds configuration: neither written by traffic nor Kong's
/// bookkeeping. Only these get a content digest.
pub fn is_configuration(table: &str) -> bool {
    let base = base_name(table);
    !TRAFFIC_TABLES.contains(&base) && !BOOKKEEPING_TABLES.contains(&base)
}

/// What a table looked like then and now (`None`: it did not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub table: String,
    pub rows_then: Option<i64>,
    pub rows_now: Option<i64>,
    pub newest_then: Option<String>,
    pub newest_now: Option<String>,
    /// Same count and newest write, but the rows' content differs (an UPDATE in place).
    pub content_changed: bool,
}

impl Change {
    /// `services: 10 rows -> 11, newest write 2026-12-01T12:00:00Z -> 2026-12-01T12:40:00Z`.
    pub fn describe(&self) -> String {
        let rows = |n: Option<i64>| n.map_or("no table".to_string(), |n| n.to_string());
        let mut s = format!(
            "{}: {} rows -> {}",
            self.table,
            rows(self.rows_then),
            rows(self.rows_now)
        );
        if self.newest_then != self.newest_now {
            let t = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
            s.push_str(&format!(
                ", newest write {} -> {}",
                t(&self.newest_then),
                t(&self.newest_now)
            ));
        }
        if self.content_changed {
            s.push_str(", rows changed in place (their content differs: an UPDATE)");
        }
        s
    }
}

/// The guard's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Configuration tables that changed since the clone: the clone is stale.
    pub stale: Vec<Change>,
    /// Traffic-written tables that changed (expected).
    pub diverging: Vec<Change>,
    /// How many configuration tables were compared.
    pub compared: usize,
}

impl Verdict {
    pub fn is_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// What to tell the operator, in lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.stale.is_empty() {
            out.push(format!(
                "Write guard: no configuration table of the source changed since the clone ({} compared).",
                self.compared
            ));
        } else {
            out.push(format!(
                "Write guard: the source's configuration changed after the clone, so the clone is stale ({} table(s)):",
                self.stale.len()
            ));
            out.extend(self.stale.iter().map(|c| format!("  {}", c.describe())));
            out.push(
                "  Those writes are not on the new cluster. Keep writes frozen and take a new clone (run again with --clone-replace), or re-apply them on the new cluster yourself."
                    .into(),
            );
        }
        if !self.diverging.is_empty() {
            out.push(format!(
                "Expected to diverge (written by traffic, not configuration): {}",
                self.diverging
                    .iter()
                    .map(|c| c.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }
}

fn base_name(table: &str) -> &str {
    table.rsplit('.').next().unwrap_or(table)
}

/// Compares the source's tables at the clone (`then`) with the source now.
pub fn judge(then: &[TableMark], now: &[TableMark]) -> Verdict {
    let mut names: Vec<&str> = then
        .iter()
        .chain(now.iter())
        .map(|t| t.table.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut v = Verdict::default();
    for name in names {
        let base = base_name(name);
        if BOOKKEEPING_TABLES.contains(&base) {
            continue;
        }
        let a = then.iter().find(|t| t.table == name);
        let b = now.iter().find(|t| t.table == name);
        let traffic = TRAFFIC_TABLES.contains(&base);
        if !traffic {
            v.compared += 1;
        }
        // A digest missing on either side (an older record, a traffic table) is not compared.
        let content_changed = match (a, b) {
            (Some(a), Some(b)) => a.digest.is_some() && b.digest.is_some() && a.digest != b.digest,
            _ => false,
        };
        let same = match (a, b) {
            (Some(a), Some(b)) => a.rows == b.rows && a.newest == b.newest && !content_changed,
            _ => false,
        };
        if same {
            continue;
        }
        let change = Change {
            table: name.to_string(),
            rows_then: a.map(|t| t.rows),
            rows_now: b.map(|t| t.rows),
            newest_then: a.and_then(|t| t.newest.clone()),
            newest_now: b.and_then(|t| t.newest.clone()),
            content_changed,
        };
        if traffic {
            v.diverging.push(change);
        } else {
            v.stale.push(change);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(table: &str, rows: i64, newest: Option<&str>) -> TableMark {
        TableMark {
            table: table.into(),
            rows,
            newest: newest.map(str::to_string),
            digest: None,
        }
    }

    fn d(table: &str, rows: i64, digest: &str) -> TableMark {
        TableMark {
            digest: Some(digest.into()),
            ..m(table, rows, None)
        }
    }

    #[test]
    fn an_update_that_keeps_the_count_and_has_no_updated_at_is_caught_by_the_digest() {
        let then = vec![d("plugins", 3, "111"), d("services", 2, "7")];
        let now = vec![d("plugins", 3, "222"), d("services", 2, "7")];
        let v = judge(&then, &now);
        let named: Vec<&str> = v.stale.iter().map(|c| c.table.as_str()).collect();
        assert_eq!(named, ["plugins"]);
        assert!(
            v.lines()
                .join("\n")
                .contains("plugins: 3 rows -> 3, rows changed in place"),
            "{:?}",
            v.lines()
        );
        // A record without digests (taken by an older kongrade) is judged as before.
        assert!(!judge(&[m("plugins", 3, None)], &now[..1]).is_stale());
        assert!(is_configuration("kong.plugins"));
        assert!(!is_configuration("sessions") && !is_configuration("locks"));
    }

    #[test]
    fn unchanged_tables_leave_the_clone_fresh() {
        let t = vec![m("services", 3, Some("a")), m("routes", 5, Some("b"))];
        let v = judge(&t, &t);
        assert!(!v.is_stale());
        assert_eq!(v.compared, 2);
        assert!(
            v.lines()[0].contains("no configuration table"),
            "{:?}",
            v.lines()
        );
    }

    #[test]
    fn an_added_row_or_an_update_in_place_is_caught_and_named() {
        let then = vec![m("services", 3, Some("t1")), m("routes", 5, Some("t1"))];
        // One service added; one route updated in place (same count, newer updated_at).
        let now = vec![m("services", 4, Some("t2")), m("routes", 5, Some("t3"))];
        let v = judge(&then, &now);
        assert!(v.is_stale());
        let named: Vec<&str> = v.stale.iter().map(|c| c.table.as_str()).collect();
        assert_eq!(named, ["routes", "services"]);
        let text = v.lines().join("\n");
        assert!(
            text.contains("services: 3 rows -> 4, newest write t1 -> t2"),
            "{text}"
        );
        assert!(text.contains("--clone-replace"), "{text}");
    }

    #[test]
    fn a_deleted_row_and_a_new_table_are_changes_too() {
        let then = vec![m("consumers", 2, None)];
        let now = vec![m("consumers", 1, None), m("vaults", 1, Some("x"))];
        let v = judge(&then, &now);
        assert_eq!(v.stale.len(), 2);
        assert_eq!(v.stale[1].rows_then, None);
        assert!(v.stale[1]
            .describe()
            .starts_with("vaults: no table rows -> 1"));
    }

    #[test]
    fn traffic_tables_diverge_and_bookkeeping_is_ignored() {
        let then = vec![
            m("sessions", 1, None),
            m("ratelimiting_metrics", 10, None),
            m("cluster_events", 1, None),
            m("locks", 0, None),
        ];
        let now = vec![
            m("sessions", 9, None),
            m("ratelimiting_metrics", 99, None),
            m("cluster_events", 7, None),
            m("locks", 1, None),
        ];
        let v = judge(&then, &now);
        assert!(!v.is_stale(), "{v:?}");
        assert_eq!(v.diverging.len(), 2);
        assert!(v.lines().join("\n").contains("Expected to diverge"));
        // A schema-qualified name is judged by its table.
        let v = judge(
            &[m("kong.sessions", 1, None)],
            &[m("kong.sessions", 2, None)],
        );
        assert!(!v.is_stale());
    }
}
