//! The Cassandra store through the real scylla driver, against the CQL test server
//! (`support::cql`: a protocol stand-in serving fixture rows, since no Cassandra can be installed
//! here), or against a real cluster when `KONGRADE_TEST_CASSANDRA=host:port` is set. Kong states
//! are built from the embedded catalog's Cassandra phases (`support::kong_cql`). Ends with
//! `kongrade status` on Cassandra, end to end through the binary.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kongrade::kong::catalog::{Catalog, Db};
use kongrade::kong::snapshot::Snapshot;
use kongrade::kong::state::{self, Anomaly, MigState, SchemaState, StatusCode};
use kongrade::kong::target::Target;
use kongrade::store::cassandra::{CassandraOptions, CassandraStore};
use kongrade::store::{StoreError, StoreErrorKind};
use serde_json::Value;
use support::cql::{self, Table, TlsFiles, Ty};
use support::kong_cql::{Cluster, DataPlane, KongKeyspace, MetaRow, Serve};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `KONGRADE_TEST_TRACE=1` shows the driver's log (to see what it sends and why it fails).
fn trace() {
    if std::env::var("KONGRADE_TEST_TRACE").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_test_writer()
            .try_init();
    }
}

fn read(o: &CassandraOptions) -> Result<Snapshot, StoreError> {
    trace();
    rt().block_on(async {
        // A guard against hangs: the store's own timeouts must fire well before it.
        tokio::time::timeout(Duration::from_secs(30), async {
            CassandraStore::connect(o).await?.snapshot().await
        })
        .await
        .expect("the store did not honour its timeout")
    })
}

fn snapshot(c: &Cluster) -> Snapshot {
    read(&c.options()).unwrap_or_else(|e| panic!("{e}"))
}

fn target(v: &str) -> Target {
    let rel = Catalog::embedded().release(v.parse().unwrap()).unwrap();
    Target::from_release(rel, Db::Cassandra, &["bundled".to_string()], &[], "catalog")
}

fn compute(snap: &Snapshot, v: &str) -> SchemaState {
    state::compute(&target(v), snap, Catalog::embedded())
}

fn skip_on_real(c: &Cluster, why: &str) -> bool {
    if c.is_real() {
        eprintln!("skipped on a real cluster: {why}");
    }
    c.is_real()
}

/// The stand-in itself, through the driver: USE, PREPARE/EXECUTE with a bound value, and loud
/// refusals of what it does not serve.
#[test]
fn the_cql_test_server_serves_the_driver_and_refuses_the_rest() {
    cql::self_check();
    let ks = KongKeyspace::empty()
        .bootstrap_at("3.3.1")
        .lock("node-z", 30);
    let c = Cluster::start("itself", &ks, Serve::default());
    if skip_on_real(&c, "this checks the test server") {
        return;
    }
    trace();
    rt().block_on(async {
        let s = scylla::client::session_builder::SessionBuilder::new()
            .known_node(format!("127.0.0.1:{}", c.port))
            .use_keyspace(&c.keyspace, true)
            .build()
            .await
            .unwrap();
        let p = s
            .prepare("SELECT owner, TTL(owner) FROM locks WHERE key = ?")
            .await
            .unwrap();
        let rows = s
            .execute_unpaged(&p, ("migrations",))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let (owner, ttl) = rows.single_row::<(String, i32)>().unwrap();
        assert_eq!(owner, "node-z");
        assert!((25..=30).contains(&ttl), "{ttl}");
        let none = s
            .execute_unpaged(&p, ("other",))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        assert_eq!(none.rows_num(), 0);
        for (q, want) in [
            (
                "INSERT INTO locks (key, owner) VALUES ('migrations', 'me')",
                "does not serve",
            ),
            ("SELECT * FROM nope", "unconfigured table nope"),
            ("SELECT * FROM ghost.locks", "Keyspace ghost does not exist"),
            ("SELECT nope FROM locks", "Undefined column name nope"),
            ("SELECT * FROM locks WHERE owner = 'x'", "ALLOW FILTERING"),
        ] {
            let e = s.query_unpaged(q, ()).await.unwrap_err().to_string();
            assert!(e.contains(want), "{q}: {e}");
        }
    });
}

#[test]
fn a_keyspace_without_kongs_tables_needs_bootstrap() {
    let c = Cluster::start("empty", &KongKeyspace::empty(), Serve::default());
    let snap = snapshot(&c);
    assert_eq!(snap.db, Db::Cassandra);
    assert_eq!(snap.namespace, c.keyspace);
    assert!(snap.schema_meta.is_none());
    assert!(!snap.locks_table);
    assert!(snap.lock.is_none());
    assert!(snap.legacy_migrations.is_none());
    assert!(snap.data_planes.is_none());
    assert!(
        snap.server_version
            .starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        snap.server_version
    );
    let st = compute(&snap, "3.3.1");
    assert!(st.needs_bootstrap);
    assert_eq!(st.status_code(), StatusCode::NeedsBootstrap);
}

#[test]
fn bootstrapped_at_2_8_5() {
    let c = Cluster::start(
        "boot285",
        &KongKeyspace::empty().bootstrap_at("2.8.5"),
        Serve::default(),
    );
    let snap = snapshot(&c);
    assert!(snap.locks_table);
    assert!(snap.lock.is_none());
    let rows = snap.schema_meta.as_ref().unwrap();
    let core = rows.iter().find(|r| r.subsystem == "core").unwrap();
    assert_eq!(core.key, "schema_meta");
    assert_eq!(core.last_executed.as_deref(), Some("015_270_to_280"));
    let executed = core.executed.as_ref().unwrap();
    assert!(executed.contains(&"000_base".to_string()));
    assert_eq!(
        executed.len(),
        target("2.8.5").subsystem("core").unwrap().migrations.len()
    );
    // Cassandra's pending set is NULL once empty: read raw, as NULL.
    assert_eq!(core.pending, None);
    // Every subsystem of 2.8.5 is there, sorted by name whatever order the partitions came in.
    let subs: Vec<&str> = rows.iter().map(|r| r.subsystem.as_str()).collect();
    let mut sorted = subs.clone();
    sorted.sort();
    assert_eq!(subs, sorted);
    assert_eq!(rows.len(), target("2.8.5").subsystems.len());

    let st = compute(&snap, "2.8.5");
    assert_eq!(st.status_code(), StatusCode::UpToDate);
    assert!(st.schema_matches.contains(&"2.8.5".parse().unwrap()));
    assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    assert!(st.gaps.is_empty() && st.unknown.is_empty());
    let st = compute(&snap, "3.3.1");
    assert_eq!(st.status_code(), StatusCode::New);
    assert_eq!(
        st.subsystem("core").unwrap().names(MigState::New),
        [
            "016_280_to_300",
            "017_300_to_310",
            "018_310_to_320",
            "019_320_to_330"
        ]
    );
}

#[test]
fn partly_upgraded_to_3_3_1_with_pending_two_phase_migrations() {
    let ks = KongKeyspace::empty()
        .bootstrap_at("2.8.5")
        .up_to("3.3.1", None);
    let c = Cluster::start("pending", &ks, Serve::default());
    let snap = snapshot(&c);
    let st = compute(&snap, "3.3.1");
    assert_eq!(st.status_code(), StatusCode::Pending);
    assert!(!st.any(MigState::New));
    // The two-phase ones on Cassandra wait for finish; the others ran.
    let core = st.subsystem("core").unwrap();
    assert_eq!(core.names(MigState::Pending), ["016_280_to_300"]);
    assert_eq!(core.count(MigState::Executed), core.migrations.len() - 1);
    for plugin in ["http-log", "pre-function", "post-function"] {
        assert_eq!(
            st.subsystem(plugin).unwrap().names(MigState::Pending),
            ["001_280_to_300"],
            "{plugin}"
        );
    }
    assert_eq!(st.total(MigState::Pending), 4);
    let raw_core = snap
        .schema_meta
        .as_ref()
        .unwrap()
        .iter()
        .find(|r| r.subsystem == "core")
        .unwrap();
    assert_eq!(
        raw_core.pending.as_deref(),
        Some(&["016_280_to_300".to_string()][..])
    );
    // 2.8.5's last migration stays last_executed until finish records the teardown.
    assert_eq!(raw_core.last_executed.as_deref(), Some("019_320_to_330"));

    // After finish: up to date.
    let c = Cluster::start("finished", &ks.clone().finish(), Serve::default());
    assert_eq!(
        compute(&snapshot(&c), "3.3.1").status_code(),
        StatusCode::UpToDate
    );

    // An `up` that died after two migrations: pending and new at once, Kong says 4.
    let ks = KongKeyspace::empty()
        .bootstrap_at("2.8.5")
        .up_to("3.3.1", Some(2));
    let c = Cluster::start("crashed", &ks, Serve::default());
    let st = compute(&snapshot(&c), "3.3.1");
    assert_eq!(st.status_code(), StatusCode::Pending);
    assert!(st.any(MigState::New));
    assert_eq!(
        st.subsystem("core")
            .unwrap()
            .names(MigState::Executed)
            .last()
            .unwrap(),
        "017_300_to_310"
    );
}

#[test]
fn a_live_lock_is_read_with_its_remaining_ttl_and_vanishes_with_it() {
    let ks = KongKeyspace::empty()
        .bootstrap_at("3.3.1")
        .lock("node-a-4f2c", 45);
    let c = Cluster::start("lock", &ks, Serve::default());
    let snap = snapshot(&c);
    let l = snap.lock.clone().expect("lock row");
    assert!(l.live);
    assert_eq!(l.owner.as_deref(), Some("node-a-4f2c"));
    assert_eq!(l.ttl, None);
    let left = l.seconds_left.unwrap();
    assert!(left > 30.0 && left <= 45.0, "{left}");
    assert_eq!(compute(&snap, "3.3.1").status_code(), StatusCode::Locked);
    // Read as Kong reads it: SERIAL, so a lock a quorum holds is seen.
    if let Some(s) = &c.server {
        let runs = s.runs();
        let (_, cl) = runs.iter().find(|(q, _)| q.contains(".locks")).unwrap();
        assert_eq!(*cl, 0x0008, "lock read at consistency {cl:#06x}");
        let (_, cl) = runs
            .iter()
            .find(|(q, _)| q.contains(".schema_meta"))
            .unwrap();
        assert_eq!(*cl, 0x0001, "schema_meta read at kong.conf's ONE");
    }

    // When the TTL runs out the row is gone: nothing is migrating any more.
    match &c.server {
        Some(s) => s.state().clock_offset_ms += 46_000,
        None => std::thread::sleep(Duration::from_secs(46)),
    }
    let snap = snapshot(&c);
    assert!(snap.locks_table);
    assert_eq!(snap.lock, None);
    assert_eq!(compute(&snap, "3.3.1").status_code(), StatusCode::UpToDate);
}

#[test]
fn a_dc_aware_policy_reads_the_lock_at_local_serial() {
    let ks = KongKeyspace::empty()
        .bootstrap_at("3.3.1")
        .lock("node-b", 30);
    let c = Cluster::start("dclock", &ks, Serve::default());
    if skip_on_real(
        &c,
        "the consistency used is only visible to the test server",
    ) {
        return;
    }
    let mut o = c.options();
    o.lb_policy = "RequestDCAwareRoundRobin".into();
    o.local_datacenter = Some("datacenter1".into());
    o.read_consistency = "LOCAL_QUORUM".into();
    assert!(read(&o).unwrap().lock.unwrap().live);
    let runs = c.server.as_ref().unwrap().runs();
    let cl = |t: &str| runs.iter().find(|(q, _)| q.contains(t)).unwrap().1;
    assert_eq!(cl(".locks"), 0x0009);
    assert_eq!(cl(".schema_meta"), 0x0006);
}

#[test]
fn a_0_14_keyspace_is_read_as_pre_1_0() {
    let c = Cluster::start(
        "legacy",
        &KongKeyspace::empty().legacy_014(),
        Serve::default(),
    );
    let snap = snapshot(&c);
    assert!(snap.schema_meta.is_none());
    assert!(!snap.locks_table);
    let legacy = snap.legacy_migrations.clone().unwrap();
    assert_eq!(legacy.len(), 2);
    assert_eq!(legacy[0].0, "core");
    assert_eq!(
        legacy[0].1,
        [
            "2015-01-12-175310_skeleton",
            "2015-01-12-175310_init_schema",
            "2018-08-06-000001_init_schema"
        ]
    );
    assert_eq!(
        legacy[1],
        (
            "key-auth".to_string(),
            vec!["2015-07-31-172400_init_keyauth".to_string()]
        )
    );
    let st = compute(&snap, "1.5.1");
    assert!(st.needs_bootstrap && st.legacy_table);
}

fn dps() -> Vec<DataPlane> {
    vec![
        DataPlane {
            id: "3f7e6a2c-8b1d-4e55-9c0a-1d2e3f4a5b6c".into(),
            hostname: "dp-1".into(),
            ip: "10.0.0.7".into(),
            version: Some("2.8.5".into()),
            sync_status: Some("normal".into()),
            seen_secs_ago: 20,
        },
        DataPlane {
            id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            hostname: "dp-2".into(),
            ip: "10.0.0.8".into(),
            version: None,
            sync_status: None,
            seen_secs_ago: 7200,
        },
    ]
}

#[test]
fn data_planes_with_the_columns_the_table_has_aged_by_the_servers_clock() {
    // The server's clock runs an hour ahead of this machine's: ages must follow the server, as
    // last_seen is written by the control plane against the cluster's time.
    let ks = KongKeyspace::empty()
        .bootstrap_at("3.3.1")
        .data_planes(true, dps());
    let c = Cluster::start(
        "dps",
        &ks,
        Serve {
            clock_offset_ms: 3_600_000,
            ..Default::default()
        },
    );
    let snap = snapshot(&c);
    let dps = snap.data_planes.unwrap();
    assert_eq!(dps.len(), 2);
    // Sorted by id.
    assert_eq!(dps[0].id, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    let d = &dps[1];
    assert_eq!(d.hostname.as_deref(), Some("dp-1"));
    assert_eq!(d.ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(d.version.as_deref(), Some("2.8.5"));
    assert_eq!(d.sync_status.as_deref(), Some("normal"));
    let ago = d.last_seen_secs_ago.unwrap();
    assert!((19.0..40.0).contains(&ago), "{ago}");
    let seen = d.last_seen.as_deref().unwrap();
    assert!(seen.ends_with('Z') && seen.contains('T'), "{seen}");
    assert!((7199.0..7220.0).contains(&dps[0].last_seen_secs_ago.unwrap()));
    assert_eq!(dps[0].version, None);

    // A 2.2 table: no version or sync_status columns; the store must not ask for them.
    let ks = KongKeyspace::empty()
        .bootstrap_at("2.2.2")
        .data_planes(false, dps_22());
    let c = Cluster::start("dps22", &ks, Serve::default());
    let snap = snapshot(&c);
    let d = &snap.data_planes.unwrap()[0];
    assert_eq!(d.hostname.as_deref(), Some("dp-1"));
    assert_eq!(d.version, None);
    assert_eq!(d.sync_status, None);
    if let Some(s) = &c.server {
        let q = s
            .log()
            .into_iter()
            .find(|q| q.contains("clustering_data_planes") && !q.contains("system_schema"))
            .unwrap();
        assert!(!q.contains("version"), "{q}");
    }
}

fn dps_22() -> Vec<DataPlane> {
    vec![DataPlane {
        version: None,
        sync_status: None,
        ..dps()[0].clone()
    }]
}

#[test]
fn rows_are_read_raw_foreign_keys_null_sets_and_gaps_included() {
    let ks = KongKeyspace::empty()
        .bootstrap_at("3.3.1")
        .raw_meta(MetaRow {
            key: "not_schema_meta".into(),
            subsystem: "core".into(),
            last_executed: None,
            executed: vec!["000_base".into()],
            pending: vec![],
        })
        .raw_meta(MetaRow {
            key: "schema_meta".into(),
            subsystem: "acl".into(),
            last_executed: None,
            executed: vec![],
            pending: vec![],
        });
    let c = Cluster::start("raw", &ks, Serve::default());
    let snap = snapshot(&c);
    let rows = snap.schema_meta.as_ref().unwrap();
    let acl = rows.iter().find(|r| r.subsystem == "acl").unwrap();
    assert_eq!((acl.executed.clone(), acl.pending.clone()), (None, None));
    let st = compute(&snap, "3.3.1");
    assert!(st.anomalies.contains(&Anomaly::ForeignKey {
        key: "not_schema_meta".into(),
        subsystem: "core".into()
    }));
    assert_eq!(
        st.subsystem("acl").unwrap().count(MigState::New),
        st.subsystem("acl").unwrap().migrations.len()
    );
}

#[test]
fn login_refused_required_or_accepted() {
    let ks = KongKeyspace::empty().bootstrap_at("3.3.1");
    let c = Cluster::start(
        "auth",
        &ks,
        Serve {
            credentials: Some(("kong".into(), "kong-pass#word".into())),
            ..Default::default()
        },
    );
    if c.credentials.is_none() {
        eprintln!("skipped: KONGRADE_TEST_CASSANDRA_USER is not set, the real cluster has no login to refuse");
        return;
    }
    assert!(snapshot(&c).schema_meta.is_some());

    let mut o = c.options();
    o.password = Some("not-the-password".into());
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("refused the login"), "{e}");
    assert!(e.hint.contains("cassandra_password"), "{e}");
    assert!(
        !e.to_string().contains("not-the-password"),
        "password leaked: {e}"
    );

    // No password in kong.conf: Kong does not even try to log in.
    let mut o = c.options();
    o.password = None;
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Auth, "{e}");
    assert!(
        e.to_string().contains("cassandra_password is not set"),
        "{e}"
    );
}

#[test]
fn a_missing_keyspace_is_named() {
    let c = Cluster::start(
        "nokeyspace",
        &KongKeyspace::empty(),
        Serve {
            no_keyspace: true,
            ..Default::default()
        },
    );
    let e = read(&c.options()).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::MissingDatabase, "{e}");
    assert!(
        e.message.contains(&format!("no keyspace '{}'", c.keyspace)),
        "{e}"
    );
    assert!(e.hint.contains("cassandra_keyspace"), "{e}");
    // Names are case-sensitive (Kong creates the keyspace quoted).
    let c = Cluster::start(
        "casing",
        &KongKeyspace::empty().bootstrap_at("3.3.1"),
        Serve::default(),
    );
    let mut o = c.options();
    o.keyspace = c.keyspace.to_uppercase();
    assert_eq!(read(&o).unwrap_err().kind, StoreErrorKind::MissingDatabase);
}

#[test]
fn unreachable_and_silent_ports_fail_within_the_timeout() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let c = Cluster::start("unreach", &KongKeyspace::empty(), Serve::default());
    let mut o = c.options();
    o.contact_points = vec!["127.0.0.1".into()];
    o.port = port;
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Unreachable, "{e}");
    assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.hint.contains("cassandra_contact_points"), "{e}");

    // Accepts, never answers: cassandra_timeout must end it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    o.port = silent.local_addr().unwrap().port();
    o.timeout = Duration::from_millis(500);
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Unreachable, "{e}");
    drop(silent);

    // A name that does not resolve.
    o.contact_points = vec!["no-such-host.invalid".into()];
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Unreachable, "{e}");
}

#[test]
fn cassandra_2_is_refused_clearly() {
    let c = Cluster::start(
        "cass22",
        &KongKeyspace::empty().bootstrap_at("1.5.1"),
        Serve {
            release_version: Some("2.2.19".into()),
            ..Default::default()
        },
    );
    if skip_on_real(&c, "the server's release is what it is") {
        return;
    }
    let e = read(&c.options()).unwrap_err();
    assert!(e.message.contains("Cassandra 2.2.19"), "{e}");
    assert!(e.message.contains("3.0"), "{e}");
}

#[test]
fn altered_tables_are_malformed_not_misread() {
    let c = Cluster::start("altered", &KongKeyspace::empty(), Serve::default());
    if skip_on_real(&c, "altered tables are built in the test server only") {
        return;
    }
    let ks = c.keyspace.clone();
    {
        let mut st = c.server.as_ref().unwrap().state();
        // executed as text instead of set<text>.
        let mut t = Table::new(
            &ks,
            "schema_meta",
            &[
                ("key", Ty::Text),
                ("subsystem", Ty::Text),
                ("last_executed", Ty::Text),
                ("executed", Ty::Text),
                ("pending", Ty::set_text()),
            ],
            &["key"],
            &["subsystem"],
        );
        let now = st.now_ms();
        t.insert(
            &[
                ("key", cql::Val::text("schema_meta")),
                ("subsystem", cql::Val::text("core")),
                ("executed", cql::Val::text("000_base")),
            ],
            None,
            now,
        );
        st.tables.push(t);
    }
    let e = read(&c.options()).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Malformed, "{e}");
    assert!(
        e.message
            .contains("schema_meta table has executed of type text, where Kong creates set<text>"),
        "{e}"
    );

    // A locks table without its owner column: the server refuses the read.
    {
        let mut st = c.server.as_ref().unwrap().state();
        st.tables.retain(|t| t.name != "schema_meta");
        st.tables.push(Table::new(
            &ks,
            "locks",
            &[("key", Ty::Text), ("holder", Ty::Text)],
            &["key"],
            &[],
        ));
    }
    let e = read(&c.options()).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Malformed, "{e}");
    assert!(e.message.contains("locks"), "{e}");
}

#[test]
fn the_store_only_ever_selects() {
    let ks = KongKeyspace::empty()
        .bootstrap_at("2.8.5")
        .up_to("3.3.1", None)
        .lock("node-c", 50)
        .data_planes(true, dps());
    let c = Cluster::start("readonly", &ks, Serve::default());
    if skip_on_real(
        &c,
        "the statements sent are only visible to the test server",
    ) {
        return;
    }
    let o = c.options();
    rt().block_on(async {
        let s = CassandraStore::connect(&o).await.unwrap();
        for _ in 0..3 {
            s.snapshot().await.unwrap();
        }
    });
    let seen = c.statements_seen();
    assert!(seen.len() > 10);
    for q in &seen {
        assert!(q.trim_start().to_uppercase().starts_with("SELECT "), "{q}");
    }
    // Nothing was changed: the same rows come back.
    assert_eq!(snapshot(&c).schema_meta, snapshot(&c).schema_meta);
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A CA and a node certificate it signs, for a DNS name only (no IP address): Kong checks the
/// chain and not the name, and so must kongrade. `None` without the openssl CLI.
fn make_certs(dir: &Path, cn: &str) -> Option<(PathBuf, TlsFiles)> {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:cassandra-node-1.example\n",
    )
    .ok()?;
    let ok = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={cn} CA"),
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=cassandra-node-1.example",
        "-keyout",
        "node.key",
        "-out",
        "node.csr",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "node.crt",
    ]);
    ok.then(|| {
        (
            dir.join("ca.crt"),
            TlsFiles {
                cert_pem: dir.join("node.crt"),
                key_pem: dir.join("node.key"),
            },
        )
    })
}

#[test]
fn tls_as_kong_conf_asks() {
    if support::kong_cql::real_cluster().is_some() {
        eprintln!("skipped on a real cluster: its TLS setup is its own");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, files)) = make_certs(dir.path(), "kongrade test") else {
        eprintln!("skipped: no openssl CLI to make certificates");
        return;
    };
    let ks = KongKeyspace::empty().bootstrap_at("3.3.1");
    let c = Cluster::start(
        "tls",
        &ks,
        Serve {
            tls: Some(files),
            ..Default::default()
        },
    );
    let mut o = c.options();
    o.ssl = true;
    // cassandra_ssl_verify off: encrypted, any certificate (Kong's default).
    assert!(read(&o).unwrap().schema_meta.is_some());
    // On, with the CA that signed it: accepted although the certificate names another host.
    o.ssl_verify = true;
    o.trusted_certificates = vec![ca.display().to_string()];
    assert!(read(&o).unwrap().schema_meta.is_some());
    // On, with a CA that did not sign it.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _) = make_certs(other.path(), "other").unwrap();
    o.trusted_certificates = vec![other_ca.display().to_string()];
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Tls, "{e}");
    // A CA file that does not exist: named.
    o.trusted_certificates = vec!["/nonexistent/ca.pem".into()];
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Tls, "{e}");
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    // cassandra_ssl off against a node that wants TLS.
    let mut plain = c.options();
    plain.timeout = Duration::from_secs(2);
    let e = read(&plain).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Tls, "{e}");
    assert!(e.hint.contains("cassandra_ssl"), "{e}");

    // cassandra_ssl on against a node without TLS.
    let c = Cluster::start("notls", &KongKeyspace::empty(), Serve::default());
    let mut o = c.options();
    o.ssl = true;
    o.timeout = Duration::from_secs(2);
    let e = read(&o).unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Tls, "{e}");
}

// ---------------------------------------------------------------------------------------------
// kongrade status on Cassandra, end to end

fn kongrade(c: &Cluster, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    // A clean environment: no KONG_* from the developer's shell, no kong.conf found.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .envs(c.kong_env())
        .envs(extra_env.iter().copied())
        .args(args);
    cmd.output().expect("run kongrade")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

#[test]
fn status_exit_codes_on_cassandra() {
    // 3: a keyspace Kong never bootstrapped.
    let c = Cluster::start("st_empty", &KongKeyspace::empty(), Serve::default());
    let o = kongrade(&c, &["status", "--target-version", "3.3.1"], &[]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Database needs bootstrapping"), "{out}");
    assert!(
        out.contains(&format!("keyspace {}", c.keyspace)) && out.contains("(cassandra)"),
        "{out}"
    );

    // 0 at the version it was bootstrapped with, 5 towards 3.3.1.
    let c = Cluster::start(
        "st_285",
        &KongKeyspace::empty().bootstrap_at("2.8.5"),
        Serve::default(),
    );
    let o = kongrade(&c, &["status", "--target-version", "2.8.5"], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("Database is up to date"));
    let o = kongrade(&c, &["status", "--json", "--target-version", "3.3.1"], &[]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["needs_bootstrap"], false);
    assert_eq!(v["exit_code"], 5);
    assert!(v["schema_matches"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "2.8.5"));
    // 3.4+ dropped Cassandra: refused before any connection, with the way out.
    let o = kongrade(&c, &["status", "--target-version", "3.4.2"], &[]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains("Kong 3.4.2 does not support cassandra"),
        "{err}"
    );
    assert!(err.contains("3.3"), "{err}");

    // 4: up with 3.3.1 left two-phase migrations pending.
    let ks = KongKeyspace::empty()
        .bootstrap_at("2.8.5")
        .up_to("3.3.1", None);
    let c = Cluster::start("st_pending", &ks, Serve::default());
    let o = kongrade(&c, &["status", "--json", "--target-version", "3.3.1"], &[]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let v = json(&o);
    let pending = v["pending_migrations"].as_array().unwrap();
    let core = pending.iter().find(|s| s["subsystem"] == "core").unwrap();
    assert_eq!(core["migrations"][0], "016_280_to_300");
    assert_eq!(core["namespace"], "kong.db.migrations.core");
    assert!(v.get("new_migrations").is_none(), "{v}");

    // 6: a live lock, its TTL shown.
    let ks = KongKeyspace::empty()
        .bootstrap_at("3.3.1")
        .lock("node-a", 50);
    let c = Cluster::start("st_lock", &ks, Serve::default());
    let o = kongrade(&c, &["status", "--json", "--target-version", "3.3.1"], &[]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["lock"]["live"], true);
    assert_eq!(v["lock"]["owner"], "node-a");
    let o = kongrade(&c, &["status", "--target-version", "3.3.1"], &[]);
    assert_eq!(code(&o), 6);
    assert!(
        stdout(&o).contains("LIVE: held by node-a, expires in"),
        "{}",
        stdout(&o)
    );

    // 3 for a 0.14 keyspace, told not to bootstrap.
    let c = Cluster::start(
        "st_legacy",
        &KongKeyspace::empty().legacy_014(),
        Serve::default(),
    );
    let o = kongrade(&c, &["status", "--target-version", "1.5.1"], &[]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stdout(&o).contains("Do NOT run 'kong migrations bootstrap'"));
}

#[test]
fn status_errors_on_cassandra_are_clear_exit_1_and_leak_no_password() {
    // A keyspace that does not exist.
    let c = Cluster::start(
        "st_nokeyspace",
        &KongKeyspace::empty(),
        Serve {
            no_keyspace: true,
            ..Default::default()
        },
    );
    let o = kongrade(&c, &["status", "--target-version", "3.3.1"], &[]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(
        err.contains(&format!("no keyspace '{}'", c.keyspace)),
        "{err}"
    );
    assert!(err.contains("cassandra_keyspace"), "{err}");

    // Nothing listens.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let o = kongrade(
        &c,
        &["status", "--target-version", "3.3.1"],
        &[
            ("KONG_CASSANDRA_CONTACT_POINTS", "127.0.0.1"),
            ("KONG_CASSANDRA_PORT", &port),
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("cannot reach Cassandra"),
        "{}",
        stderr(&o)
    );

    // A wrong password (test server: it has the login; a real cluster needs one configured).
    let c = Cluster::start(
        "st_auth",
        &KongKeyspace::empty().bootstrap_at("3.3.1"),
        Serve {
            credentials: Some(("kong".into(), "kong-pass#word".into())),
            ..Default::default()
        },
    );
    if c.credentials.is_some() {
        let o = kongrade(&c, &["status", "--target-version", "3.3.1"], &[]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = kongrade(
            &c,
            &["status", "--target-version", "3.3.1"],
            &[("KONG_CASSANDRA_PASSWORD", "not-the-password")],
        );
        assert_eq!(code(&o), 1);
        let err = stderr(&o);
        assert!(err.contains("refused the login"), "{err}");
        assert!(!err.contains("not-the-password"), "password leaked: {err}");
    }
}

#[test]
fn status_reads_cassandra_settings_from_kong_conf_and_flags() {
    let c = Cluster::start(
        "st_conf",
        &KongKeyspace::empty().bootstrap_at("3.3.1"),
        Serve::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kong.conf");
    let mut text = format!(
        "database = cassandra\ncassandra_contact_points = {}\ncassandra_port = {}\ncassandra_keyspace = {}\n",
        c.host, c.port, c.keyspace
    );
    if let Some((u, p)) = &c.credentials {
        text.push_str(&format!(
            "cassandra_username = {u}\ncassandra_password = {p}\n"
        ));
    }
    std::fs::write(&conf, text).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "status",
            "-c",
            conf.to_str().unwrap(),
            "--target-version",
            "3.3.1",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_kongrade"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(&args)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Flags override the file.
    let o = run(&["--cassandra-keyspace", "elsewhere"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("no keyspace 'elsewhere'"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--cassandra-port", "1", "--cassandra-timeout", "1000"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("cannot reach Cassandra"),
        "{}",
        stderr(&o)
    );
    // --database postgres on top of a Cassandra kong.conf reads PostgreSQL instead.
    let o = run(&[
        "--database",
        "postgres",
        "--pg-port",
        "1",
        "--pg-timeout",
        "1000",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("PostgreSQL"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// Routes with 2.x regex paths on Cassandra (Kong <= 3.3): counted for core 016's estimate and the
// preflight's finding, as on PostgreSQL.

fn routes_fixture(regex: bool) -> Vec<support::kong_cql::RouteRow> {
    let mut r: Vec<support::kong_cql::RouteRow> = (1..=3)
        .map(|i| {
            (
                format!("00000000-0000-0000-0000-00000000000{i}"),
                Some(format!("plain-{i}")),
                vec![format!("/api/{i}"), "~/already/\\d+".to_string()],
            )
        })
        .collect();
    if regex {
        r.push((
            "00000000-0000-0000-0000-00000000000a".into(),
            Some("users".into()),
            vec!["/users/\\d+".into(), "/plain".into()],
        ));
        r.push((
            "00000000-0000-0000-0000-00000000000b".into(),
            None,
            vec!["/(?!admin).*".into()],
        ));
    }
    r
}

#[test]
fn regex_routes_are_counted_on_cassandra_for_the_016_estimate_and_the_preflight() {
    let mut ks = KongKeyspace::empty().bootstrap_at("2.8.5");
    ks.routes = Some(routes_fixture(true));
    let c = Cluster::start("regex_routes", &ks, Serve::default());
    let o = c.options();
    let r = rt()
        .block_on(async {
            let s = CassandraStore::connect(&o).await?;
            s.scan_routes().await
        })
        .unwrap()
        .expect("a routes table");
    assert_eq!((r.rows, r.regex, r.refused_paths), (5, 2, 1), "{r:?}");
    assert_eq!(r.routes().len(), 2);
    // The same count in diagnose's row counts, and the preflight's findings from it.
    let out = kongrade(
        &c,
        &["diagnose", "--json", "--target-version", "3.0.1"],
        &[],
    );
    let v = json(&out);
    let counts = v["row_counts"].as_array().cloned().unwrap_or_default();
    assert!(
        counts
            .iter()
            .any(|x| x[0] == "routes_with_regex_paths" && x[1] == 2),
        "{v}"
    );
    let ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        ids.iter().any(|i| i == "routes-regex-unprefixed"),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|i| i == "routes-regex-incompatible"),
        "{ids:?}"
    );

    // A keyspace whose routes are all 3.x-style: neither finding.
    let mut clean = KongKeyspace::empty().bootstrap_at("2.8.5");
    clean.routes = Some(routes_fixture(false));
    let c = Cluster::start("regex_routes_clean", &clean, Serve::default());
    let v = json(&kongrade(
        &c,
        &["diagnose", "--json", "--target-version", "3.0.1"],
        &[],
    ));
    let ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        !ids.iter().any(|i| i.starts_with("routes-regex")),
        "{ids:?}"
    );
    let counts = v["row_counts"].as_array().cloned().unwrap_or_default();
    assert!(
        counts
            .iter()
            .any(|x| x[0] == "routes_with_regex_paths" && x[1] == 0),
        "{v}"
    );
}

/// Diagnose reads the routes once on Cassandra (a full scan, paged): the row count's read is the
/// preflight's too, not paged again on a connection of its own.
#[test]
fn diagnose_pages_the_routes_once_on_cassandra() {
    let mut ks = KongKeyspace::empty().bootstrap_at("2.8.5");
    ks.routes = Some(routes_fixture(true));
    let c = Cluster::start("routes_once", &ks, Serve::default());
    if skip_on_real(
        &c,
        "the statements sent are only visible to the test server",
    ) {
        return;
    }
    let v = json(&kongrade(
        &c,
        &["diagnose", "--json", "--target-version", "3.0.1"],
        &[],
    ));
    // Both uses of the one read are there: the count and the findings.
    let counts = v["row_counts"].as_array().cloned().unwrap_or_default();
    assert!(
        counts
            .iter()
            .any(|x| x[0] == "routes_with_regex_paths" && x[1] == 2),
        "{v}"
    );
    let ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        ids.iter().any(|i| i == "routes-regex-incompatible"),
        "{ids:?}"
    );
    let reads: Vec<String> = c
        .statements_seen()
        .into_iter()
        .filter(|q| q.contains(".routes"))
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
}

/// A jump that stays within a major (2.8.5 -> 2.8.5, 3.0.1 -> 3.3.1) runs no rewrite of the
/// routes and 3.x's router judged them already: diagnose does not page the routes at all (each
/// read is a full scan on Cassandra), and says nothing of regex paths.
#[test]
fn diagnose_does_not_page_the_routes_for_a_jump_within_a_major_on_cassandra() {
    for (from, to) in [("2.8.5", "2.8.5"), ("3.0.1", "3.3.1")] {
        let mut ks = KongKeyspace::empty().bootstrap_at(from);
        ks.routes = Some(routes_fixture(true));
        let c = Cluster::start("routes_none", &ks, Serve::default());
        if skip_on_real(
            &c,
            "the statements sent are only visible to the test server",
        ) {
            return;
        }
        let v = json(&kongrade(
            &c,
            &["diagnose", "--json", "--target-version", to],
            &[],
        ));
        assert!(v["findings"].is_array(), "{from} -> {to}: {v}");
        assert!(
            !v.to_string().contains("routes_with_regex_paths")
                && !v.to_string().contains("routes-regex"),
            "{from} -> {to}: {v}"
        );
        let reads: Vec<String> = c
            .statements_seen()
            .into_iter()
            .filter(|q| q.contains(".routes"))
            .collect();
        assert!(reads.is_empty(), "{from} -> {to}: {reads:?}");
    }
}

/// An interrupted core 016 on Cassandra (`kong::half_applied`): its CQL ran (targets.cache_key),
/// its Lua had rewritten one route with `~`, and 016 is unrecorded. The snapshot reads those
/// routes, diagnose names them with one CQL UPDATE per route; without the column they are not
/// even read.
#[test]
fn an_interrupted_016_is_read_and_named_on_cassandra() {
    let rows = vec![
        (
            "00000000-0000-0000-0000-000000000001".to_string(),
            Some("users".to_string()),
            vec!["~/users/\\d+".to_string(), "/users".to_string()],
        ),
        (
            "00000000-0000-0000-0000-000000000002".to_string(),
            None,
            vec!["/orders/\\d+".to_string()],
        ),
    ];
    let mut ks = KongKeyspace::empty().bootstrap_at("2.8.5");
    ks.routes = Some(rows.clone());
    ks.targets = Some(true);
    let c = Cluster::start("half016", &ks, Serve::default());
    let snap = snapshot(&c);
    let t = snap.tilde_routes.clone().expect("read: 016's CQL ran");
    assert_eq!(t.count, 1, "{t:?}");
    assert_eq!(t.listed[0].0, "00000000-0000-0000-0000-000000000001");
    let v = json(&kongrade(
        &c,
        &["diagnose", "--json", "--target-version", "3.0.1"],
        &[],
    ));
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "paths-half-rewritten")
        .unwrap_or_else(|| panic!("no paths-half-rewritten: {v}"))
        .clone();
    // The statement as a shell passes it to cqlsh: printf stands in for cqlsh.
    let line = f["remedy"][1].as_str().unwrap_or_default();
    let arg = line
        .strip_prefix("cqlsh -e ")
        .unwrap_or_else(|| panic!("one cqlsh statement per route: {line}"));
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s {arg}"))
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "UPDATE \"{}\".routes SET paths = ['/users/\\d+', '/users'] WHERE partition = 'routes' AND id = 00000000-0000-0000-0000-000000000001",
            c.keyspace
        )
    );

    // The wizard's poller reads every second: one store pages the routes once per 30 s.
    let before = c
        .statements_seen()
        .into_iter()
        .filter(|q| q.contains(".routes"))
        .count();
    let o = c.options();
    rt().block_on(async {
        let s = CassandraStore::connect(&o).await.unwrap();
        for _ in 0..3 {
            assert!(s.snapshot().await.unwrap().tilde_routes.is_some());
        }
    });
    let after = c
        .statements_seen()
        .into_iter()
        .filter(|q| q.contains(".routes"))
        .count();
    assert_eq!(
        after - before,
        1,
        "three snapshots, one paging of the routes"
    );

    // 016's CQL never ran: no column, nothing read, nothing said.
    let mut before = KongKeyspace::empty().bootstrap_at("2.8.5");
    before.routes = Some(rows);
    before.targets = Some(false);
    let c = Cluster::start("half016_before", &before, Serve::default());
    assert!(snapshot(&c).tilde_routes.is_none());
}
