//! Client request decoding, as a shard does it: a stream of frames
//! (`shards::frame::FrameBuf` with jute.maxbuffer's default), the first a
//! ConnectRequest, each later one a RequestHeader and its body, decoded by
//! `corral::protocol::request::decode`.
use corral::protocol::jute::{self, Jute, Reader};
use shards::frame::FrameBuf;

const MAX_FRAME: usize = 1024 * 1024 + 1024;

corral_fuzz::target!(|data: &[u8]| {
    let mut fb = FrameBuf::new(MAX_FRAME);
    // Fed in uneven pieces, as reads from a socket come.
    let mut first = true;
    for chunk in data.chunks(997) {
        let spare = fb.spare(chunk.len());
        spare[..chunk.len()].copy_from_slice(chunk);
        fb.filled(chunk.len());
        loop {
            let frame = match fb.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return,
            };
            let mut r = Reader::new(frame);
            if first {
                first = false;
                if let Ok(c) = jute::ConnectRequest::read(&mut r) {
                    // The optional trailing readOnly flag.
                    let _ = r.boolean();
                    let _ = c.encode();
                }
                continue;
            }
            let Ok(hdr) = jute::RequestHeader::read(&mut r) else {
                return;
            };
            let body = &frame[frame.len() - r.remaining()..];
            if let Ok(req) = corral::protocol::request::decode(hdr.op, body) {
                let _ = req.path();
            }
        }
    }
});
