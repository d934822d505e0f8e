//! A seeded, deterministic simulation of a corral ensemble: 3 or 5
//! members, or 3 and an observer, each the shipped
//! [`corral::replica::Replica`] (the real prep, tree, sessions, election,
//! Zab and every gate that decides what is published and acknowledged).
//! The simulation is only the world around them:
//! - a clock (`Now`: a wall clock for sessions, a monotonic one for timers);
//! - the network (`common/simnet.rs`): election datagrams delayed,
//!   reordered and lost; quorum links as TCP; partitions, heals, drops;
//! - each member's disk (`common/memdisk.rs`): the real txn-log format,
//!   fsyncs that complete later, lost or torn on a crash, ENOSPC, corrupt
//!   reads at recovery and for a DIFF;
//! - clients (`common/simclient.rs`): sessions issuing creates, setData
//!   and sync+getData on a few znodes, through a shard per member.
//!
//! Faults run for the first `fault_ms`; then the network heals and every
//! member comes back, and within the quiet period the ensemble must
//! converge and serve writes again.
//!
//! Checked all along: at most one established leader per epoch, a voter
//! that holds every committed txn; one txn per zxid on every disk; every
//! version a member publishes at a zxid has the same tree digest as every
//! other member's at that zxid (one committed chain, applied in order:
//! a member's published zxid only rises, except across a reload); a
//! leader publishes a txn of its epoch only once it is durable on a
//! quorum of voters' disks. At the end: every key's history is
//! linearizable (`common/lin.rs`), no acknowledged write is lost (the
//! leader's tree has each key at or past its last acknowledged version),
//! and the ensemble converged (one leader, every other member following or
//! observing it, unless it accepted a later epoch: ZooKeeper's own
//! exception, counted as stranded) and committed writes after the faults.
//! A Replica's own assertion (a panic) fails its seed like a check.
//!
//! Five tests: `replicas_survive_faults` (the seeds above),
//! `replicas_stop_gracefully_under_faults` (1000 seeds,
//! `SIM_REPLICA_STOP_SEEDS`, where half the clean crashes are graceful
//! stops: `Input::Stop`, the shards drain, every accepted write is
//! answered, `Action::Stop`; replay with `SIM_REPLICA_STOPS=1`),
//! `replicas_reconfigure_under_faults` (5000 seeds,
//! `SIM_REPLICA_RECONFIG_SEEDS`: members run with `reconfigEnabled=true`
//! and an admin client reconfigures all along, see the test's doc;
//! replay with `SIM_REPLICA_RECONFIG=1`), `regression_seeds_pass` (seeds
//! past the default counts that once failed) and `a_seed_replays_exactly`.
//!
//! `SIM_REPLICA_SEEDS` sets how many seeds run (default 10000);
//! `SIM_REPLICA_SEED=<n>` runs one with its trace printed. Every failure
//! prints the command that replays it. `SIM_REPLICA_SKIP` (a comma list of
//! `crash`, `partition`, `drop`, `loss`, `enospc`, `torn`, `corrupt`,
//! `snaplag`: snapshots are written later, may be skipped while another
//! is written, and a crash loses one in flight)
//! switches fault kinds off (a seed then runs differently: replay it with
//! the same setting, as the printed command does). With `SIM_REPLICA_SEED`,
//! `SIM_REPLICA_LOG=<filter>` (e.g. `info`, `corral=debug`) puts the
//! Replicas' own tracing into the printed trace, each line after the step
//! that logged it (`s<n> | ...`).

#[path = "common/lin.rs"]
mod lin;
#[path = "common/memdisk.rs"]
mod memdisk;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/simclient.rs"]
mod simclient;
#[path = "common/simnet.rs"]
mod simnet;

use bytes::Bytes;
use corral::data::acl::AclPolicy;
use corral::data::tree::Tree;
use corral::quorum::election::ElectionSettings;
use corral::quorum::reconfig::Membership;
use corral::quorum::zab::leader::TxnLogRead;
use corral::quorum::zab::wire::{self, QuorumPacket};
use corral::quorum::{Quorum, Sid};
use corral::replica::msg::Item;
use corral::replica::sequencer::{Role, RoleCell, SeqSettings};
use corral::replica::{
    Action, EpochKind, Input, Now, PeerInput, QuorumConfig, QuorumStart, Reloaded, Replica,
};
use corral::storage::epochs::Epochs;
use memdisk::{DiskParams, Done, MemDisk};
use rng::SplitMix as Rng;
use simclient::{server_line, ClientParams, Clients, ToMember};
use simnet::{LinkId, NetEvent, NetParams, Sched, SimNet};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

thread_local! {
    /// What the Replicas logged since the last step (`SIM_REPLICA_LOG`).
    static REPLICA_LOG: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The `tracing` writer of `SIM_REPLICA_LOG`: into [`REPLICA_LOG`].
struct ReplicaLog;

impl std::io::Write for ReplicaLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        REPLICA_LOG.with(|l| l.borrow_mut().extend_from_slice(b));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends the Replicas' tracing to the trace, with `filter`.
fn log_replicas(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(|| ReplicaLog)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Takes what the Replicas logged since the last call, a line each.
fn take_replica_log() -> Vec<String> {
    REPLICA_LOG.with(|l| {
        let b = std::mem::take(&mut *l.borrow_mut());
        String::from_utf8_lossy(&b)
            .lines()
            .map(str::to_string)
            .collect()
    })
}

/// The wall clock at the simulation's time 0.
const WALL0: i64 = 1_700_000_000_000;

/// What travels on a quorum link.
enum LinkMsg {
    /// An encoded quorum packet.
    Pkt(Bytes),
    /// A SNAP's snapshot and signature, as the leader's driver writes
    /// them (`snapshot::write_sync_snapshot`, `wire::write_snap_signature`).
    Snap(Bytes),
}

/// The simulation's own events.
enum Ev {
    /// Faults, convergence watch.
    Tick,
    /// A member's Replica asked to be woken.
    Wake { m: usize, boot: u64 },
    /// A learner dials its leader (generation `gen`).
    Dial { m: usize, boot: u64, gen: u64 },
    /// Try to start a member that is down.
    Start { m: usize },
}

struct Params {
    tick_ms: u64,
    init_limit: u32,
    sync_limit: u32,
    snapshot_size_factor: f64,
    fault_ms: u64,
    quiet_ms: u64,
    /// Per mille per 10 ms tick while faults run.
    fault_rate: u64,
    election: ElectionSettings,
    /// Half the clean crashes are graceful stops instead.
    stops: bool,
    /// `reconfigEnabled=true`, and an admin client issues reconfigs.
    reconfig: bool,
    /// `observerMasterPort`: observers sync from followers.
    observer_master: bool,
}

/// What a run does besides the faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Faults,
    /// Half the clean crashes are graceful stops.
    Stops,
    /// Members run with `reconfigEnabled=true` and an admin client
    /// changes the membership all along.
    Reconfig,
    /// Members run with `observerMasterPort`: observers sync from, and
    /// write through, a follower's observer master.
    ObserverMaster,
}

impl Mode {
    /// The variable that selects it for a replay.
    fn var(self) -> Option<&'static str> {
        match self {
            Mode::Faults => None,
            Mode::Stops => Some("SIM_REPLICA_STOPS"),
            Mode::Reconfig => Some("SIM_REPLICA_RECONFIG"),
            Mode::ObserverMaster => Some("SIM_REPLICA_OBSERVER_MASTER"),
        }
    }

    /// The mode a replay's variables name.
    fn asked() -> Mode {
        let on = |v: &str| std::env::var(v).is_ok_and(|v| v == "1");
        if on("SIM_REPLICA_STOPS") {
            Mode::Stops
        } else if on("SIM_REPLICA_RECONFIG") {
            Mode::Reconfig
        } else if on("SIM_REPLICA_OBSERVER_MASTER") {
            Mode::ObserverMaster
        } else {
            Mode::Faults
        }
    }
}

/// The learner side's connection to its leader.
struct LeaderConn {
    gen: u64,
    leader: usize,
    /// An observer dialing a follower's observer master port.
    master: bool,
    link: Option<LinkId>,
    give_up_at: u64,
}

struct Member {
    sid: Sid,
    /// Its config (its dynamic config file): the first one, or the last
    /// it activated; read at each start.
    config: Membership,
    /// A config activated whose file is still being written (the driver
    /// writes it after the activation, off the replica): it is the file
    /// from this time on, unless a crash comes first.
    config_writing: Option<(Membership, u64)>,
    /// The config it activated last (or read at its start).
    active: Membership,
    replica: Option<Replica>,
    /// Its incarnation: bumped at each crash and start.
    boot: u64,
    disk: MemDisk,
    role: RoleCell,
    /// The shard's version.
    version: Option<Arc<Tree>>,
    listening: bool,
    /// A follower's observer master port is open.
    master_listening: bool,
    leader_conn: Option<LeaderConn>,
    /// Inputs to feed at the next step.
    inbox: VecDeque<Input>,
    /// What reached the log core while it writes a snapshot that closes
    /// a gap: it takes them once that is done.
    log_held: VecDeque<Action>,
    /// When the Replica asked to be woken (the event is queued).
    wake_at: u64,
    /// The published zxid, for the order check; `None` after a reload.
    published: Option<i64>,
    /// The role seen after the last step.
    last_role: Role,
    /// Start-up failed (a corrupt read); retried.
    start_failures: u64,
    /// A graceful stop was asked; it ends with `Action::Stop`.
    stopping: bool,
    /// The zxid of the SNAP whose snapshot comes next.
    snap_at: Option<i64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    steps: u64,
    stops: u64,
    stopped: u64,
    publishes: u64,
    leaders: u64,
    crashes: u64,
    restarts: u64,
    start_refused: u64,
    partitions: u64,
    drops: u64,
    snaps_sent: u64,
    truncations: u64,
    log_failures: u64,
    torn: u64,
    enospc: u64,
    corrupt_reads: u64,
    skipped_snapshots: u64,
    client_ops: u64,
    client_ok: u64,
    client_writes: u64,
    client_reads: u64,
    indeterminate: u64,
    quiet_writes: u64,
    stranded: u64,
    slowest_convergence_ms: u64,
    reconfigs: u64,
    reconfigs_ok: u64,
    /// Configs activated (a member each).
    activations: u64,
    /// Activated by a member in a later epoch than the reconfig's: its
    /// proposer fell before it was committed.
    late_activations: u64,
    /// Leaders whose config, activated at establishment, left them out.
    leaders_outside_config: u64,
    /// Dynamic config files a crash cut short.
    config_writes_lost: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        macro_rules! sum { ($($f:ident),*) => { $( self.$f += o.$f; )* } }
        sum!(
            steps,
            stops,
            stopped,
            publishes,
            leaders,
            crashes,
            restarts,
            start_refused,
            partitions,
            drops,
            snaps_sent,
            truncations,
            log_failures,
            torn,
            enospc,
            corrupt_reads,
            skipped_snapshots,
            client_ops,
            client_ok,
            client_writes,
            client_reads,
            indeterminate,
            quiet_writes,
            stranded,
            reconfigs,
            reconfigs_ok,
            activations,
            late_activations,
            leaders_outside_config,
            config_writes_lost
        );
        self.slowest_convergence_ms = self.slowest_convergence_ms.max(o.slowest_convergence_ms);
    }
}

type Res = Result<(), String>;

/// The fault kinds `SIM_REPLICA_SKIP` switches off.
#[derive(Debug, Clone, Copy, Default)]
struct Skip {
    crash: bool,
    partition: bool,
    drop: bool,
    loss: bool,
    enospc: bool,
    torn: bool,
    corrupt: bool,
    snaplag: bool,
}

impl Skip {
    fn from_env() -> Skip {
        let v = std::env::var("SIM_REPLICA_SKIP").unwrap_or_default();
        let mut s = Skip::default();
        for k in v.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match k {
                "crash" => s.crash = true,
                "partition" => s.partition = true,
                "drop" => s.drop = true,
                "loss" => s.loss = true,
                "enospc" => s.enospc = true,
                "torn" => s.torn = true,
                "corrupt" => s.corrupt = true,
                "snaplag" => s.snaplag = true,
                other => panic!("SIM_REPLICA_SKIP: unknown fault kind {other:?}"),
            }
        }
        s
    }
}

macro_rules! check {
    ($c:expr, $($f:tt)*) => {
        if !$c {
            return Err(format!($($f)*));
        }
    };
}

struct Sim {
    rng: Rng,
    now: u64,
    p: Params,
    quorum: Quorum,
    members: Vec<Member>,
    net: SimNet<LinkMsg>,
    clients: Clients,
    q: Sched<Ev>,
    /// Established leaders by epoch.
    leaders: BTreeMap<i64, Sid>,
    /// The digest of every published version, by zxid.
    digests: HashMap<i64, (i64, usize)>,
    /// Every txn any disk logged, by zxid (its encoding).
    txns: HashMap<i64, Bytes>,
    /// The highest zxid published anywhere: committed.
    committed: i64,
    converged_at: Option<u64>,
    /// Every config activated anywhere, by version: one per version.
    configs: HashMap<i64, String>,
    /// The config each reconfig txn logged anywhere carries, by zxid.
    config_txns: HashMap<i64, String>,
    /// The config active at its leader when each reconfig was proposed.
    config_before: HashMap<i64, Quorum>,
    stats: Stats,
    trace: Option<VecDeque<String>>,
    skip: Skip,
}

impl Sim {
    fn new(seed: u64, voters: usize, observers: usize, trace: bool, skip: Skip, mode: Mode) -> Sim {
        let mut rng = Rng(seed);
        let tick_ms = 20 * rng.range(1, 3);
        let finalize_wait_ms = rng.range(20, 200);
        let election = ElectionSettings {
            finalize_wait_ms,
            min_notification_interval_ms: finalize_wait_ms,
            max_notification_interval_ms: rng.range(400, 800),
        };
        let p = Params {
            tick_ms,
            init_limit: rng.range(5, 10) as u32,
            sync_limit: rng.range(2, 5) as u32,
            snapshot_size_factor: [0.33, -1.0, 1.0, 0.0][rng.below(4) as usize],
            fault_ms: 2500,
            // With reconfig, a config of two voters is common; their
            // election can stall for a few notification intervals, as
            // FastLeaderElection's does: a LOOKING voter answers a
            // same-round notification with a worse vote only at its own
            // timeout, and each notification received restarts that.
            quiet_ms: 2000 + 40 * tick_ms + if mode == Mode::Reconfig { 2000 } else { 0 },
            fault_rate: rng.range(5, 40),
            election,
            stops: mode == Mode::Stops,
            reconfig: mode == Mode::Reconfig,
            observer_master: mode == Mode::ObserverMaster,
        };
        let n = voters + observers;
        let sids: Vec<Sid> = (1..=n as Sid).collect();
        let quorum = Quorum::new(
            sids[..voters].iter().copied(),
            sids[voters..].iter().copied(),
        );
        let mut net = NetParams {
            dgram_max_delay: rng.range(2, 3 * tick_ms),
            dgram_loss: rng.range(0, 200),
            link_max_delay: rng.range(2, tick_ms / 2),
        };
        if skip.loss {
            net.dgram_loss = 0;
        }
        let net = SimNet::new(n, net);
        let mut disk = DiskParams {
            fsync_max_ms: rng.range(1, 10),
            enospc: [0, 5, 20, 50][rng.below(4) as usize],
            torn: rng.range(0, 1000),
            corrupt_read: [0, 0, 50, 200][rng.below(4) as usize],
            snap_count: rng.range(10, 200),
            commit_log_count: rng.range(3, 40) as usize,
            instant_snapshots: skip.snaplag,
        };
        if skip.enospc {
            disk.enospc = 0;
        }
        if skip.torn {
            disk.torn = 0;
        }
        if skip.corrupt {
            disk.corrupt_read = 0;
        }
        let first = Membership::parse(
            &sids
                .iter()
                .map(|&s| server_line(s, quorum.is_voter(s)) + "\n")
                .collect::<String>(),
        )
        .expect("the simulation's config parses");
        let members = sids
            .iter()
            .map(|&sid| Member {
                sid,
                config: first.clone(),
                config_writing: None,
                active: first.clone(),
                replica: None,
                boot: 0,
                disk: MemDisk::new(disk),
                role: RoleCell::default(),
                version: None,
                listening: false,
                master_listening: false,
                leader_conn: None,
                inbox: VecDeque::new(),
                log_held: VecDeque::new(),
                wake_at: u64::MAX,
                published: None,
                last_role: Role::NotServing,
                start_failures: 0,
                stopping: false,
                snap_at: None,
            })
            .collect();
        let end = p.fault_ms + p.quiet_ms;
        let clients = Clients::new(
            ClientParams {
                clients: rng.range(2, 6) as usize,
                keys: rng.range(1, 4) as usize,
                think_max_ms: rng.range(5, 60),
                op_timeout_ms: 1500,
                session_timeout_ms: 6000,
                stop_at: end - 600,
                admin: mode == Mode::Reconfig,
            },
            n,
            &mut rng,
        );
        let mut q = Sched::default();
        q.at(0, Ev::Tick);
        for m in 0..n {
            q.at(0, Ev::Start { m });
        }
        Sim {
            rng,
            now: 0,
            p,
            quorum,
            members,
            net,
            clients,
            q,
            leaders: BTreeMap::new(),
            digests: HashMap::new(),
            txns: HashMap::new(),
            committed: 0,
            converged_at: None,
            configs: HashMap::new(),
            config_txns: HashMap::new(),
            config_before: HashMap::new(),
            stats: Stats::default(),
            trace: trace.then(VecDeque::new),
            skip,
        }
    }

    fn t(&mut self, f: impl FnOnce() -> String) {
        if let Some(tr) = &mut self.trace {
            if tr.len() >= 50_000 {
                tr.pop_front();
            }
            tr.push_back(format!("{:>6} {}", self.now, f()));
        }
    }

    fn now_of(&self) -> Now {
        Now {
            wall_ms: WALL0 + self.now as i64,
            mono_ms: self.now,
        }
    }

    fn idx(&self, sid: Sid) -> usize {
        (sid - 1) as usize
    }

    fn end(&self) -> u64 {
        self.p.fault_ms + self.p.quiet_ms
    }

    // ---- the loop ----

    fn run(&mut self) -> Res {
        let end = self.end();
        loop {
            // The earliest source goes first; ties in a fixed order.
            let mut next = self.q.next_time();
            let mut pick = |t: Option<u64>| {
                if let Some(t) = t {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            };
            pick(self.net.next_time());
            pick(self.clients.next_time());
            for m in &self.members {
                pick(m.disk.next_time());
            }
            let Some(when) = next else { break };
            if when > end {
                break;
            }
            self.now = self.now.max(when);
            let now = self.now;
            // Disks first (completions), then the network, clients, own.
            for m in 0..self.members.len() {
                while let Some(done) = self.members[m].disk.pop_due(&mut self.rng, now) {
                    self.disk_done(m, done)?;
                }
            }
            while let Some(ev) = self.net.pop_due(now) {
                self.net_event(ev)?;
            }
            loop {
                let members = &self.members;
                let up = |m: usize| members[m].replica.is_some() && !members[m].stopping;
                let version = |m: usize| members[m].version.clone();
                let Some(out) = self.clients.wake_due(now, &mut self.rng, &up, &version) else {
                    break;
                };
                self.feed_shards(out);
            }
            while let Some(ev) = self.q.pop_due(now) {
                self.event(ev)?;
            }
            self.step_all()?;
            if self.trace.is_some() {
                for l in std::mem::take(&mut self.clients.log) {
                    self.t(|| l);
                }
            }
        }
        if self.trace.is_some() {
            for k in 0..self.members.len() {
                let mb = &self.members[k];
                let line = format!(
                    "END s{} {:?} version {:?} epochs {:?}",
                    mb.sid,
                    mb.role.get(),
                    mb.version.as_ref().map(|v| format!("{:#x}", v.last_zxid)),
                    mb.disk.epochs()
                );
                self.t(|| line);
            }
        }
        self.final_checks()
    }

    fn event(&mut self, ev: Ev) -> Res {
        match ev {
            Ev::Tick => {
                self.tick()?;
                let next = self.now + 10;
                self.q.at(next, Ev::Tick);
            }
            Ev::Wake { m, boot } => {
                let mb = &mut self.members[m];
                if mb.boot == boot && mb.replica.is_some() && mb.wake_at <= self.now {
                    mb.wake_at = u64::MAX;
                    mb.inbox.push_back(Input::Tick);
                }
            }
            Ev::Dial { m, boot, gen } => self.dial(m, boot, gen)?,
            Ev::Start { m } => {
                if self.members[m].replica.is_none() {
                    self.start(m)?;
                }
            }
        }
        Ok(())
    }

    /// Feeds every member its inbox and carries out what it returns, until
    /// nothing is left to feed.
    fn step_all(&mut self) -> Res {
        loop {
            let mut any = false;
            for m in 0..self.members.len() {
                if self.members[m].replica.is_none() {
                    self.members[m].inbox.clear();
                    continue;
                }
                if self.members[m].inbox.is_empty() {
                    continue;
                }
                any = true;
                self.step(m)?;
            }
            if !any {
                return Ok(());
            }
        }
    }

    fn step(&mut self, m: usize) -> Res {
        let now = self.now_of();
        let mb = &mut self.members[m];
        let Some(r) = mb.replica.as_mut() else {
            return Ok(());
        };
        for input in mb.inbox.drain(..) {
            r.feed(input, now);
        }
        let acts = r.step(now);
        let wake = self.now + r.next_wake_ms(now).max(1);
        self.stats.steps += 1;
        if self.trace.is_some() {
            let sid = self.members[m].sid;
            for l in take_replica_log() {
                self.t(|| format!("s{sid} | {l}"));
            }
        }
        for a in acts {
            self.action(m, a)?;
            if self.members[m].replica.is_none() {
                return Ok(());
            }
        }
        let mb = &mut self.members[m];
        if wake < mb.wake_at {
            mb.wake_at = wake;
            let boot = mb.boot;
            self.q.at(wake, Ev::Wake { m, boot });
        }
        self.role_changed(m)
    }

    fn feed_shards(&mut self, out: Vec<ToMember>) {
        for (m, msg) in out {
            if self.members[m].replica.is_some() {
                self.members[m].inbox.push_back(Input::Shard(msg));
            }
        }
    }

    // ---- start, crash ----

    fn settings(&self, m: usize) -> SeqSettings {
        SeqSettings {
            shards: 1,
            tick_ms: self.p.tick_ms as i64,
            min_session_timeout: 2 * self.p.tick_ms as i32,
            max_session_timeout: 20 * self.p.tick_ms as i32 + 10_000,
            max_client_cnxns: 0,
            max_cnxns: 0,
            // The admin's reconfigs pass the ACL check on
            // /zookeeper/config (the other clients use open ACLs).
            policy: AclPolicy {
                skip: self.p.reconfig,
                ..AclPolicy::default()
            },
            extended_types: false,
            enforce_quota: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_interval_ms: 0,
            server_id: self.members[m].sid,
            role: self.members[m].role.clone(),
            config_node: self
                .p
                .reconfig
                .then(|| Bytes::from(self.members[m].config.text())),
            reconfig_enabled: self.p.reconfig,
            local_sessions: None,
        }
    }

    fn start(&mut self, m: usize) -> Res {
        let faults = self.now < self.p.fault_ms;
        let rec = match self.members[m].disk.recover(&mut self.rng, faults) {
            Ok(r) => r,
            Err(e) => {
                self.t(|| format!("s{} START REFUSED: {e}", m + 1));
                self.stats.start_refused += 1;
                self.members[m].start_failures += 1;
                let again = self.now + self.rng.range(50, 300);
                self.q.at(again, Ev::Start { m });
                return Ok(());
            }
        };
        let sid = self.members[m].sid;
        self.t(|| {
            format!(
                "s{sid} START tree {:#x} epochs acc {} cur {} replayed {} torn {}",
                rec.tree.last_zxid, rec.accepted, rec.current, rec.replayed, rec.torn_bytes
            )
        });
        // With reconfig off, as before reconfig existed (the seeds keep
        // their runs); with it, the member's config, as the server reads
        // its dynamic file and puts it in /zookeeper/config.
        let mut tree = rec.tree;
        let (quorum, observer, text, servers) = if self.p.reconfig {
            let c = self.config_file(m).clone();
            self.members[m].active = c.clone();
            let now = WALL0 + self.now as i64;
            corral::quorum::reconfig::put_config_node(&mut tree, c.text().as_bytes(), true, now);
            let q = c.quorum();
            let observer = q.is_observer(sid);
            (q, observer, c.text().into_bytes(), c.servers_text())
        } else {
            let observer = !self.quorum.is_voter(sid);
            (
                self.quorum.clone(),
                observer,
                Vec::new(),
                "server.1=a:1:2:participant\n".into(),
            )
        };
        let config = QuorumConfig {
            me: sid,
            quorum,
            observer,
            election: self.p.election,
            config: text,
            config_servers: servers,
            tick_ms: self.p.tick_ms,
            init_limit: self.p.init_limit,
            sync_limit: self.p.sync_limit,
            connect_limit: 0,
            read_only_mode: false,
            snapshot_size_factor: self.p.snapshot_size_factor,
            reconfig_enabled: self.p.reconfig,
            standalone_enabled: true,
            multi_address: false,
            sync_enabled: true,
            observer_master_port: self.p.observer_master.then_some(2191),
            commit_log_count: corral::quorum::zab::sync::DEFAULT_COMMIT_LOG_COUNT,
            sync_bounds: Default::default(),
        };
        let start = QuorumStart {
            config,
            epochs: Epochs {
                current: rec.current,
                accepted: rec.accepted,
            },
            committed_log: rec.tail.clone(),
        };
        let settings = self.settings(m);
        let now = self.now_of();
        let r = Replica::new(settings, tree, rec.sessions, Some(start), now);
        if self.trace.is_some() {
            for l in take_replica_log() {
                self.t(|| format!("s{sid} | {l}"));
            }
        }
        self.net.restart(m);
        let mb = &mut self.members[m];
        mb.boot = self.net.boot(m);
        mb.replica = Some(r);
        mb.version = None;
        mb.listening = false;
        mb.master_listening = false;
        mb.leader_conn = None;
        mb.snap_at = None;
        mb.inbox.clear();
        mb.inbox.push_back(Input::Tick);
        mb.wake_at = u64::MAX;
        mb.published = None;
        mb.last_role = Role::NotServing;
        mb.stopping = false;
        self.stats.restarts += 1;
        Ok(())
    }

    fn crash(&mut self, m: usize, clean: bool) {
        let sid = self.members[m].sid;
        self.t(|| format!("CRASH s{sid} clean={clean}"));
        self.stats.crashes += 1;
        let now = self.now;
        self.net.crash(now, m, clean);
        self.config_file(m);
        let mb = &mut self.members[m];
        if mb.config_writing.take().is_some() {
            self.stats.config_writes_lost += 1;
        }
        mb.replica = None;
        mb.boot = self.net.boot(m);
        mb.disk.crash(&mut self.rng);
        mb.version = None;
        mb.listening = false;
        mb.master_listening = false;
        mb.leader_conn = None;
        mb.inbox.clear();
        mb.log_held.clear();
        mb.last_role = Role::NotServing;
        mb.stopping = false;
        self.clients.member_down(m, now, &mut self.rng);
    }

    // ---- faults ----

    fn tick(&mut self) -> Res {
        let now = self.now;
        if now >= self.p.fault_ms {
            self.net.lossy = false;
            for mb in &mut self.members {
                mb.disk.faults = false;
            }
            if self.net.is_partitioned() {
                self.t(|| "HEAL (quiet)".into());
            }
            self.net.heal();
            for m in 0..self.members.len() {
                if self.members[m].replica.is_none() {
                    self.start(m)?;
                }
            }
            if self.converged_at.is_none() && self.converged() {
                self.converged_at = Some(now);
                self.t(|| "CONVERGED".into());
            }
        } else if self.rng.chance(self.p.fault_rate * 10) {
            self.fault()?;
        }
        Ok(())
    }

    fn fault(&mut self) -> Res {
        let n = self.members.len();
        let m = self.rng.below(n as u64) as usize;
        let kind = self.rng.below(10);
        let skip = self.skip;
        match kind {
            0 | 1 if skip.crash => {}
            3 | 4 if skip.partition => {}
            7..=9 if skip.drop => {}
            0 | 1 => {
                if self.members[m].replica.is_some() {
                    let clean = self.rng.chance(500);
                    if self.p.stops && clean && (self.now / 10 + m as u64).is_multiple_of(2) {
                        if !self.members[m].stopping {
                            self.t(|| format!("STOP s{}", m + 1));
                            self.stats.stops += 1;
                            self.members[m].stopping = true;
                            self.members[m].inbox.push_back(Input::Stop);
                        }
                        return Ok(());
                    }
                    self.crash(m, clean);
                } else {
                    self.t(|| format!("RESTART s{}", m + 1));
                    self.start(m)?;
                }
            }
            2 => {
                if self.members[m].replica.is_none() {
                    self.t(|| format!("RESTART s{}", m + 1));
                    self.start(m)?;
                }
            }
            3 | 4 => {
                let side: Vec<bool> = (0..n).map(|_| self.rng.chance(400)).collect();
                self.t(|| format!("PARTITION {side:?}"));
                self.stats.partitions += 1;
                self.net.partition(&side);
            }
            5 | 6 => {
                self.t(|| "HEAL".into());
                self.net.heal();
            }
            _ => {
                let open = self.net.open_links();
                if !open.is_empty() {
                    let l = open[self.rng.below(open.len() as u64) as usize];
                    self.t(|| format!("DROP link{l}"));
                    self.stats.drops += 1;
                    let now = self.now;
                    self.net.drop_link(now, l);
                }
            }
        }
        Ok(())
    }

    // ---- the network ----

    fn net_event(&mut self, ev: NetEvent<LinkMsg>) -> Res {
        match ev {
            NetEvent::Datagram { from, to, bytes } => {
                let sid = self.members[from].sid;
                self.members[to]
                    .inbox
                    .push_back(Input::Peer(PeerInput::Election(sid, bytes)));
            }
            NetEvent::Packet { link, to, msg } => {
                let dialler = self.net.link(link).ends[0].0 == to;
                if dialler {
                    let Some(gen) = self.members[to]
                        .leader_conn
                        .as_ref()
                        .filter(|c| c.link == Some(link))
                        .map(|c| c.gen)
                    else {
                        return Ok(());
                    };
                    let input = match msg {
                        LinkMsg::Pkt(b) => {
                            let p = decode_all(&b)?;
                            if p.typ == wire::pkt::SNAP {
                                self.members[to].snap_at = Some(p.zxid);
                            }
                            PeerInput::FromLeader(gen, p)
                        }
                        LinkMsg::Snap(b) => {
                            // As the learner's driver parses it.
                            let Some(z) = self.members[to].snap_at.take() else {
                                return Err(format!("s{}: a snapshot without SNAP", to + 1));
                            };
                            let (sessions, tree, used) =
                                match corral::storage::snapshot::read_sync_snapshot(&b, z) {
                                    Ok(Some(x)) => x,
                                    other => {
                                        return Err(format!(
                                            "s{}: the SNAP's snapshot does not parse: {other:?}",
                                            to + 1
                                        ))
                                    }
                                };
                            check!(
                                matches!(wire::decode_snap_signature(&b[used..]), Ok(Some(n)) if used + n == b.len()),
                                "s{}: the SNAP's snapshot lacks its signature",
                                to + 1
                            );
                            PeerInput::Snapshot(gen, sessions, tree)
                        }
                    };
                    self.members[to].inbox.push_back(Input::Peer(input));
                } else {
                    let LinkMsg::Pkt(b) = msg else {
                        return Err("a snapshot sent to a leader".into());
                    };
                    let p = decode_all(&b)?;
                    self.members[to]
                        .inbox
                        .push_back(Input::Peer(PeerInput::FromLearner(link as u64, p)));
                }
            }
            NetEvent::Closed { link, to } => {
                let dialler = self.net.link(link).ends[0].0 == to;
                if dialler {
                    let mb = &mut self.members[to];
                    if let Some(c) = mb.leader_conn.as_ref().filter(|c| c.link == Some(link)) {
                        let gen = c.gen;
                        mb.leader_conn = None;
                        mb.inbox.push_back(Input::Peer(PeerInput::LeaderDown(
                            gen,
                            "connection closed".into(),
                        )));
                    }
                } else {
                    self.members[to]
                        .inbox
                        .push_back(Input::Peer(PeerInput::LearnerDown(link as u64)));
                }
            }
        }
        Ok(())
    }

    /// A learner dials its leader's quorum port: it answers while that
    /// member listens and is reachable; the learner gives up after the
    /// limit the Replica set.
    fn dial(&mut self, m: usize, boot: u64, gen: u64) -> Res {
        let mb = &self.members[m];
        if mb.boot != boot || mb.replica.is_none() {
            return Ok(());
        }
        let Some(c) = mb
            .leader_conn
            .as_ref()
            .filter(|c| c.gen == gen && c.link.is_none())
        else {
            return Ok(());
        };
        let (leader, give_up_at, master) = (c.leader, c.give_up_at, c.master);
        let to = &self.members[leader];
        let listening = to.replica.is_some()
            && if master {
                to.master_listening
            } else {
                to.listening
            };
        let link = if listening {
            self.net.connect(m, leader)
        } else {
            None
        };
        match link {
            Some(link) => {
                self.t(|| {
                    format!(
                        "s{} CONNECTS to s{} link{link} gen {gen}",
                        m + 1,
                        leader + 1
                    )
                });
                if let Some(c) = self.members[m].leader_conn.as_mut() {
                    c.link = Some(link);
                }
                self.members[m]
                    .inbox
                    .push_back(Input::Peer(PeerInput::LeaderUp(gen)));
                self.members[leader]
                    .inbox
                    .push_back(Input::Peer(PeerInput::LearnerUp(link as u64)));
            }
            None if self.now >= give_up_at => {
                self.t(|| format!("s{} cannot connect to s{}", m + 1, leader + 1));
                self.members[m].leader_conn = None;
                self.members[m]
                    .inbox
                    .push_back(Input::Peer(PeerInput::LeaderDown(
                        gen,
                        "cannot connect".into(),
                    )));
            }
            None => {
                let again = self.now + self.rng.range(10, 50);
                self.q.at(again, Ev::Dial { m, boot, gen });
            }
        }
        Ok(())
    }

    // ---- the disk ----

    fn disk_done(&mut self, m: usize, done: Done) -> Res {
        if self.members[m].replica.is_none() {
            return Ok(());
        }
        let input = match done {
            Done::Durable(z) => Input::Durable(z),
            Done::Failed(why) => {
                self.stats.log_failures += 1;
                self.t(|| format!("s{} LOG FAILED: {why}", m + 1));
                Input::LogFailed(why)
            }
            Done::SnapshotDue => Input::SnapshotDue,
            Done::Snapshotted(z) => Input::Snapshotted(z),
            Done::EpochWritten {
                accepted,
                epoch,
                result,
            } => Input::EpochPersisted {
                kind: if accepted {
                    EpochKind::Accepted
                } else {
                    EpochKind::Current
                },
                epoch,
                result,
            },
            Done::Truncated { to, result } => {
                self.members[m].published = None;
                Input::Truncated {
                    to,
                    result: result.map(|r| {
                        r.map(|r| {
                            Box::new(Reloaded {
                                tree: r.tree,
                                sessions: r.sessions,
                            })
                        })
                    }),
                }
            }
            Done::EpochsRewritten(ok) => Input::CanLead(ok),
        };
        self.members[m].inbox.push_back(input);
        // The log core takes what waited behind a gap's snapshot.
        while !self.members[m].disk.gap_open() {
            let Some(a) = self.members[m].log_held.pop_front() else {
                break;
            };
            self.action(m, a)?;
        }
        Ok(())
    }

    // ---- the Replica's actions ----

    fn action(&mut self, m: usize, a: Action) -> Res {
        let sid = self.members[m].sid;
        let now = self.now;
        let to_log = matches!(
            a,
            Action::Append(_) | Action::Snapshot { .. } | Action::Truncate { .. }
        );
        if to_log && self.members[m].disk.gap_open() {
            self.members[m].log_held.push_back(a);
            return Ok(());
        }
        match a {
            Action::Publish { version, items } => {
                self.publish(m, &version)?;
                self.members[m].version = Some(version.clone());
                for shard_items in items {
                    let drain = shard_items.iter().any(|i| matches!(i, Item::Drain));
                    let out = self
                        .clients
                        .deliver(m, now, &mut self.rng, &version, shard_items);
                    self.feed_shards(out);
                    if drain {
                        self.t(|| format!("s{sid} DRAIN"));
                        let out = self.clients.drain(m, now, &mut self.rng);
                        self.feed_shards(out);
                    }
                }
            }
            Action::Append(txns) => {
                if let (Some(a), Some(b)) = (txns.first(), txns.last()) {
                    let (a, b) = (a.0.hdr.zxid, b.0.hdr.zxid);
                    self.t(|| format!("s{sid} APPEND {a:#x}..{b:#x}"));
                }
                if self.members[m].disk.append(&mut self.rng, now, &txns) {
                    for (t, _) in &txns {
                        self.logged(m, t)?;
                    }
                }
            }
            Action::Snapshot {
                tree,
                sessions,
                closes_gap,
            } => {
                self.t(|| format!("s{sid} SNAPSHOT {:#x} gap {closes_gap}", tree.last_zxid));
                self.members[m]
                    .disk
                    .snapshot(&mut self.rng, now, tree, sessions, closes_gap);
            }
            Action::PersistEpoch { kind, epoch } => {
                self.t(|| format!("s{sid} PERSIST {kind:?} {epoch}"));
                let accepted = kind == EpochKind::Accepted;
                self.members[m]
                    .disk
                    .persist_epoch(&mut self.rng, now, accepted, epoch);
            }
            Action::Truncate { to, reload } => {
                self.t(|| format!("s{sid} TRUNCATE to {to:#x} reload {reload}"));
                // (An epoch's zxid 0 names no txn: it may lie past `to`.)
                // A loss only if its log holds what it published: a
                // member whose log failed before `p` was durable reloads
                // its tree from the log (TRUNC at its durable end).
                if let Some(p) = self.members[m].published.filter(|p| p & 0xffff_ffff != 0) {
                    check!(
                        p <= to || !self.members[m].disk.is_durable(p),
                        "s{sid} truncates its log to {to:#x} after publishing {p:#x}"
                    );
                }
                self.stats.truncations += 1;
                self.members[m]
                    .disk
                    .truncate(&mut self.rng, now, to, reload);
            }
            Action::ReadLog { to, from, factor } => {
                let disk = &mut self.members[m].disk;
                let size_limit = corral::quorum::zab::sync::txnlog_size_limit(
                    disk.newest_snapshot_size(),
                    factor,
                );
                let r = disk.read_log(&mut self.rng, from, size_limit);
                self.members[m].inbox.push_back(Input::LogRead {
                    to,
                    size_limit,
                    read: TxnLogRead {
                        first_zxid: r.first_zxid,
                        storage_size: r.storage_size,
                        txns: r.txns,
                    },
                });
            }
            Action::SendSnapshot {
                to,
                base,
                commits,
                sessions,
            } => {
                // As the leader's driver builds it.
                let tree = corral::replica::committed_tree(&base, &commits);
                let mut b = bytes::BytesMut::new();
                corral::storage::snapshot::write_sync_snapshot(&mut b, &tree, &sessions);
                wire::write_snap_signature(&mut b);
                self.t(|| format!("s{sid} -> link{to} SNAPSHOT at {:#x}", tree.last_zxid));
                self.stats.snaps_sent += 1;
                let msg = LinkMsg::Snap(b.freeze());
                self.net.send(&mut self.rng, now, to as LinkId, m, msg);
            }
            Action::SendElection { to, msg } => {
                let to = self.idx(to);
                self.net.send_datagram(&mut self.rng, now, m, to, msg);
            }
            Action::ToLearner { to, pkt } => {
                if pkt.typ != wire::pkt::PING {
                    self.t(|| {
                        format!(
                            "s{sid} -> link{to} {} {:#x}",
                            wire::pkt::name(pkt.typ),
                            pkt.zxid
                        )
                    });
                }
                let b = pkt.encode().freeze();
                self.net
                    .send(&mut self.rng, now, to as LinkId, m, LinkMsg::Pkt(b));
            }
            Action::CloseLearner { to } => {
                self.t(|| format!("s{sid} closes link{to}"));
                self.net.close(now, to as LinkId, m);
            }
            Action::ToLeader { generation, pkt } => {
                let link = self.members[m]
                    .leader_conn
                    .as_ref()
                    .filter(|c| c.gen == generation)
                    .and_then(|c| c.link);
                if let Some(link) = link {
                    if pkt.typ != wire::pkt::PING {
                        self.t(|| {
                            format!(
                                "s{sid} -> leader {} {:#x}",
                                wire::pkt::name(pkt.typ),
                                pkt.zxid
                            )
                        });
                    }
                    let b = pkt.encode().freeze();
                    self.net.send(&mut self.rng, now, link, m, LinkMsg::Pkt(b));
                }
            }
            Action::CloseLeader { generation } => {
                let mb = &mut self.members[m];
                if let Some(c) = mb.leader_conn.take() {
                    if c.gen == generation {
                        if let Some(l) = c.link {
                            self.net.close(now, l, m);
                        }
                    } else {
                        mb.leader_conn = Some(c);
                    }
                }
            }
            Action::ConnectLeader {
                generation,
                sid: leader,
                delay_ms,
                limit_ms,
                master_port,
            } => {
                self.t(|| format!("s{sid} FOLLOWS s{leader} gen {generation}"));
                if let Some(old) = self.members[m].leader_conn.take() {
                    if let Some(l) = old.link {
                        self.net.close(now, l, m);
                    }
                }
                let first = now + delay_ms;
                self.members[m].leader_conn = Some(LeaderConn {
                    gen: generation,
                    leader: self.idx(leader),
                    master: master_port.is_some(),
                    link: None,
                    give_up_at: first + limit_ms,
                });
                let boot = self.members[m].boot;
                self.q.at(
                    first,
                    Ev::Dial {
                        m,
                        boot,
                        gen: generation,
                    },
                );
            }
            Action::Listen => {
                self.members[m].listening = true;
                self.members[m].inbox.push_back(Input::Listening(Ok(())));
            }
            Action::StopListening => {
                self.members[m].listening = false;
                self.members[m].master_listening = false;
            }
            Action::ListenObservers => self.members[m].master_listening = true,
            Action::ProbeCanLead { rewrite_epochs } => match rewrite_epochs {
                Some(e) => {
                    self.members[m]
                        .disk
                        .rewrite_epochs(&mut self.rng, now, e.accepted, e.current)
                }
                None => self.members[m].inbox.push_back(Input::CanLead(true)),
            },
            Action::Reconfigured { membership } => self.reconfigured(m, membership)?,
            Action::Stop => {
                check!(self.members[m].stopping, "s{sid} stops unasked");
                self.t(|| format!("s{sid} STOPPED"));
                self.stats.stopped += 1;
                // The log core syncs and closes the log on the way out.
                self.members[m].disk.flush();
                self.crash(m, true);
            }
        }
        Ok(())
    }

    /// What a member publishes: the same digest at each zxid everywhere,
    /// rising per member; a leader's own-epoch txns durable on a quorum.
    fn publish(&mut self, m: usize, v: &Arc<Tree>) -> Res {
        self.stats.publishes += 1;
        let z = v.last_zxid;
        let sid = self.members[m].sid;
        // A member that does not serve publishes what it loaded (its log
        // may hold txns that never commit): no client sees it.
        let role = self.members[m].role.get();
        if self.trace.is_some() && z != self.members[m].version.as_ref().map_or(-1, |v| v.last_zxid)
        {
            let d = v.digest();
            self.t(|| format!("s{sid} PUBLISH {z:#x} digest {d:#x} ({role:?})"));
        }
        if !role.serving() {
            return Ok(());
        }
        if let Some(p) = self.members[m].published {
            check!(
                z >= p,
                "s{sid} publishes {z:#x} after {p:#x}: the chain goes back"
            );
        }
        self.members[m].published = Some(z);
        // An epoch's zxid 0 (a SNAP's, a NEWLEADER's) names no txn.
        if z & 0xffff_ffff != 0 {
            self.committed = self.committed.max(z);
        }
        if z == 0 {
            return Ok(());
        }
        let d = v.digest();
        match self.digests.get(&z) {
            Some(&(d0, by)) => check!(
                d0 == d,
                "s{sid} publishes {z:#x} with digest {d:#x}; s{} published it with {d0:#x}",
                by + 1
            ),
            None => {
                self.digests.insert(z, (d, m));
            }
        }
        if role == Role::Leader {
            let epoch = z >> 32;
            let own = self.members[m].disk.epochs().1;
            if epoch == own && z & 0xffff_ffff != 0 {
                let holders: Vec<Sid> = (0..self.members.len())
                    .filter(|&k| self.members[k].disk.is_durable(z))
                    .map(|k| self.members[k].sid)
                    .collect();
                check!(
                    self.quorum_of(v).contains_quorum(&holders),
                    "leader s{sid} publishes {z:#x}, durable only on {holders:?}"
                );
                // The reconfig txn in this batch: on a quorum of the
                // config before it as well (the proposals after it need
                // the new config's alone once it has committed).
                let prev = self.members[m].version.as_deref();
                if let (Some(prev), Some((_, r))) = (prev, self.config_of(v)) {
                    let old = self.config_before.get(&r);
                    // (A reconfig of an earlier epoch, activated at this
                    // leader's establishment, took both at NEWLEADER.)
                    if let Some(old) = old.filter(|_| r >> 32 == own && r > prev.last_zxid) {
                        let holders: Vec<Sid> = (0..self.members.len())
                            .filter(|&k| self.members[k].disk.is_durable(r))
                            .map(|k| self.members[k].sid)
                            .collect();
                        check!(
                            old.contains_quorum(&holders),
                            "leader s{sid} publishes the reconfig {r:#x}, durable only on {holders:?}: no quorum of the config before it"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The config in a version, and the zxid that last set it.
    fn config_of(&self, v: &Tree) -> Option<(Membership, i64)> {
        if !self.p.reconfig {
            return None;
        }
        let n = v.get(corral::data::tree::CONFIG)?;
        let c = Membership::parse(&String::from_utf8_lossy(n.data()?)).ok()?;
        Some((c, n.stat().mzxid))
    }

    /// Who votes in a version: its config's voters with reconfig on.
    fn quorum_of(&self, v: &Tree) -> Quorum {
        self.config_of(v)
            .map_or_else(|| self.quorum.clone(), |(c, _)| c.quorum())
    }

    /// A member activates a config: one config per version everywhere,
    /// the one its reconfig txn carries; the driver writes the dynamic
    /// file, read at the member's next start.
    fn reconfigured(&mut self, m: usize, c: Membership) -> Res {
        let sid = self.members[m].sid;
        check!(self.p.reconfig, "s{sid} reconfigured with reconfig off");
        let v = c.version;
        let text = c.servers_text();
        self.t(|| {
            format!(
                "s{sid} ACTIVATES {v:#x}: {}",
                text.trim().replace('\n', " ")
            )
        });
        self.stats.activations += 1;
        match self.configs.get(&v) {
            Some(t) => check!(
                *t == text,
                "s{sid} activates config {v:#x} as {text:?}; it was {t:?} elsewhere"
            ),
            None => {
                // The first activation anywhere, in a later epoch than
                // the reconfig's: its leader fell before committing it.
                if v & 0xffff_ffff != 0 && v >> 32 < self.members[m].disk.epochs().0 {
                    self.stats.late_activations += 1;
                }
                self.configs.insert(v, text.clone());
            }
        }
        // A reconfig's version is its txn's zxid (a version at an epoch's
        // zxid 0 is ZOOKEEPER-1783's renumbering of the first config).
        if v & 0xffff_ffff != 0 {
            match self.config_txns.get(&v) {
                Some(t) => check!(
                    *t == text,
                    "s{sid} activates {v:#x} as {text:?}; its txn holds {t:?}"
                ),
                None => {
                    return Err(format!(
                        "s{sid} activates {v:#x}: no reconfig txn was logged there"
                    ))
                }
            }
        }
        // The file lands a little later; a crash before loses it, and the
        // member starts with the config before (as a real one would).
        let done = self.now + self.rng.range(0, 20);
        self.members[m].active = c.clone();
        self.members[m].config_writing = Some((c, done));
        Ok(())
    }

    /// The config a member starts with: its file, with a write that
    /// finished by now.
    fn config_file(&mut self, m: usize) -> &Membership {
        let now = self.now;
        let mb = &mut self.members[m];
        if let Some((c, done)) = mb.config_writing.take() {
            if done <= now {
                mb.config = c;
            } else {
                mb.config_writing = Some((c, done));
            }
        }
        &mb.config
    }

    /// No two txns are ever logged at one zxid.
    fn logged(&mut self, m: usize, t: &corral::data::txn::Txn) -> Res {
        let z = t.hdr.zxid;
        if t.hdr.op == corral::protocol::jute::op::RECONFIG {
            if let corral::data::txn::TxnBody::SetData(d) = &t.body {
                let c = d
                    .data
                    .as_deref()
                    .and_then(|d| Membership::parse(&String::from_utf8_lossy(d)).ok());
                let Some(c) = c else {
                    return Err(format!(
                        "s{}: the reconfig txn at {z:#x} holds no config",
                        m + 1
                    ));
                };
                self.config_txns.insert(z, c.servers_text());
                if self.members[m].role.get() == Role::Leader {
                    let active = self.members[m].active.quorum();
                    self.config_before.insert(z, active);
                }
            }
        }
        let b = t.encode();
        match self.txns.get(&z) {
            Some(old) => check!(
                *old == b,
                "s{} logs a txn at {z:#x} unlike the one logged there before",
                m + 1
            ),
            None => {
                self.txns.insert(z, b);
            }
        }
        Ok(())
    }

    /// Role changes: at most one established leader per epoch, a voter,
    /// holding every committed txn.
    fn role_changed(&mut self, m: usize) -> Res {
        let role = self.members[m].role.get();
        if role == self.members[m].last_role {
            return Ok(());
        }
        self.members[m].last_role = role;
        let sid = self.members[m].sid;
        let epoch = self.members[m].disk.epochs().1;
        self.t(|| format!("s{sid} ROLE {role:?} (current epoch {epoch})"));
        if role == Role::Leader {
            self.stats.leaders += 1;
            let tree = self.members[m]
                .replica
                .as_ref()
                .map(|r| r.sequencer().tree());
            let voter = tree.map_or(self.quorum.is_voter(sid), |t| {
                self.quorum_of(t).is_voter(sid)
            });
            let has = tree.map_or(0, |t| t.last_zxid);
            // A leader that activated, at its establishment, a reconfig
            // (logged under the fallen leader) that leaves it out hands
            // over at once: ZooKeeper's `startZkServer` with
            // `allowedToCommit = false`. Any other leader is a voter.
            if !voter {
                check!(self.p.reconfig, "s{sid}, no voter in its config, leads");
                self.t(|| format!("s{sid} LEADS OUTSIDE ITS CONFIG: hands over"));
                self.stats.leaders_outside_config += 1;
            }

            check!(
                has >= self.committed,
                "new leader s{sid} of epoch {epoch} has {has:#x}, short of the committed {:#x}",
                self.committed
            );
            if let Some(other) = self.leaders.insert(epoch, sid) {
                check!(
                    other == sid,
                    "two leaders of epoch {epoch}: s{other} and s{sid}"
                );
            }
        }
        Ok(())
    }

    // ---- the end ----

    /// One leader serving, every other member following or observing it,
    /// except members that accepted a later epoch (stranded).
    fn converged(&self) -> bool {
        let Some((leader, epoch)) = self.established_leader() else {
            return false;
        };
        let mut synced = vec![self.members[leader].sid];
        for (k, mb) in self.members.iter().enumerate() {
            if k == leader {
                continue;
            }
            match mb.role.get() {
                Role::Learner | Role::Observer if mb.replica.is_some() => synced.push(mb.sid),
                _ if mb.disk.epochs().0 > epoch => {}
                _ => return false,
            }
        }
        let sid = self.members[leader].sid;
        match self.members[leader].replica.as_ref() {
            Some(r) => {
                let q = self.quorum_of(r.sequencer().tree());
                q.is_voter(sid) && q.contains_quorum(&synced)
            }
            None => false,
        }
    }

    fn established_leader(&self) -> Option<(usize, i64)> {
        let epoch = self.leaders.keys().next_back().copied()?;
        self.members
            .iter()
            .position(|mb| mb.replica.is_some() && mb.role.get() == Role::Leader)
            .map(|k| (k, epoch))
    }

    fn stranded(&self) -> u64 {
        let Some((_, epoch)) = self.established_leader() else {
            return 0;
        };
        self.members
            .iter()
            .filter(|mb| mb.disk.epochs().0 > epoch)
            .count() as u64
    }

    fn final_checks(&mut self) -> Res {
        let cs = self.clients.stats;
        self.stats.client_ops = cs.ops;
        self.stats.reconfigs = cs.reconfigs;
        self.stats.reconfigs_ok = cs.reconfigs_ok;
        self.stats.client_ok = cs.ok;
        self.stats.client_writes = cs.writes_ok;
        self.stats.client_reads = cs.reads_ok;
        self.stats.indeterminate = cs.indeterminate;
        for mb in &self.members {
            let s = mb.disk.stats;
            self.stats.torn += s.torn_crashes;
            self.stats.enospc += s.enospc;
            self.stats.corrupt_reads += s.corrupt_reads;
            self.stats.skipped_snapshots += s.skipped_snapshots;
        }
        self.clients.check()?;
        let Some(at) = self.converged_at else {
            let roles: Vec<String> = self
                .members
                .iter()
                .map(|mb| format!("s{} {:?}", mb.sid, mb.role.get()))
                .collect();
            return Err(format!(
                "no convergence within the quiet period: {}",
                roles.join(", ")
            ));
        };
        self.stats.slowest_convergence_ms = at - self.p.fault_ms;
        self.stats.stranded = self.stranded();
        // Writes commit again once converged (when clients had the time).
        if at + 500 < self.clients.p.stop_at && cs.ops > 0 {
            check!(
                cs.last_write_ok_at > at,
                "no write acknowledged after convergence at {at} (the last at {})",
                cs.last_write_ok_at
            );
            self.stats.quiet_writes += 1;
        }
        let Some((leader, _)) = self.established_leader() else {
            return Err("no leader at the end".into());
        };
        // The leader's tree (what it publishes with its next batch).
        let Some(tree) = self.members[leader]
            .replica
            .as_ref()
            .map(|r| r.sequencer().tree().clone())
        else {
            return Err("no leader at the end".into());
        };
        for (k, &v) in self.clients.acked.iter().enumerate() {
            if v < 0 {
                continue;
            }
            let have = tree.get(&format!("/k{k}")).map(|n| n.stat().version);
            check!(
                have.is_some_and(|h| h >= v),
                "acknowledged write lost: /k{k} was acknowledged at version {v}, the leader has {have:?}"
            );
        }
        Ok(())
    }
}

fn decode_all(b: &[u8]) -> Result<QuorumPacket, String> {
    match wire::decode(b) {
        Ok(Some((p, n))) if n == b.len() => Ok(p),
        other => Err(format!("packet does not decode: {other:?}")),
    }
}

/// Voters and observers: with observer masters, 3 voters and 1 or 2
/// observers; else 3 or 5 voters, or 3 and an observer.
fn shape(seed: u64, mode: Mode) -> (usize, usize) {
    if mode == Mode::ObserverMaster {
        return (3, 1 + (seed % 2) as usize);
    }
    match seed % 3 {
        0 => (3, 0),
        1 => (5, 0),
        _ => (3, 1),
    }
}

fn run_seed_with(seed: u64, trace: bool, mode: Mode) -> (Res, Option<VecDeque<String>>, Stats) {
    let (v, o) = shape(seed, mode);
    let mut sim = Sim::new(seed, v, o, trace, Skip::from_env(), mode);
    sim.clients.tracing = trace;
    // A Replica's assertion is a failure of this seed like any other.
    let r =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.run())).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        });
    (r, sim.trace.take(), sim.stats)
}

fn replay_command(seed: u64, mode: Mode) -> String {
    let skip = std::env::var("SIM_REPLICA_SKIP")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| format!("SIM_REPLICA_SKIP={s} "))
        .unwrap_or_default();
    let mode = mode.var().map(|v| format!("{v}=1 ")).unwrap_or_default();
    format!(
        "{skip}{mode}SIM_REPLICA_SEED={seed} cargo test --release --test sim_replica -- --nocapture"
    )
}

/// Many seeds (`seeds_var`, default `default`), or the one
/// `SIM_REPLICA_SEED` names with its trace (when `SIM_REPLICA_STOPS=1`
/// or `SIM_REPLICA_RECONFIG=1` selects `mode`).
fn run_many(mode: Mode, seeds_var: &str, default: u64) {
    if let Ok(one) = std::env::var("SIM_REPLICA_SEED") {
        if Mode::asked() != mode {
            return;
        }
        let seed: u64 = one.parse().expect("SIM_REPLICA_SEED is a number");
        if let Ok(filter) = std::env::var("SIM_REPLICA_LOG") {
            log_replicas(&filter);
        }
        let (r, tr, stats) = run_seed_with(seed, true, mode);
        for l in tr.unwrap_or_default() {
            println!("{l}");
        }
        println!("{stats:?}");
        r.unwrap_or_else(|e| panic!("seed {seed} ({:?}): {e}", shape(seed, mode)));
        return;
    }
    let seeds: u64 = std::env::var(seeds_var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    let start = std::time::Instant::now();
    // Panics are caught per seed and reported with their seed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8) as u64;
    let results: Vec<(Stats, Vec<(u64, String)>)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                sc.spawn(move || {
                    let mut total = Stats::default();
                    let mut failed = Vec::new();
                    let mut seed = t;
                    while seed < seeds {
                        let (r, _, stats) = run_seed_with(seed, false, mode);
                        total.add(&stats);
                        if let Err(e) = r {
                            failed.push((seed, e));
                        }
                        seed += threads;
                    }
                    (total, failed)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("sim thread"))
            .collect()
    });
    std::panic::set_hook(hook);
    let mut total = Stats::default();
    let mut failed: Vec<(u64, String)> = Vec::new();
    for (s, f) in results {
        total.add(&s);
        failed.extend(f);
    }
    failed.sort_by_key(|f| f.0);
    eprintln!("{seeds} seeds in {:?}: {total:?}", start.elapsed());
    if let Some((seed, e)) = failed.first() {
        for (s, e) in failed.iter().take(20) {
            eprintln!(
                "seed {s} ({:?}): {}",
                shape(*s, mode),
                e.lines().next().unwrap_or("")
            );
            eprintln!("  replay: {}", replay_command(*s, mode));
        }
        panic!(
            "{} of {seeds} seeds failed; the first, seed {seed} ({:?}): {e}\nreplay: {}",
            failed.len(),
            shape(*seed, mode),
            replay_command(*seed, mode)
        );
    }
}

/// Crashes, restarts, partitions, drops, lost datagrams, disk faults.
#[test]
fn replicas_survive_faults() {
    run_many(Mode::Faults, "SIM_REPLICA_SEEDS", 10_000);
}

/// The same, with half the clean crashes replaced by graceful stops
/// (`Input::Stop`: the shards drain, every accepted write is answered and
/// durable, then `Action::Stop`).
#[test]
fn replicas_stop_gracefully_under_faults() {
    run_many(Mode::Stops, "SIM_REPLICA_STOP_SEEDS", 1_000);
}

/// The same faults while an admin client changes the membership all
/// along (`reconfigEnabled=true`): roles flipped, members removed and
/// added, new member lists. Checked besides: one config per version
/// everywhere, the one its reconfig txn carries; a leader is a voter of
/// its config; each txn is durable on a quorum of the config it commits
/// under, and the reconfig txn itself on a quorum of the config before it
/// too (no two disjoint quorums); convergence counts the last config's
/// voters. Replay with `SIM_REPLICA_RECONFIG=1`.
#[test]
fn replicas_reconfigure_under_faults() {
    run_many(Mode::Reconfig, "SIM_REPLICA_RECONFIG_SEEDS", 5_000);
}

/// Seeds past the default count that once failed (`docs/sim-findings.md`):
/// they run with every `cargo test`, whatever `SIM_REPLICA_SEEDS` says.
/// (A change to the Replica reshuffles what a seed does: each fix also has
/// a unit test of its own.)
const REGRESSION_SEEDS: &[u64] = &[16344, 22300, 22560, 48080];

/// The same for reconfig seeds (`SIM_REPLICA_RECONFIG=1`).
const REGRESSION_RECONFIG_SEEDS: &[u64] = &[
    790, 5083, 5995, 6340, 7213, 7250, 7325, 7988, 8029, 8225, 8878, 9433, 9577, 10680, 10832,
    14136, 16310, 16698, 18838, 46049, 48212, 57332,
];

/// The same for observer master seeds (`SIM_REPLICA_OBSERVER_MASTER=1`).
const REGRESSION_OBSERVER_MASTER_SEEDS: &[u64] = &[3375, 5505];

/// Observers with `observerMasterPort` (3 voters, 1 or 2 observers): they
/// sync from, write and `sync` through, and move between followers'
/// observer masters under the same faults; replay with
/// `SIM_REPLICA_OBSERVER_MASTER=1`.
#[test]
fn observers_sync_from_followers_under_faults() {
    run_many(
        Mode::ObserverMaster,
        "SIM_REPLICA_OBSERVER_MASTER_SEEDS",
        2_000,
    );
}

/// The [`REGRESSION_SEEDS`].
#[test]
fn regression_seeds_pass() {
    if std::env::var("SIM_REPLICA_SEED").is_ok() {
        return;
    }
    let seeds = REGRESSION_SEEDS.iter().map(|&s| (s, Mode::Faults));
    let reconfig = REGRESSION_RECONFIG_SEEDS
        .iter()
        .map(|&s| (s, Mode::Reconfig));
    let observer_master = REGRESSION_OBSERVER_MASTER_SEEDS
        .iter()
        .map(|&s| (s, Mode::ObserverMaster));
    let failed: Vec<String> = seeds
        .chain(reconfig)
        .chain(observer_master)
        .filter_map(|(seed, mode)| {
            let (r, _, _) = run_seed_with(seed, false, mode);
            r.err().map(|e| {
                format!(
                    "seed {seed} ({:?}): {e}\n  replay: {}",
                    shape(seed, mode),
                    replay_command(seed, mode)
                )
            })
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A seed replays exactly: the same trace and counts twice over (what a
/// printed replay command relies on; a hash map iterated in a random order
/// on the way to the Replica's actions breaks it).
#[test]
fn a_seed_replays_exactly() {
    if std::env::var("SIM_REPLICA_SEED").is_ok() {
        return;
    }
    for seed in 0..12 {
        let mode = [Mode::Faults, Mode::Stops, Mode::Reconfig][seed as usize % 3];
        let (r1, t1, s1) = run_seed_with(seed, true, mode);
        let (r2, t2, s2) = run_seed_with(seed, true, mode);
        assert_eq!(
            format!("{r1:?} {s1:?}"),
            format!("{r2:?} {s2:?}"),
            "seed {seed}"
        );
        assert!(t1 == t2, "seed {seed}: the traces differ");
    }
}
