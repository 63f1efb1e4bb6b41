//! The preflight in `kongrade plan` (shown) and `kongrade auto` (refused with exit 20 unless
//! --allow-breaking, the override journaled): the real binary, a real PostgreSQL, the stand-in
//! as kong, a kong.conf with a removed key and routes whose regex 3.x refuses.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::kong_db;
use support::pg::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn data_dir(db: &TestDb) -> PathBuf {
    std::env::temp_dir()
        .join("kongrade-tests")
        .join(format!("data-{}", db.name))
}

fn kongrade(db: &TestDb, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data_dir(db));
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade")
}

fn both(o: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rows(db: &TestDb) -> String {
    db.exec(
        "SELECT subsystem, executed::text, coalesce(pending::text, '') FROM schema_meta ORDER BY 1",
    )
}

/// A 2.8.5 database with a route 3.x's router refuses (look-ahead) and a plain one.
fn dirty_db(tag: &str) -> TestDb {
    let db = TestDb::new(tag);
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text[]);\
         CREATE TABLE plugins (id uuid PRIMARY KEY, name text);\
         INSERT INTO routes VALUES \
         ('00000000-0000-0000-0000-000000000001', 'users', ARRAY['/users/\\d+']),\
         ('00000000-0000-0000-0000-000000000002', NULL, ARRAY['/(?!admin).*']);",
    );
    db
}

fn conf_with_removed_key(db: &TestDb, dir: &Path) -> String {
    db.write_kong_conf(dir, "upstream_keepalive = 60\n")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn plan_shows_the_preflight_text_and_json() {
    let db = dirty_db("pfp_plan");
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_with_removed_key(&db, dir.path());
    let o = kongrade(&db, &["plan", "-c", &conf, "--target-version", "3.4.2"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("Preflight: what Kong 3.4.2 will break, fix before `up`:"),
        "{text}"
    );
    assert!(text.contains("  ERROR [conf-key-removed]"), "{text}");
    assert!(
        text.contains("  ERROR [routes-regex-incompatible]"),
        "{text}"
    );
    assert!(
        text.contains("  WARNING [routes-regex-unprefixed]"),
        "{text}"
    );
    assert!(
        text.contains("seen: route users (00000000-0000-0000-0000-000000000001): /users/\\d+"),
        "{text}"
    );
    assert!(
        text.contains("refuses the errors above (exit 20) unless --allow-breaking"),
        "{text}"
    );
    // Errors first: the steps come before, the preflight after them.
    assert!(text.find("Releases to run").unwrap() < text.find("Preflight:").unwrap());

    let o = kongrade(
        &db,
        &["plan", "--json", "-c", &conf, "--target-version", "3.4.2"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    let ids: Vec<&str> = v["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"conf-key-removed") && ids.contains(&"routes-regex-incompatible"),
        "{ids:?}"
    );

    // A clean database and kong.conf: the preflight says so.
    let clean = TestDb::new("pfp_plan_clean");
    kong_db::bootstrap_at(&clean, "2.8.5", None);
    let o = kongrade(&clean, &["plan", "--target-version", "3.4.2"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        !text.contains("ERROR [") && !text.contains("WARNING ["),
        "{text}"
    );
}

#[test]
fn auto_refuses_what_the_target_breaks_with_20_unless_allow_breaking_and_journals_it() {
    let db = dirty_db("pfp_auto");
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_with_removed_key(&db, dir.path());
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let before = rows(&db);
    let o = kongrade(
        &db,
        &[
            "auto",
            "-c",
            &conf,
            "--kong-cmd",
            &kong,
            "--backup=skip",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(20), "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("auto JSON");
    assert_eq!(v["result"], "refused_breaking", "{v}");
    assert!(v["steps"].as_array().unwrap().is_empty(), "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("--allow-breaking"), "{msg}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Preflight error: [conf-key-removed]"), "{err}");
    assert!(
        err.contains("Preflight error: [routes-regex-incompatible]"),
        "{err}"
    );
    assert_eq!(rows(&db), before, "nothing ran");

    // Let through, it runs in place (the LTS pair: Kong's guide refuses blue-green there).
    let in_place = support::nodes::in_place();
    let mut lifted = vec![
        "auto",
        "-c",
        &conf,
        "--kong-cmd",
        &kong,
        "--backup=skip",
        "--allow-breaking",
    ];
    lifted.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &lifted);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert_ne!(rows(&db), before, "up and finish ran");
    // The overrides are in the journal, one per lifted finding.
    let mut gates = Vec::new();
    for e in std::fs::read_dir(data_dir(&db).join("journal"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap_or_default();
                if v["event"] == "override" {
                    gates.push((
                        v["gate"].as_str().unwrap_or_default().to_string(),
                        v["reason"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
        }
    }
    for id in ["conf-key-removed", "routes-regex-incompatible"] {
        assert!(
            gates
                .iter()
                .any(|(g, r)| g == id && r.contains("--allow-breaking")),
            "{id} not journaled: {gates:?}"
        );
    }
}

/// A check that could not run may hide an error: auto refuses an incomplete preflight with 20,
/// as it refuses the errors, and only its own --allow-incomplete-preflight lifts it (journaled). Here the plugins table
/// cannot be read (a view that fails), so the plugins' checks did not run.
#[test]
fn auto_refuses_an_incomplete_preflight_unless_its_own_flag() {
    let db = TestDb::new("pfp_incomplete");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    db.exec(
        "CREATE VIEW plugins AS SELECT g AS name FROM generate_series(1, 2) g WHERE 1 / (g - 1) = 0;",
    );
    let kong = format!("'{BIN}' stand-in --kong-version 3.5.0");
    let before = rows(&db);
    let base = [
        "auto",
        "--target-version",
        "3.5.0",
        "--kong-cmd",
        &kong,
        "--backup=skip",
    ];
    let o = kongrade(&db, &[&base[..], &["--json"]].concat());
    assert_eq!(o.status.code(), Some(20), "{}", both(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("[preflight-incomplete]"), "{err}");
    assert!(err.contains("division by zero"), "{err}");
    let v: Value = serde_json::from_slice(&o.stdout).expect("auto JSON");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--allow-incomplete-preflight"),
        "{v}"
    );
    assert_eq!(rows(&db), before, "nothing ran");
    // --allow-breaking lifts what the checks that ran found, not a check that did not run.
    let o = kongrade(&db, &[&base[..], &["--allow-breaking"]].concat());
    assert_eq!(o.status.code(), Some(20), "{}", both(&o));
    assert_eq!(rows(&db), before, "nothing ran");
    let in_place = support::nodes::in_place();
    let mut lifted: Vec<&str> = base.to_vec();
    lifted.push("--allow-incomplete-preflight");
    lifted.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &lifted);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert_ne!(rows(&db), before, "up ran");
    // The lifted refusal is journaled as an override.
    let mut journaled = false;
    for e in std::fs::read_dir(data_dir(&db).join("journal"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap_or_default();
                journaled |= v["event"] == "override"
                    && v["gate"] == "preflight-incomplete"
                    && v["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("--allow-incomplete-preflight"));
            }
        }
    }
    assert!(journaled, "the override is not in the journal");
}

/// A 2.8.5 database with 300,000 routes (a big table: the count is exact still), each with the path
/// `path` (`N` is replaced by the route's number).
fn routes_db(tag: &str, path: &str) -> TestDb {
    let db = TestDb::new(tag);
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(&format!(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text[]);\
         INSERT INTO routes SELECT md5(i::text)::uuid, NULL, ARRAY[replace('{path}', 'N', i::text)] \
         FROM generate_series(1, 300000) AS i;"
    ));
    db
}

fn regex_count(db: &TestDb) -> Option<i64> {
    let o = kongrade(db, &["diagnose", "--json", "--target-version", "3.4.2"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("diagnose JSON");
    v["row_counts"]
        .as_array()?
        .iter()
        .find(|r| r[0] == "routes_with_regex_paths")
        .and_then(|r| r[1].as_i64())
}

fn up_command(db: &TestDb) -> String {
    let o = kongrade(db, &["plan", "--json", "--target-version", "3.4.2"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "up")
        .and_then(|s| s["commands"][0].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn core_016_is_estimated_from_the_regex_routes_counted_not_from_the_table_size() {
    // Plain paths: 016's up_f only reads them (seconds); no --lock-timeout is advised.
    let plain = routes_db("pfp_plain", "/plain/N");
    assert_eq!(regex_count(&plain), Some(0));
    let up = up_command(&plain);
    assert!(up.starts_with("kong migrations up"), "{up}");
    assert!(!up.contains("--lock-timeout"), "{up}");

    // Every path a regex: one UPDATE each (~100 s at 2,900/s): the lock must outlast it.
    let regex = routes_db("pfp_regex", "/r/N/\\d+");
    let n = regex_count(&regex).expect("counted");
    // Every route judged: the count is exact.
    assert_eq!(n, 300_000, "{n}");
    let up = up_command(&regex);
    assert!(up.contains("--lock-timeout"), "{up}");
}

/// An installed tree with a custom plugin (`my-auth`) and a bundled one (`key-auth`), both
/// requiring `kong.plugins.base_plugin` (gone in 3.0): only the custom one is a finding.
fn lua_tree(dir: &Path) -> String {
    for name in ["my-auth", "key-auth"] {
        let p = dir.join("kong/plugins").join(name);
        std::fs::create_dir_all(p.join("migrations")).unwrap();
        std::fs::write(
            p.join("handler.lua"),
            "-- local old = require \"kong.plugins.nothing\"\nlocal BasePlugin = require \"kong.plugins.base_plugin\"\nlocal utils = require(\"kong.tools.utils\")\n",
        )
        .unwrap();
        let base = format!("000_base_{}", name.replace('-', "_"));
        std::fs::write(
            p.join("migrations/init.lua"),
            format!("return {{ \"{base}\" }}\n"),
        )
        .unwrap();
        std::fs::write(
            p.join(format!("migrations/{base}.lua")),
            "return { postgres = { up = [[ SELECT 1; ]] } }\n",
        )
        .unwrap();
    }
    dir.display().to_string()
}

#[test]
fn custom_plugins_requiring_a_module_the_target_removed_are_found_in_the_lua_tree() {
    let db = TestDb::new("pfp_lua");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().unwrap();
    let lua = lua_tree(dir.path());
    let o = kongrade(
        &db,
        &[
            "diagnose",
            "--json",
            "--target-version",
            "3.4.2",
            "--plugins",
            "bundled,my-auth",
            "--kong-lua-path",
            &lua,
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("diagnose JSON ({e}): {}", both(&o)));
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "custom-plugin-removed-module")
        .unwrap_or_else(|| panic!("no finding: {v}"))
        .clone();
    assert_eq!(f["severity"], "error");
    let seen: Vec<&str> = f["seen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        seen,
        ["my-auth (kong/plugins/my-auth/handler.lua:2): require \"kong.plugins.base_plugin\", removed in Kong 3.0.0"],
        "the bundled key-auth and the commented-out line are not findings"
    );

    // The same tree for a 3.x database going to 3.4.2: nothing was removed on the way.
    let newer = TestDb::new("pfp_lua_3x");
    kong_db::bootstrap_at(&newer, "3.0.2", None);
    let o = kongrade(
        &newer,
        &[
            "diagnose",
            "--json",
            "--target-version",
            "3.4.2",
            "--plugins",
            "bundled,my-auth",
            "--kong-lua-path",
            &lua,
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("diagnose JSON");
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "custom-plugin-removed-module"),
        "{v}"
    );
}

/// A custom plugin requiring modules 3.0 removed that the hand-kept advice did not list before
/// the tags' facts (kong.singletons, kong.vendor.classic): found for 2.8.5 -> 3.4.2 by diagnose
/// and plan, with the file and line, the release that removed them and a remedy; nothing for
/// 2.8.5 -> 2.8.5, which ships them.
#[test]
fn custom_plugins_requiring_modules_the_tags_show_removed_are_found_by_diagnose_and_plan() {
    let db = TestDb::new("pfp_lua_tags");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("kong/plugins/my-cache");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("handler.lua"),
        "local singletons = require \"kong.singletons\"\nlocal Object = require('kong.vendor.classic')\nlocal utils = require \"kong.tools.utils\"\nlocal own = require \"kong.plugins.my-cache.store\"\nlocal http = require \"resty.http\"\nreturn { PRIORITY = 10, VERSION = \"1.0.0\" }\n",
    )
    .unwrap();
    std::fs::write(p.join("store.lua"), "return {}\n").unwrap();
    // --kong-lua-path wants a plugin's migrations to read.
    std::fs::create_dir_all(p.join("migrations")).unwrap();
    std::fs::write(
        p.join("migrations/init.lua"),
        "return { \"000_base_my_cache\" }\n",
    )
    .unwrap();
    std::fs::write(
        p.join("migrations/000_base_my_cache.lua"),
        "return { postgres = { up = [[ SELECT 1; ]] } }\n",
    )
    .unwrap();
    let lua = dir.path().display().to_string();
    let finding = |o: &Output, key: &str| -> Option<Value> {
        let v: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", both(o)));
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key}: {v}"))
            .iter()
            .find(|f| f["id"] == "custom-plugin-removed-module")
            .cloned()
    };
    let strings = |f: &Value, key: &str| -> Vec<String> {
        f[key]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let args = |cmd: &'static str, target: &'static str| {
        [
            cmd,
            "--json",
            "--target-version",
            target,
            "--plugins",
            "bundled,my-cache",
            "--kong-lua-path",
        ]
    };
    let run = |cmd: &'static str, target: &'static str| {
        let mut a: Vec<&str> = args(cmd, target).to_vec();
        a.push(&lua);
        kongrade(&db, &a)
    };

    let o = run("diagnose", "3.4.2");
    let f = finding(&o, "findings").unwrap_or_else(|| panic!("no finding: {}", both(&o)));
    assert_eq!(f["severity"], "error");
    assert_eq!(
        strings(&f, "seen"),
        [
            "my-cache (kong/plugins/my-cache/handler.lua:1): require \"kong.singletons\", removed in Kong 3.0.0",
            "my-cache (kong/plugins/my-cache/handler.lua:2): require \"kong.vendor.classic\", removed in Kong 3.0.0",
        ],
        "kong.tools.utils (3.4.2 ships it), the plugin's own module and resty.http are not findings"
    );
    let remedy = strings(&f, "remedy");
    assert_eq!(
        remedy[0],
        format!(
            "grep -rnE 'kong\\.singletons|kong\\.vendor\\.classic' {lua}   # every line to change"
        )
    );
    assert!(
        remedy[1].starts_with("kong.singletons: the PDK"),
        "{remedy:?}"
    );
    assert!(
        remedy[2].starts_with("kong.vendor.classic: last shipped in Kong 2.8.5, not in 3.0.0"),
        "{remedy:?}"
    );

    let o = run("plan", "3.4.2");
    let f = finding(&o, "preflight").unwrap_or_else(|| panic!("no finding in plan: {}", both(&o)));
    assert_eq!(strings(&f, "seen").len(), 2, "{f}");

    // 2.8.5 -> 2.8.5: the release ships both.
    for (cmd, key) in [("diagnose", "findings"), ("plan", "preflight")] {
        let o = run(cmd, "2.8.5");
        assert!(finding(&o, key).is_none(), "{cmd}: {}", both(&o));
    }
}

/// A rehearsal's measured time weighs in the `--lock-timeout` advice where longer: a small
/// database (nothing estimated to outlive Kong's 60 s lock) whose rehearsal took longer than
/// the lock's third gets `--lock-timeout` in `plan`'s up, and `diagnose` says it went by the
/// rehearsal. The stand-in plays a slow Kong (each of up's 15 migrations 1.5 s: 22.5 s at
/// least, above the 20 s a 3x margin fits in 60 s).
#[test]
fn a_rehearsal_slower_than_the_estimate_raises_the_lock_timeout() {
    support::pg::grant_createdb();
    let db = TestDb::new("pf_rh_lock");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec("CREATE TABLE services (id uuid PRIMARY KEY, name text); INSERT INTO services VALUES (gen_random_uuid(), 'first');");
    let up_command = |db: &TestDb| -> String {
        let o = kongrade(db, &["plan", "--json", "--target-version", "3.4.2"]);
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("plan JSON ({e}): {}", both(&o)));
        v["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["kind"] == "up")
            .and_then(|s| s["commands"][0].as_str())
            .unwrap_or_else(|| panic!("no up step: {v}"))
            .to_string()
    };
    let before = up_command(&db);
    assert!(!before.contains("--lock-timeout"), "{before}");

    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2 --delay-ms 1500");
    let o = kongrade(
        &db,
        &["rehearse", "--kong-cmd", &kong, "--target-version", "3.4.2"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));

    let after = up_command(&db);
    assert!(after.contains("--lock-timeout "), "{after}\n{}", both(&o));
    let o = kongrade(&db, &["diagnose", "--json", "--target-version", "3.4.2"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("diagnose JSON");
    let large = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == "large-tables")
        .unwrap_or_else(|| panic!("no large-tables: {v}"));
    assert!(
        large.to_string().contains("weighs in where it ran longer"),
        "{large}"
    );
}

/// `auto` runs kong with the timeouts `plan` advises when the operator gave none: 70,000 routes
/// whose paths core 016 rewrites one UPDATE each (~24 s, x3) outlive Kong's 60 s lock, so its
/// `up` gets plan's `--lock-timeout`; one given on the command line is kept, and said short.
#[test]
fn auto_runs_kong_with_the_advised_lock_timeout_when_none_is_given() {
    let db = TestDb::new("pfp_auto_lock");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text[]);\
         INSERT INTO routes SELECT md5(i::text)::uuid, NULL, ARRAY['/r/' || i || '/\\d+'] \
         FROM generate_series(1, 70000) AS i; ANALYZE routes;",
    );
    let planned = up_command(&db);
    let flag = planned
        .split_once("--lock-timeout ")
        .map(|(_, t)| {
            format!(
                "--lock-timeout {}",
                t.split_whitespace().next().unwrap_or("")
            )
        })
        .unwrap_or_else(|| panic!("plan advises no --lock-timeout: {planned}"));
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let in_place = support::nodes::in_place();
    let mut args = vec![
        "auto",
        "--kong-cmd",
        &kong,
        "--backup=skip",
        "--allow-breaking",
    ];
    args.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let err = both(&o);
    assert!(
        err.contains(&format!("Timeouts: {flag} (")),
        "{flag}\n{err}"
    );
    // What kong was run with, as journaled before it started.
    let mut ran = Vec::new();
    for e in std::fs::read_dir(data_dir(&db).join("journal"))
        .unwrap()
        .flatten()
    {
        for line in std::fs::read_to_string(e.path())
            .unwrap_or_default()
            .lines()
        {
            let v: Value = serde_json::from_str(line).unwrap_or_default();
            if v["event"] == "command" {
                ran.push(v["command_line"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    let up = ran
        .iter()
        .find(|c| c.contains("migrations up"))
        .unwrap_or_else(|| panic!("no up journaled: {ran:?}"));
    assert!(up.contains(&flag), "{up} (plan: {planned})");

    // Given, it is kept, and said short.
    let db = TestDb::new("pfp_auto_lock_given");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text[]);\
         INSERT INTO routes SELECT md5(i::text)::uuid, NULL, ARRAY['/r/' || i || '/\\d+'] \
         FROM generate_series(1, 70000) AS i; ANALYZE routes;",
    );
    let mut args = vec![
        "auto",
        "--kong-cmd",
        &kong,
        "--backup=skip",
        "--allow-breaking",
        "--lock-timeout",
        "61",
    ];
    args.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let err = both(&o);
    assert!(
        err.contains("Timeouts: --lock-timeout 61 as given, though"),
        "{err}"
    );
}
