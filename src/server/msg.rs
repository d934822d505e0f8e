//! The messages that cross cores: shard → sequencer and back.

use crate::jute::Id;
use crate::prep::WriteOp;
use crate::tree::{Event, Tree};
use crate::watch::ConnId;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::Arc;

/// Identifies one connection anywhere: its shard and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub shard: usize,
    pub conn: ConnId,
}

/// What a shard asks of the sequencer.
#[derive(Debug)]
pub enum ToSeq {
    /// A handshake: a new session (`session == 0`) or a reconnect.
    Connect {
        from: ConnRef,
        ip: IpAddr,
        session: i64,
        passwd: Bytes,
        timeout: i32,
    },
    /// A write request of an attached session.
    Write {
        from: ConnRef,
        session: i64,
        xid: i32,
        op: WriteOp,
        auth: Vec<Id>,
    },
    /// closeSession.
    Close {
        from: ConnRef,
        session: i64,
        xid: i32,
    },
    /// Sessions that showed activity since the last touch.
    Touch(Vec<i64>),
    /// A connection went away (its session lives on until it expires).
    Gone {
        from: ConnRef,
        ip: IpAddr,
        session: i64,
    },
}

/// One item of a batch, in the order the sequencer produced them.
#[derive(Debug, Clone)]
pub enum Item {
    /// A change, for the shard's watches.
    Event(Event),
    /// A whole reply frame for a connection of this shard.
    Reply { conn: ConnId, frame: Bytes },
    /// The answer to a handshake.
    Connected {
        conn: ConnId,
        session: i64,
        timeout: i32,
        passwd: [u8; 16],
        ok: bool,
    },
    /// Close this connection (session expired, closed, or moved).
    Close { conn: ConnId },
}

/// What the sequencer sends each shard after a batch.
#[derive(Debug)]
pub struct Batch {
    pub version: Arc<Tree>,
    pub items: Vec<Item>,
}
