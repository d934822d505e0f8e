//! Operating corral: the stall monitor, the slow-request warning and the
//! JSON log format, seen in the real binary's log.

mod common;

use common::{err, Raw, Server};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Every line of the log parsed as JSON; panics on a line that is not.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\nlog:\n{log}"))
        })
        .collect()
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k)
}

fn wait_for_log(srv: &Server, within: Duration, needle: &str) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if srv.log_text().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// With `corral.test.stallMs` the sequencer holds its executor for a
/// second: the stall monitor reports it (named, with its duration and the
/// counter), a write that waited on it is reported as a slow request with
/// its session, opcode and path, and every log line is JSON.
#[test]
fn stall_and_slow_request_are_reported_in_json_logs() {
    // The sequencer on an executor of its own (a thread beside the shard
    // on CPU 0, which exists everywhere): a shard that shared it would
    // be held too and would read the write only after the hold, so the
    // write would not look slow to the server (the test's two-shard map puts
    // shard 1 there).
    let map = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(map.path(), "shards = [0]\nsequencer = 0\nlog = 0\n").unwrap();
    let srv = Server::opts()
        .arg("--core-map")
        .arg(map.path().to_str().unwrap())
        .arg("--log-format")
        .arg("json")
        .jvm(
            "-Dcorral.test.stallMs=1000 -Dcorral.stallThresholdMs=100 \
             -Dcorral.requestWarnThresholdMs=200",
        )
        .start();
    let mut raw = Raw::connect(&srv.addr());
    assert!(
        wait_for_log(&srv, Duration::from_secs(10), "holding the sequencer"),
        "the test hook did not run; log:\n{}",
        srv.log_text()
    );
    let t0 = Instant::now();
    assert_eq!(raw.create("/slow", b"", 0).err, err::OK);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "the create did not wait on the held sequencer ({waited:?})"
    );
    // The heartbeat reports once the sequencer runs again.
    assert!(
        wait_for_log(&srv, Duration::from_secs(5), "\"stall_ms\""),
        "no stall reported; log:\n{}",
        srv.log_text()
    );
    let log = srv.log_text();
    let lines = json_lines(&log);
    assert!(lines.len() >= 4, "log:\n{log}");
    for l in &lines {
        for k in ["timestamp", "level", "target", "message"] {
            assert!(field(l, k).is_some(), "no {k} in {l}");
        }
    }
    let stall = lines
        .iter()
        .find(|l| {
            // Its own executor, or one it shares (`core-N`, its roles listed).
            field(l, "roles")
                .and_then(Value::as_str)
                .is_some_and(|r| r.split(',').any(|r| r == "sequencer"))
                && field(l, "level").and_then(Value::as_str) == Some("WARN")
        })
        .unwrap_or_else(|| panic!("no stall warning naming the sequencer; log:\n{log}"));
    let ms = field(stall, "stall_ms").and_then(Value::as_u64).unwrap();
    assert!((500..5000).contains(&ms), "stall_ms {ms}: {stall}");
    let total = field(stall, "stalls_total")
        .and_then(Value::as_u64)
        .unwrap();
    assert!(total >= 1, "{stall}");

    let slow: Vec<&Value> = lines
        .iter()
        .filter(|l| field(l, "path").and_then(Value::as_str) == Some("/slow"))
        .collect();
    assert_eq!(slow.len(), 1, "one line about /slow, at warn; log:\n{log}");
    let slow = slow[0];
    assert_eq!(field(slow, "level").and_then(Value::as_str), Some("WARN"));
    assert_eq!(
        field(slow, "session").and_then(Value::as_str),
        Some(format!("0x{:x}", raw.session).as_str()),
        "{slow}"
    );
    assert_eq!(
        field(slow, "opcode").and_then(Value::as_str),
        Some("create")
    );
    assert!(
        field(slow, "ms").and_then(Value::as_u64).unwrap() >= 200,
        "{slow}"
    );
    raw.close_session();
}

/// Without the property, text logs; a request under the threshold is not
/// logged at all (no per-request logging), and the stall monitor stays
/// quiet on an idle server.
#[test]
fn fast_requests_are_not_logged() {
    let srv = Server::opts().jvm("-Dcorral.stallThresholdMs=2000").start();
    let mut raw = Raw::connect(&srv.addr());
    for i in 0..50 {
        assert_eq!(raw.create(&format!("/q{i}"), b"d", 0).err, err::OK);
        raw.get_data(&format!("/q{i}"), false).unwrap();
    }
    raw.close_session();
    std::thread::sleep(Duration::from_millis(300));
    let log = srv.log_text();
    assert!(!log.contains("/q1"), "a request was logged:\n{log}");
    assert!(!log.contains("slow request"), "{log}");
    assert!(!log.contains("stall_ms"), "{log}");
    assert!(log.contains("corral is serving"), "{log}");
    assert!(
        log.lines().all(|l| !l.trim_start().starts_with('{')),
        "text format by default:\n{log}"
    );
}

/// A bad `corral.*` value stops the start with a message naming it.
#[test]
fn a_bad_ops_property_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort=0\ncorral.stallThresholdMs=soon\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg(&cfg)
        .env_remove("SERVER_JVMFLAGS")
        .env_remove("JVMFLAGS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("corral.stallThresholdMs=soon"), "{e}");
}

/// `zookeeper.datadir.autocreate=false`: a missing `version-2` directory
/// stops the start with ZooKeeper's message, and nothing is created.
#[test]
fn datadir_autocreate_false_needs_the_directories() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort=0\nadmin.enableServer=false\n",
            data.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg(&cfg)
        .env("SERVER_JVMFLAGS", "-Dzookeeper.datadir.autocreate=false")
        .env_remove("JVMFLAGS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("Missing data directory") && e.contains("zookeeper.datadir.autocreate is false"),
        "{e}"
    );
    assert!(!data.exists(), "the data directory was created");
}

// ------------------------------------------------------------- systemd unit

/// A tool the test needs: its absence fails the test.
fn need(tool: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is required by this test (scripts/setup.sh installs it)"
    );
}

/// The syscalls of a systemd syscall group, nested groups expanded.
fn syscall_group(g: &str, seen: &mut std::collections::BTreeSet<String>) {
    let out = std::process::Command::new("systemd-analyze")
        .args(["syscall-filter", g])
        .output()
        .expect("systemd-analyze");
    assert!(out.status.success(), "systemd-analyze syscall-filter {g}");
    for l in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('@') {
            syscall_group(l, seen);
        } else {
            seen.insert(l.to_string());
        }
    }
}

fn syscalls_of(words: &str) -> std::collections::BTreeSet<String> {
    let mut s = std::collections::BTreeSet::new();
    for w in words.split_whitespace() {
        if w.starts_with('@') {
            syscall_group(w, &mut s);
        } else {
            s.insert(w.to_string());
        }
    }
    s
}

/// conf/corral.service passes `systemd-analyze verify`, and every syscall
/// corral makes (traced with strace through start-up, writes, a snapshot,
/// four-letter words and a SIGTERM shutdown) is allowed by its
/// SystemCallFilter, so the sandbox cannot break it.
#[test]
fn systemd_unit_verifies_and_allows_every_syscall_corral_makes() {
    need("systemd-analyze");
    need("strace");
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/corral.service"))
        .expect("conf/corral.service");
    for line in [
        "LimitMEMLOCK=infinity",
        "KillSignal=SIGTERM",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/corral",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute=yes",
        "User=corral",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|l| l.trim() == line), "no {line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = common::free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nsnapCount=20\n\
             4lw.commands.whitelist=*\n",
            data.display()
        ),
    )
    .unwrap();
    let exe = env!("CARGO_BIN_EXE_corral");
    let local = unit
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                format!("ExecStart={exe} {}", cfg.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let unit_path = dir.path().join("corral.service");
    std::fs::write(&unit_path, local).unwrap();
    let v = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    let verify_err = String::from_utf8_lossy(&v.stderr);
    assert!(
        !verify_err.contains("corral.service"),
        "systemd-analyze verify warns about the unit: {verify_err}"
    );

    // What the filter allows: the allow lines, less the `~` lines.
    let mut allow = std::collections::BTreeSet::new();
    let mut deny = std::collections::BTreeSet::new();
    for l in unit.lines() {
        if let Some(v) = l.trim().strip_prefix("SystemCallFilter=") {
            match v.strip_prefix('~') {
                Some(d) => deny.extend(syscalls_of(d)),
                None => allow.extend(syscalls_of(v)),
            }
        }
    }
    for s in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(allow.contains(s) && !deny.contains(s), "{s} not allowed");
    }

    let trace = dir.path().join("strace.out");
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&trace)
        .arg(exe)
        .arg(&cfg)
        .env_remove("SERVER_JVMFLAGS")
        .env_remove("JVMFLAGS")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("strace");
    let addr = format!("127.0.0.1:{port}");
    assert!(
        common::eventually(Duration::from_secs(30), || std::net::TcpStream::connect(
            &addr
        )
        .is_ok()),
        "corral did not start under strace"
    );
    let children = format!("/proc/{0}/task/{0}/children", strace.id());
    let pid: u32 = std::fs::read_to_string(&children)
        .unwrap()
        .split_whitespace()
        .next()
        .expect("corral's pid")
        .parse()
        .unwrap();
    {
        let mut raw = Raw::connect(&addr);
        raw.create("/s", b"", 0);
        for i in 0..60 {
            assert_eq!(raw.create(&format!("/s/n{i}"), b"v", 0).err, err::OK);
            raw.set_data(&format!("/s/n{i}"), b"w", -1).unwrap();
            raw.get_data(&format!("/s/n{i}"), true).unwrap();
        }
        raw.close_session();
    }
    for word in ["mntr", "conf", "envi", "cons", "dirs"] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut s, word.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut s, &mut out);
        assert!(!out.is_empty(), "{word}");
    }
    let st = std::process::Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = strace.wait().unwrap();
    assert!(status.success(), "corral under strace exited {status}");
    let summary = std::fs::read_to_string(&trace).unwrap();
    let used: std::collections::BTreeSet<String> = summary
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .filter(|s| s != "total")
        .collect();
    assert!(
        used.contains("io_uring_enter"),
        "strace summary:\n{summary}"
    );
    let refused: Vec<&String> = used
        .iter()
        .filter(|s| !allow.contains(*s) || deny.contains(*s))
        .collect();
    assert!(
        refused.is_empty(),
        "corral makes syscalls conf/corral.service refuses: {refused:?}"
    );
}
