//! Unit tests of the [`super::Replica`]: inputs in, actions out.

use super::*;
use crate::data::acl::AclPolicy;
use crate::data::prep::WriteOp;
use crate::protocol::jute;
use crate::quorum::election::{Notification, ServerState};
use crate::quorum::make_zxid;
use crate::quorum::zab::wire::{self, pkt};
use crate::replica::msg::ConnRef;
use crate::replica::sequencer::RoleCell;

fn settings(server_id: i64) -> SeqSettings {
    SeqSettings {
        shards: 1,
        tick_ms: 2000,
        min_session_timeout: 4000,
        max_session_timeout: 40000,
        max_client_cnxns: 0,
        max_cnxns: 0,
        policy: AclPolicy::default(),
        extended_types: false,
        enforce_quota: false,
        container_check_interval_ms: 60_000,
        container_max_per_minute: 10_000,
        container_max_never_used_interval_ms: 0,
        server_id,
        role: RoleCell::default(),
        config_node: None,
        reconfig_enabled: false,
        local_sessions: None,
    }
}

fn at(ms: u64) -> Now {
    Now {
        wall_ms: 1_700_000_000_000 + ms as i64,
        mono_ms: ms,
    }
}

const C: ConnRef = ConnRef { shard: 0, conn: 7 };

fn connect(from: ConnRef) -> Input {
    Input::Shard(ToSeq::Connect {
        from,
        session: 0,
        passwd: Bytes::new(),
        timeout: 10_000,
        read_only: false,
    })
}

fn create(from: ConnRef, session: i64, xid: i32, path: &str, ephemeral: bool) -> Input {
    let req = jute::CreateTtlRequest {
        path: path.into(),
        data: Some(Bytes::new()),
        acl: crate::data::tree::open_acl(),
        flags: if ephemeral { 1 } else { 0 },
        ttl: -1,
    };
    Input::Shard(ToSeq::Write {
        from,
        session,
        xid,
        body: Bytes::new(),
        op: WriteOp::Create {
            op: jute::op::CREATE,
            req,
        },
        auth: Some(Vec::new()),
        reads_before: false,
    })
}

/// The items of every Publish.
fn published(actions: &[Action]) -> Vec<&Item> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Publish { items, .. } => Some(items.iter().flatten()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn appended(actions: &[Action]) -> Vec<i64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Append(t) => Some(t.iter().map(|(t, _)| t.hdr.zxid)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A standalone replica with a session on `C` made durable.
fn standalone_with_session() -> (Replica, i64, i64) {
    let mut r = Replica::new(settings(1), Tree::new(), Vec::new(), None, at(0));
    let first = r.step(at(0));
    assert!(matches!(first[..], [Action::Snapshot { .. }]), "{first:?}");
    r.feed(connect(C), at(1));
    let a = r.step(at(1));
    let zxids = appended(&a);
    assert_eq!(zxids.len(), 1, "{a:?}");
    r.feed(Input::Durable(zxids[0]), at(2));
    let a = r.step(at(2));
    let session = published(&a)
        .into_iter()
        .find_map(|i| match i {
            Item::Connected { session, ok, .. } => {
                assert!(ok);
                Some(*session)
            }
            _ => None,
        })
        .expect("the handshake is answered once durable");
    (r, session, zxids[0])
}

#[test]
fn standalone_publishes_nothing_before_it_is_durable() {
    let mut r = Replica::new(settings(1), Tree::new(), Vec::new(), None, at(0));
    r.step(at(0));
    r.feed(connect(C), at(1));
    let a = r.step(at(1));
    let zxids = appended(&a);
    assert_eq!(zxids.len(), 1);
    assert!(published(&a).is_empty(), "nothing before durable: {a:?}");
    // Time passing does not publish it either.
    let a = r.step(at(500));
    assert!(published(&a).is_empty(), "{a:?}");
    // Durable below it: still nothing.
    r.feed(Input::Durable(zxids[0] - 1), at(501));
    assert!(published(&r.step(at(501))).is_empty());
    r.feed(Input::Durable(zxids[0]), at(502));
    let a = r.step(at(502));
    assert!(
        published(&a).iter().any(|i| matches!(
            i,
            Item::Connected {
                conn: 7,
                ok: true,
                ..
            }
        )),
        "{a:?}"
    );
    assert_eq!(r.published().last_zxid, zxids[0]);
}

#[test]
fn a_failed_log_write_closes_its_connections_and_goes_back_to_durable() {
    let (mut r, session, durable) = standalone_with_session();
    r.feed(create(C, session, 1, "/a", false), at(10));
    let a = r.step(at(10));
    assert_eq!(appended(&a), vec![durable + 1]);
    assert!(published(&a).is_empty());
    r.feed(Input::LogFailed("ENOSPC".into()), at(11));
    let a = r.step(at(11));
    let items = published(&a);
    assert!(
        items.iter().any(|i| matches!(i, Item::Close { conn: 7 })),
        "the writer's connection is closed: {a:?}"
    );
    assert!(
        !items.iter().any(|i| matches!(i, Item::Reply { .. })),
        "no reply for a write that is not durable: {a:?}"
    );
    assert_eq!(r.sequencer().tree().last_zxid, durable);
    assert!(r.sequencer().tree().get("/a").is_none());
    // What the closed connection still sends is dropped (fenced) ...
    r.feed(create(C, session, 2, "/b", false), at(12));
    let a = r.step(at(12));
    assert!(appended(&a).is_empty(), "{a:?}");
    // ... while the next zxid handed out is the failed one again.
    let c2 = ConnRef { shard: 0, conn: 8 };
    r.feed(connect(c2), at(13));
    assert_eq!(appended(&r.step(at(13))), vec![durable + 1]);
}

#[test]
fn a_dropped_close_tracks_its_session_again() {
    let (mut r, session, durable) = standalone_with_session();
    r.feed(create(C, session, 1, "/e", true), at(10));
    let a = r.step(at(10));
    r.feed(Input::Durable(appended(&a)[0]), at(11));
    r.step(at(11));
    assert_eq!(r.published().last_zxid, durable + 1);
    r.feed(
        Input::Shard(ToSeq::Close {
            from: C,
            session,
            xid: 2,
        }),
        at(12),
    );
    let a = r.step(at(12));
    assert_eq!(appended(&a), vec![durable + 2]);
    assert!(
        !r.sequencer().sessions().iter().any(|(s, _)| *s == session),
        "closing takes the session out of the tracker"
    );
    r.feed(Input::LogFailed("EIO".into()), at(13));
    r.step(at(13));
    assert!(r.sequencer().tree().get("/e").is_some());
    assert!(
        r.sequencer().sessions().iter().any(|(s, _)| *s == session),
        "the owner of a durable ephemeral is tracked again, so it expires"
    );
}

// ---- three replicas in memory ----

/// Member `sid` of {1, 2, 3}, with quick timers.
fn quorum_config(sid: Sid) -> QuorumConfig {
    QuorumConfig {
        me: sid,
        quorum: Quorum::new([1, 2, 3], []),
        observer: false,
        election: ElectionSettings {
            finalize_wait_ms: 20,
            min_notification_interval_ms: 20,
            max_notification_interval_ms: 200,
        },
        config: Vec::new(),
        config_servers: String::new(),
        tick_ms: 100,
        init_limit: 10,
        sync_limit: 5,
        connect_limit: 0,
        read_only_mode: false,
        snapshot_size_factor: 0.33,
        reconfig_enabled: false,
        standalone_enabled: true,
        multi_address: false,
        sync_enabled: true,
        observer_master_port: None,
        commit_log_count: crate::quorum::zab::sync::DEFAULT_COMMIT_LOG_COUNT,
        sync_bounds: Default::default(),
    }
}

/// Three members (sids 1..=3) wired together in memory: every action is
/// carried out at once, in order, with instant disks.
struct Net {
    r: Vec<Replica>,
    /// (leader sid, handle) → (learner sid, generation).
    links: Vec<((usize, Handle), (usize, u64))>,
    next_handle: Handle,
    /// Epoch writes fail on these sids.
    epoch_fails: Vec<usize>,
    /// Log appends fail on these sids.
    append_fails: Vec<usize>,
    /// Everything each member did, in order.
    log: Vec<Vec<Action>>,
    /// Messages between members that cannot go through yet (from, to,
    /// what): links are TCP-like, so they wait rather than get lost.
    parked: Vec<(usize, usize, Input)>,
    /// Who listens on its quorum port.
    listening: [bool; 3],
    /// Learners dialling a leader that does not listen yet: (learner,
    /// leader, generation).
    dials: Vec<(usize, usize, u64)>,
    /// Answers that take a time step (a failing fsync).
    slow: Vec<(usize, Input)>,
    now: u64,
}

impl Net {
    fn new(epoch_fails: Vec<usize>) -> Net {
        Net::restarted(epoch_fails, Vec::new())
    }

    /// Members that recovered `sessions` from disk at start-up.
    fn restarted(epoch_fails: Vec<usize>, sessions: Vec<(i64, i32)>) -> Net {
        Net::configured(epoch_fails, sessions, |_| {})
    }

    /// Members whose configs `tweak` changes.
    fn configured(
        epoch_fails: Vec<usize>,
        sessions: Vec<(i64, i32)>,
        tweak: impl Fn(&mut QuorumConfig),
    ) -> Net {
        let r = (1..=3)
            .map(|sid| {
                let mut config = quorum_config(sid);
                tweak(&mut config);
                Replica::new(
                    settings(sid),
                    Tree::new(),
                    sessions.clone(),
                    Some(QuorumStart {
                        config,
                        epochs: Epochs {
                            current: 0,
                            accepted: 0,
                        },
                        committed_log: VecDeque::new(),
                    }),
                    at(0),
                )
            })
            .collect();
        Net {
            r,
            links: Vec::new(),
            next_handle: 1,
            epoch_fails,
            append_fails: Vec::new(),
            log: vec![Vec::new(), Vec::new(), Vec::new()],
            parked: Vec::new(),
            listening: [false; 3],
            dials: Vec::new(),
            slow: Vec::new(),
            now: 0,
        }
    }

    fn feed(&mut self, sid: usize, i: Input) {
        self.r[sid - 1].feed(i, at(self.now));
    }

    /// Steps every member until nothing more happens, `deliver` deciding
    /// which member-to-member packets go through now.
    fn settle(&mut self, deliver: &dyn Fn(usize, usize) -> bool) {
        for _ in 0..1000 {
            let mut any = false;
            let parked = std::mem::take(&mut self.parked);
            for (from, to, i) in parked {
                self.send(from, to, i, deliver);
            }
            for (s, l, g) in std::mem::take(&mut self.dials) {
                self.dial(s, l, g);
            }
            for sid in 1..=3 {
                let actions = self.r[sid - 1].step(at(self.now));
                any |= !actions.is_empty();
                for a in actions {
                    self.carry(sid, &a, deliver);
                    self.log[sid - 1].push(a);
                }
            }
            if !any {
                return;
            }
        }
        panic!("the members never settled");
    }

    /// A learner's dial: it connects once the leader listens.
    fn dial(&mut self, sid: usize, l: usize, generation: u64) {
        if !self.listening[l - 1] {
            self.dials.push((sid, l, generation));
            return;
        }
        let h = self.next_handle;
        self.next_handle += 1;
        self.links.push(((l, h), (sid, generation)));
        self.feed(l, Input::Peer(PeerInput::LearnerUp(h)));
        self.feed(sid, Input::Peer(PeerInput::LeaderUp(generation)));
    }

    fn send(&mut self, from: usize, to: usize, i: Input, deliver: &dyn Fn(usize, usize) -> bool) {
        if deliver(from, to) {
            self.feed(to, i);
        } else {
            self.parked.push((from, to, i));
        }
    }

    fn carry(&mut self, sid: usize, a: &Action, deliver: &dyn Fn(usize, usize) -> bool) {
        match a {
            Action::SendElection { to, msg } => {
                let i = Input::Peer(PeerInput::Election(sid as Sid, msg.clone()));
                self.send(sid, *to as usize, i, deliver);
            }
            Action::Listen => {
                self.listening[sid - 1] = true;
                self.feed(sid, Input::Listening(Ok(())))
            }
            Action::StopListening => {
                self.listening[sid - 1] = false;
                self.links.retain(|((l, _), _)| *l != sid);
            }
            Action::CloseLeader { generation } => {
                self.dials
                    .retain(|(s, _, g)| !(*s == sid && g == generation));
                self.links
                    .retain(|(_, (s, g))| !(*s == sid && g == generation));
            }
            Action::ProbeCanLead { rewrite_epochs } => {
                if rewrite_epochs.is_some() && self.epoch_fails.contains(&sid) {
                    self.slow.push((sid, Input::CanLead(false)));
                } else {
                    self.feed(sid, Input::CanLead(true));
                }
            }
            Action::PersistEpoch { kind, epoch } => {
                let (kind, epoch) = (*kind, *epoch);
                if self.epoch_fails.contains(&sid) {
                    let result = Err("read-only file system".to_string());
                    let i = Input::EpochPersisted {
                        kind,
                        epoch,
                        result,
                    };
                    self.slow.push((sid, i));
                } else {
                    let result = Ok(());
                    self.feed(
                        sid,
                        Input::EpochPersisted {
                            kind,
                            epoch,
                            result,
                        },
                    );
                }
            }
            Action::Append(_) if self.append_fails.contains(&sid) => {
                self.feed(sid, Input::LogFailed("No space left on device".into()))
            }
            Action::Append(t) => {
                let z = t.last().map_or(0, |(t, _)| t.hdr.zxid);
                self.feed(sid, Input::Durable(z));
            }
            Action::Truncate { to, .. } => self.feed(
                sid,
                Input::Truncated {
                    to: *to,
                    result: Ok(None),
                },
            ),
            Action::ReadLog { to, .. } => self.feed(
                sid,
                Input::LogRead {
                    to: *to,
                    size_limit: 0,
                    read: TxnLogRead::default(),
                },
            ),
            Action::ConnectLeader {
                generation, sid: l, ..
            } => self.dial(sid, *l as usize, *generation),
            Action::ToLeader { generation, pkt } => {
                let link = self
                    .links
                    .iter()
                    .find(|(_, (s, g))| *s == sid && g == generation)
                    .map(|(lh, _)| *lh);
                if let Some((l, h)) = link {
                    let i = Input::Peer(PeerInput::FromLearner(h, pkt.clone()));
                    self.send(sid, l, i, deliver);
                }
            }
            Action::ToLearner { to, pkt } => {
                let link = self
                    .links
                    .iter()
                    .find(|((l, h), _)| *l == sid && h == to)
                    .map(|(_, sg)| *sg);
                if let Some((s, g)) = link {
                    let i = Input::Peer(PeerInput::FromLeader(g, pkt.clone()));
                    self.send(sid, s, i, deliver);
                }
            }
            Action::SendSnapshot { .. } => panic!("no member should need a SNAP here"),
            _ => {}
        }
    }

    /// Lets time pass in steps of 10 ms.
    fn run(&mut self, ms: u64, deliver: &dyn Fn(usize, usize) -> bool) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 10;
            for (sid, i) in std::mem::take(&mut self.slow) {
                self.feed(sid, i);
            }
            self.settle(deliver);
        }
    }

    fn role(&self, sid: usize) -> Role {
        self.r[sid - 1].sequencer().role()
    }
}

fn everyone(_: usize, _: usize) -> bool {
    true
}

#[test]
fn three_replicas_elect_and_publish_only_what_a_quorum_has() {
    let mut n = Net::new(Vec::new());
    n.run(2000, &everyone);
    let leader = (1..=3)
        .find(|&s| n.role(s) == Role::Leader)
        .expect("a leader");
    assert_eq!(leader, 3, "equal histories: the highest sid leads");
    for s in [1, 2] {
        assert_eq!(n.role(s), Role::Learner);
    }
    // A handshake on the leader, with its followers cut off: logged and
    // durable on the leader, but not published.
    n.feed(leader, connect(C));
    let isolated = move |a: usize, b: usize| a != leader && b != leader || a == b;
    n.run(200, &isolated);
    let zxid = *appended(&n.log[leader - 1]).last().expect("logged");
    assert!(n.r[leader - 1].published().last_zxid < zxid);
    assert!(
        !published(&n.log[leader - 1])
            .iter()
            .any(|i| matches!(i, Item::Connected { .. })),
        "no answer before a quorum acked"
    );
    // One follower gets through (the other stays cut off): a quorum.
    let one = move |a: usize, b: usize| (a != 1 && b != 1) || a == b;
    n.run(300, &one);
    assert!(
        published(&n.log[leader - 1])
            .iter()
            .any(|i| matches!(i, Item::Connected { ok: true, .. })),
        "answered once a quorum has it"
    );
    assert_eq!(n.r[leader - 1].published().last_zxid, zxid);
    assert_eq!(
        n.r[1].published().last_zxid,
        zxid,
        "the follower applied it"
    );
}

#[test]
fn a_follower_that_cannot_persist_the_epoch_never_acks_it() {
    let mut n = Net::new(vec![1]);
    n.run(3000, &everyone);
    assert!(
        n.log[0]
            .iter()
            .any(|a| matches!(a, Action::PersistEpoch { .. })),
        "sid 1 tried to write an epoch"
    );
    let acked = n.log[0]
        .iter()
        .any(|a| matches!(a, Action::ToLeader { pkt, .. } if pkt.typ == pkt::ACKEPOCH));
    assert!(!acked, "no ACKEPOCH after a failed epoch write");
    assert_ne!(n.role(1), Role::Learner);
    assert_eq!(n.r[0].epochs().map(|e| e.accepted), Some(0));
    // The other two go on without it.
    let leader = (2..=3).find(|&s| n.role(s) == Role::Leader);
    assert!(leader.is_some(), "2 and 3 form a quorum");
}

#[test]
fn a_leader_whose_log_failed_keeps_no_cut_proposal_in_its_committed_log() {
    // Seed 22560 of the replica simulation: the proposals a failed log
    // write cut stayed in the committed log a later leadership sent
    // DIFFs from.
    let mut n = Net::new(Vec::new());
    n.run(2000, &everyone);
    assert_eq!(n.role(3), Role::Leader);
    n.feed(3, connect(C));
    n.run(100, &everyone);
    let committed = n.r[2].published().last_zxid;
    assert!(committed & 0xffff_ffff > 0, "a txn committed");
    // Its followers cut off, the leader proposes another txn, and its log
    // fails to write it: it leaves, its tree back at the durable version.
    n.append_fails = vec![3];
    n.feed(3, connect(ConnRef { shard: 0, conn: 8 }));
    let isolated = |a: usize, b: usize| a == b || (a != 3 && b != 3);
    n.run(50, &isolated);
    let proposed = *appended(&n.log[2]).last().expect("proposed");
    assert!(proposed > committed);
    assert_ne!(n.role(3), Role::Leader);
    assert_eq!(n.r[2].sequencer().tree().last_zxid, committed);
    let log = n.r[2].committed_log_zxids();
    assert!(
        log.iter().all(|z| *z <= committed),
        "the committed log holds {log:x?}, past the log's 0x{committed:x}"
    );
}

/// An election notification from `from` (round 1, peer epoch 1).
fn notification(from: Sid, state: ServerState, leader: Sid, zxid: i64) -> Input {
    let n = Notification::new(state, leader, zxid, 1, 1, Bytes::new());
    Input::Peer(PeerInput::Election(from, n.encode()))
}

/// Member 1 with `config`, `tree` and epoch 1, LOOKING (its can-lead
/// probe answered).
fn looking_member(config: QuorumConfig, tree: Tree) -> Replica {
    let start = QuorumStart {
        config,
        epochs: Epochs {
            current: 1,
            accepted: 1,
        },
        committed_log: VecDeque::new(),
    };
    let mut r = Replica::new(settings(1), tree, Vec::new(), Some(start), at(0));
    let a = r.step(at(0));
    assert!(a.iter().any(|a| matches!(a, Action::ProbeCanLead { .. })));
    r.feed(Input::CanLead(true), at(1));
    r.step(at(1));
    r
}

/// The rounds of the notifications a step sent.
fn rounds_sent(actions: &[Action]) -> Vec<i64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendElection { msg, .. } => Notification::decode(msg).ok(),
            _ => None,
        })
        .map(|n| n.election_epoch)
        .collect()
}

#[test]
fn a_newer_config_in_a_notification_starts_a_new_election_at_round_one() {
    // Reconfig seed 16698: a member that took a newer config from a
    // notification went on counting its rounds up (round 6 here); the
    // members of the new config agreed in round 1 and discarded its votes
    // as late, it discarded theirs as old. ZooKeeper makes a new
    // FastLeaderElection, whose rounds start again at 1.
    let mut config = quorum_config(1);
    config.reconfig_enabled = true;
    let mut r = looking_member(config, Tree::new());
    let looking = |from: Sid, round: i64, config: &str| {
        let n = Notification::new(
            ServerState::Looking,
            from,
            0,
            round,
            1,
            Bytes::from(config.to_string()),
        );
        Input::Peer(PeerInput::Election(from, n.encode()))
    };
    r.feed(looking(2, 5, ""), at(2));
    assert!(rounds_sent(&r.step(at(2))).contains(&5), "joins round 5");
    let newer = "server.1=10.0.0.1:2888:3888:participant;2181\n\
                 server.2=10.0.0.2:2888:3888:participant;2181\n\
                 server.3=10.0.0.3:2888:3888:participant;2181\n\
                 version=100000000";
    r.feed(looking(3, 1, newer), at(3));
    let rounds = rounds_sent(&r.step(at(3)));
    assert!(!rounds.is_empty(), "a new election");
    assert!(rounds.iter().all(|r| *r == 1), "rounds {rounds:?}");
}

/// A member that follows 2, with `connectToLearnerMasterLimit` =
/// `connect_limit` (tick 100 ms, initLimit 10): the `limit_ms` of its
/// ConnectLeader, and whether a refused connection `down_at` ms later is
/// retried.
fn leader_connect(connect_limit: u32, down_at: u64) -> (u64, bool) {
    let mut config = quorum_config(1);
    config.connect_limit = connect_limit;
    let mut r = looking_member(config, Tree::new());
    r.feed(notification(2, ServerState::Leading, 2, 0), at(2));
    r.feed(notification(3, ServerState::Following, 2, 0), at(2));
    let connect = |a: &[Action]| {
        a.iter().find_map(|a| match a {
            Action::ConnectLeader {
                generation,
                sid: 2,
                limit_ms,
                ..
            } => Some((*generation, *limit_ms)),
            _ => None,
        })
    };
    let (g, limit_ms) = connect(&r.step(at(2))).expect("follows 2");
    r.feed(
        Input::Peer(PeerInput::LeaderDown(g, "refused".into())),
        at(2 + down_at),
    );
    let retried = connect(&r.step(at(2 + down_at))).is_some();
    (limit_ms, retried)
}

#[test]
fn connect_to_learner_master_limit_bounds_the_leader_connection() {
    // 0: tickTime × initLimit, as ZooKeeper's Learner.connectToLeader.
    assert_eq!(leader_connect(0, 500), (1000, true));
    // 3 ticks: 300 ms, whatever initLimit says.
    assert_eq!(leader_connect(3, 200), (300, true));
    assert_eq!(leader_connect(3, 500), (300, false));
    assert_eq!(leader_connect(20, 1500), (2000, true));
}

/// Member 1, with `tree` and epoch 1, follows 2 (which leads an
/// established ensemble at `leader_zxid`) into epoch 2 and has acked the
/// epoch: the leader's sync packets come next. Gives the link's generation.
fn following_2(tree: Tree, leader_zxid: i64) -> (Replica, u64) {
    let mut r = looking_member(quorum_config(1), tree);
    // 2 leads an established ensemble at `leader_zxid`.
    r.feed(notification(2, ServerState::Leading, 2, leader_zxid), at(2));
    r.feed(
        notification(3, ServerState::Following, 2, leader_zxid),
        at(2),
    );
    let a = r.step(at(2));
    let g = a
        .iter()
        .find_map(|a| match a {
            Action::ConnectLeader {
                generation, sid: 2, ..
            } => Some(*generation),
            _ => None,
        })
        .expect("follows 2");
    r.feed(Input::Peer(PeerInput::LeaderUp(g)), at(3));
    r.step(at(3));
    let info = wire::leader_info(make_zxid(2, 0));
    r.feed(Input::Peer(PeerInput::FromLeader(g, info)), at(4));
    let a = r.step(at(4));
    assert!(a.iter().any(|a| matches!(
        a,
        Action::PersistEpoch {
            kind: EpochKind::Accepted,
            epoch: 2
        }
    )));
    r.feed(
        Input::EpochPersisted {
            kind: EpochKind::Accepted,
            epoch: 2,
            result: Ok(()),
        },
        at(5),
    );
    r.step(at(5));
    (r, g)
}

#[test]
fn a_reload_after_trunc_replaces_the_published_version() {
    // Seed 16344 of the replica simulation: a member whose log held an
    // uncommitted 0x100000002 was cut back to 0x100000001 by a TRUNC and
    // reloaded, but kept the 0x100000002 tree as the version it had
    // published; it published it again, and as the next leader sent it
    // under a SNAP of 0x100000001.
    let (logged, to) = (make_zxid(1, 2), make_zxid(1, 1));
    let mut tree = Tree::new();
    tree.last_zxid = logged;
    let (mut r, g) = following_2(tree, to);
    let trunc = QuorumPacket::new(pkt::TRUNC, to);
    r.feed(Input::Peer(PeerInput::FromLeader(g, trunc)), at(6));
    let a = r.step(at(6));
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::Truncate { to: t, reload: true } if *t == to)),
        "{a:?}"
    );
    let mut reloaded = Tree::new();
    reloaded.last_zxid = to;
    let reloaded = Box::new(Reloaded {
        tree: reloaded,
        sessions: Vec::new(),
    });
    r.feed(
        Input::Truncated {
            to,
            result: Ok(Some(reloaded)),
        },
        at(7),
    );
    let mut acts = r.step(at(7));
    assert_eq!(
        r.published().last_zxid,
        to,
        "the reloaded tree is the published version"
    );
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Publish { version, .. } if version.last_zxid == to)));
    // The link drops before NEWLEADER: LOOKING again; a snapshot falls due.
    r.feed(
        Input::Peer(PeerInput::LeaderDown(g, "closed".into())),
        at(8),
    );
    acts.extend(r.step(at(8)));
    r.feed(Input::CanLead(true), at(9));
    r.feed(Input::SnapshotDue, at(9));
    acts.extend(r.step(at(9)));
    assert_eq!(r.published().last_zxid, to);
    for a in &acts {
        match a {
            Action::Publish { version: v, .. } => assert!(v.last_zxid <= to, "publishes {v:?}"),
            Action::Snapshot { tree: t, .. } => assert!(t.last_zxid <= to, "snapshots {t:?}"),
            _ => {}
        }
    }
}

/// Member 1 follows 2 into epoch 2 and syncs by a SNAP that says
/// `snap_zxid` and whose tree holds up to `tree_zxid`; then 2 proposes and
/// commits each of `commits` (createSession txns), in that order.
fn snapped_then_committed(snap_zxid: i64, tree_zxid: i64, commits: &[i64]) -> Replica {
    let (mut r, g) = following_2(Tree::new(), tree_zxid);
    let from_leader = |r: &mut Replica, p: QuorumPacket, ms| {
        r.feed(Input::Peer(PeerInput::FromLeader(g, p)), at(ms));
        r.step(at(ms));
    };
    from_leader(&mut r, QuorumPacket::new(pkt::SNAP, snap_zxid), 6);
    let mut tree = Tree::new();
    tree.last_zxid = tree_zxid;
    r.feed(Input::Peer(PeerInput::Snapshot(g, Vec::new(), tree)), at(7));
    r.step(at(7));
    assert_eq!(r.sequencer().tree().last_zxid, tree_zxid);
    for z in commits {
        let txn = crate::data::prep::create_session(0x100 + z, 10_000, *z, 0);
        let data = crate::storage::txnlog::marshall_entry(&txn, None);
        from_leader(&mut r, QuorumPacket::with_data(pkt::PROPOSAL, *z, data), 8);
    }
    for z in commits {
        from_leader(&mut r, QuorumPacket::new(pkt::COMMIT, *z), 9);
    }
    r
}

#[test]
fn a_fuzzy_snapshot_skips_the_commits_it_already_holds() {
    // A ZooKeeper leader serializes its tree while it goes on proposing:
    // its SNAP says 0x200000001, the tree it sends holds up to 0x200000003,
    // and the proposals and commits of 0x200000002 and 0x200000003 follow.
    // Seen once in CI (tests/reconfig.rs, a mixed ensemble led by
    // ZooKeeper): the learner stopped on "a commit below the tree".
    let z = |n| make_zxid(2, n);
    let r = snapped_then_committed(z(1), z(3), &[z(2), z(3), z(4)]);
    // 2 and 3 are skipped, 4 applies on top of the snapshot.
    assert_eq!(r.sequencer().tree().last_zxid, z(4));
    assert!(!r.stopped());
}

#[test]
#[should_panic(expected = "a commit below the tree")]
fn a_commit_below_a_snapshot_is_a_bug() {
    // The same, but the commit is of a txn at or before the SNAP's zxid:
    // no leader sends that, and applying it again would change the tree.
    let z = |n| make_zxid(2, n);
    snapped_then_committed(z(3), z(3), &[z(2)]);
}

// ---- sessions across an election ----

/// The timeout of the sessions these tests open (`connect`).
const SESSION_MS: u64 = 10_000;

/// Nobody reaches anybody: no quorum.
fn alone(a: usize, b: usize) -> bool {
    a == b
}

fn tracks(n: &Net, sid: usize, session: i64) -> bool {
    n.r[sid - 1]
        .sequencer()
        .sessions()
        .iter()
        .any(|(s, _)| *s == session)
}

/// Three members led by 3, with a session (10 s) opened on the leader and
/// its ephemeral `/e`, committed on every member. Its client is gone.
fn net_with_session() -> (Net, i64) {
    let mut n = Net::new(Vec::new());
    n.run(2000, &everyone);
    assert_eq!(n.role(3), Role::Leader);
    n.feed(3, connect(C));
    n.run(100, &everyone);
    let session = published(&n.log[2])
        .into_iter()
        .find_map(|i| match i {
            Item::Connected { session, ok, .. } => {
                assert!(ok);
                Some(*session)
            }
            _ => None,
        })
        .expect("the handshake is answered");
    n.feed(3, create(C, session, 1, "/e", true));
    n.run(100, &everyone);
    for sid in 1..=3 {
        assert!(tracks(&n, sid, session), "{sid} tracks the session");
        let tree = n.r[sid - 1].sequencer().tree();
        assert!(tree.get("/e").is_some(), "{sid} has the ephemeral");
    }
    (n, session)
}

/// No quorum for longer than the session timeout.
fn no_quorum_past_the_timeout(n: &mut Net) {
    n.run(SESSION_MS + 2_000, &alone);
    for sid in 1..=3 {
        assert_ne!(n.role(sid), Role::Leader, "{sid} leads alone");
    }
}

/// Runs until `sid` leads (within 5 s).
fn until_leading(n: &mut Net, sid: usize, deliver: &dyn Fn(usize, usize) -> bool) {
    for _ in 0..500 {
        if n.role(sid) == Role::Leader {
            return;
        }
        n.run(10, deliver);
    }
    panic!("{sid} never led");
}

/// `sid` has just taken the lead: like a new ZooKeeper leader's session
/// tracker, it gives every session a full timeout from now, and expires
/// it after that (its client never came back).
fn a_full_timeout_from_the_lead(
    n: &mut Net,
    sid: usize,
    session: i64,
    deliver: &dyn Fn(usize, usize) -> bool,
) {
    let has =
        |n: &Net| tracks(n, sid, session) && n.r[sid - 1].sequencer().tree().get("/e").is_some();
    assert!(
        has(n),
        "the new leader expired the session as it took the lead"
    );
    n.run(SESSION_MS - 2_000, deliver);
    assert_eq!(n.role(sid), Role::Leader);
    assert!(has(n), "the session expired before its timeout");
    // The deadline is rounded up to the next tick (2 s) boundary.
    n.run(4_000, deliver);
    assert_eq!(n.role(sid), Role::Leader);
    assert!(!tracks(n, sid, session), "the session outlived its timeout");
    assert!(n.r[sid - 1].sequencer().tree().get("/e").is_none());
}

#[test]
fn a_follower_that_takes_the_lead_gives_sessions_a_full_timeout() {
    // The Go client's NoQuorum test: the ensemble has no quorum for
    // longer than the session timeout; the follower that leads next
    // expired every session the moment it took the lead.
    let (mut n, session) = net_with_session();
    no_quorum_past_the_timeout(&mut n);
    let without_3 = |a: usize, b: usize| a == b || (a != 3 && b != 3);
    until_leading(&mut n, 2, &without_3);
    a_full_timeout_from_the_lead(&mut n, 2, session, &without_3);
}

#[test]
fn a_re_elected_leader_gives_sessions_a_full_timeout() {
    let (mut n, session) = net_with_session();
    no_quorum_past_the_timeout(&mut n);
    until_leading(&mut n, 3, &everyone);
    a_full_timeout_from_the_lead(&mut n, 3, session, &everyone);
}

#[test]
fn a_restarted_ensemble_gives_recovered_sessions_a_full_timeout() {
    // Every member recovered the session from disk at start-up, then
    // waited longer than its timeout for a quorum.
    let session = crate::replica::session::initial_session_id(3, 1_600_000_000_000);
    let mut n = Net::restarted(Vec::new(), vec![(session, SESSION_MS as i32)]);
    no_quorum_past_the_timeout(&mut n);
    for sid in 1..=3 {
        assert!(tracks(&n, sid, session), "{sid} tracks the session");
    }
    until_leading(&mut n, 3, &everyone);
    assert!(tracks(&n, 3, session), "expired as 3 took the lead");
    n.run(SESSION_MS - 2_000, &everyone);
    assert!(tracks(&n, 3, session), "expired before its timeout");
    n.run(4_000, &everyone);
    assert!(!tracks(&n, 3, session), "outlived its timeout");
}

/// A `ToSeq::Restore` of `tree`, and where its answer comes.
fn restore(
    tree: Tree,
    sessions: Vec<(i64, i32)>,
    until_ms: i64,
) -> (
    Input,
    std::sync::mpsc::Receiver<Result<i64, msg::RestoreRefused>>,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let input = Input::Shard(ToSeq::Restore {
        tree: Box::new(tree),
        sessions,
        until_ms,
        reply: tx,
    });
    (input, rx)
}

#[test]
fn a_restore_waits_for_no_write_in_flight_then_replaces_the_tree_durably() {
    // The snapshot to restore: another server's tree with /r, at 0x50.
    let (mut other, s2, d2) = standalone_with_session();
    other.feed(create(C, s2, 1, "/r", false), at(5));
    other.step(at(5));
    other.feed(Input::Durable(d2 + 1), at(6));
    other.step(at(6));
    let mut snap = other.sequencer().tree().clone();
    snap.last_zxid = 0x50;

    let (mut r, session, durable) = standalone_with_session();
    r.feed(create(C, session, 1, "/a", false), at(10));
    r.step(at(10));
    let (input, rx) = restore(snap.clone(), vec![(99, 10_000)], at(60_000).wall_ms);
    r.feed(input, at(11));
    let a = r.step(at(11));
    assert!(rx.try_recv().is_err(), "a write is in flight: {a:?}");
    // A second restore meanwhile is refused.
    let (input2, rx2) = restore(snap.clone(), Vec::new(), at(60_000).wall_ms);
    r.feed(input2, at(12));
    r.step(at(12));
    assert_eq!(rx2.try_recv(), Ok(Err(msg::RestoreRefused::InProgress)));
    // The write is durable: it is answered, then the restore runs.
    r.feed(Input::Durable(durable + 1), at(13));
    let a = r.step(at(13));
    assert_eq!(rx.try_recv(), Ok(Ok(0x50)));
    assert!(
        published(&a)
            .iter()
            .any(|i| matches!(i, Item::Reply { conn: 7, .. })),
        "{a:?}"
    );
    let last = a
        .iter()
        .filter_map(|x| match x {
            Action::Publish { version, .. } => Some(version.clone()),
            _ => None,
        })
        .last()
        .expect("the restored version goes to the shards");
    assert!(last.get("/r").is_some() && last.get("/a").is_none());
    assert_eq!(last.last_zxid, 0x50);
    assert!(
        a.iter().any(|x| matches!(
            x,
            Action::Snapshot { tree, closes_gap: true, sessions }
                if tree.last_zxid == 0x50 && sessions.iter().any(|(id, _)| *id == 99)
        )),
        "the restore is written as a snapshot that closes the log: {a:?}"
    );
    // Writes go on after it.
    r.feed(connect(ConnRef { shard: 0, conn: 8 }), at(14));
    assert_eq!(appended(&r.step(at(14))), vec![0x51]);
}

#[test]
fn a_restore_that_cannot_find_a_quiet_moment_gives_up() {
    let (mut r, session, _) = standalone_with_session();
    r.feed(create(C, session, 1, "/a", false), at(10));
    r.step(at(10));
    let (input, rx) = restore(Tree::new(), Vec::new(), at(20).wall_ms);
    r.feed(input, at(11));
    r.step(at(11));
    assert!(rx.try_recv().is_err());
    r.step(at(21));
    assert_eq!(rx.try_recv(), Ok(Err(msg::RestoreRefused::Busy)));
    assert!(r.sequencer().tree().get("/a").is_some());
}

#[test]
fn an_ensemble_member_refuses_a_restore_and_freezes_its_published_version() {
    let start = QuorumStart {
        config: quorum_config(1),
        epochs: Epochs {
            current: 1,
            accepted: 1,
        },
        committed_log: VecDeque::new(),
    };
    let mut r = Replica::new(settings(1), Tree::new(), Vec::new(), Some(start), at(0));
    r.step(at(0));
    let (input, rx) = restore(Tree::new(), Vec::new(), at(60_000).wall_ms);
    r.feed(input, at(1));
    r.step(at(1));
    assert_eq!(rx.try_recv(), Ok(Err(msg::RestoreRefused::Ensemble)));
    let (tx, frx) = std::sync::mpsc::sync_channel(1);
    r.feed(Input::Shard(ToSeq::Freeze(tx)), at(2));
    r.step(at(2));
    let f = frx.try_recv().expect("frozen");
    assert!(!f.standalone);
    assert!(Arc::ptr_eq(&f.tree, r.published()));
}

/// A follower's sync and a write it forwarded, in one step: the SYNC goes
/// after the PROPOSAL (and, once a quorum acks, the COMMIT) of a write
/// forwarded before it, and before those of a write forwarded after it,
/// as a ZooKeeper follower matches them against its own requests in
/// order. Answered when its step's proposals were not out yet, it
/// overtook the write before it; answered after them, it fell behind the
/// write after it. A ZooKeeper 3.8 follower took either for another
/// server's commit and stopped answering its clients.
#[test]
fn a_learners_sync_keeps_its_place_among_its_writes() {
    use crate::quorum::zab::wire::ForwardedRequest;
    use jute::Jute;
    let (mut n, session) = net_with_session();
    let h = n
        .links
        .iter()
        .find(|((l, _), (s, _))| *l == 3 && *s == 1)
        .map(|((_, h), _)| *h)
        .expect("1 follows 3");
    let forward = |cxid, path: Option<&str>| {
        let (op, request) = match path {
            Some(path) => {
                let create = jute::CreateRequest {
                    path: path.into(),
                    data: Some(Bytes::new()),
                    acl: crate::data::tree::open_acl(),
                    flags: 0,
                };
                (jute::op::CREATE, create.encode().freeze())
            }
            // SyncRequest: the path alone.
            None => (jute::op::SYNC, String::from("/").encode().freeze()),
        };
        let f = ForwardedRequest {
            session_id: session,
            cxid,
            op,
            request,
            authinfo: Some(Vec::new()),
        };
        Input::Peer(PeerInput::FromLearner(h, f.to_packet()))
    };
    // One step of the leader: what it sent 1 (carried on as usual).
    let to_1 = |n: &mut Net| -> Vec<i32> {
        let actions = n.r[2].step(at(n.now));
        let sent = actions
            .iter()
            .filter_map(|a| match a {
                Action::ToLearner { to, pkt } if *to == h => Some(pkt.typ),
                _ => None,
            })
            .collect();
        for a in actions {
            n.carry(3, &a, &everyone);
            n.log[2].push(a);
        }
        sent
    };
    // Write, then sync: the SYNC waits for the write.
    n.feed(3, forward(5, Some("/w")));
    n.feed(3, forward(6, None));
    assert_eq!(
        to_1(&mut n),
        vec![pkt::PROPOSAL],
        "the SYNC overtook the write"
    );
    n.run(100, &everyone);
    // Sync, then write: nothing is outstanding, so the SYNC goes at once,
    // ahead of the write's PROPOSAL.
    n.feed(3, forward(7, None));
    n.feed(3, forward(8, Some("/v")));
    assert_eq!(
        to_1(&mut n),
        vec![pkt::SYNC, pkt::PROPOSAL],
        "the SYNC waited for a later write"
    );
}

#[test]
fn the_committed_log_keeps_commit_log_count_txns() {
    // zookeeper.commitLogCount: the committed log a leader syncs learners
    // from, and that a member keeps between leaderships, holds that many.
    let keep = 510;
    let mut n = Net::configured(Vec::new(), Vec::new(), |c| c.commit_log_count = keep);
    n.run(2000, &everyone);
    assert_eq!(n.role(3), Role::Leader);
    for conn in 0..600 {
        n.feed(3, connect(ConnRef { shard: 0, conn }));
        n.run(5, &everyone);
    }
    n.run(200, &everyone);
    assert_eq!(n.r[2].published().last_zxid & 0xffff_ffff, 600);
    // The leader goes; the members' committed logs show the bound.
    let isolated = |a: usize, b: usize| a == b || (a != 3 && b != 3);
    n.run(3000, &isolated);
    for i in 0..2 {
        let log = n.r[i].committed_log_zxids();
        assert_eq!(log.len(), keep, "member {}", i + 1);
        assert_eq!(log.last().map(|z| z & 0xffff_ffff), Some(600));
    }
}
