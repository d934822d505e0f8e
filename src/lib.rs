//! corral: a ZooKeeper-compatible server, thread-per-core on io_uring.
//!
//! Logic without I/O lives in plain modules ([`jute`], [`tree`], [`txn`],
//! [`prep`], [`acl`], [`path`], [`session`], [`watch`], [`request`],
//! [`sequencer`], [`fourlw`], [`quorum`], [`election`], [`zab`], and
//! [`replica`], which owns the sequencer, the election and Zab and decides
//! what is published and acknowledged); the glommio drivers in [`server`]
//! are a thin shell around them. The
//! thread-per-core substrate is the `shards` crate.

pub mod acl;
pub mod admin;
pub mod config;
pub mod digest;
pub mod election;
pub mod filemap;
pub mod fourlw;
pub mod jute;
pub mod ops;
pub mod path;
pub mod prep;
pub mod quorum;
pub mod replica;
pub mod request;
pub mod sequencer;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod stall;
pub mod storage;
pub mod tools;
pub mod tree;
pub mod txn;
pub mod txnlog;
pub mod watch;
pub mod zab;

/// Hash maps and sets keyed by what the server itself hands out (session
/// and connection ids, addresses), with a fast hasher (foldhash): they are
/// looked up on every request, where the standard SipHash showed in the
/// profiles. Its seed is fixed, so that iteration order (which reaches the
/// replies, as the order of closes when a role changes) is the same in
/// every run: a simulation seed replays exactly (`tests/sim_replica.rs`).
/// Maps keyed by what clients send (watch paths) keep the standard hasher.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// See [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;
