//! The quorum role logic of the [`super::Replica`] (ZooKeeper's
//! `QuorumPeer`): election, then leading or following, then election
//! again; the TRUNC hold, the commit bookkeeping and the epoch rules. No
//! I/O: it returns [`super::Action`]s.

/// The quorum side of a replica.
pub struct Peer {}
