//! A learner's side of Zab (follower or observer), as a state machine
//! with no I/O.
//!
//! Owns what ZooKeeper 3.8's `Learner.registerWithLeader`,
//! `Learner.syncWithLeader`, `Follower.processPacket` and
//! `Observer.processPacket` do: the FOLLOWERINFO/OBSERVERINFO handshake and
//! its epoch checks, the DIFF/TRUNC/SNAP sync with the proposals and
//! commits that arrive during it, NEWLEADER (persist the current epoch,
//! ack once the synced txns are durable) and UPTODATE, then logging,
//! acking and committing proposals (a follower) or logging and applying
//! INFORMs (an observer).
//!
//! One machine serves one connection to one leader; a lost leader means a
//! new election and a new machine. The driver carries out the returned
//! [`LearnerAction`]s in order, and reports its txn log's durability.

use super::wire::{self, pkt, ForwardedRequest, LearnerInfo, QuorumPacket, WireError};
use crate::quorum::{epoch_of, make_zxid, Sid};
use bytes::Bytes;
use std::collections::VecDeque;

/// Which kind of learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerKind {
    Follower,
    Observer,
}

/// Timing (`tickTime`, `initLimit`, `syncLimit`) and the config version
/// FOLLOWERINFO reports.
#[derive(Debug, Clone, Copy)]
pub struct LearnerSettings {
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub config_version: i64,
}

impl LearnerSettings {
    pub fn new(tick_ms: u64, init_limit: u32, sync_limit: u32) -> LearnerSettings {
        LearnerSettings {
            tick_ms,
            init_limit,
            sync_limit,
            config_version: 0,
        }
    }
}

/// Why a learner gave up on its leader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearnerError {
    #[error("leader's epoch {leader} is less than our accepted epoch {ours}")]
    EpochLower { leader: i64, ours: i64 },
    #[error("first packet should have been LEADERINFO, got {0}")]
    NotLeaderInfo(&'static str),
    #[error("expected DIFF, TRUNC or SNAP, got {0}")]
    NotSyncMode(&'static str),
    #[error("COMMIT {0:#x} with no proposal to commit")]
    CommitWithoutProposal(i64),
    #[error("committing {commit:#x}, but the next pending txn is {pending:#x}")]
    UnmatchedCommit { commit: i64, pending: i64 },
    #[error("bad packet body: {0}")]
    Body(#[from] WireError),
    #[error("nothing from the leader for {0} ms")]
    Timeout(u64),
}

/// What the driver does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LearnerAction {
    /// Write a packet to the leader.
    Send(QuorumPacket),
    /// Write `acceptedEpoch` durably before going on.
    PersistAcceptedEpoch(i64),
    /// Write `currentEpoch` durably before going on.
    PersistCurrentEpoch(i64),
    /// SNAP: the serialized tree (and sessions) follows on the stream, then
    /// [`wire::SNAP_SIGNATURE`]; read it and install it in place of the
    /// tree, whose last zxid is then `zxid`. Only then feed more packets.
    LoadSnapshot { zxid: i64 },
    /// TRUNC: cut the txn log after `to` and reload the tree from disk.
    Truncate { to: i64 },
    /// Apply a committed txn to the tree without logging it (a SNAP or
    /// TRUNC sync before NEWLEADER: the snapshot taken then keeps it).
    ApplyUnlogged { zxid: i64, data: Bytes },
    /// Write a snapshot of the tree as it is now, durably, before going on;
    /// the txn log written before it must not replay on top of it (drop
    /// it). After a SNAP or TRUNC sync the snapshot holds all the history
    /// there is, and an old log tail past its zxid would be a dead
    /// branch. (ZooKeeper keeps the old log, and with
    /// `forceSnapshotSync` would replay such a tail after a restart.)
    TakeSnapshot,
    /// Append a txn to the txn log; report it with [`Learner::durable`].
    Log { zxid: i64, data: Bytes },
    /// Apply a logged txn.
    Commit { zxid: i64, data: Bytes },
    /// The quorum config NEWLEADER carried (`QuorumMaj.toString` text).
    LeaderConfig(Bytes),
    /// In sync: start serving clients in `epoch`.
    Established { epoch: i64 },
    /// The leader pinged: answer with [`wire::ping_reply`] and the
    /// sessions touched since the last one.
    ReplyPing { ping: QuorumPacket },
    /// The leader's answer to a REVALIDATE.
    Revalidated { session_id: i64, valid: bool },
    /// The leader's SYNC: the oldest pending `sync` may answer.
    SyncDone,
    /// Give up on this leader: close the connection, go back to election.
    LostLeader { why: LearnerError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Idle,
    AwaitLeaderInfo,
    AwaitSyncMode,
    Syncing,
    Broadcast,
    Dead,
}

/// The learner's state machine. See the module doc.
pub struct Learner {
    me: Sid,
    kind: LearnerKind,
    settings: LearnerSettings,
    accepted_epoch: i64,
    current_epoch: i64,
    last_logged_zxid: i64,
    stage: Stage,
    new_epoch: i64,
    /// A SNAP or TRUNC sync: commits apply directly until NEWLEADER, which
    /// snapshots them.
    snapshot_needed: bool,
    write_to_txn_log: bool,
    newleader_seen: bool,
    not_committed: VecDeque<(i64, Bytes)>,
    committed: VecDeque<i64>,
    /// The NEWLEADER ACK waits for the txns logged at NEWLEADER.
    newleader_ack_after: Option<i64>,
    /// A follower's logged txns not yet committed (`pendingTxns`).
    pending: VecDeque<(i64, Bytes)>,
    /// Txns logged by this machine and not yet reported durable.
    undurable: VecDeque<i64>,
    last_heard: u64,
    out: Vec<LearnerAction>,
}

impl Learner {
    /// A learner with its persisted epochs and its last zxid (the tree's,
    /// after loading snapshot and log). Call [`Learner::connected`] once
    /// connected to the leader.
    pub fn new(
        me: Sid,
        kind: LearnerKind,
        accepted_epoch: i64,
        current_epoch: i64,
        last_logged_zxid: i64,
        settings: LearnerSettings,
    ) -> Learner {
        Learner {
            me,
            kind,
            settings,
            accepted_epoch,
            current_epoch,
            last_logged_zxid,
            stage: Stage::Idle,
            new_epoch: -1,
            snapshot_needed: true,
            write_to_txn_log: false,
            newleader_seen: false,
            not_committed: VecDeque::new(),
            committed: VecDeque::new(),
            newleader_ack_after: None,
            pending: VecDeque::new(),
            undurable: VecDeque::new(),
            last_heard: 0,
            out: Vec::new(),
        }
    }

    /// The epoch being synced to or followed, once LEADERINFO is in.
    pub fn epoch(&self) -> Option<i64> {
        (self.new_epoch >= 0).then_some(self.new_epoch)
    }

    /// Whether UPTODATE is in.
    pub fn is_established(&self) -> bool {
        self.stage == Stage::Broadcast
    }

    /// Whether this machine gave up on its leader.
    pub fn is_lost(&self) -> bool {
        self.stage == Stage::Dead
    }

    /// The epochs as persisted so far: (accepted, current).
    pub fn epochs(&self) -> (i64, i64) {
        (self.accepted_epoch, self.current_epoch)
    }

    /// Connected to the leader: FOLLOWERINFO or OBSERVERINFO, with zxid
    /// `(acceptedEpoch << 32)` and our `LearnerInfo`.
    pub fn connected(&mut self, now: u64) -> Vec<LearnerAction> {
        if self.stage != Stage::Idle {
            return self.take();
        }
        self.stage = Stage::AwaitLeaderInfo;
        self.last_heard = now;
        let typ = match self.kind {
            LearnerKind::Follower => pkt::FOLLOWERINFO,
            LearnerKind::Observer => pkt::OBSERVERINFO,
        };
        let info = LearnerInfo {
            serverid: self.me,
            protocol_version: wire::PROTOCOL_VERSION,
            config_version: self.settings.config_version,
        };
        self.send(QuorumPacket::with_data(
            typ,
            make_zxid(self.accepted_epoch, 0),
            info.encode(),
        ));
        self.take()
    }

    /// A packet from the leader.
    pub fn packet(&mut self, p: QuorumPacket, now: u64) -> Vec<LearnerAction> {
        if matches!(self.stage, Stage::Idle | Stage::Dead) {
            return self.take();
        }
        self.last_heard = now;
        if let Err(why) = self.on_packet(p) {
            self.lose(why);
        }
        self.take()
    }

    /// The txn log is durable up to `zxid`: ACKs go out (a follower's).
    pub fn durable(&mut self, zxid: i64) -> Vec<LearnerAction> {
        if self.stage == Stage::Dead {
            return self.take();
        }
        let waiting = self.newleader_ack_after.is_some();
        let mut done = Vec::new();
        while self.undurable.front().is_some_and(|z| *z <= zxid) {
            done.extend(self.undurable.pop_front());
        }
        if waiting {
            // Sends NEWLEADER's ACK, then those of the txns now durable.
            self.maybe_ack_newleader();
        } else if self.kind == LearnerKind::Follower && self.newleader_seen {
            for z in done {
                self.send(QuorumPacket::new(pkt::ACK, z));
            }
        }
        self.take()
    }

    /// Time passes: the socket's read timeout (`initLimit` ticks until
    /// NEWLEADER, `syncLimit` ticks after).
    pub fn tick(&mut self, now: u64) -> Vec<LearnerAction> {
        if matches!(self.stage, Stage::Idle | Stage::Dead) {
            return self.take();
        }
        let limit = self.settings.tick_ms
            * if self.newleader_seen {
                self.settings.sync_limit
            } else {
                self.settings.init_limit
            } as u64;
        if now.saturating_sub(self.last_heard) >= limit {
            self.lose(LearnerError::Timeout(limit));
        }
        self.take()
    }

    /// Forwards a client request to the leader (`Learner.request`).
    pub fn forward(&mut self, req: &ForwardedRequest) -> Vec<LearnerAction> {
        if self.stage != Stage::Dead {
            self.send(req.to_packet());
        }
        self.take()
    }

    /// Asks the leader whether a session is valid (`validateSession`).
    pub fn revalidate(&mut self, session_id: i64, timeout: i32) -> Vec<LearnerAction> {
        if self.stage != Stage::Dead {
            self.send(wire::revalidate_request(session_id, timeout));
        }
        self.take()
    }

    fn take(&mut self) -> Vec<LearnerAction> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, p: QuorumPacket) {
        self.out.push(LearnerAction::Send(p));
    }

    fn lose(&mut self, why: LearnerError) {
        if self.stage != Stage::Dead {
            self.stage = Stage::Dead;
            self.out.push(LearnerAction::LostLeader { why });
        }
    }

    fn log(&mut self, zxid: i64, data: Bytes) {
        self.out.push(LearnerAction::Log {
            zxid,
            data: data.clone(),
        });
        self.undurable.push_back(zxid);
        if self.kind == LearnerKind::Follower {
            self.pending.push_back((zxid, data));
        }
    }

    /// `FollowerZooKeeperServer.commit`.
    fn commit(&mut self, zxid: i64) -> Result<(), LearnerError> {
        let Some((first, _)) = self.pending.front() else {
            // "Committing ... without seeing txn": logged and ignored.
            return Ok(());
        };
        if *first != zxid {
            return Err(LearnerError::UnmatchedCommit {
                commit: zxid,
                pending: *first,
            });
        }
        if let Some((zxid, data)) = self.pending.pop_front() {
            self.out.push(LearnerAction::Commit { zxid, data });
        }
        Ok(())
    }

    fn maybe_ack_newleader(&mut self) {
        if let Some(last) = self.newleader_ack_after {
            if self.undurable.front().is_none_or(|z| *z > last) {
                self.newleader_ack_after = None;
                self.send(QuorumPacket::new(pkt::ACK, make_zxid(self.new_epoch, 0)));
                // ACKs of the txns already durable follow NEWLEADER's.
                if self.kind == LearnerKind::Follower {
                    let acked: Vec<i64> = self
                        .pending
                        .iter()
                        .map(|(z, _)| *z)
                        .filter(|z| *z <= last && !self.undurable.contains(z))
                        .collect();
                    for z in acked {
                        self.send(QuorumPacket::new(pkt::ACK, z));
                    }
                }
            }
        }
    }

    fn on_packet(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        match self.stage {
            Stage::AwaitLeaderInfo => self.on_leader_info(p),
            Stage::AwaitSyncMode => self.on_sync_mode(p),
            Stage::Syncing => self.on_sync_packet(p),
            Stage::Broadcast => match self.kind {
                LearnerKind::Follower => self.on_follower_packet(p),
                LearnerKind::Observer => self.on_observer_packet(p),
            },
            Stage::Idle | Stage::Dead => Ok(()),
        }
    }

    /// `registerWithLeader` after FOLLOWERINFO.
    fn on_leader_info(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        if p.typ != pkt::LEADERINFO {
            // A pre-3.4 leader's NEWLEADER, or anything else.
            return Err(LearnerError::NotLeaderInfo(pkt::name(p.typ)));
        }
        let _protocol = wire::body_int("LEADERINFO", p.data.as_deref())?;
        let new_epoch = epoch_of(p.zxid);
        let ours = if new_epoch > self.accepted_epoch {
            let cur = self.current_epoch as i32;
            self.accepted_epoch = new_epoch;
            self.out.push(LearnerAction::PersistAcceptedEpoch(new_epoch));
            cur
        } else if new_epoch == self.accepted_epoch {
            // We acked this epoch already (to another would-be leader): say
            // -1 so it is not counted again, but send our last zxid.
            -1
        } else {
            return Err(LearnerError::EpochLower {
                leader: new_epoch,
                ours: self.accepted_epoch,
            });
        };
        self.new_epoch = new_epoch;
        self.send(wire::ack_epoch(self.last_logged_zxid, ours));
        self.stage = Stage::AwaitSyncMode;
        Ok(())
    }

    /// The first packet of `syncWithLeader`.
    fn on_sync_mode(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        match p.typ {
            pkt::DIFF => self.snapshot_needed = false,
            pkt::SNAP => {
                self.out.push(LearnerAction::LoadSnapshot { zxid: p.zxid });
                self.undurable.clear();
            }
            pkt::TRUNC => {
                self.out.push(LearnerAction::Truncate { to: p.zxid });
                self.undurable.clear();
            }
            t => return Err(LearnerError::NotSyncMode(pkt::name(t))),
        }
        self.write_to_txn_log = !self.snapshot_needed;
        self.stage = Stage::Syncing;
        Ok(())
    }

    /// The loop of `syncWithLeader`, up to UPTODATE.
    fn on_sync_packet(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        match p.typ {
            pkt::PROPOSAL => {
                self.not_committed
                    .push_back((p.zxid, p.data.unwrap_or_default()));
            }
            pkt::COMMIT | pkt::COMMITANDACTIVATE => {
                let Some((first, _)) = self.not_committed.front() else {
                    return Err(LearnerError::CommitWithoutProposal(p.zxid));
                };
                if !self.write_to_txn_log {
                    // Applied now; the snapshot at NEWLEADER keeps it. A
                    // commit that is not the next proposal's is skipped.
                    if *first == p.zxid {
                        if let Some((zxid, data)) = self.not_committed.pop_front() {
                            self.out.push(LearnerAction::ApplyUnlogged { zxid, data });
                        }
                    }
                } else {
                    self.committed.push_back(p.zxid);
                }
            }
            pkt::INFORM | pkt::INFORMANDACTIVATE => {
                let data = if p.typ == pkt::INFORMANDACTIVATE {
                    wire::decode_designated_leader(p.data.as_ref())?.1
                } else {
                    p.data.unwrap_or_default()
                };
                if !self.write_to_txn_log {
                    self.out.push(LearnerAction::ApplyUnlogged { zxid: p.zxid, data });
                } else {
                    self.not_committed.push_back((p.zxid, data));
                    self.committed.push_back(p.zxid);
                }
            }
            pkt::NEWLEADER => {
                if let Some(d) = p.data.filter(|d| d.len() > 1) {
                    self.out.push(LearnerAction::LeaderConfig(d));
                }
                if self.snapshot_needed {
                    self.out.push(LearnerAction::TakeSnapshot);
                }
                self.current_epoch = self.new_epoch;
                self.out
                    .push(LearnerAction::PersistCurrentEpoch(self.new_epoch));
                self.write_to_txn_log = true;
                self.newleader_seen = true;
                // A follower logs what came during the sync before it acks
                // (ZOOKEEPER-3911), and acks once that is durable.
                let mut last = None;
                if self.kind == LearnerKind::Follower {
                    for (zxid, data) in std::mem::take(&mut self.not_committed) {
                        self.log(zxid, data);
                        last = Some(zxid);
                    }
                }
                self.newleader_ack_after = Some(last.unwrap_or(i64::MIN));
                self.maybe_ack_newleader();
            }
            pkt::UPTODATE => self.on_uptodate()?,
            // PINGs and anything else are not answered until UPTODATE.
            _ => {}
        }
        Ok(())
    }

    fn on_uptodate(&mut self) -> Result<(), LearnerError> {
        if !self.newleader_seen {
            // A pre-Zab-1.0 leader: snapshot and take the epoch here.
            self.out.push(LearnerAction::TakeSnapshot);
            self.current_epoch = self.new_epoch;
            self.out
                .push(LearnerAction::PersistCurrentEpoch(self.new_epoch));
            self.newleader_seen = true;
        }
        self.stage = Stage::Broadcast;
        self.send(QuorumPacket::new(pkt::ACK, make_zxid(self.new_epoch, 0)));
        self.out.push(LearnerAction::Established {
            epoch: self.new_epoch,
        });
        let not_committed = std::mem::take(&mut self.not_committed);
        let mut committed = std::mem::take(&mut self.committed);
        match self.kind {
            LearnerKind::Follower => {
                for (zxid, data) in not_committed {
                    self.log(zxid, data);
                }
                for zxid in committed {
                    self.commit(zxid)?;
                }
            }
            LearnerKind::Observer => {
                for (zxid, data) in not_committed {
                    if committed.front() != Some(&zxid) {
                        // "Committing ..., but next proposal is ...".
                        continue;
                    }
                    committed.pop_front();
                    self.log(zxid, data.clone());
                    self.out.push(LearnerAction::Commit { zxid, data });
                }
            }
        }
        Ok(())
    }

    /// `Follower.processPacket`.
    fn on_follower_packet(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        match p.typ {
            pkt::PING => self.out.push(LearnerAction::ReplyPing { ping: p }),
            pkt::PROPOSAL => self.log(p.zxid, p.data.unwrap_or_default()),
            pkt::COMMIT | pkt::COMMITANDACTIVATE => self.commit(p.zxid)?,
            pkt::REVALIDATE => self.revalidated(&p)?,
            pkt::SYNC => self.out.push(LearnerAction::SyncDone),
            // UPTODATE again, or unknown: logged and ignored.
            _ => {}
        }
        Ok(())
    }

    /// `Observer.processPacket`.
    fn on_observer_packet(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        match p.typ {
            pkt::PING => self.out.push(LearnerAction::ReplyPing { ping: p }),
            pkt::INFORM | pkt::INFORMANDACTIVATE => {
                let data = if p.typ == pkt::INFORMANDACTIVATE {
                    wire::decode_designated_leader(p.data.as_ref())?.1
                } else {
                    p.data.unwrap_or_default()
                };
                self.log(p.zxid, data.clone());
                self.out.push(LearnerAction::Commit { zxid: p.zxid, data });
            }
            pkt::REVALIDATE => self.revalidated(&p)?,
            pkt::SYNC => self.out.push(LearnerAction::SyncDone),
            // An observer ignores PROPOSAL and COMMIT.
            _ => {}
        }
        Ok(())
    }

    fn revalidated(&mut self, p: &QuorumPacket) -> Result<(), LearnerError> {
        let (session_id, valid) = wire::decode_revalidate_reply(p.data.as_deref())?;
        self.out
            .push(LearnerAction::Revalidated { session_id, valid });
        Ok(())
    }
}
