//! The election wire: a connection's initial message, then frames, each a
//! notification (`corral::quorum::election::wire`), as the receiving peer reads
//! them; what decodes re-encodes to what decodes the same.
use corral::quorum::election::wire::{self, InitialMessage, Notification};

corral_fuzz::target!(|data: &[u8]| {
    let mut at = match InitialMessage::decode(data) {
        Ok((m, used)) => {
            assert!(used <= data.len());
            let _ = m.encode();
            used
        }
        // Frames alone, for inputs that do not start with a valid message.
        Err(_) => 0,
    };
    while let Ok(Some((payload, used))) = wire::next_frame(&data[at..]) {
        at += used;
        if let Ok(n) = Notification::decode(payload) {
            let _ = n.server_state();
            // encode() writes the 3.8 form (version 2, a config): the
            // fields a 3.4 peer sends survive, and so does a 3.8 config.
            let again = Notification::decode(&n.encode()).expect("re-encoded notification");
            let key =
                |m: &Notification| (m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch);
            assert_eq!(key(&n), key(&again), "notification round trip");
            if n.version > 1 {
                assert_eq!(n.config, again.config, "notification config round trip");
            }
        }
    }
});
