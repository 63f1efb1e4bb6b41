//! The prefix directory, prepared as Kong's migrations commands prepare it before they touch
//! the database (kong/cmd/utils/prefix_handler.lua `prepare_prefix`, with writing the nginx
//! configuration skipped): the directory (created when missing), `logs/` and `pids/`, and the
//! three empty log files. The default certificates Kong also generates there are not made.

use std::path::{Component, Path, PathBuf};

use super::{Log, Out};

/// The prefix as Kong's configuration loader holds it: absolute against the working directory,
/// with `.`, `..`, repeated and trailing slashes resolved lexically (penlight's abspath).
pub fn absolute(p: &Path, cwd: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// An OS error as LuaFileSystem reports it: the bare `strerror` text (`Permission denied`).
fn os_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a pointer to a static (or thread-local) NUL-terminated string.
        Some(n) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(n)) }
            .to_string_lossy()
            .into_owned(),
        None => e.to_string(),
    }
}

/// penlight's `makepath`: a path that is not a directory gets its parent made first, then one
/// mkdir of its own; the first failing mkdir's error is the answer (so a file in the way says
/// `File exists`, as Kong does).
fn makepath(p: &Path) -> Result<(), String> {
    if p.is_dir() {
        return Ok(());
    }
    if let Some(parent) = p.parent() {
        if parent != p && !parent.as_os_str().is_empty() {
            makepath(parent)?;
        }
    }
    std::fs::create_dir(p).map_err(|e| os_text(&e))
}

/// Prepares `prefix` (already absolute) and logs as Kong does. The error is Kong's message.
pub fn prepare<O: Out>(prefix: &Path, log: &mut Log<'_, O>) -> Result<(), String> {
    let shown = prefix.display();
    log.verbose(&format!("preparing nginx prefix directory at {shown}"));
    // `exists` follows symlinks, as penlight's does: a dangling link counts as missing.
    if !prefix.exists() {
        log.info(&format!(
            "prefix directory {shown} not found, trying to create it"
        ));
        makepath(prefix)?;
    } else if !prefix.is_dir() {
        return Err(format!("{shown} is not a directory"));
    }
    for dir in ["logs", "pids"] {
        makepath(&prefix.join(dir))?;
    }
    for file in ["error.log", "access.log", "admin_access.log"] {
        let f = prefix.join("logs").join(file);
        if !f.exists() {
            std::fs::write(&f, b"").map_err(|e| format!("{}: {}", f.display(), os_text(&e)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_made_absolute_as_kong_does() {
        let cwd = Path::new("/srv/kong");
        assert_eq!(absolute(Path::new("p"), cwd), PathBuf::from("/srv/kong/p"));
        assert_eq!(
            absolute(Path::new("./a/../b/"), cwd),
            PathBuf::from("/srv/kong/b")
        );
        assert_eq!(
            absolute(Path::new("/usr/local/kong/"), cwd),
            PathBuf::from("/usr/local/kong")
        );
        assert_eq!(absolute(Path::new("/../x"), cwd), PathBuf::from("/x"));
    }

    #[test]
    fn makepath_reports_the_first_failing_mkdir() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        // The file is in the way: its mkdir is the one that fails.
        assert_eq!(makepath(&file.join("sub")), Err("File exists".to_string()));
        let deep = dir.path().join("a/b/c");
        makepath(&deep).unwrap();
        assert!(deep.is_dir());
    }
}
