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
    if a.scenario == Scenario::Watch {
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
            "{{\"scenario\":\"{:?}\",\"tls\":{},\"ops\":{ops},\"ops_per_s\":{rate:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"errors\":{},\"cpu_us_per_op\":{cpu_us_per_op:.2},\"gen_cpu_us_per_op\":{gen_us_per_op:.2},\"rss_mb\":{rss_mb:.1}}}",
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
