//! The master driven by the shipped observer ([`Learner`]): each packet
//! one sends is handed to the other, as the sockets would.

use super::*;
use crate::quorum::zab::learner::{Learner, LearnerAction, LearnerKind, LearnerSettings};
use crate::quorum::zab::wire::LearnerInfo;

const H: Handle = 7;

fn settings() -> MasterSettings {
    MasterSettings {
        tick_ms: 100,
        init_limit: 10,
        sync_limit: 5,
        config: Bytes::from_static(b"server.1=a:1:2:participant\nversion=100000000"),
        config_version: 0x1_0000_0000,
        sync_bounds: crate::quorum::zab::sync::SyncBounds::default(),
    }
}

fn observer(last: i64) -> Learner {
    Learner::new(
        4,
        LearnerKind::Observer,
        1,
        1,
        last,
        LearnerSettings::new(100, 10, 5),
    )
}

/// Hands packets both ways until neither side has one to send; returns
/// the observer's other actions and the master's other actions.
fn pump(
    m: &mut ObserverMaster,
    o: &mut Learner,
    from_o: Vec<LearnerAction>,
    log: &VecDeque<(i64, Bytes)>,
    last: i64,
) -> (Vec<LearnerAction>, Vec<MasterAction>) {
    let (mut o_rest, mut m_rest) = (Vec::new(), Vec::new());
    let view = FollowerView {
        last_processed: last,
        committed: log,
    };
    let mut queue: VecDeque<LearnerAction> = from_o.into_iter().collect();
    while let Some(a) = queue.pop_front() {
        match a {
            LearnerAction::Send(p) => {
                for b in m.packet(H, p, view, 1) {
                    match b {
                        MasterAction::Send { pkt, .. } => queue.extend(o.packet(pkt, 1)),
                        other => m_rest.push(other),
                    }
                }
            }
            LearnerAction::Log { zxid, .. } => queue.extend(o.durable(zxid)),
            other => o_rest.push(other),
        }
    }
    (o_rest, m_rest)
}

fn txn(zxid: i64) -> (i64, Bytes) {
    (zxid, Bytes::from(format!("txn {zxid:x}")))
}

#[test]
fn an_observer_syncs_by_diff_from_the_committed_log_and_takes_informs() {
    let e = make_zxid(1, 0);
    let log: VecDeque<(i64, Bytes)> = (1..=5).map(|c| txn(e + c)).collect();
    let mut m = ObserverMaster::new(settings(), 1, e + 5, 0);
    m.connected(H, 0);
    let mut o = observer(e + 2);
    let first = o.connected(0);
    let (o_rest, m_rest) = pump(&mut m, &mut o, first, &log, e + 5);
    assert!(m_rest.is_empty(), "{m_rest:?}");
    assert!(o.is_established(), "{o_rest:?}");
    let applied: Vec<i64> = o_rest
        .iter()
        .filter_map(|a| match a {
            LearnerAction::Commit { zxid, .. } => Some(*zxid),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![e + 3, e + 4, e + 5]);
    assert!(o_rest.contains(&LearnerAction::LeaderConfig(settings().config)));
    assert_eq!(m.active_observers(), 1);
    // A commit the follower takes goes on as an INFORM.
    let (z, d) = txn(e + 6);
    let a = m.committed(z, d.clone());
    assert_eq!(
        a,
        vec![MasterAction::Send {
            to: H,
            pkt: QuorumPacket::with_data(pkt::INFORM, z, d)
        }]
    );
}

#[test]
fn an_observer_past_the_committed_log_gets_a_snap() {
    let e = make_zxid(1, 0);
    let log: VecDeque<(i64, Bytes)> = (10..=12).map(|c| txn(e + c)).collect();
    let mut m = ObserverMaster::new(settings(), 1, e + 12, 0);
    m.connected(H, 0);
    let mut o = observer(e + 2);
    let first = o.connected(0);
    let (_, m_rest) = pump(&mut m, &mut o, first, &log, e + 12);
    assert_eq!(m_rest, vec![MasterAction::SendSnapshot { to: H }]);
}

#[test]
fn requests_syncs_revalidations_and_touches_go_through_the_follower() {
    let e = make_zxid(1, 0);
    let log = VecDeque::new();
    let mut m = ObserverMaster::new(settings(), 1, e, 0);
    m.connected(H, 0);
    let mut o = observer(e);
    let first = o.connected(0);
    pump(&mut m, &mut o, first, &log, e);
    assert!(o.is_established());
    let view = FollowerView {
        last_processed: e,
        committed: &log,
    };
    let req = ForwardedRequest {
        session_id: 9,
        cxid: 3,
        op: crate::protocol::jute::op::SYNC,
        request: Bytes::from_static(b"\0\0\0\x01/"),
        authinfo: Some(Vec::new()),
    };
    let a = m.packet(H, req.to_packet(), view, 2);
    assert_eq!(a, vec![MasterAction::Request { from: H, req }]);
    assert_eq!(
        m.synced(H),
        vec![MasterAction::Send {
            to: H,
            pkt: QuorumPacket::new(pkt::SYNC, 0)
        }]
    );
    let a = m.packet(H, wire::revalidate_request(9, 4000), view, 2);
    assert_eq!(
        a,
        vec![MasterAction::Revalidate {
            from: H,
            session_id: 9,
            timeout: 4000
        }]
    );
    let ping = QuorumPacket::new(pkt::PING, e);
    let touch = Touch {
        session_id: 9,
        timeout: 4000,
    };
    let a = m.packet(H, wire::ping_reply(&ping, &[touch]), view, 2);
    assert_eq!(a, vec![MasterAction::Touch(touch)]);
    // An ACK of a txn is not an observer's to send.
    let a = m.packet(H, QuorumPacket::new(pkt::ACK, e + 1), view, 2);
    assert_eq!(a, vec![MasterAction::Close { to: H }]);
}

#[test]
fn a_participant_or_a_config_ahead_is_refused_and_a_silent_observer_dropped() {
    let log = VecDeque::new();
    let view = FollowerView {
        last_processed: 0,
        committed: &log,
    };
    let mut m = ObserverMaster::new(settings(), 1, 0, 0);
    m.connected(H, 0);
    let info = LearnerInfo {
        serverid: 2,
        protocol_version: wire::PROTOCOL_VERSION,
        config_version: 0,
    };
    let p = QuorumPacket::with_data(pkt::FOLLOWERINFO, 0, info.encode());
    assert_eq!(m.packet(H, p, view, 1), vec![MasterAction::Close { to: H }]);
    m.connected(H, 0);
    let ahead = LearnerInfo {
        config_version: 0x2_0000_0000,
        ..info
    };
    let p = QuorumPacket::with_data(pkt::OBSERVERINFO, 0, ahead.encode());
    assert_eq!(m.packet(H, p, view, 1), vec![MasterAction::Close { to: H }]);
    // Nothing within initLimit.
    m.connected(H, 0);
    assert_eq!(m.tick(999), vec![]);
    assert!(m.tick(1000).contains(&MasterAction::Close { to: H }));
}

#[test]
fn pings_go_every_half_tick_to_synced_observers_with_the_last_zxid() {
    let e = make_zxid(1, 0);
    let log = VecDeque::new();
    let mut m = ObserverMaster::new(settings(), 1, e, 0);
    m.connected(H, 0);
    m.connected(H + 1, 0);
    let mut o = observer(e);
    let first = o.connected(0);
    pump(&mut m, &mut o, first, &log, e);
    m.committed(e + 1, Bytes::from_static(b"x"));
    // Only the synced one (H) is pinged, with the last commit's zxid.
    assert_eq!(
        m.tick(50),
        vec![MasterAction::Send {
            to: H,
            pkt: QuorumPacket::new(pkt::PING, e + 1)
        }]
    );
    assert_eq!(m.tick(60), vec![]);
}

#[test]
fn an_observer_ahead_in_this_epoch_goes_elsewhere_one_ahead_in_an_old_one_is_cut() {
    let e = make_zxid(3, 0);
    let log: VecDeque<(i64, Bytes)> = (1..=4).map(|c| txn(e + c)).collect();
    // It took e+6 from another master: this one has not applied it yet.
    let mut m = ObserverMaster::new(settings(), 3, e + 4, 0);
    m.connected(H, 0);
    let mut o = observer(e + 6);
    let first = o.connected(0);
    let (_, m_rest) = pump(&mut m, &mut o, first, &log, e + 4);
    assert_eq!(m_rest, vec![MasterAction::Close { to: H }]);
    assert!(!o.is_established());
    // Past the follower in an older epoch: never committed; it is synced
    // (here by SNAP) and loses that tail.
    let old = make_zxid(2, 9);
    let log: VecDeque<(i64, Bytes)> = [txn(make_zxid(2, 5)), txn(e + 1)].into();
    let mut m = ObserverMaster::new(settings(), 3, e + 1, 0);
    m.connected(H, 0);
    let mut o = observer(old);
    let first = o.connected(0);
    let (o_rest, m_rest) = pump(&mut m, &mut o, first, &log, e + 1);
    assert!(o.is_established(), "{o_rest:?}");
    assert_eq!(m_rest, vec![MasterAction::SendSnapshot { to: H }]);
}

#[test]
fn observers_over_the_sync_bounds_are_dropped_until_a_sync_ends() {
    // leader.maxConcurrentDiffSyncs=1 on the master: while one observer's
    // DIFF awaits its NEWLEADER ACK, a second observer is turned away.
    let e = make_zxid(1, 0);
    let log: VecDeque<(i64, Bytes)> = (1..=5).map(|c| txn(e + c)).collect();
    let view = FollowerView {
        last_processed: e + 5,
        committed: &log,
    };
    let mut st = settings();
    st.sync_bounds = SyncBounds { snap: 1, diff: 1 };
    let mut m = ObserverMaster::new(st, 1, e + 5, 0);
    let info = LearnerInfo {
        serverid: 4,
        protocol_version: wire::PROTOCOL_VERSION,
        config_version: 0,
    };
    let start = |m: &mut ObserverMaster, h: Handle| {
        m.connected(h, 0);
        let p = QuorumPacket::with_data(pkt::OBSERVERINFO, e, info.encode());
        m.packet(h, p, view, 1);
        m.packet(h, wire::ack_epoch(e + 2, 1), view, 2)
    };
    let a = start(&mut m, 1);
    assert!(
        a.iter()
            .any(|a| matches!(a, MasterAction::Send { to: 1, pkt } if pkt.typ == pkt::NEWLEADER)),
        "{a:?}"
    );
    assert_eq!(start(&mut m, 2), vec![MasterAction::Close { to: 2 }]);
    m.packet(1, QuorumPacket::new(pkt::ACK, e), view, 3);
    let a = start(&mut m, 3);
    assert!(
        a.iter()
            .any(|a| matches!(a, MasterAction::Send { to: 3, pkt } if pkt.typ == pkt::NEWLEADER)),
        "{a:?}"
    );
}
