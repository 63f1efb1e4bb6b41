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

fn bench(c: &mut Criterion) {
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
