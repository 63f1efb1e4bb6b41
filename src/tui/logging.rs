//! Logs go to a file in the data directory, never to the terminal the wizard draws on.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use color_eyre::eyre::{eyre, Result, WrapErr};

/// `KONGRADE_DATA_DIR`, else the platform's data directory (`~/.local/share/kongrade`).
pub fn data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("KONGRADE_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "kongrade")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or_else(|| eyre!("no home directory to keep logs in: set KONGRADE_DATA_DIR"))
}

/// Sends `tracing` to `<data dir>/kongrade.log` (level from `KONGRADE_LOG`, default info).
/// Returns the file's path.
pub fn init() -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = data_dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .wrap_err_with(|| format!("creating the data directory {}", dir.display()))?;
    let path = dir.join("kongrade.log");
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .wrap_err_with(|| format!("opening the log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KONGRADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(path)
}
