//! The Zab wire, as a quorum peer reads a leader's or a learner's stream:
//! an optional QuorumAuthPacket, then QuorumPackets (with jute.maxbuffer's
//! default as the limit), and the bodies each packet type carries.
use corral::quorum::zab::wire::{self, pkt, ForwardedRequest, LearnerInfo};
use corral::security::quorum_auth::{self, Packet};

fn body(p: &wire::QuorumPacket) {
    let data = p.data.as_deref();
    match p.typ {
        pkt::PROPOSAL | pkt::INFORM | pkt::INFORMANDACTIVATE => {
            let _ = corral::storage::txnlog::decode_entry(p.body());
        }
        pkt::REQUEST => {
            if let Ok(f) = ForwardedRequest::from_packet(p) {
                let again = ForwardedRequest::from_packet(&f.to_packet()).expect("re-encoded");
                assert_eq!(f.request, again.request);
                let _ = corral::protocol::request::decode(f.op, &f.request);
            }
        }
        pkt::FOLLOWERINFO | pkt::OBSERVERINFO => {
            let _ = LearnerInfo::decode_lenient(p.body());
        }
        pkt::PING => {
            let _ = wire::decode_touches(data);
        }
        pkt::REVALIDATE => {
            let _ = wire::decode_revalidate_request(data);
            let _ = wire::decode_revalidate_reply(data);
        }
        pkt::COMMITANDACTIVATE => {
            let _ = wire::decode_designated_leader(p.data.as_ref());
        }
        pkt::LEADERINFO | pkt::ACKEPOCH => {
            let _ = wire::body_int("epoch", data);
            let _ = wire::body_long("zxid", data);
        }
        pkt::SNAP => {
            if let Ok(Some((_, _, used))) = corral::storage::snapshot::read_sync_snapshot(p.body(), p.zxid) {
                let _ = wire::decode_snap_signature(&p.body()[used..]);
            }
        }
        _ => {}
    }
}

corral_fuzz::target!(|data: &[u8]| {
    let mut at = 0;
    if quorum_auth::is_auth(data) == Some(true) {
        match Packet::decode(data, wire::DEFAULT_MAX_BUFFER) {
            Ok(Some((a, used))) => {
                // Statuses other than 0, 1 and -1 read as ERROR (-1).
                let status = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
                if (-1..=1).contains(&status) {
                    assert_eq!(&a.encode()[..], &data[..used], "auth packet round trip");
                }
                at = used;
            }
            _ => return,
        }
    }
    while let Ok(Some((p, used))) = wire::decode_with_limit(&data[at..], wire::DEFAULT_MAX_BUFFER) {
        assert!(used > 0 && at + used <= data.len());
        at += used;
        let again = wire::decode(&p.encode())
            .expect("re-encoded packet")
            .expect("whole");
        assert_eq!(p, again.0, "quorum packet round trip");
        body(&p);
    }
});
