//! The backup step: `pg_dump` in custom format, watched while it runs, then proven: `pg_restore
//! --list` must read it and list Kong's `schema_meta`. The password travels in PGPASSWORD only.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, Result, WrapErr};
use sha2::{Digest, Sha256};

use crate::contract::BackupRecord;
use crate::store::postgres::PgOptions;

/// Whether a recorded backup's file is still there with its recorded size: a deleted or
/// truncated dump must not count as the backup a rollback relies on.
pub fn record_still_matches(rec: &BackupRecord) -> bool {
    std::fs::symlink_metadata(&rec.file).is_ok_and(|m| m.is_file() && m.len() == rec.bytes)
}

/// Progress while pg_dump runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub elapsed: Duration,
}

/// The environment every libpq child gets: connection facts, never in argv for the password.
pub fn libpq_env(o: &PgOptions) -> Vec<(String, String)> {
    let mut env = vec![
        ("PGHOST".to_string(), o.host.clone()),
        ("PGPORT".to_string(), o.port.to_string()),
        ("PGUSER".to_string(), o.user.clone()),
        ("PGDATABASE".to_string(), o.database.clone()),
        (
            "PGCONNECT_TIMEOUT".to_string(),
            o.timeout.as_secs().max(2).to_string(),
        ),
        ("PGAPPNAME".to_string(), "kongrade-backup".to_string()),
        // Keep the developer's ~/.pgpass or service file from choosing another server.
        ("PGSERVICEFILE".to_string(), "/dev/null".to_string()),
    ];
    if let Some(p) = &o.password {
        env.push(("PGPASSWORD".to_string(), p.expose().to_string()));
    }
    let sslmode = match (o.ssl, o.ssl_verify) {
        (false, _) => "disable",
        (true, false) => "require",
        (true, true) => "verify-full",
    };
    env.push(("PGSSLMODE".to_string(), sslmode.to_string()));
    if o.ssl && o.ssl_verify {
        if let Some(ca) = o.trusted_certificates.iter().find(|c| *c != "system") {
            env.push(("PGSSLROOTCERT".to_string(), ca.clone()));
        } else {
            env.push(("PGSSLROOTCERT".to_string(), "system".to_string()));
        }
    }
    env
}

pub(crate) fn tool_version(tool: &str) -> Result<String> {
    let out = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .map_err(|e| {
            eyre!(
                "{tool} is not installed or not on PATH ({e}): install the PostgreSQL client tools of your server's major version (Debian/Ubuntu: apt-get install postgresql-client)"
            )
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Turns pg_dump's complaints into what to do.
pub(crate) fn explain_pg_dump_failure(stderr: &str) -> String {
    if stderr.contains("server version mismatch") {
        format!(
            "pg_dump is older than the server: {}\n  install the client tools of the server's major version (e.g. apt-get install postgresql-client-16) and put its pg_dump first on PATH",
            stderr.trim()
        )
    } else if stderr.contains("password authentication failed") {
        "pg_dump could not log in: check pg_user / pg_password (KONG_PG_PASSWORD)".to_string()
    } else if stderr.contains("No space left") {
        "the disk filled up while dumping: free space or pass --out on another disk".to_string()
    } else {
        format!("pg_dump failed: {}", stderr.trim())
    }
}

/// Creates the missing directories of `dir`, each 0700 (a dump is the whole database).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .wrap_err_with(|| format!("cannot create the directory {}", dir.display()))
}

/// Refuses a target kongrade must not write: a symbolic link (writing through it would replace
/// what it points to), anything but a regular file, or an existing file without `force`.
pub fn check_target(out: &Path, force: bool) -> Result<()> {
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(eyre!("cannot check {}: {e}", out.display())),
        Ok(m) if m.file_type().is_symlink() => Err(eyre!(
            "{} is a symbolic link: kongrade does not write a backup through one (it would replace what it points to); name the real file",
            out.display()
        )),
        Ok(m) if !m.is_file() => Err(eyre!(
            "{} exists and is not a regular file: name another --out",
            out.display()
        )),
        Ok(_) if !force => Err(eyre!(
            "{} already exists: pass --force to replace it, or name another --out",
            out.display()
        )),
        Ok(_) => Ok(()),
    }
}

/// Runs pg_dump into `out` (mode 0600), calling `progress` about five times a second, then
/// verifies the archive. An existing `out` is refused (see [`pg_dump_to`] for `force`).
pub async fn pg_dump(
    o: &PgOptions,
    out: &Path,
    progress: impl FnMut(Progress),
) -> Result<BackupRecord> {
    pg_dump_to(o, out, false, progress).await
}

/// [`pg_dump`], replacing an existing regular file when `force`. The dump goes to a new file
/// in the target's directory (O_EXCL, 0600), is proven and fsynced there, then renamed into
/// place: `out` is never a half-written or unproven dump, and a symlink at `out` is never
/// followed. A failed or unproven dump is removed; `out` is left as it was.
pub async fn pg_dump_to(
    o: &PgOptions,
    out: &Path,
    force: bool,
    mut progress: impl FnMut(Progress),
) -> Result<BackupRecord> {
    let version = tool_version("pg_dump")?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    ensure_dir(&dir)?;
    check_target(out, force)?;
    let name = out
        .file_name()
        .ok_or_else(|| eyre!("--out {} names no file", out.display()))?;
    let tmp = dir.join(format!(
        ".{}.kongrade-{}-{}.part",
        name.to_string_lossy(),
        std::process::id(),
        super::datadir::now_secs()
    ));
    {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .wrap_err_with(|| format!("cannot create the backup file {}", tmp.display()))?;
    }
    let res = dump_into(o, &tmp, &mut progress).await;
    let (entries, elapsed) = match res {
        Ok(x) => x,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let _ = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600));
    // On disk before it takes the target's name, and the name on disk too.
    let synced = fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| check_target(out, force).map_err(std::io::Error::other))
        .and_then(|_| fs::rename(&tmp, out))
        .and_then(|_| fs::File::open(&dir).and_then(|d| d.sync_all()));
    if let Err(e) = synced {
        let _ = fs::remove_file(&tmp);
        return Err(eyre!(
            "cannot put the backup in place at {}: {e}",
            out.display()
        ));
    }
    let bytes = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    progress(Progress { bytes, elapsed });
    Ok(BackupRecord {
        file: out.to_path_buf(),
        bytes,
        sha256: sha256_file(out)?,
        database: o.describe(),
        pg_dump_version: version,
        entries,
        elapsed_ms: elapsed.as_millis() as u64,
        created_at: super::datadir::utc_stamp(super::datadir::now_secs()).0,
    })
}

/// pg_dump into `file`, watched, then proven: (archive entries, time taken).
async fn dump_into(
    o: &PgOptions,
    file: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<(usize, Duration)> {
    let mut cmd = tokio::process::Command::new("pg_dump");
    cmd.args(["--format=custom", "--no-password", "--file"])
        .arg(file)
        .envs(libpq_env(o))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(schema) = &o.schema {
        cmd.arg(format!("--schema={schema}"));
    }
    let started = Instant::now();
    let mut child = cmd.spawn().wrap_err("cannot start pg_dump")?;
    let mut stderr = child.stderr.take();
    let err_task = tokio::spawn(async move {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            use tokio::io::AsyncReadExt;
            let _ = e.read_to_string(&mut s).await;
        }
        s
    });
    let status = loop {
        tokio::select! {
            st = child.wait() => break st.wrap_err("waiting for pg_dump")?,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let bytes = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                progress(Progress { bytes, elapsed: started.elapsed() });
            }
        }
    };
    let stderr = err_task.await.unwrap_or_default();
    if !status.success() {
        return Err(eyre!(explain_pg_dump_failure(&stderr)));
    }
    let entries = verify(file).await?;
    Ok((entries, started.elapsed()))
}

/// Why a backup the journal records can no longer count as one, if it cannot: the file must
/// still be the regular file kongrade wrote (not gone, not a symlink now), of the recorded
/// size and sha256, and `pg_restore --list` must read it. The journal alone proves nothing:
/// the dump may have been deleted, truncated or overwritten since.
pub async fn recheck(rec: &BackupRecord) -> Result<(), String> {
    let f = &rec.file;
    let meta = match fs::symlink_metadata(f) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the recorded backup {} is gone", f.display()))
        }
        Err(e) => {
            return Err(format!(
                "the recorded backup {} cannot be read: {e}",
                f.display()
            ))
        }
    };
    if meta.file_type().is_symlink() {
        return Err(format!(
            "the recorded backup {} is now a symbolic link, not the file kongrade wrote",
            f.display()
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "the recorded backup {} is no longer a regular file",
            f.display()
        ));
    }
    if meta.len() != rec.bytes {
        return Err(format!(
            "the recorded backup {} has changed: {} bytes, the journal recorded {}",
            f.display(),
            meta.len(),
            rec.bytes
        ));
    }
    match sha256_file(f) {
        Ok(h) if h == rec.sha256 => {}
        Ok(h) => {
            return Err(format!(
                "the recorded backup {} has changed: sha256 {h}, the journal recorded {}",
                f.display(),
                rec.sha256
            ))
        }
        Err(e) => return Err(format!("{e:#}")),
    }
    verify(f).await.map(|_| ()).map_err(|e| format!("{e:#}"))
}

/// `pg_restore --list` must read the archive and it must hold Kong's schema_meta.
pub async fn verify(file: &Path) -> Result<usize> {
    tool_version("pg_restore")?;
    let out = tokio::process::Command::new("pg_restore")
        .arg("--list")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .await
        .wrap_err("cannot run pg_restore --list")?;
    if !out.status.success() {
        return Err(eyre!(
            "the backup {} cannot be read back by pg_restore: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    let entries = listing
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .count();
    let has_meta = listing
        .lines()
        .any(|l| l.contains(" TABLE ") && l.split_whitespace().any(|w| w == "schema_meta"));
    if !has_meta {
        return Err(eyre!(
            "the backup {} does not contain Kong's schema_meta table: is this Kong's database (pg_database, pg_schema)?",
            file.display()
        ));
    }
    Ok(entries)
}

pub fn sha256_file(path: &Path) -> Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).wrap_err("reading the backup")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The command that restores a backup into the database, for rollback guidance.
pub fn restore_command(o: &PgOptions, file: &Path) -> String {
    format!(
        "PGPASSWORD=... pg_restore --clean --if-exists --no-owner -h {} -p {} -U {} -d {} {}",
        o.host,
        o.port,
        o.user,
        o.database,
        file.display()
    )
}

/// Cassandra has no single dump: one `nodetool snapshot` per node, under one tag so the set can
/// be found (and cleared) together. Contact points are only the nodes kong.conf names: the
/// operator must add the rest of the ring.
pub fn cassandra_snapshot_commands(
    contact_points: &[String],
    keyspace: &str,
    tag: &str,
) -> Vec<String> {
    contact_points
        .iter()
        .map(|h| format!("nodetool -h {h} snapshot -t {tag} {keyspace}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_snapshot_per_contact_point_under_one_tag() {
        let c = cassandra_snapshot_commands(
            &["10.0.0.1".into(), "10.0.0.2".into()],
            "kong",
            "kongrade-x",
        );
        assert_eq!(
            c,
            vec![
                "nodetool -h 10.0.0.1 snapshot -t kongrade-x kong",
                "nodetool -h 10.0.0.2 snapshot -t kongrade-x kong"
            ]
        );
    }

    #[test]
    fn libpq_env_carries_the_password_and_tls_mode() {
        let o = PgOptions {
            host: "db".into(),
            port: 5433,
            user: "kong".into(),
            password: Some("s3cret".into()),
            database: "kong".into(),
            schema: None,
            timeout: Duration::from_secs(5),
            ssl: true,
            ssl_verify: true,
            trusted_certificates: vec!["/etc/ca.pem".into()],
        };
        let env = libpq_env(&o);
        let get = |k: &str| env.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PGPASSWORD"), Some("s3cret"));
        assert_eq!(get("PGSSLMODE"), Some("verify-full"));
        assert_eq!(get("PGSSLROOTCERT"), Some("/etc/ca.pem"));
        assert_eq!(get("PGPORT"), Some("5433"));
    }
}
