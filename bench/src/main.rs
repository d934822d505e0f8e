//! `zkbench`: a pipelined load generator that speaks the ZooKeeper client
//! protocol to any server (corral or ZooKeeper), and reports throughput,
//! latency percentiles, errors, and the server's CPU per op and RSS (read
//! from /proc when `--server-pid` is given). With `--tls-ca` every
//! connection is TLS (rustls), for a server's `secureClientPort`.

mod conn;

use bytes::{BufMut, BytesMut};
use clap::{Parser, ValueEnum};
use conn::Conn;
use corral::protocol::jute::{self, op, Jute, Reader};
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum Scenario {
    /// getData on random keys.
    Get,
    /// setData on random keys (fsync per write on the server).
    Set,
    /// `--read-share` percent getData, the rest setData.
    Mix,
    /// create an ephemeral-sequential node, then delete it (lock churn).
    Lock,
    /// N sessions watch one node that one session keeps setting; every
    /// event is counted.
    Watch,
    /// Fan-out: `--sessions` watchers of one node, re-registering after
    /// each event; one writer sets the node as soon as every watcher is
    /// armed again. Reports events delivered a second, the latency from
    /// the write to the last watcher's event (the histogram) and to each
    /// watcher's event (`each_p50_us`/`each_p99_us`).
    Fanout,
    /// Many watches per session: `--sessions` watchers each hold a data
    /// watch on every one of `--keys` nodes and re-register it after its
    /// event; one writer session keeps `--outstanding` setData on random
    /// keys in flight. Reports events delivered a second (ops), the
    /// writes' latency, and the server's CPU per event.
    Watchmany,
    /// connect, handshake, closeSession, over and over.
    Churn,
    /// Like `set`/`get` with 1 MB values (use --value-size 1048000).
    Big,
    /// Fill `--keys` znodes (e.g. 1000000), then getData; reports RSS.
    Tree,
}

#[derive(Parser, Debug, Clone)]
#[command(name = "zkbench", about = "ZooKeeper-protocol load generator")]
struct Args {
    /// Server address; a comma-separated list spreads the sessions over
    /// an ensemble (session i uses address i mod n).
    #[arg(long, default_value = "127.0.0.1:2181")]
    addr: String,
    #[arg(long, value_enum, default_value = "get")]
    scenario: Scenario,
    #[arg(long, default_value_t = 32)]
    sessions: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 8)]
    outstanding: usize,
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Percent of reads in `mix`.
    #[arg(long, default_value_t = 90)]
    read_share: u32,
    /// Seconds of measured load (after warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The server's pid, for CPU seconds per op and RSS; a comma-separated
    /// list (an ensemble) sums them.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Skip creating the keys (they exist already).
    #[arg(long)]
    no_preload: bool,
    /// Speak TLS, trusting the CA certificates in this PEM file (the
    /// server's name is the host in --addr).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// With --tls-ca: present this certificate chain (PEM), as a server
    /// with ssl.clientAuth=need asks.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// With --tls-cert: its PKCS#8 private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The TLS client configuration, when `--tls-ca` is given.
static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
/// What the first TLS connection negotiated (protocol and cipher suite).
static NEGOTIATED: OnceLock<String> = OnceLock::new();

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One client session on one connection.
struct Session {
    stream: Conn,
    rbuf: BytesMut,
    xid: i32,
}

fn frame(xid: i32, opcode: i32, body: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(12 + body.len());
    b.put_i32(8 + body.len() as i32);
    b.put_i32(xid);
    b.put_i32(opcode);
    b.extend_from_slice(body);
    b
}

impl Session {
    async fn connect(addr: &str) -> Res<Session> {
        let mut stream = Conn::connect(addr, TLS.get()).await?;
        if let Some(t) = stream.tls_summary() {
            let _ = NEGOTIATED.set(t);
        }
        let req = jute::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: bytes::Bytes::from_static(&[0; 16]),
        }
        .encode();
        let mut b = BytesMut::new();
        b.put_i32(req.len() as i32 + 1);
        b.extend_from_slice(&req);
        b.put_u8(0);
        stream.write_all(&b).await?;
        let mut s = Session {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            xid: 0,
        };
        let resp = s.read_frame().await?;
        let r = jute::ConnectResponse::decode(&resp)?;
        if r.session_id == 0 {
            return Err("session refused".into());
        }
        Ok(s)
    }

    async fn read_frame(&mut self) -> Res<BytesMut> {
        loop {
            if self.rbuf.len() >= 4 {
                let len =
                    i32::from_be_bytes([self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]]);
                if len < 0 {
                    return Err("negative frame".into());
                }
                if self.rbuf.len() >= 4 + len as usize {
                    let mut f = self.rbuf.split_to(4 + len as usize);
                    let _ = f.split_to(4);
                    return Ok(f);
                }
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err("connection closed".into());
            }
        }
    }

    fn next_xid(&mut self) -> i32 {
        self.xid += 1;
        self.xid
    }

    /// Reads replies until a non-notification one; returns (xid, err).
    async fn read_reply(&mut self, events: &AtomicU64) -> Res<(i32, i32)> {
        loop {
            let f = self.read_frame().await?;
            let h = jute::ReplyHeader::read(&mut Reader::new(&f))?;
            if h.xid == jute::xid::NOTIFICATION {
                events.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Ok((h.xid, h.err));
        }
    }

    async fn call(&mut self, opcode: i32, body: &[u8], events: &AtomicU64) -> Res<i32> {
        let xid = self.next_xid();
        self.stream.write_all(&frame(xid, opcode, body)).await?;
        Ok(self.read_reply(events).await?.1)
    }
}

fn key(i: usize) -> String {
    format!("/bench/k{i:07}")
}

fn create_body(path: &str, data: &[u8], flags: i32) -> BytesMut {
    jute::CreateRequest {
        path: path.into(),
        data: Some(bytes::Bytes::copy_from_slice(data)),
        acl: corral::data::tree::open_acl(),
        flags,
    }
    .encode()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The request a scenario sends next.
fn next_request(a: &Args, rng: &mut Rng, value: &[u8], sid: usize) -> (i32, BytesMut) {
    let k = key((rng.next() % a.keys as u64) as usize);
    let read = match a.scenario {
        Scenario::Get | Scenario::Tree => true,
        Scenario::Set => false,
        Scenario::Big => rng.next().is_multiple_of(2),
        _ => (rng.next() % 100) < a.read_share as u64,
    };
    if a.scenario == Scenario::Lock {
        let p = format!("/bench/lock-{sid}-");
        return (op::CREATE, create_body(&p, b"", 3));
    }
    if read {
        (
            op::GET_DATA,
            jute::PathWatchRequest {
                path: k,
                watch: false,
            }
            .encode(),
        )
    } else {
        let body = jute::SetDataRequest {
            path: k,
            data: Some(bytes::Bytes::copy_from_slice(value)),
            version: -1,
        }
        .encode();
        (op::SET_DATA, body)
    }
}

struct Shared {
    stop: AtomicBool,
    measuring: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
    events: AtomicU64,
}

/// A pipelined session: keeps `outstanding` requests in flight.
async fn run_session(a: Args, sid: usize, sh: Arc<Shared>) -> Res<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let addrs: Vec<&str> = a.addr.split(',').collect();
    let mut s = Session::connect(addrs[sid % addrs.len()]).await?;
    if addrs.len() > 1 {
        // A follower may not have applied the preload yet.
        let events = AtomicU64::new(0);
        s.call(
            op::SYNC,
            &jute::PathRequest {
                path: "/bench".into(),
            }
            .encode(),
            &events,
        )
        .await?;
    }
    let value = vec![b'v'; a.value_size];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((sid as u64 + 1) * 0x1000_0000_01B3));
    let mut inflight: VecDeque<(Instant, i32)> = VecDeque::new();
    let mut out = BytesMut::new();
    while !sh.stop.load(Ordering::Relaxed) {
        while inflight.len() < a.outstanding {
            let (opcode, body) = next_request(&a, &mut rng, &value, sid);
            let xid = s.next_xid();
            out.extend_from_slice(&frame(xid, opcode, &body));
            inflight.push_back((Instant::now(), opcode));
        }
        if !out.is_empty() {
            s.stream.write_all(&out).await?;
            out.clear();
        }
        let f = s.read_frame().await?;
        let h = jute::ReplyHeader::read(&mut Reader::new(&f))?;
        if h.xid == jute::xid::NOTIFICATION {
            sh.events.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some((at, opcode)) = inflight.pop_front() else {
            return Err("reply without request".into());
        };
        if a.scenario == Scenario::Lock && opcode == op::CREATE && h.err == 0 {
            // Delete the lock node we just made (path is in the reply).
            let path = jute::PathResponse::decode(&f[16..])?.path;
            let body = jute::DeleteRequest { path, version: -1 }.encode();
            let xid = s.next_xid();
            out.extend_from_slice(&frame(xid, op::DELETE, &body));
            inflight.push_back((Instant::now(), op::DELETE));
        }
        if sh.measuring.load(Ordering::Relaxed) {
            let _ = hist.record(at.elapsed().as_micros().max(1) as u64);
            sh.ops.fetch_add(1, Ordering::Relaxed);
            if h.err != 0 {
                sh.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(hist)
}

async fn preload(a: &Args) -> Res<()> {
    let events = AtomicU64::new(0);
    let mut s = Session::connect(a.addr.split(',').next().unwrap_or(&a.addr)).await?;
    s.call(op::CREATE, &create_body("/bench", b"", 0), &events)
        .await?;
    let value = vec![b'v'; a.value_size];
    // Pipeline creates in windows of 1000.
    let mut i = 0;
    while i < a.keys {
        let end = (i + 1000).min(a.keys);
        let mut out = BytesMut::new();
        for k in i..end {
            let xid = s.next_xid();
            out.extend_from_slice(&frame(xid, op::CREATE, &create_body(&key(k), &value, 0)));
        }
        s.stream.write_all(&out).await?;
        for _ in i..end {
            s.read_reply(&events).await?;
        }
        i = end;
    }
    if matches!(a.scenario, Scenario::Watch | Scenario::Fanout) {
        s.call(op::CREATE, &create_body("/bench/watched", b"", 0), &events)
            .await?;
    }
    Ok(())
}

/// utime+stime seconds and RSS bytes, summed over processes.
fn procs_usage(pids: &[u32]) -> Option<(f64, u64)> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold((0.0, 0), |(c, r), &p| {
        proc_usage(p).map(|(c2, r2)| (c + c2, r + r2))
    })
}

/// utime+stime seconds and RSS bytes of a process.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks / 100.0, rss_kb * 1024))
}

async fn watch_scenario(a: &Args, sh: Arc<Shared>) -> Res<(u64, u64)> {
    // Watchers re-register on every event; one setter sets once per ms.
    let mut tasks = Vec::new();
    for _ in 0..a.sessions {
        let a = a.clone();
        let sh = sh.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Session::connect(&a.addr).await?;
            let body = jute::PathWatchRequest {
                path: "/bench/watched".into(),
                watch: true,
            }
            .encode();
            let events = AtomicU64::new(0);
            s.call(op::GET_DATA, &body, &events).await?;
            while !sh.stop.load(Ordering::Relaxed) {
                let f = tokio::time::timeout(Duration::from_millis(200), s.read_frame()).await;
                let Ok(f) = f else { continue };
                let f = f?;
                let h = jute::ReplyHeader::read(&mut Reader::new(&f))?;
                if h.xid == jute::xid::NOTIFICATION {
                    if sh.measuring.load(Ordering::Relaxed) {
                        sh.events.fetch_add(1, Ordering::Relaxed);
                    }
                    let xid = s.next_xid();
                    s.stream.write_all(&frame(xid, op::GET_DATA, &body)).await?;
                }
            }
            Res::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut setter = Session::connect(&a.addr).await?;
    let events = AtomicU64::new(0);
    let mut sets = 0u64;
    let start = Instant::now();
    let total = Duration::from_secs_f64(a.warmup + a.duration);
    while start.elapsed() < total {
        if start.elapsed().as_secs_f64() >= a.warmup && !sh.measuring.load(Ordering::Relaxed) {
            sh.measuring.store(true, Ordering::Relaxed);
        }
        let body = jute::SetDataRequest {
            path: "/bench/watched".into(),
            data: None,
            version: -1,
        }
        .encode();
        setter.call(op::SET_DATA, &body, &events).await?;
        if sh.measuring.load(Ordering::Relaxed) {
            sets += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sh.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok((sets, sh.events.load(Ordering::Relaxed)))
}

/// What the fan-out's watchers and its writer share.
struct Fan {
    /// Watchers armed (their watch registered) since the last write.
    armed: std::sync::atomic::AtomicUsize,
    /// Watchers that saw the last write's event.
    got: std::sync::atomic::AtomicUsize,
    /// When the last write went out, and when its latest event came in
    /// (ns since `base`).
    sent_ns: AtomicU64,
    last_ns: AtomicU64,
    base: Instant,
    wake: tokio::sync::Notify,
}

impl Fan {
    fn ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

async fn fanout_watcher(a: Args, sh: Arc<Shared>, fan: Arc<Fan>) -> Res<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut s = Session::connect(&a.addr).await?;
    let body = jute::PathWatchRequest {
        path: "/bench/watched".into(),
        watch: true,
    }
    .encode();
    let xid = s.next_xid();
    s.stream.write_all(&frame(xid, op::GET_DATA, &body)).await?;
    let n = a.sessions;
    while !sh.stop.load(Ordering::Relaxed) {
        let f = tokio::time::timeout(Duration::from_millis(200), s.read_frame()).await;
        let Ok(f) = f else { continue };
        let f = f?;
        let h = jute::ReplyHeader::read(&mut Reader::new(&f))?;
        if h.xid == jute::xid::NOTIFICATION {
            let now = fan.ns();
            fan.last_ns.fetch_max(now, Ordering::Relaxed);
            if sh.measuring.load(Ordering::Relaxed) {
                let took = now.saturating_sub(fan.sent_ns.load(Ordering::Relaxed));
                let _ = hist.record((took / 1000).max(1));
            }
            if fan.got.fetch_add(1, Ordering::Relaxed) + 1 == n {
                fan.wake.notify_one();
            }
            let xid = s.next_xid();
            s.stream.write_all(&frame(xid, op::GET_DATA, &body)).await?;
        } else {
            if h.err != 0 {
                return Err(format!("fan-out watcher: getData error {}", h.err).into());
            }
            if fan.armed.fetch_add(1, Ordering::Relaxed) + 1 == n {
                fan.wake.notify_one();
            }
        }
    }
    Ok(hist)
}

/// Waits until `count` reaches `n`; an error after 30 s (events lost).
async fn fan_wait(
    fan: &Fan,
    count: &std::sync::atomic::AtomicUsize,
    n: usize,
    what: &str,
) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            return Err(format!(
                "fan-out: {} of {n} watchers {what} after 30 s",
                count.load(Ordering::Relaxed)
            )
            .into());
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), fan.wake.notified()).await;
    }
    Ok(())
}

/// The fan-out scenario: returns the write-to-last-watcher histogram, the
/// merged write-to-each-watcher one, the rounds measured, and the CPU
/// window.
async fn fanout_scenario(
    a: &Args,
    sh: Arc<Shared>,
) -> Res<(Histogram<u64>, Histogram<u64>, u64, (Window, Window))> {
    let n = a.sessions;
    let fan = Arc::new(Fan {
        armed: Default::default(),
        got: Default::default(),
        sent_ns: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
        base: Instant::now(),
        wake: tokio::sync::Notify::new(),
    });
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(tokio::spawn(fanout_watcher(
            a.clone(),
            sh.clone(),
            fan.clone(),
        )));
    }
    let mut writer = Session::connect(&a.addr).await?;
    let events = AtomicU64::new(0);
    let body = jute::SetDataRequest {
        path: "/bench/watched".into(),
        data: Some(bytes::Bytes::from(vec![b'v'; a.value_size])),
        version: -1,
    }
    .encode();
    let mut last = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut rounds = 0u64;
    let start = Instant::now();
    let warm = Duration::from_secs_f64(a.warmup);
    let total = warm + Duration::from_secs_f64(a.duration);
    let mut w_start = None;
    fan_wait(&fan, &fan.armed, n, "armed").await?;
    while start.elapsed() < total {
        if w_start.is_none() && start.elapsed() >= warm {
            w_start = Some(sample(a));
            sh.measuring.store(true, Ordering::Relaxed);
        }
        fan.armed.store(0, Ordering::Relaxed);
        fan.got.store(0, Ordering::Relaxed);
        let sent = fan.ns();
        fan.sent_ns.store(sent, Ordering::Relaxed);
        fan.last_ns.store(sent, Ordering::Relaxed);
        if writer.call(op::SET_DATA, &body, &events).await? != 0 {
            return Err("fan-out: setData failed".into());
        }
        fan_wait(&fan, &fan.got, n, "got the event").await?;
        if sh.measuring.load(Ordering::Relaxed) {
            let took = fan.last_ns.load(Ordering::Relaxed).saturating_sub(sent);
            let _ = last.record((took / 1000).max(1));
            rounds += 1;
            sh.ops.fetch_add(n as u64, Ordering::Relaxed);
        }
        fan_wait(&fan, &fan.armed, n, "armed again").await?;
    }
    sh.measuring.store(false, Ordering::Relaxed);
    let w_end = sample(a);
    sh.stop.store(true, Ordering::Relaxed);
    let mut each = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        each.add(t.await??)?;
    }
    let w_start = w_start.unwrap_or(w_end);
    Ok((last, each, rounds, (w_start, w_end)))
}

/// One session holding a data watch on every key, re-registering each
/// after its event; counts events while measuring.
async fn watchmany_watcher(a: Args, sh: Arc<Shared>, ready: Arc<tokio::sync::Barrier>) -> Res<()> {
    let mut s = Session::connect(&a.addr).await?;
    let watch = |k: &str| {
        jute::PathWatchRequest {
            path: k.to_string(),
            watch: true,
        }
        .encode()
    };
    // Register in windows of 1000, reading the answers.
    let mut i = 0;
    while i < a.keys {
        let end = (i + 1000).min(a.keys);
        let mut out = BytesMut::new();
        for k in i..end {
            let xid = s.next_xid();
            out.extend_from_slice(&frame(xid, op::EXISTS, &watch(&key(k))));
        }
        s.stream.write_all(&out).await?;
        let events = AtomicU64::new(0);
        for _ in i..end {
            s.read_reply(&events).await?;
        }
        i = end;
    }
    ready.wait().await;
    while !sh.stop.load(Ordering::Relaxed) {
        let f = tokio::time::timeout(Duration::from_millis(200), s.read_frame()).await;
        let Ok(f) = f else { continue };
        let f = f?;
        let mut r = Reader::new(&f);
        let h = jute::ReplyHeader::read(&mut r)?;
        if h.xid != jute::xid::NOTIFICATION {
            continue;
        }
        if sh.measuring.load(Ordering::Relaxed) {
            sh.ops.fetch_add(1, Ordering::Relaxed);
        }
        let ev = jute::WatcherEvent::read(&mut r)?;
        let xid = s.next_xid();
        s.stream
            .write_all(&frame(xid, op::EXISTS, &watch(&ev.path)))
            .await?;
    }
    Ok(())
}

/// The many-watches scenario: the writer's latency histogram and the CPU
/// window (ops: the events delivered).
async fn watchmany_scenario(a: &Args, sh: Arc<Shared>) -> Res<(Histogram<u64>, (Window, Window))> {
    let ready = Arc::new(tokio::sync::Barrier::new(a.sessions + 1));
    let mut tasks = Vec::new();
    for _ in 0..a.sessions {
        tasks.push(tokio::spawn(watchmany_watcher(
            a.clone(),
            sh.clone(),
            ready.clone(),
        )));
    }
    ready.wait().await;
    // The writer: one pipelined session of setData, not counted as ops.
    let mut wa = a.clone();
    wa.scenario = Scenario::Set;
    let wsh = Arc::new(Shared {
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        events: AtomicU64::new(0),
    });
    let writer = tokio::spawn(run_session(wa, 0, wsh.clone()));
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let start = sample(a);
    sh.measuring.store(true, Ordering::Relaxed);
    wsh.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
    sh.measuring.store(false, Ordering::Relaxed);
    wsh.measuring.store(false, Ordering::Relaxed);
    let end = sample(a);
    wsh.stop.store(true, Ordering::Relaxed);
    sh.stop.store(true, Ordering::Relaxed);
    let hist = writer.await??;
    for t in tasks {
        t.await??;
    }
    sh.errors
        .fetch_add(wsh.errors.load(Ordering::Relaxed), Ordering::Relaxed);
    Ok((hist, (start, end)))
}

async fn churn_scenario(a: &Args, sh: Arc<Shared>) -> Res<Histogram<u64>> {
    let mut tasks = Vec::new();
    for _ in 0..a.sessions {
        let a = a.clone();
        let sh = sh.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let events = AtomicU64::new(0);
            while !sh.stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let mut s = Session::connect(&a.addr).await?;
                s.call(op::CLOSE_SESSION, &[], &events).await?;
                if sh.measuring.load(Ordering::Relaxed) {
                    let _ = hist.record(at.elapsed().as_micros().max(1) as u64);
                    sh.ops.fetch_add(1, Ordering::Relaxed);
                }
            }
            Res::Ok(hist)
        }));
    }
    drive(a, &sh).await;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        hist.add(t.await??)?;
    }
    Ok(hist)
}

/// CPU seconds of the servers and of this generator, sampled at the edges
/// of the measured window.
type Window = (Option<(f64, u64)>, Option<(f64, u64)>);

fn sample(a: &Args) -> Window {
    (procs_usage(&a.server_pid), proc_usage(std::process::id()))
}

async fn drive(a: &Args, sh: &Shared) -> (Window, Window) {
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let start = sample(a);
    sh.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
    sh.measuring.store(false, Ordering::Relaxed);
    let end = sample(a);
    sh.stop.store(true, Ordering::Relaxed);
    (start, end)
}

/// CPU microseconds an op between two samples.
fn us_per_op(b: Option<(f64, u64)>, c: Option<(f64, u64)>, ops: u64) -> Option<f64> {
    match (b, c) {
        (Some((b, _)), Some((c, _))) if ops > 0 => Some((c - b) * 1e6 / ops as f64),
        _ => None,
    }
}

async fn run(a: Args) -> Res<()> {
    if !a.no_preload && a.scenario != Scenario::Churn {
        preload(&a).await?;
    }
    let sh = Arc::new(Shared {
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        events: AtomicU64::new(0),
    });
    let before = procs_usage(&a.server_pid);
    let t0 = Instant::now();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut extra = String::new();
    let mut extra_json = String::new();
    let mut window: Option<(Window, Window)> = None;
    match a.scenario {
        Scenario::Watch => {
            let (sets, events) = watch_scenario(&a, sh.clone()).await?;
            sh.ops.store(events, Ordering::Relaxed);
            extra = format!(
                "sets={sets} events={events} expected={} ",
                sets * a.sessions as u64
            );
        }
        Scenario::Churn => hist = churn_scenario(&a, sh.clone()).await?,
        Scenario::Fanout => {
            let (last, each, rounds, w) = fanout_scenario(&a, sh.clone()).await?;
            hist = last;
            window = Some(w);
            let q = |p: f64| {
                if each.is_empty() {
                    0
                } else {
                    each.value_at_quantile(p)
                }
            };
            extra = format!(
                "rounds={rounds} each_p50_us={} each_p99_us={} ",
                q(0.5),
                q(0.99)
            );
            extra_json = format!(
                ",\"rounds\":{rounds},\"each_p50_us\":{},\"each_p99_us\":{}",
                q(0.5),
                q(0.99)
            );
        }
        Scenario::Watchmany => {
            let (h, w) = watchmany_scenario(&a, sh.clone()).await?;
            hist = h;
            window = Some(w);
        }
        _ => {
            let mut tasks = Vec::new();
            for sid in 0..a.sessions {
                tasks.push(tokio::spawn(run_session(a.clone(), sid, sh.clone())));
            }
            window = Some(drive(&a, &sh).await);
            for t in tasks {
                hist.add(t.await??)?;
            }
        }
    }
    let _ = t0;
    let after = procs_usage(&a.server_pid);
    let ops = sh.ops.load(Ordering::Relaxed);
    let secs = a.duration;
    let rate = ops as f64 / secs;
    // The measured window's own samples where there are (the pipelined
    // scenarios); the watch and churn scenarios scale the whole run's CPU
    // to the measured share.
    let (cpu_us_per_op, gen_us_per_op) = match window {
        Some(((sb, gb), (sc, gc))) => (
            us_per_op(sb, sc, ops).unwrap_or(f64::NAN),
            us_per_op(gb, gc, ops).unwrap_or(f64::NAN),
        ),
        None => (
            us_per_op(before, after, ops).map_or(f64::NAN, |u| u * secs / (secs + a.warmup)),
            f64::NAN,
        ),
    };
    let rss_mb = after.map_or(f64::NAN, |(_, r)| r as f64 / 1048576.0);
    let q = |p: f64| {
        if hist.is_empty() {
            0
        } else {
            hist.value_at_quantile(p)
        }
    };
    if a.json {
        println!(
            "{{\"scenario\":\"{:?}\",\"tls\":{},\"ops\":{ops},\"ops_per_s\":{rate:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"errors\":{},\"cpu_us_per_op\":{cpu_us_per_op:.2},\"gen_cpu_us_per_op\":{gen_us_per_op:.2},\"rss_mb\":{rss_mb:.1}{extra_json}}}",
            a.scenario,
            NEGOTIATED
                .get()
                .map_or("null".to_string(), |t| format!("\"{t}\"")),
            q(0.5),
            q(0.99),
            q(0.999),
            hist.max(),
            sh.errors.load(Ordering::Relaxed)
        );
    } else {
        if let Some(t) = NEGOTIATED.get() {
            println!("tls: {t}");
        }
        println!(
            "{:?}: {rate:.0} ops/s  p50 {}us p99 {}us p999 {}us max {}us  errors {}  {extra}server cpu {cpu_us_per_op:.2} us/op  generator cpu {gen_us_per_op:.2} us/op  rss {rss_mb:.1} MB",
            a.scenario,
            q(0.5),
            q(0.99),
            q(0.999),
            hist.max(),
            sh.errors.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

fn main() {
    let a = Args::parse();
    if let Some(ca) = &a.tls_ca {
        let ck = a.tls_cert.as_deref().zip(a.tls_key.as_deref());
        match conn::client_config(ca, ck) {
            Ok(c) => {
                let _ = TLS.set(c);
            }
            Err(e) => {
                eprintln!("zkbench: {e}");
                std::process::exit(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkbench: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(a)) {
        eprintln!("zkbench: {e}");
        std::process::exit(1);
    }
}
