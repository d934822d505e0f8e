//! corral's Zab learner against a live ZooKeeper 3.8 leader.
//!
//! Two Debian ZooKeeper peers (sids 1 and 3) form a quorum of a three-member
//! ensemble; the third member (sid 2) is corral's [`Learner`] state machine
//! driven here over a plain socket. It registers with the ZooKeeper leader,
//! syncs, and then takes part in the broadcast: with the ZooKeeper follower
//! killed, the leader can only commit with corral's ACKs. Every txn it sees
//! is decoded with corral's own txn codec.

mod common;

use bytes::BytesMut;
use common::ensemble::{Ensemble, Kind};
use common::Raw;
use corral::data::txn::{Txn, TxnBody};
use corral::quorum::zab::learner::{Learner, LearnerAction, LearnerKind, LearnerSettings};
use corral::quorum::zab::wire::{self, pkt};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The learner and its socket; what it logged, committed and persisted.
struct Peer {
    sock: TcpStream,
    buf: BytesMut,
    learner: Learner,
    started: Instant,
    logged: Vec<i64>,
    committed: Vec<Txn>,
    epochs: (Option<i64>, Option<i64>),
    established: Option<i64>,
    sync_mode: Option<&'static str>,
    truncated_to: Option<i64>,
    /// A SNAP's snapshot still to read off the stream, at this zxid.
    snapshot_due: Option<i64>,
    /// The snapshot a SNAP brought: sessions and the tree.
    snapshot: Option<(Vec<(i64, i32)>, corral::data::tree::Tree)>,
}

impl Peer {
    fn connect(addr: &str, last_zxid: i64, epoch: i64) -> Peer {
        let sock = TcpStream::connect(addr).expect("connect to the leader's quorum port");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let learner = Learner::new(
            2,
            LearnerKind::Follower,
            epoch,
            epoch,
            last_zxid,
            LearnerSettings::new(500, 10, 5),
        );
        let mut p = Peer {
            sock,
            buf: BytesMut::new(),
            learner,
            started: Instant::now(),
            logged: Vec::new(),
            committed: Vec::new(),
            epochs: (None, None),
            established: None,
            sync_mode: None,
            truncated_to: None,
            snapshot_due: None,
            snapshot: None,
        };
        let now = p.now();
        let a = p.learner.connected(now);
        p.carry_out(a);
        p
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn carry_out(&mut self, actions: Vec<LearnerAction>) {
        let mut queue: std::collections::VecDeque<LearnerAction> = actions.into();
        while let Some(a) = queue.pop_front() {
            match a {
                LearnerAction::Send(p) => {
                    self.sock
                        .write_all(&p.encode())
                        .expect("write to the leader");
                }
                LearnerAction::PersistAcceptedEpoch(e) => self.epochs.0 = Some(e),
                LearnerAction::PersistCurrentEpoch(e) => self.epochs.1 = Some(e),
                LearnerAction::Log { zxid, data } => {
                    Txn::decode_entry_or_panic(&data);
                    self.logged.push(zxid);
                    // This log is "durable" at once.
                    queue.extend(self.learner.durable(zxid));
                }
                LearnerAction::Commit { data, .. } | LearnerAction::ApplyUnlogged { data, .. } => {
                    self.committed.push(Txn::decode_entry_or_panic(&data));
                }
                LearnerAction::Truncate { to } => self.truncated_to = Some(to),
                LearnerAction::LoadSnapshot { zxid } => self.snapshot_due = Some(zxid),
                LearnerAction::Established { epoch } => self.established = Some(epoch),
                LearnerAction::ReplyPing { ping } => {
                    let reply = wire::ping_reply(&ping, &[]);
                    self.sock
                        .write_all(&reply.encode())
                        .expect("write to the leader");
                }
                LearnerAction::LostLeader { why } => panic!("the learner gave up: {why}"),
                LearnerAction::TakeSnapshot
                | LearnerAction::LeaderConfig(_)
                | LearnerAction::Activate { .. }
                | LearnerAction::Revalidated { .. }
                | LearnerAction::SyncDone => {}
            }
        }
    }

    /// Reads and handles packets until `done` holds or `within` passes.
    fn pump_until(&mut self, within: Duration, what: &str, done: impl Fn(&Peer) -> bool) {
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 64 * 1024];
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            loop {
                if let Some(zxid) = self.snapshot_due {
                    // The snapshot, then the signature, straight off the stream.
                    let Some((sessions, tree, used)) =
                        corral::storage::snapshot::read_sync_snapshot(&self.buf, zxid)
                            .expect("ZooKeeper's SNAP snapshot reads")
                    else {
                        break;
                    };
                    let Some(sig) = wire::decode_snap_signature(&self.buf[used..])
                        .expect("the snapshot signature")
                    else {
                        break;
                    };
                    let _ = self.buf.split_to(used + sig);
                    self.snapshot = Some((sessions, tree));
                    self.snapshot_due = None;
                }
                match wire::decode(&self.buf) {
                    Ok(Some((p, used))) => {
                        let _ = self.buf.split_to(used);
                        if matches!(p.typ, pkt::DIFF | pkt::TRUNC | pkt::SNAP) {
                            self.sync_mode = Some(wire::pkt::name(p.typ));
                        }
                        let now = self.now();
                        let a = self.learner.packet(p, now);
                        self.carry_out(a);
                    }
                    Ok(None) => break,
                    Err(e) => panic!("a packet from ZooKeeper did not decode: {e}"),
                }
            }
            match self.sock.read(&mut chunk) {
                Ok(0) => panic!("the leader closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("read from the leader: {e}"),
            }
            let now = self.now();
            let a = self.learner.tick(now);
            self.carry_out(a);
        }
    }

    fn saw_create(&self, path: &str) -> bool {
        self.committed
            .iter()
            .any(|t| t.body.path() == Some(path) && matches!(t.body, TxnBody::Create(_)))
    }
}

trait DecodeEntry {
    fn decode_entry_or_panic(data: &[u8]) -> Txn;
}

impl DecodeEntry for Txn {
    fn decode_entry_or_panic(data: &[u8]) -> Txn {
        match corral::storage::txnlog::decode_entry(data) {
            Ok((t, _digest)) => t,
            Err(e) => panic!("a txn from ZooKeeper did not decode: {e}"),
        }
    }
}

/// Members 1 and 3 (ZooKeeper 3.8) of a three-member ensemble, up with
/// a leader; member 2's place is left for the learner under test. Returns
/// the ensemble and the leader's index.
fn zookeeper_pair() -> (Ensemble, usize) {
    let mut e = Ensemble::new(&[Kind::ZooKeeper, Kind::ZooKeeper, Kind::ZooKeeper]);
    e.start(0);
    e.start(2);
    e.wait_for(Duration::from_secs(60), "a ZooKeeper leader", |e| {
        e.one_leader(&[0, 2]).is_some()
    });
    let leader = e.one_leader(&[0, 2]).expect("a ZooKeeper leader");
    (e, leader)
}

fn mntr(e: &Ensemble, i: usize, key: &str) -> Option<String> {
    e.four_letter(i, "mntr").lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k == key).then(|| v.to_string())
    })
}

#[test]
fn corral_learner_syncs_with_a_zookeeper_leader_and_its_acks_commit() {
    let (mut e, leader) = zookeeper_pair();
    let zk_follower = 2 - leader;
    let client_addr = format!("127.0.0.1:{}", e.members[leader].client);
    let mut c = Raw::connect(&client_addr);
    for i in 0..5 {
        assert_eq!(c.create(&format!("/before{i}"), b"x", 0).err, 0);
    }

    // A learner that has the first create gets the rest as a DIFF.
    let quorum = format!("127.0.0.1:{}", e.members[leader].quorum);
    let first = {
        let mut probe = Raw::connect(&client_addr);
        probe.exists("/before0", false).expect("/before0").czxid
    };
    let mut d = Peer::connect(&quorum, first, first >> 32);
    d.pump_until(Duration::from_secs(20), "UPTODATE after a DIFF", |p| {
        p.established.is_some()
    });
    assert_eq!(d.sync_mode, Some("DIFF"));
    assert!(!d.saw_create("/before0"), "/before0 is not sent again");
    for i in 1..5 {
        assert!(
            d.saw_create(&format!("/before{i}")),
            "/before{i} in the DIFF"
        );
    }
    drop(d);

    // A fresh learner (zxid 0) is older than the leader's log: SNAP. The
    // snapshot is read with corral's snapshot codec.
    let mut p = Peer::connect(&quorum, 0, 0);
    p.pump_until(Duration::from_secs(20), "UPTODATE after a SNAP", |p| {
        p.established.is_some()
    });
    let epoch = p.established.unwrap();
    assert!(epoch >= 1, "the established epoch is {epoch}");
    assert_eq!(
        p.epochs,
        (Some(epoch), Some(epoch)),
        "both epochs persisted"
    );
    assert_eq!(p.sync_mode, Some("SNAP"));
    let (sessions, tree) = p.snapshot.as_ref().expect("the SNAP snapshot");
    for i in 0..5 {
        let n = tree
            .get(&format!("/before{i}"))
            .expect("node in the snapshot");
        assert_eq!(n.data(), Some(&b"x"[..]));
    }
    assert!(
        !sessions.is_empty(),
        "the client's session is in the snapshot"
    );
    e.wait_for(
        Duration::from_secs(10),
        "the leader to count corral as synced",
        |e| mntr(e, leader, "zk_synced_followers").as_deref() == Some("2"),
    );

    // With the ZooKeeper follower gone, only corral's ACKs make a quorum.
    e.kill9(zk_follower);
    let w = std::thread::spawn(move || {
        let mut c = c;
        let r = c.create("/after", b"acked by corral", 0);
        (r.err, c)
    });
    p.pump_until(Duration::from_secs(20), "the commit of /after", |p| {
        p.saw_create("/after")
    });
    let (err, mut c) = w.join().unwrap();
    assert_eq!(err, 0, "the write committed with corral's ACK");
    assert!(
        p.logged.iter().any(|&z| z >> 32 == epoch),
        "proposals of epoch {epoch} logged"
    );
    let (data, _) = c
        .get_data("/after", false)
        .expect("/after readable on the leader");
    assert_eq!(data.as_deref(), Some(&b"acked by corral"[..]));
}

#[test]
fn a_learner_ahead_of_a_zookeeper_leader_is_truncated() {
    let (e, leader) = zookeeper_pair();
    let mut c = Raw::connect(&format!("127.0.0.1:{}", e.members[leader].client));
    assert_eq!(c.create("/a", b"", 0).err, 0);
    let last = c.create("/b", b"", 0).zxid;
    // The learner claims txns of the leader's epoch past the leader's last:
    // they were never committed, and ZooKeeper truncates them.
    let quorum = format!("127.0.0.1:{}", e.members[leader].quorum);
    let epoch = last >> 32;
    let mut p = Peer::connect(&quorum, last + 10, epoch);
    p.pump_until(Duration::from_secs(20), "UPTODATE", |p| {
        p.established.is_some()
    });
    assert_eq!(p.sync_mode, Some("TRUNC"));
    assert_eq!(p.truncated_to, Some(last));
}
