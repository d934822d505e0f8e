//! The data tree and what changes it: the immutable versioned tree and its
//! digest, ACLs, one shard's watch table, txn records, and prep (a client
//! write into a txn). Pure (no I/O); it imports only `protocol`.

pub mod acl;
pub mod digest;
pub mod prep;
pub mod tree;
pub mod txn;
pub mod watch;
