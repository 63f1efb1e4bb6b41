//! kongrade's data directory (backups, journals, logs): the platform's data dir from the
//! `directories` crate, or `KONGRADE_DATA_DIR`. Created 0700: it holds database dumps.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};

pub const ENV: &str = "KONGRADE_DATA_DIR";

/// The data directory, created if missing. Fails, before anything starts, when it cannot be
/// created or written.
pub fn data_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os(ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => directories::ProjectDirs::from("", "", "kongrade")
            .map(|p| p.data_dir().to_path_buf())
            .ok_or_else(|| {
                eyre!("no home directory to keep kongrade's data in: set {ENV} to a writable directory")
            })?,
    };
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// A subdirectory of the data directory (`backups`, `journal`, `logs`).
pub fn sub_dir(name: &str) -> Result<PathBuf> {
    let d = data_dir()?.join(name);
    ensure_private_dir(&d)?;
    Ok(d)
}

pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .wrap_err_with(|| {
            format!(
                "cannot create {} (set {ENV} to a writable directory)",
                dir.display()
            )
        })?;
    let meta = fs::metadata(dir).wrap_err_with(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(eyre!("{} is not a directory", dir.display()));
    }
    // Probe that it is writable now, rather than failing halfway through a step.
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"ok"))
        .wrap_err_with(|| {
            format!(
                "{} is not writable (set {ENV} to a writable directory)",
                dir.display()
            )
        })?;
    let _ = fs::remove_file(&probe);
    if meta.permissions().mode() & 0o077 != 0 {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Free bytes on the file system holding `dir` (statvfs).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// UTC time as `2026-11-22T03:55:15Z` and a file-name-safe `20261122T035515Z`, without a date
/// crate: days-from-civil inverted (Howard Hinnant's algorithm).
pub fn utc_stamp(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    (
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"),
        format!("{y:04}{mo:02}{d:02}T{h:02}{m:02}{s:02}Z"),
    )
}

/// The inverse of `utc_stamp(..).0`: `2026-11-22T03:55:15Z` to seconds since the epoch.
pub fn parse_utc_stamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // days_from_civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0).0, "1970-01-01T00:00:00Z");
        assert_eq!(utc_stamp(1_795_319_715).0, "2026-11-22T03:55:15Z");
        assert_eq!(utc_stamp(951_782_400).1, "20000229T000000Z");
        for t in [0, 951_782_400, 1_795_319_715, 4_102_444_799] {
            assert_eq!(parse_utc_stamp(&utc_stamp(t).0), Some(t));
        }
        assert_eq!(parse_utc_stamp("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc_stamp("yesterday"), None);
    }
}
