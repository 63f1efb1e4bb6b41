//! State computation speed: Kong's rules plus kongrade's extras for 200 subsystems of 30
//! migrations each (target: under 1 ms), and the embedded catalog's parse.

use criterion::{criterion_group, criterion_main, Criterion};

use kongrade::kong::catalog::{Catalog, Db, MigrationSpec, Phases, Release, SubsystemSpec};
use kongrade::kong::snapshot::{SchemaMetaRow, Snapshot};
use kongrade::kong::state;
use kongrade::kong::target::Target;

fn big_case() -> (Target, Snapshot, Catalog) {
    let mut subsystems = Vec::new();
    let mut rows = Vec::new();
    for s in 0..200 {
        let name = if s == 0 {
            "core".to_string()
        } else {
            format!("plugin-{s:03}")
        };
        let migrations: Vec<MigrationSpec> = (0..30)
            .map(|m| MigrationSpec {
                name: format!("{m:03}_migration_of_{name}"),
                postgres: Some(Phases {
                    up: true,
                    teardown: m % 4 == 0,
                    ..Phases::default()
                }),
                cassandra: None,
            })
            .collect();
        // Recorded: the first 20 executed, 2 pending, the rest new; one gap every 10 subsystems.
        let executed: Vec<String> = migrations[..20]
            .iter()
            .enumerate()
            .filter(|(i, _)| !(s % 10 == 0 && *i == 5))
            .map(|(_, m)| m.name.clone())
            .collect();
        let pending: Vec<String> = migrations[20..22].iter().map(|m| m.name.clone()).collect();
        rows.push(SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: name.clone(),
            last_executed: executed.last().cloned(),
            executed: Some(executed),
            pending: Some(pending),
        });
        subsystems.push(SubsystemSpec {
            name,
            origin: "kong".into(),
            migrations,
        });
    }
    let target = Target {
        version: None,
        db: Db::Postgres,
        source: "bench".into(),
        subsystems: subsystems.clone(),
        unresolved_plugins: vec![],
    };
    let mut snap = Snapshot::empty(Db::Postgres, "public");
    snap.schema_meta = Some(rows);
    // A catalog of 80 releases of the same shape, so schema matching does real work.
    let releases = (0..80)
        .map(|i| Release {
            version: kongrade::kong::version::Version::new(1 + i / 20, i % 20, 0),
            bundled_plugins: vec![],
            plugins_sorted: true,
            subsystems: subsystems.iter().take(15).cloned().collect(),
        })
        .collect();
    let catalog = Catalog {
        format: 1,
        source: "bench".into(),
        releases,
    };
    (target, snap, catalog)
}

/// A 2.8.5 database whose `core.executed` also holds 100,000 names no release knows (issue 13's
/// quadratic case), read against the embedded catalog for Kong 3.4.2.
fn hundred_k_names() -> (Target, Snapshot) {
    let catalog = Catalog::embedded();
    let v = |s: &str| {
        s.parse::<kongrade::kong::version::Version>()
            .expect("version")
    };
    let old = catalog.release(v("2.8.5")).expect("2.8.5");
    let mut rows: Vec<SchemaMetaRow> = old
        .subsystems
        .iter()
        .map(|s| SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: s.name.clone(),
            last_executed: s.migrations.last().map(|m| m.name.clone()),
            executed: Some(s.migrations.iter().map(|m| m.name.clone()).collect()),
            pending: Some(vec![]),
        })
        .collect();
    if let Some(core) = rows.iter_mut().find(|r| r.subsystem == "core") {
        if let Some(e) = core.executed.as_mut() {
            e.extend((0..100_000).map(|i| format!("{i:06}_unknown_to_kong")));
        }
    }
    let mut snap = Snapshot::empty(Db::Postgres, "public");
    snap.schema_meta = Some(rows);
    let target = Target::from_release(
        catalog.release(v("3.4.2")).expect("3.4.2"),
        Db::Postgres,
        &["bundled".to_string()],
        &[],
        "catalog",
    );
    (target, snap)
}

fn bench(c: &mut Criterion) {
    // What `status --json` computes after its one read: state, findings, plan and the policy.
    // Target: 100k names under 100 ms.
    let (t100k, s100k) = hundred_k_names();
    c.bench_function("policy::assess, 100k names in core.executed", |b| {
        b.iter(|| {
            let st = state::compute(&t100k, &s100k, Catalog::embedded());
            let settings = kongrade::kong::diagnose::Settings::default();
            kongrade::kong::policy::assess(&kongrade::kong::policy::PolicyInput {
                diagnose: kongrade::kong::diagnose::DiagnoseInput {
                    state: &st,
                    snapshot: &s100k,
                    target: &t100k,
                    catalog: Catalog::embedded(),
                    row_counts: None,
                    settings: &settings,
                    writes_since_up: None,
                    history: None,
                },
                nodes: None,
                running: false,
                strategy: None,
            })
            .findings
            .len()
        })
    });
    let (target, snap, catalog) = big_case();
    c.bench_function("state::compute 200 subsystems x 30 migrations", |b| {
        b.iter(|| state::compute(&target, &snap, &catalog))
    });
    let text = include_str!("../../assets/catalog.json");
    c.bench_function("catalog parse (embedded JSON)", |b| {
        b.iter(|| Catalog::from_json(text).map(|c| c.releases.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
