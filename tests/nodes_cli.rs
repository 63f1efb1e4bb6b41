//! `kongrade nodes` against loopback HTTP servers that answer like Kong Admin APIs of given
//! versions (plus one that hangs, one that is not Kong, one that redirects), and hybrid data
//! planes in a real PostgreSQL: the finish gate closed and opened by each.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use support::kong_db;
use support::pg::TestDb;

/// Serves one fixed answer to every connection, on a thread, until the test binary ends.
fn server(answer: Option<String>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            match &answer {
                Some(a) => {
                    let mut buf = [0u8; 2048];
                    let _ = c.read(&mut buf);
                    let _ = c.write_all(a.as_bytes());
                }
                // The hanging node: accept and never answer.
                None => held.push(c),
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn kong_answer(version: &str, host: &str) -> Option<String> {
    let body = format!(
        r#"{{"version":"{version}","hostname":"{host}","node_id":"6a1f9d3c-0b2e-4c8d-9e7f-1a2b3c4d5e6f","tagline":"Welcome to kong","lua_version":"LuaJIT 2.1.0-beta3"}}"#
    );
    Some(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

fn nodes(db: &TestDb, extra: &[&str]) -> Output {
    let mut args = vec![
        "nodes",
        "--target-version",
        "3.4.2",
        "--probe-timeout",
        "700",
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_kongrade"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .envs(db.kong_env())
        .args(&args)
        .output()
        .unwrap()
}

#[test]
fn the_gate_follows_every_kind_of_node() {
    let db = TestDb::new("nodes");
    kong_db::bootstrap_at(&db, "3.4.2", None);
    let old = server(kong_answer("2.8.5", "gw-old"));
    let new = server(kong_answer("3.4.2", "gw-new"));
    let hang = server(None);
    let html = server(Some(
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>".into(),
    ));
    let redirect = server(Some(
        "HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n".into(),
    ));
    let weird = server(kong_answer("nightly", "gw-weird"));

    // One old node: closed, exit 7, and it says which.
    let o = nodes(&db, &["--admin-url", &old, "--admin-url", &new]);
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("OLD 2.8.5") && out.contains("CLOSED"), "{out}");

    // Only new nodes, one hanging, one not Kong, a redirect: open, the hang cut by a timeout.
    let o = nodes(
        &db,
        &[
            "--json",
            "--admin-url",
            &new,
            "--admin-url",
            &hang,
            "--admin-url",
            &html,
            "--admin-url",
            &redirect,
            "--admin-url",
            "not a url",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let classes: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["class"]["class"].as_str().unwrap())
        .collect();
    assert_eq!(
        classes,
        vec!["new", "unreachable", "not_kong", "not_kong", "unreachable"]
    );
    assert_eq!(v["gate"]["open"], true);
    // The hang ended by the probe's own timeout, not by waiting for the node.
    assert!(v.to_string().contains("no answer within"), "{v}");

    // A Kong whose version cannot be read is treated as possibly old.
    let o = nodes(&db, &["--admin-url", &weird]);
    assert_eq!(o.status.code(), Some(7));

    // A data plane on 2.8.5 seen 10 s ago closes the gate; one seen 10 minutes ago does not.
    db.exec("CREATE TABLE clustering_data_planes (id uuid PRIMARY KEY, hostname text, ip text, last_seen timestamptz, config_hash text, ttl timestamptz, version text, sync_status text)");
    db.exec("INSERT INTO clustering_data_planes (id, hostname, ip, last_seen, version) VALUES ('11111111-2222-4333-8444-555555555555', 'dp-old', '10.1.0.9', now() - interval '10 minutes', '2.8.5')");
    let o = nodes(&db, &["--admin-url", &new]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    db.exec("UPDATE clustering_data_planes SET last_seen = now() - interval '10 seconds'");
    let o = nodes(&db, &["--admin-url", &new]);
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stdout).contains("data plane dp-old"));

    // A nodes file with a manual entry: closed until the operator confirms it (in the wizard).
    db.exec("DELETE FROM clustering_data_planes");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("nodes.json");
    std::fs::write(
        &f,
        format!(r#"{{"admin_urls": ["{new}"], "manual_nodes": ["legacy-vm-3"]}}"#),
    )
    .unwrap();
    let o = nodes(&db, &["--nodes-file", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stdout).contains("legacy-vm-3"));
    std::fs::write(&f, "{ not json").unwrap();
    let o = nodes(&db, &["--nodes-file", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a nodes file"));
}
