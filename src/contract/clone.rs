//! What a clone and a rehearsal leave behind: the proof of a clone (the tables it was checked
//! on) and a rehearsal's timings, as journaled and printed by `--json`. Never a password.

use serde::{Deserialize, Serialize};

/// One table as the write guard and the clone's proof see it: its rows and the newest
/// `created_at`/`updated_at` (UTC text, `None` when the table has neither column or no rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMark {
    pub table: String,
    pub rows: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// A digest of the table's rows (configuration tables only): an UPDATE that keeps the count
    /// and touches no `updated_at` (many Kong tables gained one only in later 3.x releases)
    /// still changes it. `None`: not taken (traffic and bookkeeping tables, older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A proven clone: what was copied where, at which snapshot, and what it was proven on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneRecord {
    /// `user@host:port/db` of the source and of the clone.
    pub source: String,
    pub clone: String,
    /// The clone's connection facts (kong on the new cluster is pointed at them).
    pub clone_host: String,
    pub clone_port: u16,
    pub clone_database: String,
    /// The clone database was created by this clone (else it existed, empty or replaced).
    pub created: bool,
    pub replaced: bool,
    /// The PostgreSQL major of both servers (`15`, `9.6`).
    pub server_major: String,
    /// The source's exported snapshot the dump and the counts were taken at.
    pub snapshot: String,
    /// Every table of the source at that snapshot (the clone was proven to hold the same).
    pub tables: Vec<TableMark>,
    /// Rows of `schema_meta` compared (identical on both).
    pub schema_meta_rows: usize,
    pub elapsed_ms: u64,
    pub created_at: String,
}

impl CloneRecord {
    pub fn total_rows(&self) -> i64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// How long one migration took in a rehearsal (from the previous one's appearance in
/// `schema_meta`, or the run's start, to its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationTiming {
    pub subsystem: String,
    pub migration: String,
    pub ms: u64,
}

/// One kong step of a rehearsal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RehearsedStep {
    /// `up` or `finish`.
    pub command: String,
    pub ms: u64,
    pub ok: bool,
    /// kong's exit (`exit code 0`, `killed by signal 9`...).
    pub outcome: String,
    pub migrations: Vec<MigrationTiming>,
    /// kong's output when the step failed (the last lines), else empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

/// A rehearsal: the clone, each step with its migrations' times, the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RehearsalRecord {
    /// When it ran (UTC, `2026-12-01T12:00:00Z`).
    pub at: String,
    pub target: Option<String>,
    pub kong_cmd: String,
    pub clone: CloneRecord,
    pub steps: Vec<RehearsedStep>,
    pub ok: bool,
    /// The scratch database was kept (`--keep`), else dropped.
    pub kept: bool,
}

impl RehearsalRecord {
    /// The latest of `records` (journal order) rehearsed for `target` (`None`: a target of
    /// unknown version, which no record names): another target's times say nothing of this
    /// one, and a later rehearsal of another target does not hide it.
    pub fn latest_for<'a>(
        records: impl DoubleEndedIterator<Item = &'a RehearsalRecord>,
        target: Option<&str>,
    ) -> Option<&'a RehearsalRecord> {
        let target = target?;
        records.rev().find(|r| r.target.as_deref() == Some(target))
    }

    /// The steps that ran kong `command` (`up`, `finish`) with Kong `kong`: a one-kong
    /// rehearsal's `up`, or a walked path's `up (Kong 3.4.2)` for that hop only.
    fn steps_of<'a>(
        &'a self,
        command: &'a str,
        kong: Option<&'a str>,
    ) -> impl Iterator<Item = &'a RehearsedStep> + 'a {
        self.steps.iter().filter(move |s| {
            s.command == command
                || kong.is_some_and(|v| s.command == format!("{command} (Kong {v})"))
        })
    }

    /// The longest kong step `command` with Kong `kong` took, in ms. A failed step counts: the
    /// run it cut short would have taken at least as long.
    pub fn step_ms(&self, command: &str, kong: Option<&str>) -> Option<u64> {
        self.steps_of(command, kong).map(|s| s.ms).max()
    }

    /// What one migration took in the steps `command` with Kong `kong`, in ms.
    pub fn migration_ms(
        &self,
        command: &str,
        kong: Option<&str>,
        subsystem: &str,
        migration: &str,
    ) -> Option<u64> {
        self.steps_of(command, kong)
            .flat_map(|s| s.migrations.iter())
            .filter(|m| m.subsystem == subsystem && m.migration == migration)
            .map(|m| m.ms)
            .max()
    }

    /// How much bigger the tables `now` counts are than when the clone was taken (the largest
    /// ratio among the tables both know, never below 1): a rehearsal's times, scaled by it, do
    /// not promise a run on grown tables the speed of the smaller ones. A table empty then and
    /// filled now has grown beyond any ratio: infinite (the rehearsal says nothing of it).
    pub fn growth(&self, now: impl Fn(&str) -> Option<i64>) -> f64 {
        self.clone
            .tables
            .iter()
            .filter_map(|t| {
                let n = now(&t.table)?;
                Some(match (t.rows, n) {
                    (0, n) if n > 0 => f64::INFINITY,
                    (0, _) => 1.0,
                    (then, n) => n as f64 / then as f64,
                })
            })
            .fold(1.0, f64::max)
    }
}

/// `3 min 12 s`, `41 s`, `850 ms`, `1 h 2 min`.
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = (ms + 500) / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

impl RehearsalRecord {
    /// The slowest migration of the whole rehearsal.
    pub fn slowest(&self) -> Option<&MigrationTiming> {
        self.steps
            .iter()
            .flat_map(|s| &s.migrations)
            .max_by_key(|m| m.ms)
    }

    /// One line for the wizard's Review and Up: "rehearsed on 2026-12-01: up 3 min 12 s,
    /// finish 41 s; slowest core/016_280_to_300 2 min 50 s" (a failed step says so).
    pub fn summary(&self) -> String {
        let date = self.at.get(..10).unwrap_or(&self.at);
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                if s.ok {
                    format!("{} {}", s.command, human_ms(s.ms))
                } else {
                    format!(
                        "{} FAILED after {} ({})",
                        s.command,
                        human_ms(s.ms),
                        s.outcome
                    )
                }
            })
            .collect();
        let mut line = format!("rehearsed on {date}: {}", steps.join(", "));
        if self.steps.is_empty() {
            line.push_str("nothing to run (already at the target)");
        }
        if let Some(m) = self.slowest() {
            line.push_str(&format!(
                "; slowest {}/{} {}",
                m.subsystem,
                m.migration,
                human_ms(m.ms)
            ));
        }
        line
    }
}

/// When each migration was first seen recorded while kong ran (the rehearsal polls
/// `schema_meta`): each one took from the previous sighting (or kong's start) to its own.
/// Migrations first seen in the same poll share that interval.
#[derive(Debug, Clone, Default)]
pub struct Sightings {
    seen: std::collections::HashSet<(String, String)>,
    last_ms: u64,
    pub timings: Vec<MigrationTiming>,
}

impl Sightings {
    /// `recorded`: what was recorded before kong started.
    pub fn new(recorded: &[(String, String)]) -> Sightings {
        Sightings {
            seen: recorded.iter().cloned().collect(),
            ..Sightings::default()
        }
    }

    /// What is recorded now, `at_ms` after kong started.
    pub fn observe(&mut self, recorded: &[(String, String)], at_ms: u64) {
        let fresh: Vec<&(String, String)> = recorded
            .iter()
            .filter(|m| !self.seen.contains(*m))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let span = at_ms.saturating_sub(self.last_ms);
        let share = span / fresh.len() as u64;
        for (sub, name) in fresh {
            self.timings.push(MigrationTiming {
                subsystem: sub.clone(),
                migration: name.clone(),
                ms: share,
            });
            self.seen.insert((sub.clone(), name.clone()));
        }
        self.last_ms = at_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_migration_takes_from_the_previous_sighting_to_its_own() {
        let m = |n: &str| ("core".to_string(), n.to_string());
        let mut s = Sightings::new(&[m("000_base")]);
        s.observe(&[m("000_base")], 100);
        s.observe(&[m("000_base"), m("a")], 300);
        s.observe(&[m("000_base"), m("a")], 400);
        // Two in one poll share the interval.
        s.observe(&[m("000_base"), m("a"), m("b"), m("c")], 1_300);
        let got: Vec<(&str, u64)> = s
            .timings
            .iter()
            .map(|t| (t.migration.as_str(), t.ms))
            .collect();
        assert_eq!(got, [("a", 300), ("b", 500), ("c", 500)]);
    }

    fn record(steps: Vec<RehearsedStep>) -> RehearsalRecord {
        RehearsalRecord {
            at: "2026-12-01T12:30:00Z".into(),
            target: Some("3.4.2".into()),
            kong_cmd: "kong".into(),
            clone: CloneRecord {
                source: "kong@db:5432/kong".into(),
                clone: "kong@db:5432/kong_rehearsal".into(),
                clone_host: "db".into(),
                clone_port: 5432,
                clone_database: "kong_rehearsal".into(),
                created: true,
                replaced: false,
                server_major: "15".into(),
                snapshot: "00000003-1".into(),
                tables: vec![],
                schema_meta_rows: 1,
                elapsed_ms: 1000,
                created_at: "2026-12-01T12:29:00Z".into(),
            },
            steps,
            ok: true,
            kept: false,
        }
    }

    fn mig(name: &str, ms: u64) -> MigrationTiming {
        MigrationTiming {
            subsystem: "core".into(),
            migration: name.into(),
            ms,
        }
    }

    #[test]
    fn the_summary_names_each_step_and_the_slowest_migration() {
        let r = record(vec![
            RehearsedStep {
                command: "up".into(),
                ms: 192_000,
                ok: true,
                outcome: "exit code 0".into(),
                migrations: vec![mig("015_270_to_280", 2_000), mig("016_280_to_300", 170_000)],
                output: vec![],
            },
            RehearsedStep {
                command: "finish".into(),
                ms: 41_200,
                ok: true,
                outcome: "exit code 0".into(),
                migrations: vec![mig("016_280_to_300", 40_000)],
                output: vec![],
            },
        ]);
        assert_eq!(
            r.summary(),
            "rehearsed on 2026-12-01: up 3 min 12 s, finish 41 s; slowest core/016_280_to_300 2 min 50 s"
        );
    }

    #[test]
    fn a_failed_step_is_said() {
        let r = record(vec![RehearsedStep {
            command: "up".into(),
            ms: 500,
            ok: false,
            outcome: "exit code 1".into(),
            migrations: vec![],
            output: vec!["Error: boom".into()],
        }]);
        assert_eq!(
            r.summary(),
            "rehearsed on 2026-12-01: up FAILED after 500 ms (exit code 1)"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_ms(0), "0 ms");
        assert_eq!(human_ms(999), "999 ms");
        assert_eq!(human_ms(1_000), "1 s");
        assert_eq!(human_ms(60_000), "1 min");
        assert_eq!(human_ms(3_723_000), "1 h 2 min");
        assert_eq!(human_ms(7_200_000), "2 h");
    }
}

/// What the clone's place held when a clone into it started: the journal's `dual-cluster
/// clone` `started` detail says it (auto's and the wizard's), so a restart knows whether the
/// half-made clone is this upgrade's own (absent or empty then) or what `--clone-replace` (or
/// the typed name) replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaceAtStart {
    /// No such database.
    Absent,
    /// A database with no relations in it.
    Empty,
    /// A database holding `relations` relations, `tables` of them tables with `rows` rows.
    Held {
        relations: i64,
        tables: i64,
        rows: i64,
    },
}

impl PlaceAtStart {
    /// The relations in it (None: absent), as the clone's gate counts them.
    pub fn relations(&self) -> Option<i64> {
        match self {
            PlaceAtStart::Absent => None,
            PlaceAtStart::Empty => Some(0),
            PlaceAtStart::Held { relations, .. } => Some(*relations),
        }
    }

    /// The journal's detail of a clone started on this place (`clone` as shown).
    pub fn detail(&self, clone: &str) -> String {
        match self {
            PlaceAtStart::Absent => format!("{clone} (absent at start)"),
            PlaceAtStart::Empty => format!("{clone} (empty at start)"),
            PlaceAtStart::Held { tables, rows, .. } => {
                format!("{clone} (replaced what it held: {tables} tables / {rows} rows)")
            }
        }
    }

    /// Whether a journaled start's detail says the place was this upgrade's to fill (absent or
    /// empty then): only such a half-made clone is replaced again without being asked. The
    /// older wording of journals written before this one counts too.
    pub fn ours(detail: &str, clone: &str) -> bool {
        [
            PlaceAtStart::Absent.detail(clone),
            PlaceAtStart::Empty.detail(clone),
            format!("{clone} (absent or empty at start)"),
        ]
        .iter()
        .any(|d| d == detail)
    }
}

#[cfg(test)]
mod place_tests {
    use super::*;

    #[test]
    fn a_replaced_place_is_said_and_is_not_ours() {
        let c = "kong@db:5432/kong_new";
        let held = PlaceAtStart::Held {
            relations: 9,
            tables: 3,
            rows: 120,
        };
        assert_eq!(
            held.detail(c),
            "kong@db:5432/kong_new (replaced what it held: 3 tables / 120 rows)"
        );
        assert!(!PlaceAtStart::ours(&held.detail(c), c));
        assert!(PlaceAtStart::ours(&PlaceAtStart::Absent.detail(c), c));
        assert!(PlaceAtStart::ours(&PlaceAtStart::Empty.detail(c), c));
        assert!(PlaceAtStart::ours(
            &format!("{c} (absent or empty at start)"),
            c
        ));
        assert!(!PlaceAtStart::ours(&PlaceAtStart::Empty.detail("other"), c));
    }
}
