//! The upgrade journal: one JSON-lines file per upgrade in the data directory, mode 0600, every
//! entry fsynced before the action it announces, so an upgrade that spans days survives a closed
//! laptop. Never holds a password. One process at a time: a lock file held with flock(2).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};

use super::datadir::{now_secs, utc_stamp};
use crate::contract::journal::{DbIdentity, Entry, Event, ReadBack};

/// Reads a journal, skipping (with a warning) lines that are truncated or corrupt: a crash
/// mid-write must not lose the rest.
pub fn read(path: &Path) -> Result<ReadBack> {
    let f =
        File::open(path).wrap_err_with(|| format!("cannot open the journal {}", path.display()))?;
    let mut rb = ReadBack::default();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                rb.warnings.push(format!(
                    "{} line {}: unreadable ({e}), skipped",
                    path.display(),
                    i + 1
                ));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(e) => rb.entries.push(e),
            Err(e) => rb.warnings.push(format!(
                "{} line {}: not a journal entry ({e}), skipped",
                path.display(),
                i + 1
            )),
        }
    }
    Ok(rb)
}

/// An open journal this process writes to.
pub struct Journal {
    pub path: PathBuf,
    file: File,
    _lock: File,
    seq: u64,
}

fn lock_path(path: &Path) -> PathBuf {
    path.with_extension("lock")
}

/// Takes the journal's lock file, or says which process holds it.
fn take_lock(path: &Path) -> Result<File> {
    let lp = lock_path(path);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lp)
        .wrap_err_with(|| format!("cannot open {}", lp.display()))?;
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let holder = fs::read_to_string(&lp).unwrap_or_default();
        return Err(eyre!(
            "another kongrade ({}) has this upgrade's journal open: {}\n  finish or quit it first; `kongrade journal show` reads it without taking it",
            holder.trim(),
            path.display()
        ));
    }
    f.set_len(0).ok();
    let _ = writeln!(f, "pid {}", std::process::id());
    Ok(f)
}

impl Journal {
    /// Opens the newest unfinished journal of this database, or starts a new one. Returns what
    /// the earlier run recorded, so the caller can resume.
    pub fn open_for(dir: &Path, id: &DbIdentity) -> Result<(Journal, ReadBack, bool)> {
        super::datadir::ensure_private_dir(dir)?;
        if let Some(path) = unfinished(dir, id)? {
            let lock = take_lock(&path)?;
            let rb = read(&path)?;
            let mut file = OpenOptions::new()
                .append(true)
                .open(&path)
                .wrap_err_with(|| format!("cannot append to {}", path.display()))?;
            // A crash mid-write leaves a line without its newline: end it, or the next entry
            // would be glued to the torn one and lost with it.
            let content = fs::read(&path).unwrap_or_default();
            if content.last().is_some_and(|b| *b != b'\n') {
                file.write_all(b"\n")
                    .and_then(|_| file.sync_all())
                    .wrap_err_with(|| format!("cannot repair {}", path.display()))?;
            }
            let seq = rb.entries.iter().map(|e| e.seq).max().unwrap_or(0);
            return Ok((
                Journal {
                    path,
                    file,
                    _lock: lock,
                    seq,
                },
                rb,
                true,
            ));
        }
        let (_, stamp) = utc_stamp(now_secs());
        let mut path = dir.join(format!("{stamp}-{}.jsonl", id.key()));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = dir.join(format!("{stamp}-{}-{n}.jsonl", id.key()));
        }
        let lock = take_lock(&path)?;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .wrap_err_with(|| format!("cannot create the journal {}", path.display()))?;
        let mut j = Journal {
            path,
            file,
            _lock: lock,
            seq: 0,
        };
        // The first entry names the database, so the journal can be found again to resume.
        j.append(Event::Opened {
            database: id.clone(),
            source: None,
            target: None,
            kongrade: env!("CARGO_PKG_VERSION").to_string(),
        })?;
        Ok((j, ReadBack::default(), false))
    }

    /// Appends and fsyncs one entry: when this returns, the entry is on disk.
    pub fn append(&mut self, event: Event) -> Result<Entry> {
        self.seq += 1;
        let entry = Entry {
            seq: self.seq,
            at: utc_stamp(now_secs()).0,
            event,
        };
        let mut line = serde_json::to_string(&entry).wrap_err("encoding a journal entry")?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_all())
            .wrap_err_with(|| {
                format!(
                    "cannot write the journal {} (disk full?)",
                    self.path.display()
                )
            })?;
        Ok(entry)
    }
}

/// When the last successful `kong migrations up` of this database's open upgrade ended (seconds
/// since the epoch), from its journal: the baseline for "written since up".
pub fn last_up_finished(dir: &Path, id: &DbIdentity) -> Result<Option<u64>> {
    let Some(path) = unfinished(dir, id)? else {
        return Ok(None);
    };
    let rb = read(&path)?;
    Ok(rb.entries.iter().rev().find_map(|e| match &e.event {
        Event::CommandExit {
            command_line,
            code: Some(0),
            ..
        } if command_line.contains("migrations up") => super::datadir::parse_utc_stamp(&e.at),
        _ => None,
    }))
}

/// Journal files in the directory, newest first.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .wrap_err_with(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    v.sort();
    v.reverse();
    Ok(v)
}

/// The newest journal of this database that was not closed.
pub fn unfinished(dir: &Path, id: &DbIdentity) -> Result<Option<PathBuf>> {
    for p in list(dir)? {
        let rb = read(&p)?;
        if rb.identity() == Some(id) && !rb.closed() {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> DbIdentity {
        DbIdentity {
            kind: "postgres".into(),
            host: "127.0.0.1".into(),
            port: 5432,
            database: "kong".into(),
            schema: None,
        }
    }

    #[test]
    fn append_read_resume_and_close() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, rb, resumed) = Journal::open_for(dir.path(), &id()).unwrap();
        assert!(!resumed && rb.entries.is_empty());
        j.append(Event::Step {
            step: "backup".into(),
            phase: "done".into(),
            detail: None,
        })
        .unwrap();
        let path = j.path.clone();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A second process (here: a second open) is refused while the first holds it.
        let e = Journal::open_for(dir.path(), &id()).err().unwrap();
        assert!(e.to_string().contains("another kongrade"), "{e}");
        drop(j);
        // A torn last line is skipped with a warning, the rest kept.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"at\":\"x\",\"event\":\"st")
            .unwrap();
        drop(f);
        let (mut j, rb, resumed) = Journal::open_for(dir.path(), &id()).unwrap();
        assert!(resumed);
        assert_eq!(rb.completed_steps(), vec!["backup"]);
        assert_eq!(rb.warnings.len(), 1);
        let e = j
            .append(Event::Closed {
                outcome: "done".into(),
            })
            .unwrap();
        assert_eq!(e.seq, 3);
        assert!(matches!(rb.entries[0].event, Event::Opened { .. }));
        drop(j);
        // Closed: the next open starts a new journal.
        let (_j, rb, resumed) = Journal::open_for(dir.path(), &id()).unwrap();
        assert!(!resumed && rb.entries.is_empty());
        assert_eq!(list(dir.path()).unwrap().len(), 2);
    }
}
