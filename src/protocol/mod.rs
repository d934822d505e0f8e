//! The client wire: the jute codec, paths, requests and replies, and the
//! four-letter words. Pure (no I/O); imports nothing above it.

pub mod audit;
pub mod fourlw;
pub mod jute;
pub(crate) mod path;
pub mod request;
