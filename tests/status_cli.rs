//! `kongrade status` end to end: the real binary, a real PostgreSQL, states built as Kong builds
//! them. Checks exit codes, the JSON shape of `kong migrations status`, and clean failures.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::kong_db;
use support::pg::TestDb;

fn kongrade(db: Option<&TestDb>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    // A clean environment: no KONG_* from the developer's shell, no default kong.conf lookups
    // that could find a real file.
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    if let Some(db) = db {
        for (k, v) in db.kong_env() {
            c.env(k, v);
        }
    }
    c.args(args).output().expect("run kongrade")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn exit_code_3_on_an_empty_database() {
    let db = TestDb::new("st_empty");
    let o = kongrade(Some(&db), &["status", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Database needs bootstrapping"));
    let o = kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    );
    assert_eq!(code(&o), 3);
    let v = json(&o);
    assert_eq!(v["needs_bootstrap"], true);
    assert!(
        v.get("executed_migrations").is_none(),
        "absent when empty: {v}"
    );
    assert_eq!(v["new_migrations"][0]["subsystem"], "core");
    assert_eq!(
        v["new_migrations"][0]["namespace"],
        "kong.db.migrations.core"
    );
}

#[test]
fn exit_code_0_up_to_date_and_5_with_new_migrations() {
    let db = TestDb::new("st_285");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let o = kongrade(Some(&db), &["status", "--target-version", "2.8.5"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Database is up to date"), "{out}");
    assert!(out.contains("matches Kong 2.8."), "{out}");

    let o = kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    );
    assert_eq!(code(&o), 5);
    let v = json(&o);
    assert_eq!(v["needs_bootstrap"], false);
    assert_eq!(v["target_version"], "3.4.2");
    assert!(v["new_migrations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["subsystem"] == "core"));
    assert!(v.get("pending_migrations").is_none());
    assert!(v["schema_matches"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "2.8.5"));
    assert_eq!(v["exit_code"], 5);
}

#[test]
fn exit_code_4_with_pending_two_phase_migrations_even_beside_new_ones() {
    let db = TestDb::new("st_pending");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::up_to(&db, "3.4.2", None);
    let o = kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    );
    assert_eq!(code(&o), 4, "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    let pending = v["pending_migrations"].as_array().unwrap();
    assert!(pending.iter().any(|s| s["subsystem"] == "core"), "{v}");
    // Pending from 3.4.2 and new ones of 3.9.3 at once: still 4, with a warning in the text.
    let o = kongrade(Some(&db), &["status", "--target-version", "3.9.3"]);
    assert_eq!(code(&o), 4);
    assert!(String::from_utf8_lossy(&o.stdout).contains("WARNING: pending migrations"));
    kong_db::finish(&db);
    let o = kongrade(Some(&db), &["status", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn exit_code_6_with_a_live_lock_and_a_stale_lock_reported() {
    let db = TestDb::new("st_lock");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    kong_db::lock(&db, "node-a", 50);
    let o = kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    );
    assert_eq!(code(&o), 6);
    let v = json(&o);
    assert_eq!(v["lock"]["live"], true);
    assert_eq!(v["lock"]["owner"], "node-a");
    kong_db::lock(&db, "node-a", -600);
    let o = kongrade(Some(&db), &["status", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("expired 10 min ago"), "{out}");
    // An expired row blocks nothing: said in words and in the JSON.
    assert!(out.contains("blocks nothing"), "{out}");
    assert!(out.contains("no action needed"), "{out}");
    let o = kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    );
    let v = json(&o);
    assert_eq!(v["lock"]["live"], false);
    assert_eq!(v["lock"]["blocks"], false);
    assert_eq!(v["lock"]["action_needed"], false);
    assert!(v["lock"]["note"]
        .as_str()
        .unwrap()
        .contains("deletes it itself"));
}

#[test]
fn a_014_database_is_not_told_to_bootstrap() {
    let db = TestDb::new("st_legacy");
    kong_db::legacy_014(&db);
    let o = kongrade(Some(&db), &["status", "--target-version", "3.4.2"]);
    assert_eq!(code(&o), 3);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("pre-1.0"), "{out}");
    assert!(
        out.contains("Do NOT run 'kong migrations bootstrap'"),
        "{out}"
    );
    let v = json(&kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(v["legacy_schema_migrations"], true);
}

#[test]
fn gaps_and_unknown_migrations_are_reported() {
    let db = TestDb::new("st_gap");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    // A skipped core migration, and a migration from a newer Kong.
    db.exec("UPDATE schema_meta SET executed = array_remove(executed, '016_280_to_300') || ARRAY['999_from_the_future'] WHERE subsystem = 'core'");
    let v = json(&kongrade(
        Some(&db),
        &["status", "--json", "--target-version", "3.4.2"],
    ));
    assert_eq!(v["gaps"][0]["subsystem"], "core");
    assert_eq!(v["gaps"][0]["migrations"][0], "016_280_to_300");
    assert_eq!(
        v["unknown_migrations"][0]["migrations"][0],
        "999_from_the_future"
    );
    assert_eq!(v["exit_code"], 5);
}

#[test]
fn a_custom_plugin_named_in_plugins_is_reported_when_its_migrations_are_unknown() {
    let db = TestDb::new("st_custom");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let o = kongrade(
        Some(&db),
        &[
            "status",
            "--json",
            "--target-version",
            "3.4.2",
            "--plugins",
            "bundled,my-auth",
        ],
    );
    let v = json(&o);
    assert_eq!(v["unresolved_plugins"][0], "my-auth");
}

#[test]
fn errors_are_clear_exit_1_and_print_nothing_on_stdout() {
    let db = TestDb::new("st_err");
    // Wrong password.
    let o = Command::new(env!("CARGO_BIN_EXE_kongrade"))
        .env_clear()
        .envs(db.kong_env())
        .env("KONG_PG_PASSWORD", "not-the-password")
        .args(["status", "--target-version", "3.4.2"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("refused the login"), "{err}");
    assert!(!err.contains("not-the-password"), "password leaked: {err}");

    // Unknown target version.
    let o = kongrade(Some(&db), &["status", "--target-version", "3.99.0"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not in kongrade's catalog"));
    // Not a version.
    let o = kongrade(Some(&db), &["status", "--target-version", "latest"]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    // Missing database.
    let o = kongrade(
        Some(&db),
        &[
            "status",
            "--target-version",
            "3.4.2",
            "--pg-database",
            "nope_db",
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no database 'nope_db'"));
    // A pg_schema that does not exist.
    let o = kongrade(
        Some(&db),
        &[
            "status",
            "--target-version",
            "3.4.2",
            "--pg-schema",
            "ghost",
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("pg_schema 'ghost' does not exist"));
    // A broken kong.conf names file, line and key.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kong.conf");
    std::fs::write(&conf, "# ok\npg_port = fivefourthreetwo\n").unwrap();
    let o = kongrade(
        None,
        &[
            "status",
            "--target-version",
            "3.4.2",
            "-c",
            conf.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2") && err.contains("pg_port"), "{err}");
    // No target at all, and no kong on PATH.
    let o = Command::new(env!("CARGO_BIN_EXE_kongrade"))
        .env_clear()
        .env("PATH", "/nonexistent")
        .envs(db.kong_env())
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--target-version"));
}

#[test]
fn kong_conf_file_and_flags_reach_the_database() {
    let db = TestDb::new("st_conf");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(dir.path(), "");
    let o = kongrade(
        None,
        &[
            "status",
            "-c",
            conf.to_str().unwrap(),
            "--target-version",
            "3.4.2",
        ],
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    // A flag overrides the file: a wrong port now.
    let o = kongrade(
        None,
        &[
            "status",
            "-c",
            conf.to_str().unwrap(),
            "--target-version",
            "3.4.2",
            "--pg-port",
            "1",
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot reach PostgreSQL"));
}

#[test]
fn kong_lua_path_brings_a_custom_plugins_migrations() {
    let db = TestDb::new("st_lua");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    // An installed tree holding one custom plugin with two migrations, the second two-phase.
    let tree = tempfile::tempdir().unwrap();
    let mig = tree.path().join("kong/plugins/my-auth/migrations");
    std::fs::create_dir_all(&mig).unwrap();
    std::fs::write(
        mig.join("init.lua"),
        "return {\n  \"000_base_my_auth\",\n  \"001_add_index\",\n}\n",
    )
    .unwrap();
    std::fs::write(
        mig.join("000_base_my_auth.lua"),
        "return {\n  postgres = {\n    up = [[ CREATE TABLE IF NOT EXISTS my_auth (id uuid); ]],\n  },\n}\n",
    )
    .unwrap();
    std::fs::write(
        mig.join("001_add_index.lua"),
        "return {\n  postgres = {\n    up = [[ CREATE INDEX x ON my_auth (id); ]],\n    teardown = function(connector)\n      -- move data\n    end,\n  },\n}\n",
    )
    .unwrap();
    db.exec(&kong_db::sql_executed("my-auth", "000_base_my_auth"));
    let lua = tree.path().to_str().unwrap();
    let o = kongrade(
        Some(&db),
        &[
            "status",
            "--json",
            "--target-version",
            "3.4.2",
            "--plugins",
            "bundled,my-auth",
            "--kong-lua-path",
            lua,
        ],
    );
    assert_eq!(code(&o), 5, "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    let new = v["new_migrations"].as_array().unwrap();
    assert_eq!(new.len(), 1, "{v}");
    assert_eq!(new[0]["subsystem"], "my-auth");
    assert_eq!(new[0]["migrations"][0], "001_add_index");
    assert!(v.get("unresolved_plugins").is_none());
    // Without the tree the plugin is reported as unresolved, not silently ignored.
    let v = json(&kongrade(
        Some(&db),
        &[
            "status",
            "--json",
            "--target-version",
            "3.4.2",
            "--plugins",
            "bundled,my-auth",
        ],
    ));
    assert_eq!(v["unresolved_plugins"][0], "my-auth");
    // A broken tree: a listed module that does not exist is an error naming it.
    std::fs::remove_file(mig.join("001_add_index.lua")).unwrap();
    let o = kongrade(
        Some(&db),
        &[
            "status",
            "--target-version",
            "3.4.2",
            "--plugins",
            "bundled,my-auth",
            "--kong-lua-path",
            lua,
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("001_add_index"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
