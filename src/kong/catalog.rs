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

    #[test]
    fn namespaces_follow_kong() {
        assert_eq!(namespace_of("core"), "kong.db.migrations.core");
        assert_eq!(namespace_of("acme"), "kong.plugins.acme.migrations");
    }
}
