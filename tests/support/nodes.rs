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
