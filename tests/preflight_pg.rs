//! The preflight in `kongrade diagnose`, end to end: the real binary and a real PostgreSQL, each
//! finding from a state built for it (routes with regex paths, plugins rows, the test server's
//! SCRAM login, a kong.conf with removed keys), and absent on a clean one.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::kong_db;
use support::pg::TestDb;

fn kongrade(db: &TestDb, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kongrade"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    c.args(args).output().expect("run kongrade")
}

fn diagnose(db: &TestDb, target: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["diagnose", "--json", "--target-version", target];
    args.extend_from_slice(extra);
    let o = kongrade(db, &args);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_eq!(v["exit_code"], o.status.code().unwrap_or(-1), "{v}");
    v["findings"].as_array().cloned().unwrap_or_default()
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
    let f = diagnose(&db, "3.4.2", &["-c", conf.to_str().unwrap()]);
    for id in PREFLIGHT_IDS {
        assert!(!ids(&f).contains(&id.to_string()), "{id} in {:?}", ids(&f));
    }
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
