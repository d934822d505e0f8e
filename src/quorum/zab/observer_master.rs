//! A follower's observer master (`observerMasterPort`, ZooKeeper 3.8's
//! `ObserverMaster`): observers sync from a follower and take its commits,
//! so the leader carries fewer connections.
//!
//! Owns the observers' handlers on the follower's side: the handshake
//! (OBSERVERINFO, LEADERINFO with the follower's epoch, ACKEPOCH), the sync
//! from the follower's committed log or its tree ([`super::sync`]),
//! NEWLEADER with the follower's config and UPTODATE once it is acked;
//! then an INFORM (INFORMANDACTIVATE for a reconfig) for every commit the
//! follower takes, a PING every half tick, and the read timeouts. An
//! observer's requests, revalidations and touched sessions come back as
//! actions: the driver forwards them to the leader on the follower's own
//! link, and hands the leader's SYNC and REVALIDATE answers back here.
//!
//! As in ZooKeeper, the master waits for nothing (no epoch or ack quorum)
//! and counts no acks: observers do not vote. No I/O; observers are named
//! by the driver's [`Handle`].

use super::leader::{info_sid, Handle, LearnerFault};
use super::sync::{plan_packets, plan_sync, SyncBounds, SyncInput, SyncPlan};
use super::wire::{self, pkt, ForwardedRequest, QuorumPacket, Touch};
use crate::quorum::{counter_of, epoch_of, make_zxid};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

/// Timing, and the config NEWLEADER carries.
#[derive(Debug, Clone)]
pub struct MasterSettings {
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// The follower's config text with its `version=` line
    /// (`getQuorumVerifierBytes`), and that version.
    pub config: Bytes,
    pub config_version: i64,
    /// `zookeeper.leader.maxConcurrentSnapSyncs`/`DiffSyncs` (ZooKeeper's
    /// `ObserverMaster` is a `LearnerMaster` with the same throttles).
    pub sync_bounds: SyncBounds,
}

impl MasterSettings {
    fn init_ms(&self) -> u64 {
        self.tick_ms * u64::from(self.init_limit)
    }
    fn sync_ms(&self) -> u64 {
        self.tick_ms * u64::from(self.sync_limit)
    }
}

/// What the follower's state is when an observer syncs: its tree's last
/// zxid and its committed log (ascending).
#[derive(Debug, Clone, Copy)]
pub struct FollowerView<'a> {
    pub last_processed: i64,
    pub committed: &'a VecDeque<(i64, Bytes)>,
}

/// What the driver does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterAction {
    Send {
        to: Handle,
        pkt: QuorumPacket,
    },
    /// Right after the SNAP before it, the follower's tree and sessions as
    /// they are now, then [`wire::SNAP_SIGNATURE`].
    SendSnapshot {
        to: Handle,
    },
    /// Close an observer's connection (no `gone` is needed after).
    Close {
        to: Handle,
    },
    /// Forward an observer's request to the leader (`submitLearnerRequest`).
    /// A `sync`'s SYNC comes back through [`ObserverMaster::synced`].
    Request {
        from: Handle,
        req: ForwardedRequest,
    },
    /// Ask the leader whether a session is valid (`revalidateSession`);
    /// the answer goes to [`ObserverMaster::revalidated`].
    Revalidate {
        from: Handle,
        session_id: i64,
        timeout: i32,
    },
    /// An observer's ping touched a session: the follower's own pings
    /// report it to the leader.
    Touch(Touch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitInfo,
    AwaitAckEpoch,
    AwaitNewLeaderAck,
    Active,
}

#[derive(Debug, Clone)]
struct Observer {
    stage: Stage,
    read_deadline: u64,
    /// Past its sync: takes INFORMs and PINGs.
    forwarding: bool,
    /// Its sync is a SNAP (for [`SyncBounds`]).
    snap_sync: bool,
}

/// One follower's observer master. See the module doc.
pub struct ObserverMaster {
    settings: MasterSettings,
    /// The follower's epoch: LEADERINFO's and NEWLEADER's.
    epoch: i64,
    /// The zxid of the last commit passed on (`lastProposedZxid`): PINGs
    /// carry it.
    last_sent: i64,
    observers: BTreeMap<Handle, Observer>,
    next_half_tick: u64,
    out: Vec<MasterAction>,
}

impl ObserverMaster {
    /// A master for a follower in sync at `epoch`, its tree at `last_zxid`.
    pub fn new(settings: MasterSettings, epoch: i64, last_zxid: i64, now: u64) -> ObserverMaster {
        let half = (settings.tick_ms / 2).max(1);
        ObserverMaster {
            settings,
            epoch,
            last_sent: last_zxid,
            observers: BTreeMap::new(),
            next_half_tick: now + half,
            out: Vec::new(),
        }
    }

    /// Observers past their sync (`getNumActiveObservers`).
    pub fn active_observers(&self) -> usize {
        self.observers.values().filter(|o| o.forwarding).count()
    }

    /// The config NEWLEADER carries from now on (after a reconfig).
    pub fn set_config(&mut self, config: Bytes, version: i64) {
        self.settings.config = config;
        self.settings.config_version = version;
    }

    /// An observer connected to the observer master port.
    pub fn connected(&mut self, h: Handle, now: u64) -> Vec<MasterAction> {
        self.observers.insert(
            h,
            Observer {
                stage: Stage::AwaitInfo,
                read_deadline: now + self.settings.init_ms(),
                forwarding: false,
                snap_sync: false,
            },
        );
        self.take()
    }

    /// An observer's connection closed (idempotent).
    pub fn gone(&mut self, h: Handle) -> Vec<MasterAction> {
        self.observers.remove(&h);
        self.take()
    }

    /// A packet from an observer.
    pub fn packet(
        &mut self,
        h: Handle,
        p: QuorumPacket,
        view: FollowerView<'_>,
        now: u64,
    ) -> Vec<MasterAction> {
        let Some(o) = self.observers.get_mut(&h) else {
            return self.take();
        };
        let limit = if o.stage == Stage::Active {
            self.settings.sync_ms()
        } else {
            self.settings.init_ms()
        };
        o.read_deadline = now + limit;
        let stage = o.stage;
        let r = match stage {
            Stage::AwaitInfo => self.on_info(h, &p),
            Stage::AwaitAckEpoch => self.on_ack_epoch(h, &p, view, now),
            Stage::AwaitNewLeaderAck => self.on_newleader_ack(h, &p, now),
            Stage::Active => self.on_active(h, p),
        };
        if let Err(why) = r {
            tracing::warn!(handle = h, why = %why, "dropping an observer");
            self.close(h);
        }
        self.take()
    }

    /// The follower took a commit: an INFORM to every observer past its
    /// sync (`proposalCommitted`).
    pub fn committed(&mut self, zxid: i64, data: Bytes) -> Vec<MasterAction> {
        self.pass_on(QuorumPacket::with_data(pkt::INFORM, zxid, data));
        self.take()
    }

    /// The follower took a reconfig's COMMITANDACTIVATE: an
    /// INFORMANDACTIVATE with the designated leader (`informAndActivate`).
    pub fn activated(&mut self, zxid: i64, designated: i64, data: &[u8]) -> Vec<MasterAction> {
        let body = wire::designated_leader_body(designated, data);
        self.pass_on(QuorumPacket::with_data(pkt::INFORMANDACTIVATE, zxid, body));
        self.take()
    }

    /// The leader answered an observer's `sync`: SYNC goes back to it,
    /// after every commit passed on before.
    pub fn synced(&mut self, h: Handle) -> Vec<MasterAction> {
        if self.observers.contains_key(&h) {
            self.send(h, QuorumPacket::new(pkt::SYNC, 0));
        }
        self.take()
    }

    /// The leader's answer to an observer's REVALIDATE.
    pub fn revalidated(&mut self, h: Handle, session_id: i64, valid: bool) -> Vec<MasterAction> {
        if self.observers.contains_key(&h) {
            self.send(h, wire::revalidate_reply(session_id, valid));
        }
        self.take()
    }

    /// Time passes: read timeouts, and a PING every half tick.
    pub fn tick(&mut self, now: u64) -> Vec<MasterAction> {
        let late: Vec<Handle> = self
            .observers
            .iter()
            .filter(|(_, o)| now >= o.read_deadline)
            .map(|(h, _)| *h)
            .collect();
        for h in late {
            tracing::warn!(handle = h, "an observer said nothing in time; dropping it");
            self.close(h);
        }
        let half = (self.settings.tick_ms / 2).max(1);
        if now >= self.next_half_tick {
            while self.next_half_tick <= now {
                self.next_half_tick += half;
            }
            self.send_forwarding(&QuorumPacket::new(pkt::PING, self.last_sent));
        }
        self.take()
    }

    /// Closes every observer (the follower leaves its leader).
    pub fn stop(&mut self) -> Vec<MasterAction> {
        let all: Vec<Handle> = self.observers.keys().copied().collect();
        for h in all {
            self.close(h);
        }
        self.take()
    }

    fn take(&mut self) -> Vec<MasterAction> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: Handle, pkt: QuorumPacket) {
        self.out.push(MasterAction::Send { to, pkt });
    }

    fn close(&mut self, h: Handle) {
        if self.observers.remove(&h).is_some() {
            self.out.push(MasterAction::Close { to: h });
        }
    }

    fn pass_on(&mut self, p: QuorumPacket) {
        self.last_sent = p.zxid;
        self.send_forwarding(&p);
    }

    /// Sends `p` to every observer past its sync.
    fn send_forwarding(&mut self, p: &QuorumPacket) {
        for (h, _) in self.observers.iter().filter(|(_, o)| o.forwarding) {
            self.out.push(MasterAction::Send {
                to: *h,
                pkt: p.clone(),
            });
        }
    }

    fn newleader_zxid(&self) -> i64 {
        make_zxid(self.epoch, 0)
    }

    /// OBSERVERINFO: LEADERINFO with the follower's epoch at once
    /// (`getEpochToPropose` returns the current epoch).
    fn on_info(&mut self, h: Handle, p: &QuorumPacket) -> Result<(), LearnerFault> {
        if p.typ != pkt::OBSERVERINFO {
            // Only observers sync from a follower: a participant's ACKs
            // would be refused later anyway (`processAck` throws).
            return Err(LearnerFault::NotInfo(pkt::name(p.typ)));
        }
        info_sid(p, self.settings.config_version)?;
        if let Some(o) = self.observers.get_mut(&h) {
            o.stage = Stage::AwaitAckEpoch;
        }
        self.send(h, wire::leader_info(self.newleader_zxid()));
        Ok(())
    }

    /// ACKEPOCH: the sync, NEWLEADER, and from here on the commits.
    fn on_ack_epoch(
        &mut self,
        h: Handle,
        p: &QuorumPacket,
        view: FollowerView<'_>,
        now: u64,
    ) -> Result<(), LearnerFault> {
        if p.typ != pkt::ACKEPOCH {
            return Err(LearnerFault::NotAckEpoch(pkt::name(p.typ)));
        }
        wire::body_int("ACKEPOCH", p.data.as_deref())?;
        // An observer ahead of this follower in the current epoch holds
        // commits that this follower has not applied yet (another master
        // passed them on): a TRUNC would take committed txns back from
        // it, and its clients would see its state go back. It goes to
        // another master, or comes back once this one has caught up.
        // (ZooKeeper's master sends that TRUNC; the replica simulation
        // found it, seed 3375 of its observer master runs.) Past txns of
        // an older epoch are not committed, and are cut as usual.
        if epoch_of(p.zxid) == self.epoch && p.zxid > view.last_processed {
            return Err(LearnerFault::MasterBehind {
                observer: p.zxid,
                master: view.last_processed,
            });
        }
        let committed: Vec<i64> = view.committed.iter().map(|(z, _)| *z).collect();
        // Only the committed log serves a DIFF: an observer further behind
        // gets a SNAP (ZooKeeper's master may read its txn log as well).
        let decision = plan_sync(
            SyncInput {
                peer_last_zxid: p.zxid,
                last_processed_zxid: view.last_processed,
                committed: &committed,
                force_snap: false,
                txnlog_sync_enabled: false,
            },
            |_| None,
        );
        let pkts = plan_packets(&decision.plan, view.last_processed, |z| {
            view.committed
                .binary_search_by_key(&z, |(x, _)| *x)
                .ok()
                .map(|i| view.committed[i].1.clone())
                .unwrap_or_default()
        });
        let snap = decision.plan == SyncPlan::Snap;
        let running = self
            .observers
            .values()
            .filter(|o| o.stage == Stage::AwaitNewLeaderAck && o.snap_sync == snap)
            .count();
        if let Err(bound) = self.settings.sync_bounds.admit(snap, true, running) {
            return Err(LearnerFault::throttled(snap, bound));
        }
        if let Some(o) = self.observers.get_mut(&h) {
            o.snap_sync = snap;
        }
        let mut pkts = pkts.into_iter();
        if snap {
            if let Some(p) = pkts.next() {
                self.send(h, p);
            }
            self.out.push(MasterAction::SendSnapshot { to: h });
        }
        for p in pkts {
            self.send(h, p);
        }
        let nl = QuorumPacket::with_data(
            pkt::NEWLEADER,
            self.newleader_zxid(),
            self.settings.config.clone(),
        );
        self.send(h, nl);
        if let Some(o) = self.observers.get_mut(&h) {
            o.stage = Stage::AwaitNewLeaderAck;
            o.forwarding = true;
            o.read_deadline = now + self.settings.init_ms();
        }
        Ok(())
    }

    /// NEWLEADER's ACK: UPTODATE (nothing to wait for).
    fn on_newleader_ack(
        &mut self,
        h: Handle,
        p: &QuorumPacket,
        now: u64,
    ) -> Result<(), LearnerFault> {
        if p.typ != pkt::ACK {
            return Err(LearnerFault::NotNewLeaderAck(pkt::name(p.typ)));
        }
        if let Some(o) = self.observers.get_mut(&h) {
            o.stage = Stage::Active;
            o.read_deadline = now + self.settings.sync_ms();
        }
        self.send(h, QuorumPacket::new(pkt::UPTODATE, -1));
        Ok(())
    }

    fn on_active(&mut self, h: Handle, p: QuorumPacket) -> Result<(), LearnerFault> {
        match p.typ {
            // The ACK of UPTODATE; any other is a protocol error
            // (`ObserverMaster.processAck` throws).
            pkt::ACK if counter_of(p.zxid) == 0 => {}
            pkt::ACK => return Err(LearnerFault::ObserverAck(p.zxid)),
            pkt::PING => {
                for touch in wire::decode_touches(p.data.as_deref())? {
                    self.out.push(MasterAction::Touch(touch));
                }
            }
            pkt::REVALIDATE => {
                let (session_id, timeout) = wire::decode_revalidate_request(p.data.as_deref())?;
                self.out.push(MasterAction::Revalidate {
                    from: h,
                    session_id,
                    timeout,
                });
            }
            pkt::REQUEST => {
                let req = ForwardedRequest::from_packet(&p)?;
                self.out.push(MasterAction::Request { from: h, req });
            }
            // "unexpected quorum packet": logged and ignored.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
