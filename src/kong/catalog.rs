//! The migration catalog: every Kong release's subsystems and migrations, embedded from
//! `assets/catalog.json` (written by `kongrade-catalog-gen` from a Kong git checkout; regenerate
//! with `cargo run --bin kongrade-catalog-gen -- --kong-repo DIR`).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::version::Version;

/// Which database a Kong cluster keeps its state in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Db {
    Postgres,
    Cassandra,
}

impl fmt::Display for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Db::Postgres => "postgres",
            Db::Cassandra => "cassandra",
        })
    }
}

/// What one database's section of a migration module holds. Serialized as a space-separated word
/// list (`"up teardown"`) to keep the catalog small and readable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Phases {
    /// The section has an `up` key.
    pub up: bool,
    /// `up` is absent or an empty/whitespace-only string (Kong 2.3+ skips it and runs `up_f`).
    pub up_empty: bool,
    /// The section has an `up_f` function.
    pub up_f: bool,
    /// The section has a `teardown`: the migration is two-phase (`up` leaves it pending).
    pub teardown: bool,
}

impl Phases {
    fn words(&self) -> Vec<&'static str> {
        let mut w = Vec::new();
        if self.up {
            w.push("up");
        }
        if self.up_empty {
            w.push("up_empty");
        }
        if self.up_f {
            w.push("up_f");
        }
        if self.teardown {
            w.push("teardown");
        }
        w
    }

    pub fn parse_words(s: &str) -> Result<Phases, String> {
        let mut p = Phases::default();
        for w in s.split_whitespace() {
            match w {
                "up" => p.up = true,
                "up_empty" => p.up_empty = true,
                "up_f" => p.up_f = true,
                "teardown" => p.teardown = true,
                other => return Err(format!("unknown migration phase '{other}'")),
            }
        }
        Ok(p)
    }
}

impl Serialize for Phases {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.words().join(" "))
    }
}

impl<'de> Deserialize<'de> for Phases {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Phases::parse_words(&s).map_err(serde::de::Error::custom)
    }
}

/// One migration of a subsystem, with its section per database (`None`: the module has no
/// section for that database, e.g. Cassandra after 3.4.0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Phases>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cassandra: Option<Phases>,
}

impl AsRef<str> for MigrationSpec {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl MigrationSpec {
    pub fn phases(&self, db: Db) -> Option<Phases> {
        match db {
            Db::Postgres => self.postgres,
            Db::Cassandra => self.cassandra,
        }
    }

    /// Two-phase on this database: `up` records it pending, `finish` runs its teardown.
    pub fn two_phase(&self, db: Db) -> bool {
        self.phases(db).is_some_and(|p| p.teardown)
    }
}

/// What one phase of a migration does to the schema and to the rows, read by the catalog
/// generator from the phase's SQL and Lua (heuristics: see `kong::sql_facts`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseFacts {
    /// Tables created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub creates: Vec<String>,
    /// Tables altered: columns added or dropped, other changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alters: Vec<TableAlter>,
    /// Tables dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drops: Vec<String>,
    /// Indexes created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexFact>,
    /// Rows written (UPDATE, INSERT, DELETE, TRUNCATE), per table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<RowWrite>,
    /// Part of the phase is built by code the generator does not follow (a table named at run
    /// time, SQL assembled by a helper module): the lists may be incomplete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

impl PhaseFacts {
    pub fn is_empty(&self) -> bool {
        *self == PhaseFacts::default()
    }

    /// Every table the phase touches, in the order first named.
    pub fn tables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let names = self
            .creates
            .iter()
            .chain(self.alters.iter().map(|a| &a.table))
            .chain(self.drops.iter())
            .chain(self.indexes.iter().map(|i| &i.table))
            .chain(self.writes.iter().map(|w| &w.table));
        for n in names {
            if !out.contains(&n.as_str()) {
                out.push(n);
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableAlter {
    pub table: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// Other changes, in words: `alter column created_at type`, `alter column ws_id set
    /// default`, `add constraint x`, `rename to y`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
    /// A change rewrites the whole table under an exclusive lock (`ALTER COLUMN ... TYPE`),
    /// unlike adding a column or setting a default, which only change the catalog.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rewrite: bool,
    /// A change reads every row under a lock without writing it: `SET NOT NULL` (ACCESS
    /// EXCLUSIVE), a new FOREIGN KEY or CHECK not marked `NOT VALID` (a new column's REFERENCES
    /// only with a default), `VALIDATE CONSTRAINT`. It takes time with the rows, as a rewrite
    /// does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scan: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFact {
    /// `None` for an unnamed index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub table: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowWrite {
    pub table: String,
    /// Columns set by UPDATE statements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insert: bool,
    /// DELETE or TRUNCATE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
}

/// One database section's facts, per phase (a phase without facts is left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbFacts {
    #[serde(default, skip_serializing_if = "PhaseFacts::is_empty")]
    pub up: PhaseFacts,
    #[serde(default, skip_serializing_if = "PhaseFacts::is_empty")]
    pub up_f: PhaseFacts,
    #[serde(default, skip_serializing_if = "PhaseFacts::is_empty")]
    pub teardown: PhaseFacts,
}

impl DbFacts {
    /// The phases that `kong migrations up` runs (`up`, then `up_f`) or `finish` runs.
    pub fn phases(&self) -> [(&'static str, &PhaseFacts); 3] {
        [
            ("up", &self.up),
            ("up_f", &self.up_f),
            ("teardown", &self.teardown),
        ]
    }
}

/// What a migration changes, from the release `since` on (an entry per change of its module:
/// Kong edits old migrations now and then, e.g. when it dropped Cassandra).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationFacts {
    pub subsystem: String,
    pub migration: String,
    pub since: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<DbFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cassandra: Option<DbFacts>,
}

impl MigrationFacts {
    pub fn db(&self, db: Db) -> Option<&DbFacts> {
        match db {
            Db::Postgres => self.postgres.as_ref(),
            Db::Cassandra => self.cassandra.as_ref(),
        }
    }
}

/// The `facts` list of catalog.json (read apart from [`Catalog`], which lists the migrations).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactsBook {
    #[serde(default)]
    pub facts: Vec<MigrationFacts>,
}

static FACTS: OnceLock<FactsBook> = OnceLock::new();

impl FactsBook {
    /// The facts compiled into this binary (checked by the test suite, like the catalog).
    pub fn embedded() -> &'static FactsBook {
        FACTS.get_or_init(|| {
            serde_json::from_str(EMBEDDED)
                .expect("assets/catalog.json is checked by the test suite")
        })
    }

    /// The facts of a migration as the release `at` ships it (`None`: newest known). Migrations of
    /// rocks and of `--kong-lua-path` trees have none.
    pub fn of(
        &self,
        subsystem: &str,
        migration: &str,
        at: Option<Version>,
    ) -> Option<&MigrationFacts> {
        self.facts
            .iter()
            .filter(|f| f.subsystem == subsystem && f.migration == migration)
            .filter(|f| at.is_none_or(|v| f.since <= v))
            .max_by_key(|f| f.since)
    }
}

/// A migration subsystem: `core` or one plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsystemSpec {
    pub name: String,
    /// Where it comes from: `kong` (Kong's own tree), `rock:<name>@<version>` (a bundled plugin
    /// shipped as a separate rock, at the release the Kong rockspec resolves to), `lua:<dir>`
    /// (scanned from an installed tree by `--kong-lua-path`).
    pub origin: String,
    pub migrations: Vec<MigrationSpec>,
}

impl SubsystemSpec {
    /// Kong's Lua namespace for the subsystem, as `kong migrations status` prints it.
    pub fn namespace(&self) -> String {
        namespace_of(&self.name)
    }

    pub fn position(&self, migration: &str) -> Option<usize> {
        self.migrations.iter().position(|m| m.name == migration)
    }

    /// For a subsystem from a separate rock: the rock's name and release.
    pub fn rock(&self) -> Option<(&str, &str)> {
        self.origin.strip_prefix("rock:")?.split_once('@')
    }
}

pub fn namespace_of(subsystem: &str) -> String {
    if subsystem == "core" {
        "kong.db.migrations.core".to_string()
    } else {
        format!("kong.plugins.{subsystem}.migrations")
    }
}

/// One final Kong release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: Version,
    /// `kong/constants.lua` BUNDLED_PLUGINS at this tag, in Kong's order.
    pub bundled_plugins: Vec<String>,
    /// From 2.4.0 Kong sorts plugin subsystems by name; before, their order is unspecified.
    pub plugins_sorted: bool,
    /// Subsystems loaded with `plugins = bundled`: `core` first, then plugins with migrations.
    pub subsystems: Vec<SubsystemSpec>,
}

impl Release {
    pub fn subsystem(&self, name: &str) -> Option<&SubsystemSpec> {
        self.subsystems.iter().find(|s| s.name == name)
    }

    /// Whether this release can run on the database at all (Cassandra ends at 3.3.x).
    pub fn supports(&self, db: Db) -> bool {
        self.subsystems
            .iter()
            .flat_map(|s| s.migrations.iter())
            .all(|m| m.phases(db).is_some())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub format: u32,
    /// What the catalog was generated from (tags, commit), for the record.
    pub source: String,
    pub releases: Vec<Release>,
}

pub const CATALOG_FORMAT: u32 = 1;

static EMBEDDED: &str = include_str!("../../assets/catalog.json");
static PARSED: OnceLock<Catalog> = OnceLock::new();

impl Catalog {
    /// The catalog compiled into this binary. It is checked by the test suite, so a parse failure
    /// here is a build defect, not user input.
    pub fn embedded() -> &'static Catalog {
        PARSED.get_or_init(|| {
            Catalog::from_json(EMBEDDED).expect("assets/catalog.json is checked by the test suite")
        })
    }

    pub fn from_json(text: &str) -> Result<Catalog, String> {
        let c: Catalog =
            serde_json::from_str(text).map_err(|e| format!("migration catalog: {e}"))?;
        if c.format != CATALOG_FORMAT {
            return Err(format!(
                "migration catalog format {} is not supported (expected {CATALOG_FORMAT})",
                c.format
            ));
        }
        Ok(c)
    }

    pub fn release(&self, v: Version) -> Option<&Release> {
        self.releases.iter().find(|r| r.version == v)
    }

    pub fn versions(&self) -> impl Iterator<Item = Version> + '_ {
        self.releases.iter().map(|r| r.version)
    }

    pub fn oldest(&self) -> Option<Version> {
        self.versions().min()
    }

    pub fn newest(&self) -> Option<Version> {
        self.versions().max()
    }

    /// The newest patch release of a series (`3.4` -> 3.4.2), used for upgrade paths.
    pub fn latest_patch(&self, major: u32, minor: u32) -> Option<Version> {
        self.versions()
            .filter(|v| v.major == major && v.minor == minor)
            .max()
    }

    /// Every series (major, minor) the catalog knows, oldest first.
    pub fn series(&self) -> Vec<(u32, u32)> {
        let set: BTreeSet<(u32, u32)> = self.versions().map(|v| v.series()).collect();
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_as_words() {
        let p = Phases {
            up: true,
            up_empty: true,
            up_f: false,
            teardown: true,
        };
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(s, "\"up up_empty teardown\"");
        assert_eq!(serde_json::from_str::<Phases>(&s).unwrap(), p);
        assert!(Phases::parse_words("up sideways").is_err());
    }

    #[test]
    fn rock_origins_name_the_release() {
        let s = SubsystemSpec {
            name: "session".into(),
            origin: "rock:kong-plugin-session@2.1.2".into(),
            migrations: vec![],
        };
        assert_eq!(s.rock(), Some(("kong-plugin-session", "2.1.2")));
        let k = SubsystemSpec {
            origin: "kong".into(),
            ..s
        };
        assert_eq!(k.rock(), None);
    }

    /// Hand-checked against kong/db/migrations/core/016_280_to_300.lua at 3.0.0 and 3.4.2: up
    /// copies the vault tables and adds columns; up_f rewrites routes.paths (the `~` prefix) with
    /// one UPDATE per route; the teardown drops vaults_beta and vaults, deletes duplicate targets
    /// and re-keys the rest.
    #[test]
    fn embedded_facts_of_core_016_280_to_300() {
        let book = FactsBook::embedded();
        let f = book
            .of("core", "016_280_to_300", Some(Version::new(3, 4, 2)))
            .expect("facts for 016");
        assert_eq!(
            f.since,
            Version::new(3, 4, 0),
            "3.4 dropped the Cassandra section"
        );
        assert!(f.cassandra.is_none());
        let pg = f.db(Db::Postgres).unwrap();
        assert_eq!(pg.up.creates, ["sm_vaults", "vault_auth_vaults"]);
        let routes = pg.up.alters.iter().find(|a| a.table == "routes").unwrap();
        assert_eq!(routes.add, ["expression", "priority"]);
        // `ADD COLUMN "cache_key" TEXT UNIQUE` on targets builds an index; no ALTER rewrites.
        assert!(pg.up.indexes.contains(&IndexFact {
            name: Some("targets_cache_key_key".into()),
            table: "targets".into()
        }));
        assert!(pg.up.alters.iter().all(|a| !a.rewrite));
        assert!(!pg.up.partial && !pg.up_f.partial && !pg.teardown.partial);
        assert_eq!(
            pg.up_f.writes,
            [RowWrite {
                table: "routes".into(),
                update: vec!["paths".into()],
                ..RowWrite::default()
            }]
        );
        assert_eq!(pg.teardown.drops, ["vaults_beta", "vaults"]);
        assert_eq!(
            pg.teardown.writes,
            [RowWrite {
                table: "targets".into(),
                update: vec!["cache_key".into()],
                delete: true,
                ..RowWrite::default()
            }]
        );
        // 3.0.0 still had the Cassandra section; before 3.0 the migration does not exist.
        let old = book.of("core", "016_280_to_300", Some(Version::new(3, 0, 0)));
        assert!(old.is_some_and(|f| f.cassandra.is_some()));
        assert!(book
            .of("core", "016_280_to_300", Some(Version::new(2, 8, 5)))
            .is_none());
        // Every migration of Kong's own tree has facts, at every release.
        let cat = Catalog::embedded();
        for rel in &cat.releases {
            for s in rel.subsystems.iter().filter(|s| s.origin == "kong") {
                for m in &s.migrations {
                    assert!(
                        book.of(&s.name, &m.name, Some(rel.version)).is_some(),
                        "{} {}/{}",
                        rel.version,
                        s.name,
                        m.name
                    );
                }
            }
        }
    }

    fn facts_342(subsystem: &str, migration: &str) -> &'static DbFacts {
        FactsBook::embedded()
            .of(subsystem, migration, Some(Version::new(3, 4, 2)))
            .and_then(|f| f.db(Db::Postgres))
            .unwrap_or_else(|| panic!("facts for {subsystem} {migration}"))
    }

    fn alter<'a>(p: &'a PhaseFacts, table: &str) -> &'a TableAlter {
        p.alters
            .iter()
            .find(|a| a.table == table)
            .unwrap_or_else(|| panic!("{table} altered: {p:?}"))
    }

    fn index_names(p: &PhaseFacts, table: &str) -> Vec<String> {
        p.indexes
            .iter()
            .filter(|i| i.table == table)
            .map(|i| i.name.clone().unwrap_or_default())
            .collect()
    }

    /// Hand-checked against kong/db/migrations/core/013_220_to_230.lua at 3.4.2: `up` is
    /// `string.format([[...]], CLUSTER_ID)`; its template creates parameters, inserts the
    /// cluster id and adds two columns each to certificates and clustering_data_planes.
    #[test]
    fn embedded_facts_of_core_013_220_to_230() {
        let pg = facts_342("core", "013_220_to_230");
        assert!(!pg.up.partial, "{:?}", pg.up);
        assert_eq!(pg.up.creates, ["parameters"]);
        assert_eq!(alter(&pg.up, "certificates").add, ["cert_alt", "key_alt"]);
        assert_eq!(
            alter(&pg.up, "clustering_data_planes").add,
            ["version", "sync_status"]
        );
        assert_eq!(
            pg.up.writes,
            [RowWrite {
                table: "parameters".into(),
                insert: true,
                ..RowWrite::default()
            }]
        );
        assert!(pg.teardown.is_empty() && pg.up_f.is_empty());
    }

    /// Hand-checked against kong/db/migrations/core/009_200_to_210.lua and
    /// kong/db/migrations/operations/200_to_210.lua at 3.4.2: `up` is literal SQL (ca_certificates,
    /// services, upstreams) `.. ws_migration_up(operations.postgres.up)`, which is
    /// ws_add_workspaces (the workspaces table and its default row) then ws_adjust_fields over
    /// the eight core entities (ws_id, the (id, ws_id) unique constraint, foreign keys re-made with
    /// ws_id, names unique per workspace). The teardown's ws_adjust_data re-keys plugins (the only
    /// composite cache key) and resets each ws_id default; then the ca_certificates digests.
    #[test]
    fn embedded_facts_of_core_009_200_to_210() {
        let pg = facts_342("core", "009_200_to_210");
        let up = &pg.up;
        assert!(!up.partial && !pg.teardown.partial);
        assert_eq!(up.creates, ["workspaces"]);
        let ca = alter(up, "ca_certificates");
        assert_eq!(ca.add, ["cert_digest"]);
        // `ADD COLUMN "cert_digest" TEXT UNIQUE` builds its index.
        assert_eq!(
            index_names(up, "ca_certificates"),
            ["ca_certificates_cert_digest_key"]
        );
        assert_eq!(ca.other, ["drop constraint ca_certificates_cert_key"]);
        assert_eq!(
            alter(up, "services").add,
            ["tls_verify", "tls_verify_depth", "ca_certificates", "ws_id"]
        );
        assert_eq!(
            alter(up, "upstreams").add,
            ["client_certificate_id", "ws_id"]
        );
        let entities = [
            "upstreams",
            "targets",
            "consumers",
            "certificates",
            "snis",
            "services",
            "routes",
            "plugins",
        ];
        for t in entities {
            assert!(alter(up, t).add.contains(&"ws_id".to_string()), "{t}");
            assert!(
                index_names(up, t).contains(&format!("{t}_id_ws_id_unique")),
                "{t}"
            );
        }
        assert_eq!(
            alter(up, "routes").other,
            [
                "add constraint routes_id_ws_id_unique",
                "drop constraint routes_service_id_fkey",
                "add constraint routes_service_id_fkey",
                "drop constraint routes_name_key",
                "add constraint routes_ws_id_name_unique"
            ]
        );
        assert_eq!(
            index_names(up, "consumers"),
            [
                "consumers_id_ws_id_unique",
                "consumers_ws_id_username_unique",
                "consumers_ws_id_custom_id_unique"
            ]
        );
        for fk in ["route", "service", "consumer"] {
            let c = format!("add constraint plugins_{fk}_id_fkey");
            assert!(alter(up, "plugins").other.contains(&c), "{c}");
        }
        assert_eq!(
            up.writes,
            [RowWrite {
                table: "workspaces".into(),
                insert: true,
                ..RowWrite::default()
            }]
        );
        let td = &pg.teardown;
        assert_eq!(
            td.writes,
            [
                RowWrite {
                    table: "plugins".into(),
                    update: vec!["cache_key".into()],
                    ..RowWrite::default()
                },
                RowWrite {
                    table: "ca_certificates".into(),
                    update: vec!["cert_digest".into()],
                    ..RowWrite::default()
                }
            ]
        );
        for t in entities {
            assert_eq!(
                alter(td, t).other,
                ["alter column ws_id set default"],
                "{t}"
            );
            assert!(!alter(td, t).rewrite, "{t}");
        }
        assert_eq!(
            alter(td, "ca_certificates").other,
            ["alter column cert_digest set not null"]
        );
        // SET NOT NULL reads every row under an ACCESS EXCLUSIVE lock: a scan, not a rewrite.
        assert!(alter(td, "ca_certificates").scan);
        assert!(!alter(td, "ca_certificates").rewrite);
        assert!(entities.iter().all(|t| !alter(td, t).scan));
        // up's `ADD "ws_id" UUID REFERENCES "workspaces" ("id") DEFAULT %L` (a default: every
        // row is checked) and the foreign keys re-made with ws_id read every entity's rows.
        for t in entities {
            assert!(alter(up, t).scan && !alter(up, t).rewrite, "{t}");
        }
    }

    /// Hand-checked against kong/db/migrations/core/010_210_to_211.lua and
    /// operations/210_to_211.lua at 2.1.1: Cassandra's teardown is
    /// `operations.clean_cassandra_fields(connector, operations.entities)`, which reads every
    /// row of upstreams (unique key name), consumers (username, custom_id), services and routes
    /// (name, partitioned) and sets the spurious keys to null; both `up`s are `[[]]`. The same
    /// through 3.3.x (the helper's template is one line from 2.1.3, its connection from 2.2.0);
    /// 3.4.0 has no Cassandra section.
    #[test]
    fn embedded_facts_of_core_010_210_to_211_on_cassandra() {
        let book = FactsBook::embedded();
        for v in [
            Version::new(2, 1, 1),
            Version::new(2, 2, 0),
            Version::new(3, 3, 1),
        ] {
            let f = book.of("core", "010_210_to_211", Some(v)).expect("010");
            let cass = f.db(Db::Cassandra).expect("cassandra facts");
            assert!(cass.up.is_empty() && cass.up_f.is_empty(), "{v}");
            let update = |table: &str, cols: &[&str]| RowWrite {
                table: table.into(),
                update: cols.iter().map(|c| c.to_string()).collect(),
                ..RowWrite::default()
            };
            assert_eq!(
                cass.teardown,
                PhaseFacts {
                    writes: vec![
                        update("upstreams", &["name"]),
                        update("consumers", &["username", "custom_id"]),
                        update("services", &["name"]),
                        update("routes", &["name"]),
                    ],
                    ..PhaseFacts::default()
                },
                "{v}"
            );
            assert!(f
                .db(Db::Postgres)
                .expect("postgres facts")
                .teardown
                .is_empty());
        }
        let f = book.of("core", "010_210_to_211", Some(Version::new(3, 4, 0)));
        assert!(f.expect("010").db(Db::Cassandra).is_none());

        // oauth2 005 gives the helper its own list (credentials, codes, tokens).
        let f = book.of("oauth2", "005_210_to_211", Some(Version::new(2, 1, 1)));
        let td = &f
            .expect("oauth2 005")
            .db(Db::Cassandra)
            .expect("cassandra")
            .teardown;
        assert_eq!(
            td.tables(),
            [
                "oauth2_credentials",
                "oauth2_authorization_codes",
                "oauth2_tokens"
            ]
        );
        assert_eq!(td.writes[2].update, ["access_token", "refresh_token"]);
        assert!(!td.partial);

        // 009's Cassandra teardown calls operations.cassandra_ensure_default_ws(coordinator)
        // from 2.2.0 on (the helper moved there): it inserts the default workspace.
        let f = book.of("core", "009_200_to_210", Some(Version::new(2, 2, 0)));
        let td = &f
            .expect("009")
            .db(Db::Cassandra)
            .expect("cassandra")
            .teardown;
        assert_eq!(
            td.writes[0],
            RowWrite {
                table: "workspaces".into(),
                insert: true,
                ..RowWrite::default()
            }
        );
    }

    /// Hand-checked against kong/plugins/key-auth/migrations/003_200_to_210.lua at 3.4.2:
    /// `return operations.ws_migrate_plugin(plugin_entities)`, one entity keyauth_credentials
    /// (unique key, foreign key consumer with cascade, no composite cache key).
    #[test]
    fn embedded_facts_of_key_auth_003_200_to_210() {
        let pg = facts_342("key-auth", "003_200_to_210");
        assert!(!pg.up.partial && !pg.teardown.partial);
        let a = alter(&pg.up, "keyauth_credentials");
        assert_eq!(a.add, ["ws_id"]);
        assert_eq!(
            a.other,
            [
                "add constraint keyauth_credentials_id_ws_id_unique",
                "drop constraint keyauth_credentials_consumer_id_fkey",
                "add constraint keyauth_credentials_consumer_id_fkey",
                "drop constraint keyauth_credentials_key_key",
                "add constraint keyauth_credentials_ws_id_key_unique"
            ]
        );
        assert_eq!(
            index_names(&pg.up, "keyauth_credentials"),
            [
                "keyauth_credentials_id_ws_id_unique",
                "keyauth_credentials_ws_id_key_unique"
            ]
        );
        assert_eq!(pg.up.tables(), ["keyauth_credentials"]);
        assert_eq!(
            alter(&pg.teardown, "keyauth_credentials").other,
            ["alter column ws_id set default"]
        );
        assert!(pg.teardown.writes.is_empty());
    }

    /// Hand-checked against core/001_14_to_15.lua at 1.0.0: created_at becomes TIMESTAMP WITH
    /// TIME ZONE (a rewrite of each table), then its default is set (the catalog only).
    #[test]
    fn embedded_facts_tell_a_table_rewrite_from_a_default() {
        let pg = FactsBook::embedded()
            .of("core", "001_14_to_15", Some(Version::new(1, 0, 0)))
            .and_then(|f| f.db(Db::Postgres))
            .expect("facts for 001");
        let consumers = alter(&pg.up, "consumers");
        assert!(consumers.rewrite);
        assert_eq!(
            consumers.other,
            [
                "alter column created_at type",
                "alter column created_at set default"
            ]
        );
        assert!(!alter(&pg.up, "routes").rewrite);
    }

    #[test]
    fn namespaces_follow_kong() {
        assert_eq!(namespace_of("core"), "kong.db.migrations.core");
        assert_eq!(namespace_of("acme"), "kong.plugins.acme.migrations");
    }
}
