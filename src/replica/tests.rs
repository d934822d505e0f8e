//! Unit tests of the [`super::Replica`]: inputs in, actions out.
