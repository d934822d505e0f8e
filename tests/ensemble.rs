//! Ensembles on loopback: corral quorum peers with each other and with
//! Debian's ZooKeeper 3.8.

mod common;

use common::ensemble::{Ensemble, Kind};
use std::time::Duration;

/// The harness's baseline: three ZooKeeper 3.8 peers elect exactly one
/// leader, and the other two follow it.
#[test]
fn reference_ensemble_elects_one_leader() {
    let mut e = Ensemble::new(&[Kind::ZooKeeper, Kind::ZooKeeper, Kind::ZooKeeper]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| {
            let modes: Vec<Option<String>> = (0..3).map(|i| e.mode(i)).collect();
            modes
                .iter()
                .filter(|m| m.as_deref() == Some("leader"))
                .count()
                == 1
                && modes
                    .iter()
                    .filter(|m| m.as_deref() == Some("follower"))
                    .count()
                    == 2
        },
    );
}
