//! `/metrics` in the Prometheus text format (0.0.4). Pure: gathered facts,
//! counters and process figures in, text out.
//!
//! ZooKeeper's names first, as its `PrometheusMetricsProvider` exports
//! them, from one table ([`zookeeper_metrics`]): every numeric `mntr` value
//! is a gauge of the same name (`znode_count`, `avg_latency`,
//! `packets_received`, …, from the very list `mntr` prints,
//! [`fourlw::mntr_values`]); the summaries `fsynctime`, `snapshottime`,
//! `readlatency`, `updatelatency` and recovery's `dbinittime` and
//! `startup_*` (ms or txns; `_count` and `_sum`, no quantiles); the Java
//! client's `process_*` figures; then the quota gauge
//! and counter sets by namespace (`quota_*_per_namespace`, label `key`).
//! `docs/metrics.md` lists every ZooKeeper 3.8 name and what corral does
//! with it; `tests/py/test_metrics.py` keeps that list true. Then corral's
//! own, all prefixed `corral_`: per shard connections, packets and
//! read/write latency histograms; per executor CPU time; the log core's
//! batches and fsync latency histogram; the sequencer's queue; the zxid
//! counter left before it rolls over; stalls. Histogram buckets are
//! [`fourlw::HISTOGRAM_US`], 100 µs to 5 s.

use crate::admin::counters::{TimerValues, Values};
use crate::admin::facts::ProcessFacts;
use crate::protocol::fourlw::{self, java_double, Facts, Histogram, Latency};
use std::fmt::Write;

/// The content type Prometheus expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn num(v: f64) -> String {
    java_double(v)
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, v: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {}", num(v));
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {}", num(v));
        }
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.head(name, kind, help);
        self.sample(name, "", v);
    }

    /// One labelled series of a histogram of microseconds, in seconds:
    /// `_bucket{le=…}` (cumulative, then `+Inf`), `_sum`, `_count`.
    fn histogram(&mut self, name: &str, labels: &str, h: &Histogram, count: u64, sum_us: u64) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (le, n) in h.cumulative() {
            let le = num(le as f64 / 1e6);
            self.sample(
                &format!("{name}_bucket"),
                &format!("{labels}{sep}le=\"{le}\""),
                n as f64,
            );
        }
        self.sample(
            &format!("{name}_bucket"),
            &format!("{labels}{sep}le=\"+Inf\""),
            count as f64,
        );
        self.sample(&format!("{name}_sum"), labels, sum_us as f64 / 1e6);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    /// A summary without quantiles (`_count`, `_sum`).
    fn summary(&mut self, name: &str, help: &str, count: u64, sum: f64) {
        self.head(name, "summary", help);
        self.sample(&format!("{name}_count"), "", count as f64);
        self.sample(&format!("{name}_sum"), "", sum);
    }
}

/// One ZooKeeper-named metric without labels.
pub enum Metric {
    Gauge(f64),
    Counter(f64),
    /// A summary of milliseconds: its count and sum.
    SummaryMs {
        count: u64,
        sum_ms: f64,
    },
    /// A summary of a count (txns, …).
    Summary {
        count: u64,
        sum: f64,
    },
}

/// A microsecond timer as a summary of ms.
fn timer_ms(t: &TimerValues) -> Metric {
    Metric::SummaryMs {
        count: t.count,
        sum_ms: t.sum_us as f64 / 1000.0,
    }
}

/// A microsecond latency as a summary of ms.
fn latency_ms(l: &Latency) -> Metric {
    Metric::SummaryMs {
        count: l.count,
        sum_ms: l.sum as f64 / 1000.0,
    }
}

/// ZooKeeper's metrics without labels that corral has, by ZooKeeper's
/// names, with their help text (ZooKeeper's own gauges, counters and
/// summaries take their name as help; the Java client's `process_*` have
/// their own): the one table to add such a metric to (and to list it in
/// `docs/metrics.md`). `process` is `None` under
/// `metricsProvider.exportJvmInfo=false`, which drops the `process_*` set as
/// it does in ZooKeeper.
pub fn zookeeper_metrics(
    f: &Facts,
    c: &Values,
    process: Option<&ProcessFacts>,
) -> Vec<(&'static str, &'static str, Metric)> {
    let mut m = Vec::new();
    for (k, v) in fourlw::mntr_values(f) {
        let x = match v {
            fourlw::Value::Int(i) => i as f64,
            fourlw::Value::Double(d) => d,
            fourlw::Value::Str(_) => continue,
        };
        // The throttles' counts are ServerMetrics counters in ZooKeeper.
        let counter = matches!(
            k,
            "connection_rejected"
                | "request_throttle_wait_count"
                | "stale_requests"
                | "stale_requests_dropped"
                | "large_requests_rejected"
                | "throttled_ops"
        );
        m.push((
            k,
            k,
            if counter {
                Metric::Counter(x)
            } else {
                Metric::Gauge(x)
            },
        ));
    }
    let st = f.stats();
    m.push(("fsynctime", "fsynctime", timer_ms(&c.log.fsync)));
    m.push(("snapshottime", "snapshottime", timer_ms(&c.log.snapshot)));
    m.push(("readlatency", "readlatency", latency_ms(&st.read_us)));
    m.push(("updatelatency", "updatelatency", latency_ms(&st.write_us)));
    // Recovery at start: one observation each (none before it is done).
    let s = c.startup.unwrap_or_default();
    let n = u64::from(c.startup.is_some());
    let ms = |us: u64| Metric::SummaryMs {
        count: n,
        sum_ms: us as f64 / 1000.0,
    };
    m.push(("dbinittime", "dbinittime", ms(s.db_init_us)));
    m.push((
        "startup_snap_load_time",
        "startup_snap_load_time",
        ms(s.snap_load_us),
    ));
    m.push((
        "startup_txns_load_time",
        "startup_txns_load_time",
        ms(s.txns_load_us),
    ));
    m.push((
        "startup_txns_loaded",
        "startup_txns_loaded",
        Metric::Summary {
            count: n,
            sum: s.txns_loaded as f64,
        },
    ));
    if let Some(p) = process {
        let opt = |v: Option<f64>| v.unwrap_or(-1.0);
        let bytes = |v: Option<u64>| v.map_or(-1.0, |b| b as f64);
        m.extend([
            (
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                Metric::Counter(opt(p.cpu_seconds)),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Metric::Gauge(opt(p.start_time_seconds)),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                Metric::Gauge(f.os.open_fds as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                Metric::Gauge(f.os.max_fds as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Metric::Gauge(bytes(p.virtual_memory_bytes)),
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Metric::Gauge(bytes(p.resident_memory_bytes)),
            ),
        ]);
    }
    m
}

/// ZooKeeper's quota gauge sets and its exceeded-error counter set, by
/// namespace (label `key`, as its Prometheus provider names a set's key).
fn quotas(o: &mut Out, f: &Facts, exceeded: &[(String, u64)]) {
    let gauges = f.tree.quota_gauges();
    type Get = fn(&crate::data::tree::QuotaGauges) -> i64;
    let sets: [(&str, &str, Get); 4] = [
        (
            "quota_count_limit_per_namespace",
            "Quota count limit per namespace",
            |g| g.count_limit,
        ),
        (
            "quota_bytes_limit_per_namespace",
            "Quota bytes limit per namespace",
            |g| g.bytes_limit,
        ),
        (
            "quota_count_usage_per_namespace",
            "Quota count usage per namespace",
            |g| g.count_usage,
        ),
        (
            "quota_bytes_usage_per_namespace",
            "Quota bytes usage per namespace",
            |g| g.bytes_usage,
        ),
    ];
    for (name, help, get) in sets {
        o.head(name, "gauge", help);
        for (ns, g) in &gauges {
            o.sample(name, &format!("key=\"{}\"", label(ns)), get(g) as f64);
        }
    }
    let name = "quota_exceeded_error_per_namespace";
    o.head(
        name,
        "counter",
        "Writes refused over a hard quota, per namespace",
    );
    for (ns, n) in exceeded {
        o.sample(name, &format!("key=\"{}\"", label(ns)), *n as f64);
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole `/metrics` page; `process` as in [`zookeeper_metrics`].
pub fn render(f: &Facts, c: &Values, process: Option<&ProcessFacts>) -> String {
    let mut o = Out(String::new());
    for (name, help, m) in zookeeper_metrics(f, c, process) {
        match m {
            Metric::Gauge(v) => o.one(name, "gauge", help, v),
            Metric::Counter(v) => o.one(name, "counter", help, v),
            Metric::SummaryMs { count, sum_ms } => o.summary(name, help, count, sum_ms),
            Metric::Summary { count, sum } => o.summary(name, help, count, sum),
        }
    }
    quotas(&mut o, f, &c.quota_exceeded);

    o.head(
        "corral_shard_connections",
        "gauge",
        "Open client connections per shard",
    );
    for v in f.views {
        o.sample(
            "corral_shard_connections",
            &format!("shard=\"{}\"", v.shard),
            v.conn_count as f64,
        );
    }
    o.head(
        "corral_shard_outstanding_requests",
        "gauge",
        "Requests a shard has read and not yet answered: its queue towards the sequencer and back",
    );
    for v in f.views {
        o.sample(
            "corral_shard_outstanding_requests",
            &format!("shard=\"{}\"", v.shard),
            v.outstanding as f64,
        );
    }
    o.head(
        "corral_shard_packets_received_total",
        "counter",
        "Packets received per shard (reset by srst)",
    );
    for v in f.views {
        o.sample(
            "corral_shard_packets_received_total",
            &format!("shard=\"{}\"", v.shard),
            v.stats.received as f64,
        );
    }
    o.head(
        "corral_shard_packets_sent_total",
        "counter",
        "Packets sent per shard (reset by srst)",
    );
    for v in f.views {
        o.sample(
            "corral_shard_packets_sent_total",
            &format!("shard=\"{}\"", v.shard),
            v.stats.sent as f64,
        );
    }
    o.head(
        "corral_shard_request_latency_seconds",
        "histogram",
        "Request latency per shard and kind (read: answered by the shard; write: through the sequencer)",
    );
    for v in f.views {
        let s = &v.stats;
        for (kind, l, h) in [
            ("read", &s.read_us, &s.read_hist),
            ("write", &s.write_us, &s.write_hist),
        ] {
            let labels = format!("shard=\"{}\",kind=\"{kind}\"", v.shard);
            o.histogram(
                "corral_shard_request_latency_seconds",
                &labels,
                h,
                l.count,
                l.sum,
            );
        }
    }
    o.head(
        "corral_shard_request_latency_max_seconds",
        "gauge",
        "Largest request latency per shard and kind since the last srst",
    );
    for v in f.views {
        for (kind, l) in [("read", &v.stats.read_us), ("write", &v.stats.write_us)] {
            let labels = format!("shard=\"{}\",kind=\"{kind}\"", v.shard);
            o.sample(
                "corral_shard_request_latency_max_seconds",
                &labels,
                l.max as f64 / 1e6,
            );
        }
    }
    if let Some(p) = process {
        let name = "corral_executor_cpu_seconds_total";
        o.head(
            name,
            "counter",
            "User plus system CPU time of each executor thread (sequencer, log, zab, shard-N; core-N for the roles sharing CPU N's executor)",
        );
        for (ex, secs) in &p.executors {
            o.sample(name, &format!("executor=\"{}\"", label(ex)), *secs);
        }
    }
    o.one(
        "corral_log_batches_total",
        "counter",
        "Txn log batches written (one write and one fdatasync each)",
        c.log.batches as f64,
    );
    o.one(
        "corral_log_txns_total",
        "counter",
        "Txns written to the log",
        c.log.txns as f64,
    );
    o.one(
        "corral_log_batch_size_max",
        "gauge",
        "The largest log batch, in txns",
        c.log.max_batch as f64,
    );
    o.head(
        "corral_log_fsync_seconds",
        "histogram",
        "fdatasync time of the txn log",
    );
    let t = &c.log.fsync;
    o.histogram(
        "corral_log_fsync_seconds",
        "",
        &t.histogram,
        t.count,
        t.sum_us,
    );
    o.one(
        "corral_log_fsync_max_seconds",
        "gauge",
        "The longest fdatasync of the txn log",
        c.log.fsync.max_us as f64 / 1e6,
    );
    o.one(
        "corral_log_fsync_over_threshold_total",
        "counter",
        "fsyncs over fsync.warningthresholdms",
        c.log.fsync_over_threshold as f64,
    );
    o.one(
        "corral_sequencer_queue",
        "gauge",
        "Messages the sequencer drained in its last wake-up",
        c.seq_queue as f64,
    );
    o.one(
        "corral_zxid_counter_remaining",
        "gauge",
        "Txns left before the zxid counter (low 32 bits) rolls over",
        zxid_left(f.tree.last_zxid) as f64,
    );
    o.one(
        "corral_stalls_total",
        "counter",
        "Stalls seen (see server::counters)",
        c.stalls as f64,
    );
    o.0
}

/// Txns before the low 32 bits of `zxid` reach 0xffffffff, where ZooKeeper
/// forces a new epoch.
pub fn zxid_left(zxid: i64) -> u64 {
    0xffff_ffff - (zxid as u64 & 0xffff_ffff)
}

/// The samples of a `/metrics` page without labels, by name (for the tests
/// comparing it with `mntr`).
#[cfg(test)]
pub fn parse(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains('{'))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tree::Tree;
    use crate::protocol::fourlw::{ShardView, DEFAULT_TRACE_MASK};

    #[test]
    fn mntr_and_metrics_say_the_same() {
        let tree = Tree::new();
        let mut v0 = ShardView {
            shard: 0,
            conn_count: 2,
            ..Default::default()
        };
        v0.stats.received = 7;
        v0.stats.read_us.add(250);
        v0.stats.read_hist.add(250);
        v0.stats.latency.add(3);
        let views = vec![
            v0,
            ShardView {
                shard: 1,
                ..Default::default()
            },
        ];
        let f = Facts {
            tree: &tree,
            server_state: "standalone",
            global_sessions: 1,
            local_sessions: 0,
            session_sets: &[],
            uptime_ms: 99,
            trace_mask: DEFAULT_TRACE_MASK,
            os: Default::default(),
            views: &views,
            quorum: None,
        };
        let mut c = Values {
            stalls: 2,
            ..Default::default()
        };
        let mut fsyncs = Histogram::default();
        for us in [100, 300, 700, 900] {
            fsyncs.add(us);
        }
        c.log.fsync = TimerValues {
            count: 4,
            sum_us: 2000,
            max_us: 900,
            histogram: fsyncs,
        };
        let p = ProcessFacts {
            cpu_seconds: Some(1.5),
            executors: vec![("shard-0".into(), 0.25)],
            ..Default::default()
        };
        let text = render(&f, &c, Some(&p));
        let samples = parse(&text);
        let get = |k: &str| samples.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        for line in fourlw::mntr(&f).lines() {
            let (k, v) = line.split_once('\t').unwrap();
            let k = k.trim_start_matches("zk_");
            if let Ok(x) = v.parse::<f64>() {
                assert_eq!(get(k), Some(x), "{k}");
            }
        }
        assert_eq!(get("znode_count"), Some(5.0));
        assert_eq!(get("fsynctime_count"), Some(4.0));
        assert_eq!(get("fsynctime_sum"), Some(2.0));
        assert_eq!(get("corral_stalls_total"), Some(2.0));
        assert_eq!(get("corral_zxid_counter_remaining"), Some(4_294_967_295.0));
        assert!(text.contains("# TYPE znode_count gauge\n"));
        assert!(text.contains("corral_shard_connections{shard=\"0\"} 2.0\n"));
        assert!(text.contains(
            "corral_shard_request_latency_seconds_sum{shard=\"0\",kind=\"read\"} 2.5E-4\n"
        ));
        // Histograms: cumulative buckets in seconds, then +Inf = count.
        assert!(text.contains("# TYPE corral_log_fsync_seconds histogram\n"));
        assert!(text.contains("corral_log_fsync_seconds_bucket{le=\"1.0E-4\"} 1.0\n"));
        assert!(text.contains("corral_log_fsync_seconds_bucket{le=\"5.0E-4\"} 2.0\n"));
        assert!(text.contains("corral_log_fsync_seconds_bucket{le=\"0.001\"} 4.0\n"));
        assert!(text.contains("corral_log_fsync_seconds_bucket{le=\"+Inf\"} 4.0\n"));
        assert!(text.contains(
            "corral_shard_request_latency_seconds_bucket{shard=\"0\",kind=\"read\",le=\"2.5E-4\"} 1.0\n"
        ));
        assert!(text.contains(
            "corral_shard_request_latency_seconds_bucket{shard=\"0\",kind=\"read\",le=\"1.0E-4\"} 0.0\n"
        ));
        assert_eq!(zxid_left(0x5_ffff_fffe), 1);
        // ZooKeeper's summaries and the Java client's process figures.
        assert!(text
            .contains("# TYPE readlatency summary\nreadlatency_count 1.0\nreadlatency_sum 0.25\n"));
        assert!(text
            .contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n"));
        assert!(text.contains("corral_executor_cpu_seconds_total{executor=\"shard-0\"} 0.25\n"));
        // exportJvmInfo=false: no process_* and no executor CPU.
        assert!(text.contains("# TYPE dbinittime summary\ndbinittime_count 0.0\n"));
        c.startup = Some(crate::admin::counters::StartupValues {
            db_init_us: 1500,
            txns_loaded: 7,
            ..Default::default()
        });
        let text = render(&f, &c, Some(&p));
        assert!(text.contains("dbinittime_count 1.0\ndbinittime_sum 1.5\n"));
        assert!(text.contains("startup_txns_loaded_count 1.0\nstartup_txns_loaded_sum 7.0\n"));
        assert!(!text.contains("quorum_size") && !text.contains("learners"));
        let leading = Facts {
            quorum: Some(fourlw::QuorumFacts {
                quorum_size: 3,
                synced_observers: 1,
                leader: Some(fourlw::LeaderFacts {
                    learners: 3,
                    synced_followers: 2,
                    pending_syncs: 0,
                }),
            }),
            ..f
        };
        let text = render(&leading, &c, Some(&p));
        assert!(text.contains("# TYPE quorum_size gauge\nquorum_size 3.0\n"));
        assert!(text.contains("synced_followers 2.0\n") && text.contains("learners 3.0\n"));
        let bare = render(&f, &c, None);
        assert!(!bare.contains("process_") && !bare.contains("corral_executor_cpu"));
        assert!(bare.contains("# TYPE updatelatency summary\n"));
    }
}
