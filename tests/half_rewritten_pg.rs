//! An interrupted core 016_280_to_300 (`kong::half_applied`), end to end on a real PostgreSQL:
//! Kong committed the migration's SQL (targets.cache_key exists), rewrote some regex paths with
//! `~` and stopped before recording it. `diagnose` names the routes with the repair first, `auto`
//! refuses to run the `up` that would prefix them twice, and after the repair both go on.
//! kong is the stand-in (it follows Kong's CLI contract; it does not rewrite paths).

mod support;

use serde_json::Value;
use support::cli::both;
use support::kong_db;
use support::pg::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn kongrade(db: &TestDb, args: &[&str]) -> std::process::Output {
    kongrade_as(db, None, args)
}

/// kongrade connecting as `role` (password [`ROLE_PASSWORD`]) instead of Kong's `kong`.
fn kongrade_as(db: &TestDb, role: Option<&str>, args: &[&str]) -> std::process::Output {
    let data = std::env::temp_dir()
        .join("kongrade-tests")
        .join(format!("data-{}", db.name));
    let mut c = std::process::Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data);
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    if let Some(role) = role {
        c.env("KONG_PG_USER", role)
            .env("KONG_PG_PASSWORD", ROLE_PASSWORD);
    }
    c.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kongrade")
}

fn findings(db: &TestDb) -> Vec<Value> {
    findings_as(db, None)
}

fn findings_as(db: &TestDb, role: Option<&str>) -> Vec<Value> {
    let o = kongrade_as(
        db,
        role,
        &["diagnose", "--json", "--target-version", "3.4.2"],
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", both(&o)));
    v["findings"].as_array().cloned().unwrap_or_default()
}

fn half(f: &[Value]) -> Option<&Value> {
    f.iter().find(|x| x["id"] == "paths-half-rewritten")
}

/// A 2.8.5 database with Kong's routes and targets tables and three routes: one regex path
/// already rewritten by 016 (`~`), one regex path not reached yet, one plain path.
fn interrupted_016(tag: &str, sql_ran: bool) -> TestDb {
    let db = TestDb::new(tag);
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text[]);\
         CREATE TABLE targets (id uuid PRIMARY KEY, target text);\
         INSERT INTO routes VALUES \
         ('00000000-0000-0000-0000-000000000001', 'users', ARRAY['~/users/\\d+', '/users']),\
         ('00000000-0000-0000-0000-000000000002', 'orders', ARRAY['/orders/\\d+']),\
         ('00000000-0000-0000-0000-000000000003', NULL, ARRAY['/plain']);",
    );
    if sql_ran {
        // What 016's SQL adds (committed before its Lua part rewrites the paths).
        db.exec("ALTER TABLE targets ADD COLUMN cache_key text UNIQUE;");
    }
    db
}

fn schema_meta(db: &TestDb) -> String {
    db.exec(
        "SELECT subsystem, executed::text, coalesce(pending::text, '') FROM schema_meta ORDER BY 1",
    )
}

#[test]
fn an_interrupted_016_is_named_refused_and_clears_after_the_repair() {
    let db = interrupted_016("half016", true);
    let f = findings(&db);
    let h = half(&f).unwrap_or_else(|| panic!("no paths-half-rewritten in {f:?}"));
    assert_eq!(h["severity"], "error", "{h}");
    let title = h["title"].as_str().unwrap_or_default();
    assert!(title.contains("1 route(s)"), "{title}");
    let seen = h["seen"].to_string();
    assert!(
        seen.contains("00000000-0000-0000-0000-000000000001 (users)"),
        "{seen}"
    );
    assert!(
        !seen.contains("orders"),
        "only the rewritten route is listed: {seen}"
    );
    let remedy: Vec<String> = h["remedy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        remedy[0].contains("no `kong migrations up` runs anywhere"),
        "{remedy:?}"
    );
    let repair = remedy
        .iter()
        .find(|r| r.starts_with("psql -h "))
        .unwrap_or_else(|| panic!("the repair, a full psql line: {remedy:?}"))
        .clone();

    // auto refuses before any step: its `up` would make the path `~~/users/\d+`.
    let before = schema_meta(&db);
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let mut args = vec!["auto", "--kong-cmd", &kong, "--backup=skip", "--json"];
    let in_place = support::nodes::in_place();
    args.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(19), "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("auto JSON");
    assert_eq!(v["result"], "refused_state", "{v}");
    assert!(v["steps"].as_array().is_some_and(|s| s.is_empty()), "{v}");
    assert_eq!(schema_meta(&db), before, "nothing ran");

    // The repair as printed, run as is by a shell, with only the password in the environment.
    let sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(&repair)
        .env("PGPASSWORD", support::pg::KONG_PASSWORD)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    assert!(sh.status.success(), "{repair}\n{}", both(&sh));
    assert_eq!(
        db.exec("SELECT string_agg(paths::text, ' ' ORDER BY id) FROM routes")
            .trim(),
        r#"{"/users/\\d+",/users} {"/orders/\\d+"} {/plain}"#
    );
    let f = findings(&db);
    assert!(half(&f).is_none(), "repaired: {f:?}");
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert_ne!(
        schema_meta(&db),
        before,
        "up and finish ran after the repair"
    );
}

#[test]
fn tilde_paths_are_not_read_before_016_sql_ran_nor_judged_once_016_is_recorded() {
    // 016's SQL never ran (no targets.cache_key): the routes are not even read.
    let db = interrupted_016("half016_nosql", false);
    assert!(half(&findings(&db)).is_none());

    // 016 recorded pending (its up completed): `~` is what 3.x paths carry.
    let db = interrupted_016("half016_pending", true);
    db.exec(
        "UPDATE schema_meta SET pending = array_append(coalesce(pending, '{}'), '016_280_to_300') \
         WHERE subsystem = 'core';",
    );
    assert!(half(&findings(&db)).is_none());
}

/// Kong does not renew its lock: a rewrite that outlives --lock-timeout shows no live lock. A
/// session sending 016's statements (pg_stat_activity) means the run is alive: no finding, and
/// no repair offered over a rewrite in progress.
#[test]
fn a_rewrite_still_running_without_its_lock_is_not_called_interrupted() {
    let db = interrupted_016("half016_running", true);
    assert!(half(&findings(&db)).is_some());
    let rewrite = Rewrite::start(&db);
    let f = findings(&db);
    drop(rewrite);
    assert!(half(&f).is_none(), "a running rewrite: {f:?}");
    // It is a live run all the same (its lock expired: Kong does not renew it): wait, start nothing.
    let live = f
        .iter()
        .find(|x| x["id"] == "lock-live")
        .unwrap_or_else(|| panic!("the rewrite is a live run: {f:?}"));
    assert!(
        live["title"]
            .as_str()
            .unwrap_or_default()
            .contains("is rewriting the routes now"),
        "{live}"
    );
}

/// Kong's UPDATE of 016, still at work on another connection as Kong's role (held open by a
/// sleep); ended and its backend terminated on drop.
struct Rewrite<'a> {
    db: &'a TestDb,
    child: std::process::Child,
}

impl<'a> Rewrite<'a> {
    fn start(db: &'a TestDb) -> Rewrite<'a> {
        let child = std::process::Command::new("psql")
            .args([
                "-X",
                "-q",
                "-h",
                &db.server.host,
                "-p",
                &db.server.port.to_string(),
            ])
            .args(["-U", "kong", "-d", &db.name])
            .env("PGPASSWORD", support::pg::KONG_PASSWORD)
            // As Kong 3.4 and later name their sessions.
            .env("PGAPPNAME", "kong")
            .stdin(std::process::Stdio::null())
            .args([
                "-c",
                "UPDATE routes SET paths = paths WHERE false; SELECT pg_sleep(120)",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("psql");
        // Kong's role sees its own session (db.exec runs as kong).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while db
            .exec(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'UPDATE routes SET paths = %' AND state = 'active'", db.name))
            .trim()
            != "1"
        {
            assert!(std::time::Instant::now() < deadline, "the session never showed");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Rewrite { db, child }
    }
}

impl Drop for Rewrite<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = support::pg::psql_admin(
            &self.db.server,
            "postgres",
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'UPDATE routes SET paths = %'", self.db.name),
        );
    }
}

/// The password of the second role the test makes.
const ROLE_PASSWORD: &str = "other-role-pw";

/// A login role that is neither Kong's nor a superuser, allowed to read Kong's tables (as a
/// read-only operator account would be); dropped after the database.
struct OtherRole {
    server: support::pg::Server,
    name: String,
}

impl OtherRole {
    fn new(db: &TestDb) -> OtherRole {
        let name = format!("{}_ro", &db.name[..db.name.len().min(56)]);
        support::pg::psql_admin(
            &db.server,
            "postgres",
            &format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{ROLE_PASSWORD}'"),
        )
        .unwrap_or_else(|e| panic!("create role {name}: {e}"));
        db.exec(&format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{name}\""
        ));
        OtherRole {
            server: db.server.clone(),
            name,
        }
    }
}

impl Drop for OtherRole {
    fn drop(&mut self) {
        let _ = support::pg::psql_admin(
            &self.server,
            "postgres",
            &format!("DROP ROLE IF EXISTS \"{}\"", self.name),
        );
    }
}

/// A role that may not read Kong's sessions' queries (pg_stat_activity shows it
/// `<insufficient privilege>`) cannot tell a rewrite at work from an interrupted one: kongrade
/// says so, offers no repair and starts no `up`. With pg_read_all_stats it sees the run.
/// Waits (a generous deadline, the machine is busy) until no session but this check's own is in
/// the database.
fn no_other_sessions(db: &TestDb) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let n = db.exec(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        if n.trim() == "0" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sessions still in the database: {n}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_rewrite_hidden_from_kongrades_role_is_cannot_tell_not_interrupted() {
    // Declared before the database: dropped after it (a role with grants in a live database
    // cannot be dropped).
    let role;
    let db = interrupted_016("half016_hidden", true);
    role = OtherRole::new(&db);
    let other = Some(role.name.as_str());
    // Nothing else at work in the database: the other role sees the interrupted run as such,
    // once the sessions that set it up have left (a psql that exited may still be listed for
    // a moment, and another role's session is one the other role cannot see into).
    no_other_sessions(&db);
    assert!(half(&findings_as(&db, other)).is_some());

    let rewrite = Rewrite::start(&db);
    let f = findings_as(&db, other);
    assert!(
        half(&f).is_none(),
        "no repair over a rewrite that may be at work: {f:?}"
    );
    assert!(
        !f.iter().any(|x| x["id"] == "lock-live"),
        "a run it cannot see is not called seen: {f:?}"
    );
    let u = f
        .iter()
        .find(|x| x["id"] == "rewrite-unseen")
        .unwrap_or_else(|| panic!("cannot tell: {f:?}"));
    assert_eq!(u["severity"], "error", "{u}");
    let title = u["title"].as_str().unwrap_or_default();
    assert!(
        title.contains("cannot see whether a `kong migrations up` is still rewriting"),
        "{title}"
    );
    assert!(title.contains(&role.name), "names the role: {title}");
    assert!(
        u["seen"].to_string().contains("kong"),
        "names the hidden role: {u}"
    );
    // The application name is shown to every role: an agent can be told from Kong.
    assert!(
        u["seen"]
            .to_string()
            .contains("their application names: kong (Kong 3.4 and later"),
        "names the hidden sessions' applications: {u}"
    );
    let remedy: Vec<&str> = u["remedy"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        remedy[0].starts_with("KONG_PG_USER=kong kongrade diagnose"),
        "{remedy:?}"
    );
    assert!(
        remedy
            .iter()
            .any(|r| r.starts_with(&format!("GRANT pg_read_all_stats TO \"{}\";", role.name))),
        "{remedy:?}"
    );
    assert!(
        !remedy.iter().any(|r| r.contains("UPDATE")),
        "the repair is not offered: {remedy:?}"
    );

    // auto refuses before any step: no `up` races the rewrite.
    let before = schema_meta(&db);
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let mut args = vec!["auto", "--kong-cmd", &kong, "--backup=skip", "--json"];
    let in_place = support::nodes::in_place();
    args.extend(in_place.iter().map(String::as_str));
    let o = kongrade_as(&db, other, &args);
    assert_eq!(o.status.code(), Some(19), "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("auto JSON");
    assert_eq!(v["result"], "refused_state", "{v}");
    assert_eq!(schema_meta(&db), before, "nothing ran");

    // Allowed to read every session's activity, the same role sees the run.
    support::pg::psql_admin(
        &db.server,
        "postgres",
        &format!("GRANT pg_read_all_stats TO \"{}\"", role.name),
    )
    .expect("grant");
    let f = findings_as(&db, other);
    drop(rewrite);
    assert!(half(&f).is_none(), "{f:?}");
    assert!(!f.iter().any(|x| x["id"] == "rewrite-unseen"), "{f:?}");
    let live = f
        .iter()
        .find(|x| x["id"] == "lock-live")
        .unwrap_or_else(|| panic!("seen as running: {f:?}"));
    assert!(
        live["title"]
            .as_str()
            .unwrap_or_default()
            .contains("is rewriting the routes now"),
        "{live}"
    );
}

/// A routes table altered by hand (paths no longer text[]) is not read for `~` paths: the rest
/// of the diagnosis stands, where the read would have failed the whole snapshot.
#[test]
fn an_altered_routes_table_does_not_break_the_read() {
    let db = TestDb::new("half016_altered");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text);\
         CREATE TABLE targets (id uuid PRIMARY KEY, target text, cache_key text);\
         INSERT INTO routes VALUES ('00000000-0000-0000-0000-000000000001', 'x', '~/users');",
    );
    let o = kongrade(&db, &["status", "--json", "--target-version", "3.4.2"]);
    assert_ne!(o.status.code(), Some(1), "{}", both(&o));
    assert!(half(&findings(&db)).is_none());
}
