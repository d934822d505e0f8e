//! Golden bytes below were written out from the Java layout
//! (`FastLeaderElection.buildMsg`, `QuorumCnxManager.startConnection`) and
//! checked against ZooKeeper 3.8.0's classes.

use super::*;
use crate::config::{ClientAddress, QuorumAddress};
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// -- initial message --------------------------------------------------------

#[test]
fn initial_message_v2_golden_bytes_and_round_trip() {
    let m = InitialMessage {
        protocol: Protocol::V2,
        sid: 3,
        addresses: vec![
            ElectionAddress {
                host: "10.0.0.3".into(),
                port: 3888,
            },
            ElectionAddress {
                host: "fe80:0:0:0:0:0:0:1".into(),
                port: 3889,
            },
        ],
    };
    let text = b"10.0.0.3:3888|[fe80:0:0:0:0:0:0:1]:3889";
    let mut want = hex("ffffffffffff0001 0000000000000003");
    want.extend_from_slice(&(text.len() as i32).to_be_bytes());
    want.extend_from_slice(text);
    assert_eq!(m.encode(), want);
    assert_eq!(InitialMessage::decode(&want), Ok((m, want.len())));
}

#[test]
fn initial_message_v1_sends_one_address() {
    let m = InitialMessage {
        protocol: Protocol::V1,
        sid: 1,
        addresses: vec![
            ElectionAddress {
                host: "a".into(),
                port: 1,
            },
            ElectionAddress {
                host: "b".into(),
                port: 2,
            },
        ],
    };
    let bytes = m.encode();
    assert_eq!(
        bytes,
        hex("ffffffffffff0000 0000000000000001 00000003 613a31")
    );
    let (back, used) = InitialMessage::decode(&bytes).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(back.protocol, Protocol::V1);
    assert_eq!(back.addresses, vec![m.addresses[0].clone()]);
}

#[test]
fn a_bare_sid_is_an_old_servers_initial_message() {
    let bytes = hex("0000000000000005 deadbeef");
    let (m, used) = InitialMessage::decode(&bytes).unwrap();
    assert_eq!(used, 8);
    assert_eq!(m.protocol, Protocol::BareSid);
    assert_eq!(m.sid, 5);
    assert!(m.addresses.is_empty());
    assert_eq!(m.encode(), hex("0000000000000005"));
}

#[test]
fn initial_message_prefixes_are_incomplete() {
    let m = InitialMessage {
        protocol: Protocol::V2,
        sid: 9,
        addresses: vec![ElectionAddress {
            host: "zk9".into(),
            port: 3888,
        }],
    };
    let bytes = m.encode();
    for cut in 0..bytes.len() {
        let err = InitialMessage::decode(&bytes[..cut]).unwrap_err();
        assert!(err.is_incomplete(), "cut {cut}: {err}");
    }
}

fn initial_with(version: i64, len: i32, text: &[u8]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&7i64.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(text);
    b
}

#[test]
fn initial_message_rejects_what_zookeeper_rejects() {
    assert_eq!(
        InitialMessage::decode(&initial_with(-1, 3, b"a:1")),
        Err(WireError::UnknownProtocolVersion(-1))
    );
    for len in [0, -1, 2049, i32::MIN] {
        assert_eq!(
            InitialMessage::decode(&initial_with(PROTOCOL_VERSION_V2, len, b"a:1")),
            Err(WireError::BadAddressLength(len))
        );
    }
    let big = vec![b'x'; 2048];
    assert!(matches!(
        InitialMessage::decode(&initial_with(PROTOCOL_VERSION_V2, 2048, &big)),
        Err(WireError::BadAddress(_))
    ));
}

fn parse_addrs(text: &str) -> Result<Vec<(String, u16)>, WireError> {
    let b = initial_with(PROTOCOL_VERSION_V2, text.len() as i32, text.as_bytes());
    InitialMessage::decode(&b)
        .map(|(m, _)| m.addresses.into_iter().map(|a| (a.host, a.port)).collect())
}

#[test]
fn initial_message_addresses_parse_as_in_zookeeper() {
    // Outcomes checked against InitialMessage.parse of 3.8.0.
    let ok = |t: &str, want: &[(&str, u16)]| {
        let want: Vec<(String, u16)> = want.iter().map(|(h, p)| (h.to_string(), *p)).collect();
        assert_eq!(parse_addrs(t), Ok(want), "{t:?}");
    };
    ok("a:1", &[("a", 1)]);
    ok("a:1:", &[("a", 1)]);
    ok("[::1]:2888", &[("::1", 2888)]);
    ok("[::1]x2888", &[("::1", 2888)]);
    ok("a:1|", &[("a", 1)]);
    ok("|", &[]);
    ok("a:+5", &[("a", 5)]);
    ok("0.0.0.0:5|b:6", &[("b", 6)]);
    ok("[::]:5", &[]);
    ok("a:1|[fe80::1]:7", &[("a", 1), ("fe80::1", 7)]);
    ok(" a:1", &[(" a", 1)]);
    let bad_addr = [
        "a:1:2", "[::1]", "[::1]:", "::1:2888", "a:1||b:2", "a:", "[x",
    ];
    for t in bad_addr {
        assert!(
            matches!(parse_addrs(t), Err(WireError::BadAddress(_))),
            "{t:?}"
        );
    }
    for t in ["a:-1", "a:70000", "a:99999999999", "a: 1", "a:1 ", "a:x"] {
        assert!(
            matches!(parse_addrs(t), Err(WireError::BadPort(_))),
            "{t:?}"
        );
    }
}

#[test]
fn only_the_connection_initiated_by_the_larger_sid_survives() {
    // 3 connects to 1: kept by both ends.
    assert!(keep_connection(3, 1, true));
    assert!(keep_connection(1, 3, false));
    // 1 connects to 3: both drop it, and 3 connects back.
    assert!(!keep_connection(1, 3, true));
    assert_eq!(tie_break(3, 1, false), TieBreak::CloseAndConnect);
    assert_eq!(tie_break(1, 3, true), TieBreak::Close);
    // Our own sid from elsewhere: not used.
    assert!(!keep_connection(2, 2, false));
}

// -- framing ----------------------------------------------------------------

#[test]
fn frames_come_whole_or_not_at_all() {
    let mut stream = encode_frame(b"hello");
    stream.extend(encode_frame(b"x"));
    assert_eq!(&stream[..4], &hex("00000005")[..]);
    for cut in 0..9 {
        assert_eq!(next_frame(&stream[..cut]), Ok(None));
    }
    let (p, used) = next_frame(&stream).unwrap().unwrap();
    assert_eq!((p, used), (&b"hello"[..], 9));
    let (p, used) = next_frame(&stream[9..]).unwrap().unwrap();
    assert_eq!((p, used), (&b"x"[..], 5));
}

#[test]
fn frame_lengths_zookeeper_rejects() {
    for len in [0, -1, i32::MIN, (PACKET_MAX_SIZE + 1) as i32] {
        assert_eq!(
            next_frame(&len.to_be_bytes()),
            Err(WireError::BadFrameLength(len))
        );
    }
    let max = (PACKET_MAX_SIZE as i32).to_be_bytes();
    assert_eq!(next_frame(&max), Ok(None));
}

// -- notifications ----------------------------------------------------------

#[test]
fn notification_golden_bytes() {
    // FastLeaderElection.buildMsg(0, 3, 0x100000005L, 7, 1, "ab".getBytes()).
    let want = hex("00000000 0000000000000003 0000000100000005 0000000000000007
         0000000000000001 00000002 00000002 6162");
    let n = Notification::new(
        ServerState::Looking,
        3,
        0x1_0000_0005,
        7,
        1,
        Bytes::from_static(b"ab"),
    );
    assert_eq!(n.encode(), want);
    assert_eq!(Notification::decode(&want), Ok(n));
}

#[test]
fn notification_round_trips_with_extremes() {
    for state in [0, 1, 2, 3, 7, -1] {
        let n = Notification {
            state,
            leader: i64::MIN,
            zxid: -1,
            election_epoch: i64::MAX,
            peer_epoch: i64::MIN,
            version: NOTIFICATION_VERSION,
            config: Some(Bytes::from("server.1=a:1:2:participant\nversion=0")),
        };
        assert_eq!(Notification::decode(&n.encode()), Ok(n));
    }
    let no_config = Notification {
        config: None,
        ..Notification::new(ServerState::Leading, 1, 2, 3, 4, Bytes::new())
    };
    // Encoded with an empty config, which reads back as Some(empty).
    let back = Notification::decode(&no_config.encode()).unwrap();
    assert_eq!(back.config.as_deref(), Some(&b""[..]));
}

#[test]
fn legacy_40_byte_notification_has_no_version() {
    // buildMsg(2, -1, -2, Long.MAX_VALUE, Long.MIN_VALUE): the 40-byte form
    // with version 1, which the receiver does not even read.
    let b = hex("00000002 ffffffffffffffff fffffffffffffffe 7fffffffffffffff
         8000000000000000 00000001");
    let n = Notification::decode(&b).unwrap();
    assert_eq!(
        n,
        Notification {
            state: 2,
            leader: -1,
            zxid: -2,
            election_epoch: i64::MAX,
            peer_epoch: i64::MIN,
            version: 0,
            config: None,
        }
    );
    assert_eq!(n.server_state(), Some(ServerState::Leading));
}

#[test]
fn legacy_28_byte_notification_takes_the_epoch_from_the_zxid() {
    let b = hex("00000001 0000000000000002 0000000500000009 0000000000000004");
    let n = Notification::decode(&b).unwrap();
    assert_eq!(
        (n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch),
        (1, 2, 0x5_0000_0009, 4, 5)
    );
    assert_eq!((n.version, n.config), (0, None));
}

#[test]
fn version_1_and_0_messages_carry_no_config() {
    // 44 bytes, version 1: the trailing int is not a config length.
    let mut b = Notification::new(ServerState::Looking, 1, 1, 1, 1, Bytes::new()).encode();
    b[36..40].copy_from_slice(&1i32.to_be_bytes());
    b[40..44].copy_from_slice(&(-5i32).to_be_bytes());
    let n = Notification::decode(&b).unwrap();
    assert_eq!((n.version, n.config), (1, None));
    // 41 bytes, version 0: fine.
    let mut b41 = b[..40].to_vec();
    b41[36..40].copy_from_slice(&0i32.to_be_bytes());
    b41.push(0);
    assert_eq!(Notification::decode(&b41).unwrap().version, 0);
}

#[test]
fn every_truncation_of_a_notification_is_rejected() {
    let full = Notification::new(
        ServerState::Following,
        3,
        9,
        2,
        1,
        Bytes::from_static(b"server.1=x"),
    )
    .encode();
    for cut in 0..full.len() {
        let r = Notification::decode(&full[..cut]);
        match cut {
            // The two legacy lengths are whole messages of their own.
            28 | 40 => assert!(r.is_ok(), "cut {cut}"),
            0..=27 => assert_eq!(r, Err(WireError::ShortNotification(cut))),
            _ => assert!(
                matches!(r, Err(WireError::TruncatedNotification { .. })),
                "cut {cut}: {r:?}"
            ),
        }
    }
}

#[test]
fn bad_config_lengths_are_rejected() {
    let mut b =
        Notification::new(ServerState::Looking, 1, 1, 1, 1, Bytes::from_static(b"abc")).encode();
    for (len, want_bad_length) in [(-1, true), (48, true), (i32::MAX, true), (4, false)] {
        b[40..44].copy_from_slice(&len.to_be_bytes());
        let r = Notification::decode(&b);
        if want_bad_length {
            assert_eq!(
                r,
                Err(WireError::BadConfigLength {
                    length: len,
                    capacity: 47
                })
            );
        } else {
            assert!(matches!(r, Err(WireError::TruncatedNotification { .. })));
        }
    }
}

#[test]
fn trailing_bytes_after_the_config_are_ignored() {
    let n = Notification::new(ServerState::Looking, 1, 1, 1, 1, Bytes::from_static(b"c"));
    let mut b = n.encode();
    b.extend_from_slice(b"junk");
    assert_eq!(Notification::decode(&b), Ok(n));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Notification::decode(&bytes);
        let _ = InitialMessage::decode(&bytes);
        let _ = next_frame(&bytes);
    }

    #[test]
    fn initial_message_decoder_never_panics_on_plausible_prefixes(
        version in prop_oneof![Just(PROTOCOL_VERSION_V1), Just(PROTOCOL_VERSION_V2), any::<i64>()],
        len in prop_oneof![0i32..64, any::<i32>()],
        text in "[a-z0-9:|\\[\\]\\.+-]{0,40}",
    ) {
        let b = initial_with(version, len, text.as_bytes());
        for cut in 0..=b.len() {
            let _ = InitialMessage::decode(&b[..cut]);
        }
    }

    #[test]
    fn notification_decoder_never_panics_on_plausible_messages(
        version in prop_oneof![0i32..4, any::<i32>()],
        len in prop_oneof![-2i32..80, any::<i32>()],
        tail in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut b = Notification::new(ServerState::Looking, 1, 2, 3, 4, Bytes::new()).encode();
        b[36..40].copy_from_slice(&version.to_be_bytes());
        b[40..44].copy_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&tail);
        for cut in 0..=b.len() {
            let _ = Notification::decode(&b[..cut]);
        }
    }

    #[test]
    fn notifications_round_trip(
        state in 0i32..4, leader in any::<i64>(), zxid in any::<i64>(),
        ee in any::<i64>(), pe in any::<i64>(),
        config in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let n = Notification {
            state, leader, zxid, election_epoch: ee, peer_epoch: pe,
            version: NOTIFICATION_VERSION, config: Some(Bytes::from(config)),
        };
        prop_assert_eq!(Notification::decode(&n.encode()), Ok(n));
    }
}

// -- the config string ------------------------------------------------------

fn spec(id: u64, host: &str, qp: u16, ep: u16) -> ServerSpec {
    ServerSpec {
        id,
        host: host.into(),
        quorum_port: qp,
        election_port: ep,
        extra_addresses: Vec::new(),
        role: PeerType::Participant,
        client: None,
    }
}

fn client(host: &str, port: u16) -> Option<ClientAddress> {
    Some(ClientAddress {
        host: host.into(),
        port,
    })
}

// Each expected string is what QuorumMaj(Properties).toString() printed for
// the same server lines with ZooKeeper 3.8.0.

#[test]
fn config_string_matches_zookeeper() {
    let servers = vec![
        spec(1, "127.0.0.1", 2888, 3888),
        ServerSpec {
            role: PeerType::Observer,
            client: client("0.0.0.0", 2181), // "zk2:2889:3889:observer;2181"
            ..spec(2, "zk2", 2889, 3889)
        },
        ServerSpec {
            client: client("::1", 2182),
            ..spec(3, "::1", 2890, 3890)
        },
    ];
    assert_eq!(
        quorum_config_string(&servers, None, 0x1_0000_0000),
        "server.1=127.0.0.1:2888:3888:participant\n\
         server.2=zk2:2889:3889:observer;0.0.0.0:2181\n\
         server.3=[0:0:0:0:0:0:0:1]:2890:3890:participant;[0:0:0:0:0:0:0:1]:2182\n\
         version=100000000"
    );
}

#[test]
fn config_string_follows_java_hashmap_order() {
    let servers = vec![
        spec(100, "h", 1, 2),
        spec(5, "h", 3, 4),
        spec(65536, "h", 5, 6),
        spec(16, "h", 7, 8),
    ];
    assert_eq!(
        quorum_config_string(&servers, None, 0),
        "server.16=h:7:8:participant\nserver.65536=h:5:6:participant\n\
         server.100=h:1:2:participant\nserver.5=h:3:4:participant\nversion=0"
    );
    // 14 members: the table has grown to 32 buckets.
    let many: Vec<ServerSpec> = (1..=14)
        .map(|i| spec(i * 5, &format!("h{i}"), 1, 2))
        .collect();
    let order: Vec<String> = quorum_config_string(&many, None, 0)
        .lines()
        .map(|l| l.split('=').next().unwrap_or("").to_string())
        .collect();
    let want: Vec<String> = [65, 35, 5, 70, 40, 10, 45, 15, 50, 20, 55, 25, 60, 30]
        .iter()
        .map(|s| format!("server.{s}"))
        .chain(["version".to_string()])
        .collect();
    assert_eq!(order, want);
}

#[test]
fn config_string_normalizes_ip_literals_and_sorts_multi_addresses() {
    let servers = vec![
        ServerSpec {
            client: client("::ffff:1.2.3.4", 7),
            ..spec(1, "10.0.0.1", 1, 2)
        },
        ServerSpec {
            client: client("2001:db8::1", 5),
            ..spec(2, "fe80::0001:2", 3, 4)
        },
        ServerSpec {
            client: client("::", 8),
            ..spec(3, "010.1.2.3", 1, 2)
        },
        ServerSpec {
            extra_addresses: vec![
                QuorumAddress {
                    host: "2001:db8::1".into(),
                    quorum_port: 3,
                    election_port: 4,
                },
                QuorumAddress {
                    host: "a".into(),
                    quorum_port: 5,
                    election_port: 6,
                },
                QuorumAddress {
                    host: "a".into(),
                    quorum_port: 7,
                    election_port: 8,
                },
            ],
            ..spec(4, "2001:DB8:0:0:0:0:0:00A1", 1, 2)
        },
    ];
    assert_eq!(
        quorum_config_string(&servers, None, 0),
        "server.1=10.0.0.1:1:2:participant;1.2.3.4:7\n\
         server.2=[fe80:0:0:0:0:0:1:2]:3:4:participant;[2001:db8:0:0:0:0:0:1]:5\n\
         server.3=10.1.2.3:1:2:participant;[0:0:0:0:0:0:0:0]:8\n\
         server.4=[2001:db8:0:0:0:0:0:1]:3:4|[2001:db8:0:0:0:0:0:a1]:1:2|a:5:6|a:7:8:participant\n\
         version=0"
    );
}

#[test]
fn java_ipv4_literal_forms() {
    assert_eq!(java_host_string("1.2.3"), "1.2.0.3");
    assert_eq!(java_host_string("1"), "0.0.0.1");
    assert_eq!(java_host_string("1.256"), "1.0.1.0");
    assert_eq!(java_host_string("1.2.3.256"), "1.2.3.256");
    assert_eq!(java_host_string("zk1"), "zk1");
    assert_eq!(java_host_string("1.2.3.4.5"), "1.2.3.4.5");
    assert_eq!(java_host_string("-1"), "-1");
    assert_eq!(java_host_address("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
}

#[test]
fn negative_version_prints_as_unsigned_hex() {
    assert!(quorum_config_string(&[], None, -1).ends_with("version=ffffffffffffffff"));
}
