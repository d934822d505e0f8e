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
    /// The quorum config NEWLEADER carried (`QuorumVerifier.toString` text).
    LeaderConfig(Bytes),
    /// The reconfig committed at `zxid` (after its `Commit`) is active;
    /// `designated` leads it (COMMITANDACTIVATE, INFORMANDACTIVATE).
    Activate { zxid: i64, designated: Sid },
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
    /// The last COMMITANDACTIVATE / INFORMANDACTIVATE of the sync (zxid,
    /// designated leader): activated once its commit is applied, at
    /// UPTODATE (`syncWithLeader` processes the reconfig as it comes).
    sync_activate: Option<(i64, Sid)>,
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
            sync_activate: None,
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
                self.current_epoch = self.new_epoch;
                self.out
                    .push(LearnerAction::PersistCurrentEpoch(self.new_epoch));
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
            self.out
                .push(LearnerAction::PersistAcceptedEpoch(new_epoch));
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
        if p.typ == pkt::COMMITANDACTIVATE || p.typ == pkt::INFORMANDACTIVATE {
            let (designated, _) = wire::decode_designated_leader(p.data.as_ref())?;
            self.sync_activate = Some((p.zxid, designated));
        }
        match p.typ {
            pkt::PROPOSAL => {
                self.not_committed
                    .push_back((p.zxid, p.data.unwrap_or_default()));
            }
            pkt::COMMIT | pkt::COMMITANDACTIVATE if self.write_to_txn_log => {
                // Between NEWLEADER and UPTODATE: the proposals were logged
                // at NEWLEADER; the commit is applied at UPTODATE (3.8.0
                // dereferences an empty packetsNotCommitted here and dies,
                // ZOOKEEPER-4394; later releases commit it as here).
                self.committed.push_back(p.zxid);
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
                    self.out
                        .push(LearnerAction::ApplyUnlogged { zxid: p.zxid, data });
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
                self.write_to_txn_log = true;
                self.newleader_seen = true;
                // A follower logs what came during the sync before it acks
                // (ZOOKEEPER-3911), and acks once that is durable. The
                // current epoch is written only then, right before the ACK
                // (ZOOKEEPER-4646): written earlier, a crash or a failed
                // log write leaves a member whose epoch wins elections
                // while its log lacks committed txns of the last epoch.
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
        if let Some((zxid, designated)) = self.sync_activate.take() {
            self.out.push(LearnerAction::Activate { zxid, designated });
        }
        Ok(())
    }

    /// `Follower.processPacket`.
    fn on_follower_packet(&mut self, p: QuorumPacket) -> Result<(), LearnerError> {
        match p.typ {
            pkt::PING => self.out.push(LearnerAction::ReplyPing { ping: p }),
            pkt::PROPOSAL => self.log(p.zxid, p.data.unwrap_or_default()),
            pkt::COMMIT => self.commit(p.zxid)?,
            pkt::COMMITANDACTIVATE => {
                let (designated, _) = wire::decode_designated_leader(p.data.as_ref())?;
                self.commit(p.zxid)?;
                self.out.push(LearnerAction::Activate {
                    zxid: p.zxid,
                    designated,
                });
            }
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
                let (designated, data) = if p.typ == pkt::INFORMANDACTIVATE {
                    let (d, data) = wire::decode_designated_leader(p.data.as_ref())?;
                    (Some(d), data)
                } else {
                    (None, p.data.unwrap_or_default())
                };
                self.log(p.zxid, data.clone());
                self.out.push(LearnerAction::Commit { zxid: p.zxid, data });
                if let Some(designated) = designated {
                    self.out.push(LearnerAction::Activate {
                        zxid: p.zxid,
                        designated,
                    });
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(accepted: i64, current: i64, last: i64) -> Learner {
        Learner::new(
            2,
            LearnerKind::Follower,
            accepted,
            current,
            last,
            LearnerSettings::new(100, 10, 5),
        )
    }

    fn sends(a: &[LearnerAction]) -> Vec<QuorumPacket> {
        a.iter()
            .filter_map(|a| match a {
                LearnerAction::Send(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn prop(zxid: i64, d: &'static [u8]) -> QuorumPacket {
        QuorumPacket::with_data(pkt::PROPOSAL, zxid, d)
    }

    fn op(typ: i32, zxid: i64) -> QuorumPacket {
        QuorumPacket::new(typ, zxid)
    }

    #[test]
    fn handshake_accepts_a_newer_epoch_and_reports_the_current_one() {
        let mut f = follower(3, 2, make_zxid(2, 9));
        let a = f.connected(0);
        let info = LearnerInfo {
            serverid: 2,
            protocol_version: 0x10000,
            config_version: 0,
        };
        assert_eq!(
            a,
            vec![LearnerAction::Send(QuorumPacket::with_data(
                pkt::FOLLOWERINFO,
                make_zxid(3, 0),
                info.encode()
            ))]
        );
        let a = f.packet(wire::leader_info(make_zxid(4, 0)), 1);
        assert_eq!(
            a,
            vec![
                LearnerAction::PersistAcceptedEpoch(4),
                LearnerAction::Send(wire::ack_epoch(make_zxid(2, 9), 2)),
            ]
        );
        assert_eq!(f.epochs(), (4, 2));
    }

    #[test]
    fn handshake_says_minus_one_for_an_epoch_already_accepted() {
        let mut f = follower(4, 2, make_zxid(2, 9));
        f.connected(0);
        let a = f.packet(wire::leader_info(make_zxid(4, 0)), 1);
        assert_eq!(
            a,
            vec![LearnerAction::Send(wire::ack_epoch(make_zxid(2, 9), -1))]
        );
    }

    #[test]
    fn handshake_refuses_an_older_epoch_and_other_first_packets() {
        let mut f = follower(5, 5, 0);
        f.connected(0);
        let a = f.packet(wire::leader_info(make_zxid(4, 0)), 1);
        assert_eq!(
            a,
            vec![LearnerAction::LostLeader {
                why: LearnerError::EpochLower { leader: 4, ours: 5 }
            }]
        );
        assert!(f.is_lost());
        let mut f = follower(5, 5, 0);
        f.connected(0);
        let a = f.packet(op(pkt::NEWLEADER, make_zxid(6, 0)), 1);
        assert!(matches!(
            &a[..],
            [LearnerAction::LostLeader {
                why: LearnerError::NotLeaderInfo("NEWLEADER")
            }]
        ));
        let mut f = follower(5, 5, 0);
        f.connected(0);
        let short = QuorumPacket::with_data(pkt::LEADERINFO, make_zxid(6, 0), vec![0u8; 2]);
        assert!(matches!(
            &f.packet(short, 1)[..],
            [LearnerAction::LostLeader {
                why: LearnerError::Body(_)
            }]
        ));
    }

    fn synced_to(f: &mut Learner, mode: QuorumPacket) -> Vec<LearnerAction> {
        f.connected(0);
        f.packet(wire::leader_info(make_zxid(4, 0)), 1);
        f.packet(mode, 2)
    }

    #[test]
    fn diff_logs_at_newleader_acks_once_durable_and_commits_at_uptodate() {
        let mut f = follower(3, 3, make_zxid(3, 1));
        assert!(synced_to(&mut f, op(pkt::DIFF, make_zxid(3, 3))).is_empty());
        let (z2, z3) = (make_zxid(3, 2), make_zxid(3, 3));
        assert!(f.packet(prop(z2, b"a"), 3).is_empty());
        assert!(f.packet(op(pkt::COMMIT, z2), 3).is_empty());
        f.packet(prop(z3, b"b"), 3);
        f.packet(op(pkt::COMMIT, z3), 3);
        let cfg = QuorumPacket::with_data(
            pkt::NEWLEADER,
            make_zxid(4, 0),
            &b"server.1=x\nversion=1"[..],
        );
        let a = f.packet(cfg, 4);
        assert_eq!(
            a,
            vec![
                LearnerAction::LeaderConfig(Bytes::from_static(b"server.1=x\nversion=1")),
                LearnerAction::Log {
                    zxid: z2,
                    data: Bytes::from_static(b"a")
                },
                LearnerAction::Log {
                    zxid: z3,
                    data: Bytes::from_static(b"b")
                },
            ]
        );
        // The current epoch waits for the txns (ZOOKEEPER-4646).
        assert_eq!(f.epochs(), (4, 3));
        // Half durable: no ACK yet.
        assert!(f.durable(z2).is_empty());
        let a = f.durable(z3);
        assert_eq!(a.first(), Some(&LearnerAction::PersistCurrentEpoch(4)));
        assert_eq!(f.epochs(), (4, 4));
        assert_eq!(
            sends(&a),
            vec![
                op(pkt::ACK, make_zxid(4, 0)),
                op(pkt::ACK, z2),
                op(pkt::ACK, z3)
            ]
        );
        let a = f.packet(op(pkt::UPTODATE, -1), 5);
        assert_eq!(
            a,
            vec![
                LearnerAction::Send(op(pkt::ACK, make_zxid(4, 0))),
                LearnerAction::Established { epoch: 4 },
                LearnerAction::Commit {
                    zxid: z2,
                    data: Bytes::from_static(b"a")
                },
                LearnerAction::Commit {
                    zxid: z3,
                    data: Bytes::from_static(b"b")
                },
            ]
        );
        assert!(f.is_established());
    }

    #[test]
    fn snap_applies_commits_directly_and_snapshots_at_newleader() {
        let mut f = follower(3, 3, make_zxid(2, 1));
        let a = synced_to(&mut f, op(pkt::SNAP, make_zxid(3, 7)));
        assert_eq!(
            a,
            vec![LearnerAction::LoadSnapshot {
                zxid: make_zxid(3, 7)
            }]
        );
        let z = make_zxid(3, 8);
        f.packet(prop(z, b"x"), 3);
        let a = f.packet(op(pkt::COMMIT, z), 3);
        assert_eq!(
            a,
            vec![LearnerAction::ApplyUnlogged {
                zxid: z,
                data: Bytes::from_static(b"x")
            }]
        );
        // An outstanding proposal forwarded after the sync.
        let z9 = make_zxid(3, 9);
        f.packet(prop(z9, b"y"), 3);
        let a = f.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 4);
        assert_eq!(
            a,
            vec![
                LearnerAction::TakeSnapshot,
                LearnerAction::Log {
                    zxid: z9,
                    data: Bytes::from_static(b"y")
                },
            ]
        );
        let a = f.durable(z9);
        assert_eq!(a.first(), Some(&LearnerAction::PersistCurrentEpoch(4)));
        assert_eq!(
            sends(&a),
            vec![op(pkt::ACK, make_zxid(4, 0)), op(pkt::ACK, z9)]
        );
    }

    #[test]
    fn trunc_then_nothing_acks_newleader_at_once() {
        let mut f = follower(3, 3, make_zxid(3, 9));
        let a = synced_to(&mut f, op(pkt::TRUNC, make_zxid(3, 5)));
        assert_eq!(
            a,
            vec![LearnerAction::Truncate {
                to: make_zxid(3, 5)
            }]
        );
        let a = f.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 4);
        assert_eq!(
            a,
            vec![
                LearnerAction::TakeSnapshot,
                LearnerAction::PersistCurrentEpoch(4),
                LearnerAction::Send(op(pkt::ACK, make_zxid(4, 0))),
            ]
        );
    }

    #[test]
    fn unexpected_sync_mode_is_an_error() {
        let mut f = follower(3, 3, 0);
        let a = synced_to(&mut f, op(pkt::UPTODATE, -1));
        assert!(matches!(
            &a[..],
            [LearnerAction::LostLeader {
                why: LearnerError::NotSyncMode("UPTODATE")
            }]
        ));
    }

    #[test]
    fn a_reconfig_committed_during_the_sync_is_activated_at_uptodate() {
        // Found by the reconfig simulation: an observer promoted while it
        // synced applied the reconfig at UPTODATE but never activated it,
        // and stayed an observer of a leader that counted it as a voter.
        let mut f = follower(3, 3, make_zxid(3, 1));
        synced_to(&mut f, op(pkt::DIFF, make_zxid(3, 1)));
        let z1 = make_zxid(4, 1);
        f.packet(prop(z1, b"reconfig"), 3);
        f.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 3);
        let body = wire::designated_leader_body(3, &[]);
        f.packet(QuorumPacket::with_data(pkt::COMMITANDACTIVATE, z1, body), 3);
        let a = f.packet(op(pkt::UPTODATE, -1), 4);
        let at = |want: &dyn Fn(&LearnerAction) -> bool| a.iter().position(want);
        let est = at(&|a| matches!(a, LearnerAction::Established { .. })).unwrap();
        let commit =
            at(&|a| matches!(a, LearnerAction::Commit { zxid, .. } if *zxid == z1)).unwrap();
        let act = at(&|a| {
            *a == LearnerAction::Activate {
                zxid: z1,
                designated: 3,
            }
        })
        .expect("activated");
        assert!(est < commit && commit < act, "{a:?}");
    }

    #[test]
    fn broadcast_logs_acks_and_commits_in_order() {
        let mut f = follower(3, 3, make_zxid(3, 1));
        synced_to(&mut f, op(pkt::DIFF, make_zxid(3, 1)));
        f.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 3);
        f.packet(op(pkt::UPTODATE, -1), 3);
        let (z1, z2) = (make_zxid(4, 1), make_zxid(4, 2));
        assert_eq!(
            f.packet(prop(z1, b"1"), 4),
            vec![LearnerAction::Log {
                zxid: z1,
                data: Bytes::from_static(b"1")
            }]
        );
        f.packet(prop(z2, b"2"), 4);
        assert_eq!(
            sends(&f.durable(z2)),
            vec![op(pkt::ACK, z1), op(pkt::ACK, z2)]
        );
        assert_eq!(
            f.packet(op(pkt::COMMIT, z1), 5),
            vec![LearnerAction::Commit {
                zxid: z1,
                data: Bytes::from_static(b"1")
            }]
        );
        // A commit that is not the next pending txn is fatal.
        let a = f.packet(op(pkt::COMMIT, make_zxid(4, 3)), 5);
        assert!(matches!(
            &a[..],
            [LearnerAction::LostLeader {
                why: LearnerError::UnmatchedCommit { .. }
            }]
        ));
    }

    #[test]
    fn broadcast_answers_pings_revalidations_and_syncs() {
        let mut f = follower(3, 3, 0);
        synced_to(&mut f, op(pkt::DIFF, 0));
        f.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 3);
        f.packet(op(pkt::UPTODATE, -1), 3);
        let ping = op(pkt::PING, make_zxid(4, 0));
        assert_eq!(
            f.packet(ping.clone(), 4),
            vec![LearnerAction::ReplyPing { ping }]
        );
        assert_eq!(
            f.packet(wire::revalidate_reply(9, false), 4),
            vec![LearnerAction::Revalidated {
                session_id: 9,
                valid: false
            }]
        );
        assert_eq!(f.packet(op(pkt::SYNC, 0), 4), vec![LearnerAction::SyncDone]);
        assert_eq!(
            sends(&f.revalidate(9, 100)),
            vec![wire::revalidate_request(9, 100)]
        );
    }

    #[test]
    fn times_out_by_init_limit_then_sync_limit() {
        let mut f = follower(3, 3, 0);
        f.connected(0);
        assert!(f.tick(999).is_empty());
        assert!(matches!(
            &f.tick(1000)[..],
            [LearnerAction::LostLeader {
                why: LearnerError::Timeout(1000)
            }]
        ));
        let mut f = follower(3, 3, 0);
        synced_to(&mut f, op(pkt::DIFF, 0));
        f.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 100);
        assert!(f.tick(599).is_empty());
        assert!(matches!(
            &f.tick(600)[..],
            [LearnerAction::LostLeader {
                why: LearnerError::Timeout(500)
            }]
        ));
    }

    #[test]
    fn an_observer_logs_and_applies_informs_and_never_acks_them() {
        let mut o = Learner::new(
            9,
            LearnerKind::Observer,
            3,
            3,
            0,
            LearnerSettings::new(100, 10, 5),
        );
        assert_eq!(sends(&o.connected(0))[0].typ, pkt::OBSERVERINFO);
        o.packet(wire::leader_info(make_zxid(4, 0)), 1);
        o.packet(op(pkt::DIFF, 0), 2);
        let z = make_zxid(3, 1);
        o.packet(QuorumPacket::with_data(pkt::INFORM, z, &b"i"[..]), 2);
        // NEWLEADER: nothing logged by an observer; ACK at once.
        let a = o.packet(op(pkt::NEWLEADER, make_zxid(4, 0)), 3);
        assert_eq!(sends(&a), vec![op(pkt::ACK, make_zxid(4, 0))]);
        let a = o.packet(op(pkt::UPTODATE, -1), 4);
        assert!(a.contains(&LearnerAction::Log {
            zxid: z,
            data: Bytes::from_static(b"i")
        }));
        assert!(a.contains(&LearnerAction::Commit {
            zxid: z,
            data: Bytes::from_static(b"i")
        }));
        let z2 = make_zxid(4, 1);
        let a = o.packet(QuorumPacket::with_data(pkt::INFORM, z2, &b"j"[..]), 5);
        assert_eq!(
            a,
            vec![
                LearnerAction::Log {
                    zxid: z2,
                    data: Bytes::from_static(b"j")
                },
                LearnerAction::Commit {
                    zxid: z2,
                    data: Bytes::from_static(b"j")
                },
            ]
        );
        assert!(sends(&o.durable(z2)).is_empty());
        assert!(o.packet(prop(make_zxid(4, 2), b"p"), 6).is_empty());
    }
}
