//! Sessions: ids, passwords and expiry (ZooKeeper's `SessionTrackerImpl`).
//!
//! Owns the table of live sessions and their expiry buckets of `tickTime`
//! width. Time is passed in (milliseconds), so the logic is deterministic.
//! It does not close connections or delete ephemerals: `expired` returns
//! the sessions whose time is up, and the sequencer acts on them.

use crate::FastMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// The secret ZooKeeper mixes into session passwords.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// Java's `java.util.Random`, enough to make ZooKeeper's passwords.
struct JavaRandom(u64);

impl JavaRandom {
    fn new(seed: i64) -> JavaRandom {
        JavaRandom((seed as u64 ^ 0x5_DEEC_E66D) & ((1 << 48) - 1))
    }
    fn next_int(&mut self) -> i32 {
        self.0 = (self.0.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.0 >> 16) as i32
    }
    fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next_int();
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

/// The password ZooKeeper derives from a session id.
pub fn password(session_id: i64) -> [u8; 16] {
    let mut p = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut p);
    p
}

/// The first session id of a server, as `initializeNextSessionId` makes it.
pub fn initial_session_id(server_id: i64, now_ms: i64) -> i64 {
    let mut next = ((now_ms << 24) as u64 >> 8) as i64;
    next |= server_id << 56;
    if next == i64::MIN {
        next += 1;
    }
    next
}

/// The end of the `tick`-wide bucket after `t` (ZooKeeper's
/// `ExpiryQueue.roundToNextInterval`).
fn round_up(tick: i64, t: i64) -> i64 {
    (t / tick + 1) * tick
}

#[derive(Debug, Clone)]
struct Session {
    timeout: i32,
    expires_at: i64,
    closing: bool,
}

/// Live sessions and their expiry.
#[derive(Debug)]
pub struct SessionTracker {
    tick: i64,
    next_id: i64,
    sessions: HashMap<i64, Session>,
    buckets: BTreeMap<i64, BTreeSet<i64>>,
}

impl SessionTracker {
    pub fn new(tick_ms: i64, first_id: i64) -> SessionTracker {
        SessionTracker {
            tick: tick_ms.max(1),
            next_id: first_id,
            sessions: HashMap::default(),
            buckets: BTreeMap::new(),
        }
    }

    fn round_up(&self, t: i64) -> i64 {
        round_up(self.tick, t)
    }

    /// A new session id (not yet tracked).
    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts tracking `id`.
    pub fn add(&mut self, id: i64, timeout: i32, now: i64) {
        self.sessions.insert(
            id,
            Session {
                timeout,
                expires_at: 0,
                closing: false,
            },
        );
        self.touch(id, timeout, now);
    }

    /// Gives every session a full timeout from `now`, as a tracker built
    /// afresh from the database does: ZooKeeper's new leader creates its
    /// `SessionTrackerImpl` when it starts leading and adds every known
    /// session with its timeout, so each expires at `now + timeout`
    /// (rounded up to the tick), whatever deadline it had before.
    pub fn restart_expiry(&mut self, now: i64) {
        self.buckets.clear();
        let tick = self.tick;
        for (id, s) in &mut self.sessions {
            s.closing = false;
            s.expires_at = round_up(tick, now + s.timeout as i64);
            self.buckets.entry(s.expires_at).or_default().insert(*id);
        }
        debug_assert_eq!(
            self.buckets.values().map(BTreeSet::len).sum::<usize>(),
            self.sessions.len(),
            "every session is in one expiry bucket"
        );
    }

    /// Pushes a session's expiry forward; false if it is gone or closing.
    pub fn touch(&mut self, id: i64, timeout: i32, now: i64) -> bool {
        let new_exp = self.round_up(now + timeout as i64);
        let Some(s) = self.sessions.get_mut(&id) else {
            return false;
        };
        if s.closing {
            return false;
        }
        s.timeout = timeout;
        let old = s.expires_at;
        if old == new_exp {
            return true;
        }
        s.expires_at = new_exp;
        if let Some(b) = self.buckets.get_mut(&old) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&old);
            }
        }
        self.buckets.entry(new_exp).or_default().insert(id);
        true
    }

    /// Touches with the session's current timeout.
    pub fn touch_current(&mut self, id: i64, now: i64) -> bool {
        match self.sessions.get(&id) {
            Some(s) => {
                let t = s.timeout;
                self.touch(id, t, now)
            }
            None => false,
        }
    }

    pub fn is_live(&self, id: i64) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.closing)
    }

    pub fn timeout_of(&self, id: i64) -> Option<i32> {
        self.sessions.get(&id).map(|s| s.timeout)
    }

    /// Marks a session as closing: no more touches.
    pub fn set_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    /// Forgets a session.
    pub fn remove(&mut self, id: i64) {
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(b) = self.buckets.get_mut(&s.expires_at) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&s.expires_at);
                }
            }
        }
    }

    /// Sessions whose bucket has passed by `now`; they are marked closing.
    pub fn expired(&mut self, now: i64) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some((&t, _)) = self.buckets.first_key_value() {
            if t > now {
                break;
            }
            if let Some(ids) = self.buckets.remove(&t) {
                for id in ids {
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.closing = true;
                        out.push(id);
                    }
                }
            }
        }
        out
    }

    /// When the next bucket expires, if any.
    pub fn next_expiry(&self) -> Option<i64> {
        self.buckets.keys().next().copied()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The expiry sets, soonest first: bucket time (ms) and its sessions
    /// (the `Session Sets` of the `dump` four-letter word).
    pub fn expiry_sets(&self) -> Vec<(i64, Vec<i64>)> {
        self.buckets
            .iter()
            .map(|(t, ids)| (*t, ids.iter().copied().collect()))
            .collect()
    }

    /// Every session with its timeout (for `dump` and snapshots).
    pub fn all(&self) -> Vec<(i64, i32)> {
        let mut v: Vec<_> = self.sessions.iter().map(|(k, s)| (*k, s.timeout)).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_jdk() {
        // new java.util.Random(42).nextInt() == -1170105035
        assert_eq!(JavaRandom::new(42).next_int(), -1170105035);
        let mut r = JavaRandom::new(0);
        // new Random(0).nextInt() twice: -1155484576, -723955400
        assert_eq!(r.next_int(), -1155484576);
        assert_eq!(r.next_int(), -723955400);
    }

    #[test]
    fn expiry_in_tick_buckets() {
        let mut t = SessionTracker::new(2000, 100);
        let a = t.next_session_id();
        let b = t.next_session_id();
        t.add(a, 4000, 0);
        t.add(b, 10000, 0);
        assert_eq!(t.next_expiry(), Some(6000));
        assert_eq!(t.expiry_sets(), vec![(6000, vec![a]), (12000, vec![b])]);
        assert!(t.expired(5999).is_empty());
        assert_eq!(t.expired(6000), vec![a]);
        assert!(!t.is_live(a) && t.is_live(b));
        assert!(!t.touch(a, 4000, 6000), "closing sessions stay closing");
        assert!(t.touch(b, 10000, 9000));
        assert!(t.expired(12000).is_empty());
        assert_eq!(t.expired(20000), vec![b]);
        t.remove(a);
        t.remove(b);
        assert!(t.is_empty() && t.next_expiry().is_none());
    }

    #[test]
    fn a_restart_gives_every_session_a_full_timeout() {
        let mut t = SessionTracker::new(2000, 100);
        let a = t.next_session_id();
        let b = t.next_session_id();
        t.add(a, 4000, 0);
        t.add(b, 10000, 0);
        t.set_closing(b);
        t.restart_expiry(20_001);
        assert_eq!(
            t.expiry_sets(),
            vec![(26_000, vec![a]), (32_000, vec![b])],
            "now + timeout, rounded up to the tick"
        );
        assert!(t.is_live(a) && t.is_live(b));
        assert!(t.expired(25_999).is_empty());
        assert_eq!(t.expired(26_000), vec![a]);
    }

    #[test]
    fn ids_look_like_zookeepers() {
        let id = initial_session_id(1, 0x0123_4567_89ab);
        assert_eq!(id >> 56, 1);
        assert_eq!(password(id), password(id));
        assert_ne!(password(id), password(id + 1));
    }
}
