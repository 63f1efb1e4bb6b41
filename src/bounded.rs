//! Reading a file a user names (kong.conf, a CA bundle, a journal), bounded: only a regular file,
//! and no more than a cap. `/dev/zero` would otherwise be read until memory runs out, and a FIFO
//! would block forever on open.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// kong.conf: Kong's own template is about 100 KB.
pub const CONF_MAX: u64 = 1 << 20;
/// A CA bundle: the system bundle is a few hundred KB.
pub const CA_MAX: u64 = 16 << 20;

#[derive(Debug)]
pub enum ReadError {
    Io(PathBuf, io::Error),
    /// A FIFO, a device, a directory or a socket.
    NotRegular(PathBuf, &'static str),
    TooBig(PathBuf, u64),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            ReadError::NotRegular(p, kind) => {
                write!(f, "{} is not a regular file (it is {kind})", p.display())
            }
            ReadError::TooBig(p, cap) => write!(
                f,
                "{} is larger than {} KB, more than such a file ever holds; is it the right file?",
                p.display(),
                cap >> 10
            ),
        }
    }
}

impl std::error::Error for ReadError {}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

/// Opens `path` for reading when it is a regular file (symlinks to one are fine: that is how CA
/// bundles are installed). O_NONBLOCK so that opening a FIFO does not wait for a writer.
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    let meta = f
        .metadata()
        .map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(
            path.to_path_buf(),
            kind_of(meta.file_type()),
        ));
    }
    Ok(f)
}

/// The whole file, when it is a regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let f = open_regular(path)?;
    let mut buf = Vec::new();
    // Read one byte more than the cap: a file growing while it is read is caught too.
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    if buf.len() as u64 > cap {
        return Err(ReadError::TooBig(path.to_path_buf(), cap));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_cap() {
        let e = read(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), 10).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read(&p, 10).unwrap().len(), 10);
        let e = read(&p, 9).unwrap_err();
        assert!(matches!(e, ReadError::TooBig(..)), "{e}");
    }
}
