//! corral: a ZooKeeper-compatible server, thread-per-core on io_uring.
//!
//! Logic without I/O lives in plain modules ([`jute`], [`tree`], [`txn`],
//! [`prep`], [`acl`], [`path`], [`session`], [`watch`], [`request`],
//! [`sequencer`], [`fourlw`], [`quorum`], [`election`], [`zab`]); the
//! glommio drivers in [`server`] are a thin shell around them. The
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
