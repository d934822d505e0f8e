//! Hostile tests: disk.

#[allow(unused_imports)]
use crate::common;
