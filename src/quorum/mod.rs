//! The quorum's shared vocabulary: server ids, zxids and their epochs, and
//! who votes (ZooKeeper's `QuorumMaj`).
//!
//! Logic only, no I/O. `election` and `zab` build on it; it reads the
//! parsed `server.N` lines from `config` and touches nothing else.

pub mod election;
pub mod zab;
use crate::config::{PeerType, ServerSpec};
use std::collections::BTreeSet;

/// A server id: the `N` of `server.N`, and the contents of `myid`.
pub type Sid = i64;

/// A zxid from an epoch (high 32 bits) and a counter (low 32 bits), as
/// ZooKeeper's `ZxidUtils.makeZxid`.
pub fn make_zxid(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// The epoch of a zxid (`ZxidUtils.getEpochFromZxid`).
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// The counter of a zxid (`ZxidUtils.getCounterFromZxid`).
pub fn counter_of(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

/// Who votes: the participants of the `server.N` lines. Observers are
/// members but do not count (ZooKeeper's `QuorumMaj`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumMaj {
    voters: BTreeSet<Sid>,
    observers: BTreeSet<Sid>,
}

impl QuorumMaj {
    /// A quorum of the given participants and observers.
    pub fn new(
        voters: impl IntoIterator<Item = Sid>,
        observers: impl IntoIterator<Item = Sid>,
    ) -> QuorumMaj {
        let voters: BTreeSet<Sid> = voters.into_iter().collect();
        let observers = observers
            .into_iter()
            .filter(|s| !voters.contains(s))
            .collect();
        QuorumMaj { voters, observers }
    }

    /// The quorum the `server.N` lines describe.
    pub fn from_servers(servers: &[ServerSpec]) -> QuorumMaj {
        let sid = |s: &ServerSpec| s.id as Sid;
        QuorumMaj::new(
            servers
                .iter()
                .filter(|s| s.role == PeerType::Participant)
                .map(sid),
            servers
                .iter()
                .filter(|s| s.role == PeerType::Observer)
                .map(sid),
        )
    }

    /// Whether `sid` votes.
    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    /// Whether `sid` is an observer.
    pub fn is_observer(&self, sid: Sid) -> bool {
        self.observers.contains(&sid)
    }

    /// The voting members, in order.
    pub fn voters(&self) -> impl Iterator<Item = Sid> + '_ {
        self.voters.iter().copied()
    }

    /// The observers, in order.
    pub fn observers(&self) -> impl Iterator<Item = Sid> + '_ {
        self.observers.iter().copied()
    }

    /// Every member, voters and observers, in order.
    pub fn members(&self) -> impl Iterator<Item = Sid> + '_ {
        let all: BTreeSet<Sid> = self.voters.union(&self.observers).copied().collect();
        all.into_iter()
    }

    /// How many voters make a quorum: more than half of them.
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether the servers in `acks` make a quorum; non-voters in it don't
    /// count (`QuorumMaj.containsQuorum`).
    pub fn contains_quorum<'a>(&self, acks: impl IntoIterator<Item = &'a Sid>) -> bool {
        let votes: BTreeSet<Sid> = acks
            .into_iter()
            .copied()
            .filter(|s| self.voters.contains(s))
            .collect();
        votes.len() > self.voters.len() / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_parts_round_trip() {
        let z = make_zxid(7, 0x1234);
        assert_eq!(z, 0x0000_0007_0000_1234);
        assert_eq!(epoch_of(z), 7);
        assert_eq!(counter_of(z), 0x1234);
        assert_eq!(counter_of(make_zxid(1, -1)), 0xffff_ffff);
        assert_eq!(epoch_of(make_zxid(1, -1)), 1);
    }

    #[test]
    fn a_majority_of_voters_is_a_quorum_and_observers_never_count() {
        let q = QuorumMaj::new([1, 2, 3], [4, 5]);
        assert_eq!(q.quorum_size(), 2);
        assert!(!q.contains_quorum(&[1]));
        assert!(!q.contains_quorum(&[1, 4, 5]));
        assert!(q.contains_quorum(&[1, 3]));
        assert!(q.is_observer(4) && !q.is_voter(4));
        assert_eq!(q.members().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        let even = QuorumMaj::new([1, 2, 3, 4], []);
        assert!(!even.contains_quorum(&[1, 2]));
        assert!(even.contains_quorum(&[1, 2, 4]));
    }
}
