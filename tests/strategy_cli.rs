//! `--strategy` on `plan` and `auto`, end to end: the real binary, a real PostgreSQL, the
//! stand-in as kong, and tiny local HTTP servers standing in for the nodes' Admin APIs.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::cli::{both, code, out};
use support::kong_db;
use support::nodes::{admin_api, stopped_node};
use support::pg::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn standin(v: &str) -> String {
    format!("'{BIN}' stand-in --kong-version {v}")
}

fn data_dir(db: &TestDb) -> std::path::PathBuf {
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

fn rows(db: &TestDb) -> String {
    db.exec("SELECT subsystem, executed::text, coalesce(pending::text, '') FROM schema_meta ORDER BY subsystem")
}

/// The journal entries of one kind across the data directory's journals.
fn journal_events(db: &TestDb, kind: &str) -> Vec<Value> {
    let dir = data_dir(db).join("journal");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(l) {
                if v["event"] == kind {
                    out.push(v);
                }
            }
        }
    }
    out
}

#[test]
fn plan_says_kongs_choice_and_refuses_blue_green_for_the_lts_pair() {
    let db = TestDb::new("st_plan_lts");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let o = kongrade(&db, &["plan", "--target-version", "3.4.2", "--json"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["strategy"];
    assert_eq!(s["recommended"], "dual-cluster", "{s}");
    assert_eq!(s["jump"], "lts-pair", "{s}");
    assert_eq!(s["deployment"], "unknown", "{s}");
    assert_eq!(s["chosen"], Value::Null);
    let refused: Vec<&str> = s["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert!(refused.contains(&"blue-green"), "{s}");

    // Asked for explicitly: exit 21, the reason and what is allowed.
    let o = kongrade(
        &db,
        &[
            "plan",
            "--target-version",
            "3.4.2",
            "--strategy",
            "blue-green",
        ],
    );
    assert_eq!(code(&o), 21, "{}", both(&o));
    let text = out(&o);
    assert!(text.contains("Refused: --strategy blue-green"), "{text}");
    assert!(text.contains("LTS"), "{text}");
    assert!(
        text.contains("Allowed here: dual-cluster, in-place"),
        "{text}"
    );

    // No second cluster: in-place is Kong's recommendation, and the rollback is the backup.
    let o = kongrade(
        &db,
        &[
            "plan",
            "--target-version",
            "3.4.2",
            "--second-cluster",
            "no",
            "--strategy",
            "in-place",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["strategy"]["recommended"], "in-place");
    assert_eq!(v["strategy"]["chosen"], "in-place");
    assert_eq!(v["rollback"]["rollback"], "in_place_start_old_nodes", "{v}");
}

#[test]
fn old_nodes_exact_versions_decide_blue_green_to_3x() {
    let db = TestDb::new("st_plan_bg");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let old_281 = admin_api("2.8.1");
    let old_285 = admin_api("2.8.5");
    let plan = |urls: &[&str]| {
        let mut args = vec![
            "plan",
            "--target-version",
            "3.0.2",
            "--strategy",
            "blue-green",
        ];
        for u in urls {
            args.push("--admin-url");
            args.push(u);
        }
        kongrade(&db, &args)
    };
    // No node given: the database cannot tell 2.8.1 from 2.8.2.
    let o = plan(&[]);
    assert_eq!(code(&o), 21, "{}", both(&o));
    assert!(out(&o).contains("--admin-url"), "{}", both(&o));
    // A 2.8.1 node is named.
    let o = plan(&[&old_285, &old_281]);
    assert_eq!(code(&o), 21, "{}", both(&o));
    assert!(
        out(&o).contains(&format!("{old_281} is 2.8.1")),
        "{}",
        both(&o)
    );
    // A node named but not answering may be any version: it cannot prove the floor.
    let gone = stopped_node();
    let o = plan(&[&old_285, &gone]);
    assert_eq!(code(&o), 21, "{}", both(&o));
    assert!(out(&o).contains(&gone), "{}", both(&o));
    // Every node 2.8.2+: allowed, with the deployment read from GET /.
    let o = plan(&[&old_285]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let text = out(&o);
    assert!(text.contains("blue-green (chosen)"), "{text}");
    assert!(text.contains("traditional mode"), "{text}");
    assert!(text.contains("Rows written by traffic"), "{text}");
}

#[test]
fn auto_refuses_a_refused_strategy_before_anything_runs_and_journals_an_allowed_one() {
    let db = TestDb::new("st_auto");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = rows(&db);
    let o = kongrade(
        &db,
        &[
            "auto",
            "--kong-cmd",
            &standin("3.4.2"),
            "--backup=skip",
            "--strategy",
            "blue-green",
            "--json",
        ],
    );
    assert_eq!(code(&o), 21, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "refused_strategy", "{v}");
    assert!(v["message"].as_str().unwrap().contains("LTS"), "{v}");
    assert_eq!(v["strategy"]["recommended"], "dual-cluster", "{v}");
    assert_eq!(rows(&db), before, "nothing ran");
    assert!(journal_events(&db, "strategy_chosen").is_empty());

    // Rolling on a database: nothing to run, the data planes listed.
    db.exec("CREATE TABLE clustering_data_planes (id uuid PRIMARY KEY, hostname text, ip text, last_seen timestamptz, config_hash text, ttl timestamptz, version text, sync_status text)");
    db.exec("INSERT INTO clustering_data_planes (id, hostname, ip, last_seen, version, sync_status, config_hash) VALUES ('11111111-2222-4333-8444-555555555555', 'dp-1', '10.1.0.9', now(), '2.8.5', 'normal', 'abc')");
    let o = kongrade(
        &db,
        &[
            "auto",
            "--kong-cmd",
            &standin("3.4.2"),
            "--backup=skip",
            "--strategy",
            "rolling",
        ],
    );
    assert_eq!(code(&o), 21, "{}", both(&o));
    assert!(out(&o).contains("No migrations to run"), "{}", both(&o));
    assert!(out(&o).contains("dp-1"), "{}", both(&o));
    assert!(out(&o).contains("config_hash abc"), "{}", both(&o));
    assert!(
        out(&o).contains("cut off by the new control plane: major 2"),
        "{}",
        both(&o)
    );
    assert_eq!(rows(&db), before, "nothing ran");
    // plan --strategy rolling: the same list, ordered, in JSON too; the deployment is hybrid.
    let o = kongrade(
        &db,
        &[
            "plan",
            "--target-version",
            "3.4.2",
            "--strategy",
            "rolling",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["strategy"];
    assert_eq!(s["deployment"], "hybrid-control-plane", "{s}");
    assert_eq!(s["rolling"]["data_planes"][0]["hostname"], "dp-1", "{s}");
    assert_eq!(s["rolling"]["data_planes"][0]["config_hash"], "abc", "{s}");
    assert_eq!(s["rolling"]["data_planes"][0]["order"], 1, "{s}");
    db.exec("DROP TABLE clustering_data_planes");

    // Blue-green where it is allowed (3.3 -> 3.4, no 3.x floor to prove): it runs, and the
    // choice is journaled.
    let db2 = TestDb::new("st_auto_bg");
    kong_db::bootstrap_at(&db2, "3.3.1", None);
    let node = admin_api("3.3.1");
    let o = kongrade(
        &db2,
        &[
            "auto",
            "--kong-cmd",
            &standin("3.4.2"),
            "--backup=skip",
            "--strategy",
            "blue-green",
            "--admin-url",
            &node,
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(out(&o).contains("Strategy: blue-green"), "{}", both(&o));
    assert!(out(&o).contains("caution:"), "{}", both(&o));
    let chosen = journal_events(&db2, "strategy_chosen");
    assert_eq!(chosen.len(), 1, "{chosen:?}");
    assert_eq!(chosen[0]["strategy"], "blue-green");
    assert_eq!(chosen[0]["by"], "auto");
}

fn status_code(db: &TestDb) -> i64 {
    let o = kongrade(db, &["status", "--json", "--target-version", "3.4.2"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    v["exit_code"].as_i64().unwrap()
}

fn auto_in_place(db: &TestDb, extra: &[&str]) -> Output {
    let kong = standin("3.4.2");
    let mut args = vec![
        "auto",
        "--kong-cmd",
        kong.as_str(),
        "--strategy",
        "in-place",
        "--second-cluster",
        "no",
    ];
    args.extend_from_slice(extra);
    kongrade(db, &args)
}

#[test]
fn in_place_refuses_until_writes_are_frozen_and_no_old_node_answers() {
    let db = TestDb::new("st_ip_refuse");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = rows(&db);
    let old = admin_api("2.8.5");
    let gone = stopped_node();

    let o = auto_in_place(&db, &["--backup=skip", "--admin-url", &gone]);
    assert_eq!(code(&o), 22, "{}", both(&o));
    assert!(out(&o).contains("--writes-frozen"), "{}", both(&o));

    let o = auto_in_place(&db, &["--backup=skip", "--writes-frozen"]);
    assert_eq!(code(&o), 22, "{}", both(&o));
    assert!(out(&o).contains("--admin-url"), "{}", both(&o));

    // One old node still answers (the other is stopped): refused, and it is named.
    let o = auto_in_place(
        &db,
        &[
            "--backup=skip",
            "--writes-frozen",
            "--admin-url",
            &gone,
            "--admin-url",
            &old,
            "--json",
        ],
    );
    assert_eq!(code(&o), 22, "{}", both(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "in_place_old_nodes_answer", "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(m.contains(&format!("{old}: OLD 2.8.5")), "{m}");
    assert!(!m.contains(&gone), "{m}");
    assert_eq!(rows(&db), before, "nothing ran");
}

#[test]
fn in_place_end_to_end_stops_nothing_itself_migrates_and_proves_the_new_nodes() {
    let db = TestDb::new("st_ip_e2e");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let gone = stopped_node();
    let new = admin_api("3.4.2");
    // The default --backup=pg_dump: the rollback is that backup's exact restore command.
    let o = auto_in_place(
        &db,
        &[
            "--writes-frozen",
            "--admin-url",
            &gone,
            "--new-admin-url",
            &new,
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(status_code(&db), 0, "up and finish both ran");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let commands: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["up", "finish"], "{v}");
    let ip = &v["in_place"];
    assert!(ip["downtime_secs"].is_u64(), "{v}");
    assert_eq!(ip["rollback"]["rollback"], "in_place_restore", "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(m.contains("Downtime: "), "{m}");
    assert!(
        m.contains("pg_restore --clean --if-exists --no-owner"),
        "{m}"
    );
    assert!(
        ip["new_nodes"][0].as_str().unwrap().contains("3.4.2"),
        "{v}"
    );
    // Journaled: the choice, the gate, both commands, the new nodes.
    let steps: Vec<String> = journal_events(&db, "step")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["step"].as_str().unwrap(),
                e["phase"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        steps.contains(&"in-place-old-nodes-stopped done".to_string()),
        "{steps:?}"
    );
    assert!(
        steps.contains(&"in-place-new-nodes done".to_string()),
        "{steps:?}"
    );
    assert_eq!(
        journal_events(&db, "strategy_chosen")[0]["strategy"],
        "in-place"
    );
}

#[test]
fn in_place_says_when_a_new_node_does_not_answer_the_target() {
    let db = TestDb::new("st_ip_newold");
    kong_db::bootstrap_at(&db, "3.3.1", None);
    let gone = stopped_node();
    let wrong = admin_api("3.3.1");
    let o = auto_in_place(
        &db,
        &[
            "--backup=skip",
            "--writes-frozen",
            "--admin-url",
            &gone,
            "--new-admin-url",
            &wrong,
            "--new-nodes-wait",
            "1",
        ],
    );
    assert_eq!(code(&o), 23, "{}", both(&o));
    assert!(out(&o).contains("new nodes are not proven"), "{}", both(&o));
    assert!(out(&o).contains("OLD 3.3.1"), "{}", both(&o));
    assert_eq!(status_code(&db), 0, "the migrations ran");
}
