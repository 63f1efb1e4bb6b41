//! Review, per migration (issue 15 point 1): what it changes (the catalog's `FactsBook`), the
//! rows its tables hold now (the poller's planner estimates), whether it rewrites, indexes, writes or
//! reads through a large table, how long it should take (diagnose's estimate, or a rehearsal's measured time),
//! and with `--kong-lua-path` the module's real text. Pure: the runtime read everything.

use crate::contract::clone::{human_ms, RehearsalRecord};
use crate::kong::catalog::{Db, DbFacts, FactsBook, PhaseFacts};
use crate::kong::diagnose::{advised_secs, human_secs, HeavyWork, RehearsalScale, SIZABLE_ROWS};
use crate::kong::rewrites::{self, Phase, Rewrite};

use super::model::Model;

/// A migration's module as read from `--kong-lua-path` (by the runtime, at start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationSource {
    pub path: String,
    pub text: String,
}

/// The last rehearsal of this database for this target, from its journal, and whether the
/// database changed since (the runtime compared the clone's table marks with the database).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rehearsal {
    pub record: RehearsalRecord,
    pub staleness: Staleness,
}

/// Whether the database changed since the rehearsal's clone. A check that did not answer is
/// not "unchanged", and not "changed" either: it is said as not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// The check is running (the wizard's start: it answers through a message).
    Checking,
    /// Checked: every table as the clone had it.
    Fresh,
    /// Checked: what changed since.
    Changed(String),
    /// Not checked: why (no answer in time, the database could not be read).
    NotChecked(String),
}

impl Staleness {
    /// The write guard's judgement of the database's table marks now against the clone's.
    pub fn judged(
        record: &RehearsalRecord,
        now: &[crate::contract::clone::TableMark],
    ) -> Staleness {
        let v = crate::kong::write_guard::judge(&record.clone.tables, now);
        let changed: Vec<String> = v.stale.iter().map(|c| c.describe()).collect();
        if changed.is_empty() {
            Staleness::Fresh
        } else {
            Staleness::Changed(changed.join("; "))
        }
    }

    /// `fresh`, `changed`, `not_checked`, `checking` (plan's JSON).
    pub fn as_str(&self) -> &'static str {
        match self {
            Staleness::Checking => "checking",
            Staleness::Fresh => "fresh",
            Staleness::Changed(_) => "changed",
            Staleness::NotChecked(_) => "not_checked",
        }
    }

    /// A database other than PostgreSQL: the clone's marks cannot be compared.
    pub fn not_postgres() -> Staleness {
        Staleness::NotChecked(
            "the database is not PostgreSQL, where the clone's marks were taken".into(),
        )
    }
}

impl Rehearsal {
    /// A rehearsal whose staleness is still to be checked.
    pub fn unchecked(record: RehearsalRecord) -> Rehearsal {
        Rehearsal {
            record,
            staleness: Staleness::Checking,
        }
    }

    /// "rehearsed on DATE: up 3 min 12 s, finish 41 s; slowest core/016_280_to_300 2 min 50 s",
    /// then whether the database changed since, or that this was not (yet) checked.
    pub fn line(&self) -> String {
        let summary = self.record.summary();
        match &self.staleness {
            Staleness::Fresh => summary,
            Staleness::Changed(why) => {
                format!("{summary} (STALE: the database changed since: {why})")
            }
            Staleness::NotChecked(why) => format!(
                "{summary} (not checked: {why}; whether the database changed since is not known)"
            ),
            Staleness::Checking => {
                format!("{summary} (checking whether the database changed since...)")
            }
        }
    }

    /// What the rehearsal measured for one migration, per kong step (`up`, `finish`): the step,
    /// the milliseconds on the clone, and whether the step succeeded.
    pub fn measured(&self, subsystem: &str, migration: &str) -> Vec<(String, u64, bool)> {
        self.record
            .steps
            .iter()
            .flat_map(|s| {
                s.migrations
                    .iter()
                    .filter(|t| t.subsystem == subsystem && t.migration == migration)
                    .map(|t| (s.command.clone(), t.ms, s.ok))
            })
            .collect()
    }
}

/// A rehearsal's time for one migration in one kong step, as the timeout advice goes by it.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The kong step (`up`, `finish`, `up (Kong 3.4.2)`).
    pub step: String,
    /// The time on the clone, scaled by the tables' growth since (unscaled when that cannot be
    /// told).
    pub rehearsed_secs: f64,
    /// The time the advice goes by: `rehearsed_secs`, never below the estimate.
    pub secs: f64,
    /// The step failed: its time was cut short, so the migration takes at least this long.
    pub at_least: bool,
}

/// What a migration does with a table's rows, for Review's LARGE flag: each takes time with
/// them, each in its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowWork {
    /// An ALTER that writes every row again (a new type).
    Rewrite,
    /// An index build (CREATE INDEX, a unique or primary key).
    Index,
    /// UPDATE, INSERT ... SELECT, DELETE, or Lua writing rows.
    Write,
    /// Reads every row under a lock without writing it (SET NOT NULL, a new foreign key or
    /// CHECK, VALIDATE CONSTRAINT).
    Scan,
    /// The estimate's table (`kong::rewrites`) names it where the facts do not say how.
    Estimated,
}

impl RowWork {
    const ALL: [RowWork; 5] = [
        RowWork::Rewrite,
        RowWork::Index,
        RowWork::Write,
        RowWork::Scan,
        RowWork::Estimated,
    ];

    /// The verb, before the tables' names.
    fn verb(self) -> &'static str {
        match self {
            RowWork::Rewrite => "rewrites",
            RowWork::Index => "builds an index on",
            RowWork::Write => "writes rows of",
            RowWork::Scan => "reads every row under lock of",
            RowWork::Estimated => "works through the rows of",
        }
    }
}

/// What Review says of one migration.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationReview {
    pub subsystem: String,
    pub migration: String,
    pub two_phase: bool,
    /// The catalog knows what it changes (Kong's own migrations; not rocks' or a Lua tree's).
    pub facts_known: bool,
    /// What it changes, one phrase per phase: `up: creates sm_vaults; alters routes (+priority)`.
    pub changes: Vec<String>,
    /// The facts may be incomplete (code the generator does not follow).
    pub partial: bool,
    /// Tables it touches that were counted, with their rows (planner estimates).
    pub rows: Vec<(String, i64)>,
    /// Tables it rewrites, indexes, writes or scans that hold at least `SIZABLE_ROWS` rows.
    pub large: Vec<String>,
    /// What it does with each of them (a table may have several), in the facts' order.
    pub large_work: Vec<(RowWork, String)>,
    /// Diagnose's estimate (up and finish together), when its tables are counted.
    pub estimate_secs: Option<f64>,
    /// A rehearsal's times, per kong step, as the advice takes them: they replace the estimate.
    pub measured: Vec<Measured>,
    /// The rehearsal's scale on the tables now (`diagnose::RehearsalScale`): the growth factor,
    /// or why its times say nothing of them (then the advice goes by the estimate alone).
    pub growth: Result<f64, &'static str>,
    /// How far the measured times hold: `None` when the database was checked unchanged since
    /// the rehearsal, else the word that marks them (`stale`, `not checked`, `checking`).
    pub measured_mark: Option<&'static str>,
}

impl MigrationReview {
    /// How long it should take, as Review says it: measured when rehearsed, else the estimate.
    /// The number is the one `kongrade plan` advises by: the rehearsed time scaled by the tables'
    /// growth, never below the estimate; a failed step's time is a floor ("at least").
    pub fn duration_text(&self) -> Option<String> {
        let estimate = self
            .estimate_secs
            .map(|s| format!("estimate: ~{}", human_secs(s)));
        if self.measured.is_empty() {
            return estimate;
        }
        let growth = match self.growth {
            // The advice takes the estimate alone then.
            Err(why) if estimate.is_some() => {
                return estimate.map(|e| format!("{e} (the rehearsal's times not taken: {why})"))
            }
            Err(why) => Some(format!(" (as measured on the clone: {why})")),
            Ok(g) if g > 1.0 => Some(format!(" (x{g:.1}: the tables grew since the clone)")),
            Ok(_) => None,
        };
        let parts: Vec<String> = self
            .measured
            .iter()
            .map(|m| {
                let secs = human_ms((m.secs * 1000.0).round() as u64);
                let at_least = if m.at_least { "at least " } else { "" };
                let mut part = format!("{} {at_least}", m.step);
                if m.secs > m.rehearsed_secs {
                    let took = human_ms((m.rehearsed_secs * 1000.0).round() as u64);
                    part.push_str(&format!("~{secs} (the estimate; rehearsed {took})"));
                } else {
                    part.push_str(&secs);
                }
                if m.at_least {
                    part.push_str(" (the step failed)");
                }
                part
            })
            .collect();
        let mut s = match self.measured_mark {
            None => format!("rehearsed: {}", parts.join(", ")),
            Some(mark) => format!("rehearsed ({mark}): {}", parts.join(", ")),
        };
        s.push_str(growth.as_deref().unwrap_or(""));
        Some(s)
    }

    /// What Review says in place of the changes when it lists none: the catalog does not know
    /// the migration, code builds its SQL at run time (the facts are partial), or its SQL has
    /// none the catalog finds.
    pub fn no_changes_text(&self) -> Option<&'static str> {
        if !self.facts_known {
            Some("not in kongrade's catalog")
        } else if !self.changes.is_empty() {
            None
        } else if self.partial {
            Some("not known: built at run time")
        } else {
            Some("no table, index or row")
        }
    }

    /// What it does with its large tables, per kind of work: `rewrites consumers; reads every
    /// row under lock of routes`. None when no table is large.
    pub fn large_text(&self) -> Option<String> {
        let parts: Vec<String> = RowWork::ALL
            .iter()
            .filter_map(|&k| {
                let tables: Vec<&str> = self
                    .large_work
                    .iter()
                    .filter(|(w, _)| *w == k)
                    .map(|(_, t)| t.as_str())
                    .collect();
                (!tables.is_empty()).then(|| format!("{} {}", k.verb(), tables.join(", ")))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Rows as said on screen: the planner's estimates, labelled so.
    pub fn rows_text(&self) -> Option<String> {
        if self.rows.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .rows
            .iter()
            .map(|(t, n)| format!("{t} ~{}", thousands(*n)))
            .collect();
        Some(format!("rows now (estimates): {}", parts.join(", ")))
    }

    /// Everything, for the detail view (`v`), then the module's text when one was read.
    pub fn detail_text(&self, source: Option<&MigrationSource>, lua_path: bool) -> String {
        let mut s = format!("{} migration {}\n\n", self.subsystem, self.migration);
        s.push_str(if self.two_phase {
            "Two-phase: up runs its first half; the rest stays pending until finish, so old nodes keep working meanwhile.\n"
        } else {
            "Runs completely during up.\n"
        });
        if !self.facts_known {
            s.push_str("\nWhat it changes: not in kongrade's catalog (a plugin shipped apart from Kong, or a Lua tree's own).\n");
        } else if self.changes.is_empty() && self.partial {
            s.push_str("\nWhat it changes: not known: built at run time (by code the catalog's reading does not follow; the module's text, with --kong-lua-path, shows it).\n");
        } else if self.changes.is_empty() {
            s.push_str("\nWhat it changes: no table, index or row that the catalog's reading of its SQL finds.\n");
        } else {
            s.push_str("\nWhat it changes (the catalog, read from Kong's tags):\n");
            for c in &self.changes {
                s.push_str(&format!("  {c}\n"));
            }
            if self.partial {
                s.push_str("  (part of it is built at run time: the list may be incomplete)\n");
            }
        }
        if let Some(r) = self.rows_text() {
            s.push_str(&format!("\n{r}\n"));
        }
        if let Some(work) = self.large_text() {
            s.push_str(&format!(
                "LARGE: it {work} ({} rows or more): plan the time, and pass the timeouts `kongrade plan` gives.\n",
                thousands(SIZABLE_ROWS)
            ));
        }
        if let Some(d) = self.duration_text() {
            s.push_str(&format!("{d}\n"));
            // Unless the estimate is what it said (the rehearsal's times not taken).
            if !self.measured.is_empty() && self.growth.is_ok() {
                if let Some(e) = self.estimate_secs {
                    s.push_str(&format!("  (the estimate was ~{})\n", human_secs(e)));
                }
            }
        }
        match source {
            Some(src) => s.push_str(&format!("\n{}:\n\n{}\n", src.path, src.text)),
            None if lua_path => s.push_str("\nIts module was not found in --kong-lua-path.\n"),
            None => s.push_str("\nWith --kong-lua-path (an installed Kong's Lua tree) this view shows the migration's real SQL.\n"),
        }
        s
    }
}

/// `1,000,000`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn phase_changes(label: &str, p: &PhaseFacts) -> Option<String> {
    let mut parts = Vec::new();
    if !p.creates.is_empty() {
        parts.push(format!("creates {}", p.creates.join(", ")));
    }
    for a in &p.alters {
        let mut cols: Vec<String> = a.add.iter().map(|c| format!("+{c}")).collect();
        cols.extend(a.drop.iter().map(|c| format!("-{c}")));
        cols.extend(a.other.iter().cloned());
        if a.rewrite {
            cols.push("rewrites the table".into());
        }
        if a.scan {
            // The lock differs (ACCESS EXCLUSIVE for SET NOT NULL and CHECK, SHARE ROW
            // EXCLUSIVE for a foreign key, SHARE UPDATE EXCLUSIVE for VALIDATE): said plainly.
            cols.push("reads every row under lock".into());
        }
        parts.push(if cols.is_empty() {
            format!("alters {}", a.table)
        } else {
            format!("alters {} ({})", a.table, cols.join(", "))
        });
    }
    if !p.drops.is_empty() {
        parts.push(format!("drops {}", p.drops.join(", ")));
    }
    for i in &p.indexes {
        parts.push(match &i.name {
            Some(n) => format!("indexes {} ({n})", i.table),
            None => format!("indexes {}", i.table),
        });
    }
    for w in &p.writes {
        let mut how = Vec::new();
        if !w.update.is_empty() {
            how.push(format!("updates {}", w.update.join(", ")));
        }
        if w.insert {
            how.push("inserts".to_string());
        }
        if w.delete {
            how.push("deletes".to_string());
        }
        parts.push(format!("rewrites {} rows ({})", w.table, how.join(", ")));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!("{label}: {}", parts.join("; ")))
}

/// The tables a migration touches, and those whose size its time depends on (the LARGE
/// candidates): rewritten or scanned under lock by an ALTER (a new type, SET NOT NULL), indexed,
/// or with rows written. A new table is empty, a dropped one goes at once, and other ALTERs (a
/// column, a default, DROP NOT NULL) only change the catalog.
/// From its facts and from the estimate's table (`kong::rewrites`), so that the flag, the rows
/// and the estimate agree.
fn work_tables<'a>(
    facts: Option<&DbFacts>,
    rewrites: impl Iterator<Item = &'a Rewrite>,
) -> (Vec<String>, Vec<(RowWork, String)>) {
    fn add(v: &mut Vec<String>, t: &str) {
        if !v.iter().any(|x| x == t) {
            v.push(t.to_string());
        }
    }
    fn add_work(v: &mut Vec<(RowWork, String)>, k: RowWork, t: &str) {
        if !v.iter().any(|(w, x)| *w == k && x == t) {
            v.push((k, t.to_string()));
        }
    }
    let mut touched = Vec::new();
    let mut heavy = Vec::new();
    for (_, p) in facts.iter().flat_map(|d| d.phases()) {
        for t in p.tables() {
            add(&mut touched, t);
        }
        for a in &p.alters {
            if a.rewrite {
                add_work(&mut heavy, RowWork::Rewrite, &a.table);
            }
            // A rewrite reads the rows anyway: the scan is not said again.
            if a.scan && !a.rewrite {
                add_work(&mut heavy, RowWork::Scan, &a.table);
            }
        }
        for i in &p.indexes {
            add_work(&mut heavy, RowWork::Index, &i.table);
        }
        for w in &p.writes {
            add_work(&mut heavy, RowWork::Write, &w.table);
        }
    }
    for r in rewrites {
        for t in r.tables {
            add(&mut touched, t);
            if !heavy.iter().any(|(_, x)| x == t) {
                add_work(&mut heavy, RowWork::Estimated, t);
            }
        }
    }
    (touched, heavy)
}

impl Model {
    /// What Review says of each migration `up` will run, in order.
    pub fn migration_reviews(&self) -> Vec<MigrationReview> {
        let db = self.state().map(|s| s.db).unwrap_or(Db::Postgres);
        let counts = self.reading.as_ref().and_then(|r| r.row_counts.as_deref());
        let count = |t: &str| counts.and_then(|c| c.iter().find(|(n, _)| n == t).map(|(_, n)| *n));
        let estimates = self
            .reading
            .as_ref()
            .map(|r| r.estimates.as_slice())
            .unwrap_or(&[]);
        let rehearsal = self.setup.rehearsal.as_ref();
        let scale = rehearsal.map(|r| RehearsalScale::of(&r.record, counts));
        self.new_migrations()
            .into_iter()
            .map(|(sub, name, two_phase)| {
                let facts = FactsBook::embedded().of(sub, name, self.setup.target);
                let dbf = facts.and_then(|f| f.db(db));
                let mut changes = Vec::new();
                let mut partial = false;
                if let Some(d) = dbf {
                    for (label, p) in [
                        ("up", &d.up),
                        ("up_f (Lua, during up)", &d.up_f),
                        ("teardown (finish)", &d.teardown),
                    ] {
                        changes.extend(phase_changes(label, p));
                        partial |= p.partial;
                    }
                }
                // The estimate's entries, as diagnose takes them: PostgreSQL's work; on
                // Cassandra only core 016's row-by-row rewrite of the regex routes.
                let rewrites = rewrites::of(sub, name).filter(|r| {
                    db == Db::Postgres || r.written == Some(rewrites::ROUTES_WITH_REGEX_PATHS)
                });
                let (touched, heavy) = work_tables(dbf, rewrites);
                let rows: Vec<(String, i64)> = touched
                    .iter()
                    .filter_map(|t| count(t).map(|n| (t.clone(), n)))
                    .collect();
                let large_work: Vec<(RowWork, String)> = heavy
                    .into_iter()
                    .filter(|(_, t)| count(t).is_some_and(|n| n >= SIZABLE_ROWS))
                    .collect();
                let mut large: Vec<String> = Vec::new();
                for (_, t) in &large_work {
                    if !large.contains(t) {
                        large.push(t.clone());
                    }
                }
                let mine: Vec<&HeavyWork> = estimates
                    .iter()
                    .filter(|h| h.subsystem == sub && h.migration == name)
                    .collect();
                let estimate_of = |phase: Phase| -> f64 {
                    mine.iter()
                        .filter(|h| h.phase == phase)
                        .map(|h| h.est_secs)
                        .sum()
                };
                // Each step's time as the advice takes it: scaled, never below that step's
                // estimate (a walked path's `up (Kong 3.4.2)` is an up).
                let measured = rehearsal
                    .map(|r| r.measured(sub, name))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(step, ms, ok)| {
                        let phase = if step.starts_with("finish") {
                            Phase::Teardown
                        } else {
                            Phase::Up
                        };
                        let rehearsed_secs = match scale {
                            Some(Ok(s)) => s.secs(ms),
                            _ => ms as f64 / 1000.0,
                        };
                        Measured {
                            secs: advised_secs(estimate_of(phase), Some(rehearsed_secs)),
                            rehearsed_secs,
                            step,
                            at_least: !ok,
                        }
                    })
                    .collect();
                MigrationReview {
                    subsystem: sub.to_string(),
                    migration: name.to_string(),
                    two_phase,
                    facts_known: dbf.is_some(),
                    changes,
                    partial,
                    rows,
                    large,
                    large_work,
                    estimate_secs: (!mine.is_empty())
                        .then(|| estimate_of(Phase::Up) + estimate_of(Phase::Teardown)),
                    measured,
                    growth: match scale {
                        Some(Ok(s)) => Ok(s.growth),
                        Some(Err(why)) => Err(why),
                        None => Ok(1.0),
                    },
                    measured_mark: rehearsal.and_then(|r| match r.staleness {
                        Staleness::Fresh => None,
                        Staleness::Changed(_) => Some("stale"),
                        Staleness::NotChecked(_) => Some("not checked"),
                        Staleness::Checking => Some("checking"),
                    }),
                }
            })
            .collect()
    }

    /// The rehearsal line for Review and Up, when the journal has one for this target.
    pub fn rehearsal_line(&self) -> Option<String> {
        self.setup.rehearsal.as_ref().map(Rehearsal::line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables of `work_tables`' heavy work, once each.
    fn tables(heavy: &[(RowWork, String)]) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for (_, t) in heavy {
            if !v.contains(&t.as_str()) {
                v.push(t);
            }
        }
        v
    }

    /// A table the estimate's entries name counts for the flag and the rows even where the
    /// facts miss it.
    #[test]
    fn the_estimates_tables_count_with_the_facts() {
        use crate::kong::rewrites::Work;
        let facts = DbFacts {
            up: crate::kong::sql_facts::of_sql(
                "CREATE TABLE fresh (id int); UPDATE services SET x = 1; DROP TABLE old;",
            ),
            ..DbFacts::default()
        };
        let entry = Rewrite {
            subsystem: "core",
            migration: "x",
            phase: Phase::Teardown,
            work: Work::Statement,
            tables: &["plugins", "services"],
            written: None,
        };
        let (touched, heavy) = work_tables(Some(&facts), [&entry].into_iter());
        assert_eq!(touched, ["fresh", "old", "services", "plugins"]);
        assert_eq!(tables(&heavy), ["services", "plugins"]);
        // The facts say how services is written; the estimate alone names plugins.
        assert_eq!(
            heavy,
            [
                (RowWork::Write, "services".to_string()),
                (RowWork::Estimated, "plugins".to_string())
            ]
        );
        // A migration the catalog has no facts for (a rock's) still gets the estimate's tables.
        let (touched, heavy) = work_tables(None, [&entry].into_iter());
        assert_eq!(touched, ["plugins", "services"]);
        assert_eq!(tables(&heavy), touched);
        let (touched, heavy) = work_tables(Some(&facts), std::iter::empty());
        assert_eq!(tables(&heavy), ["services"]);
        assert_eq!(touched, ["fresh", "old", "services"]);
    }

    /// LARGE is for what takes time with the rows: a table rewrite, SET NOT NULL's scan under
    /// lock, an index build, row writes; not a new column, a default or DROP NOT NULL.
    #[test]
    fn only_rewrites_scans_index_builds_and_row_writes_are_large_candidates() {
        let facts = DbFacts {
            up: crate::kong::sql_facts::of_sql(
                "ALTER TABLE services ADD x INT; ALTER TABLE routes ALTER COLUMN ws_id SET DEFAULT NULL;
                 ALTER TABLE upstreams ALTER COLUMN d SET NOT NULL;
                 ALTER TABLE snis ALTER COLUMN e DROP NOT NULL, ALTER f DROP DEFAULT;",
            ),
            teardown: crate::kong::sql_facts::of_sql(
                "ALTER TABLE consumers ALTER COLUMN created_at TYPE TIMESTAMP WITH TIME ZONE;
                 ALTER TABLE targets ADD c TEXT UNIQUE; UPDATE acls SET k = 1;",
            ),
            ..DbFacts::default()
        };
        let (touched, heavy) = work_tables(Some(&facts), std::iter::empty());
        assert_eq!(
            touched,
            [
                "services",
                "routes",
                "upstreams",
                "snis",
                "consumers",
                "targets",
                "acls"
            ]
        );
        assert_eq!(
            tables(&heavy),
            ["upstreams", "consumers", "targets", "acls"]
        );
        let changes = phase_changes("up", &facts.up).unwrap_or_default();
        assert!(
            changes.contains(
                "alters upstreams (alter column d set not null, reads every row under lock)"
            ),
            "{changes}"
        );
        let changes = phase_changes("teardown", &facts.teardown).unwrap_or_default();
        assert!(
            changes.contains("alters consumers (alter column created_at type, rewrites the table)"),
            "{changes}"
        );
        assert!(
            changes.contains("indexes targets (targets_c_key)"),
            "{changes}"
        );
    }

    /// LARGE says what it does with each table, from the facts: a table only scanned (009's
    /// foreign keys) is not said to be rewritten, indexed or written.
    #[test]
    fn large_says_the_work_per_table() {
        let facts = DbFacts {
            up: crate::kong::sql_facts::of_sql(
                "ALTER TABLE routes ADD CONSTRAINT r_fk FOREIGN KEY (s) REFERENCES services (id);
                 ALTER TABLE consumers ALTER COLUMN c TYPE TEXT;
                 CREATE INDEX ON targets (t); UPDATE acls SET k = 1;
                 ALTER TABLE plugins ADD CONSTRAINT p_fk FOREIGN KEY (r) REFERENCES routes (id) NOT VALID;
                 UPDATE routes SET x = 1;",
            ),
            ..DbFacts::default()
        };
        let (_, heavy) = work_tables(Some(&facts), std::iter::empty());
        let mut r = review(&[], false);
        r.large = tables(&heavy).iter().map(|t| t.to_string()).collect();
        r.large_work = heavy;
        assert_eq!(r.large, ["routes", "consumers", "targets", "acls"]);
        assert_eq!(
            r.large_text().as_deref(),
            Some("rewrites consumers; builds an index on targets; writes rows of acls, routes; reads every row under lock of routes")
        );
        let detail = r.detail_text(None, false);
        assert!(
            detail.contains("LARGE: it rewrites consumers; builds an index on targets; writes rows of acls, routes; reads every row under lock of routes (100,000 rows or more)"),
            "{detail}"
        );
        // Scanned only: said as such, with none of the other verbs.
        r.large = vec!["routes".into()];
        r.large_work = vec![(RowWork::Scan, "routes".into())];
        let detail = r.detail_text(None, false);
        assert!(
            detail.contains("LARGE: it reads every row under lock of routes ("),
            "{detail}"
        );
        assert!(!detail.contains("rewrites"), "{detail}");
        r.large = vec![];
        r.large_work = vec![];
        assert!(r.large_text().is_none());
        assert!(!r.detail_text(None, false).contains("LARGE"));
    }

    fn review(changes: &[&str], partial: bool) -> MigrationReview {
        MigrationReview {
            subsystem: "core".into(),
            migration: "013_220_to_230".into(),
            two_phase: false,
            facts_known: true,
            changes: changes.iter().map(|c| c.to_string()).collect(),
            partial,
            rows: vec![],
            large: vec![],
            large_work: vec![],
            estimate_secs: None,
            measured: vec![],
            growth: Ok(1.0),
            measured_mark: None,
        }
    }

    /// Partial facts with no change found are not "no change": the code builds it at run time.
    #[test]
    fn partial_facts_without_changes_are_said_not_known() {
        let r = review(&[], true);
        assert_eq!(r.no_changes_text(), Some("not known: built at run time"));
        let text = r.detail_text(None, false);
        assert!(
            text.contains("What it changes: not known: built at run time"),
            "{text}"
        );
        assert!(!text.contains("no table, index or row"), "{text}");
        let r = review(&[], false);
        assert_eq!(r.no_changes_text(), Some("no table, index or row"));
        assert!(r
            .detail_text(None, false)
            .contains("no table, index or row"));
        let r = review(&["up: creates parameters"], true);
        assert_eq!(r.no_changes_text(), None);
        assert!(r.detail_text(None, false).contains("may be incomplete"));
        let r = MigrationReview {
            facts_known: false,
            ..review(&[], true)
        };
        assert_eq!(r.no_changes_text(), Some("not in kongrade's catalog"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
