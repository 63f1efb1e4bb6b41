//! The preflight in `kongrade diagnose`, end to end: the real binary and a real PostgreSQL, each
//! finding from a state built for it (routes with regex paths, plugins rows, the test server's
//! SCRAM login, a kong.conf with removed, deprecated and misspelt keys, `KONG_*` names in the
//! binary's environment, a `plugins` setting that leaves rows out, data planes of another major,
//! a server outside the target's tested range), and absent on a clean one; `plan` and `auto`
//! for those that refuse or warn.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::kong_db;
use support::pg::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");

fn kongrade(db: &TestDb, args: &[&str]) -> Output {
    kongrade_env(db, &[], args)
}

/// kongrade with a clean environment: the database's `KONG_PG_*`, then `env` (the `KONG_*`
/// names the preflight reads from its own environment), its data (journal) kept per database.
fn kongrade_env(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data_dir(db));
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade")
}

fn data_dir(db: &TestDb) -> PathBuf {
    std::env::temp_dir()
        .join("kongrade-tests")
        .join(format!("data-{}", db.name))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", both(o)))
}

fn both(o: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `diagnose --json`'s whole answer, its exit code checked against the one it reports.
fn diagnose_json(db: &TestDb, env: &[(&str, &str)], target: &str, extra: &[&str]) -> Value {
    let mut args = vec!["diagnose", "--json", "--target-version", target];
    args.extend_from_slice(extra);
    let o = kongrade_env(db, env, &args);
    let v = json(&o);
    assert_eq!(v["exit_code"], o.status.code().unwrap_or(-1), "{v}");
    v
}

fn diagnose(db: &TestDb, target: &str, extra: &[&str]) -> Vec<Value> {
    diagnose_with(db, &[], target, extra)
}

fn diagnose_with(db: &TestDb, env: &[(&str, &str)], target: &str, extra: &[&str]) -> Vec<Value> {
    diagnose_json(db, env, target, extra)["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
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
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

const PREFLIGHT_IDS: &[&str] = &[
    "conf-key-removed",
    "conf-key-deprecated",
    "conf-key-unknown",
    "routes-regex-unprefixed",
    "routes-regex-incompatible",
    "plugins-not-shipped",
    "plugins-not-loaded",
    "postgres-too-old",
    "postgres-untested",
    "scram-old-kong",
    "hybrid-dp-major",
];

fn kong_tables(db: &TestDb) {
    db.exec(
        "CREATE TABLE routes (id uuid PRIMARY KEY, name text, paths text[]);\
         CREATE TABLE plugins (id uuid PRIMARY KEY, name text);",
    );
}

#[test]
fn findings_from_routes_plugins_and_a_kong_conf_with_removed_keys() {
    let db = TestDb::new("pf_dirty");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_tables(&db);
    db.exec(
        "INSERT INTO routes VALUES \
         ('00000000-0000-0000-0000-000000000001', 'users', ARRAY['/users/\\d+', '/plain']),\
         ('00000000-0000-0000-0000-000000000002', NULL, ARRAY['/(?!admin).*']),\
         ('00000000-0000-0000-0000-000000000003', 'ok', ARRAY['/ok', '~/already/(\\d+)']);\
         INSERT INTO plugins VALUES \
         ('00000000-0000-0000-0000-00000000000a', 'key-auth'),\
         ('00000000-0000-0000-0000-00000000000b', 'my-custom'),\
         ('00000000-0000-0000-0000-00000000000c', 'key-auth');",
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(
        dir.path(),
        "upstream_keepalive = 60\nnginx_optimizations = on\n",
    );
    let conf = conf.to_str().unwrap();
    let f = diagnose(&db, "3.4.2", &["-c", conf]);

    let r = find(&f, "conf-key-removed");
    assert_eq!(r["severity"], "error");
    let seen = strings(&r["seen"]);
    assert!(
        seen.iter()
            .any(|s| s.contains("kong.conf: upstream_keepalive")
                && s.contains("upstream_keepalive_pool_size")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.contains("nginx_optimizations")),
        "{seen:?}"
    );
    assert!(strings(&r["remedy"])[0].starts_with("cp -n "), "{r}");
    assert!(strings(&r["remedy"])[1].starts_with("sed -i"), "{r}");

    let u = find(&f, "routes-regex-unprefixed");
    assert_eq!(u["severity"], "warning");
    assert!(
        u["title"].as_str().unwrap_or("").starts_with("2 routes"),
        "{u}"
    );
    let seen = strings(&u["seen"]);
    assert!(
        seen.contains(
            &"route users (00000000-0000-0000-0000-000000000001): /users/\\d+".to_string()
        ),
        "{seen:?}"
    );
    let bad = find(&f, "routes-regex-incompatible");
    assert_eq!(bad["severity"], "error");
    assert_eq!(
        strings(&bad["seen"]),
        ["route 00000000-0000-0000-0000-000000000002: /(?!admin).*   (negative look-ahead)"]
    );
    let p = find(&f, "plugins-not-shipped");
    assert_eq!(
        strings(&p["seen"]),
        ["plugins rows named my-custom: Kong 3.4.2 does not bundle it"]
    );
    // The server is PostgreSQL 12+ and every hop speaks SCRAM: neither is a finding.
    for id in ["postgres-too-old", "scram-old-kong", "plugins-not-loaded"] {
        assert!(!ids(&f).contains(&id.to_string()), "{id} in {:?}", ids(&f));
    }
    assert_eq!(find(&f, "conf-defaults-changed")["severity"], "info");
}

#[test]
fn a_clean_database_has_no_preflight_warnings() {
    let db = TestDb::new("pf_clean");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_tables(&db);
    db.exec(
        "INSERT INTO routes VALUES ('00000000-0000-0000-0000-000000000001', 'a', ARRAY['/api/v1', '~/x/\\d+']);\
         INSERT INTO plugins VALUES ('00000000-0000-0000-0000-00000000000a', 'rate-limiting');",
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(dir.path(), "upstream_keepalive_pool_size = 60\n");
    let conf = conf.to_str().unwrap();
    let v = diagnose_json(&db, &[], "3.4.2", &["-c", conf]);
    let f = v["findings"].as_array().cloned().unwrap_or_default();
    for id in PREFLIGHT_IDS
        .iter()
        .chain(&["preflight-incomplete", "custom-plugin-removed-module"])
    {
        assert!(!ids(&f).contains(&id.to_string()), "{id} in {:?}", ids(&f));
    }
    // Clean because everything was read and judged, not because nothing was: kong.conf's keys,
    // the server's version, the plugins rows and the routes (none a 2.x regex), no read failed.
    let read = &v["preflight_read"];
    assert_eq!(read["kong_conf"], conf, "{read}");
    assert_eq!(read["kong_conf_keys"], 7, "{read}");
    assert_eq!(
        read["server_version_num"],
        server_version_num(&db),
        "{read}"
    );
    assert_eq!(
        read["plugins_in_database"],
        serde_json::json!(["rate-limiting"]),
        "{read}"
    );
    assert_eq!(read["regex_routes"], 0, "{read}");
    assert_eq!(read["incomplete"], serde_json::json!([]), "{read}");
    assert!(
        strings(&read["env_names"]).contains(&"KONG_PG_HOST".to_string()),
        "{read}"
    );
}

/// The test server's `server_version_num`, read from pg_catalog itself.
fn server_version_num(db: &TestDb) -> u32 {
    db.exec("SELECT pg_catalog.current_setting('server_version_num')")
        .trim()
        .parse()
        .expect("server_version_num")
}

/// The test server asks every TCP login for SCRAM (initdb --auth-host=scram-sha-256): a plan
/// that runs Kong 2.8.3 cannot log in.
#[test]
fn scram_login_with_an_old_kong_hop() {
    let db = TestDb::new("pf_scram");
    kong_db::bootstrap_at(&db, "2.7.2", None);
    let f = diagnose(&db, "2.8.3", &[]);
    let s = find(&f, "scram-old-kong");
    assert_eq!(s["severity"], "error");
    let seen = strings(&s["seen"]);
    assert!(seen[0].starts_with("Kong 2.8.3 in the plan"), "{seen:?}");
    // Through 2.8.5 instead: nothing to say.
    let f = diagnose(&db, "2.8.5", &[]);
    assert!(
        !ids(&f).contains(&"scram-old-kong".to_string()),
        "{:?}",
        ids(&f)
    );
}

/// The handshake reader on a server that asks for md5 (a few bytes on a local socket), and on
/// the real test server (SCRAM).
#[test]
fn auth_request_is_read_from_the_handshake() {
    use kongrade::store::postgres::{auth_asked, AuthAsked, PgOptions};
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut rest = vec![0u8; i32::from_be_bytes(len) as usize - 4];
        s.read_exact(&mut rest).unwrap();
        // AuthenticationMD5Password with a salt.
        s.write_all(&[b'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4])
            .unwrap();
        rest
    });
    let db = TestDb::new("pf_auth");
    let env: std::collections::HashMap<String, String> = db.kong_env().into_iter().collect();
    let opts = |host: &str, port: u16| PgOptions {
        host: host.to_string(),
        port,
        user: "kong".into(),
        password: None,
        database: env["KONG_PG_DATABASE"].clone(),
        schema: None,
        timeout: std::time::Duration::from_secs(20),
        ssl: false,
        ssl_verify: false,
        trusted_certificates: vec![],
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(auth_asked(&opts("127.0.0.1", port))),
        Ok(AuthAsked::Md5)
    );
    let startup = fake.join().unwrap();
    assert!(startup.windows(5).any(|w| w == b"kong\0"), "{startup:?}");
    let real = opts(&env["KONG_PG_HOST"], env["KONG_PG_PORT"].parse().unwrap());
    assert_eq!(rt.block_on(auth_asked(&real)), Ok(AuthAsked::Scram));

    // A server that refuses the login (pg_hba.conf): why is said, never a guess.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refusing = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut rest = vec![0u8; i32::from_be_bytes(len) as usize - 4];
        s.read_exact(&mut rest).unwrap();
        let fields =
            b"SFATAL\0C28000\0Mno pg_hba.conf entry for host \"127.0.0.1\", no encryption\0\0";
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&((fields.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(fields);
        s.write_all(&msg).unwrap();
    });
    let said = rt
        .block_on(auth_asked(&opts("127.0.0.1", port)))
        .unwrap_err();
    refusing.join().unwrap();
    assert!(
        said.contains("refused the login: no pg_hba.conf entry"),
        "{said}"
    );
    // Nothing listening: said too.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert!(rt.block_on(auth_asked(&opts("127.0.0.1", closed))).is_err());

    // pg_ssl: asked over TLS as Kong asks (the test server speaks it), the certificate checked
    // against lua_ssl_trusted_certificate.
    if let Some(ca) = db.server.tls_ca.clone() {
        let mut tls = real.clone();
        tls.ssl = true;
        tls.ssl_verify = true;
        tls.trusted_certificates = vec![ca.display().to_string()];
        assert_eq!(rt.block_on(auth_asked(&tls)), Ok(AuthAsked::Scram));
        // A certificate the trusted CAs do not sign: a TLS failure, said.
        tls.trusted_certificates = vec![];
        let said = rt.block_on(auth_asked(&tls)).unwrap_err();
        assert!(said.starts_with("TLS"), "{said}");
    } else {
        eprintln!(
            "TLS part skipped: the test server has no TLS (no openssl, or KONGRADE_TEST_PG_URL)"
        );
    }
}

/// The refused-regex finding stops `auto` (exit 20), so it must see every route: a look-ahead
/// route whose id sorts after the first routes listed is still found.
#[test]
fn a_refused_regex_route_is_found_past_the_first_routes_listed() {
    let db = TestDb::new("pf_past20");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_tables(&db);
    db.exec(
        "INSERT INTO routes SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, NULL, ARRAY['/users/\\d+'] \
         FROM generate_series(1, 60) i;\
         INSERT INTO routes VALUES ('ffffffff-0000-0000-0000-000000000001', 'late', ARRAY['/(?!admin).*']);",
    );
    let f = diagnose(&db, "3.4.2", &[]);
    let bad = find(&f, "routes-regex-incompatible");
    assert_eq!(
        strings(&bad["seen"]),
        ["route late (ffffffff-0000-0000-0000-000000000001): /(?!admin).*   (negative look-ahead)"]
    );
    // The count is every regex route, not the listed ones.
    assert!(find(&f, "routes-regex-unprefixed")["title"]
        .as_str()
        .unwrap_or("")
        .starts_with("61 routes"));
}

/// A refused route among many suspect-looking ones (a backslash, as in `\d`, but nothing 3.x
/// refuses) is still found: the refused-regex finding stops `auto`, so every route is judged,
/// not a first batch of the suspect ones.
#[test]
fn a_refused_route_among_a_thousand_suspect_looking_ones_is_found() {
    let db = TestDb::new("pf_suspects");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_tables(&db);
    db.exec(
        "INSERT INTO routes SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, NULL, ARRAY['/users/\\d+/' || i] \
         FROM generate_series(1, 1000) i;\
         INSERT INTO routes VALUES ('ffffffff-0000-0000-0000-000000000001', 'late', ARRAY['/plain', '/(?=x)y']);",
    );
    let f = diagnose(&db, "3.4.2", &[]);
    let bad = find(&f, "routes-regex-incompatible");
    assert_eq!(
        strings(&bad["seen"]),
        ["route late (ffffffff-0000-0000-0000-000000000001): /(?=x)y   (look-ahead)"]
    );
    assert!(find(&f, "routes-regex-unprefixed")["title"]
        .as_str()
        .unwrap_or("")
        .starts_with("1001 routes"));
}

/// Above the size where the count used to be sampled (200,000 routes), the regex routes are
/// counted exactly, in the row counts and in the finding, and never said "(sampled)".
#[test]
fn the_regex_route_count_is_exact_on_a_big_routes_table() {
    let db = TestDb::new("pf_exact");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_tables(&db);
    db.exec(
        "INSERT INTO routes SELECT md5(i::text)::uuid, NULL, \
           CASE WHEN i % 323 = 0 THEN ARRAY['/p/' || i, '/r/(\\d+)/' || i] ELSE ARRAY['/p/' || i] END \
         FROM generate_series(1, 250000) i;\
         ANALYZE routes;",
    );
    let want = 250_000 / 323;
    let o = kongrade(&db, &["diagnose", "--json", "--target-version", "3.4.2"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("diagnose JSON");
    let counted = v["row_counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "routes_with_regex_paths")
        .and_then(|r| r[1].as_i64());
    assert_eq!(counted, Some(want), "{}", v["row_counts"]);
    let f = v["findings"].as_array().cloned().unwrap_or_default();
    let title = find(&f, "routes-regex-unprefixed")["title"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(title.starts_with(&format!("{want} routes ")), "{title}");
    assert!(!v.to_string().contains("sampled"), "{v}");
}

/// The rule "a path 3.x reads differently" has one form, `kong::preflight`; its SQL is made from
/// it. On a table of awkward paths: the remedy's exact SQL says what the Rust rule says, the
/// store's prefilter keeps every route the rule counts, and diagnose counts what the rule counts.
#[test]
fn the_sql_and_the_rust_regex_rule_agree_on_sample_paths() {
    use kongrade::kong::preflight::{
        incompatible_regex, is_unprefixed_regex_path, sql_maybe_regex_route,
        sql_unprefixed_regex_path,
    };
    let samples = [
        "",
        "/",
        "/plain",
        "/a-b_c.d~/%20",
        "/UPPER/lower/0123456789",
        "~",
        "~/already/(\\d+)",
        "~plain",
        "/~x(y)",
        "/users/\\d+",
        "/(?!admin).*",
        "/x/(\\w+)/\\1",
        "/a b",
        "/tab\there",
        "/line\nbreak",
        "/quote\"x",
        "/comma,x",
        "/brace{1}",
        "/a+b",
        "/a?b",
        "/[abc]",
        "/end$",
        "/^start",
        "/a|b",
        "/a'b",
        "/back\\slash",
        "/%",
        "/ünïcode",
        "/é",
        "/del\u{7f}",
        "/a*+",
        "/(?<name>x)",
    ];
    let db = TestDb::new("pf_rule");
    let lit = |p: &str| format!("$q${p}$q$");
    let values: Vec<String> = samples
        .iter()
        .enumerate()
        .map(|(i, p)| format!("({i}, {})", lit(p)))
        .collect();
    db.exec(&format!(
        "CREATE TABLE samples (i int, p text); INSERT INTO samples VALUES {};",
        values.join(", ")
    ));
    let out = db.exec(&format!(
        "SELECT i, ({}), ({}), ({}) FROM samples ORDER BY i",
        sql_unprefixed_regex_path("p"),
        sql_maybe_regex_route("ARRAY[p]"),
        sql_maybe_regex_route("ARRAY['/plain', p, '~/x(']")
    ));
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), samples.len(), "{out}");
    for r in &rows {
        let p = samples[r[0].parse::<usize>().unwrap()];
        let rust = is_unprefixed_regex_path(p);
        assert_eq!(r[1] == "t", rust, "exact SQL vs Rust on {p:?}");
        if rust {
            assert_eq!(r[2], "t", "the prefilter drops {p:?}");
            assert_eq!(r[3], "t", "the prefilter drops {p:?} among others");
        }
        // What 3.x refuses is always a regex path: the rule's two halves agree.
        if incompatible_regex(p).is_some() && !p.starts_with('~') {
            assert!(rust, "{p:?}");
        }
    }
    // End to end: one route per sample, and diagnose counts what the Rust rule counts.
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_tables(&db);
    db.exec(
        "INSERT INTO routes SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, NULL, ARRAY[p, '/plain'] FROM samples;",
    );
    let want = samples
        .iter()
        .filter(|p| is_unprefixed_regex_path(p))
        .count();
    let refused = samples
        .iter()
        .filter(|p| is_unprefixed_regex_path(p) && incompatible_regex(p).is_some())
        .count();
    let f = diagnose(&db, "3.4.2", &[]);
    assert!(find(&f, "routes-regex-unprefixed")["title"]
        .as_str()
        .unwrap_or("")
        .starts_with(&format!("{want} routes ")));
    assert!(find(&f, "routes-regex-incompatible")["title"]
        .as_str()
        .unwrap_or("")
        .starts_with(&format!("{refused} regex paths ")));
}

/// Sequential scans of `routes` so far (`pg_stat_user_tables`), read once no kongrade session of
/// this database is left: a backend's counters reach the statistics before it leaves
/// `pg_stat_activity`, so the count then includes everything the finished run did.
fn routes_seq_scans(db: &TestDb) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let left = db.exec(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND application_name LIKE 'kongrade%'",
        );
        if left.trim() == "0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kongrade's session did not end: {left}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    db.exec("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'routes'")
        .trim()
        .parse()
        .expect("seq_scan")
}

fn row_count_names(v: &Value) -> Vec<String> {
    v["row_counts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r[0].as_str().map(str::to_string))
        .collect()
}

/// Every route is read only when the jump crosses into 3.x (core 016_280_to_300 ahead, and 3.x's
/// router judging the paths): a 3.4 -> 3.9 or a 2.8 -> 2.8 diagnose neither counts the regex
/// routes nor scans the table (the server's own scan counter says so), a 2.8 -> 3.4 one does.
#[test]
fn the_routes_are_read_only_for_a_jump_into_3x() {
    let regex_routes =
        "INSERT INTO routes SELECT md5(i::text)::uuid, NULL, ARRAY['/r/(\\d+)/' || i] \
                        FROM generate_series(1, 500) i; ANALYZE routes;";
    for (from, to, reads) in [
        ("3.4.2", "3.9.1", false),
        ("2.8.5", "2.8.5", false),
        ("2.8.5", "3.4.2", true),
    ] {
        let db = TestDb::new("pf_reads");
        kong_db::bootstrap_at(&db, from, None);
        kong_tables(&db);
        db.exec(regex_routes);
        let before = routes_seq_scans(&db);
        let o = kongrade(&db, &["diagnose", "--json", "--target-version", to]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{from} -> {to}: not JSON ({e}): {}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
        let scans = routes_seq_scans(&db) - before;
        let counted = row_count_names(&v).contains(&"routes_with_regex_paths".to_string());
        let found = ids(v["findings"].as_array().map_or(&[][..], |a| &a[..]))
            .contains(&"routes-regex-unprefixed".to_string());
        if reads {
            assert!(scans >= 1, "{from} -> {to}: routes not read");
            assert!(counted && found, "{from} -> {to}: {v}");
        } else {
            assert_eq!(scans, 0, "{from} -> {to}: routes read");
            assert!(!counted && !found, "{from} -> {to}: {v}");
        }
    }
}

/// The first words a remedy's first line may open with: a command to run (the issue's "the
/// remedy, command first").
fn is_command(line: &str) -> bool {
    kongrade::kong::preflight::REMEDY_COMMANDS
        .iter()
        .any(|c| line.starts_with(c))
}

/// Runs a remedy line with sh (its `# ...` comment included, as an operator pasting it would),
/// in `env`; returns stdout.
fn sh(line: &str, env: &[(&str, &str)]) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(line)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run sh");
    assert!(o.status.success(), "{line}: {}", both(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A kong.conf with a key renamed in 3.2 that 3.4.2 still reads (opentelemetry_tracing: a key of
/// 3.4.2's kong_defaults.lua, mapped to tracing_instrumentations by its conf_loader with a
/// deprecation warning), a misspelt key (proxy_listn), a key Kong reads by prefix (nginx_http_*,
/// never "unknown"), and one whose conf_loader alias never runs (router_consistency: gone from
/// kong_defaults.lua in 2.1.0, and Kong keeps only its defaults' keys). The remedies run: after
/// them, no finding is left.
#[test]
fn a_kong_conf_with_a_deprecated_and_a_misspelt_key() {
    let db = TestDb::new("pf_conf_keys");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(
        dir.path(),
        "opentelemetry_tracing = all\nproxy_listn = 0.0.0.0:8000\nnginx_http_gzip = on\nrouter_consistency = strict\n",
    );
    let conf_s = conf.to_str().unwrap();
    let f = diagnose(&db, "3.4.2", &["-c", conf_s]);

    let d = find(&f, "conf-key-deprecated");
    assert_eq!(d["severity"], "warning");
    let seen = strings(&d["seen"]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("kong.conf: opentelemetry_tracing: renamed in 3.2.0")
            && seen[0].contains("tracing_instrumentations"),
        "{seen:?}"
    );
    let remedy = strings(&d["remedy"]);
    assert!(is_command(&remedy[0]), "{remedy:?}");

    let u = find(&f, "conf-key-unknown");
    assert_eq!(u["severity"], "warning");
    assert_eq!(
        strings(&u["seen"]),
        ["kong.conf: proxy_listn: no Kong release from 2.8.5 on knows it"]
    );
    let fix = strings(&u["remedy"]);
    assert!(fix[0].starts_with("grep -nE "), "{fix:?}");
    // The grep finds the misspelt line, and only it.
    let found = sh(&fix[0], &[]);
    assert_eq!(found.trim(), "9:proxy_listn = 0.0.0.0:8000", "{found}");
    let r = find(&f, "conf-key-removed");
    assert_eq!(strings(&r["seen"]).len(), 1, "only router_consistency: {r}");
    assert!(
        strings(&r["seen"])[0]
            .starts_with("kong.conf: router_consistency: Kong 3.4.2 silently ignores it")
            && strings(&r["seen"])[0].contains("use worker_consistency"),
        "{r}"
    );
    let removed_fix = strings(&r["remedy"]);
    assert!(is_command(&removed_fix[0]), "{removed_fix:?}");

    // Both findings' remedies, as given (a copy kept first, then the renames in place), and
    // the misspelt line fixed: every finding goes.
    for line in remedy
        .iter()
        .chain(&removed_fix)
        .filter(|l| l.starts_with("cp -n ") || l.starts_with("sed -i"))
    {
        sh(line, &[]);
    }
    let kept = dir.path().join("kong.conf.before-3.4.2");
    assert!(
        std::fs::read_to_string(&kept)
            .unwrap()
            .contains("opentelemetry_tracing = all"),
        "the copy keeps the old nodes' kong.conf"
    );
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("\ntracing_instrumentations = all\n")
            && text.contains("\nworker_consistency = strict\n"),
        "{text}"
    );
    std::fs::write(&conf, text.replace("proxy_listn", "proxy_listen")).unwrap();
    let f = diagnose(&db, "3.4.2", &["-c", conf_s]);
    for id in [
        "conf-key-deprecated",
        "conf-key-unknown",
        "conf-key-removed",
    ] {
        assert!(!ids(&f).contains(&id.to_string()), "{id} in {:?}", ids(&f));
    }
}

/// `KONG_*` names in the real binary's environment are kong.conf keys too (Kong reads
/// `KONG_<KEY>` for every key of its defaults): one renamed and dropped in 3.0
/// (KONG_UPSTREAM_KEEPALIVE), one removed with no replacement (KONG_NGINX_OPTIMIZATIONS),
/// beside names that are no key at all (never findings: the environment is shared with other
/// programs). The remedy's export/unset line, run in that environment, moves the value over.
#[test]
fn kong_environment_names_the_target_dropped() {
    let db = TestDb::new("pf_env");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let env = [
        ("KONG_UPSTREAM_KEEPALIVE", "60"),
        ("KONG_NGINX_OPTIMIZATIONS", "on"),
        ("KONG_SOME_TOOL_SETTING", "x"),
    ];
    let f = diagnose_with(&db, &env, "3.4.2", &[]);
    let r = find(&f, "conf-key-removed");
    assert_eq!(r["severity"], "error");
    let seen = strings(&r["seen"]);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.starts_with("environment: KONG_UPSTREAM_KEEPALIVE: ")
                && s.contains("use upstream_keepalive_pool_size")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.starts_with("environment: KONG_NGINX_OPTIMIZATIONS: ")),
        "{seen:?}"
    );
    assert!(
        !f.iter()
            .any(|x| x.to_string().contains("KONG_SOME_TOOL_SETTING")),
        "{f:?}"
    );
    let remedy = strings(&r["remedy"]);
    assert!(is_command(&remedy[0]), "{remedy:?}");
    let export = remedy
        .iter()
        .find(|l| l.starts_with("export KONG_UPSTREAM_KEEPALIVE_POOL_SIZE="))
        .unwrap_or_else(|| panic!("{remedy:?}"));
    assert!(
        remedy
            .iter()
            .any(|l| l.starts_with("unset KONG_NGINX_OPTIMIZATIONS")),
        "{remedy:?}"
    );
    // The command, without its comment (the advice for Kong's service environment).
    let export = export.split("   #").next().unwrap_or_default();
    let after = sh(&format!("{export}; env"), &env);
    assert!(
        after
            .lines()
            .any(|l| l == "KONG_UPSTREAM_KEEPALIVE_POOL_SIZE=60"),
        "{after}"
    );
    assert!(
        !after
            .lines()
            .any(|l| l.starts_with("KONG_UPSTREAM_KEEPALIVE=")),
        "{after}"
    );
    // The new name: nothing to say.
    let f = diagnose_with(
        &db,
        &[("KONG_UPSTREAM_KEEPALIVE_POOL_SIZE", "60")],
        "3.4.2",
        &[],
    );
    assert!(
        !ids(&f).contains(&"conf-key-removed".to_string()),
        "{:?}",
        ids(&f)
    );
}

/// `plugins = key-auth` in kong.conf while the database configures cors too (a bundled plugin
/// with no migrations: only the preflight can see it): Kong 3.4.2's plugins iterator stops at
/// "cors plugin is in use but not enabled". diagnose names the rows and the setting that loads
/// them; plan shows it among the errors; auto refuses with 20 until --allow-breaking.
#[test]
fn plugins_rows_the_plugins_setting_does_not_load() {
    let db = TestDb::new("pf_not_loaded");
    kong_db::bootstrap_at(&db, "2.8.5", Some(&["key-auth"]));
    kong_tables(&db);
    db.exec(
        "INSERT INTO plugins VALUES \
         ('00000000-0000-0000-0000-00000000000a', 'key-auth'),\
         ('00000000-0000-0000-0000-00000000000b', 'cors'),\
         ('00000000-0000-0000-0000-00000000000c', 'cors');",
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = db.write_kong_conf(dir.path(), "plugins = key-auth\n");
    let conf = conf.to_str().unwrap();
    let f = diagnose(&db, "3.4.2", &["-c", conf]);
    let p = find(&f, "plugins-not-loaded");
    assert_eq!(p["severity"], "error");
    assert_eq!(
        strings(&p["seen"]),
        ["plugins rows named cors: not in plugins = key-auth"]
    );
    let remedy = strings(&p["remedy"]);
    assert!(remedy[0].starts_with("cp -n "), "{remedy:?}");
    assert!(
        remedy[1].starts_with("sed -i ") && remedy[1].contains("plugins = key-auth,cors"),
        "{remedy:?}"
    );
    // KONG_PLUGINS, which wins over kong.conf: the remedy sets it.
    let f = diagnose_with(&db, &[("KONG_PLUGINS", "key-auth")], "3.4.2", &[]);
    let env_fix = strings(&find(&f, "plugins-not-loaded")["remedy"]);
    assert!(
        env_fix[0].starts_with("export KONG_PLUGINS=key-auth,cors   #"),
        "{env_fix:?}"
    );
    // Shipped, and no recorded migrations of a plugin left out: only this finding.
    for id in ["plugins-not-shipped", "plugin-not-loaded"] {
        assert!(!ids(&f).contains(&id.to_string()), "{id} in {:?}", ids(&f));
    }

    let o = kongrade(&db, &["plan", "-c", conf, "--target-version", "3.4.2"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("  ERROR [plugins-not-loaded]"), "{text}");
    assert!(
        text.contains("seen: plugins rows named cors: not in plugins = key-auth"),
        "{text}"
    );
    assert!(
        text.contains("refuses the errors above (exit 20) unless --allow-breaking"),
        "{text}"
    );
    let v = json(&kongrade(
        &db,
        &["plan", "--json", "-c", conf, "--target-version", "3.4.2"],
    ));
    assert!(
        v["preflight"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == "plugins-not-loaded")),
        "{v}"
    );

    let before = schema_meta(&db);
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let auto = ["auto", "-c", conf, "--kong-cmd", &kong, "--backup=skip"];
    let mut args = auto.to_vec();
    args.push("--json");
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(20), "{}", both(&o));
    let v = json(&o);
    assert_eq!(v["result"], "refused_breaking", "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("plugins rows named cors")
            && msg.ends_with("--allow-breaking goes on anyway."),
        "{msg}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Preflight error: [plugins-not-loaded]"),
        "{}",
        both(&o)
    );
    assert_eq!(schema_meta(&db), before, "nothing ran");
    // Lifted, it runs (in place: the LTS pair), the override journaled.
    let in_place = support::nodes::in_place();
    let mut args = auto.to_vec();
    args.push("--allow-breaking");
    args.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert_ne!(schema_meta(&db), before, "up and finish ran");
    assert!(
        overrides(&db)
            .iter()
            .any(|(g, r)| g == "plugins-not-loaded" && r.contains("--allow-breaking")),
        "{:?}",
        overrides(&db)
    );

    // The remedy's commands, as given: the setting then loads them all.
    for line in &remedy[..2] {
        sh(line, &[]);
    }
    let text = std::fs::read_to_string(conf).unwrap();
    assert!(text.contains("\nplugins = key-auth,cors\n"), "{text}");
    let f = diagnose(&db, "3.4.2", &["-c", conf]);
    assert!(
        !ids(&f).contains(&"plugins-not-loaded".to_string()),
        "{:?}",
        ids(&f)
    );
}

fn schema_meta(db: &TestDb) -> String {
    db.exec(
        "SELECT subsystem, executed::text, coalesce(pending::text, '') FROM schema_meta ORDER BY 1",
    )
}

/// The journal's overrides: (gate, reason).
fn overrides(db: &TestDb) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data_dir(db).join("journal"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for line in std::fs::read_to_string(e.path())
            .unwrap_or_default()
            .lines()
        {
            let v: Value = serde_json::from_str(line).unwrap_or_default();
            if v["event"] == "override" {
                out.push((
                    v["gate"].as_str().unwrap_or_default().to_string(),
                    v["reason"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// Kong's clustering_data_planes (core 012_213_to_220, `version` and `sync_status` from
/// 013_220_to_230).
const DATA_PLANES_DDL: &str = "CREATE TABLE clustering_data_planes (id uuid PRIMARY KEY, \
    hostname text NOT NULL, ip text NOT NULL, \
    last_seen timestamptz DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'), \
    config_hash text NOT NULL, ttl timestamptz, version text, sync_status text NOT NULL DEFAULT 'unknown');";

/// Hybrid: a 2.8.5 data plane still reporting to the control plane being upgraded to 3.4.2,
/// one already on 3.4.2, and a 2.8.5 one gone for 20 days whose row's ttl has passed (Kong's
/// DAO no longer returns it: `ttl >= CURRENT_TIMESTAMP`). Only the reporting old one is named;
/// plan shows it, and auto reports it without refusing (a warning: policy's Report).
#[test]
fn data_planes_of_another_major_than_the_target() {
    let db = TestDb::new("pf_dp_major");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(DATA_PLANES_DDL);
    db.exec(
        "INSERT INTO clustering_data_planes (id, hostname, ip, last_seen, config_hash, ttl, version, sync_status) VALUES \
           ('0b1e3c7a-1111-4a2e-9b1e-3f6f1c2d4e5f', 'dp-old', '10.0.0.7', now() - interval '5 seconds', 'h', now() + interval '14 days', '2.8.5', 'normal'), \
           ('0b1e3c7a-2222-4a2e-9b1e-3f6f1c2d4e5f', 'dp-new', '10.0.0.8', now(), 'h', now() + interval '14 days', '3.4.2', 'normal'), \
           ('0b1e3c7a-3333-4a2e-9b1e-3f6f1c2d4e5f', 'dp-gone', '10.0.0.9', now() - interval '20 days', 'h', now() - interval '6 days', '2.8.5', 'normal');",
    );
    let f = diagnose(&db, "3.4.2", &[]);
    let h = find(&f, "hybrid-dp-major");
    assert_eq!(h["severity"], "warning");
    assert_eq!(strings(&h["seen"]), ["data plane dp-old: Kong 2.8.5"]);
    let remedy = strings(&h["remedy"]);
    assert!(is_command(&remedy[0]), "{remedy:?}");
    // The remedy's kongrade command is one kongrade takes.
    let plan_cmd = remedy[0]
        .split("   #")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(plan_cmd.starts_with("kongrade plan "), "{plan_cmd}");
    let args: Vec<&str> = plan_cmd.split_whitespace().skip(1).collect();
    let o = kongrade(&db, &args);
    assert_eq!(o.status.code(), Some(0), "{plan_cmd}: {}", both(&o));

    let o = kongrade(&db, &["plan", "--target-version", "3.4.2"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("  WARNING [hybrid-dp-major]"), "{text}");
    assert!(
        text.contains("seen: data plane dp-old: Kong 2.8.5"),
        "{text}"
    );

    // auto reports it and is not refused by it: a warning, no flag needed.
    let kong = format!("'{BIN}' stand-in --kong-version 3.4.2");
    let in_place = support::nodes::in_place();
    let mut args = vec!["auto", "--kong-cmd", &kong, "--backup=skip"];
    args.extend(in_place.iter().map(String::as_str));
    let o = kongrade(&db, &args);
    assert!(
        both(&o).contains("Preflight warning: [hybrid-dp-major] 1 data plane on another major"),
        "{}",
        both(&o)
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));

    // Every data plane reporting on the target's major: nothing to say.
    let db = TestDb::new("pf_dp_same");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    db.exec(DATA_PLANES_DDL);
    db.exec(
        "INSERT INTO clustering_data_planes (id, hostname, ip, last_seen, config_hash, ttl, version, sync_status) VALUES \
           ('0b1e3c7a-2222-4a2e-9b1e-3f6f1c2d4e5f', 'dp-new', '10.0.0.8', now(), 'h', now() + interval '14 days', '3.4.1', 'normal');",
    );
    let f = diagnose(&db, "3.4.2", &[]);
    assert!(
        !ids(&f).contains(&"hybrid-dp-major".to_string()),
        "{:?}",
        ids(&f)
    );
}

/// A tested-PostgreSQL range of assets/kong-facts.json: the Kong series `from..=to` and the
/// majors tested with them (`max` `None`: open).
struct Tested {
    from: (u32, u32),
    to: (u32, u32),
    min: u32,
    max: Option<u32>,
}

fn tested_ranges() -> Vec<Tested> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/kong-facts.json");
    let facts: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let series = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<kongrade::kong::version::Version>()
            .unwrap()
            .series()
    };
    facts["tested_postgres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Tested {
            from: series(&t["from"]),
            to: series(&t["to"]),
            min: t["min_major"].as_u64().unwrap() as u32,
            max: t["max_major"].as_u64().map(|m| m as u32),
        })
        .collect()
}

/// A target outside whose tested PostgreSQL range the server is: the facts' ranges say which
/// release, for the test server's major. When every range in the facts includes it (PostgreSQL
/// 15 is in all of them), the database is made to report the major just above the newest
/// closed range that includes it: a function `public.current_setting` that answers
/// `server_version_num` so, ahead of pg_catalog in the database's search_path (every other
/// setting is pg_catalog's). The clean case is the real server against a release whose range
/// includes it.
#[test]
fn postgres_outside_the_tested_range_of_the_target() {
    let real = {
        let db = TestDb::new("pf_pg_real");
        server_version_num(&db)
    };
    let major = real / 10_000;
    let ranges = tested_ranges();
    let catalog = kongrade::kong::catalog::Catalog::embedded();
    let range_of = |v: kongrade::kong::version::Version| {
        ranges
            .iter()
            .find(|t| t.from <= v.series() && v.series() <= t.to)
    };
    let inside = |t: &Tested, m: u32| m >= t.min && t.max.is_none_or(|x| m <= x);
    let newest_first = catalog.releases.iter().rev().map(|r| r.version);
    let outside_real = newest_first
        .clone()
        .find(|v| range_of(*v).is_some_and(|t| !inside(t, major)));
    let (target, reported) = match outside_real {
        Some(v) => (v, real),
        None => {
            let v = newest_first
                .clone()
                .find(|v| range_of(*v).is_some_and(|t| t.max.is_some() && inside(t, major)))
                .expect("a closed range in the facts");
            (v, (range_of(v).unwrap().max.unwrap() + 1) * 10_000 + 2)
        }
    };
    let t = range_of(target).unwrap();
    let range = match t.max {
        Some(m) => format!("{}-{m}", t.min),
        None => format!("{}+", t.min),
    };
    let target_s = target.to_string();

    let db = TestDb::new("pf_pg_untested");
    kong_db::bootstrap_at(&db, &target_s, None);
    if reported != real {
        db.exec(&format!(
            "CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql STABLE AS \
             $f$ SELECT CASE WHEN $1 = 'server_version_num' THEN '{reported}' \
             ELSE pg_catalog.current_setting($1) END $f$; \
             ALTER DATABASE \"{}\" SET search_path = public, pg_catalog;",
            db.name
        ));
    }
    let v = diagnose_json(&db, &[], &target_s, &[]);
    assert_eq!(v["preflight_read"]["server_version_num"], reported, "{v}");
    let f = v["findings"].as_array().cloned().unwrap_or_default();
    let u = find(&f, "postgres-untested");
    assert_eq!(u["severity"], "warning");
    let title = u["title"].as_str().unwrap_or_default();
    assert!(
        title.starts_with(&format!("PostgreSQL {}.", reported / 10_000))
            && title.contains(&format!("Kong tested {target_s} with ({range})")),
        "{title}"
    );
    assert_eq!(
        strings(&u["seen"]),
        [format!("server_version_num = {reported}")]
    );
    let remedy = strings(&u["remedy"]);
    assert!(
        remedy[0].starts_with(&format!(
            "pg_dump -h {} -p {} -U kong -d {} -Fc ",
            db.server.host, db.server.port, db.name
        )) && remedy[0].contains(&range),
        "{remedy:?}"
    );
    assert!(
        !ids(&f).contains(&"postgres-too-old".to_string()),
        "{:?}",
        ids(&f)
    );

    // The real server against a release whose tested range includes it: nothing to say.
    let within = catalog
        .releases
        .iter()
        .rev()
        .map(|r| r.version)
        .find(|v| range_of(*v).is_some_and(|t| inside(t, major)))
        .expect("a release tested with the server's major");
    let clean = TestDb::new("pf_pg_tested");
    kong_db::bootstrap_at(&clean, &within.to_string(), None);
    let v = diagnose_json(&clean, &[], &within.to_string(), &[]);
    assert_eq!(v["preflight_read"]["server_version_num"], real, "{v}");
    let f = v["findings"].as_array().cloned().unwrap_or_default();
    for id in ["postgres-untested", "postgres-too-old"] {
        assert!(!ids(&f).contains(&id.to_string()), "{id} in {:?}", ids(&f));
    }
}
