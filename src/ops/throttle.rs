//! ZooKeeper's connection throttle (`BlueThrottle`, 3.8): a token bucket
//! with BLUE random dropping, checked on each connect request. Sans-IO:
//! the caller passes the time (ms) and the throttle owns its seeded RNG.
//!
//! ZooKeeper keeps one throttle a server; corral keeps one a shard, each
//! with its share of the budget ([`ThrottleSettings::share`]), so that no
//! state is shared between cores: the shards' buckets together hold
//! `connection_throttle_tokens` and refill at `fill_count` tokens every
//! `fill_time` ms, as ZooKeeper's one bucket does.

/// The `zookeeper.connection_throttle_*` settings, as `BlueThrottle`'s
/// static initializer resolves them (weights applied).
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleSettings {
    /// The bucket's size; 0 turns the throttle off.
    pub max_tokens: i64,
    /// ms per refill.
    pub fill_time: i64,
    /// Tokens a refill adds.
    pub fill_count: i64,
    /// ms between BLUE adjustments; -1 turns BLUE dropping off.
    pub freeze_time: i64,
    pub drop_increase: f64,
    pub drop_decrease: f64,
    /// The deficit, as a share of `max_tokens`, under which the drop
    /// chance decreases.
    pub decrease_ratio: f64,
    /// `connection_throttle_weight_enabled`.
    pub weight_enabled: bool,
    pub global_weight: i64,
    pub local_weight: i64,
    pub renew_weight: i64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            max_tokens: 0,
            fill_time: 1,
            fill_count: 1,
            freeze_time: -1,
            drop_increase: 0.02,
            drop_decrease: 0.002,
            decrease_ratio: 0.0,
            weight_enabled: false,
            global_weight: 3,
            local_weight: 1,
            renew_weight: 2,
        }
    }
}

impl ThrottleSettings {
    pub fn enabled(&self) -> bool {
        self.max_tokens != 0
    }

    /// The tokens a connect request costs (`processConnectRequest`): 1
    /// unless weighed; then a new session costs the local or the global
    /// weight, a reconnect the renew weight.
    pub fn need(&self, session_id: i64, local_sessions: bool) -> i64 {
        if !self.weight_enabled {
            1
        } else if session_id == 0 {
            if local_sessions {
                self.local_weight
            } else {
                self.global_weight
            }
        } else {
            self.renew_weight
        }
    }

    /// Shard `i`'s share of `shards`: the bucket split as evenly as
    /// integers allow (each share large enough for the costliest connect,
    /// so none is turned off by rounding), and the refill rate split the
    /// same way: the fill count, when there are at least as many tokens a
    /// refill as shards; else the refill period, stretched.
    pub fn share(&self, i: usize, shards: usize) -> ThrottleSettings {
        let n = shards.max(1) as i64;
        if !self.enabled() || n == 1 {
            return self.clone();
        }
        let i = i as i64;
        let base = self.max_tokens / n + i64::from(i < self.max_tokens % n);
        let costliest = if self.weight_enabled {
            self.global_weight
                .max(self.renew_weight)
                .max(self.local_weight)
        } else {
            1
        };
        let (fill_count, fill_time) = if self.fill_count >= n {
            let c = self.fill_count / n + i64::from(i < self.fill_count % n);
            (c, self.fill_time)
        } else {
            (self.fill_count, self.fill_time.saturating_mul(n))
        };
        ThrottleSettings {
            max_tokens: base.max(costliest),
            fill_count,
            fill_time,
            ..self.clone()
        }
    }
}

/// One token bucket with BLUE dropping (`BlueThrottle`).
#[derive(Debug, Clone)]
pub struct BlueThrottle {
    s: ThrottleSettings,
    tokens: i64,
    last_time: i64,
    last_freeze: i64,
    drop: f64,
    rng: u64,
}

impl BlueThrottle {
    /// A full bucket at time `now` (ms); `seed` drives the random drops.
    pub fn new(s: ThrottleSettings, now: i64, seed: u64) -> BlueThrottle {
        BlueThrottle {
            tokens: s.max_tokens,
            s,
            last_time: now,
            last_freeze: now,
            drop: 0.0,
            rng: seed | 1,
        }
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.s
    }

    /// `checkLimit`: whether a connect costing `need` tokens may go on at
    /// `now` (ms); it takes them if so.
    pub fn check(&mut self, need: i64, now: i64) -> bool {
        if self.s.max_tokens == 0 {
            return true;
        }
        let diff = now - self.last_time;
        if diff > self.s.fill_time {
            let refill = diff.saturating_mul(self.s.fill_count) / self.s.fill_time.max(1);
            self.tokens = self.tokens.saturating_add(refill).min(self.s.max_tokens);
            self.last_time = now;
        }
        if self.s.freeze_time != -1 && !self.check_blue(now) {
            return false;
        }
        if self.tokens < need {
            return false;
        }
        self.tokens -= need;
        true
    }

    /// `checkBlue`: adjusts the drop chance at most once a freeze time (up
    /// when the bucket is empty, down when the deficit is at most the
    /// decrease point), then drops at random with that chance.
    fn check_blue(&mut self, now: i64) -> bool {
        let length = self.s.max_tokens - self.tokens;
        let limit = self.s.max_tokens;
        let diff = now - self.last_freeze;
        let threshold = (self.s.max_tokens as f64 * self.s.decrease_ratio).round() as i64;
        if diff > self.s.freeze_time {
            if length == limit && self.drop < 1.0 {
                self.drop = (self.drop + self.s.drop_increase).min(1.0);
            } else if length <= threshold && self.drop > 0.0 {
                self.drop = (self.drop - self.s.drop_decrease).max(0.0);
            }
            self.last_freeze = now;
        }
        self.next_f64() >= self.drop
    }

    /// `getDeficit`.
    pub fn deficit(&self) -> i64 {
        self.s.max_tokens - self.tokens
    }

    /// `getDropChance`.
    pub fn drop_chance(&self) -> f64 {
        self.drop
    }

    /// A uniform double in [0, 1) (xorshift64*).
    fn next_f64(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(max: i64, fill_time: i64, fill_count: i64) -> ThrottleSettings {
        ThrottleSettings {
            max_tokens: max,
            fill_time,
            fill_count,
            ..ThrottleSettings::default()
        }
    }

    #[test]
    fn off_by_default() {
        let mut t = BlueThrottle::new(ThrottleSettings::default(), 0, 7);
        assert!((0..10_000).all(|_| t.check(1, 0)));
    }

    #[test]
    fn bucket_holds_a_burst_then_the_fill_rate() {
        // 10 tokens, 2 more every 100 ms.
        let mut t = BlueThrottle::new(bucket(10, 100, 2), 0, 7);
        assert_eq!((0..20).filter(|_| t.check(1, 0)).count(), 10);
        assert_eq!(t.deficit(), 10);
        // Not past the fill time yet: nothing refilled.
        assert!(!t.check(1, 100));
        // 101 ms on: 101 * 2 / 100 = 2 tokens.
        assert_eq!((0..5).filter(|_| t.check(1, 101)).count(), 2);
        // Over 10 s, 2 per refill pass; a refill comes at the first check
        // past the fill time (here every 105 ms) and, as in ZooKeeper, the
        // ms past a whole period are lost: 190, not 200.
        let mut passed = 0;
        for ms in (102..10_102).step_by(5) {
            passed += (0..3).filter(|_| t.check(1, ms)).count();
        }
        assert_eq!(passed, 190);
        // Idle for long: back to full, not beyond.
        assert_eq!((0..50).filter(|_| t.check(1, 1_000_000)).count(), 10);
    }

    #[test]
    fn weights_cost_tokens() {
        let s = ThrottleSettings {
            weight_enabled: true,
            ..bucket(9, 1000, 3)
        };
        assert_eq!(s.need(0, false), 3);
        assert_eq!(s.need(0, true), 1);
        assert_eq!(s.need(42, false), 2);
        let mut t = BlueThrottle::new(s, 0, 1);
        assert!(t.check(3, 0) && t.check(3, 0) && t.check(2, 0));
        assert!(!t.check(3, 0));
        assert!(t.check(1, 0));
    }

    #[test]
    fn blue_raises_the_drop_chance_while_empty_and_lowers_it_after() {
        let s = ThrottleSettings {
            freeze_time: 10,
            drop_increase: 0.25,
            drop_decrease: 0.1,
            ..bucket(4, 1000, 1)
        };
        let mut t = BlueThrottle::new(s, 0, 12345);
        for _ in 0..4 {
            assert!(t.check(1, 0));
        }
        // Empty at each freeze: up by 0.25 each time, capped at 1.
        for (i, ms) in [11, 22, 33, 44, 55].into_iter().enumerate() {
            t.check(1, ms);
            let want = (0.25 * (i + 1) as f64).min(1.0);
            assert!(
                (t.drop_chance() - want).abs() < 1e-9,
                "{ms}: {}",
                t.drop_chance()
            );
        }
        // Chance 1: every connect dropped, tokens or not.
        assert!((0..100).all(|_| !t.check(1, 56)));
        // After a long idle the bucket is full (deficit 0 <= threshold 0):
        // the chance comes down by 0.1 a freeze.
        t.check(1, 100_000);
        assert!((t.drop_chance() - 0.9).abs() < 1e-9);
    }

    #[test]
    fn blue_drops_at_about_its_chance() {
        let s = ThrottleSettings {
            freeze_time: 1_000_000,
            ..bucket(1_000_000, 1, 1_000_000)
        };
        let mut t = BlueThrottle::new(s, 0, 99);
        t.drop = 0.3;
        let passed = (0..100_000).filter(|_| t.check(1, 0)).count();
        assert!((68_000..72_000).contains(&passed), "{passed}");
    }

    #[test]
    fn shares_add_up_to_the_server_budget() {
        let s = bucket(10, 100, 4);
        let shares: Vec<_> = (0..3).map(|i| s.share(i, 3)).collect();
        assert_eq!(shares.iter().map(|x| x.max_tokens).sum::<i64>(), 10);
        assert_eq!(shares.iter().map(|x| x.fill_count).sum::<i64>(), 4);
        assert!(shares.iter().all(|x| x.fill_time == 100));
        // Fewer tokens a refill than shards: the period stretches.
        let slow = bucket(10, 100, 1).share(2, 3);
        assert_eq!((slow.fill_count, slow.fill_time), (1, 300));
        // Fewer tokens than shards: each share can still take one connect.
        assert!(bucket(1, 1, 1).share(3, 4).max_tokens == 1);
        // Off stays off.
        assert_eq!(bucket(0, 1, 1).share(1, 4).max_tokens, 0);
        // Together, over a minute, the shards pass the server's rate.
        let mut ts: Vec<_> = shares
            .into_iter()
            .map(|x| BlueThrottle::new(x, 0, 3))
            .collect();
        let mut passed = 0;
        for ms in 0..60_000 {
            for t in &mut ts {
                passed += usize::from(t.check(1, ms));
            }
        }
        // 10 at once, then 4 a refill (every 101 ms, checked each ms),
        // as one bucket of the server's settings passes.
        let mut one = BlueThrottle::new(s, 0, 3);
        let alone = (0..60_000).filter(|ms| one.check(1, *ms)).count();
        assert_eq!(passed, alone);
    }
}
