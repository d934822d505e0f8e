//! Hostile tests: admin.

#[allow(unused_imports)]
use crate::common;
