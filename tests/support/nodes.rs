//! Stand-ins for Kong nodes' Admin APIs on loopback: one that answers `GET /` as Kong of a
//! version, one stopped (connecting is refused), and the flags a strategy needs of them.

/// Serves one fixed Kong-like `GET /` answer (`version`, traditional on PostgreSQL) on loopback
/// until the test binary ends.
pub fn admin_api(version: &str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let body = format!(
        r#"{{"version":"{version}","hostname":"gw","node_id":"n","tagline":"Welcome to kong","configuration":{{"role":"traditional","database":"postgres"}}}}"#
    );
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A loopback URL where nothing listens (a stopped node): a TCP socket bound and never put to
/// listen, kept open for the test's life, so connecting is refused and no other test can take
/// the port in the meantime (a bound-then-dropped port could be reused by a parallel bind).
pub fn stopped_node() -> String {
    // SAFETY: plain socket calls on a local fd and a zeroed sockaddr_in we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        addr.sin_port = 0;
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "bind");
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        let rc = libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut glen);
        assert_eq!(rc, 0, "getsockname");
        // The fd stays open (never closed) until the test process ends.
        format!("http://127.0.0.1:{}", u16::from_be(got.sin_port))
    }
}

/// `auto --strategy in-place` with writes frozen and the old node stopped (its Admin API given,
/// refusing connections): how auto runs a jump Kong's guide refuses blue-green for (the LTS
/// pair 2.8 -> 3.4), `up` and `finish` in one run.
pub fn in_place() -> Vec<String> {
    [
        "--strategy",
        "in-place",
        "--writes-frozen",
        "--admin-url",
        &stopped_node(),
    ]
    .map(String::from)
    .to_vec()
}

/// `--admin-url` of an old node answering Kong 2.8.5: from it Kong's guide allows blue-green
/// (auto's own shared-database procedure, no --strategy) to 3.0.
pub fn old_node_285() -> Vec<String> {
    vec!["--admin-url".into(), admin_api("2.8.5")]
}

/// `a` then `b`, as one argument list.
pub fn args(a: &[&str], b: &[String]) -> Vec<String> {
    a.iter()
        .map(|s| s.to_string())
        .chain(b.iter().cloned())
        .collect()
}

/// A new node's Admin API and proxy in one loopback server whose version can change while a
/// test runs (a node that starts answering as the target): `GET /fail...` answers 503, any
/// other request 200 with Kong's `GET /` body (and `database.reachable`, as `/status` has it).
pub struct SwitchNode {
    pub url: String,
    version: std::sync::Arc<std::sync::Mutex<String>>,
}

impl SwitchNode {
    pub fn start(version: &str) -> SwitchNode {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(version.to_string()));
        let v = shared.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let mut buf = [0u8; 2048];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let version = v.lock().map(|g| g.clone()).unwrap_or_default();
                let (status, body) = if path.starts_with("/fail") {
                    (
                        "503 Service Unavailable",
                        "{\"message\":\"failure\"}".to_string(),
                    )
                } else {
                    (
                        "200 OK",
                        format!(
                            r#"{{"version":"{version}","hostname":"new","node_id":"n","tagline":"Welcome to kong","configuration":{{"role":"traditional","database":"postgres"}},"database":{{"reachable":true}}}}"#
                        ),
                    )
                };
                let _ = c.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        SwitchNode {
            url: format!("http://127.0.0.1:{port}"),
            version: shared,
        }
    }

    /// From now on the node answers as Kong `version`.
    pub fn set_version(&self, version: &str) {
        *self.version.lock().unwrap() = version.to_string();
    }
}

/// A loopback URL that accepts connections and never answers (a proxy that hangs).
pub fn silent_node() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A new-cluster node on one loopback port until the test binary ends: its Admin API (`GET /`
/// with `version`, `/status` with the database reachable), its Status API (`/status/ready`
/// 200) and its proxy (`/health` 200); anything else 404.
pub fn new_node(version: &str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let version = version.to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = match path.as_str() {
                "/" => (
                    200,
                    format!(r#"{{"version":"{version}","hostname":"new-1"}}"#),
                ),
                "/status" => (200, r#"{"database":{"reachable":true}}"#.to_string()),
                "/status/ready" => (200, "{}".to_string()),
                "/health" => (200, "ok".to_string()),
                _ => (404, "{}".to_string()),
            };
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}
