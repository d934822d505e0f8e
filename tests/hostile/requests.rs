//! Hostile tests: requests.

#[allow(unused_imports)]
use crate::common;
