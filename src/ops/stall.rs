//! The stall monitor: corral's `JvmPauseMonitor`.
//!
//! A task that holds an executor (a shard, the sequencer, the log core)
//! without yielding stops every other task of that core: its connections,
//! its timers, its channel. Each executor runs a heartbeat task that sleeps
//! for a short interval and measures how late it wakes; a wake-up later
//! than the threshold means the executor was held (or the whole process
//! was paused: swapped, descheduled, stopped) for at least that long. It is
//! reported once, as a `tracing` warning that names the executor, and
//! counted in [`STALLS`].
//!
//! Why not glommio's own stall detector (`LocalExecutorBuilder::detect_stalls`):
//! it arms and disarms a timerfd around every task-queue run (two syscalls
//! per scheduler loop, on the hot path of every request), interrupts the
//! executor thread with a signal to take a backtrace, and cannot report a
//! stall shorter than the preemption timer (100 ms). The heartbeat costs
//! one timer wake-up per interval and nothing per request.
//!
//! [`STALLS`] is the one piece of shared mutable state outside the channels
//! (the documented exception to shared-nothing): a monotonic, process-wide
//! counter that any executor may bump and any reader (the metrics endpoint,
//! `mntr`) may read with [`stall_count`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Executor stalls detected since the process started. Monotonic; only
/// ever incremented (by [`report`]). Read it with [`stall_count`].
pub static STALLS: AtomicU64 = AtomicU64::new(0);

/// How many executor stalls have been reported since the process started.
pub fn stall_count() -> u64 {
    STALLS.load(Ordering::Relaxed)
}

/// The default threshold, in ms (`corral.stallThresholdMs`).
pub const DEFAULT_THRESHOLD_MS: u64 = 100;

/// How a heartbeat runs: it sleeps `interval`, and a wake-up later than
/// `threshold` is a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub interval: Duration,
    pub threshold: Duration,
}

impl Heartbeat {
    /// A heartbeat for `threshold_ms`; `None` (no monitor) for 0. The
    /// interval is a quarter of the threshold, between 5 ms and 500 ms
    /// (`JvmPauseMonitor` sleeps 500 ms), so that a stall of the threshold
    /// is seen and an idle server wakes rarely.
    pub fn new(threshold_ms: u64) -> Option<Heartbeat> {
        if threshold_ms == 0 {
            return None;
        }
        let interval = (threshold_ms / 4).clamp(5, 500);
        Some(Heartbeat {
            interval: Duration::from_millis(interval),
            threshold: Duration::from_millis(threshold_ms),
        })
    }

    /// The stall a heartbeat shows when a sleep of `self.interval` took
    /// `slept`: how late it woke, if that is at least the threshold.
    pub fn check(&self, slept: Duration) -> Option<Duration> {
        let late = slept.saturating_sub(self.interval);
        (late >= self.threshold).then_some(late)
    }
}

/// Counts a stall of `executor` (which runs `roles`, comma-separated)
/// that lasted `stalled`, and logs it once.
pub fn report(executor: &str, roles: &str, stalled: Duration, threshold: Duration) {
    let total = STALLS.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::warn!(
        executor,
        roles,
        stall_ms = stalled.as_millis() as u64,
        threshold_ms = threshold.as_millis() as u64,
        stalls_total = total,
        "executor {executor} was stalled for at least {} ms: a task held its core without yielding, \
         or the process was paused",
        stalled.as_millis()
    );
}

/// The heartbeat task of executor `name` (running `roles`,
/// comma-separated): runs until its executor stops.
pub async fn monitor(name: String, roles: String, hb: Heartbeat) {
    loop {
        let t0 = Instant::now();
        glommio::timer::sleep(hb.interval).await;
        if let Some(late) = hb.check(t0.elapsed()) {
            report(&name, &roles, late, hb.threshold);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threshold_is_off() {
        assert_eq!(Heartbeat::new(0), None);
    }

    #[test]
    fn interval_is_a_quarter_of_the_threshold_within_bounds() {
        let ms = |t| Heartbeat::new(t).map(|h| h.interval.as_millis());
        assert_eq!(ms(100), Some(25));
        assert_eq!(ms(8), Some(5));
        assert_eq!(ms(10_000), Some(500));
    }

    #[test]
    fn lateness_under_the_threshold_is_not_a_stall() {
        let hb = Heartbeat::new(100).unwrap();
        assert_eq!(hb.check(Duration::from_millis(25)), None);
        assert_eq!(hb.check(Duration::from_millis(124)), None);
        assert_eq!(
            hb.check(Duration::from_millis(125)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            hb.check(Duration::from_millis(425)),
            Some(Duration::from_millis(400))
        );
        // A clock that says the sleep was short is not a stall.
        assert_eq!(hb.check(Duration::from_millis(1)), None);
    }

    /// A task that blocks its executor for 300 ms is seen by the heartbeat
    /// of that executor, logged at warn with its name, and counted.
    #[test]
    fn a_blocking_task_is_reported_and_counted() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let before = stall_count();
        tracing::subscriber::with_default(sub, || {
            glommio::LocalExecutor::default().run(async {
                let hb = Heartbeat::new(100).unwrap();
                let m = glommio::spawn_local(monitor("test-exec".into(), "test".into(), hb));
                // Let the heartbeat start its first sleep.
                glommio::timer::sleep(Duration::from_millis(10)).await;
                // Hold the executor: no task runs, no timer fires.
                std::thread::sleep(Duration::from_millis(300));
                // Give the heartbeat its late wake-up.
                glommio::timer::sleep(Duration::from_millis(60)).await;
                drop(m);
            });
        });
        assert!(
            stall_count() > before,
            "the stall was not counted ({before} before, {} after)",
            stall_count()
        );
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("test-exec") && l.contains("WARN"))
            .unwrap_or_else(|| panic!("no warning naming the executor in:\n{text}"));
        let ms: u64 = line
            .split("stall_ms=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no stall_ms in {line}"));
        assert!((200..1000).contains(&ms), "stall_ms={ms} in {line}");
    }
}
