//! The upgrade journal: one JSON-lines file per upgrade in the data directory, mode 0600, every
//! entry fsynced before the action it announces, so an upgrade that spans days survives a closed
//! laptop. Never holds a password. One process at a time: a lock file held with flock(2).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};

use super::datadir::{now_secs, utc_stamp};
use crate::contract::journal::{DbIdentity, Entry, Event, ReadBack};

/// The longest journal line read: entries are a few hundred bytes; a longer line is damage.
pub const MAX_LINE: usize = 1 << 20;

/// Reads a journal, skipping (with a warning) lines that are truncated or corrupt: a crash
/// mid-write must not lose the rest. Only a regular file (not a FIFO or a device).
pub fn read(path: &Path) -> Result<ReadBack> {
    let f =
        crate::bounded::open_regular(path).map_err(|e| eyre!("cannot open the journal: {e}"))?;
    read_from(BufReader::new(f), &path.display().to_string())
        .wrap_err_with(|| format!("cannot read the journal {}", path.display()))
}

/// [`read`] of any reader; `label` names it in warnings. Lines longer than [`MAX_LINE`] are
/// skipped without being held in memory whole.
pub fn read_from(mut r: impl BufRead, label: &str) -> std::io::Result<ReadBack> {
    let mut rb = ReadBack::default();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            // Skip to the end of this line, a chunk at a time.
            let mut total = buf.len();
            while buf.last() != Some(&b'\n') {
                buf.clear();
                if r.by_ref().take(1 << 16).read_until(b'\n', &mut buf)? == 0 {
                    break;
                }
                total += buf.len();
            }
            rb.warnings.push(format!(
                "{label} line {line_no}: {total} bytes, longer than any journal entry, skipped"
            ));
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            Err(e) => {
                rb.warnings
                    .push(format!("{label} line {line_no}: unreadable ({e}), skipped"));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(text) {
            Ok(e) => rb.entries.push(e),
            Err(e) => rb.warnings.push(format!(
                "{label} line {line_no}: not a journal entry ({e}), skipped"
            )),
        }
    }
    Ok(rb)
}

/// Why the journal failed, with the cause named: `auto` tells a held lock (exit 14) from an
/// I/O error, and a failure after a step ran from one before.
#[derive(Debug)]
pub enum JournalError {
    /// Another process holds the journal's lock.
    Held { path: PathBuf, holder: String },
    /// Reading or writing failed.
    Io {
        what: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The journal or its lock file is no longer the one this process opened.
    Gone { path: PathBuf, why: String },
}

/// The OS error in words an operator acts on.
pub fn io_cause(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => "the disk is full".into(),
        Some(libc::EDQUOT) => "the disk quota is used up".into(),
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "permission denied ({e}): was it made read-only (chmod, chattr +i) or its owner changed?"
        ),
        Some(libc::EROFS) => "the file system is mounted read-only".into(),
        Some(libc::EISDIR) => "it is a directory, not a file".into(),
        _ => e.to_string(),
    }
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Held { path, holder } => write!(
                f,
                "another kongrade ({}) has this upgrade's journal open: {}\n  finish or quit it first; `kongrade journal show` reads it without taking it",
                holder.trim(),
                path.display()
            ),
            JournalError::Io { what, path, cause } => {
                write!(f, "cannot {what} {}: {}", path.display(), io_cause(cause))
            }
            JournalError::Gone { path, why } => write!(
                f,
                "the upgrade journal {} {why}; stopped so that no step runs unrecorded. The database is the truth: run `kongrade status`, then kongrade again (a new journal is started)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {}

// The markers a kong run carries in its environment ([`super::process::RUN_MARKER_ENV`]) are
// the journal's contract (auto and the wizard find each other's kongs by them).
pub use crate::contract::journal::{run_marker, step_marker};

/// A kong an earlier run of this upgrade started and journaled, still running: the shared
/// database's (an unended `command`, by its `command_started` pid and start time, or the marker
/// in its environment) or the clone's (a `dual-cluster up|finish` step started with its marker
/// and never ended). auto and the wizard wait for it the same way: nothing starts meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlierKong {
    /// As journaled: the command line, or the clone's step (`dual-cluster up`).
    pub command_line: String,
    /// What it runs, for the operator: `kong migrations up` (`... on the clone`).
    pub what: String,
    marker: String,
    pid: Option<u32>,
    start_time: Option<u64>,
}

impl EarlierKong {
    /// Its processes still alive (the journaled pid first, then any carrying its marker).
    pub fn alive(&self) -> Vec<u32> {
        let mut pids = super::process::with_marker(&self.marker);
        if let Some(pid) = self.pid {
            if super::process::running(pid, self.start_time) && !pids.contains(&pid) {
                pids.insert(0, pid);
            }
        }
        pids
    }

    /// Whether it runs on dual-cluster's clone (a `dual-cluster up|finish` step).
    pub fn on_clone(&self) -> bool {
        self.what.ends_with(ON_CLONE)
    }

    /// The journal's note while it is waited for (auto's words).
    pub fn waiting_note(&self, pids: &[u32]) -> String {
        format!(
            "waiting for the earlier run's kong, still running as pid {}: {}",
            pids_text(pids),
            self.command_line
        )
    }

    /// The journal's note once it has ended.
    pub fn ended_note(&self) -> String {
        ended_note(&self.command_line)
    }
}

/// The journal's note once an earlier run's kong (journaled as `command_line`) has ended.
pub fn ended_note(command_line: &str) -> String {
    format!("the earlier run's kong ended: {command_line}")
}

/// `1234, 1240`.
pub fn pids_text(pids: &[u32]) -> String {
    pids.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

const ON_CLONE: &str = " on the clone";

/// The kong the journal at `path` says an earlier run left running, if it still runs.
pub fn earlier_kong(path: &Path, rb: &ReadBack) -> Option<EarlierKong> {
    let mut found = Vec::new();
    if let Some(cmd) = rb.unended_command() {
        let what = cmd
            .command_line
            .split_whitespace()
            .skip_while(|w| *w != "migrations")
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        found.push(EarlierKong {
            what: format!("kong {what}"),
            marker: run_marker(path, cmd.seq),
            command_line: cmd.command_line,
            pid: cmd.pid,
            start_time: cmd.start_time,
        });
    }
    // The clone's kong steps: the last word of each (a hop's steps are named apart).
    let mut steps: Vec<(String, String, Option<String>)> = Vec::new();
    for e in &rb.entries {
        if let Event::Step {
            step,
            phase,
            detail,
        } = &e.event
        {
            if step.starts_with("dual-cluster up") || step.starts_with("dual-cluster finish") {
                steps.retain(|(s, _, _)| s != step);
                steps.push((step.clone(), phase.clone(), detail.clone()));
            }
        }
    }
    for (step, phase, detail) in steps {
        if let (true, Some(marker)) = (phase == "started", detail) {
            let command = if step.starts_with("dual-cluster up") {
                "up"
            } else {
                "finish"
            };
            found.push(EarlierKong {
                what: format!("kong migrations {command}{ON_CLONE}"),
                command_line: step,
                marker,
                pid: None,
                start_time: None,
            });
        }
    }
    found.into_iter().find(|k| !k.alive().is_empty())
}

/// An open journal this process writes to.
pub struct Journal {
    pub path: PathBuf,
    file: File,
    lock: File,
    seq: u64,
}

fn lock_path(path: &Path) -> PathBuf {
    path.with_extension("lock")
}

/// Takes the journal's lock file, or says which process holds it (or why it cannot be taken).
fn take_lock(path: &Path) -> Result<File, JournalError> {
    let lp = lock_path(path);
    let io = |what: &str, cause| JournalError::Io {
        what: what.to_string(),
        path: lp.clone(),
        cause,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lp)
        .map_err(|e| io("open the journal's lock file", e))?;
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io("lock", e));
        }
        let holder = fs::read_to_string(&lp).unwrap_or_default();
        return Err(JournalError::Held {
            path: path.to_path_buf(),
            holder: crate::text::echo(holder.trim()),
        });
    }
    f.set_len(0).ok();
    let _ = writeln!(f, "pid {}", std::process::id());
    Ok(f)
}

/// Same file: device and inode.
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
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
                    lock,
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
            lock,
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

    /// The journal is still the file at its path and its lock file still the one this process
    /// holds. A deleted journal takes appends without a word and loses them; a deleted lock
    /// lets a second kongrade in. Checked before every append (so before every step).
    pub fn check_intact(&self) -> Result<(), JournalError> {
        let gone = |why: String| JournalError::Gone {
            path: self.path.clone(),
            why,
        };
        let open = self.file.metadata().map_err(|e| JournalError::Io {
            what: "check".into(),
            path: self.path.clone(),
            cause: e,
        })?;
        {
            use std::os::unix::fs::MetadataExt;
            if open.nlink() == 0 {
                return Err(gone("was deleted while this run had it open".into()));
            }
        }
        match fs::symlink_metadata(&self.path) {
            Ok(m) if same_file(&m, &open) => {}
            Ok(_) => return Err(gone("was replaced by another file".into())),
            Err(e) => return Err(gone(format!("is no longer there ({e})"))),
        }
        let lp = lock_path(&self.path);
        let held = self.lock.metadata().map_err(|e| JournalError::Io {
            what: "check".into(),
            path: lp.clone(),
            cause: e,
        })?;
        match fs::symlink_metadata(&lp) {
            Ok(m) if same_file(&m, &held) => Ok(()),
            Ok(_) => Err(gone(format!(
                "has a new lock file {}: another kongrade may have taken it",
                lp.display()
            ))),
            Err(_) => Err(gone(format!(
                "lost its lock file {} (deleted): a second kongrade would not be refused",
                lp.display()
            ))),
        }
    }

    /// Appends and fsyncs one entry: when this returns, the entry is on disk.
    pub fn append(&mut self, event: Event) -> Result<Entry> {
        self.check_intact()?;
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
            .map_err(|e| JournalError::Io {
                what: "write the journal".into(),
                path: self.path.clone(),
                cause: e,
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

/// The history of this database's open upgrade (None: no open journal, or it cannot be read:
/// the policy then judges from the database alone).
pub fn open_history(id: &DbIdentity) -> Option<crate::kong::policy::History> {
    let dir = super::datadir::sub_dir("journal").ok()?;
    let path = unfinished(&dir, id).ok()??;
    let rb = read(&path).ok()?;
    Some(rb.history(super::backup::record_still_matches))
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

    /// A child carrying `marker` in its environment until killed.
    fn marked_child(marker: &str) -> std::process::Child {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .env(super::super::process::RUN_MARKER_ENV, marker)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while super::super::process::with_marker(marker).is_empty() {
            assert!(std::time::Instant::now() < deadline, "never seen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
    }

    /// The shared database's unended command and the clone's started step are the kongs an
    /// earlier run left running, found by their markers while they run, and only then.
    #[test]
    fn an_earlier_runs_kong_is_found_while_it_runs() {
        let path = std::env::temp_dir().join(format!("kongrade-test-{}.jsonl", std::process::id()));
        let entry = |seq, event| Entry {
            seq,
            at: String::new(),
            event,
        };
        let line = "kong migrations up --lock-timeout 4".to_string();
        let shared = ReadBack {
            entries: vec![entry(
                7,
                Event::Command {
                    command_line: line.clone(),
                    kong_version: None,
                },
            )],
            warnings: Vec::new(),
        };
        assert_eq!(earlier_kong(&path, &shared), None, "nothing runs");
        let mut child = marked_child(&run_marker(&path, 7));
        let k = earlier_kong(&path, &shared).expect("running");
        assert_eq!(k.what, "kong migrations up");
        assert_eq!(k.alive(), vec![child.id()]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(earlier_kong(&path, &shared), None, "ended");

        let step = |phase: &str, detail: Option<&str>| Event::Step {
            step: "dual-cluster up".into(),
            phase: phase.into(),
            detail: detail.map(str::to_string),
        };
        let marker = format!("{}-clone", run_marker(&path, 0));
        let clone = ReadBack {
            entries: vec![entry(1, step("started", Some(&marker)))],
            warnings: Vec::new(),
        };
        let mut child = marked_child(&marker);
        let k = earlier_kong(&path, &clone).expect("running on the clone");
        assert_eq!(k.what, "kong migrations up on the clone");
        // Ended in the journal: not waited for (a marker reused later is another run's).
        let ended = ReadBack {
            entries: vec![
                entry(1, step("started", Some(&marker))),
                entry(2, step("done", None)),
            ],
            warnings: Vec::new(),
        };
        assert_eq!(earlier_kong(&path, &ended), None);
        child.kill().unwrap();
        child.wait().unwrap();
    }

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

    #[test]
    fn an_overlong_or_binary_line_is_skipped_and_the_rest_kept() {
        let good = r#"{"seq":1,"at":"x","event":"note","text":"a"}"#;
        let mut input = format!("{good}\n").into_bytes();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\n\xff\xfe\n");
        input.extend_from_slice(format!("{good}\n").as_bytes());
        let rb = read_from(&input[..], "j").unwrap();
        assert_eq!(rb.entries.len(), 2);
        assert_eq!(rb.warnings.len(), 2, "{:?}", rb.warnings);
        assert!(rb.warnings[0].contains("line 2") && rb.warnings[0].contains("longer"));
        // A FIFO or a device is refused, not read for ever.
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(format!("{e:#}").contains("not a regular file"), "{e:#}");
    }

    #[test]
    fn io_causes_are_named() {
        let c = |n| io_cause(&std::io::Error::from_raw_os_error(n));
        assert!(c(libc::EACCES).contains("permission denied"));
        assert!(c(libc::EPERM).contains("read-only"));
        assert_eq!(c(libc::ENOSPC), "the disk is full");
        assert!(c(libc::EISDIR).contains("directory"));
    }
}
