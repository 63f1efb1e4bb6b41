//! `GET /` on a Kong Admin API: a small HTTP/1.1 client (plain or TLS) with a hard deadline, so
//! a URL that hangs, redirects or answers garbage becomes a classified row, never a hang.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::kong::nodes::ProbeAnswer;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOptions {
    pub timeout: Duration,
    /// Sent as `Kong-Admin-Token` (Kong Enterprise RBAC).
    pub admin_token: Option<String>,
    /// Verify the Admin API's certificate (against `ca_files`, or the system bundle).
    pub verify_tls: bool,
    pub ca_files: Vec<String>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: Duration::from_secs(3),
            admin_token: None,
            verify_tls: true,
            ca_files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// `http(s)://host[:port][/path]`, IPv6 in brackets. Anything else is an error to show.
pub fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(format!(
            "'{url}': credentials in the URL are not supported; use --admin-token"
        ));
    }
    let default_port = if tls { 8444 } else { 8001 };
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let end = r
            .find(']')
            .ok_or_else(|| format!("'{url}': unclosed IPv6 bracket"))?;
        let host = &r[..end];
        let port = match r[end + 1..].strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("'{url}': bad port"))?,
            None => default_port,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("'{url}': bad port '{p}'"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    Ok(ParsedUrl {
        tls,
        host,
        port,
        path: path.to_string(),
    })
}

/// The largest answer read; Kong's `GET /` is a few KB.
const MAX_BODY: usize = 1 << 20;

pub async fn probe(url: &str, opts: &ProbeOptions) -> ProbeAnswer {
    match tokio::time::timeout(opts.timeout, probe_inner(url, opts)).await {
        Ok(Ok(a)) => a,
        Ok(Err(error)) => ProbeAnswer::Failed { error },
        Err(_) => ProbeAnswer::Failed {
            error: format!("no answer within {} ms", opts.timeout.as_millis()),
        },
    }
}

async fn probe_inner(url: &str, opts: &ProbeOptions) -> Result<ProbeAnswer, String> {
    let u = parse_url(url)?;
    let tcp = TcpStream::connect((u.host.as_str(), u.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", u.host, u.port))?;
    let host_header = if u.host.contains(':') {
        format!("[{}]", u.host)
    } else {
        u.host.clone()
    };
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: kongrade/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        u.path,
        host_header,
        u.port,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(t) = &opts.admin_token {
        req.push_str(&format!("Kong-Admin-Token: {t}\r\n"));
    }
    req.push_str("\r\n");
    let raw = if u.tls {
        let cfg = crate::store::tls::client_config(opts.verify_tls, &opts.ca_files)
            .map_err(|e| format!("{e:#}"))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let name = ServerName::try_from(u.host.clone())
            .map_err(|e| format!("bad TLS name {}: {e}", u.host))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        exchange(tls, &req).await?
    } else {
        exchange(tcp, &req).await?
    };
    parse_response(&raw)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &str,
) -> Result<Vec<u8>, String> {
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_BODY {
                    return Err("answer larger than 1 MB: not Kong's Admin API".into());
                }
            }
            // A TLS peer closing without close_notify still delivered everything we need.
            Err(e) if !buf.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(buf)
}

/// Status line, headers (Location, Transfer-Encoding, Content-Length) and body.
pub fn parse_response(raw: &[u8]) -> Result<ProbeAnswer, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| "not an HTTP answer".to_string())?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let proto = parts.next().unwrap_or_default();
    if !proto.starts_with("HTTP/") {
        return Err(format!(
            "not an HTTP answer: {:?}",
            status_line.chars().take(60).collect::<String>()
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line: {status_line:?}"))?;
    let mut location = None;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            match k.as_str() {
                "location" => location = Some(v.to_string()),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                "content-length" => length = v.parse().ok(),
                _ => {}
            }
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = length {
        body.truncate(n);
    }
    Ok(ProbeAnswer::Http {
        status,
        body: String::from_utf8_lossy(&body).to_string(),
        location,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| "truncated chunked body".to_string())?;
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size".to_string())?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err("truncated chunked body".into());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://10.0.0.5:8001").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (false, "10.0.0.5", 8001, "/")
        );
        let u = parse_url("https://[::1]/admin/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "::1", 8444, "/admin/")
        );
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://:80").is_err());
        assert!(parse_url("http://h:99999").is_err());
        assert!(parse_url("http://u:p@h").is_err());
        assert!(parse_url("localhost:8001").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx").unwrap();
        assert_eq!(
            r,
            ProbeAnswer::Http {
                status: 200,
                body: "{}".into(),
                location: None
            }
        );
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n").unwrap();
        assert!(matches!(r, ProbeAnswer::Http { ref body, .. } if body == "{\"a\":1}"));
        let r = parse_response(b"HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n").unwrap();
        assert!(matches!(
            r,
            ProbeAnswer::Http {
                status: 302,
                location: Some(_),
                ..
            }
        ));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"garbage").is_err());
    }
}
