//! corral: a ZooKeeper-compatible server, thread-per-core on io_uring.
//!
//! Logic without I/O lives in folders by concern: [`protocol`] (the client
//! wire), [`data`] (the tree and what changes it), [`config`], [`quorum`]
//! (election and Zab), [`storage`] (ZooKeeper's files), [`replica`] (the
//! sequencer, sessions, and the rules of what is published and acknowledged), [`admin`] and [`ops`]; the glommio drivers in
//! [`server`] are a thin shell around them. Imports point down only, in the
//! order `docs/architecture.md` gives. The thread-per-core substrate is the
//! `shards` crate.

pub mod admin;
pub mod config;
pub mod data;
pub mod ops;
pub mod protocol;
pub mod quorum;
pub mod replica;
pub mod security;
pub mod server;
pub mod storage;

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
