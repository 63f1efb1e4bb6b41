//! One kong per hop (`--kong-cmd-template`, `--kong-image`): `kongrade auto` walks a path of
//! several releases with each release's own kong (the stand-in playing that version) on a real
//! PostgreSQL, each hop proven from the database before the next; a fake `docker` on PATH
//! proves no password is ever in argv.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::cli::{both, code};
use support::kong_db;
use support::pg::{TestDb, KONG_PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn data_dir(db: &TestDb) -> PathBuf {
    std::env::temp_dir()
        .join("kongrade-tests")
        .join(format!("data-{}", db.name))
}

/// `kongrade auto ARGS` against `db`, connection in KONG_* (or in kong.conf when `with_env` is
/// false), PATH as given.
fn auto(db: &TestDb, path: &str, with_env: bool, args: &[&str]) -> Output {
    auto_env(db, path, with_env, &[], args)
}

fn auto_env(
    db: &TestDb,
    path: &str,
    with_env: bool,
    extra: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", path)
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data_dir(db))
        .envs(extra.iter().copied());
    if with_env {
        for (k, v) in db.kong_env() {
            c.env(k, v);
        }
    }
    c.arg("auto")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade auto")
}

fn path_env() -> String {
    std::env::var("PATH").unwrap_or_default()
}

/// The recorded migrations as sets (order within an array is not what is compared).
fn sorted(d: &TestDb) -> String {
    d.exec(
        "SELECT subsystem, array(SELECT unnest(executed) ORDER BY 1)::text, coalesce(cardinality(pending), 0) \
         FROM schema_meta ORDER BY subsystem",
    )
}

/// The journal's entries, in order.
fn journal(db: &TestDb) -> Vec<Value> {
    let dir = data_dir(db).join("journal");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("journal dir").flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    out.push(v);
                }
            }
        }
    }
    out.sort_by_key(|v| v["seq"].as_u64());
    out
}

/// A database at `from` taken through every release of `path` by hand (up, finish each).
fn reference(tag: &str, from: &str, path: &[&str]) -> TestDb {
    let r = TestDb::new(tag);
    kong_db::bootstrap_at(&r, from, None);
    for v in path {
        kong_db::up_to(&r, v, None);
        kong_db::finish(&r);
    }
    r
}

/// Kong's supported path from 2.8.5 to 3.9.3 (the LTS stride to 3.4, then each minor).
const PATH_28_TO_39: &[&str] = &["3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.8.1", "3.9.3"];
/// The hops that run: 3.8.1 records nothing after 3.7.1 (its hop is folded into 3.9.3's).
const HOPS_28_TO_39: &[&str] = &["3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.9.3"];

#[test]
fn a_multi_hop_path_runs_each_hop_with_its_own_kong_proven_before_the_next() {
    let db = TestDb::new("hops_28_39");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let want = reference("hops_28_39_ref", "2.8.5", PATH_28_TO_39);
    let template = format!("'{BIN}' stand-in --kong-version {{version}}");
    // From 2.8 through the LTS pair: in place (Kong's guide refuses blue-green there).
    let in_place = support::nodes::in_place();
    let mut a = vec![
        "--kong-cmd-template",
        &template,
        "--target-version",
        "3.9.3",
        "--backup=skip",
    ];
    a.extend(in_place.iter().map(String::as_str));
    let o = auto(&db, &path_env(), true, &a);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("Path: 3.4.2 -> 3.5.0 -> 3.6.1 -> 3.7.1 -> 3.9.3, one kong per hop"),
        "{text}"
    );
    assert!(
        text.contains("\nDatabase is up to date for Kong 3.9.3.\n"),
        "{text}"
    );
    assert_eq!(sorted(&db), sorted(&want), "{text}");

    // Each kong run was that hop's version, in the path's order: every `up` of a hop after the
    // previous hop's kong ran for the last time.
    let runs: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  $ "))
        .map(|l| {
            let v = l
                .split("--kong-version ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_default()
                .to_string();
            let cmd = l
                .split("migrations ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_default()
                .to_string();
            (v, cmd)
        })
        .collect();
    let versions: Vec<&str> = runs.iter().map(|(v, _)| v.as_str()).collect();
    let mut dedup = versions.clone();
    dedup.dedup();
    assert_eq!(dedup, HOPS_28_TO_39, "{runs:?}");
    assert!(
        runs.iter().all(|(_, c)| c == "up" || c == "finish"),
        "{runs:?}"
    );
    // 3.4.2's up leaves 016_280_to_300 pending: its finish runs with 3.4.2, before 3.5.0's up.
    assert_eq!(runs[0], ("3.4.2".into(), "up".into()), "{runs:?}");
    assert_eq!(runs[1], ("3.4.2".into(), "finish".into()), "{runs:?}");

    // Journaled per hop: started, then done (proven from the database) before the next starts;
    // each kong command announced with its hop's version.
    let j = journal(&db);
    let hop_events: Vec<(String, String)> = j
        .iter()
        .filter(|e| e["event"] == "step")
        .map(|e| {
            (
                e["step"].as_str().unwrap_or_default().to_string(),
                e["phase"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // In place: the old nodes' gate first, then the hops.
    let mut expect = vec![("in-place-old-nodes-stopped".to_string(), "done".to_string())];
    for (i, v) in HOPS_28_TO_39.iter().enumerate() {
        let label = format!("hop {} of 5 (Kong {v})", i + 1);
        expect.push((label.clone(), "started".to_string()));
        expect.push((label, "done".to_string()));
    }
    assert_eq!(hop_events, expect);
    let mut hop = None;
    for e in &j {
        if e["event"] == "step" && e["phase"] == "started" {
            hop = e["step"]
                .as_str()
                .and_then(|s| s.split("(Kong ").nth(1))
                .map(|s| s.trim_end_matches(')').to_string());
        }
        if e["event"] == "command" {
            assert_eq!(e["kong_version"].as_str().map(str::to_string), hop, "{e}");
            assert!(
                e["command_line"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("--kong-version {}", hop.as_deref().unwrap())),
                "{e}"
            );
        }
    }
    assert!(j.iter().any(|e| e["event"] == "step"
        && e["phase"] == "done"
        && e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("every migration of Kong 3.4.2 executed")));

    // Nothing left: a second run runs no kong migration.
    let o = auto(
        &db,
        &path_env(),
        true,
        &[
            "--kong-cmd-template",
            &template,
            "--target-version",
            "3.9.3",
            "--backup=skip",
            "--finish=always",
        ],
    );
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Step 1"));
}

#[test]
fn with_finish_never_the_first_hop_stops_after_up_and_a_rerun_finishes_it_with_its_own_kong() {
    // 3.5 -> 3.6 -> 3.7: blue-green (auto's procedure without --strategy) is allowed within 3.x,
    // and 3.6's `up` leaves migrations pending (the redis fields' teardown).
    let db = TestDb::new("hops_never");
    kong_db::bootstrap_at(&db, "3.5.0", None);
    let template = format!("'{BIN}' stand-in --kong-version {{version}}");
    let args = |finish: &'static str| {
        vec![
            "--kong-cmd-template".to_string(),
            template.clone(),
            "--target-version".into(),
            "3.7.1".into(),
            "--backup=skip".into(),
            format!("--finish={finish}"),
        ]
    };
    let a = args("never");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    // KONGRADE_KONG_CMD is a default the template replaces (not a conflict).
    let o = auto_env(
        &db,
        &path_env(),
        true,
        &[("KONGRADE_KONG_CMD", "/bin/false")],
        &a,
    );
    assert_eq!(code(&o), 4, "{}", both(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("Stopped in hop 1 of 2 (Kong 3.6.1)"),
        "{text}"
    );
    assert!(!text.contains("--kong-version 3.7.1 migrations"), "{text}");

    let a = args("always");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = auto(&db, &path_env(), true, &a);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    // The journal says 3.6.1 ran up: its finish runs with the 3.6.1 kong, then 3.7.1's up.
    let runs: Vec<&str> = text.lines().filter(|l| l.starts_with("  $ ")).collect();
    assert!(
        runs[0].contains("--kong-version 3.6.1 migrations finish"),
        "{text}"
    );
    assert!(
        runs[1].contains("--kong-version 3.7.1 migrations up"),
        "{text}"
    );
    let want = reference("hops_never_ref", "3.5.0", &["3.6.1", "3.7.1"]);
    assert_eq!(sorted(&db), sorted(&want));
}

#[test]
fn templates_without_version_and_tagged_images_are_refused_before_anything_runs() {
    let db = TestDb::new("hops_bad");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let before = sorted(&db);
    let o = auto(
        &db,
        &path_env(),
        true,
        &[
            "--kong-cmd-template",
            "docker run kong:3.4.2 kong",
            "--target-version",
            "3.4.2",
            "--backup=skip",
        ],
    );
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(both(&o).contains("has no {version}"), "{}", both(&o));
    let o = auto(
        &db,
        &path_env(),
        true,
        &[
            "--kong-image",
            "kong:3.4",
            "--target-version",
            "3.4.2",
            "--backup=skip",
        ],
    );
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(both(&o).contains("without a tag"), "{}", both(&o));
    let o = auto(
        &db,
        &path_env(),
        true,
        &[
            "--kong-image",
            "kong",
            "--kong-cmd",
            "kong",
            "--target-version",
            "3.4.2",
        ],
    );
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(both(&o).contains("give one"), "{}", both(&o));
    let o = auto(
        &db,
        &path_env(),
        true,
        &["--kong-image", "kong", "--backup=skip"],
    );
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(both(&o).contains("need --target-version"), "{}", both(&o));
    assert_eq!(sorted(&db), before, "nothing written");
}

#[test]
fn kong_image_runs_each_hop_in_docker_with_the_password_in_the_environment_never_in_argv() {
    let db = TestDb::new("hops_docker");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("docker.log");
    // A fake docker: records its argv and its environment's names, then plays the container:
    // the stand-in of the image's tag, seeing only the variables `-e NAME` passed through.
    support::docker::fake_docker(dir.path(), &log, BIN);
    // The connection only in kong.conf: kongrade must hand it to the container itself.
    let conf = db.write_kong_conf(dir.path(), "");
    let path = format!("{}:{}", dir.path().display(), path_env());
    // From 2.8 through the LTS pair: in place (Kong's guide refuses blue-green there).
    let in_place = support::nodes::in_place();
    let mut a = vec![
        "-c",
        conf.to_str().unwrap(),
        "--kong-image",
        "kong",
        "--target-version",
        "3.5.0",
        "--backup=skip",
    ];
    a.extend(in_place.iter().map(String::as_str));
    let o = auto(&db, &path, false, &a);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let want = reference("hops_docker_ref", "2.8.5", &["3.4.2", "3.5.0"]);
    assert_eq!(sorted(&db), sorted(&want));

    let log = std::fs::read_to_string(&log).unwrap();
    let argvs: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("ARGV\t"))
        .collect();
    let envs: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("ENV\t"))
        .collect();
    assert!(!argvs.is_empty());
    for a in &argvs {
        assert!(!a.contains(KONG_PASSWORD), "a password in argv: {a}");
        assert!(!a.contains("kong-pass"), "a password in argv: {a}");
        let words: Vec<&str> = a.split('\t').collect();
        assert_eq!(&words[..4], ["run", "--rm", "--network", "host"], "{a}");
        assert!(
            words.windows(2).any(|w| w == ["-e", "KONG_PG_PASSWORD"]),
            "{a}"
        );
        // Every -e is a bare name: a value would be in argv.
        for w in words.windows(2).filter(|w| w[0] == "-e") {
            assert!(!w[1].contains('='), "{a}");
        }
        assert!(
            words.contains(&format!("{}:{}:ro", conf.display(), conf.display()).as_str()),
            "kong.conf mounted at its path: {a}"
        );
    }
    for e in &envs {
        assert!(e.split('\t').any(|n| n == "KONG_PG_PASSWORD"), "{e}");
    }
    // Each hop's image, in order, for its migrations.
    let images: Vec<&str> = argvs
        .iter()
        .filter(|a| a.contains("\tmigrations\t"))
        .filter_map(|a| a.split('\t').find(|w| w.starts_with("kong:")))
        .collect();
    let mut d = images.clone();
    d.dedup();
    assert_eq!(d, ["kong:3.4.2", "kong:3.5.0"], "{log}");
    // kong version was asked of each hop's image before anything ran.
    assert!(
        argvs
            .iter()
            .any(|a| a.contains("kong:3.4.2\tkong\tversion")),
        "{log}"
    );
    // The journal never holds the password either.
    let j = journal(&db);
    let text = serde_json::to_string(&j).unwrap();
    assert!(!text.contains("kong-pass"), "password in the journal");
}
