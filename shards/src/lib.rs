//! The thread-per-core substrate under corral.
//!
//! This crate knows cores, executors, sockets and byte frames. It knows
//! nothing of ZooKeeper: `corral` (in `src/`) depends on it, never the
//! reverse.
//!
//! - [`coremap`]: which core runs which role, read from `tuning/*.toml` or
//!   chosen from the cores the machine has.
//! - [`exec`]: starting one pinned glommio executor per role placement.
//! - [`frame`]: splitting a byte stream into length-prefixed frames, with a
//!   size limit (logic without I/O).
//! - [`listen`]: SO_REUSEPORT listeners, one per shard, on the client port.
//! - [`mailbox`]: a lock-free single-threaded queue that wakes its consumer.
//! - [`slots`]: a bound on a listener's connections, and which one a
//!   newcomer displaces at it (logic without I/O).

pub mod coremap;
pub mod exec;
pub mod frame;
pub mod listen;
pub mod mailbox;
pub mod slots;
