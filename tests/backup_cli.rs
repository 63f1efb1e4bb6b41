//! `kongrade backup`, `journal` and `rollback --print` with the real pg_dump/pg_restore against a
//! real PostgreSQL: the dump restores into a fresh database with the same schema_meta, the
//! password never reaches argv or any file, and failures say what to do.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::kong_db;
use support::pg::{psql_admin, TestDb, KONG_PASSWORD};

fn kongrade(db: &TestDb, data: &Path, path: Option<&str>, args: &[&str]) -> Output {
    let sys_path = std::env::var("PATH").unwrap_or_default();
    Command::new(env!("CARGO_BIN_EXE_kongrade"))
        .env_clear()
        .envs(db.kong_env())
        .env("PATH", path.map(str::to_string).unwrap_or(sys_path))
        .env("KONGRADE_DATA_DIR", data)
        .args(args)
        .output()
        .expect("run kongrade")
}

fn schema_meta_dump(db: &TestDb) -> String {
    db.exec("SELECT subsystem, last_executed, array_to_string(executed, ','), array_to_string(pending, ',') FROM schema_meta ORDER BY subsystem")
}

/// A pg_dump wrapper first on PATH that records its argv and hands over to the real one.
fn recording_pg_dump(dir: &Path) -> (String, PathBuf) {
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v pg_dump"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("argv.log");
    let script = format!(
        "#!/bin/sh\necho \"$0 $*\" >> {}\nexec {} \"$@\"\n",
        log.display(),
        real.trim()
    );
    let p = bin.join("pg_dump");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    (
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        log,
    )
}

#[test]
fn backup_restores_into_a_fresh_database_with_the_same_schema_meta() {
    let db = TestDb::new("bk_main");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    kong_db::up_to(&db, "3.4.2", None);
    db.exec("CREATE TABLE services (id uuid PRIMARY KEY, name text); INSERT INTO services VALUES ('0b8d6f2e-1c3a-4e5f-8a9b-0c1d2e3f4a5b', 'billing')");
    let data = tempfile::tempdir().unwrap();
    let (path, argv_log) = recording_pg_dump(data.path());
    let o = kongrade(&db, data.path(), Some(&path), &["backup", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rec: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file = PathBuf::from(rec["file"].as_str().unwrap());
    assert!(file.starts_with(data.path().join("backups")), "{file:?}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(rec["sha256"].as_str().unwrap().len(), 64);
    assert!(rec["bytes"].as_u64().unwrap() > 0);

    // The password was in nobody's argv.
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.contains("--format=custom"), "{argv}");
    assert!(!argv.contains(KONG_PASSWORD), "password in argv: {argv}");
    // ...nor in any file kongrade wrote.
    for entry in walk(data.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(KONG_PASSWORD),
            "password in {}",
            entry.display()
        );
    }

    // Restore into a fresh database and compare.
    let fresh = TestDb::new("bk_restore");
    let st = Command::new("pg_restore")
        .args([
            "--no-owner",
            "-h",
            &fresh.server.host,
            "-p",
            &fresh.server.port.to_string(),
            "-U",
            "kong",
            "-d",
            &fresh.name,
        ])
        .arg(&file)
        .env("PGPASSWORD", KONG_PASSWORD)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(schema_meta_dump(&db), schema_meta_dump(&fresh));
    assert_eq!(fresh.exec("SELECT name FROM services").trim(), "billing");

    // The journal recorded it; `journal list/show` read it; rollback points at the file.
    let o = kongrade(&db, data.path(), None, &["journal", "list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("OPEN"), "{out}");
    let id = out.split_whitespace().next().unwrap().to_string();
    let o = kongrade(&db, data.path(), None, &["journal", "show", &id]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("step backup: done"), "{out}");
    assert!(
        out.contains(&rec["sha256"].as_str().unwrap().to_string()),
        "{out}"
    );
    // Pending migrations: before finish, no restore advised.
    let o = kongrade(&db, data.path(), None, &["rollback", "--print"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("`finish` has NOT run"), "{out}");
    kong_db::finish(&db);
    let o = kongrade(&db, data.path(), None, &["rollback", "--print"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("pg_restore --clean --if-exists"), "{out}");
    assert!(out.contains(file.to_str().unwrap()), "{out}");
    assert!(!out.contains(KONG_PASSWORD));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn failures_say_what_to_do_and_leave_no_file() {
    let db = TestDb::new("bk_fail");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let data = tempfile::tempdir().unwrap();
    // No pg_dump on PATH.
    let empty = data.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let o = kongrade(&db, data.path(), Some(empty.to_str().unwrap()), &["backup"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pg_dump is not installed"), "{err}");
    // A pg_dump older than the server.
    let bin = data.path().join("old-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 9.6.24'; exit 0; fi\necho 'pg_dump: error: aborting because of server version mismatch' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = kongrade(
        &db,
        data.path(),
        Some(&format!("{}:/usr/bin:/bin", bin.display())),
        &["backup"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("older than the server"), "{err}");
    let left: Vec<PathBuf> = walk(&data.path().join("backups"));
    assert!(left.is_empty(), "a failed dump left {left:?}");
    // Not Kong's database: no schema_meta in the dump.
    let other = TestDb::new("bk_notkong");
    other.exec("CREATE TABLE t (x int)");
    let o = kongrade(&other, data.path(), None, &["backup"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not contain Kong's schema_meta"));
    // An unwritable data directory: refused before anything starts.
    let o = kongrade(
        &db,
        Path::new("/proc/kongrade-cannot-write"),
        None,
        &["backup"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("KONGRADE_DATA_DIR"));
    let _ = psql_admin;
}
