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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file cut at run time (a follower's TRUNC, a torn tail's repair)
    /// and mapped again: the new mapping has the new length and bytes, and
    /// a file cut to nothing maps as empty. scripts/sanitize.sh runs this
    /// under AddressSanitizer.
    #[test]
    fn a_file_truncated_after_its_mapping_is_dropped_maps_anew() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log.1");
        let mut f = std::fs::File::create(&path).unwrap();
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&bytes).unwrap();
        let m = map(&path).unwrap();
        assert_eq!(&m[..], &bytes[..]);
        drop(m);
        f.set_len(5_000).unwrap();
        let m = map(&path).unwrap();
        assert_eq!(&m[..], &bytes[..5_000]);
        drop(m);
        f.set_len(0).unwrap();
        assert!(map(&path).unwrap().is_empty());
    }
}
