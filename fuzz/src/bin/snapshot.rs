//! The snapshot readers: a snapshot file's bytes (plain, gzip or
//! snappy-java, picked by the first byte) through `read_snapshot`, and the
//! body a Zab leader streams after SNAP through `read_sync_snapshot`.
use corral::storage::snapshot::{self, Compression};

corral_fuzz::target!(|data: &[u8]| {
    let (sel, rest) = corral_fuzz::split(data);
    match sel % 4 {
        0 => {
            let _ = snapshot::read_snapshot(rest, Compression::None, 0x100);
            let _ = snapshot::is_valid_snapshot("snapshot.100", rest);
        }
        1 => {
            let _ = snapshot::read_snapshot(rest, Compression::Gzip, 0x100);
        }
        2 => {
            let _ = snapshot::read_snapshot(rest, Compression::Snappy, 0x100);
        }
        _ => {
            if let Ok(Some((_, _, used))) = snapshot::read_sync_snapshot(rest, 0x100) {
                assert!(used <= rest.len());
                let _ = corral::quorum::zab::wire::decode_snap_signature(&rest[used..]);
            }
        }
    }
});
