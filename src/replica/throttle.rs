//! ZooKeeper's request throttles as decisions, without I/O: the
//! server-wide count of outstanding requests that the sequencer keeps from
//! the shards' reports ([`GlobalLoad`], `globalOutstandingLimit` and
//! `zookeeper.request_throttle_max_requests`), when a shard reports its
//! count ([`Reporter`]), the RequestThrottler's gate for the requests a
//! connection holds ([`RequestThrottle`]: stall, drop as stale, or go,
//! marked ZTHROTTLEDOP after `zookeeper.throttled_op_wait_time`), and the
//! byte budget of large requests ([`LargeBudget`],
//! `zookeeper.largeRequestMaxBytes` / `zookeeper.largeRequestThreshold`).
//!
//! The shards and the sequencer carry these out (`server/shard.rs`,
//! `replica/mod.rs`); `docs/operations.md` ("Throttles") says what each
//! key does and where corral differs from ZooKeeper.

/// What the sequencer tells every shard about the whole server's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    /// Over `globalOutstandingLimit` (ZooKeeper's `shouldThrottle`:
    /// `limit < inProcess`): stop reading from connections.
    pub stop_reading: bool,
    /// At or over `zookeeper.request_throttle_max_requests` (the
    /// RequestThrottler issues a request only while `inProcess < max`):
    /// hold the requests already read.
    pub stall: bool,
}

/// The sequencer's sum of the shards' outstanding requests.
#[derive(Debug, Clone)]
pub struct GlobalLoad {
    per_shard: Vec<usize>,
    global_limit: usize,
    max_requests: usize,
    level: Level,
}

impl GlobalLoad {
    /// `global_limit`: `globalOutstandingLimit`; `max_requests`: the
    /// RequestThrottler's limit, 0 for none.
    pub fn new(shards: usize, global_limit: usize, max_requests: usize) -> GlobalLoad {
        GlobalLoad {
            per_shard: vec![0; shards],
            global_limit,
            max_requests,
            level: Level::default(),
        }
    }

    pub fn total(&self) -> usize {
        self.per_shard.iter().sum()
    }

    /// Shard `shard` now has `outstanding` requests; the new level when it
    /// changed (to be told to every shard).
    pub fn report(&mut self, shard: usize, outstanding: usize) -> Option<Level> {
        let slot = self.per_shard.get_mut(shard)?;
        *slot = outstanding;
        let total = self.total();
        let level = Level {
            stop_reading: total > self.global_limit,
            stall: self.max_requests > 0 && total >= self.max_requests,
        };
        (level != self.level).then(|| {
            self.level = level;
            level
        })
    }
}

/// When a shard sends its count of outstanding requests to the sequencer:
/// after it moved by `step` since the last report, or fell to zero (so a
/// quiet server always ends up unthrottled). `step` keeps the sequencer's
/// inbox free of one message per request: the sum it keeps is off by less
/// than `step` a shard.
#[derive(Debug, Clone)]
pub struct Reporter {
    step: usize,
    sent: usize,
}

impl Reporter {
    /// `limit`: the smallest limit the sum is compared with.
    pub fn new(shards: usize, limit: usize) -> Reporter {
        Reporter {
            step: (limit / (4 * shards.max(1))).max(1),
            sent: 0,
        }
    }

    pub fn step(&self) -> usize {
        self.step
    }

    /// Whether `now` should be reported.
    pub fn would_report(&self, now: usize) -> bool {
        now.abs_diff(self.sent) >= self.step || (now == 0 && self.sent != 0)
    }

    /// Whether `now` should be reported; if so, it counts as sent.
    pub fn due(&mut self, now: usize) -> bool {
        let due = self.would_report(now);
        if due {
            self.sent = now;
        }
        due
    }
}

/// The RequestThrottler's settings (`RequestThrottler`, `Request.isStale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestThrottle {
    /// `zookeeper.request_throttle_max_requests`; 0: off.
    pub max_requests: usize,
    /// `zookeeper.request_throttle_stall_time`, ms.
    pub stall_ms: u64,
    /// `zookeeper.request_throttle_drop_stale`.
    pub drop_stale: bool,
    /// `zookeeper.request_stale_connection_check`.
    pub stale_connection_check: bool,
    /// `zookeeper.request_stale_latency_check`.
    pub stale_latency_check: bool,
    /// `zookeeper.throttled_op_wait_time`, ms; 0: off.
    pub throttled_op_wait_ms: u64,
}

impl Default for RequestThrottle {
    fn default() -> Self {
        RequestThrottle {
            max_requests: 0,
            stall_ms: 100,
            drop_stale: true,
            stale_connection_check: true,
            stale_latency_check: false,
            throttled_op_wait_ms: 0,
        }
    }
}

/// What to do with the requests a connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Serve them.
    Go,
    /// Wait (at most the stall time, then ask again).
    Stall,
    /// Drop them and close the connection (`dropRequest`: the connection
    /// is marked invalid, so that later requests cannot overtake them).
    DropStale,
}

impl RequestThrottle {
    /// `Request.isStale` for a request held `waited_ms` on a connection
    /// whose session timeout is `session_timeout_ms` (0 before a session).
    pub fn is_stale(&self, waited_ms: u64, session_timeout_ms: u64, conn_closed: bool) -> bool {
        if self.stale_connection_check && conn_closed {
            return true;
        }
        self.stale_latency_check && session_timeout_ms > 0 && waited_ms > session_timeout_ms
    }

    /// The RequestThrottler's loop for the oldest held request: with
    /// throttling off, go; a stale request is dropped (if so configured)
    /// before the limit is looked at; over the limit, stall.
    pub fn gate(
        &self,
        over_limit: bool,
        waited_ms: u64,
        session_timeout_ms: u64,
        conn_closed: bool,
    ) -> Gate {
        if self.max_requests == 0 {
            return Gate::Go;
        }
        if self.drop_stale && self.is_stale(waited_ms, session_timeout_ms, conn_closed) {
            return Gate::DropStale;
        }
        if over_limit {
            Gate::Stall
        } else {
            Gate::Go
        }
    }

    /// `shouldThrottleOp`: a request that waited longer than
    /// `throttled_op_wait_time` is answered ZTHROTTLEDOP, unless it is a
    /// ping, a createSession or a closeSession (`isThrottlable`).
    pub fn throttled_op(&self, opcode: i32, waited_ms: u64) -> bool {
        use crate::protocol::jute::op;
        let throttlable = !matches!(opcode, op::PING | op::CLOSE_SESSION | op::CREATE_SESSION);
        throttlable && self.throttled_op_wait_ms > 0 && waited_ms > self.throttled_op_wait_ms
    }
}

/// The byte budget of large requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeBudget {
    /// `zookeeper.largeRequestMaxBytes` (this budget's share of it).
    max_bytes: u64,
    /// `zookeeper.largeRequestThreshold`; `None` (-1): no request is large.
    threshold: Option<u64>,
    in_flight: u64,
}

/// A large request that does not fit the budget: ZooKeeper throws
/// "Rejecting large request" and the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rejecting large request: {len} bytes, {in_flight} of {max} in flight")]
pub struct Rejected {
    pub len: u64,
    pub in_flight: u64,
    pub max: u64,
}

impl LargeBudget {
    pub fn new(max_bytes: u64, threshold: Option<u64>) -> LargeBudget {
        LargeBudget {
            max_bytes,
            threshold,
            in_flight: 0,
        }
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// `checkRequestSizeWhenMessageReceived`: a request of `len` bytes (the
    /// frame's length field) counts against the budget if it is large;
    /// `Ok(n)` gives the bytes to [`release`](Self::release) once it is
    /// answered (0 for a small one).
    pub fn admit(&mut self, len: u64) -> Result<u64, Rejected> {
        match self.threshold {
            Some(t) if len > t => {}
            _ => return Ok(0),
        }
        if self.in_flight + len > self.max_bytes {
            return Err(Rejected {
                len,
                in_flight: self.in_flight,
                max: self.max_bytes,
            });
        }
        self.in_flight += len;
        Ok(len)
    }

    /// `requestFinished`.
    pub fn release(&mut self, bytes: u64) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jute::op;

    #[test]
    fn global_load_sums_shards_and_reports_changes_only() {
        let mut g = GlobalLoad::new(2, 10, 6);
        assert_eq!(g.report(0, 3), None);
        // 3 + 3 = 6 reaches the RequestThrottler's limit.
        assert_eq!(
            g.report(1, 3),
            Some(Level {
                stop_reading: false,
                stall: true
            })
        );
        assert_eq!(g.report(1, 7), None, "10 is not over 10");
        assert_eq!(
            g.report(1, 8),
            Some(Level {
                stop_reading: true,
                stall: true
            })
        );
        assert_eq!(
            g.report(0, 0),
            Some(Level {
                stop_reading: false,
                stall: true
            })
        );
        assert_eq!(g.report(1, 0), Some(Level::default()));
        assert_eq!(g.total(), 0);
        assert_eq!(g.report(5, 100), None, "an unknown shard changes nothing");
    }

    #[test]
    fn max_requests_zero_never_stalls() {
        let mut g = GlobalLoad::new(1, 1000, 0);
        assert_eq!(g.report(0, 999), None);
        assert_eq!(
            g.report(0, 1001),
            Some(Level {
                stop_reading: true,
                stall: false
            })
        );
    }

    #[test]
    fn reporter_steps_and_always_reports_zero() {
        let mut r = Reporter::new(2, 1000);
        assert_eq!(r.step(), 125);
        assert!(!r.due(0));
        assert!(!r.due(124));
        assert!(r.due(125));
        assert!(!r.due(200));
        assert!(r.due(250));
        assert!(!r.due(130));
        assert!(r.due(0), "back to zero is always told");
        let mut tiny = Reporter::new(4, 1);
        assert_eq!(tiny.step(), 1);
        assert!(tiny.due(1));
    }

    #[test]
    fn gate_follows_the_request_throttler() {
        let off = RequestThrottle::default();
        assert_eq!(off.gate(true, 1_000_000, 1, true), Gate::Go, "0 is off");
        let on = RequestThrottle {
            max_requests: 5,
            ..RequestThrottle::default()
        };
        assert_eq!(on.gate(false, 0, 30_000, false), Gate::Go);
        assert_eq!(on.gate(true, 0, 30_000, false), Gate::Stall);
        // The connection check is on by default, the latency check off.
        assert_eq!(on.gate(true, 0, 30_000, true), Gate::DropStale);
        assert_eq!(on.gate(true, 60_000, 30_000, false), Gate::Stall);
        let latency = RequestThrottle {
            stale_latency_check: true,
            ..on
        };
        assert_eq!(latency.gate(true, 30_001, 30_000, false), Gate::DropStale);
        assert_eq!(latency.gate(true, 30_000, 30_000, false), Gate::Stall);
        let keep = RequestThrottle {
            drop_stale: false,
            ..latency
        };
        assert_eq!(keep.gate(true, 90_000, 30_000, true), Gate::Stall);
        assert!(keep.is_stale(90_000, 30_000, false));
    }

    #[test]
    fn throttled_op_spares_pings_and_sessions() {
        let t = RequestThrottle {
            throttled_op_wait_ms: 50,
            ..RequestThrottle::default()
        };
        assert!(t.throttled_op(op::CREATE, 51));
        assert!(t.throttled_op(op::GET_DATA, 51));
        assert!(!t.throttled_op(op::CREATE, 50));
        for o in [op::PING, op::CLOSE_SESSION, op::CREATE_SESSION] {
            assert!(!t.throttled_op(o, 10_000));
        }
        assert!(!RequestThrottle::default().throttled_op(op::CREATE, u64::MAX));
    }

    #[test]
    fn large_budget_rejects_over_the_max_and_releases() {
        let mut b = LargeBudget::new(100, Some(10));
        assert_eq!(b.admit(10), Ok(0), "at the threshold is not large");
        assert_eq!(b.admit(60), Ok(60));
        assert_eq!(b.admit(40), Ok(40), "exactly the max fits");
        assert_eq!(
            b.admit(11),
            Err(Rejected {
                len: 11,
                in_flight: 100,
                max: 100
            })
        );
        assert_eq!(b.admit(5), Ok(0), "small requests never count");
        b.release(60);
        assert_eq!(b.in_flight(), 40);
        assert_eq!(b.admit(11), Ok(11));
        let mut off = LargeBudget::new(1, None);
        assert_eq!(off.admit(1 << 30), Ok(0));
    }
}
