//! kong.conf loading against real files: search order, errors with file and line, precedence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kongrade::kong::conf::{
    load, load_from_process_env, ConfError, DatabaseKind, KongConf, LoadOptions, Origin,
};
use tempfile::TempDir;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

/// Options that never look at the real /etc.
fn opts(conf_path: Option<PathBuf>, default_paths: Vec<PathBuf>) -> LoadOptions {
    LoadOptions {
        conf_path,
        default_paths,
        overrides: Vec::new(),
    }
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn load_ok(opts: &LoadOptions, env: &[(&str, &str)]) -> KongConf {
    match load(opts, &env_of(env)) {
        Ok(conf) => conf,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn load_err(opts: &LoadOptions, env: &[(&str, &str)]) -> ConfError {
    match load(opts, &env_of(env)) {
        Ok(conf) => panic!("expected an error, got {conf:?}"),
        Err(e) => e,
    }
}

fn tempdir() -> TempDir {
    match TempDir::new() {
        Ok(d) => d,
        Err(e) => panic!("no temp dir: {e}"),
    }
}

#[test]
fn kong_default_paths() {
    let o = LoadOptions::new(None);
    assert_eq!(
        o.default_paths,
        [
            PathBuf::from("/etc/kong/kong.conf"),
            PathBuf::from("/etc/kong.conf")
        ]
    );
    assert!(o.overrides.is_empty() && o.conf_path.is_none());
}

#[test]
fn explicit_file_must_exist() {
    let dir = tempdir();
    let missing = dir.path().join("nope.conf");
    let fallback = write(dir.path(), "kong.conf", "pg_host = fallback\n");
    let e = load_err(&opts(Some(missing.clone()), vec![fallback]), &[]);
    assert!(matches!(e, ConfError::NoFile { .. }));
    assert_eq!(e.to_string(), format!("no file at: {}", missing.display()));
}

#[test]
fn explicit_file_beats_default_paths() {
    let dir = tempdir();
    let explicit = write(dir.path(), "mine.conf", "pg_host = mine\n");
    let default = write(dir.path(), "kong.conf", "pg_host = default\n");
    let conf = load_ok(&opts(Some(explicit.clone()), vec![default]), &[]);
    assert_eq!(conf.pg.host, "mine");
    assert_eq!(conf.path, Some(explicit));
}

#[test]
fn default_paths_in_order() {
    let dir = tempdir();
    let first = dir.path().join("etc-kong-kong.conf");
    let second = write(dir.path(), "etc-kong.conf", "pg_host = second\n");

    // First missing: the second is read.
    let conf = load_ok(&opts(None, vec![first.clone(), second.clone()]), &[]);
    assert_eq!(conf.pg.host, "second");
    assert_eq!(conf.path.as_deref(), Some(second.as_path()));

    // Both present: the first wins.
    write(dir.path(), "etc-kong-kong.conf", "pg_host = first\n");
    let conf = load_ok(&opts(None, vec![first.clone(), second]), &[]);
    assert_eq!(conf.pg.host, "first");
    assert_eq!(conf.path, Some(first));

    // None present: defaults only.
    let conf = load_ok(
        &opts(None, vec![dir.path().join("a"), dir.path().join("b")]),
        &[],
    );
    assert_eq!(conf.path, None);
    assert_eq!(conf.pg.host, "127.0.0.1");
    assert_eq!(conf.origin("pg_host"), Some(&Origin::Default));
}

#[test]
fn unreadable_file_reports_the_os_error() {
    let dir = tempdir();
    // A directory "exists" for Kong's lookup and then fails to read, like an unreadable file.
    let e = load_err(&opts(Some(dir.path().to_path_buf()), vec![]), &[]);
    assert!(matches!(e, ConfError::Unreadable { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("could not read {}: ", dir.path().display())),
        "{msg}"
    );
    assert!(std::error::Error::source(&e).is_some());

    let e = load_err(&opts(None, vec![dir.path().to_path_buf()]), &[]);
    assert!(matches!(e, ConfError::Unreadable { .. }), "{e}");
}

#[test]
fn not_utf8_names_the_line() {
    let dir = tempdir();
    let path = dir.path().join("latin1.conf");
    if let Err(e) = std::fs::write(&path, b"pg_host = a\npg_password = caf\xe9\n") {
        panic!("{e}");
    }
    let e = load_err(&opts(Some(path.clone()), vec![]), &[]);
    assert_eq!(
        e.to_string(),
        format!(
            "{} line 2: the value of pg_password is not UTF-8 text; kongrade needs it as text (save the file as UTF-8)",
            path.display()
        )
    );
    // Kong reads bytes: a Latin-1 comment, or a key kongrade does not use, is no reason to
    // refuse the file. A byte-order mark does not hide the first key.
    if let Err(e) = std::fs::write(
        &path,
        b"\xef\xbb\xbfpg_host = db\n# caf\xe9\nadmin_gui_path = /caf\xe9\npg_port = 5433\n",
    ) {
        panic!("{e}");
    }
    let c = load_ok(&opts(Some(path.clone()), vec![]), &[]);
    assert_eq!(c.pg.host, "db");
    assert_eq!(c.pg.port, 5433);
}

#[test]
fn a_realistic_file() {
    let dir = tempdir();
    let path = write(
        dir.path(),
        "kong.conf",
        "# ------------------------\n\
         # DATASTORE\n\
         # ------------------------\n\
         \n\
         database = postgres             # Determines the database\n\
         pg_host = db.internal           # Host of the Postgres server.\n\
         \t pg_port   =   6432\n\
         pg_user = kong_admin\n\
         pg_password = pa\\#ss word   # the \\# is part of the password\n\
         pg_database = kong_prod\n\
         #pg_schema =                    # commented out, like the shipped file\n\
         pg_ssl = on\n\
         pg_ssl_verify = on\n\
         lua_ssl_trusted_certificate = system,/etc/ssl/rds.pem\n\
         plugins = bundled,my-plugin\n",
    );
    let conf = load_ok(&opts(Some(path.clone()), vec![]), &[]);
    assert_eq!(conf.database, DatabaseKind::Postgres);
    assert_eq!(conf.pg.host, "db.internal");
    assert_eq!(conf.pg.port, 6432);
    assert_eq!(conf.pg.user, "kong_admin");
    assert_eq!(
        conf.pg.password.as_ref().map(|s| s.expose()),
        Some("pa#ss word")
    );
    assert_eq!(conf.pg.database, "kong_prod");
    assert_eq!(conf.pg.schema, None);
    assert!(conf.pg.ssl && conf.pg.ssl_verify);
    assert_eq!(conf.pg.trusted_certificates, ["system", "/etc/ssl/rds.pem"]);
    assert_eq!(conf.plugins, ["bundled", "my-plugin"]);
    assert_eq!(
        conf.pg.display_target(),
        "kong_admin@db.internal:6432/kong_prod"
    );
    assert_eq!(
        conf.origin("pg_port"),
        Some(&Origin::File {
            path: path.clone(),
            line: 7
        })
    );
    assert_eq!(
        conf.origin("pg_port").map(ToString::to_string),
        Some(format!("{} line 7", path.display()))
    );
    assert!(conf.warnings.is_empty(), "{:?}", conf.warnings);
}

#[test]
fn env_beats_file_and_flags_beat_env() {
    let dir = tempdir();
    let path = write(
        dir.path(),
        "kong.conf",
        "pg_host = from-file\npg_user = from-file\npg_database = from-file\n",
    );
    let mut o = opts(Some(path), vec![]);
    o.overrides.push(("pg_host".into(), "from-flag".into()));
    let conf = load_ok(
        &o,
        &[("KONG_PG_HOST", "from-env"), ("KONG_PG_USER", "from-env")],
    );
    assert_eq!(conf.pg.host, "from-flag");
    assert_eq!(conf.pg.user, "from-env");
    assert_eq!(conf.pg.database, "from-file");
    assert_eq!(conf.origin("pg_host"), Some(&Origin::Flag));
    assert_eq!(
        conf.origin("pg_user"),
        Some(&Origin::Env("KONG_PG_USER".into()))
    );
}

#[test]
fn validation_errors_name_file_line_and_key() {
    let dir = tempdir();
    let cases = [
        (
            "pg_port = abc",
            "pg_port = 'abc' is not a port number (1-65535)",
        ),
        (
            "pg_port = 70000",
            "pg_port = '70000' is not a port number (1-65535)",
        ),
        (
            "pg_timeout = -1",
            "pg_timeout = '-1' is not a positive whole number of milliseconds",
        ),
        (
            "cassandra_timeout = 0",
            "cassandra_timeout = '0' is not a positive whole number of milliseconds",
        ),
        (
            "pg_ssl = yes",
            "pg_ssl = 'yes' is not on or off (Kong would silently read anything but 'on' or \
             'true' as off)",
        ),
        (
            "database = mongodb",
            "database = 'mongodb' is not a database Kong knows (postgres, cassandra, off)",
        ),
    ];
    for (line, expected) in cases {
        let path = write(dir.path(), "kong.conf", &format!("# header\n\n{line}\n"));
        let e = load_err(&opts(Some(path.clone()), vec![]), &[]);
        assert_eq!(
            e.to_string(),
            format!("{} line 3: {expected}", path.display())
        );
        assert!(matches!(e, ConfError::Invalid { .. }));
        assert!(e.key().is_some());
    }
}

#[test]
fn env_errors_name_the_variable() {
    let e = load_err(&opts(None, vec![]), &[("KONG_CASSANDRA_PORT", "90420")]);
    assert_eq!(
        e.to_string(),
        "environment variable KONG_CASSANDRA_PORT: cassandra_port = '90420' is not a port number \
         (1-65535)"
    );
    assert_eq!(e.key(), Some("cassandra_port"));
}

#[test]
fn vault_env_references() {
    let dir = tempdir();
    let path = write(
        dir.path(),
        "kong.conf",
        "pg_password = {vault://env/pg-password}\n",
    );
    let o = opts(Some(path.clone()), vec![]);
    let conf = load_ok(&o, &[("PG_PASSWORD", "s3cret")]);
    assert_eq!(
        conf.pg.password.as_ref().map(|s| s.expose()),
        Some("s3cret")
    );

    let e = load_err(&o, &[]);
    assert!(matches!(e, ConfError::Vault { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "{} line 1: pg_password = '{{vault://env/pg-password}}' refers to environment \
             variable PG_PASSWORD, which is not set",
            path.display()
        )
    );

    let path = write(
        dir.path(),
        "kong.conf",
        "pg_password = {vault://hcv/kong/pg}\n",
    );
    let e = load_err(&opts(Some(path), vec![]), &[]);
    let msg = e.to_string();
    assert!(
        msg.contains("'hcv' vault, which only Kong itself can read"),
        "{msg}"
    );
    assert!(msg.contains("KONG_PG_PASSWORD"), "{msg}");
}

#[test]
fn passwords_stay_out_of_errors_and_debug() {
    let dir = tempdir();
    let path = write(
        dir.path(),
        "kong.conf",
        "pg_password = hunter2\ncassandra_password = swordfish\npg_port = 1\n",
    );
    let mut o = opts(Some(path.clone()), vec![]);
    let conf = load_ok(&o, &[]);
    let shown = format!(
        "{conf:?} {} {:?} {}",
        conf.pg.display_target(),
        conf.setting("pg_password"),
        conf.setting("pg_password")
            .map(|s| s.shown())
            .unwrap_or_default()
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("swordfish"),
        "{shown}"
    );

    // An error elsewhere in the same file, and an empty password from the environment.
    write(
        dir.path(),
        "kong.conf",
        "pg_password = hunter2\npg_port = nope\n",
    );
    let e = load_err(&o, &[]);
    assert!(!format!("{e} {e:?}").contains("hunter2"));
    o.overrides.push(("pg_password".into(), "hunter2".into()));
    assert!(!format!("{o:?}").contains("hunter2"));
}

#[test]
fn database_off_and_cassandra() {
    let dir = tempdir();
    let path = write(dir.path(), "kong.conf", "database = off\n");
    assert_eq!(
        load_ok(&opts(Some(path), vec![]), &[]).database,
        DatabaseKind::Off
    );
    let path = write(
        dir.path(),
        "kong.conf",
        "database = cassandra\ncassandra_contact_points = 10.0.0.1, 10.0.0.2\ncassandra_keyspace = kong_prod\n",
    );
    let conf = load_ok(&opts(Some(path), vec![]), &[("KONG_CASSANDRA_SSL", "on")]);
    assert_eq!(conf.database, DatabaseKind::Cassandra);
    assert_eq!(conf.cassandra.contact_points, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(conf.cassandra.keyspace, "kong_prod");
    assert!(conf.cassandra.ssl);
}

#[test]
fn process_environment_adapter() {
    // `{vault://env/path}` reads PATH, which every test run has: the adapter is wired to the
    // real environment without the test setting anything.
    let dir = tempdir();
    let path = write(dir.path(), "kong.conf", "pg_schema = {vault://env/path}\n");
    let o = opts(Some(path), vec![]).with_override("pg_host", "pinned");
    let conf = match load_from_process_env(&o) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(conf.pg.host, "pinned");
    let expected = std::env::var("PATH").ok().filter(|p| !p.trim().is_empty());
    assert_eq!(
        conf.pg.schema.as_deref(),
        expected.as_deref().map(str::trim)
    );
}
