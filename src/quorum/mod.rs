//! The quorum's shared vocabulary: server ids, zxids and their epochs, and
//! who votes and what makes a quorum (ZooKeeper's `QuorumMaj`, or its
//! `QuorumHierarchical` with `group.N`/`weight.N`).
//!
//! Logic only, no I/O. `election` and `zab` build on it; it reads the
//! parsed `server.N` lines from `config` and touches nothing else.

pub mod election;
pub mod reconfig;
pub mod zab;
use crate::config::{PeerType, ServerSpec};
use std::collections::{BTreeMap, BTreeSet};

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
/// members but do not count. A quorum is more than half of the voters
/// (ZooKeeper's `QuorumMaj`), or, with groups, more than half of the
/// groups by weight ([`Hierarchy`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quorum {
    voters: BTreeSet<Sid>,
    observers: BTreeSet<Sid>,
    hierarchy: Option<Hierarchy>,
}

/// ZooKeeper's `QuorumHierarchical`: servers in disjoint groups
/// (`group.N=a:b:c`), each with a weight (`weight.N`, 1 by default). A set
/// is a quorum when, in more than half of the groups whose weight is not
/// 0, its servers weigh more than half of the group's weight.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hierarchy {
    group_of: BTreeMap<Sid, u64>,
    weight: BTreeMap<Sid, u64>,
    group_weight: BTreeMap<u64, u64>,
    /// The groups whose weight is not 0 (`numGroups`).
    groups: usize,
}

impl Hierarchy {
    /// From the groups and the weights as given; a grouped server without
    /// a weight weighs 1. The config checks that the groups are disjoint.
    pub fn new(groups: &[(u64, Vec<Sid>)], weights: &BTreeMap<Sid, u64>) -> Hierarchy {
        let mut h = Hierarchy::default();
        for (gid, members) in groups {
            for &sid in members {
                let w = weights.get(&sid).copied().unwrap_or(1);
                let prev = h.group_of.insert(sid, *gid);
                assert!(prev.is_none(), "server {sid} in two groups");
                h.weight.insert(sid, w);
                *h.group_weight.entry(*gid).or_insert(0) += w;
            }
        }
        // Weight lines of servers in no group count for nothing, but
        // QuorumHierarchical keeps (and prints) them.
        for (sid, w) in weights {
            h.weight.entry(*sid).or_insert(*w);
        }
        h.groups = h.group_weight.values().filter(|w| **w > 0).count();
        h
    }

    /// `QuorumHierarchical.containsQuorum`.
    fn contains_quorum(&self, set: &BTreeSet<Sid>) -> bool {
        let mut got: BTreeMap<u64, u64> = BTreeMap::new();
        for sid in set {
            if let Some(gid) = self.group_of.get(sid) {
                *got.entry(*gid).or_insert(0) += self.weight.get(sid).copied().unwrap_or(0);
            }
        }
        let majorities = got
            .iter()
            .filter(|(gid, w)| **w > self.group_weight.get(gid).copied().unwrap_or(0) / 2)
            .count();
        !set.is_empty() && majorities > self.groups / 2
    }

    /// The `group.N` and `weight.N` lines of `QuorumHierarchical.toString`,
    /// each ending in a newline: groups by id with their servers in
    /// ascending order, then every server's weight, grouped or given by a
    /// `weight.N` line (the order of Java's `HashMap` for small ids).
    pub fn config_lines(&self) -> String {
        let mut by_group: BTreeMap<u64, Vec<Sid>> = BTreeMap::new();
        for (sid, gid) in &self.group_of {
            by_group.entry(*gid).or_default().push(*sid);
        }
        let mut out = String::new();
        for (gid, sids) in by_group {
            let list: Vec<String> = sids.iter().map(Sid::to_string).collect();
            out.push_str(&format!("group.{gid}={}\n", list.join(":")));
        }
        for (sid, w) in &self.weight {
            out.push_str(&format!("weight.{sid}={w}\n"));
        }
        out
    }
}

impl Quorum {
    /// A quorum of the given participants and observers.
    pub fn new(
        voters: impl IntoIterator<Item = Sid>,
        observers: impl IntoIterator<Item = Sid>,
    ) -> Quorum {
        let voters: BTreeSet<Sid> = voters.into_iter().collect();
        let observers = observers
            .into_iter()
            .filter(|s| !voters.contains(s))
            .collect();
        Quorum {
            voters,
            observers,
            hierarchy: None,
        }
    }

    /// The same members, with a quorum counted by groups and weights.
    pub fn with_hierarchy(self, hierarchy: Hierarchy) -> Quorum {
        Quorum {
            hierarchy: Some(hierarchy),
            ..self
        }
    }

    /// The groups and weights, if the quorum is hierarchical.
    pub fn hierarchy(&self) -> Option<&Hierarchy> {
        self.hierarchy.as_ref()
    }

    /// A server's weight (`QuorumVerifier.getWeight`): 1 for any id with
    /// a majority quorum (`QuorumMaj`); with groups, its `weight.N` (1 in a
    /// group without one, 0 with neither). A server of weight 0 is never
    /// elected.
    pub fn weight(&self, sid: Sid) -> u64 {
        match &self.hierarchy {
            Some(h) => h.weight.get(&sid).copied().unwrap_or(0),
            None => 1,
        }
    }

    /// The quorum the `server.N` lines describe.
    pub fn from_servers(servers: &[ServerSpec]) -> Quorum {
        let sid = |s: &ServerSpec| s.id as Sid;
        Quorum::new(
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
    /// count (`QuorumVerifier.containsQuorum`).
    pub fn contains_quorum<'a>(&self, acks: impl IntoIterator<Item = &'a Sid>) -> bool {
        let votes: BTreeSet<Sid> = acks
            .into_iter()
            .copied()
            .filter(|s| self.voters.contains(s))
            .collect();
        match &self.hierarchy {
            Some(h) => h.contains_quorum(&votes),
            None => votes.len() > self.voters.len() / 2,
        }
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

    /// The cases of ZooKeeper's `QuorumHierarchical.containsQuorum`.
    #[test]
    fn a_hierarchical_quorum_is_a_majority_of_groups_by_weight() {
        let nine = Hierarchy::new(
            &[(1, vec![1, 2, 3]), (2, vec![4, 5, 6]), (3, vec![7, 8, 9])],
            &BTreeMap::new(),
        );
        let q = Quorum::new(1..=9, []).with_hierarchy(nine);
        assert!(q.contains_quorum(&[1, 2, 4, 5]), "two groups of three");
        assert!(!q.contains_quorum(&[1, 2, 3]), "one group whole");
        assert!(!q.contains_quorum(&[1, 4, 7, 2]), "one group by majority");
        assert!(!q.contains_quorum(&[]));
        assert_eq!(q.weight(5), 1);
        // A group of weight 0 is not counted among the groups.
        let zero = Hierarchy::new(&[(1, vec![1, 2]), (2, vec![3])], &BTreeMap::from([(3, 0)]));
        let q = Quorum::new([1, 2, 3], []).with_hierarchy(zero);
        assert!(q.contains_quorum(&[1, 2]));
        assert!(!q.contains_quorum(&[1, 3]), "1 is half of its group");
        assert!(!q.contains_quorum(&[3]));
        assert_eq!(q.weight(3), 0);
        assert_eq!(q.weight(9), 0, "in no group");
        let stray = Hierarchy::new(&[(1, vec![1, 2])], &BTreeMap::from([(9, 4)]));
        assert_eq!(
            stray.config_lines(),
            "group.1=1:2\nweight.1=1\nweight.2=1\nweight.9=4\n",
            "a weight line of a server in no group is kept, as ZooKeeper prints it"
        );
        assert!(!Quorum::new([1, 2], [])
            .with_hierarchy(stray)
            .contains_quorum(&[9]));
        // A heavy server is a group's majority alone.
        let heavy = Hierarchy::new(&[(1, vec![1, 2, 3])], &BTreeMap::from([(1, 3)]));
        let q = Quorum::new([1, 2, 3], []).with_hierarchy(heavy.clone());
        assert!(q.contains_quorum(&[1]));
        assert!(!q.contains_quorum(&[2, 3]));
        assert_eq!(
            heavy.config_lines(),
            "group.1=1:2:3\nweight.1=3\nweight.2=1\nweight.3=1\n"
        );
        // Without groups every id weighs 1, as in QuorumMaj.
        assert_eq!(Quorum::new([1, 2, 3], []).weight(7), 1);
    }

    #[test]
    fn a_majority_of_voters_is_a_quorum_and_observers_never_count() {
        let q = Quorum::new([1, 2, 3], [4, 5]);
        assert_eq!(q.quorum_size(), 2);
        assert!(!q.contains_quorum(&[1]));
        assert!(!q.contains_quorum(&[1, 4, 5]));
        assert!(q.contains_quorum(&[1, 3]));
        assert!(q.is_observer(4) && !q.is_voter(4));
        assert_eq!(q.members().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        let even = Quorum::new([1, 2, 3, 4], []);
        assert!(!even.contains_quorum(&[1, 2]));
        assert!(even.contains_quorum(&[1, 2, 4]));
    }
}
