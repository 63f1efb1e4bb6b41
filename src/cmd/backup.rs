//! `kongrade backup [--out FILE] [--json]`: a proven pg_dump of Kong's database, recorded in the
//! upgrade journal.

use std::io::Write;
use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result};

use super::context::Connection;
use super::Code;
use crate::contract::journal::Event;
use crate::exec::backup;
use crate::exec::datadir;
use crate::exec::journal::Journal;
use crate::store::postgres::{PgOptions, PgStore};

/// Where a backup goes by default: the data directory's `backups/`.
pub fn default_out(o: &PgOptions) -> Result<PathBuf> {
    let dir = datadir::sub_dir("backups")?;
    let (_, stamp) = datadir::utc_stamp(datadir::now_secs());
    let name: String = format!("{}-{}-{}", o.host, o.port, o.database)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Never an existing file: two backups in the same second get -2, -3...
    let mut path = dir.join(format!("{stamp}-{name}.dump"));
    let mut n = 1;
    while std::fs::symlink_metadata(&path).is_ok() {
        n += 1;
        path = dir.join(format!("{stamp}-{name}-{n}.dump"));
    }
    Ok(path)
}

/// What a backup needs before pg_dump starts: the connection and the file, refused up front
/// (Cassandra, or a disk that cannot hold the dump) rather than halfway.
pub async fn prepare(conn: &Connection, out: Option<PathBuf>) -> Result<(PgOptions, PathBuf)> {
    prepare_with(conn, out, false).await
}

/// [`prepare`]; `force` allows replacing an existing file at `out`.
pub async fn prepare_with(
    conn: &Connection,
    out: Option<PathBuf>,
    force: bool,
) -> Result<(PgOptions, PathBuf)> {
    let conf = &conn.conf;
    let Some(o) = conn.pg() else {
        let tag = format!("kongrade-{}", datadir::utc_stamp(datadir::now_secs()).1);
        let cmds = backup::cassandra_snapshot_commands(
            &conf.cassandra.contact_points,
            &conf.cassandra.keyspace,
            &tag,
        );
        return Err(eyre!(
            "Cassandra has no single dump kongrade can take: snapshot every node of the ring (kong.conf names {}; add the others):\n  {}\nthen record it in the wizard's Backup step (\"I have my own backup\", reference {tag})",
            conf.cassandra.contact_points.join(", "),
            cmds.join("\n  ")
        ));
    };
    let out = match out {
        Some(p) => p,
        None => default_out(o)?,
    };
    // The target is judged before anything starts: no symlink, no silent overwrite, missing
    // directories created 0700.
    if let Some(dir) = out.parent() {
        backup::ensure_dir(dir)?;
    }
    backup::check_target(&out, force)?;
    // Refuse before starting, not halfway: the dump must fit (custom format compresses, but
    // plan for the worst).
    let store = PgStore::connect(o).await?;
    let size = store.database_size().await?;
    let dir = out
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    if let Some(free) = datadir::free_bytes(if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        &dir
    }) {
        if free < size + size / 5 + (16 << 20) {
            return Err(eyre!(
                "not enough room for the backup in {}: {} MB free, the database is {} MB; pass --out on a larger disk",
                dir.display(),
                free >> 20,
                size >> 20
            ));
        }
    }
    Ok((o.clone(), out))
}

/// Takes, proves and journals a backup. Progress goes to stderr when `show_progress`.
/// `journal`: the caller's open journal (auto), else this opens the database's own. (The wizard
/// runs [`prepare`] and `exec::backup::pg_dump` itself, journaling through its model.)
pub async fn take(
    conn: &Connection,
    out: Option<PathBuf>,
    force: bool,
    show_progress: bool,
    journal: Option<&mut Journal>,
) -> Result<crate::contract::BackupRecord> {
    let (o, out) = prepare_with(conn, out, force).await?;
    let mut own;
    let journal = match journal {
        Some(j) => j,
        None => {
            own = Journal::open_for(&datadir::sub_dir("journal")?, &conn.endpoint.identity())?.0;
            &mut own
        }
    };
    journal.append(Event::Step {
        step: "backup".into(),
        phase: "started".into(),
        detail: Some(format!("pg_dump --format=custom --file {}", out.display())),
    })?;
    let res = backup::pg_dump_to(&o, &out, force, |p| {
        if show_progress {
            eprint!(
                "\r  pg_dump: {:>8} KB, {:>5.1} s",
                p.bytes >> 10,
                p.elapsed.as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    })
    .await;
    if show_progress {
        eprintln!();
    }
    match res {
        Ok(rec) => {
            journal.append(Event::Backup {
                record: rec.clone(),
            })?;
            journal.append(Event::Step {
                step: "backup".into(),
                phase: "done".into(),
                detail: None,
            })?;
            Ok(rec)
        }
        Err(e) => {
            journal.append(Event::Step {
                step: "backup".into(),
                phase: "failed".into(),
                detail: Some(format!("{e:#}")),
            })?;
            Err(e)
        }
    }
}

pub async fn run(conn: &Connection, out: Option<PathBuf>, force: bool, json: bool) -> Result<Code> {
    let rec = take(conn, out, force, !json, None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
    } else {
        println!("Backup written and verified: {}", rec.file.display());
        println!("  {} bytes, sha256 {}", rec.bytes, rec.sha256);
        println!(
            "  {} archive entries, schema_meta present ({})",
            rec.entries, rec.pg_dump_version
        );
        println!(
            "  restore with: {}",
            conn.pg()
                .map(|o| backup::restore_command(o, &rec.file))
                .unwrap_or_default()
        );
    }
    Ok(0)
}
