//! Hostile tests: peers.

#[allow(unused_imports)]
use crate::common;
