//! The embedded catalog checked against the independent reference catalog in shared/reference
//! (built by loading every migration module in LuaJIT). The reference is looked for at
//! `$KONGRADE_REFERENCE_CATALOG`, else `../shared/reference/kong-catalog.json` beside the checkout;
//! when neither exists the comparison is skipped (CI always has it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use kongrade::kong::catalog::{Catalog, MigrationSpec, Phases, Release};
use kongrade::kong::version::Version;

#[test]
fn embedded_catalog_parses_and_covers_1_0_to_3_9() {
    let c = Catalog::embedded();
    assert_eq!(c.releases.len(), 81);
    assert_eq!(c.oldest(), Some(Version::new(1, 0, 0)));
    assert_eq!(c.newest(), Some(Version::new(3, 9, 3)));
    let versions: Vec<Version> = c.versions().collect();
    let mut sorted = versions.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        versions, sorted,
        "releases are listed once each, oldest first"
    );
    for r in &c.releases {
        assert_eq!(r.subsystems.first().map(|s| s.name.as_str()), Some("core"));
        assert_eq!(r.plugins_sorted, r.version >= Version::new(2, 4, 0));
    }
    // Cassandra ends with 3.3.x.
    assert!(c
        .release(Version::new(3, 3, 1))
        .is_some_and(|r| r.supports(kongrade::kong::catalog::Db::Cassandra)));
    assert!(c
        .release(Version::new(3, 4, 0))
        .is_some_and(|r| !r.supports(kongrade::kong::catalog::Db::Cassandra)));
}

fn reference_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KONGRADE_REFERENCE_CATALOG") {
        // Asked for explicitly: a wrong path is an error, not a skip.
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "KONGRADE_REFERENCE_CATALOG={} does not exist",
            p.display()
        );
        return Some(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/kong-catalog.json");
    p.is_file().then_some(p)
}

/// The reference writes phases as `{up, up_empty, up_f, teardown}` or null.
fn ref_phases(v: &Value) -> Option<Phases> {
    let o = v.as_object()?;
    let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    Some(Phases {
        up: flag("up"),
        up_empty: flag("up_empty"),
        up_f: flag("up_f"),
        teardown: flag("teardown"),
    })
}

fn ref_migrations(sub: &Value) -> Vec<MigrationSpec> {
    sub["migrations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| MigrationSpec {
            name: m["name"].as_str().unwrap_or_default().to_string(),
            postgres: ref_phases(&m["postgres"]),
            cassandra: ref_phases(&m["cassandra"]),
        })
        .collect()
}

/// Phases as the catalog writes them (`"up teardown"`), `null` for no section.
fn words(p: Option<Phases>) -> String {
    serde_json::to_string(&p).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn numeric(v: &str) -> Vec<u64> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

fn compare_migrations(
    what: &str,
    mine: &[MigrationSpec],
    theirs: &[MigrationSpec],
    problems: &mut Vec<String>,
) {
    let names = |m: &[MigrationSpec]| m.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
    if names(mine) != names(theirs) {
        problems.push(format!(
            "{what}: migrations {:?}, reference {:?}",
            names(mine),
            names(theirs)
        ));
        return;
    }
    for (a, b) in mine.iter().zip(theirs) {
        if a.postgres != b.postgres || a.cassandra != b.cassandra {
            problems.push(format!(
                "{what}/{}: postgres {} cassandra {}, reference postgres {} cassandra {}",
                a.name,
                words(a.postgres),
                words(a.cassandra),
                words(b.postgres),
                words(b.cassandra)
            ));
        }
    }
}

/// A rock subsystem against the reference's release of that rock. When the reference does not list
/// the chosen release (it read the rock's history merged into Kong's repository, which stops
/// before some late releases), it is compared with the reference's newest release of the same
/// `major.minor` series, the one a `~> major.minor` constraint would have given it.
fn compare_rock(
    rel: &Release,
    sub: &kongrade::kong::catalog::SubsystemSpec,
    reference: &Value,
    problems: &mut Vec<String>,
    notes: &mut BTreeSet<String>,
) {
    let what = format!("{} {} ({})", rel.version, sub.name, sub.origin);
    let Some((rock, version)) = sub.rock() else {
        problems.push(format!("{what}: origin does not name a rock release"));
        return;
    };
    let releases = reference["external_rock_migrations"][rock]["releases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let exact = releases.iter().find(|r| r["version"] == version);
    let chosen =
        match exact {
            Some(r) => r.clone(),
            None => {
                let series = numeric(version).into_iter().take(2).collect::<Vec<_>>();
                let same_series = releases
                    .iter()
                    .filter(|r| {
                        let v = numeric(r["version"].as_str().unwrap_or_default());
                        v.len() >= 2 && v[..2] == series[..]
                    })
                    .max_by_key(|r| numeric(r["version"].as_str().unwrap_or_default()));
                match same_series {
                    Some(r) => {
                        notes.insert(format!(
                        "{rock} {version} ({}): not in the reference; compared with its newest {} \
                         release, {}",
                        sub.name,
                        series.iter().map(u64::to_string).collect::<Vec<_>>().join("."),
                        r["version"].as_str().unwrap_or_default()
                    ));
                        r.clone()
                    }
                    None => {
                        problems.push(format!(
                            "{what}: the reference has no release of {rock} like {version}"
                        ));
                        return;
                    }
                }
            }
        };
    let theirs = chosen["subsystems"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == sub.name.as_str());
    match theirs {
        Some(t) => compare_migrations(&what, &sub.migrations, &ref_migrations(t), problems),
        None => problems.push(format!(
            "{what}: the reference release has no such subsystem"
        )),
    }
}

#[test]
fn embedded_catalog_agrees_with_the_reference() {
    let Some(path) = reference_path() else {
        eprintln!(
            "skipped: no reference catalog (set KONGRADE_REFERENCE_CATALOG or put it at \
             ../shared/reference/kong-catalog.json)"
        );
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let versions = reference["versions"]
        .as_object()
        .expect("reference has versions");
    let c = Catalog::embedded();
    let mut problems: Vec<String> = Vec::new();
    let mut notes: BTreeSet<String> = BTreeSet::new();

    let mine: Vec<String> = c.versions().map(|v| v.to_string()).collect();
    let theirs: Vec<String> = versions.keys().cloned().collect();
    assert_eq!(
        mine, theirs,
        "the catalog and the reference cover different releases"
    );

    for rel in &c.releases {
        let r = &versions[&rel.version.to_string()];
        let v = rel.version;
        if rel.bundled_plugins != strings(&r["bundled_plugins"]) {
            problems.push(format!("{v}: bundled plugins differ"));
        }

        // Kong's own tree: the same subsystems in the same order.
        let tree: Vec<_> = rel
            .subsystems
            .iter()
            .filter(|s| s.origin == "kong")
            .collect();
        let ref_subs = r["subsystems"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = tree.iter().map(|s| s.name.as_str()).collect();
        let ref_names: Vec<&str> = ref_subs.iter().filter_map(|s| s["name"].as_str()).collect();
        if names != ref_names {
            problems.push(format!(
                "{v}: subsystems {names:?}, reference {ref_names:?}"
            ));
        } else {
            for (s, t) in tree.iter().zip(&ref_subs) {
                compare_migrations(
                    &format!("{v} {}", s.name),
                    &s.migrations,
                    &ref_migrations(t),
                    &mut problems,
                );
            }
        }

        // Separate rocks: only for plugins the reference calls external, and every such plugin
        // whose rock ships migrations is present.
        let external = strings(&r["external_plugins"]);
        for s in rel.subsystems.iter().filter(|s| s.origin != "kong") {
            if !external.contains(&s.name) {
                problems.push(format!(
                    "{v} {}: from {}, but the reference has it in Kong's tree",
                    s.name, s.origin
                ));
            }
            compare_rock(rel, s, &reference, &mut problems, &mut notes);
        }
        for p in &external {
            let shipping = reference["external_rock_migrations"]
                .as_object()
                .into_iter()
                .flatten()
                .any(|(_, rock)| {
                    strings(&rock["plugins"]).contains(p)
                        && rock["releases"].as_array().is_some_and(|r| !r.is_empty())
                });
            if shipping && rel.bundled_plugins.contains(p) && rel.subsystem(p).is_none() {
                problems.push(format!(
                    "{v}: no subsystem for {p}, whose rock ships migrations"
                ));
            }
        }
    }

    for n in &notes {
        eprintln!("note: {n}");
    }
    assert!(
        problems.is_empty(),
        "{} disagreements with {}:\n{}",
        problems.len(),
        path.display(),
        problems.join("\n")
    );
}
