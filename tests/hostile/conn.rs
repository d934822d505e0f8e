//! Hostile tests: conn.

#[allow(unused_imports)]
use crate::common;
