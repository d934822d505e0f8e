//! Read-only views of data files (snapshots and txn logs) for recovery.
//!
//! Owns nothing but the mapping. A restart reads hundreds of MB: mapping
//! the file instead of reading it into a fresh buffer saves zeroing and
//! copying every page, and a log's pre-allocated zero padding past the
//! last record is never touched at all.

use std::ops::Deref;
use std::path::Path;

/// A whole file's bytes, mapped (or empty).
pub struct FileBytes(Option<memmap2::Mmap>);

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// Maps `path` read-only.
pub fn map(path: &Path) -> std::io::Result<FileBytes> {
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(FileBytes(None));
    }
    // SAFETY: the mapping is read-only, and nothing else writes or
    // truncates files in version-2/ while corral recovers from them: the
    // data directory belongs to this one server, and its own cutting of a
    // torn tail happens after the mapping is dropped.
    let m = unsafe { memmap2::Mmap::map(&f)? };
    Ok(FileBytes(Some(m)))
}
