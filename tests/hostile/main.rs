//! The hostile suite (issue 13): the real binary driven by raw frames,
//! malformed files and slow or half-open sockets, one module per concern.
//! Each test asserts the outcome an attacker must not change: a node still
//! there, the server alive, memory bounded, a connection closed in time, a
//! start-up refused.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod conn;
mod disk;
mod peers;
mod requests;
