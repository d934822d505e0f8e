//! The txn log reader: a whole log file's bytes through `LogReader`, every
//! record and the tail verdict; and one entry through `decode_entry` (a
//! Zab PROPOSAL's body). The first byte picks.
use corral::storage::txnlog;

corral_fuzz::target!(|data: &[u8]| {
    let (sel, rest) = corral_fuzz::split(data);
    match sel % 3 {
        0 => {
            let _ = txnlog::decode_entry(rest);
        }
        1 => {
            if let Ok(f) = txnlog::read_log(rest) {
                assert!(f.valid_end as usize <= rest.len().max(16));
            }
        }
        _ => {
            if let Ok((_, mut r)) = txnlog::LogReader::new(rest) {
                let mut last_end = 0;
                while let Some(rec) = r.next_record() {
                    assert!(rec.end > last_end, "records must move forward");
                    last_end = rec.end;
                }
                let _ = r.tail();
                assert!(r.valid_end() >= last_end);
            }
        }
    }
});
