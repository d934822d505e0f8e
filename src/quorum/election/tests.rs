use super::*;
use crate::quorum::make_zxid;
use std::collections::BTreeMap;

const CONFIG: &[u8] = b"server.1=a:1:2:participant\nversion=0";

fn election(me: Sid, quorum: &Quorum) -> Election {
    Election::new(
        me,
        quorum.clone(),
        Bytes::from_static(CONFIG),
        ElectionSettings::default(),
    )
}

fn looking(leader: Sid, zxid: i64, ee: i64, pe: i64) -> Notification {
    Notification::new(
        ServerState::Looking,
        leader,
        zxid,
        ee,
        pe,
        Bytes::from_static(CONFIG),
    )
}

fn note(state: ServerState, leader: Sid, zxid: i64, ee: i64, pe: i64) -> Notification {
    Notification::new(state, leader, zxid, ee, pe, Bytes::from_static(CONFIG))
}

fn sends(actions: &[Action]) -> Vec<(Sid, Notification)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((*to, msg.clone())),
            Action::Decided { .. } => None,
        })
        .collect()
}

fn decided(actions: &[Action]) -> Option<(ServerState, Vote, Support)> {
    actions.iter().find_map(|a| match a {
        Action::Decided {
            state,
            vote,
            support,
        } => Some((*state, *vote, support.clone())),
        Action::Send { .. } => None,
    })
}

/// A lossless network delivering in send order, no delay; time moves only
/// to the next election deadline.
struct Net {
    peers: BTreeMap<Sid, Election>,
    queue: VecDeque<(Sid, Sid, Notification)>,
    decisions: BTreeMap<Sid, (ServerState, Vote)>,
    now: u64,
}

impl Net {
    fn new(peers: Vec<Election>) -> Net {
        Net {
            peers: peers.into_iter().map(|e| (e.me(), e)).collect(),
            queue: VecDeque::new(),
            decisions: BTreeMap::new(),
            now: 0,
        }
    }

    fn absorb(&mut self, from: Sid, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { to, msg } => self.queue.push_back((from, to, msg)),
                Action::Decided { state, vote, .. } => {
                    self.decisions.insert(from, (state, vote));
                }
            }
        }
    }

    fn look(&mut self, sid: Sid, zxid: i64, epoch: i64) {
        let now = self.now;
        let actions = self.peers.get_mut(&sid).unwrap().look(zxid, epoch, now);
        self.absorb(sid, actions);
    }

    /// Delivers and times out until nothing is left to do or `until`.
    fn run(&mut self, until: u64) {
        loop {
            while let Some((from, to, msg)) = self.queue.pop_front() {
                let now = self.now;
                if let Some(p) = self.peers.get_mut(&to) {
                    let actions = p.receive(from, msg, now);
                    self.absorb(to, actions);
                }
            }
            let next = self.peers.values().filter_map(|p| p.next_deadline()).min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let sids: Vec<Sid> = self.peers.keys().copied().collect();
                    for sid in sids {
                        let now = self.now;
                        let actions = self.peers.get_mut(&sid).unwrap().timeout(now);
                        self.absorb(sid, actions);
                    }
                }
                _ => return,
            }
        }
    }

    fn leader_of(&self, sid: Sid) -> Option<Sid> {
        self.decisions.get(&sid).map(|(_, v)| v.leader)
    }
}

#[test]
fn three_servers_elect_the_highest_zxid() {
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    net.look(1, make_zxid(1, 5), 1);
    net.look(2, make_zxid(1, 7), 1);
    net.look(3, make_zxid(1, 6), 1);
    net.run(10_000);
    for sid in [1, 2, 3] {
        assert_eq!(net.leader_of(sid), Some(2), "server {sid}");
    }
    assert_eq!(net.decisions[&2].0, ServerState::Leading);
    assert_eq!(net.decisions[&1].0, ServerState::Following);
    assert_eq!(net.decisions[&3].0, ServerState::Following);
    let v = net.decisions[&1].1;
    assert_eq!((v.zxid, v.peer_epoch), (make_zxid(1, 7), 1));
    assert_eq!(net.peers[&2].state(), ServerState::Leading);
}

#[test]
fn equal_zxids_elect_the_highest_sid() {
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    for sid in [1, 2, 3] {
        net.look(sid, make_zxid(2, 10), 2);
    }
    net.run(10_000);
    for sid in [1, 2, 3] {
        assert_eq!(net.leader_of(sid), Some(3));
    }
    assert_eq!(net.decisions[&3].0, ServerState::Leading);
}

#[test]
fn the_peer_epoch_outranks_the_zxid() {
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    net.look(1, make_zxid(1, 0), 3);
    net.look(2, make_zxid(1, 9), 2);
    net.look(3, make_zxid(1, 9), 2);
    net.run(10_000);
    for sid in [1, 2, 3] {
        assert_eq!(net.leader_of(sid), Some(1));
    }
}

/// `group.1=1:2:3` with `weight.3=0`: server 3 has the highest sid and
/// the newest zxid, yet it is never elected (`totalOrderPredicate` gives
/// no weight-0 server the lead); 1 and 2 weigh the whole group, so both
/// are needed, and 3 alone with either is no quorum.
#[test]
fn a_server_of_weight_zero_is_never_elected_and_does_not_count() {
    let h = crate::quorum::Hierarchy::new(&[(1, vec![1, 2, 3])], &BTreeMap::from([(3, 0)]));
    let q = Quorum::new([1, 2, 3], []).with_hierarchy(h);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    net.look(1, make_zxid(1, 5), 1);
    net.look(2, make_zxid(1, 5), 1);
    net.look(3, make_zxid(1, 9), 1);
    net.run(10_000);
    for sid in [1, 2, 3] {
        assert_eq!(net.leader_of(sid), Some(2), "server {sid}");
    }
    assert_eq!(net.decisions[&2].0, ServerState::Leading);
    // 2 and 3 without 1: no quorum, no leader.
    let mut net = Net::new(vec![election(2, &q), election(3, &q)]);
    net.look(2, make_zxid(1, 5), 1);
    net.look(3, make_zxid(1, 9), 1);
    net.run(10_000);
    assert!(net.decisions.is_empty(), "{:?}", net.decisions);
}

#[test]
fn two_of_three_elect_without_the_third() {
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(2, &q)]);
    net.look(1, make_zxid(1, 1), 1);
    net.look(2, make_zxid(1, 1), 1);
    net.run(10_000);
    assert_eq!(net.leader_of(1), Some(2));
    assert_eq!(net.decisions[&2].0, ServerState::Leading);
}

#[test]
fn a_lone_server_keeps_looking_with_back_off() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = Election::new(
        1,
        q,
        Bytes::new(),
        ElectionSettings {
            max_notification_interval_ms: 1000,
            ..ElectionSettings::default()
        },
    );
    let a = e.look(0, 0, 0);
    // To 2 and 3; the copy to itself is looped back.
    assert_eq!(
        sends(&a).iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let mut t = 0;
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let d = e.next_deadline().unwrap();
        gaps.push(d - t);
        t = d;
        assert!(e.timeout(d - 1).is_empty());
        let a = e.timeout(d);
        assert_eq!(sends(&a).len(), 2);
        assert!(decided(&a).is_none());
    }
    assert_eq!(gaps, vec![200, 400, 800, 1000, 1000, 1000]);
    assert_eq!(e.state(), ServerState::Looking);
}

#[test]
fn a_newcomer_joins_an_established_leader() {
    // Five voters; 2..5 run with leader 3, elected in round 5. Server 1
    // starts in round 1 and learns it from FOLLOWING/LEADING answers.
    let q = Quorum::new([1, 2, 3, 4, 5], []);
    let mut e = election(1, &q);
    e.look(make_zxid(4, 2), 4, 0);
    for (t, sid) in [(10, 2), (11, 4), (12, 5)] {
        let follows = note(ServerState::Following, 3, make_zxid(4, 9), 5, 4);
        // A quorum follows 3, but 3 has not said it leads: not yet.
        assert!(e.receive(sid, follows, t).is_empty());
    }
    let a = e.receive(3, note(ServerState::Leading, 3, make_zxid(4, 9), 5, 4), 13);
    let (state, vote, support) = decided(&a).expect("joins");
    assert_eq!(state, ServerState::Following);
    assert_eq!(
        (vote.leader, vote.election_epoch, vote.peer_epoch),
        (3, 5, 4)
    );
    assert_eq!(support, Support::Established(vec![2, 3, 4, 5]));
    assert_eq!(e.logical_clock(), 5);
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn a_newcomer_in_the_same_round_decides_from_recvset() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(1, &q);
    e.look(0, 0, 0);
    e.receive(2, note(ServerState::Following, 3, 7, 1, 1), 1);
    let a = e.receive(3, note(ServerState::Leading, 3, 7, 1, 1), 2);
    let (state, vote, support) = decided(&a).expect("joins");
    assert_eq!((state, vote.leader), (ServerState::Following, 3));
    assert_eq!(support, Support::Round(vec![2, 3]));
}

#[test]
fn a_peer_that_others_follow_leads_only_in_its_own_round() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(3, &q);
    e.look(0, 0, 0); // round 1
    let a = e.receive(1, note(ServerState::Following, 3, 0, 2, 0), 1);
    assert!(decided(&a).is_none());
    let a = e.receive(2, note(ServerState::Following, 3, 0, 2, 0), 2);
    // A quorum follows 3 in round 2, but this peer is in round 1.
    assert!(decided(&a).is_none());
    // In its own round its own LOOKING vote agrees with a follower's.
    let mut e = election(3, &q);
    e.look(0, 0, 0);
    let a = e.receive(1, note(ServerState::Following, 3, 0, 1, 0), 1);
    let (state, _, support) = decided(&a).expect("leads");
    assert_eq!(state, ServerState::Leading);
    assert_eq!(support, Support::Round(vec![1, 3]));
}

#[test]
fn an_observer_follows() {
    let q = Quorum::new([1, 2, 3], [4]);
    let mut net = Net::new(vec![
        election(1, &q),
        election(2, &q),
        election(3, &q),
        election(4, &q),
    ]);
    // The observer proposes nobody, and only to the voters.
    let a = net.peers.get_mut(&4).unwrap().look(make_zxid(1, 99), 1, 0);
    let s = sends(&a);
    assert_eq!(
        s.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(s
        .iter()
        .all(|(_, n)| (n.leader, n.zxid, n.peer_epoch) == (Sid::MIN, i64::MIN, i64::MIN)));
    net.absorb(4, a);
    for sid in [1, 2, 3] {
        net.look(sid, make_zxid(1, sid), 1);
    }
    net.run(60_000);
    for sid in [1, 2, 3, 4] {
        assert_eq!(net.leader_of(sid), Some(3), "server {sid}");
    }
    assert_eq!(net.decisions[&4].0, ServerState::Observing);
    assert_eq!(net.decisions[&3].0, ServerState::Leading);
}

#[test]
fn a_server_in_no_config_follows_as_a_non_voting_participant() {
    // ZooKeeper's learner type of a server its config leaves out is
    // PARTICIPANT: it decides FOLLOWING (`learningState`), so its
    // notifications count when the config adds it as a voter later.
    // Found by the reconfig simulation: it decided OBSERVING, and a voter
    // looking among {1, 2, 3} then ignored it.
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![
        election(1, &q),
        election(2, &q),
        election(3, &q),
        election(4, &q),
    ]);
    for sid in [1, 2, 3] {
        net.look(sid, make_zxid(1, sid), 1);
    }
    net.run(10_000);
    net.look(4, make_zxid(1, 1), 1);
    net.run(100_000);
    assert_eq!(net.leader_of(4), Some(3));
    assert_eq!(net.decisions[&4].0, ServerState::Following);
    // A config that leaves out an observer keeps it an observer.
    let mut e = election(4, &Quorum::new([1, 2, 3], [4]));
    e.set_config(q.clone(), Vec::new());
    assert!(!e.participant);
    e.set_config(Quorum::new([1, 2, 3, 4], []), Vec::new());
    assert!(e.participant);
}

#[test]
fn a_logged_reconfig_makes_the_election_need_both_quorums() {
    // 1 and 2 logged a reconfig from {1, 2, 3} to {1, 2, 4, 5} that none
    // activated: as ZooKeeper's termPredicate with lastSeenQuorumVerifier,
    // {1, 2} is not enough, and 4 (a voter of the new config only) is
    // notified and heard.
    let q = Quorum::new([1, 2, 3], []);
    let next = Quorum::new([1, 2, 4, 5], []);
    let with_next = |sid| {
        let mut e = election(sid, &q);
        e.set_last_seen(Some(next.clone()));
        e
    };
    let mut net = Net::new(vec![with_next(1), with_next(2)]);
    net.look(1, make_zxid(1, 5), 1);
    net.look(2, make_zxid(1, 7), 1);
    net.run(10_000);
    assert!(net.decisions.is_empty(), "{:?}", net.decisions);
    net.peers.insert(4, election(4, &next));
    net.look(4, make_zxid(1, 6), 1);
    net.run(100_000);
    for sid in [1, 2, 4] {
        assert_eq!(net.leader_of(sid), Some(2), "server {sid}");
    }
    // Without it, 1 and 2 decide alone.
    let mut net = Net::new(vec![election(1, &q), election(2, &q)]);
    net.look(1, make_zxid(1, 5), 1);
    net.look(2, make_zxid(1, 7), 1);
    net.run(10_000);
    assert_eq!(net.leader_of(1), Some(2));
}

#[test]
fn a_voter_answers_a_worse_vote_of_its_round_at_once() {
    // A deliberate difference from ZooKeeper (see `worker_receive`): 3
    // holds the best vote but its datagrams to 1 were lost; 1's own
    // notifications reach 3 before 3's timeout, every time. 3 answers
    // the first with its vote, so 1 need not wait for 3's timeout.
    let q = Quorum::new([1, 2, 3], []);
    let mut e3 = election(3, &q);
    let a = e3.look(make_zxid(1, 9), 1, 0);
    assert!(!sends(&a).is_empty());
    let a = e3.receive(1, looking(1, make_zxid(1, 5), 1, 1), 10);
    let s = sends(&a);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (s[0].0, s[0].1.leader, s[0].1.zxid),
        (1, 3, make_zxid(1, 9))
    );
    // A better vote of the round gets no answer (3 takes it up instead,
    // and tells everyone), nor does an observer's.
    let a = e3.receive(2, looking(2, make_zxid(1, 10), 1, 1), 20);
    assert!(sends(&a).iter().all(|(_, n)| n.leader == 2));
}

#[test]
fn an_observer_joins_a_running_ensemble() {
    let q = Quorum::new([1, 2, 3], [4]);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    for sid in [1, 2, 3] {
        net.look(sid, make_zxid(1, 1), 1);
    }
    net.run(10_000);
    net.peers.insert(4, election(4, &q));
    net.look(4, 0, 0);
    net.run(100_000);
    assert_eq!(net.leader_of(4), Some(3));
    assert_eq!(net.decisions[&4].0, ServerState::Observing);
}

#[test]
fn a_better_vote_within_the_finalize_wait_changes_the_outcome() {
    let q = Quorum::new([1, 2, 3], []);
    let run = |late_at: u64| {
        let mut e = election(1, &q);
        e.look(make_zxid(1, 5), 1, 0);
        // 2 agrees 1 should lead: a quorum, the finalize wait starts.
        let a = e.receive(2, looking(1, make_zxid(1, 5), 1, 1), 10);
        assert!(decided(&a).is_none());
        assert_eq!(e.next_deadline(), Some(210));
        // 3, with a higher zxid, speaks up at `late_at`.
        let mut out = Vec::new();
        if late_at < 210 {
            out.extend(e.timeout(late_at));
            out.extend(e.receive(3, looking(3, make_zxid(1, 9), 1, 1), late_at));
            out.extend(e.receive(2, looking(3, make_zxid(1, 9), 1, 1), late_at + 1));
        } else {
            out.extend(e.timeout(210));
            out.extend(e.receive(3, looking(3, make_zxid(1, 9), 1, 1), late_at));
        }
        let t = e.next_deadline();
        if let Some(t) = t {
            out.extend(e.timeout(t));
        }
        decided(&out).map(|(s, v, _)| (s, v.leader))
    };
    assert_eq!(run(150), Some((ServerState::Following, 3)));
    assert_eq!(run(250), Some((ServerState::Leading, 1)));
}

#[test]
fn a_worse_vote_during_the_finalize_wait_is_dropped_and_restarts_it() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(3, &q);
    e.look(make_zxid(1, 5), 1, 0);
    e.receive(2, looking(3, make_zxid(1, 5), 1, 1), 10);
    assert_eq!(e.next_deadline(), Some(210));
    // 1 still proposes itself: worse, dropped, not counted.
    e.receive(1, looking(1, make_zxid(1, 5), 1, 1), 150);
    assert_eq!(e.next_deadline(), Some(350));
    assert!(e.timeout(300).is_empty());
    let (state, vote, support) = decided(&e.timeout(350)).expect("decides");
    assert_eq!((state, vote.leader), (ServerState::Leading, 3));
    assert_eq!(vote.election_epoch, 1);
    assert_eq!(support, Support::Round(vec![2, 3]));
}

#[test]
fn a_later_round_ends_the_finalize_wait() {
    // Seed 22300 of the replica simulation: 5 finalizes round 1 while the
    // others, having followed it in vain, look again in later rounds.
    let q = Quorum::new([1, 2, 3, 4, 5], []);
    let mut e = election(5, &q);
    e.look(0, 0, 0);
    e.receive(1, looking(5, 0, 1, 0), 10);
    e.receive(2, looking(5, 0, 1, 0), 11);
    assert_eq!(e.next_deadline(), Some(211), "a quorum: the finalize wait");
    // 4 looks again in round 2, for itself: a worse vote, a later round.
    let a = e.receive(4, looking(4, 0, 2, 0), 100);
    assert!(decided(&a).is_none());
    assert_eq!(e.logical_clock(), 2, "5 joins round 2");
    let s = sends(&a);
    assert_eq!(s.len(), 4, "its vote to every other voter: {s:?}");
    assert!(s
        .iter()
        .all(|(_, n)| (n.leader, n.election_epoch) == (5, 2)));
    // Round 1's quorum is gone: nothing is decided at its deadline.
    assert!(decided(&e.timeout(211)).is_none());
    // Round 2 agrees on 5 (4 included, its vote beaten): 5 leads.
    e.receive(4, looking(5, 0, 2, 0), 220);
    e.receive(3, looking(5, 0, 2, 0), 221);
    let t = e.next_deadline().expect("finalizing round 2");
    let (state, vote, support) = decided(&e.timeout(t)).expect("decides");
    assert_eq!(
        (state, vote.leader, vote.election_epoch),
        (ServerState::Leading, 5, 2)
    );
    assert_eq!(support, Support::Round(vec![3, 4, 5]));
}

#[test]
fn a_decided_peer_answers_a_looking_one_with_its_vote() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(2, &q);
    e.look(0, 0, 0);
    e.receive(1, note(ServerState::Following, 3, 7, 1, 1), 1);
    decided(&e.receive(3, note(ServerState::Leading, 3, 7, 1, 1), 2)).expect("follows");
    let a = e.receive(1, looking(1, 0, 4, 0), 3);
    let s = sends(&a);
    assert_eq!(s.len(), 1);
    let (to, n) = &s[0];
    assert_eq!(*to, 1);
    assert_eq!(n.server_state(), Some(ServerState::Following));
    assert_eq!(
        (n.leader, n.zxid, n.election_epoch, n.peer_epoch),
        (3, 7, 1, 1)
    );
    // Zab moved to a new epoch: the answer carries it.
    e.update_election_vote(2);
    let s = sends(&e.receive(1, looking(1, 0, 4, 0), 4));
    assert_eq!(s[0].1.peer_epoch, 2);
    // FOLLOWING/LEADING notifications get no answer.
    assert!(e
        .receive(3, note(ServerState::Leading, 3, 7, 1, 1), 5)
        .is_empty());
}

#[test]
fn a_looking_peer_answers_a_sender_from_an_older_round() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(2, &q);
    e.look(0, 0, 0);
    e.look(0, 0, 0); // round 2
    let s = sends(&e.receive(1, looking(1, 0, 1, 0), 1));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, 1);
    assert_eq!(
        (s[0].1.leader, s[0].1.election_epoch, s[0].1.server_state()),
        (2, 2, Some(ServerState::Looking))
    );
    // And the old vote is not counted.
    assert_eq!(e.round_votes().count(), 1);
}

#[test]
fn a_sender_from_a_newer_round_moves_the_clock_and_resets_the_round() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(2, &q);
    e.look(make_zxid(1, 3), 1, 0);
    // 1 is in round 4 proposing itself with a lower zxid.
    let a = e.receive(1, looking(1, make_zxid(1, 1), 4, 1), 1);
    assert_eq!(e.logical_clock(), 4);
    // Own vote wins over the sender's, re-sent in the new round.
    let s = sends(&a);
    assert!(s
        .iter()
        .all(|(_, n)| n.leader == 2 && n.election_epoch == 4));
    let votes: Vec<(Sid, Sid)> = e.round_votes().map(|(s, v)| (s, v.leader)).collect();
    assert_eq!(votes, vec![(1, 1), (2, 2)]);
}

#[test]
fn non_voters_are_answered_and_never_counted() {
    let q = Quorum::new([1, 2, 3], [4]);
    let mut e = election(1, &q);
    e.look(5, 0, 0);
    let s = sends(&e.receive(4, looking(Sid::MIN, i64::MIN, 1, i64::MIN), 1));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, 4);
    assert_eq!(s[0].1.leader, 1);
    assert_eq!(s[0].1.zxid, 5);
    assert_eq!(e.round_votes().count(), 1);
    // A vote for a non-voter (or a stranger) is ignored.
    e.receive(2, looking(4, 100, 1, 9), 2);
    e.receive(2, looking(42, 100, 1, 9), 3);
    assert_eq!(e.proposal().leader, 1);
    assert_eq!(e.round_votes().count(), 1);
}

#[test]
fn a_zxid_of_minus_one_is_ignored() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(1, &q);
    e.look(5, 0, 0);
    e.receive(2, looking(2, -1, 1, 0), 1);
    assert_eq!(e.round_votes().count(), 1);
    let mut e = election(1, &q);
    e.look(-1, 0, 0);
    e.receive(2, looking(2, 9, 1, 0), 1);
    assert_eq!(e.round_votes().count(), 0);
}

#[test]
fn unknown_states_are_skipped() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(1, &q);
    e.look(5, 0, 0);
    let mut n = looking(3, 9, 1, 0);
    n.state = 9;
    assert!(e.receive(2, n, 1).is_empty());
    assert_eq!(e.round_votes().count(), 1);
}

#[test]
fn notifications_kept_while_looking_wait_for_look() {
    let q = Quorum::new([1, 2, 3], []);
    let mut e = election(1, &q);
    e.look(0, 0, 0);
    e.receive(2, note(ServerState::Following, 3, 7, 1, 1), 1);
    decided(&e.receive(3, note(ServerState::Leading, 3, 7, 1, 1), 2)).expect("follows");
    // Zab gives up on the leader: LOOKING, but no new round yet.
    e.set_state(ServerState::Looking);
    assert!(e.receive(3, looking(3, 9, 2, 1), 3).is_empty());
    assert!(!e.is_running());
    e.look(7, 1, 4);
    assert_eq!(e.logical_clock(), 2);
    // The kept vote (3, zxid 9) beat ours and was counted in round 2.
    assert_eq!(e.proposal().leader, 3);
    let votes: Vec<Sid> = e.round_votes().map(|(s, _)| s).collect();
    assert_eq!(votes, vec![1, 3]);
}

#[test]
fn vote_equality_follows_zookeeper() {
    let a = Vote::looking(3, 7, 1, 2);
    assert!(a.agrees_with(&Vote::looking(3, 7, 1, 2)));
    assert!(!a.agrees_with(&Vote::looking(3, 7, 2, 2)));
    let f = Vote {
        state: ServerState::Following,
        version: 2,
        ..Vote::looking(3, 100, 9, 2)
    };
    // Out of election: leader and peer epoch only.
    assert!(f.agrees_with(
        &Vote {
            state: ServerState::Leading,
            ..Vote::looking(3, 5, 1, 2)
        }
        .with_version(2)
    ));
    assert!(!f.agrees_with(
        &Vote {
            state: ServerState::Leading,
            ..Vote::looking(3, 5, 1, 3)
        }
        .with_version(2)
    ));
    // Mixed versions: leader only.
    assert!(f.agrees_with(&Vote {
        state: ServerState::Leading,
        ..Vote::looking(3, 5, 1, 3)
    }));
    // Either LOOKING: everything.
    assert!(!f.agrees_with(&Vote::looking(3, 5, 9, 2)));
}

impl Vote {
    fn with_version(self, version: i32) -> Vote {
        Vote { version, ..self }
    }
}

#[test]
fn a_server_standing_aside_lets_the_next_best_lead() {
    // Without it, 3 (equal zxids, highest sid) would win again and again.
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    net.peers
        .get_mut(&3)
        .unwrap()
        .set_stand_aside(true, true, 0);
    for sid in [1, 2, 3] {
        net.look(sid, make_zxid(2, 10), 2);
    }
    net.run(10_000);
    for sid in [1, 2, 3] {
        assert_eq!(net.leader_of(sid), Some(2), "server {sid}");
    }
    assert_eq!(net.decisions[&2].0, ServerState::Leading);
    assert_eq!(net.decisions[&3].0, ServerState::Following);
}

#[test]
fn a_server_that_cannot_follow_either_supports_nobody() {
    // 3 cannot write its epoch files: it adopts no vote, so 1 and 2 must
    // agree between themselves (2 leads, with 1), and 3's support never
    // makes a leader of either alone.
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(2, &q), election(3, &q)]);
    net.peers
        .get_mut(&3)
        .unwrap()
        .set_stand_aside(true, false, 0);
    for sid in [1, 2, 3] {
        net.look(sid, make_zxid(2, 10), 2);
    }
    net.run(10_000);
    assert_eq!(net.leader_of(1), Some(2));
    assert_eq!(net.leader_of(2), Some(2));
    assert_eq!(net.decisions[&2].0, ServerState::Leading);
    assert_eq!(net.peers[&3].proposal().zxid, i64::MIN, "3 still abstains");
    // 1 and 3 alone: 3 does not lift 1 to a quorum.
    let mut net = Net::new(vec![election(1, &q), election(3, &q)]);
    net.peers
        .get_mut(&3)
        .unwrap()
        .set_stand_aside(true, false, 0);
    net.look(1, make_zxid(2, 10), 2);
    net.look(3, make_zxid(2, 10), 2);
    net.run(10_000);
    assert!(net.decisions.is_empty(), "{:?}", net.decisions);
}

#[test]
fn a_server_standing_aside_never_follows_a_less_recent_one() {
    // 3 has a txn 2 lacks: following 2 would truncate it. Alone with 2,
    // it neither adopts 2's vote nor puts its own forward: no decision.
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(2, &q), election(3, &q)]);
    net.peers
        .get_mut(&3)
        .unwrap()
        .set_stand_aside(true, true, 0);
    net.look(2, make_zxid(2, 9), 2);
    net.look(3, make_zxid(2, 10), 2);
    net.run(10_000);
    assert!(net.decisions.is_empty(), "{:?}", net.decisions);
    assert_eq!(net.peers[&3].proposal().leader, 3);
    assert_eq!(net.peers[&3].proposal().zxid, i64::MIN);
    assert_eq!(net.peers[&2].proposal().leader, 2);
}

#[test]
fn ending_the_stand_aside_puts_the_own_vote_forward_again() {
    // 1 and 3 alone; 3 is more recent, so nobody can lead while it
    // stands aside; once its port is free it proposes itself and wins.
    let q = Quorum::new([1, 2, 3], []);
    let mut net = Net::new(vec![election(1, &q), election(3, &q)]);
    net.peers
        .get_mut(&3)
        .unwrap()
        .set_stand_aside(true, true, 0);
    net.look(1, make_zxid(2, 9), 2);
    net.look(3, make_zxid(2, 10), 2);
    net.run(3_000);
    assert!(net.decisions.is_empty());
    let now = net.now;
    let a = net
        .peers
        .get_mut(&3)
        .unwrap()
        .set_stand_aside(false, true, now);
    assert!(sends(&a)
        .iter()
        .all(|(_, m)| m.leader == 3 && m.zxid == make_zxid(2, 10)));
    assert!(!sends(&a).is_empty());
    net.absorb(3, a);
    net.run(net.now + 10_000);
    assert_eq!(net.leader_of(1), Some(3));
    assert_eq!(net.decisions[&3].0, ServerState::Leading);
}

#[test]
fn a_designated_leader_is_taken_without_an_election() {
    // ZooKeeper's updateVote + updateServerState after a reconfig: the
    // vote is Vote(leader, zxid) (round and epoch -1), and the state
    // follows from who this peer is in the config.
    let q = Quorum::new([1, 2, 3], [4]);
    for (me, want) in [
        (2, ServerState::Leading),
        (1, ServerState::Following),
        (4, ServerState::Observing),
    ] {
        let mut e = election(me, &q);
        let a = e.designate(2, 0x1_0000_0007);
        let [Action::Decided { state, vote, .. }] = a.as_slice() else {
            panic!("one decision, no messages: {a:?}");
        };
        assert_eq!(*state, want, "server {me}");
        assert_eq!((vote.leader, vote.zxid), (2, 0x1_0000_0007));
        assert_eq!((vote.election_epoch, vote.peer_epoch), (-1, -1));
        assert_eq!(e.state(), want);
        assert!(!e.is_running());
    }
}
