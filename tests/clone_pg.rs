//! The clone of a dual-cluster upgrade against a real PostgreSQL: created owned by Kong's role,
//! streamed pg_dump | pg_restore, proven at the dump's snapshot, refusals, and the write guard.

mod support;

use std::time::Duration;

use kongrade::exec::clone::{clone_database, drop_database, prove, CloneSpec};
use kongrade::kong::conf::Secret;
use kongrade::kong::write_guard;
use kongrade::store::postgres::{PgOptions, PgStore};
use support::pg::{self, Scratch, TestDb, KONG_PASSWORD};
use support::{kong_db, kong_rows};

fn opts(db: &TestDb, name: &str) -> PgOptions {
    PgOptions {
        host: db.server.host.clone(),
        port: db.server.port,
        user: "kong".into(),
        password: Some(Secret::new(KONG_PASSWORD)),
        database: name.into(),
        schema: None,
        timeout: Duration::from_secs(30),
        ssl: false,
        ssl_verify: false,
        trusted_certificates: vec![],
    }
}

/// Kong's role may create databases in this test cluster (as a dual-cluster operator's would).
fn allow_createdb() {
    pg::grant_createdb();
}

fn as_db(src: &TestDb, name: &str) -> TestDb {
    // A TestDb value for reading the clone with psql; forgotten so its Drop does not run twice.
    TestDb {
        server: src.server.clone(),
        name: name.to_string(),
    }
}

fn source(tag: &str, services: u64, routes: u64) -> TestDb {
    let db = TestDb::new(tag);
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_rows::fill(&db, services, routes);
    db
}

#[tokio::test]
async fn a_clone_is_created_streamed_and_proven_and_the_source_is_untouched() {
    allow_createdb();
    // pg_dump and pg_restore as wrappers that log their argv: no password may be in it.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("argv.log");
    for tool in ["pg_dump", "pg_restore"] {
        let real = String::from_utf8(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let p = bin.path().join(tool);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.trim()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::env::set_var("PATH", path);

    let src = source("cl_ok", 50, 2_000);
    let before = kong_rows::fingerprint(&src);
    let scratch = Scratch::new(&src, "clone");
    let target = CloneSpec {
        database: Some(scratch.0.clone()),
        ..CloneSpec::default()
    }
    .resolve(&opts(&src, &src.name), None)
    .unwrap();
    let mut said = Vec::new();
    let rec = clone_database(&opts(&src, &src.name), &target, false, |l| {
        said.push(l.to_string())
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(rec.created && !rec.replaced, "{rec:?}");
    assert!(!rec.server_major.is_empty());
    let count = |t: &str| rec.tables.iter().find(|m| m.table == t).map(|m| m.rows);
    assert_eq!(count("routes"), Some(2_000));
    assert_eq!(count("plugins"), Some(2_000));
    assert_eq!(count("schema_meta"), Some(rec.schema_meta_rows as i64));
    let text = said.join("\n");
    assert!(text.contains("created"), "{text}");
    assert!(
        kongrade::exec::clone::proven_line(&rec).contains("Clone proven: schema_meta identical"),
        "{text}"
    );

    // Owned by Kong's role, and the same content as the source.
    let owner = pg::psql_admin(
        pg::server(),
        "postgres",
        &format!(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{}'",
            scratch.0
        ),
    )
    .unwrap();
    assert_eq!(owner.trim(), "kong");
    let clone = as_db(&src, &scratch.0);
    assert_eq!(kong_rows::fingerprint(&clone), before);
    std::mem::forget(clone);
    // The source was never written.
    assert_eq!(kong_rows::fingerprint(&src), before);

    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(argv.contains("pg_dump --format=custom"), "{argv}");
    // The archive only crosses a pipe: not compressed.
    assert!(argv.contains("--compress=0"), "{argv}");
    assert!(argv.contains("pg_restore --no-password"), "{argv}");
    assert!(!argv.contains(KONG_PASSWORD), "{argv}");

    // The write guard: a service added to the source after the clone is caught and named; a
    // session (written by traffic) is only expected to diverge.
    src.exec("INSERT INTO services (name) VALUES ('added-after-the-clone')");
    src.exec("INSERT INTO sessions (session_id, expires) VALUES ('s', 1)");
    let store = PgStore::connect(&opts(&src, &src.name)).await.unwrap();
    let now = store.table_marks().await.unwrap();
    let v = write_guard::judge(&rec.tables, &now);
    assert!(v.is_stale(), "{v:?}");
    let stale: Vec<&str> = v.stale.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(stale, ["services"]);
    let diverging: Vec<&str> = v.diverging.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(diverging, ["sessions"]);
    assert!(v.lines().join("\n").contains("services: 50 rows -> 51"));
    // Without the write, nothing is stale.
    let v = write_guard::judge(&rec.tables, &rec.tables);
    assert!(!v.is_stale());

    drop_database(&target).await.unwrap();
    let gone = pg::psql_admin(
        pg::server(),
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            scratch.0
        ),
    )
    .unwrap();
    assert_eq!(gone.trim(), "0");
}

#[tokio::test]
async fn an_existing_database_that_is_not_empty_is_refused_unless_replace() {
    allow_createdb();
    let src = source("cl_src_ne", 3, 10);
    let taken = TestDb::new("cl_taken");
    taken.exec("CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)");
    let target = opts(&src, &taken.name);
    let e = clone_database(&opts(&src, &src.name), &target, false, |_| {})
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("exists and is not empty"), "{msg}");
    assert!(msg.contains("--clone-replace"), "{msg}");
    assert_eq!(taken.exec("SELECT x FROM precious"), "42\n");

    // An empty existing database is used as it is.
    let empty = TestDb::new("cl_empty");
    let rec = clone_database(
        &opts(&src, &src.name),
        &opts(&src, &empty.name),
        false,
        |_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!rec.created && !rec.replaced);

    // --clone-replace drops and re-creates it.
    let rec = clone_database(&opts(&src, &src.name), &target, true, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(rec.replaced);
    assert_eq!(
        taken.exec("SELECT to_regclass('precious') IS NULL, (SELECT count(*) FROM routes)"),
        "t|10\n"
    );

    // The source itself is never a clone target, whatever it is called.
    let e = clone_database(&opts(&src, &src.name), &opts(&src, &src.name), true, |_| {})
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("the source itself"), "{e:#}");
    let mut localhost = opts(&src, &src.name);
    localhost.host = "localhost".into();
    let e = clone_database(&opts(&src, &src.name), &localhost, true, |_| {})
        .await
        .unwrap_err();
    // (--clone-replace given: without the check it would drop the source.)
    assert!(
        format!("{e:#}").contains("is the source database itself"),
        "{e:#}"
    );
    assert_eq!(src.exec("SELECT count(*) FROM routes"), "10\n");
}

#[tokio::test]
async fn no_right_to_create_a_database_is_said_with_what_to_run() {
    let src = source("cl_src_nc", 1, 1);
    let _ = pg::psql_admin(
        pg::server(),
        "postgres",
        "CREATE ROLE kong_nocreate LOGIN PASSWORD 'nocreate-pw' NOCREATEDB",
    );
    let scratch = Scratch::new(&src, "nc");
    let mut target = opts(&src, &scratch.0);
    target.user = "kong_nocreate".into();
    target.password = Some(Secret::new("nocreate-pw"));
    let e = clone_database(&opts(&src, &src.name), &target, false, |_| {})
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("may not create databases"), "{msg}");
    assert!(
        msg.contains(&format!(
            "CREATE DATABASE \"{}\" OWNER \"kong_nocreate\"",
            scratch.0
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn writes_during_the_dump_are_in_neither_the_clone_nor_its_proof() {
    allow_createdb();
    let src = source("cl_busy", 20, 20_000);
    // A writer adding services one by one, each in its own transaction, all through the clone.
    let mut writer = pg::psql_cmd(&src.server, &src.name)
        .env("PGPASSWORD", KONG_PASSWORD)
        .args(["-U", "kong", "-c"])
        .arg("DO $$ BEGIN FOR i IN 1..100000 LOOP INSERT INTO services (name) VALUES ('busy-' || i); COMMIT; PERFORM pg_sleep(0.002); END LOOP; END $$")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while src.exec("SELECT count(*) > 30 FROM services") != "t\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never wrote"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let scratch = Scratch::new(&src, "busy");
    let res = clone_database(
        &opts(&src, &src.name),
        &opts(&src, &scratch.0),
        false,
        |_| {},
    )
    .await;
    // Writes went on after the snapshot.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let rec = res.unwrap_or_else(|e| {
        let _ = writer.kill();
        panic!("{e:#}")
    });
    let at_snapshot = rec
        .tables
        .iter()
        .find(|m| m.table == "services")
        .unwrap()
        .rows;
    while src
        .exec("SELECT count(*) FROM services")
        .trim()
        .parse::<i64>()
        .unwrap()
        <= at_snapshot
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no write after the snapshot"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = writer.kill();
    let _ = writer.wait();
    let clone = as_db(&src, &scratch.0);
    assert_eq!(
        clone.exec("SELECT count(*) FROM services").trim(),
        at_snapshot.to_string()
    );
    std::mem::forget(clone);
}

#[tokio::test]
async fn a_row_changed_in_the_clone_or_in_the_source_at_the_snapshot_fails_the_proof() {
    allow_createdb();
    let src = source("cl_tamper", 5, 300);
    let scratch = Scratch::new(&src, "tamper");
    let target = opts(&src, &scratch.0);
    let rec = clone_database(&opts(&src, &src.name), &target, false, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let meta = kongrade::exec::clone::source_schema_meta(&opts(&src, &src.name))
        .await
        .unwrap();
    prove(&target, None, &meta, &rec.tables)
        .await
        .unwrap_or_else(|e| panic!("the untouched clone is a copy: {e:#}"));

    // One plugin's config changed in the clone: the count and the newest write stay the same
    // (no updated_at is touched, as on a 2.8 plugins row); only the content digest differs.
    let clone = as_db(&src, &scratch.0);
    clone.exec(
        "UPDATE plugins SET config = jsonb_build_object('minute', 101, 'policy', 'local') \
         WHERE id = (SELECT min(id::text)::uuid FROM plugins)",
    );
    let err = prove(&target, None, &meta, &rec.tables)
        .await
        .expect_err("a changed row in the clone fails the proof");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("table plugins's rows differ in content from the source's at the snapshot"),
        "{msg}"
    );
    assert!(!msg.contains("routes"), "only plugins differs: {msg}");
    // Undone, it is a copy again: the digest is of the rows' content, not where they lie.
    clone.exec(
        "UPDATE plugins SET config = jsonb_build_object('minute', 100, 'policy', 'local') \
         WHERE id = (SELECT min(id::text)::uuid FROM plugins)",
    );
    prove(&target, None, &meta, &rec.tables)
        .await
        .unwrap_or_else(|e| panic!("the change undone, the clone is a copy again: {e:#}"));

    // The other side: the source's marks (as taken at a snapshot) with a route renamed in
    // place, against the clone as restored.
    src.exec(
        "UPDATE routes SET name = 'renamed' WHERE id = (SELECT min(id::text)::uuid FROM routes)",
    );
    let store = PgStore::connect(&opts(&src, &src.name)).await.unwrap();
    let changed_source = store.table_marks().await.unwrap();
    let routes = |m: &[kongrade::contract::clone::TableMark]| {
        m.iter().find(|t| t.table == "routes").cloned().unwrap()
    };
    assert_eq!(routes(&changed_source).rows, routes(&rec.tables).rows);
    assert_eq!(routes(&changed_source).newest, routes(&rec.tables).newest);
    let err = prove(&target, None, &meta, &changed_source)
        .await
        .expect_err("a source row that differs from the clone's fails the proof");
    assert!(
        format!("{err:#}").contains("table routes's rows differ in content"),
        "{err:#}"
    );
    std::mem::forget(clone);
}
