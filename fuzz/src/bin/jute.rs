//! The jute codec: every record type decodes arbitrary bytes without a
//! panic, and what decodes re-encodes to bytes that decode to the same
//! value. The first byte picks the record.
use bytes::Bytes;
use corral::protocol::jute::{self, Jute};

fn round_trip<T: Jute + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(v) = T::decode(data) {
        let again = T::decode(&v.encode()).expect("a record re-encoded must decode");
        assert_eq!(v, again, "jute round trip changed the record");
    }
}

fn one(sel: u8, d: &[u8]) {
    match sel % 40 {
        0 => round_trip::<jute::Id>(d),
        1 => round_trip::<jute::Acl>(d),
        2 => round_trip::<jute::Stat>(d),
        3 => round_trip::<jute::ConnectRequest>(d),
        4 => round_trip::<jute::ConnectResponse>(d),
        5 => round_trip::<jute::RequestHeader>(d),
        6 => round_trip::<jute::ReplyHeader>(d),
        7 => round_trip::<jute::WatcherEvent>(d),
        8 => round_trip::<jute::AuthPacket>(d),
        9 => round_trip::<jute::SetWatches>(d),
        10 => round_trip::<jute::PathRequest>(d),
        11 => round_trip::<jute::PathWatchRequest>(d),
        12 => round_trip::<jute::CreateRequest>(d),
        13 => round_trip::<jute::CreateTtlRequest>(d),
        14 => round_trip::<jute::DeleteRequest>(d),
        15 => round_trip::<jute::SetDataRequest>(d),
        16 => round_trip::<jute::SetAclRequest>(d),
        17 => round_trip::<jute::CheckVersionRequest>(d),
        18 => round_trip::<jute::AddWatchRequest>(d),
        19 => round_trip::<jute::WatchTypeRequest>(d),
        20 => round_trip::<jute::ReconfigRequest>(d),
        21 => round_trip::<jute::GetDataResponse>(d),
        22 => round_trip::<jute::GetChildrenResponse>(d),
        23 => round_trip::<jute::GetAclResponse>(d),
        24 => round_trip::<jute::WhoAmIResponse>(d),
        25 => round_trip::<jute::MultiHeader>(d),
        26 => round_trip::<jute::TxnHeader>(d),
        27 => round_trip::<jute::CreateTxn>(d),
        28 => round_trip::<jute::CreateContainerTxn>(d),
        29 => round_trip::<jute::CreateTtlTxn>(d),
        30 => round_trip::<jute::SetDataTxn>(d),
        31 => round_trip::<jute::SetAclTxn>(d),
        32 => round_trip::<jute::CloseSessionTxn>(d),
        33 => round_trip::<jute::MultiTxn>(d),
        34 => round_trip::<Vec<String>>(d),
        35 => round_trip::<Vec<jute::Acl>>(d),
        36 => round_trip::<Option<Bytes>>(d),
        37 => round_trip::<String>(d),
        38 => round_trip::<jute::StatResponse>(d),
        _ => {
            // The reader's primitives one after another, as a decoder
            // written by hand uses them.
            let mut r = jute::Reader::new(d);
            while r.remaining() > 0 {
                let ok = match r.remaining() % 5 {
                    0 => r.int().is_ok(),
                    1 => r.long().is_ok(),
                    2 => r.ustr().is_ok(),
                    3 => r.vec_len().is_ok(),
                    _ => r.buffer().is_ok(),
                };
                if !ok {
                    break;
                }
            }
        }
    }
}

corral_fuzz::target!(|data: &[u8]| {
    let (sel, rest) = corral_fuzz::split(data);
    one(sel, rest)
});
