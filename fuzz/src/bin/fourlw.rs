//! The four-letter-word reader: the opening bytes of a client connection,
//! as a shard sees them (`Cmd::read_word`, `Cmd::stmk_mask`), and what is
//! not a word then read as frames.
use corral::protocol::fourlw::Cmd;
use shards::frame::FrameBuf;

corral_fuzz::target!(|data: &[u8]| {
    let mut fb = FrameBuf::new(1024 * 1024 + 1024);
    // Words are looked for only while the connection's first four bytes
    // are not all there (the shard's handshake state).
    let mut opening = true;
    for chunk in data.chunks(3) {
        let spare = fb.spare(chunk.len());
        spare[..chunk.len()].copy_from_slice(chunk);
        fb.filled(chunk.len());
        if !opening {
        } else if let Some(cmd) = Cmd::read_word(fb.pending()) {
            assert_eq!(cmd.name().as_bytes(), &fb.pending()[..4]);
            if let Cmd::Stmk(_) = cmd {
                if let Some(mask) = Cmd::stmk_mask(fb.pending()) {
                    let _ = Cmd::Stmk(mask).scope();
                } else {
                    continue;
                }
            }
            let _ = cmd.scope();
            return;
        } else if fb.pending().len() >= 4 {
            opening = false;
        }
        while let Ok(Some(_)) = fb.next_frame() {}
    }
});
