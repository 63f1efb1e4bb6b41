//! `kongrade status` wall time against `psql -Atc 'select * from schema_meta'` on the same local
//! database (target: within 1.3x). Both are whole processes over TCP with a password, started
//! the same way; the database is a throwaway cluster from tests/support, bootstrapped at 3.4.2.

use std::process::{Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../support/mod.rs"]
mod support;

use support::kong_db;
use support::pg::{TestDb, KONG_PASSWORD};

fn bench(c: &mut Criterion) {
    let db = TestDb::new("bench_status");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let env = db.kong_env();
    let mut g = c.benchmark_group("status");
    g.sample_size(40);
    g.bench_function("psql select * from schema_meta", |b| {
        b.iter(|| {
            let st = Command::new("psql")
                .args([
                    "-X",
                    "-h",
                    &db.server.host,
                    "-p",
                    &db.server.port.to_string(),
                ])
                .args([
                    "-U",
                    "kong",
                    "-d",
                    &db.name,
                    "-Atc",
                    "select * from schema_meta",
                ])
                .env("PGPASSWORD", KONG_PASSWORD)
                .stdout(Stdio::null())
                .status()
                .expect("psql");
            assert!(st.success());
        })
    });
    g.bench_function("kongrade status", |b| {
        b.iter(|| {
            let st = Command::new(env!("CARGO_BIN_EXE_kongrade"))
                .args(["status", "--target-version", "3.4.2"])
                .envs(env.iter().cloned())
                .stdout(Stdio::null())
                .status()
                .expect("kongrade");
            assert_eq!(st.code(), Some(0));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
