//! The PostgreSQL store against a real server: every table Kong keeps, read-only, in UTC.

mod support;

use std::time::Duration;

use kongrade::kong::catalog::{Catalog, Db};
use kongrade::kong::state::{self, MigState, StatusCode};
use kongrade::kong::target::Target;
use kongrade::store::postgres::{PgOptions, PgStore};
use kongrade::store::StoreErrorKind;
use support::kong_db;
use support::pg::{TestDb, KONG_PASSWORD};

fn opts(db: &TestDb) -> PgOptions {
    PgOptions {
        host: db.server.host.clone(),
        port: db.server.port,
        user: "kong".into(),
        password: Some(KONG_PASSWORD.into()),
        database: db.name.clone(),
        schema: None,
        timeout: Duration::from_secs(5),
        ssl: false,
        ssl_verify: false,
        trusted_certificates: vec![],
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Connects and reads, for states that must read cleanly.
fn read_ok(o: &PgOptions) -> kongrade::kong::snapshot::Snapshot {
    rt().block_on(async { PgStore::connect(o).await.unwrap().snapshot().await.unwrap() })
}

fn target(v: &str) -> Target {
    let cat = Catalog::embedded();
    let rel = cat.release(v.parse().unwrap()).unwrap();
    Target::from_release(rel, Db::Postgres, &["bundled".to_string()], &[], "catalog")
}

#[test]
fn empty_database_has_no_schema_meta() {
    let db = TestDb::new("empty");
    let snap = read_ok(&opts(&db));
    assert!(snap.schema_meta.is_none());
    assert!(!snap.locks_table);
    assert!(snap.lock.is_none());
    assert!(snap.legacy_migrations.is_none());
    assert!(
        snap.server_version
            .starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        snap.server_version
    );
    assert_eq!(snap.namespace, "public");
}

#[test]
fn reads_rows_bootstrapped_at_2_8_5_and_partly_upgraded_to_3_4_2() {
    let db = TestDb::new("partial");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let ran = kong_db::up_to(&db, "3.4.2", None);
    assert!(!ran.is_empty());
    let snap = read_ok(&opts(&db));
    let rows = snap.schema_meta.as_ref().unwrap();
    let core = rows.iter().find(|r| r.subsystem == "core").unwrap();
    assert!(core
        .executed
        .as_ref()
        .unwrap()
        .contains(&"000_base".to_string()));
    let st = state::compute(&target("3.4.2"), &snap, Catalog::embedded());
    assert_eq!(st.status_code(), StatusCode::Pending);
    assert!(st.any(MigState::Pending));
    assert!(!st.any(MigState::New));
    // 2.8.5 after bootstrap, nothing else.
    let before = TestDb::new("boot285");
    kong_db::bootstrap_at(&before, "2.8.5", None);
    let snap = read_ok(&opts(&before));
    let st = state::compute(&target("3.4.2"), &snap, Catalog::embedded());
    assert_eq!(st.status_code(), StatusCode::New);
    assert!(st.schema_matches.contains(&"2.8.5".parse().unwrap()));
}

#[test]
fn lock_liveness_follows_kongs_utc_rule_on_a_server_in_another_zone() {
    // The test server runs in America/New_York: a reader that did not use UTC would see a live
    // lock as expired by hours (or the reverse).
    let db = TestDb::new("lock");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    kong_db::lock(&db, "live-owner", 45);
    let snap = read_ok(&opts(&db));
    let l = snap.lock.clone().unwrap();
    assert!(l.live, "{l:?}");
    assert_eq!(l.owner.as_deref(), Some("live-owner"));
    let left = l.seconds_left.unwrap();
    assert!(left > 30.0 && left <= 45.0, "{left}");
    assert_eq!(
        state::compute(&target("3.4.2"), &snap, Catalog::embedded()).status_code(),
        StatusCode::Locked
    );

    kong_db::lock(&db, "dead-owner", -300);
    let snap = read_ok(&opts(&db));
    let l = snap.lock.unwrap();
    assert!(!l.live);
    assert!(l.seconds_left.unwrap() < -290.0);
}

#[test]
fn legacy_table_and_pg_schema() {
    let db = TestDb::new("legacy");
    kong_db::legacy_014(&db);
    let snap = read_ok(&opts(&db));
    assert!(snap.schema_meta.is_none());
    let legacy = snap.legacy_migrations.unwrap();
    assert!(legacy.iter().any(|(id, m)| id == "core" && m.len() == 3));

    let db = TestDb::new("schema");
    db.exec("CREATE SCHEMA kongs;");
    db.exec(&format!(
        "SET search_path TO kongs; {}",
        kong_db::BOOTSTRAP_DDL
    ));
    db.exec("INSERT INTO kongs.schema_meta VALUES ('schema_meta', 'core', '000_base', ARRAY['000_base'], NULL)");
    let mut o = opts(&db);
    o.schema = Some("kongs".into());
    let snap = read_ok(&o);
    assert_eq!(snap.namespace, "kongs");
    assert_eq!(snap.schema_meta.unwrap().len(), 1);
    // Without pg_schema the search_path (public) has no Kong tables.
    let snap = read_ok(&opts(&db));
    assert!(snap.schema_meta.is_none());

    o.schema = Some("nope".into());
    let e = rt().block_on(async {
        PgStore::connect(&o)
            .await
            .unwrap()
            .snapshot()
            .await
            .unwrap_err()
    });
    assert_eq!(e.kind, StoreErrorKind::MissingSchema);
    assert!(e.to_string().contains("pg_schema 'nope'"), "{e}");
}

#[test]
fn null_arrays_and_data_planes() {
    let db = TestDb::new("nulls");
    db.exec(kong_db::BOOTSTRAP_DDL);
    db.exec("INSERT INTO schema_meta VALUES ('schema_meta', 'core', NULL, NULL, NULL), ('schema_meta', 'acl', '000_base_acl', ARRAY['000_base_acl', NULL], NULL)");
    db.exec("CREATE TABLE clustering_data_planes (id uuid PRIMARY KEY, hostname text, ip text, last_seen timestamptz, config_hash text, ttl timestamptz, version text, sync_status text)");
    db.exec("INSERT INTO clustering_data_planes (id, hostname, ip, last_seen, version, sync_status) VALUES ('3f7e6a2c-8b1d-4e55-9c0a-1d2e3f4a5b6c', 'dp-1', '10.0.0.7', now() - interval '20 seconds', '2.8.5', 'normal')");
    let snap = read_ok(&opts(&db));
    let rows = snap.schema_meta.as_ref().unwrap();
    let core = rows.iter().find(|r| r.subsystem == "core").unwrap();
    assert_eq!(core.executed, None);
    let acl = rows.iter().find(|r| r.subsystem == "acl").unwrap();
    assert_eq!(
        acl.executed.as_deref(),
        Some(&["000_base_acl".to_string()][..])
    );
    let dps = snap.data_planes.clone().unwrap();
    assert_eq!(dps.len(), 1);
    assert_eq!(dps[0].version.as_deref(), Some("2.8.5"));
    let ago = dps[0].last_seen_secs_ago.unwrap();
    assert!((15.0..40.0).contains(&ago), "{ago}");
    let st = state::compute(&target("3.4.2"), &snap, Catalog::embedded());
    assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    assert_eq!(
        st.subsystem("core").unwrap().count(MigState::New),
        st.subsystem("core").unwrap().migrations.len()
    );
}

#[test]
fn connection_errors_are_classified() {
    let db = TestDb::new("errors");
    let mut o = opts(&db);
    o.password = Some("wrong".into());
    let e = rt().block_on(async { PgStore::connect(&o).await.err().unwrap() });
    assert_eq!(e.kind, StoreErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong"));

    let mut o = opts(&db);
    o.database = "no_such_db".into();
    let e = rt().block_on(async { PgStore::connect(&o).await.err().unwrap() });
    assert_eq!(e.kind, StoreErrorKind::MissingDatabase, "{e}");

    let mut o = opts(&db);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    o.port = l.local_addr().unwrap().port();
    drop(l);
    let e = rt().block_on(async { PgStore::connect(&o).await.err().unwrap() });
    assert_eq!(e.kind, StoreErrorKind::Unreachable, "{e}");

    // A port that accepts but never speaks: the timeout must hold.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = opts(&db);
    o.port = l.local_addr().unwrap().port();
    o.timeout = Duration::from_millis(500);
    let e = rt().block_on(async { PgStore::connect(&o).await.err().unwrap() });
    assert_eq!(e.kind, StoreErrorKind::Unreachable, "{e}");
    drop(l);
}

#[test]
fn the_store_never_writes() {
    let db = TestDb::new("readonly");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let before = db.exec("SELECT count(*) FROM locks; SELECT md5(string_agg(subsystem || coalesce(array_to_string(executed, ','), ''), ';' ORDER BY subsystem)) FROM schema_meta");
    rt().block_on(async {
        let s = PgStore::connect(&opts(&db)).await.unwrap();
        for _ in 0..3 {
            s.snapshot().await.unwrap();
        }
    });
    let after = db.exec("SELECT count(*) FROM locks; SELECT md5(string_agg(subsystem || coalesce(array_to_string(executed, ','), ''), ';' ORDER BY subsystem)) FROM schema_meta");
    assert_eq!(before, after);
}

#[test]
fn tls_as_kong_conf_asks() {
    let db = TestDb::new("tls");
    let Some(ca) = db.server.tls_ca.clone() else {
        eprintln!("skipped: the test server has no TLS (no openssl, or KONGRADE_TEST_PG_URL)");
        return;
    };
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let read = |o: PgOptions| rt().block_on(async { PgStore::connect(&o).await?.snapshot().await });
    // pg_ssl on, pg_ssl_verify off: encrypted, any certificate (Kong's default).
    let mut o = opts(&db);
    o.ssl = true;
    assert!(read(o.clone()).unwrap().schema_meta.is_some());
    // The server really speaks TLS to us: ask it while the connection is open.
    rt().block_on(async {
        let s = PgStore::connect(&o).await.unwrap();
        s.snapshot().await.unwrap();
        let n = db.exec(&format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'kongrade' AND datname = '{}'",
            db.name
        ));
        assert_eq!(n.trim(), "1", "kongrade's connection is not encrypted");
    });
    // Verify on, with the right CA (lua_ssl_trusted_certificate).
    o.ssl_verify = true;
    o.trusted_certificates = vec![ca.display().to_string()];
    assert!(read(o.clone()).unwrap().schema_meta.is_some());
    // Verify on, with a CA that did not sign the server's certificate: refused as TLS.
    let other = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
        ])
        .arg("-keyout")
        .arg(other.path().join("k"))
        .arg("-out")
        .arg(other.path().join("c.crt"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    o.trusted_certificates = vec![other.path().join("c.crt").display().to_string()];
    let e = read(o.clone()).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Tls, "{e}");
    // A CA file that does not exist: a clear error naming it.
    o.trusted_certificates = vec!["/nonexistent/ca.pem".into()];
    let e = read(o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Tls);
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}

#[test]
fn an_altered_schema_meta_is_named_column_by_column() {
    let db = TestDb::new("altered");
    db.exec("CREATE TABLE schema_meta (key text, subsystem text, last_executed text, executed text, pending text[], PRIMARY KEY (key, subsystem)); \
             INSERT INTO schema_meta VALUES ('schema_meta', 'core', '000_base', '000_base', NULL)");
    let e = rt().block_on(async {
        PgStore::connect(&opts(&db))
            .await
            .unwrap()
            .snapshot()
            .await
            .unwrap_err()
    });
    assert_eq!(e.kind, StoreErrorKind::Malformed, "{e}");
    assert!(
        e.to_string().contains("executed is text, not text[]"),
        "{e}"
    );
    assert!(e.to_string().contains("altered by hand"), "{e}");
}
