//! How a leader brings a learner up to date: DIFF, TRUNC, TRUNC then the
//! txns, or SNAP.
//!
//! Owns the decision `LearnerHandler.syncFollower` (with
//! `queueCommittedProposals`) makes in ZooKeeper 3.8, as a pure function of
//! the learner's last zxid, the leader's last processed zxid, the zxids of
//! its in-memory committed log, and what its on-disk txn log can serve
//! (`ZKDatabase.getProposalsFromTxnLog` under the
//! `zookeeper.snapshotSizeFactor` size limit), and the packets a plan
//! queues ([`plan_packets`]), for the leader and for a follower's observer
//! master alike. Nothing here touches data or I/O.

use super::wire::{pkt, QuorumPacket};
use bytes::Bytes;

pub use crate::config::{DEFAULT_COMMIT_LOG_COUNT, DEFAULT_SNAPSHOT_SIZE_FACTOR};

/// `LearnerSyncThrottler`: how many syncs of each kind a leader or an
/// observer master runs at once, from the plan to NEWLEADER's ACK
/// (`zookeeper.leader.maxConcurrentSnapSyncs`, default 10;
/// `zookeeper.leader.maxConcurrentDiffSyncs`, default 100; a DIFF here is
/// any sync that is not a SNAP). Only an observer's sync is refused at the
/// bound; a participant's is essential and always runs, and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncBounds {
    pub snap: usize,
    pub diff: usize,
}

impl Default for SyncBounds {
    fn default() -> SyncBounds {
        SyncBounds {
            snap: 10,
            diff: 100,
        }
    }
}

impl SyncBounds {
    /// Whether a sync (a SNAP or not) of an observer or a participant may
    /// start with `running` of its kind in progress; `Err(bound)` if not.
    pub fn admit(&self, snap: bool, observer: bool, running: usize) -> Result<(), usize> {
        let bound = if snap { self.snap } else { self.diff };
        if observer && running >= bound {
            Err(bound)
        } else {
            Ok(())
        }
    }
}

/// What the leader queues for a learner before NEWLEADER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// `DIFF(zxid)`, then `PROPOSAL`+`COMMIT` for each of `txns`, in order.
    Diff { zxid: i64, txns: Vec<i64> },
    /// `TRUNC(to)` and nothing more: the learner has txns the leader never
    /// committed, past the end of the leader's history.
    Trunc { to: i64 },
    /// `TRUNC(to)`, then `PROPOSAL`+`COMMIT` for each of `txns`: the
    /// learner diverged inside the leader's history (no DIFF packet is
    /// sent in this case, as in `queueCommittedProposals`).
    TruncThenDiff { to: i64, txns: Vec<i64> },
    /// `SNAP(last processed zxid)` and the serialized tree.
    Snap,
}

/// A plan and the zxid the learner will be at once it has run it, from
/// which the leader forwards outstanding proposals (`startForwarding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDecision {
    pub plan: SyncPlan,
    pub forward_from: i64,
}

/// The packets a plan queues before NEWLEADER, in order; `data_of` gives
/// a txn's data (TxnHeader, txn, digest) by zxid. A SNAP is the first
/// packet, and the serialized tree follows it on the wire.
pub fn plan_packets(
    plan: &SyncPlan,
    last_processed: i64,
    data_of: impl Fn(i64) -> Bytes,
) -> Vec<QuorumPacket> {
    let txns = |zxids: &[i64], out: &mut Vec<QuorumPacket>| {
        for &z in zxids {
            out.push(QuorumPacket::with_data(pkt::PROPOSAL, z, data_of(z)));
            out.push(QuorumPacket::new(pkt::COMMIT, z));
        }
    };
    let mut pkts = Vec::new();
    match plan {
        SyncPlan::Snap => pkts.push(QuorumPacket::new(pkt::SNAP, last_processed)),
        SyncPlan::Diff { zxid, txns: t } => {
            pkts.push(QuorumPacket::new(pkt::DIFF, *zxid));
            txns(t, &mut pkts);
        }
        SyncPlan::Trunc { to } => pkts.push(QuorumPacket::new(pkt::TRUNC, *to)),
        SyncPlan::TruncThenDiff { to, txns: t } => {
            pkts.push(QuorumPacket::new(pkt::TRUNC, *to));
            txns(t, &mut pkts);
        }
    }
    pkts
}

/// The inputs of `syncFollower`.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// The learner's last zxid (ACKEPOCH's zxid).
    pub peer_last_zxid: i64,
    /// The leader's `getDataTreeLastProcessedZxid`.
    pub last_processed_zxid: i64,
    /// The zxids of the leader's in-memory committed log, ascending.
    pub committed: &'a [i64],
    /// `zookeeper.forceSnapshotSync`.
    pub force_snap: bool,
    /// `isTxnLogSyncEnabled`: `snapshotSizeFactor >= 0`.
    pub txnlog_sync_enabled: bool,
}

/// What `ZKDatabase.getProposalsFromTxnLog(start, sizeLimit)` yields, given
/// the first zxid of the log file holding `start` (`None`: no log at all),
/// that file onwards' size, and the size limit
/// (`calculateTxnLogSizeLimit`): `false` is its empty iterator.
pub fn txnlog_usable(start: i64, first_zxid: Option<i64>, storage_size: u64, limit: i64) -> bool {
    if limit < 0 {
        // A negative limit disables reading the txn log.
        return false;
    }
    if let Some(first) = first_zxid {
        // "If we cannot guarantee that this is strictly the starting txn
        // after a given zxid, we should fail."
        if first > start {
            return false;
        }
    }
    // A limit of 0 is unlimited (no snapshot on disk gives 0, too).
    !(limit > 0 && storage_size > limit as u64)
}

/// `calculateTxnLogSizeLimit`: the most recent snapshot's size times the
/// factor; a negative factor disables the txn log path altogether.
pub fn txnlog_size_limit(snapshot_size: u64, factor: f64) -> i64 {
    if factor < 0.0 {
        return -1;
    }
    (snapshot_size as f64 * factor) as i64
}

/// Decides how to sync a learner, as `LearnerHandler.syncFollower`.
/// `disk(start)` is consulted only on the txn-log path and returns the
/// zxids the on-disk log iterates from `start`'s file on, or `None` when
/// it yields nothing ([`txnlog_usable`] false, or no log).
pub fn plan_sync(input: SyncInput<'_>, disk: impl FnOnce(i64) -> Option<Vec<i64>>) -> SyncDecision {
    let peer = input.peer_last_zxid;
    // A learner whose last zxid is an epoch's zxid 0 got there by a DIFF or
    // SNAP of a new leader: that zxid is in nobody's history, so it never
    // gets a TRUNC, and always a DIFF if our history is old enough.
    let peer_new_epoch = counter(peer) == 0;
    let last_processed = input.last_processed_zxid;
    // An empty committed log reads as one at the last processed zxid, which
    // folds the cases below into (2), (3) and (5).
    let (min, max) = match (input.committed.first(), input.committed.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (last_processed, last_processed),
    };
    let mut q = Queue::default();
    let mut current = peer;
    let mut need_snap = true;

    if input.force_snap {
        // (1) Forced snapshot (a testing knob in ZooKeeper).
    } else if last_processed == peer {
        // (2) Already in sync: an empty DIFF.
        q.op(Op::Diff(peer));
        need_snap = false;
    } else if peer > max && !peer_new_epoch {
        // (3) The learner has txns we never saw (an old leader's): TRUNC
        // to our last committed and send nothing else.
        q.op(Op::Trunc(max));
        current = max;
        need_snap = false;
    } else if max >= peer && min <= peer {
        // (4) Inside the committed log: DIFF, or TRUNC then the txns.
        current = q.committed(input.committed.iter().copied(), peer, None, max);
        need_snap = false;
    } else if peer < min && input.txnlog_sync_enabled {
        // (5) Older than the committed log: the on-disk txn log, then the
        // committed log, if the two meet; a snapshot otherwise.
        if let Some(zxids) = disk(peer).filter(|z| !z.is_empty()) {
            current = q.committed(zxids.into_iter(), peer, Some(min), max);
            if current < min {
                // A gap between the end of the txn log and the start of the
                // committed log: drop what was queued, send a snapshot.
                q = Queue::default();
            } else {
                current = q.committed(input.committed.iter().copied(), current, None, max);
                need_snap = false;
            }
        }
    }
    // Anything else ("unhandled scenario") is a snapshot, and so is a
    // sync that queued no DIFF or TRUNC ("this should never happen", or a
    // TRUNC that would have crossed an epoch).
    let plan = match q.first {
        _ if need_snap || q.gave_up => None,
        Some(Op::Diff(zxid)) => Some(SyncPlan::Diff { zxid, txns: q.txns }),
        Some(Op::Trunc(to)) if q.txns.is_empty() => Some(SyncPlan::Trunc { to }),
        Some(Op::Trunc(to)) => Some(SyncPlan::TruncThenDiff { to, txns: q.txns }),
        None => None,
    };
    match plan {
        Some(plan) => SyncDecision {
            plan,
            forward_from: current,
        },
        None => SyncDecision {
            plan: SyncPlan::Snap,
            forward_from: last_processed,
        },
    }
}

fn counter(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

fn epoch(zxid: i64) -> i64 {
    zxid >> 32
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Diff(i64),
    Trunc(i64),
}

/// The packets `LearnerHandler` queues while deciding: the first op packet
/// (`needOpPacket` is `first.is_none()`) and the txns.
#[derive(Default)]
struct Queue {
    first: Option<Op>,
    txns: Vec<i64>,
    /// A TRUNC would have crossed an epoch.
    gave_up: bool,
}

impl Queue {
    fn op(&mut self, op: Op) {
        self.first = Some(op);
    }

    /// `queueCommittedProposals(itr, peerLastZxid, maxZxid,
    /// lastCommittedZxid)`: queues the txns in `(peer, limit]`, first
    /// deciding DIFF or TRUNC; returns the last zxid queued.
    fn committed(
        &mut self,
        itr: impl Iterator<Item = i64>,
        peer: i64,
        limit: Option<i64>,
        last_committed: i64,
    ) -> i64 {
        let peer_new_epoch = counter(peer) == 0;
        let mut queued = peer;
        let mut prev = -1i64;
        for z in itr {
            if limit.is_some_and(|m| z > m) {
                break;
            }
            // Skip what the learner has.
            if z < peer {
                prev = z;
                continue;
            }
            if self.first.is_none() {
                if z == peer {
                    // We have the learner's last zxid: a DIFF.
                    self.first = Some(Op::Diff(last_committed));
                    continue;
                }
                if peer_new_epoch {
                    // An epoch's zxid 0 is in no history: DIFF anyway.
                    self.first = Some(Op::Diff(last_committed));
                } else if z > peer {
                    // The learner has a txn we do not (it may have been a
                    // leader). A TRUNC must not cross an epoch: the learner
                    // would crash, so that case is a snapshot.
                    if epoch(z) != epoch(peer) {
                        self.gave_up = true;
                        return queued;
                    }
                    self.first = Some(Op::Trunc(prev));
                }
            }
            if z <= queued {
                continue;
            }
            self.txns.push(z);
            queued = z;
        }
        if self.first.is_none() && peer_new_epoch {
            // Our history is older than the learner and nothing is newer:
            // an empty DIFF.
            self.first = Some(Op::Diff(last_committed));
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::make_zxid;

    fn z(e: i64, c: i64) -> i64 {
        make_zxid(e, c)
    }

    fn input(peer: i64, last: i64, committed: &[i64]) -> SyncInput<'_> {
        SyncInput {
            peer_last_zxid: peer,
            last_processed_zxid: last,
            committed,
            force_snap: false,
            txnlog_sync_enabled: true,
        }
    }

    fn no_disk(_: i64) -> Option<Vec<i64>> {
        None
    }

    fn range(e: i64, a: i64, b: i64) -> Vec<i64> {
        (a..=b).map(|c| z(e, c)).collect()
    }

    #[test]
    fn case_1_forced_snapshot() {
        let log = range(1, 1, 10);
        let mut i = input(z(1, 5), z(1, 10), &log);
        i.force_snap = true;
        let d = plan_sync(i, no_disk);
        assert_eq!(d.plan, SyncPlan::Snap);
        assert_eq!(d.forward_from, z(1, 10));
    }

    #[test]
    fn case_2_in_sync_is_an_empty_diff_of_the_peer_zxid() {
        let log = range(1, 1, 10);
        let d = plan_sync(input(z(1, 10), z(1, 10), &log), no_disk);
        assert_eq!(
            d,
            SyncDecision {
                plan: SyncPlan::Diff {
                    zxid: z(1, 10),
                    txns: vec![]
                },
                forward_from: z(1, 10)
            }
        );
        // A just-established leader (last processed is its epoch's zxid 0)
        // and a learner that synced with it at that zxid.
        let d = plan_sync(input(z(2, 0), z(2, 0), &log), no_disk);
        assert_eq!(
            d.plan,
            SyncPlan::Diff {
                zxid: z(2, 0),
                txns: vec![]
            }
        );
    }

    #[test]
    fn case_3_peer_past_our_history_gets_a_bare_trunc() {
        let log = range(1, 1, 10);
        let d = plan_sync(input(z(1, 12), z(1, 10), &log), no_disk);
        assert_eq!(d.plan, SyncPlan::Trunc { to: z(1, 10) });
        assert_eq!(d.forward_from, z(1, 10));
        // Even across epochs: this path does not look at epochs.
        let d = plan_sync(input(z(3, 2), z(2, 4), &range(2, 1, 4)), no_disk);
        assert_eq!(d.plan, SyncPlan::Trunc { to: z(2, 4) });
        // With an empty committed log the bounds are the last processed.
        let d = plan_sync(input(z(1, 12), z(1, 10), &[]), no_disk);
        assert_eq!(d.plan, SyncPlan::Trunc { to: z(1, 10) });
    }

    #[test]
    fn case_3_not_for_a_new_epoch_zxid() {
        // A peer at (3,0) past our history: no TRUNC (it has no txn log);
        // it falls to case (4)/(5) and here, with nothing matching, SNAP.
        let log = range(2, 1, 4);
        let d = plan_sync(input(z(3, 0), z(2, 4), &log), no_disk);
        assert_eq!(d.plan, SyncPlan::Snap);
        assert_eq!(d.forward_from, z(2, 4));
    }

    #[test]
    fn case_4_diff_from_inside_the_committed_log() {
        let log = range(1, 1, 10);
        let d = plan_sync(input(z(1, 7), z(1, 10), &log), no_disk);
        assert_eq!(
            d,
            SyncDecision {
                plan: SyncPlan::Diff {
                    zxid: z(1, 10),
                    txns: range(1, 8, 10)
                },
                forward_from: z(1, 10)
            }
        );
        // At the very first entry of the committed log.
        let d = plan_sync(input(z(1, 1), z(1, 10), &log), no_disk);
        assert_eq!(
            d.plan,
            SyncPlan::Diff {
                zxid: z(1, 10),
                txns: range(1, 2, 10)
            }
        );
    }

    #[test]
    fn case_4_diff_across_epochs() {
        let mut log = range(1, 1, 3);
        log.extend(range(2, 1, 2));
        let d = plan_sync(input(z(1, 3), z(2, 2), &log), no_disk);
        assert_eq!(
            d.plan,
            SyncPlan::Diff {
                zxid: z(2, 2),
                txns: vec![z(2, 1), z(2, 2)]
            }
        );
    }

    #[test]
    fn case_4_divergent_peer_in_the_same_epoch_gets_trunc_then_txns() {
        // We have (1,1..3),(2,1..2); the peer has (1,1..3) and an
        // uncommitted (1,4)? No: peer at (2,1) would match. Take a peer
        // holding (1,5) while our epoch 1 ended at (1,3) and epoch 1 kept
        // going in our log as (1,4),(1,6): the first txn past the peer is
        // (1,6), same epoch, so TRUNC to (1,4) and then (1,6).
        let log = vec![z(1, 3), z(1, 4), z(1, 6), z(1, 7)];
        let d = plan_sync(input(z(1, 5), z(1, 7), &log), no_disk);
        assert_eq!(
            d,
            SyncDecision {
                plan: SyncPlan::TruncThenDiff {
                    to: z(1, 4),
                    txns: vec![z(1, 6), z(1, 7)]
                },
                forward_from: z(1, 7)
            }
        );
    }

    #[test]
    fn case_4_divergence_across_an_epoch_is_a_snapshot() {
        // The peer has (1,5), which we never committed; our next txn after
        // (1,4) is (2,1): a TRUNC would cross the epoch, so SNAP.
        let log = vec![z(1, 3), z(1, 4), z(2, 1), z(2, 2)];
        let d = plan_sync(input(z(1, 5), z(2, 2), &log), no_disk);
        assert_eq!(d.plan, SyncPlan::Snap);
        assert_eq!(d.forward_from, z(2, 2));
    }

    #[test]
    fn case_4_new_epoch_peer_inside_the_log_gets_a_diff() {
        // The peer synced at (2,0) with a previous leader of epoch 2 and
        // has nothing since; our log runs (1,9),(2,1),(2,2).
        let log = vec![z(1, 9), z(2, 1), z(2, 2)];
        let d = plan_sync(input(z(2, 0), z(2, 2), &log), no_disk);
        assert_eq!(
            d.plan,
            SyncPlan::Diff {
                zxid: z(2, 2),
                txns: vec![z(2, 1), z(2, 2)]
            }
        );
    }

    #[test]
    fn case_5_txn_log_then_committed_log() {
        let committed = range(1, 50, 60);
        let mut asked = None;
        let d = plan_sync(input(z(1, 10), z(1, 60), &committed), |start| {
            asked = Some(start);
            Some(range(1, 1, 55))
        });
        assert_eq!(asked, Some(z(1, 10)));
        assert_eq!(
            d,
            SyncDecision {
                plan: SyncPlan::Diff {
                    zxid: z(1, 60),
                    txns: range(1, 11, 60)
                },
                forward_from: z(1, 60)
            }
        );
    }

    #[test]
    fn case_5_gap_between_txn_log_and_committed_log_is_a_snapshot() {
        let committed = range(1, 50, 60);
        let d = plan_sync(input(z(1, 10), z(1, 60), &committed), |_| {
            Some(range(1, 1, 40))
        });
        assert_eq!(d.plan, SyncPlan::Snap);
        assert_eq!(d.forward_from, z(1, 60));
    }

    #[test]
    fn case_5_txn_log_unavailable_or_disabled_is_a_snapshot() {
        let committed = range(1, 50, 60);
        let d = plan_sync(input(z(1, 10), z(1, 60), &committed), no_disk);
        assert_eq!(d.plan, SyncPlan::Snap);
        let mut i = input(z(1, 10), z(1, 60), &committed);
        i.txnlog_sync_enabled = false;
        let d = plan_sync(i, |_| panic!("disk must not be read"));
        assert_eq!(d.plan, SyncPlan::Snap);
    }

    #[test]
    fn case_5_divergent_peer_in_the_txn_log_gets_trunc_then_txns() {
        let committed = range(1, 50, 60);
        let mut disk = range(1, 1, 9);
        disk.extend(range(1, 11, 55));
        let d = plan_sync(input(z(1, 10), z(1, 60), &committed), |_| Some(disk));
        assert_eq!(
            d.plan,
            SyncPlan::TruncThenDiff {
                to: z(1, 9),
                txns: range(1, 11, 60)
            }
        );
    }

    #[test]
    fn case_5_new_epoch_peer_older_than_everything() {
        // Peer at (1,0) (a fresh SNAP of epoch 1, nothing since); our disk
        // log starts at (1,1) > (1,0): ZooKeeper's reader refuses that, so
        // the disk closure says None and it is a snapshot.
        let committed = range(1, 50, 60);
        let d = plan_sync(input(z(1, 0), z(1, 60), &committed), no_disk);
        assert_eq!(d.plan, SyncPlan::Snap);
    }

    #[test]
    fn empty_committed_log_and_older_peer_reads_the_disk() {
        // A leader whose state is all in a snapshot at (1,60): the bounds
        // are (1,60); a peer at (1,55) goes to the txn log, which reaches
        // (1,60) and meets the (empty) committed log there.
        let d = plan_sync(input(z(1, 55), z(1, 60), &[]), |_| Some(range(1, 40, 60)));
        assert_eq!(
            d.plan,
            SyncPlan::Diff {
                zxid: z(1, 60),
                txns: range(1, 56, 60)
            }
        );
    }

    #[test]
    fn txnlog_limits() {
        // Disabled by a negative factor.
        assert_eq!(txnlog_size_limit(1000, -1.0), -1);
        assert!(!txnlog_usable(5, Some(1), 10, -1));
        // The factor of the snapshot's size.
        assert_eq!(txnlog_size_limit(1000, 0.33), 330);
        assert!(txnlog_usable(5, Some(1), 330, 330));
        assert!(!txnlog_usable(5, Some(1), 331, 330));
        // No snapshot: a limit of 0, which is unlimited.
        assert_eq!(txnlog_size_limit(0, 0.33), 0);
        assert!(txnlog_usable(5, Some(1), u64::MAX, 0));
        // The log must start at or before the peer.
        assert!(!txnlog_usable(5, Some(6), 1, 0));
        assert!(txnlog_usable(5, Some(5), 1, 0));
        assert!(txnlog_usable(5, None, 0, 0));
    }
}
