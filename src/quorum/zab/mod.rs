//! Zab: the leader's and the learners' side of ZooKeeper's atomic
//! broadcast, as plain state machines with no I/O.
//!
//! - [`wire`]: the quorum port's packets, byte for byte as ZooKeeper 3.8.
//! - [`sync`]: how a leader brings a learner up to date (DIFF/TRUNC/SNAP).
//! - [`leader`]: discovery, sync and broadcast from the leader's side.
//! - [`learner`]: the same from a follower's or an observer's side.
//! - [`observer_master`]: a follower serving observers (`observerMasterPort`).
//!
//! The machines take packets, durability reports and the time in ms, and
//! return actions (packets to send, epochs to persist, txns to log and
//! apply) for a driver to carry out in order.

pub mod leader;
pub mod learner;
pub mod observer_master;
pub mod sync;
pub mod wire;
