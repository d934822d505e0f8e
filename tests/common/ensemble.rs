//! An ensemble on loopback: corral and ZooKeeper 3.8 quorum peers in any
//! mix, each with its own dataDir, `myid` and zoo.cfg listing every
//! member. Members are killed (and reaped) when the ensemble is dropped.
//!
//! [`Ensemble::with_proxy`] routes every peer connection through a
//! [`Proxy`]: each member's zoo.cfg names its own real quorum and election
//! ports (which it listens on) and, for every other member, a proxy port of
//! its own that forwards to that member, so the test can cut links.

use super::proxy::Proxy;
use super::{die_with_parent, free_port};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server a member runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Corral,
    ZooKeeper,
}

/// One member's identity and ports.
#[derive(Debug, Clone)]
pub struct Member {
    pub sid: i64,
    pub kind: Kind,
    pub observer: bool,
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
}

/// Several addresses a server (`multiAddress.enabled=true`): each member
/// listens on `127.0.0.1:quorum:election` and on a second address,
/// `127.0.0.2` with ports of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multi {
    /// Every zoo.cfg lists both addresses of every member.
    Both,
    /// Each member's zoo.cfg lists, for the others, an address nobody
    /// listens on first (refused at once) and their second address after:
    /// they reach each other only by failing over.
    DeadFirst,
}

/// A (quorum, election) port pair.
type Ports = (u16, u16);

pub struct Ensemble {
    pub dir: tempfile::TempDir,
    pub members: Vec<Member>,
    procs: Vec<Option<Child>>,
    extra: Vec<(String, String)>,
    /// Extra zoo.cfg keys of one member each.
    own: Vec<Vec<(String, String)>>,
    /// The members each member's zoo.cfg lists (`None`: all of them).
    listed: Vec<Option<Vec<usize>>>,
    /// JVM-style `-D` flags (`SERVER_JVMFLAGS` for corral).
    jvm: Vec<String>,
    proxy: Option<Proxy>,
    /// With a proxy: `views[i][j]` is the (quorum, election) ports member
    /// `i`'s zoo.cfg lists for member `j`.
    views: Vec<Vec<(u16, u16)>>,
    /// With several addresses a server: how, and each member's second
    /// (quorum, election) ports and dead ones.
    multi: Option<(Multi, Vec<Ports>, Vec<Ports>)>,
    /// Each member's quorum and election ports on a loopback address of
    /// its own (`127.0.0.<sid>`), as on separate machines.
    own_hosts: bool,
}

impl Ensemble {
    /// Members with sids 1.. in the order given; none started yet.
    pub fn new(kinds: &[Kind]) -> Ensemble {
        let dir = tempfile::Builder::new()
            .prefix("corral-ens-")
            .tempdir()
            .expect("temp dir");
        let members = kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| Member {
                sid: i as i64 + 1,
                kind,
                observer: false,
                client: free_port(),
                quorum: free_port(),
                election: free_port(),
            })
            .collect();
        Ensemble {
            dir,
            procs: kinds.iter().map(|_| None).collect(),
            members,
            extra: Vec::new(),
            own: kinds.iter().map(|_| Vec::new()).collect(),
            listed: kinds.iter().map(|_| None).collect(),
            jvm: Vec::new(),
            proxy: None,
            views: Vec::new(),
            multi: None,
            own_hosts: false,
        }
    }

    /// Puts each member's quorum and election ports on `127.0.0.<sid>`
    /// (a key such as `observerMasterPort` names one port for every
    /// server, as on separate machines).
    pub fn with_own_hosts(mut self) -> Ensemble {
        self.own_hosts = true;
        self
    }

    /// The host of member `i`'s quorum and election ports.
    pub fn quorum_host(&self, i: usize) -> String {
        if self.own_hosts {
            format!("127.0.0.{}", self.members[i].sid)
        } else {
            "127.0.0.1".to_string()
        }
    }

    /// Gives every member a second address (see [`Multi`]).
    pub fn with_multi_address(mut self, how: Multi) -> Ensemble {
        let n = self.members.len();
        let second = (0..n).map(|_| (free_port(), free_port())).collect();
        let dead = (0..n).map(|_| (free_port(), free_port())).collect();
        self.multi = Some((how, second, dead));
        // ZooKeeper 3.8 reads server lines with several addresses only
        // under the JVM flag (QuorumServer reads the system property); the
        // zoo.cfg key sets the rest (the V2 initial message, the check).
        self.cfg("multiAddress.enabled", "true")
            .jvm("-Dzookeeper.multiAddress.enabled=true")
    }

    /// Routes every member's connections to the others (quorum and
    /// election ports) through a proxy; see [`Ensemble::proxy`].
    pub fn with_proxy(mut self) -> Ensemble {
        let proxy = Proxy::new();
        let n = self.members.len();
        self.views = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let m = &self.members[j];
                        if i == j {
                            (m.quorum, m.election)
                        } else {
                            (proxy.listen(i, j, m.quorum), proxy.listen(i, j, m.election))
                        }
                    })
                    .collect()
            })
            .collect();
        self.proxy = Some(proxy);
        self
    }

    /// The proxy between members (see [`Ensemble::with_proxy`]).
    pub fn proxy(&self) -> &Proxy {
        self.proxy.as_ref().expect("an ensemble with_proxy")
    }

    /// Removes member `i`'s data (its `myid` is written again on start).
    pub fn wipe(&mut self, i: usize) {
        self.kill9(i);
        let _ = std::fs::remove_dir_all(self.member_dir(i).join("data"));
    }

    /// A `-D` flag for every member (the JVM's for ZooKeeper,
    /// `SERVER_JVMFLAGS` for corral).
    pub fn jvm(mut self, flag: &str) -> Ensemble {
        self.jvm.push(flag.into());
        self
    }

    /// An extra zoo.cfg key for every member.
    pub fn cfg(mut self, key: &str, value: &str) -> Ensemble {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// An extra zoo.cfg key for member `i` alone (after the common ones).
    pub fn member_cfg(&mut self, i: usize, key: &str, value: &str) {
        self.own[i].push((key.into(), value.into()));
    }

    /// Member `i`'s zoo.cfg lists only `members` (a joining server's
    /// view of the ensemble, or the ensemble before it grows).
    pub fn set_view(&mut self, i: usize, members: &[usize]) {
        self.listed[i] = Some(members.to_vec());
    }

    /// Member `i`'s `server.N` line value, as its zoo.cfg gives it.
    pub fn server_line(&self, i: usize) -> String {
        let p = &self.members[i];
        let role = if p.observer {
            "observer"
        } else {
            "participant"
        };
        format!(
            "127.0.0.1:{}:{}:{role};127.0.0.1:{}",
            p.quorum, p.election, p.client
        )
    }

    /// Starts member `i` from the zoo.cfg it has (a reconfig rewrites it).
    pub fn restart(&mut self, i: usize) {
        self.spawn(i, self.member_dir(i).join("zoo.cfg"));
    }

    /// Member `i`'s client address.
    pub fn client_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client)
    }

    /// A write through each of `members` is read back on all of them
    /// (after a `sync`). A ZooKeeper member that drops the reading
    /// connection is asked again for up to 20 s (3.8 members sometimes
    /// drop clients while they restart their election after a reconfig,
    /// docs/ensemble.md); a corral member must answer at once.
    pub fn replicates(&self, members: &[usize], tag: &str) {
        for &i in members {
            let mut c = super::Raw::connect(&self.client_addr(i));
            let r = c.create(&format!("/{tag}{i}"), format!("from {i}").as_bytes(), 0);
            assert_eq!(r.err, 0, "create through server {i}");
        }
        for &i in members {
            let read_all = || {
                let mut c = super::Raw::connect(&self.client_addr(i));
                c.sync();
                for &j in members {
                    let (data, _) = c
                        .get_data(&format!("/{tag}{j}"), false)
                        .unwrap_or_else(|err| panic!("/{tag}{j} on server {i}: error {err}"));
                    assert_eq!(data.as_deref(), Some(format!("from {j}").as_bytes()));
                }
            };
            if self.members[i].kind != Kind::ZooKeeper {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read_all));
                if let Err(p) = r {
                    println!(
                        "corral member {i} (sid {}) failed to answer after the writes{}",
                        self.members[i].sid,
                        self.log_tails()
                    );
                    std::panic::resume_unwind(p);
                }
                continue;
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read_all));
                match r {
                    Ok(()) => break,
                    Err(_) if std::time::Instant::now() < deadline => {
                        println!(
                            "{} ZooKeeper member {i} dropped the reading client; again",
                            utc_now()
                        );
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                    Err(p) => {
                        println!(
                            "{} ZooKeeper member {i} (sid {}) did not answer for 20 s{}",
                            utc_now(),
                            self.members[i].sid,
                            self.log_tails()
                        );
                        std::panic::resume_unwind(p)
                    }
                }
            }
        }
    }

    pub fn member_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("m{}", self.members[i].sid))
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.member_dir(i).join("server.log")
    }

    pub fn log_text(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    fn write_config(&self, i: usize) -> PathBuf {
        let d = self.member_dir(i);
        let data = d.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("myid"), self.members[i].sid.to_string()).unwrap();
        let m = &self.members[i];
        let mut text = format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n",
            data.display(),
            m.client
        );
        for (j, p) in self.members.iter().enumerate() {
            if self.listed[i].as_ref().is_some_and(|l| !l.contains(&j)) {
                continue;
            }
            let (quorum, election) = self.views.get(i).map_or((p.quorum, p.election), |v| v[j]);
            let role = if p.observer {
                "observer"
            } else {
                "participant"
            };
            let addrs = match &self.multi {
                None => format!("{}:{quorum}:{election}", self.quorum_host(j)),
                Some((how, second, dead)) => {
                    let (q2, e2) = second[j];
                    let (dq, de) = dead[j];
                    if *how == Multi::DeadFirst && i != j {
                        format!("127.0.0.1:{dq}:{de}|127.0.0.2:{q2}:{e2}")
                    } else {
                        format!("127.0.0.1:{quorum}:{election}|127.0.0.2:{q2}:{e2}")
                    }
                }
            };
            text.push_str(&format!(
                "server.{}={addrs}:{role};127.0.0.1:{}\n",
                p.sid, p.client
            ));
        }
        if m.observer {
            text.push_str("peerType=observer\n");
        }
        for (k, v) in self.extra.iter().chain(&self.own[i]) {
            text.push_str(&format!("{k}={v}\n"));
        }
        let cfg = d.join("zoo.cfg");
        std::fs::write(&cfg, text).unwrap();
        cfg
    }

    /// Starts member `i` (its config is written afresh).
    pub fn start(&mut self, i: usize) {
        let cfg = self.write_config(i);
        self.spawn(i, cfg);
    }

    fn spawn(&mut self, i: usize, cfg: PathBuf) {
        self.kill9(i);
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let mut cmd = match self.members[i].kind {
            Kind::ZooKeeper => {
                let mut c = Command::new("java");
                c.args([
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Dzookeeper.admin.enableServer=false",
                    // Times on the lines, to read them beside corral's.
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                ]);
                c.args(&self.jvm);
                // ENSEMBLE_ZK_DEBUG=a.b.C,...: those ZooKeeper classes log
                // at debug (CommitProcessor shows each commit's session
                // and cxid beside the local requests).
                if let Ok(classes) = std::env::var("ENSEMBLE_ZK_DEBUG") {
                    for class in classes.split(',').filter(|c| !c.is_empty()) {
                        c.arg(format!("-Dorg.slf4j.simpleLogger.log.{class}=debug"));
                    }
                }
                c.args([
                    "-cp",
                    "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                ]);
                c.arg(&cfg);
                c
            }
            Kind::Corral => {
                let mut c = Command::new(super::corral_bin());
                c.arg(&cfg).env("RUST_LOG", "info");
                c.env_remove("SERVER_JVMFLAGS").env_remove("JVMFLAGS");
                if !self.jvm.is_empty() {
                    c.env("SERVER_JVMFLAGS", self.jvm.join(" "));
                }
                c
            }
        };
        cmd.current_dir(self.member_dir(i))
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        die_with_parent(&mut cmd);
        self.procs[i] = Some(cmd.spawn().expect("spawn ensemble member"));
    }

    pub fn start_all(&mut self) {
        for i in 0..self.members.len() {
            self.start(i);
        }
    }

    /// Starts member `first`, waits until it answers `srvr` (it is up and
    /// LOOKING), then starts the others. A fresh election then includes its
    /// vote from the start: with the highest sid, it leads. (Started
    /// together, a JVM that starts slower than the others can miss the
    /// first election, and the two others elect without it.)
    pub fn start_all_after(&mut self, first: usize) {
        self.start(first);
        self.wait_for(Duration::from_secs(60), "the first member to answer", |e| {
            !e.four_letter(first, "srvr").is_empty()
        });
        for i in (0..self.members.len()).filter(|i| *i != first) {
            self.start(i);
        }
    }

    /// SIGKILL member `i` and reap it.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `within` for member `i` to exit by itself; its status,
    /// or `None` if it still runs (or was never started).
    pub fn wait_exit(&mut self, i: usize, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let c = self.procs[i].as_mut()?;
            if let Ok(Some(st)) = c.try_wait() {
                self.procs[i] = None;
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A four-letter word's answer from member `i` ("" when it does not
    /// answer).
    pub fn four_letter(&self, i: usize, word: &str) -> String {
        let addr = format!("127.0.0.1:{}", self.members[i].client);
        let Ok(mut s) = TcpStream::connect(addr) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        if s.write_all(word.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Member `i`'s `Mode:` from `srvr` (leader, follower, observer,
    /// standalone), if it serves.
    pub fn mode(&self, i: usize) -> Option<String> {
        self.four_letter(i, "srvr")
            .lines()
            .find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
    }

    /// Each of members `among` with its `srvr` mode (`None` while it does
    /// not serve).
    pub fn modes(&self, among: &[usize]) -> Vec<(usize, Option<String>)> {
        among.iter().map(|&i| (i, self.mode(i))).collect()
    }

    /// The members of `among` whose `srvr` says `mode`.
    pub fn in_mode(&self, among: &[usize], mode: &str) -> Vec<usize> {
        self.modes(among)
            .into_iter()
            .filter(|(_, m)| m.as_deref() == Some(mode))
            .map(|(i, _)| i)
            .collect()
    }

    /// The one leader among members `among` when the others all follow
    /// it (by `srvr`), else `None`.
    pub fn one_leader(&self, among: &[usize]) -> Option<usize> {
        let modes = self.modes(among);
        let with = |mode: &str| -> Vec<usize> {
            modes
                .iter()
                .filter(|(_, m)| m.as_deref() == Some(mode))
                .map(|(i, _)| *i)
                .collect()
        };
        let leaders = with("leader");
        (leaders.len() == 1 && with("follower").len() == among.len() - 1).then(|| leaders[0])
    }

    /// Waits for member `i`'s log to say it synced with the leader by
    /// `mode` (DIFF, TRUNC, SNAP) after byte `from` of it.
    pub fn synced_by(&self, i: usize, from: usize, mode: &str) {
        self.wait_for(
            Duration::from_secs(20),
            &format!("member {} syncing by {mode}", self.members[i].sid),
            |e| {
                let t = e.log_text(i);
                t.get(from..).is_some_and(|t| {
                    t.lines().map(plain).any(|l| {
                        l.contains("syncing with the leader")
                            && (l.contains(&format!("mode={mode}"))
                                || l.contains(&format!("mode=\"{mode}\"")))
                    })
                })
            },
        );
    }

    /// Waits until `f` holds, up to `within`; panics with `what` and every
    /// member's log tail if it never does.
    pub fn wait_for(&self, within: Duration, what: &str, mut f: impl FnMut(&Ensemble) -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}{}", self.log_tails());
    }

    /// Every member's log tail (ENSEMBLE_LOG_LINES lines, 40 by default),
    /// for a failure's message.
    pub fn log_tails(&self) -> String {
        let mut logs = String::new();
        // ENSEMBLE_LOG_LINES: how much of each log a failure shows.
        let tail = std::env::var("ENSEMBLE_LOG_LINES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        for i in 0..self.members.len() {
            let t = self.log_text(i);
            // The harness's own four-letter words are noise here.
            let lines: Vec<&str> = t
                .lines()
                .filter(|l| {
                    !l.contains("srvr command")
                        && !l.contains("Processing srvr")
                        && !l.starts_with("\tat ")
                        && !l.starts_with("\t... ")
                })
                .collect();
            logs.push_str(&format!(
                "\n--- member {} ({:?}):\n{}",
                self.members[i].sid,
                self.members[i].kind,
                lines[lines.len().saturating_sub(tail)..].join("\n")
            ));
        }
        logs
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill9(i);
        }
        // ENSEMBLE_KEEP=1: a failed test leaves its members' directories
        // (logs, data) for a look.
        if std::thread::panicking() && std::env::var_os("ENSEMBLE_KEEP").is_some() {
            let kept = std::mem::replace(
                &mut self.dir,
                tempfile::Builder::new()
                    .prefix("corral-ens-")
                    .tempdir()
                    .expect("temp dir"),
            )
            .keep();
            println!(
                "ENSEMBLE_KEEP: the members' files are in {}",
                kept.display()
            );
        }
    }
}

/// The time of day (UTC), as the members' log lines print it.
fn utc_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = t.as_millis() % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A log line without its ANSI colours.
fn plain(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut esc = false;
    for c in l.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (false, c) => out.push(c),
            (true, c) if c.is_ascii_alphabetic() => esc = false,
            (true, _) => {}
        }
    }
    out
}

/// Runs `steps` on corral and on ZooKeeper 3.8, checks that both saw the
/// same, and returns what corral saw.
pub fn same_on_both<T: std::fmt::Debug + PartialEq>(steps: impl Fn(Kind) -> T) -> T {
    let corral = steps(Kind::Corral);
    let zk = steps(Kind::ZooKeeper);
    eprintln!("corral:        {corral:?}\nZooKeeper 3.8: {zk:?}");
    assert_eq!(corral, zk, "corral and ZooKeeper 3.8 differ");
    corral
}
