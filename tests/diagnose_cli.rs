//! `kongrade diagnose` and `kongrade plan` end to end: the real binary, a real PostgreSQL, each
//! finding produced from a database state built for it as Kong builds it, exit codes, and the
//! plans for 2.8.5 -> 3.9.3, 1.5.1 -> 3.4.2 and 3.4.2 -> 3.4.2 step by step.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::kong_db;
use support::pg::TestDb;

fn kongrade(db: &TestDb, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    // A clean environment: no KONG_* from the developer's shell, no kong.conf found by default.
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.args(args).output().expect("run kongrade")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(o),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// `kongrade diagnose --json --target-version T` plus extra arguments: (exit code, findings).
fn diagnose(db: &TestDb, target: &str, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["diagnose", "--json", "--target-version", target];
    args.extend_from_slice(extra);
    let o = kongrade(db, &args);
    let v = json(&o);
    assert_eq!(v["exit_code"], code(&o), "{v}");
    let f = v["findings"].as_array().cloned().unwrap_or_default();
    (code(&o), f)
}

fn ids(f: &[Value]) -> Vec<String> {
    f.iter()
        .map(|x| x["id"].as_str().unwrap_or("").to_string())
        .collect()
}

fn find<'a>(f: &'a [Value], id: &str) -> &'a Value {
    f.iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", ids(f)))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_clean_up_to_date_database_has_nothing_above_info_and_nothing_to_plan() {
    let db = TestDb::new("dg_clean");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 0, "{f:?}");
    assert!(f.iter().all(|x| x["severity"] == "info"), "{:?}", ids(&f));
    let o = kongrade(&db, &["diagnose", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("Schema:   Kong 3.4.2"), "{out}");
    assert!(
        !out.contains("ERRORS") && !out.contains("WARNINGS"),
        "{out}"
    );

    // 3.4.2 -> 3.4.2: nothing to do.
    let o = kongrade(&db, &["plan", "--json", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 0);
    let p = json(&o);
    assert_eq!(p["up_to_date"], true);
    assert_eq!(p["steps"].as_array().map(Vec::len), Some(0));
    assert_eq!(p["from"], "3.4.2");
    let o = kongrade(&db, &["plan", "--target-version", "3.4.2"]);
    assert!(stdout(&o).contains("Nothing to do: the database is up to date for Kong 3.4.2."));
}

#[test]
fn help_documents_the_exit_codes() {
    let db = TestDb::new("dg_help");
    let o = kongrade(&db, &["diagnose", "--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.contains("Exit codes: 0 nothing above information, 2 warnings, 1 errors"),
        "{out}"
    );
    assert!(out.contains("--db-timeout") && out.contains("--lock-timeout"));
    let o = kongrade(&db, &["plan", "--help"]);
    assert!(stdout(&o).contains("Exit codes: 0 a plan"));
}

#[test]
fn a_stale_lock_is_information_that_needs_no_delete() {
    let db = TestDb::new("dg_stale");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    kong_db::lock(&db, "killed-run", -600);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    // An expired row blocks nothing (Kong deletes it on its next run): not a warning.
    assert_eq!(c, 0, "{:?}", ids(&f));
    let l = find(&f, "lock-stale");
    assert_eq!(l["severity"], "info");
    assert!(l["title"].as_str().unwrap().contains("blocks nothing"));
    let remedy = strings(&l["remedy"]);
    assert!(remedy[0].starts_with("Nothing to do"), "{remedy:?}");
    assert!(remedy.iter().all(|r| !r.contains("DELETE")), "{remedy:?}");
    assert!(strings(&l["seen"])
        .iter()
        .any(|s| s == "expired 10 min ago"));
}

#[test]
fn a_live_lock_is_an_error_and_its_remedy_deletes_nothing() {
    let db = TestDb::new("dg_live");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    kong_db::lock(&db, "running-now", 50);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 1);
    let l = find(&f, "lock-live");
    assert!(l["title"].as_str().unwrap_or("").contains("expires in"));
    assert!(strings(&l["remedy"]).iter().all(|r| !r.contains("DELETE")));
    // The plan waits first.
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(p["steps"][0]["kind"], "wait");
}

#[test]
fn an_upgrade_half_way_and_an_earlier_one_never_finished() {
    let db = TestDb::new("dg_pending");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::up_to(&db, "3.4.2", None);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 2, "{:?}", ids(&f));
    let p = find(&f, "pending-finish");
    assert!(strings(&p["seen"])[0].contains("core: 016_280_to_300"));
    // Now aiming at 3.5.0: up is refused until the 3.4.2 migrations are finished.
    let (c, f) = diagnose(&db, "3.5.0", &[]);
    assert_eq!(c, 1);
    let u = find(&f, "unfinished-upgrade");
    assert!(
        u["title"].as_str().unwrap_or("").contains("Kong 3.4.2"),
        "{u}"
    );
    assert!(u["why"].as_str().unwrap_or("").contains("refuses"));
    let r = strings(&u["remedy"]);
    assert!(r[0].starts_with("kong migrations finish") && r[0].contains("Kong 3.4.2"));
    assert!(r[1].starts_with("kong migrations up") && r[1].contains("Kong 3.5.0"));
    // The plan finishes first with 3.4.2, then goes on.
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.5.0"],
    ));
    let kinds: Vec<(String, String)> = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap_or("").to_string(),
                s["kong_version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("backup".to_string(), "3.4.2".to_string()),
            ("finish_previous".into(), "3.4.2".into()),
            ("up".into(), "3.5.0".into()),
            ("nodes".into(), "3.5.0".into()),
        ]
    );
}

#[test]
fn skipped_migrations_name_their_release() {
    let db = TestDb::new("dg_gap");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    db.exec("UPDATE schema_meta SET executed = array_remove(executed, '016_280_to_300') WHERE subsystem = 'core'");
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 2);
    let g = find(&f, "skipped-migrations");
    assert!(
        strings(&g["seen"])[0].contains("016_280_to_300 (Kong 3.0.0) never recorded"),
        "{g}"
    );
}

#[test]
fn a_database_newer_than_the_target() {
    let db = TestDb::new("dg_newer");
    kong_db::bootstrap_at(&db, "3.9.3", None);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 1);
    let n = find(&f, "database-newer");
    assert!(n["title"]
        .as_str()
        .unwrap_or("")
        .contains("Kong 3.9.0 or later"));
    let o = kongrade(&db, &["plan", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("No plan: The database holds migrations of Kong 3.9.0"));
}

#[test]
fn plugins_recorded_but_not_loaded_unresolved_and_never_migrated() {
    let db = TestDb::new("dg_plugins");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    db.exec(&kong_db::sql_executed("my-plugin", "000_base_my_plugin"));
    // plugins = key-auth: every other bundled plugin with migrations is not loaded.
    let (c, f) = diagnose(&db, "3.4.2", &["--plugins", "key-auth"]);
    assert_eq!(c, 2);
    let p = find(&f, "plugin-not-loaded");
    let seen = strings(&p["seen"]);
    assert!(
        seen.iter().any(|s| s.starts_with("acl: 4 recorded")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.starts_with("my-plugin: 1 recorded")));
    // A custom plugin named in plugins whose migrations cannot be found.
    let (_, f) = diagnose(&db, "3.4.2", &["--plugins", "bundled,my-auth"]);
    let u = find(&f, "plugin-unresolved");
    assert_eq!(
        strings(&u["seen"]),
        ["my-auth: no schema_meta row: its migrations never ran"]
    );
    // A custom plugin read from an installed tree, never migrated.
    let dir = tempfile::tempdir().expect("tempdir");
    let mig = dir.path().join("kong/plugins/my-auth/migrations");
    std::fs::create_dir_all(&mig).expect("mkdir");
    std::fs::write(mig.join("init.lua"), "return { \"000_base_my_auth\" }\n").expect("write");
    std::fs::write(
        mig.join("000_base_my_auth.lua"),
        "return { postgres = { up = [[ CREATE TABLE IF NOT EXISTS my_auth (id uuid); ]] } }\n",
    )
    .expect("write");
    let lua = dir.path().display().to_string();
    let (_, f) = diagnose(
        &db,
        "3.4.2",
        &["--plugins", "bundled,my-auth", "--kong-lua-path", &lua],
    );
    let n = find(&f, "plugin-never-migrated");
    assert_eq!(
        strings(&n["seen"]),
        ["my-auth: 1 migration, no schema_meta row"],
        "{:?}",
        ids(&f)
    );
}

#[test]
fn a_014_database_goes_through_15_with_migrate_apis_only_when_apis_exist() {
    let db = TestDb::new("dg_legacy");
    kong_db::legacy_014(&db);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 1);
    let l = find(&f, "legacy-database");
    let r = strings(&l["remedy"]);
    assert!(
        r[0].starts_with("kong migrations up") && r[0].contains("Kong 1.5.1"),
        "{r:?}"
    );
    assert!(r
        .iter()
        .all(|x| !x.contains("bootstrap") && !x.contains("migrate-apis")));
    assert!(strings(&l["seen"]).contains(&"apis: 0 rows".to_string()));
    assert!(!ids(&f).contains(&"needs-bootstrap".to_string()));
    db.exec("INSERT INTO apis VALUES ('7d2b1b4e-6a4c-4a2e-9b1e-3f6f1c2d4e5f', 'legacy')");
    let (_, f) = diagnose(&db, "3.4.2", &[]);
    let r = strings(&find(&f, "legacy-database")["remedy"]);
    assert!(r[1].starts_with("kong migrations migrate-apis"), "{r:?}");
    assert!(r[2].starts_with("kong migrations finish"));
    // The plan: Kong 1.5.1 imports, converts the apis before finish, then 2.0.5 onwards.
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(p["from"], Value::Null);
    let s = steps(&p);
    assert_eq!(
        s[..7],
        [
            step("backup", "", &s[0].2),
            step("up", "1.5.1", "kong migrations up"),
            step("migrate_apis", "1.5.1", "kong migrations migrate-apis"),
            step("nodes", "1.5.1", "kong start   # on each new node"),
            step("finish", "1.5.1", "kong migrations finish"),
            step("up", "2.0.5", "kong migrations up"),
            step("nodes", "2.0.5", "kong start   # on each new node"),
        ]
    );
    assert!(s.iter().all(|x| x.0 != "bootstrap"));
    assert!(p["steps"][2]["why"]
        .as_str()
        .unwrap_or("")
        .starts_with("The `apis` table holds 1 row."));
    assert_eq!(
        strings(&p["path"]).first().map(String::as_str),
        Some("1.5.1")
    );
    assert_eq!(
        strings(&p["path"]).last().map(String::as_str),
        Some("3.4.2")
    );
}

#[test]
fn an_empty_database_is_bootstrapped_unless_kong_tables_are_in_it() {
    let db = TestDb::new("dg_empty");
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 0);
    let b = find(&f, "needs-bootstrap");
    assert_eq!(
        strings(&b["remedy"])[0],
        "kong migrations bootstrap   # with Kong 3.4.2"
    );
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(p["steps"][0]["kind"], "bootstrap");
    assert_eq!(p["steps"][0]["commands"][0], "kong migrations bootstrap");
    db.exec("CREATE TABLE services (id uuid PRIMARY KEY); INSERT INTO services VALUES (gen_random_uuid());");
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 1);
    find(&f, "tables-without-schema-meta");
    assert!(!ids(&f).contains(&"needs-bootstrap".to_string()));
}

#[test]
fn an_unsupported_jump_lists_the_releases_between() {
    let db = TestDb::new("dg_jump");
    kong_db::bootstrap_at(&db, "2.0.5", None);
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 1);
    let j = find(&f, "unsupported-jump");
    assert_eq!(
        j["title"],
        "Kong does not support 2.0.5 -> 3.4.2 in one step: go through 2.1.4, 3.0.2, 3.1.1, 3.2.2, 3.3.1"
    );
    assert!(j["why"].as_str().unwrap_or("").contains("from 2.1 on only"));
}

#[test]
fn big_tables_get_timeouts_and_the_plan_carries_them() {
    let db = TestDb::new("dg_big");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE plugins (id int, name text NOT NULL DEFAULT 'key-auth'); INSERT INTO plugins (id) SELECT g FROM generate_series(1, 1500000) g; ANALYZE plugins;",
    );
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 2, "{:?}", ids(&f));
    let l = find(&f, "large-tables");
    let title = l["title"].as_str().unwrap_or("");
    assert!(title.contains("--db-timeout 240"), "{title}");
    assert!(strings(&l["remedy"])[0].starts_with("kong migrations up --db-timeout 240"));
    assert!(strings(&l["remedy"])
        .iter()
        .any(|r| r.contains("do not re-run it blindly")));
    let o = kongrade(&db, &["diagnose", "--json", "--target-version", "3.4.2"]);
    let counts = json(&o)["row_counts"].clone();
    let n = counts
        .as_array()
        .and_then(|a| a.iter().find(|x| x[0] == "plugins"))
        .and_then(|x| x[1].as_i64())
        .unwrap_or(0);
    assert!((1_400_000..=1_600_000).contains(&n), "planner estimate {n}");
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.4.2"],
    ));
    let up = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "up")
        .cloned()
        .unwrap_or_default();
    assert!(
        up["commands"][0]
            .as_str()
            .unwrap_or("")
            .contains("--db-timeout 240"),
        "{up}"
    );
    // Flags already large enough: no warning, only a note.
    let (c, f) = diagnose(
        &db,
        "3.4.2",
        &["--db-timeout", "600", "--lock-timeout", "7200"],
    );
    assert_eq!(c, 0, "{:?}", ids(&f));
    assert_eq!(find(&f, "large-tables")["severity"], "info");
}

#[test]
fn old_data_planes_still_reporting() {
    let db = TestDb::new("dg_dp");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::up_to(&db, "3.4.2", None);
    db.exec(
        "CREATE TABLE clustering_data_planes (id uuid PRIMARY KEY, hostname text NOT NULL, ip text NOT NULL, \
         last_seen timestamptz DEFAULT now(), config_hash text NOT NULL, ttl timestamptz, version text, sync_status text); \
         INSERT INTO clustering_data_planes VALUES \
           ('0b1e3c7a-1111-4a2e-9b1e-3f6f1c2d4e5f', 'dp-old', '10.0.0.7', now() - interval '5 seconds', 'h', now() + interval '14 days', '2.8.5', 'normal'), \
           ('0b1e3c7a-2222-4a2e-9b1e-3f6f1c2d4e5f', 'dp-new', '10.0.0.8', now(), 'h', now() + interval '14 days', '3.4.2', 'normal'), \
           ('0b1e3c7a-3333-4a2e-9b1e-3f6f1c2d4e5f', 'dp-gone', '10.0.0.9', now() - interval '20 days', 'h', now() - interval '6 days', '2.8.5', 'normal');",
    );
    let (_, f) = diagnose(&db, "3.4.2", &[]);
    let d = find(&f, "data-planes-old");
    assert_eq!(d["severity"], "warning");
    let seen = strings(&d["seen"]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("dp-old (10.0.0.7) on 2.8.5, last seen"),
        "{seen:?}"
    );
}

#[test]
fn malformed_rows_are_findings_not_failures() {
    let db = TestDb::new("dg_malformed");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    db.exec(
        "UPDATE schema_meta SET pending = ARRAY['020_330_to_340'], executed = executed || ARRAY['000_base'] WHERE subsystem = 'core'; \
         UPDATE schema_meta SET last_executed = '009_not_recorded' WHERE subsystem = 'acl'; \
         INSERT INTO schema_meta (key, subsystem) VALUES ('not_kong', 'core'); \
         INSERT INTO schema_meta (key, subsystem, executed, pending) VALUES ('schema_meta', '', NULL, ARRAY[NULL, '']::text[]);",
    );
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    assert_eq!(c, 2, "{:?}", ids(&f));
    for id in [
        "executed-and-pending",
        "last-executed-unrecorded",
        "duplicate-migrations",
        "foreign-schema-meta-rows",
    ] {
        find(&f, id);
    }
    // The UPDATE that removes the double entry works as given.
    let fix = strings(&find(&f, "executed-and-pending")["remedy"])[0].clone();
    let sql = fix.split("   #").next().unwrap_or("").to_string();
    db.exec(&sql);
    let dedup = strings(&find(&f, "duplicate-migrations")["remedy"])[0].clone();
    db.exec(&dedup);
    let (_, f) = diagnose(&db, "3.4.2", &[]);
    assert!(!ids(&f).contains(&"executed-and-pending".to_string()));
    assert!(!ids(&f).contains(&"duplicate-migrations".to_string()));
    // Severity order in the text: errors, then warnings, then information.
    let out = stdout(&kongrade(&db, &["diagnose", "--target-version", "3.4.2"]));
    let w = out.find("WARNINGS").unwrap_or(usize::MAX);
    let i = out.find("INFORMATION").unwrap_or(0);
    assert!(w < i, "{out}");
}

/// (kind, Kong version, first command) of each step.
fn steps(p: &Value) -> Vec<(String, String, String)> {
    p["steps"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap_or("").to_string(),
                s["kong_version"].as_str().unwrap_or("").to_string(),
                s["commands"][0].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn step(kind: &str, v: &str, cmd: &str) -> (String, String, String) {
    (kind.into(), v.into(), cmd.into())
}

fn migrations_of(p: &Value, i: usize) -> Vec<String> {
    p["steps"][i]["migrations"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .flat_map(|s| {
            let sub = s["subsystem"].as_str().unwrap_or("").to_string();
            s["migrations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |m| {
                    format!(
                        "{sub}/{}{}",
                        m["name"].as_str().unwrap_or(""),
                        if m["two_phase"] == true { "*" } else { "" }
                    )
                })
        })
        .collect()
}

#[test]
fn plan_285_to_393_goes_through_342_then_minor_by_minor() {
    let db = TestDb::new("pl_285");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = db.write_kong_conf(dir.path(), "");
    let c = conf.display().to_string();
    let o = kongrade(
        &db,
        &["plan", "--json", "-c", &c, "--target-version", "3.9.3"],
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let p = json(&o);
    assert_eq!(p["from"], "2.8.5");
    let path: Vec<String> = strings(&p["path"]);
    assert_eq!(path, ["3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.9.3"]);
    let up = format!("kong migrations up -c {c}");
    let finish = format!("kong migrations finish -c {c}");
    let start = format!("kong start -c {c}   # on each new node");
    let s = steps(&p);
    assert_eq!(s.len(), 14, "{s:#?}");
    assert_eq!(s[0].0, "backup");
    assert_eq!(s[0].1, "2.8.5");
    assert!(s[0].2.starts_with("pg_dump -h "), "{}", s[0].2);
    assert!(s[0].2.ends_with(" -Fc -f kong-before-3.9.3.dump"));
    assert_eq!(
        s[1..],
        [
            step("up", "3.4.2", &up),
            step("nodes", "3.4.2", &start),
            step("finish", "3.4.2", &finish),
            step("up", "3.5.0", &up),
            step("nodes", "3.5.0", &start),
            step("up", "3.6.1", &up),
            step("nodes", "3.6.1", &start),
            step("finish", "3.6.1", &finish),
            step("up", "3.7.1", &up),
            step("nodes", "3.7.1", &start),
            step("finish", "3.7.1", &finish),
            step("up", "3.9.3", &up),
            step("nodes", "3.9.3", &start),
        ]
    );
    // What each up runs, two-phase ones starred; each finish's teardowns.
    let up342 = migrations_of(&p, 1);
    assert_eq!(
        up342[..5],
        [
            "core/016_280_to_300*",
            "core/017_300_to_310",
            "core/018_310_to_320",
            "core/019_320_to_330",
            "core/020_330_to_340",
        ]
    );
    assert!(up342.contains(&"post-function/001_280_to_300*".to_string()));
    assert!(up342.contains(&"key-auth/004_320_to_330".to_string()));
    assert_eq!(
        migrations_of(&p, 3),
        [
            "core/016_280_to_300*",
            "http-log/001_280_to_300*",
            "post-function/001_280_to_300*",
            "pre-function/001_280_to_300*"
        ]
    );
    assert_eq!(migrations_of(&p, 4), ["core/021_340_to_350"]);
    assert_eq!(migrations_of(&p, 8), ["opentelemetry/001_331_to_332*"]);
    assert_eq!(migrations_of(&p, 11), ["ai-proxy/001_360_to_370*"]);
    assert_eq!(migrations_of(&p, 12), ["core/024_380_to_390"]);
    let notes = strings(&p["notes"]).join("\n");
    assert!(
        notes
            .contains("Kong 2.8.5 -> 3.9.3 goes through 3.4.2 -> 3.5.0 -> 3.6.1 -> 3.7.1 -> 3.9.3"),
        "{notes}"
    );
    assert!(
        notes.contains("Kong 3.8.1 changes nothing in the database"),
        "{notes}"
    );
    // The text shows the same, command by command.
    let out = stdout(&kongrade(
        &db,
        &["plan", "-c", &c, "--target-version", "3.9.3"],
    ));
    assert!(
        out.contains("Releases to run, in order: 3.4.2 -> 3.5.0 -> 3.6.1 -> 3.7.1 -> 3.9.3"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            " 2. Run `kong migrations up` with Kong 3.4.2   [Kong 3.4.2]\n      $ {up}\n"
        )),
        "{out}"
    );
}

#[test]
fn plan_151_to_342_goes_through_2_1_and_every_3x_minor() {
    let db = TestDb::new("pl_151");
    kong_db::bootstrap_at(&db, "1.5.1", None);
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(p["from"], "1.5.1");
    assert_eq!(
        strings(&p["path"]),
        // 3.0 accepts databases from 2.1.x on: shorter than the 2.x minors and the 2.8 LTS.
        ["2.0.5", "2.1.4", "3.0.2", "3.1.1", "3.2.2", "3.3.1", "3.4.2"]
    );
    let (up, fin, start) = (
        "kong migrations up",
        "kong migrations finish",
        "kong start   # on each new node",
    );
    let s = steps(&p);
    assert_eq!(s[0].0, "backup");
    assert_eq!(
        s[1..],
        [
            step("up", "2.0.5", up),
            step("nodes", "2.0.5", start),
            step("finish", "2.0.5", fin),
            step("up", "2.1.4", up),
            step("nodes", "2.1.4", start),
            step("finish", "2.1.4", fin),
            step("up", "3.0.2", up),
            step("nodes", "3.0.2", start),
            step("finish", "3.0.2", fin),
            step("up", "3.1.1", up),
            step("nodes", "3.1.1", start),
            step("up", "3.2.2", up),
            step("nodes", "3.2.2", start),
            step("up", "3.3.1", up),
            step("nodes", "3.3.1", start),
            step("up", "3.4.2", up),
            step("nodes", "3.4.2", start),
        ]
    );
    // acme arrived in 2.0.2 as a bundled rock: its base migration runs with 2.0.5.
    assert_eq!(
        migrations_of(&p, 1),
        ["core/008_150_to_200*", "acme/000_base_acme"]
    );
    assert_eq!(migrations_of(&p, 3), ["core/008_150_to_200*"]);
    // Running each step as planned (Kong's own recording) ends up to date.
    kong_db::up_to(&db, "2.0.5", None);
    kong_db::finish(&db);
    for v in ["2.1.4", "3.0.2", "3.1.1", "3.2.2", "3.3.1", "3.4.2"] {
        kong_db::up_to(&db, v, None);
        kong_db::finish(&db);
    }
    let p = json(&kongrade(
        &db,
        &["plan", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(p["up_to_date"], true, "{p}");
}

#[test]
fn a_failed_count_is_a_note_not_a_failure() {
    let db = TestDb::new("dg_countfail");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    // A "plugins" that cannot be counted: the diagnosis goes on without timeout advice.
    db.exec("CREATE VIEW plugins AS SELECT g FROM generate_series(1, 2) g WHERE 1 / (g - 1) = 0;");
    let (c, f) = diagnose(&db, "3.4.2", &[]);
    let n = find(&f, "row-counts-unavailable");
    assert_eq!(n["severity"], "info");
    assert!(strings(&n["seen"])[0].contains("division by zero"), "{n}");
    assert!(!ids(&f).contains(&"large-tables".to_string()));
    // The preflight still reads the plugins (its checks are not skipped for want of a count),
    // and says the read failed: a warning (exit 2), never a silent "no plugin problem".
    let p = find(&f, "preflight-incomplete");
    assert!(
        strings(&p["seen"])
            .iter()
            .any(|s| s.starts_with("routes, plugins and server version: ")),
        "{p}"
    );
    assert_eq!(c, 2, "{:?}", ids(&f));
}
