//! A throwaway PostgreSQL cluster for the tests: `initdb` + `postgres` on a free port, one per
//! test binary, one fresh database per test. `KONGRADE_TEST_PG_URL` (a superuser URL such as
//! `postgres://postgres:pw@127.0.0.1:5432/postgres`) points the tests at an existing server.
//!
//! The server is started from a thread that lives as long as the test binary, with
//! PR_SET_PDEATHSIG, so it dies with the binary even when a test panics.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// The admin password of the throwaway cluster (its superuser is `postgres`).
pub const ADMIN_PASSWORD: &str = "kongrade-admin-pw";
/// Password of the `kong` role every test database is owned by.
pub const KONG_PASSWORD: &str = "kong-pass#word";

#[derive(Clone, Debug)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: String,
    /// Data directory, when the tests started the server themselves.
    pub data_dir: Option<PathBuf>,
    pub bin_dir: Option<PathBuf>,
    pub pid: Option<u32>,
    /// The CA that signed the server's certificate, when the tests started the server with TLS.
    pub tls_ca: Option<PathBuf>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KONGRADE_PG_BINDIR") {
        return PathBuf::from(d);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").exists());
    found.sort();
    found
        .pop()
        .expect("no PostgreSQL server binaries: install postgresql (apt-get install postgresql) or set KONGRADE_TEST_PG_URL")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// uid/gid of the `postgres` account: initdb refuses to run as root.
fn postgres_ids() -> (u32, u32) {
    let name = std::ffi::CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root needs a 'postgres' user to run the test server"
    );
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

fn as_server_user(cmd: &mut Command) {
    if is_root() {
        let (uid, gid) = postgres_ids();
        cmd.uid(uid).gid(gid);
    }
}

fn parse_url(url: &str) -> Server {
    // postgres://user:password@host:port/db
    let rest = url
        .split("://")
        .nth(1)
        .expect("KONGRADE_TEST_PG_URL: postgres://user:pw@host:port/db");
    let (auth, hostpart) = rest
        .split_once('@')
        .expect("KONGRADE_TEST_PG_URL needs user:password@");
    let (user, pw) = auth.split_once(':').unwrap_or((auth, ""));
    let hostport = hostpart.split('/').next().unwrap_or("127.0.0.1:5432");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    Server {
        host: host.to_string(),
        port: port.parse().expect("port in KONGRADE_TEST_PG_URL"),
        admin_user: user.to_string(),
        admin_password: pw.to_string(),
        data_dir: None,
        bin_dir: None,
        pid: None,
        tls_ca: None,
    }
}

/// A test CA and a server certificate for 127.0.0.1/localhost signed by it, made with the openssl
/// CLI. None when openssl is missing: the TLS tests then say they skipped.
fn make_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let run = |args: &[&str]| -> bool {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let ok = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kongrade test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]) && {
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .is_ok()
    } && run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]);
    ok.then(|| {
        (
            dir.join("ca.crt"),
            dir.join("server.crt"),
            dir.join("server.key"),
        )
    })
}

/// Removes data directories of earlier test binaries that are gone (their server died with them).
fn sweep_stale(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("pg-").and_then(|p| p.parse::<i32>().ok()) {
            let alive = unsafe { libc::kill(pid, 0) == 0 };
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn start_cluster() -> Server {
    let bin = bin_dir();
    let base = std::env::temp_dir().join("kongrade-tests");
    std::fs::create_dir_all(&base).expect("create temp dir");
    sweep_stale(&base);
    let dir = base.join(format!("pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create cluster dir");
    let data = dir.join("data");
    let sock = dir.join("sock");
    std::fs::create_dir_all(&sock).expect("socket dir");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, ADMIN_PASSWORD).expect("write pwfile");
    if is_root() {
        let (uid, gid) = postgres_ids();
        for p in [&base, &dir, &sock, &pwfile] {
            let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
            unsafe { libc::chown(c.as_ptr(), uid, gid) };
        }
        let c = std::ffi::CString::new(base.to_string_lossy().as_bytes()).unwrap();
        unsafe { libc::chmod(c.as_ptr(), 0o1777) };
    }

    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_server_user(&mut initdb);
    let out = initdb.output().expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let certs = make_certs(&dir);
    if let Some((_, crt, key)) = &certs {
        if is_root() {
            let (uid, gid) = postgres_ids();
            for p in [crt, key] {
                let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
                unsafe { libc::chown(c.as_ptr(), uid, gid) };
            }
        }
        let c = std::ffi::CString::new(key.to_string_lossy().as_bytes()).unwrap();
        unsafe { libc::chmod(c.as_ptr(), 0o600) };
    }
    let tls_args: Vec<String> = match &certs {
        Some((_, crt, key)) => vec![
            "-c".into(),
            "ssl=on".into(),
            "-c".into(),
            format!("ssl_cert_file={}", crt.display()),
            "-c".into(),
            format!("ssl_key_file={}", key.display()),
        ],
        None => vec![],
    };
    let port = free_port();
    let (tx, rx) = mpsc::channel();
    let data2 = data.clone();
    let sock2 = sock.clone();
    let bin2 = bin.clone();
    let log = dir.join("server.log");
    // The server's parent must outlive every test: PR_SET_PDEATHSIG fires when the *thread*
    // that forked it ends, so a dedicated thread forks it and then parks forever.
    std::thread::spawn(move || {
        let logf = std::fs::File::create(&log).expect("server log");
        let mut cmd = Command::new(bin2.join("postgres"));
        cmd.arg("-D")
            .arg(&data2)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(&sock2)
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args([
                "-c",
                "max_connections=200",
                "-c",
                "TimeZone=America/New_York",
            ])
            .args(&tls_args)
            .stdout(Stdio::null())
            .stderr(logf);
        as_server_user(&mut cmd);
        unsafe {
            cmd.pre_exec(|| {
                // SIGQUIT = immediate shutdown: the cluster is disposable.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start postgres");
        tx.send(child.id()).expect("report pid");
        let mut child = child;
        let _ = child.wait();
        loop {
            std::thread::park();
        }
    });
    let pid = rx.recv().expect("postgres pid");
    let server = Server {
        host: "127.0.0.1".into(),
        port,
        admin_user: "postgres".into(),
        admin_password: ADMIN_PASSWORD.into(),
        data_dir: Some(data),
        bin_dir: Some(bin),
        pid: Some(pid),
        tls_ca: certs.map(|(ca, _, _)| ca),
    };
    wait_ready(&server, Duration::from_secs(30));
    server
}

pub fn wait_ready(server: &Server, limit: Duration) {
    let start = Instant::now();
    loop {
        let out = psql_cmd(server, "postgres")
            .args(["-c", "select 1"])
            .output();
        if let Ok(o) = out {
            if o.status.success() {
                return;
            }
        }
        if start.elapsed() > limit {
            let log = server
                .data_dir
                .as_ref()
                .and_then(|d| d.parent().map(|p| p.join("server.log")))
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            panic!(
                "PostgreSQL did not become ready on port {}: {log}",
                server.port
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let s = match std::env::var("KONGRADE_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => parse_url(&url),
            _ => start_cluster(),
        };
        // The `kong` role every test database is owned by (ignore "already exists").
        let _ = psql_admin(
            &s,
            "postgres",
            &format!(
                "CREATE ROLE kong LOGIN PASSWORD '{}'",
                KONG_PASSWORD.replace('\'', "''")
            ),
        );
        s
    })
}

/// A psql command as the admin, over TCP with the password in the environment.
pub fn psql_cmd(server: &Server, db: &str) -> Command {
    let mut c = Command::new("psql");
    c.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        &server.host,
        "-p",
        &server.port.to_string(),
    ])
    .args(["-U", &server.admin_user, "-d", db])
    .env("PGPASSWORD", &server.admin_password)
    .env("PGCONNECT_TIMEOUT", "5")
    .stdin(Stdio::null());
    c
}

pub fn psql_admin(server: &Server, db: &str, sql: &str) -> Result<String, String> {
    let out = psql_cmd(server, db)
        .args(["-At", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// A fresh database owned by `kong`, dropped when the value is dropped.
pub struct TestDb {
    pub server: Server,
    pub name: String,
}

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        let server = server().clone();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!("t_{}_{}_{}", std::process::id(), n, clean);
        let name: String = name.chars().take(60).collect();
        psql_admin(
            &server,
            "postgres",
            &format!("CREATE DATABASE \"{name}\" OWNER kong"),
        )
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        TestDb { server, name }
    }

    /// Runs SQL in this database as the `kong` role (as Kong itself would).
    pub fn exec(&self, sql: &str) -> String {
        let out = psql_cmd(&self.server, &self.name)
            .env("PGPASSWORD", KONG_PASSWORD)
            .args(["-U", "kong", "-At"])
            .arg("-c")
            .arg(sql)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}\nSQL: {sql}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// A kong.conf for this database, written into `dir`.
    pub fn write_kong_conf(&self, dir: &Path, extra: &str) -> PathBuf {
        let p = dir.join("kong.conf");
        let body = format!(
            "# written by the kongrade tests\ndatabase = postgres\npg_host = {}\npg_port = {}\npg_user = kong\npg_password = {}\npg_database = {}\n{extra}\n",
            self.server.host,
            self.server.port,
            KONG_PASSWORD.replace('#', "\\#"),
            self.name
        );
        std::fs::write(&p, body).expect("write kong.conf");
        p
    }

    /// Environment variables that point a kongrade or kong process at this database.
    pub fn kong_env(&self) -> Vec<(String, String)> {
        vec![
            ("KONG_DATABASE".into(), "postgres".into()),
            ("KONG_PG_HOST".into(), self.server.host.clone()),
            ("KONG_PG_PORT".into(), self.server.port.to_string()),
            ("KONG_PG_USER".into(), "kong".into()),
            ("KONG_PG_PASSWORD".into(), KONG_PASSWORD.into()),
            ("KONG_PG_DATABASE".into(), self.name.clone()),
        ]
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = psql_admin(
            &self.server,
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// Reads a whole file (for log assertions).
pub fn read_to_string(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// `pg_ctl` on the test cluster as the server's user. Errors when the tests did not start the
/// cluster themselves (KONGRADE_TEST_PG_URL).
fn pg_ctl(server: &Server, args: &[&str]) -> Result<(), String> {
    let (Some(data), Some(bin)) = (&server.data_dir, &server.bin_dir) else {
        return Err("the cluster was not started by the tests".into());
    };
    let mut c = Command::new(bin.join("pg_ctl"));
    c.arg("-D").arg(data).args(args);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_server_user(&mut c);
    let out = c.output().map_err(|e| format!("pg_ctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// Stops the test cluster (fast shutdown: sessions are cut). Only for a test binary whose tests
/// all expect it (the cluster is shared by the tests of one binary).
pub fn stop_server(server: &Server) -> Result<(), String> {
    pg_ctl(server, &["stop", "-m", "fast", "-w"])
}

/// Starts the stopped cluster again on the same port. It then runs detached from the test
/// binary: call [`stop_server`] when done.
pub fn restart_server(server: &Server) -> Result<(), String> {
    let dir = server
        .data_dir
        .as_ref()
        .and_then(|d| d.parent())
        .ok_or("no cluster directory")?;
    let opts = format!(
        "-p {} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c max_connections=200 -c TimeZone=America/New_York",
        server.port,
        dir.join("sock").display()
    );
    let log = dir.join("server-restarted.log");
    pg_ctl(
        server,
        &["start", "-w", "-l", &log.display().to_string(), "-o", &opts],
    )?;
    wait_ready(server, Duration::from_secs(30));
    Ok(())
}

/// `ALTER ROLE kong CREATEDB` for the clone and rehearse tests. Tests in one binary run in
/// parallel, and PostgreSQL refuses two concurrent updates of one role's row ("tuple
/// concurrently updated"): the grant is idempotent, so it is retried.
pub fn grant_createdb() {
    let mut last = String::new();
    for _ in 0..50 {
        match psql_admin(server(), "postgres", "ALTER ROLE kong CREATEDB") {
            Ok(_) => return,
            Err(e) if e.contains("concurrently updated") => {
                last = e;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("ALTER ROLE kong CREATEDB: {e}"),
        }
    }
    panic!("ALTER ROLE kong CREATEDB kept racing: {last}");
}

/// A database name a test owns (a clone, a scratch copy), dropped at the end whatever happened.
pub struct Scratch(pub String);

impl Scratch {
    /// `<source>_<tag>`, cut to PostgreSQL's 63 bytes.
    pub fn new(src: &TestDb, tag: &str) -> Scratch {
        Scratch(format!("{}_{tag}", src.name).chars().take(63).collect())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = psql_admin(
            server(),
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0),
        );
    }
}
