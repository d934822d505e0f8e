//! Writes the seed corpus (`fuzz/corpus/<target>/`) from corral's own
//! writers: real frames, a real txn log and snapshots, election and Zab
//! packets, HTTP heads and four-letter words. Not a fuzz target; run by
//! hand (`fuzz/target/release/seeds fuzz/corpus`) when a format changes.
use bytes::{Bytes, BytesMut};
use corral::data::digest::TxnDigest;
use corral::quorum::election::wire::{
    encode_frame, ElectionAddress, InitialMessage, Notification, Protocol, ServerState,
};
use corral::protocol::jute::{self, op, Acl, Id, Jute, JuteWrite, TxnHeader};
use corral::storage::snapshot::{self, Compression};
use corral::data::tree::{open_acl, Tree};
use corral::data::txn::{Txn, TxnBody};
use corral::storage::txnlog;
use corral::quorum::zab::wire::{self, pkt, ForwardedRequest, LearnerInfo, QuorumPacket};
use corral::security::quorum_auth::{Packet as QuorumAuthPacket, Status as AuthStatus};
use std::path::Path;

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    std::fs::write(d.join(name), bytes).expect("seed file");
}

fn sel(s: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![s];
    v.extend_from_slice(body);
    v
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn digest_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "digest".into(),
            id: "user:2RBTxmmlFZ0Fh2THLJ0MUbCV5R0=".into(),
        },
    }]
}

fn txn(zxid: i64, op: i32, body: TxnBody) -> Txn {
    Txn {
        hdr: TxnHeader {
            client_id: 0x1000_0000_0000_0001,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
            op,
        },
        body,
    }
}

fn create(path: &str, data: &[u8], acl: Vec<Acl>, ephemeral: bool) -> TxnBody {
    TxnBody::Create(jute::CreateTxn {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl,
        ephemeral,
        parent_cversion: -1,
    })
}

fn txns() -> Vec<Txn> {
    vec![
        txn(
            1,
            op::CREATE_SESSION,
            TxnBody::CreateSession(jute::CreateSessionTxn { time_out: 30000 }),
        ),
        txn(2, op::CREATE, create("/a", b"hello", open_acl(), false)),
        txn(3, op::CREATE, create("/a/b", b"", digest_acl(), false)),
        txn(4, op::CREATE, create("/e", b"x", open_acl(), true)),
        txn(
            5,
            op::SET_DATA,
            TxnBody::SetData(jute::SetDataTxn {
                path: "/a".into(),
                data: None,
                version: 0,
            }),
        ),
        txn(
            6,
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(jute::CreateContainerTxn {
                path: "/c".into(),
                data: None,
                acl: open_acl(),
                parent_cversion: -1,
            }),
        ),
        txn(
            7,
            op::MULTI,
            TxnBody::Multi(vec![
                (op::CREATE, create("/m", b"1", open_acl(), false)),
                (
                    op::DELETE,
                    TxnBody::Delete(jute::DeleteTxn { path: "/m".into() }),
                ),
            ]),
        ),
        txn(
            8,
            op::SET_ACL,
            TxnBody::SetAcl(jute::SetAclTxn {
                path: "/a".into(),
                acl: digest_acl(),
                version: 0,
            }),
        ),
        txn(
            9,
            op::DELETE,
            TxnBody::Delete(jute::DeleteTxn { path: "/c".into() }),
        ),
        txn(
            10,
            op::CLOSE_SESSION,
            TxnBody::CloseSession(jute::CloseSessionTxn {
                paths_to_delete: vec!["/e".into()],
            }),
        ),
    ]
}

fn tree() -> Tree {
    let mut t = Tree::new();
    for x in txns() {
        t.apply(&x, &mut Vec::new());
    }
    t
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);

    // jute: selector byte (see jute.rs) + a record.
    let stat = jute::Stat {
        czxid: 2,
        mzxid: 5,
        ctime: 1,
        mtime: 2,
        version: 1,
        cversion: 1,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 1,
        pzxid: 3,
    };
    let recs: Vec<(u8, BytesMut)> = vec![
        (1, digest_acl()[0].encode()),
        (2, stat.encode()),
        (
            3,
            jute::ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: 30000,
                session_id: 0,
                passwd: Bytes::from(vec![0; 16]),
            }
            .encode(),
        ),
        (
            9,
            jute::SetWatches {
                relative_zxid: 7,
                data_watches: vec!["/a".into()],
                exist_watches: vec!["/x".into()],
                child_watches: vec!["/".into()],
            }
            .encode(),
        ),
        (
            12,
            jute::CreateRequest {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"d")),
                acl: digest_acl(),
                flags: 1,
            }
            .encode(),
        ),
        (
            20,
            jute::ReconfigRequest {
                joining_servers: "server.4=127.0.0.1:2888:3888;2181".into(),
                leaving_servers: "1".into(),
                new_members: String::new(),
                cur_config_id: -1,
            }
            .encode(),
        ),
        (
            23,
            jute::GetAclResponse {
                acl: open_acl(),
                stat: stat.clone(),
            }
            .encode(),
        ),
        (33, {
            let mut b = BytesMut::new();
            b.int(2);
            b.int(op::CREATE);
            b.buffer(Some(
                &jute::CreateTxn {
                    path: "/m".into(),
                    data: None,
                    acl: open_acl(),
                    ephemeral: false,
                    parent_cversion: 1,
                }
                .encode(),
            ));
            b.int(op::DELETE);
            b.buffer(Some(&jute::DeleteTxn { path: "/m".into() }.encode()));
            b
        }),
        (34, vec!["a".to_string(), "b/c".into()].encode()),
    ];
    for (s, r) in &recs {
        put(dir, "jute", &format!("rec{s}"), &sel(*s, r));
    }

    // request: a connect frame, then requests (xid, op, body).
    let connect = jute::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30000,
        session_id: 0,
        passwd: Bytes::from(vec![0; 16]),
    }
    .encode();
    // with the readOnly flag that ZooKeeper 3.5+ clients add
    let conn = frame(&[&connect[..], &[0u8]].concat());
    let req = |xid: i32, opc: i32, body: &[u8]| {
        let mut b = BytesMut::new();
        b.int(xid);
        b.int(opc);
        b.extend_from_slice(body);
        frame(&b)
    };
    let path = |p: &str, w: bool| {
        let mut b = BytesMut::new();
        b.ustring(p);
        b.boolean(w);
        b.to_vec()
    };
    let create_req = jute::CreateRequest {
        path: "/a".into(),
        data: Some(Bytes::from_static(b"d")),
        acl: open_acl(),
        flags: 0,
    }
    .encode();
    let multi = {
        let mut b = BytesMut::new();
        jute::MultiHeader {
            op: op::CREATE,
            done: false,
            err: -1,
        }
        .write(&mut b);
        b.extend_from_slice(&create_req);
        jute::MultiHeader {
            op: op::CHECK,
            done: false,
            err: -1,
        }
        .write(&mut b);
        jute::CheckVersionRequest {
            path: "/a".into(),
            version: 0,
        }
        .write(&mut b);
        jute::MultiHeader {
            op: -1,
            done: true,
            err: -1,
        }
        .write(&mut b);
        b.to_vec()
    };
    let multi_read = {
        let mut b = BytesMut::new();
        jute::MultiHeader {
            op: op::GET_DATA,
            done: false,
            err: -1,
        }
        .write(&mut b);
        b.extend_from_slice(&path("/a", false));
        jute::MultiHeader {
            op: op::GET_CHILDREN,
            done: false,
            err: -1,
        }
        .write(&mut b);
        b.extend_from_slice(&path("/", false));
        jute::MultiHeader {
            op: -1,
            done: true,
            err: -1,
        }
        .write(&mut b);
        b.to_vec()
    };
    let sessions: Vec<(&str, Vec<u8>)> = vec![
        ("connect", conn.clone()),
        (
            "create",
            [conn.clone(), req(1, op::CREATE, &create_req)].concat(),
        ),
        (
            "create2_ttl",
            [
                conn.clone(),
                req(
                    1,
                    op::CREATE_TTL,
                    &jute::CreateTtlRequest {
                        path: "/t".into(),
                        data: None,
                        acl: open_acl(),
                        flags: 5,
                        ttl: 1000,
                    }
                    .encode(),
                ),
            ]
            .concat(),
        ),
        (
            "reads",
            [
                conn.clone(),
                req(1, op::GET_DATA, &path("/a", true)),
                req(2, op::GET_CHILDREN2, &path("/", true)),
                req(3, op::EXISTS, &path("/x", false)),
                req(4, op::GET_ACL, &path("/a", false)[..6]),
                req(-2, op::PING, &[]),
            ]
            .concat(),
        ),
        ("multi", [conn.clone(), req(5, op::MULTI, &multi)].concat()),
        (
            "multiread",
            [conn.clone(), req(5, op::MULTI_READ, &multi_read)].concat(),
        ),
        (
            "auth",
            [
                conn.clone(),
                req(
                    -4,
                    op::AUTH,
                    &jute::AuthPacket {
                        kind: 0,
                        scheme: "digest".into(),
                        auth: Bytes::from_static(b"user:pw"),
                    }
                    .encode(),
                ),
            ]
            .concat(),
        ),
        (
            "setwatches",
            [
                conn.clone(),
                req(
                    -8,
                    op::SET_WATCHES,
                    &jute::SetWatches {
                        relative_zxid: 1,
                        data_watches: vec!["/a".into()],
                        exist_watches: vec![],
                        child_watches: vec!["/".into()],
                    }
                    .encode(),
                ),
            ]
            .concat(),
        ),
        (
            "setacl_delete",
            [
                conn.clone(),
                req(
                    6,
                    op::SET_ACL,
                    &jute::SetAclRequest {
                        path: "/a".into(),
                        acl: digest_acl(),
                        version: -1,
                    }
                    .encode(),
                ),
                req(
                    7,
                    op::DELETE,
                    &jute::DeleteRequest {
                        path: "/a".into(),
                        version: -1,
                    }
                    .encode(),
                ),
                req(8, op::CLOSE_SESSION, &[]),
            ]
            .concat(),
        ),
        (
            "addwatch",
            [
                conn.clone(),
                req(
                    9,
                    op::ADD_WATCH,
                    &jute::AddWatchRequest {
                        path: "/".into(),
                        mode: 1,
                    }
                    .encode(),
                ),
                req(
                    10,
                    op::SET_DATA,
                    &jute::SetDataRequest {
                        path: "/a".into(),
                        data: Some(Bytes::from_static(b"z")),
                        version: 0,
                    }
                    .encode(),
                ),
            ]
            .concat(),
        ),
    ];
    for (n, b) in &sessions {
        put(dir, "request", n, b);
    }

    // txnlog: 0 = one entry, 1/2 = a whole log (corral's writer, with a
    // digest on each record, and a bit of the zero padding).
    let dg = TxnDigest {
        version: 2,
        tree_digest: 0x1234_5678,
    };
    let mut log = BytesMut::new();
    txnlog::write_header(&mut log, 0);
    for x in txns() {
        txnlog::write_record(&mut log, &x, Some(&dg));
    }
    log.extend_from_slice(&[0; 64]);
    put(dir, "txnlog", "log", &sel(1, &log));
    put(dir, "txnlog", "log_reader", &sel(2, &log));
    let torn = &log[..log.len() - 80];
    put(dir, "txnlog", "log_torn", &sel(2, torn));
    for (i, x) in txns().iter().enumerate() {
        put(
            dir,
            "txnlog",
            &format!("entry{i}"),
            &sel(0, &txnlog::marshall_entry(x, Some(&dg))),
        );
    }

    // snapshot: plain, gzip, snappy-java, and the SNAP body with its signature.
    let t = tree();
    let sess = vec![(0x1000_0000_0000_0001, 30000)];
    put(
        dir,
        "snapshot",
        "plain",
        &sel(0, &snapshot::snapshot_to_vec(&t, &sess, Compression::None)),
    );
    put(
        dir,
        "snapshot",
        "gzip",
        &sel(1, &snapshot::snapshot_to_vec(&t, &sess, Compression::Gzip)),
    );
    put(
        dir,
        "snapshot",
        "snappy",
        &sel(
            2,
            &snapshot::snapshot_to_vec(&t, &sess, Compression::Snappy),
        ),
    );
    let mut sync = BytesMut::new();
    snapshot::write_sync_snapshot(&mut sync, &t, &sess);
    wire::write_snap_signature(&mut sync);
    put(dir, "snapshot", "sync", &sel(3, &sync));

    // election: initial messages (each protocol) then notification frames.
    let cfg = Bytes::from_static(
        b"server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nversion=100000000",
    );
    let n1 = Notification::new(ServerState::Looking, 1, 0x1_0000_0005, 2, 1, cfg.clone());
    let n2 = Notification::new(ServerState::Leading, 3, 0x2_0000_0000, 3, 2, Bytes::new());
    let addr = vec![
        ElectionAddress {
            host: "127.0.0.1".into(),
            port: 3888,
        },
        ElectionAddress {
            host: "::1".into(),
            port: 3889,
        },
    ];
    for (name, protocol) in [
        ("v2", Protocol::V2),
        ("v1", Protocol::V1),
        ("bare", Protocol::BareSid),
    ] {
        let m = InitialMessage {
            protocol,
            sid: 2,
            addresses: addr.clone(),
        };
        let mut b = m.encode();
        b.extend_from_slice(&encode_frame(&n1.encode()));
        b.extend_from_slice(&encode_frame(&n2.encode()));
        put(dir, "election", name, &b);
    }
    // A 3.4-style notification (28 bytes: no version, no config).
    let old = &n2.encode()[..28];
    put(
        dir,
        "election",
        "old_notification",
        &[2i64.to_be_bytes().to_vec(), encode_frame(old)].concat(),
    );

    // zab: the packets of a sync and of a running ensemble.
    let li = LearnerInfo {
        serverid: 2,
        protocol_version: 0x10000,
        config_version: 0,
    };
    let prop = txnlog::marshall_entry(&txns()[1], Some(&dg));
    let fwd = ForwardedRequest {
        session_id: 0x1000_0000_0000_0001,
        cxid: 3,
        op: op::CREATE,
        request: Bytes::from(create_req.to_vec()),
        authinfo: None,
    };
    let packets = vec![
        QuorumPacket::with_data(pkt::FOLLOWERINFO, 0x1_0000_0000, li.encode()),
        wire::leader_info(0x2_0000_0000),
        wire::ack_epoch(0x1_0000_0005, 1),
        QuorumPacket::new(pkt::DIFF, 0x1_0000_0005),
        QuorumPacket::with_data(pkt::PROPOSAL, 0x1_0000_0006, prop.clone()),
        QuorumPacket::new(pkt::COMMIT, 0x1_0000_0006),
        QuorumPacket::new(pkt::TRUNC, 0x1_0000_0003),
        QuorumPacket::new(pkt::NEWLEADER, 0x2_0000_0000),
        QuorumPacket::new(pkt::UPTODATE, -1),
        fwd.to_packet(),
        wire::revalidate_request(0x1000_0000_0000_0001, 30000),
        wire::revalidate_reply(0x1000_0000_0000_0001, true),
        wire::ping_reply(&QuorumPacket::new(pkt::PING, 0x2_0000_0001), &[]),
        QuorumPacket::with_data(pkt::INFORM, 0x1_0000_0007, prop),
    ];
    let mut stream = BytesMut::new();
    for (i, p) in packets.iter().enumerate() {
        put(dir, "zab", &format!("pkt{i}"), &p.encode());
        p.write(&mut stream);
    }
    put(dir, "zab", "stream", &stream);
    let auth = QuorumAuthPacket::new(AuthStatus::InProgress, b"token".to_vec());
    put(
        dir,
        "zab",
        "auth",
        &[auth.encode(), packets[0].encode().to_vec()].concat(),
    );
    let mut snap = BytesMut::new();
    QuorumPacket::new(pkt::SNAP, 10).write(&mut snap);
    snapshot::write_sync_snapshot(&mut snap, &t, &sess);
    wire::write_snap_signature(&mut snap);
    put(dir, "zab", "snap_body", &snap);

    // admin_http: request heads, as browsers and curl send them.
    let heads: [(&str, &str); 5] = [
        ("commands", "GET /commands HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*"),
        ("stmk", "GET /commands/stmk?traceMask=306 HTTP/1.1\r\nHost: h"),
        ("node", "GET /api/node?path=%2Fa%2Fb&x=a+b%20c HTTP/1.0"),
        ("head", "HEAD /commands/ruok HTTP/1.1\r\nConnection: close"),
        ("post", "POST /api/stats?  HTTP/1.1\r\nContent-Length: 0"),
    ];
    for (n, h) in heads {
        put(dir, "admin_http", n, h.as_bytes());
    }

    // fourlw: every word; stmk with its mask; a connect frame.
    for w in [
        "ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "gtmk", "srst", "wchs",
        "wchc", "wchp", "mntr", "isro", "hash", "dirs",
    ] {
        put(dir, "fourlw", w, w.as_bytes());
    }
    put(
        dir,
        "fourlw",
        "stmk",
        &[&b"stmk"[..], &306i64.to_be_bytes()].concat(),
    );
    put(dir, "fourlw", "connect", &conn);
}
