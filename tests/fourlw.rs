//! The four-letter words on the client port, against the real binary.
//!
//! Six sessions are opened, so on a multi-core machine the kernel's
//! SO_REUSEPORT hashing spreads them over the shards; every word is then
//! asked on a fresh connection, which also lands on some shard. Each answer
//! that lists connections must list all six clients, whichever shard asked:
//! that is the map-reduce through the sequencer at work. The server log
//! tells which shard took each probe, and the test checks that both shards
//! answered some (on a machine with 2 or more CPUs).
//!
//! `CORRAL_TEST_SERVER=zookeeper cargo test --test fourlw` runs the same
//! checks against Apache ZooKeeper 3.8; where corral deliberately prints
//! ZooKeeper 3.4's `srvr` forms (version line, integer average latency),
//! the check branches on [`common::against_reference`].

mod common;

use common::{against_reference, Raw, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

const EPHEMERAL: i32 = 1;

/// A four-letter word with trailing bytes (`stmk`), or a half-closed one.
fn ask_raw(srv: &Server, bytes: &[u8], half_close: bool) -> String {
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.write_all(bytes).unwrap();
    if half_close {
        s.shutdown(Shutdown::Write).unwrap();
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the server closes after answering");
    out
}

/// A word's answer, asserted to end the way ZooKeeper's do.
fn ask(srv: &Server, word: &str) -> String {
    let out = srv.four_letter(word);
    assert!(!out.is_empty() || word == "hash", "{word}: empty answer");
    out
}

/// `key: value` (srvr/stat) or `key<sep>value` lines, in order.
fn pairs<'a>(text: &'a str, sep: &str) -> Vec<(&'a str, &'a str)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once(sep)
                .unwrap_or_else(|| panic!("no {sep:?} in line {l:?}"))
        })
        .collect()
}

fn num(v: &str) -> i64 {
    v.parse()
        .unwrap_or_else(|_| panic!("{v:?} is not an integer"))
}

/// One `cons`/`stat` connection line, parsed: address, interest ops and
/// the `key=value` fields.
struct ConnLine {
    port: u16,
    interest: String,
    fields: BTreeMap<String, String>,
}

fn conn_lines(block: &str) -> Vec<ConnLine> {
    block
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let rest = l
                .strip_prefix(" /127.0.0.1:")
                .unwrap_or_else(|| panic!("bad connection line {l:?}"));
            let (port, rest) = rest.split_once('[').unwrap();
            let (interest, rest) = rest.split_once("](").unwrap();
            let body = rest
                .strip_suffix(')')
                .unwrap_or_else(|| panic!("no ')' in {l:?}"));
            let fields = body
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            ConnLine {
                port: port.parse().unwrap(),
                interest: interest.to_string(),
                fields,
            }
        })
        .collect()
}

/// The six clients and what they did.
struct World {
    clients: Vec<Raw>,
    ports: BTreeSet<u16>,
}

fn world(srv: &Server) -> World {
    let mut clients: Vec<Raw> = (0..6).map(|_| Raw::connect(&srv.addr())).collect();
    assert!(clients.iter().all(|c| c.session != 0), "six sessions");
    clients[0].create("/fw", b"", 0).ok();
    clients[0].create("/fw/eph", b"", EPHEMERAL).ok();
    // Data watches: /fw by client 0; /fw/eph and /nothere by client 1.
    // A child watch by client 2, which wchs/wchc/wchp do not show.
    clients[0].exists("/fw", true);
    clients[1].exists("/fw/eph", true);
    clients[1].exists("/nothere", true);
    clients[2].children("/fw", true).unwrap();
    let ports = clients
        .iter()
        .map(|c| c.stream.local_addr().unwrap().port())
        .collect();
    World { clients, ports }
}

fn check_version(v: &str) {
    if against_reference() {
        assert!(v.starts_with("3.8."), "{v}");
        return;
    }
    // ZooKeeper 3.4's form, as the Go client's FLWSrvr regex wants it:
    // `[A-Za-z0-9.-]+, built on MM/DD/YYYY HH:MM GMT`.
    let (ver, built) = v.split_once(", built on ").expect("built on");
    assert!(ver.starts_with("3.8.0-"), "{v}");
    assert!(
        ver.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
        "{v}"
    );
    let b = built.as_bytes();
    assert_eq!(b.len(), 20, "{built}");
    for (i, c) in built.chars().enumerate() {
        match i {
            2 | 5 => assert_eq!(c, '/'),
            10 => assert_eq!(c, ' '),
            13 => assert_eq!(c, ':'),
            16 => assert_eq!(c, ' '),
            17..=19 => {}
            _ => assert!(c.is_ascii_digit(), "{built}"),
        }
    }
    assert!(built.ends_with(" GMT"));
}

/// srvr's lines after the version (and stat's after the client list).
fn check_server_stats(lines: &[(&str, &str)], conns: usize, zxid: i64, nodes: i64) {
    let keys: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "Latency min/avg/max",
            "Received",
            "Sent",
            "Connections",
            "Outstanding",
            "Zxid",
            "Mode",
            "Node count"
        ]
    );
    let lat: Vec<&str> = lines[0].1.split('/').collect();
    assert_eq!(lat.len(), 3);
    num(lat[0]);
    num(lat[2]);
    if against_reference() {
        lat[1].parse::<f64>().unwrap();
    } else {
        num(lat[1]);
    }
    assert!(num(lines[1].1) > 0 && num(lines[2].1) > 0);
    assert_eq!(num(lines[3].1), conns as i64, "Connections");
    assert_eq!(lines[4].1, "0");
    assert_eq!(lines[5].1, format!("0x{zxid:x}"));
    assert_eq!(lines[6].1, "standalone");
    assert_eq!(num(lines[7].1), nodes, "Node count");
}

/// Shards that took a four-letter word, from the server log.
fn probe_shards(srv: &Server) -> BTreeSet<String> {
    let raw = std::fs::read_to_string(srv.dir.path().join("server.log")).unwrap_or_default();
    // Drop the terminal colour codes the log may carry (`ESC [ … m`).
    let mut log = String::new();
    let mut in_esc = false;
    for ch in raw.chars() {
        match (in_esc, ch) {
            (false, '\u{1b}') => in_esc = true,
            (false, c) => log.push(c),
            (true, 'm') => in_esc = false,
            (true, _) => {}
        }
    }
    log.lines()
        .filter(|l| l.contains(" command"))
        .filter_map(|l| l.split("shard=").nth(1))
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .collect()
}

#[test]
fn every_word_answers_in_zookeepers_format() {
    let srv = Server::start();
    let mut w = world(&srv);
    let n = w.clients.len();
    // The newest zxid, as the last replies carried it (6 createSession
    // txns and 2 creates on a fresh corral); 5 nodes of a fresh ZooKeeper
    // tree (its root counts twice) plus /fw and /fw/eph.
    let zxid = w.clients.iter().map(|c| c.last_zxid).max().unwrap();
    if !against_reference() {
        assert_eq!(zxid, 8);
    }
    let nodes = 7;
    let sid = |i: usize| format!("0x{:x}", w.clients[i].session);

    // ruok, isro
    assert_eq!(ask(&srv, "ruok"), "imok");
    assert_eq!(ask(&srv, "isro"), "rw");

    // srvr
    let text = ask(&srv, "srvr");
    let lines = pairs(&text, ": ");
    assert_eq!(lines[0].0, "Zookeeper version");
    check_version(lines[0].1);
    check_server_stats(&lines[1..], n + 1, zxid, nodes);

    // stat: every client, wherever it landed, plus the asking probe.
    for _ in 0..4 {
        let text = ask(&srv, "stat");
        let (head, rest) = text.split_once("\nClients:\n").expect("Clients:");
        check_version(head.strip_prefix("Zookeeper version: ").unwrap());
        let (clients, stats) = rest.split_once("\n\n").expect("blank line after clients");
        let cl = conn_lines(clients);
        assert_eq!(cl.len(), n + 1, "{text}");
        let ports: BTreeSet<u16> = cl
            .iter()
            .filter(|c| c.interest == "1")
            .map(|c| c.port)
            .collect();
        assert_eq!(ports, w.ports, "stat lists every client:\n{text}");
        let probe: Vec<&ConnLine> = cl.iter().filter(|c| c.interest == "0").collect();
        assert_eq!(probe.len(), 1, "{text}");
        assert_eq!(probe[0].fields["recved"], "1");
        assert_eq!(probe[0].fields["sent"], "0");
        for c in &cl {
            let keys: Vec<&String> = c.fields.keys().collect();
            assert_eq!(keys, ["queued", "recved", "sent"]);
        }
        check_server_stats(&pairs(stats, ": "), n + 1, zxid, nodes);
    }

    // cons: with session details.
    let text = ask(&srv, "cons");
    assert!(text.ends_with(")\n\n"), "{text:?}");
    let cl = conn_lines(&text);
    assert_eq!(cl.len(), n + 1);
    for (i, c) in w.clients.iter().enumerate() {
        let port = c.stream.local_addr().unwrap().port();
        let line = cl.iter().find(|l| l.port == port).expect("client listed");
        assert_eq!(line.interest, "1");
        let f = &line.fields;
        let keys: Vec<&str> = [
            "queued", "recved", "sent", "sid", "lop", "est", "to", "lcxid", "lzxid", "lresp",
            "llat", "minlat", "avglat", "maxlat",
        ]
        .into_iter()
        .filter(|k| f.contains_key(*k))
        .collect();
        assert_eq!(keys.len(), f.len(), "unknown fields in {f:?}");
        assert_eq!(f.len(), 14, "{f:?}");
        assert_eq!(f["sid"], sid(i));
        assert_eq!(f["to"], "30000");
        assert!(num(&f["est"]) > 1_600_000_000_000);
        assert!(f["lzxid"].starts_with("0x"));
        let want_lop = match i {
            0 | 1 => "EXIS",
            2 => "GETC",
            _ => "SESS",
        };
        assert_eq!(f["lop"], want_lop, "client {i}");
        assert_eq!(num(&f["recved"]), num(&f["sent"]), "{f:?}");
    }

    // mntr: 3.8 keys and value types.
    let text = ask(&srv, "mntr");
    let m: BTreeMap<&str, &str> = pairs(&text, "\t").into_iter().collect();
    assert_eq!(pairs(&text, "\t")[0].0, "zk_version");
    assert_eq!(pairs(&text, "\t")[1], ("zk_server_state", "standalone"));
    check_version(m["zk_version"]);
    for k in [
        "zk_ephemerals_count",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_znode_count",
        "zk_global_sessions",
        "zk_packets_sent",
        "zk_packets_received",
        "zk_watch_count",
        "zk_min_latency",
        "zk_max_latency",
        "zk_max_file_descriptor_count",
        "zk_open_file_descriptor_count",
        "zk_approximate_data_size",
        "zk_local_sessions",
        "zk_uptime",
    ] {
        let v = m.get(k).unwrap_or_else(|| panic!("{k} missing:\n{text}"));
        num(v);
    }
    let avg = m["zk_avg_latency"];
    assert!(avg.contains('.') && avg.parse::<f64>().is_ok(), "{avg}");
    assert_eq!(m["zk_ephemerals_count"], "1");
    assert_eq!(num(m["zk_num_alive_connections"]), n as i64 + 1);
    assert_eq!(num(m["zk_znode_count"]), nodes);
    assert_eq!(num(m["zk_global_sessions"]), n as i64);
    assert_eq!(m["zk_watch_count"], "4", "3 data watches and 1 child watch");
    // 44 bytes of paths in a fresh tree, plus "/fw" and "/fw/eph".
    assert_eq!(m["zk_approximate_data_size"], "54");
    assert!(num(m["zk_open_file_descriptor_count"]) > n as i64);
    assert!(num(m["zk_max_file_descriptor_count"]) >= num(m["zk_open_file_descriptor_count"]));

    // conf
    let text = ask(&srv, "conf");
    let c = pairs(&text, "=");
    let keys: Vec<&str> = c.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "clientPort",
            "secureClientPort",
            "dataDir",
            "dataDirSize",
            "dataLogDir",
            "dataLogSize",
            "tickTime",
            "maxClientCnxns",
            "minSessionTimeout",
            "maxSessionTimeout",
            "clientPortListenBacklog",
            "serverId"
        ]
    );
    assert_eq!(c[0].1, srv.port.to_string());
    assert_eq!(c[1].1, "-1");
    assert!(c[2].1.ends_with("/data/version-2"), "{}", c[2].1);
    num(c[3].1);
    assert_eq!(c[6].1, "2000");
    assert_eq!(c[8].1, "4000");
    assert_eq!(c[9].1, "40000");
    assert_eq!(c[11].1, "0");

    // envi
    let text = ask(&srv, "envi");
    let (first, rest) = text.split_once('\n').unwrap();
    assert_eq!(first, "Environment:");
    let keys: Vec<&str> = pairs(rest, "=").iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "zookeeper.version",
            "host.name",
            "java.version",
            "java.vendor",
            "java.home",
            "java.class.path",
            "java.library.path",
            "java.io.tmpdir",
            "java.compiler",
            "os.name",
            "os.arch",
            "os.version",
            "user.name",
            "user.home",
            "user.dir",
            "os.memory.free",
            "os.memory.max",
            "os.memory.total"
        ]
    );
    // kazoo's server_version() takes the digits before the first '-'.
    let v = pairs(rest, "=")[0].1;
    let digits: Vec<&str> = v.split('-').next().unwrap().split('.').collect();
    assert_eq!(digits[..2], ["3", "8"], "{v}");
    check_version(v);

    // dump
    let text = ask(&srv, "dump");
    let (sessions, rest) = text.split_once("ephemeral nodes dump:\n").unwrap();
    let (ephemerals, conns) = rest.split_once("Connections dump:\n").unwrap();
    let mut sl = sessions.lines();
    assert_eq!(sl.next(), Some("SessionTracker dump:"));
    let sets = sl.next().unwrap();
    assert!(
        sets.starts_with("Session Sets (") && sets.ends_with(&format!(")/({n}):")),
        "{sets}"
    );
    let listed: BTreeSet<String> = sl
        .filter_map(|l| l.strip_prefix('\t'))
        .map(String::from)
        .collect();
    let all: BTreeSet<String> = (0..n).map(sid).collect();
    assert_eq!(listed, all);
    assert!(sessions.contains(" expire at ") && sessions.contains(" UTC 20"));
    assert_eq!(
        ephemerals,
        format!("Sessions with Ephemerals (1):\n{}:\n\t/fw/eph\n", sid(0))
    );
    let first = conns.lines().next().unwrap();
    assert!(
        first.starts_with("Connections Sets (") && first.ends_with(&format!(")/({}):", n + 1)),
        "{first}"
    );
    let mut seen = BTreeSet::new();
    for l in conns
        .lines()
        .filter_map(|l| l.strip_prefix("\tip: /127.0.0.1:"))
    {
        let (port, session) = l.split_once(" sessionId: ").unwrap();
        seen.insert(port.parse::<u16>().unwrap());
        if session != "0x0" {
            assert!(all.contains(session), "{l}");
        }
    }
    assert!(seen.is_superset(&w.ports) && seen.len() == n + 1, "{text}");

    // wchs, wchc, wchp: data watches only, keyed by session.
    assert_eq!(
        ask(&srv, "wchs"),
        "2 connections watching 3 paths\nTotal watches:3\n"
    );
    let parse_dump = |text: &str| -> BTreeMap<String, BTreeSet<String>> {
        assert!(text.ends_with("\n\n"), "{text:?}");
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut key = String::new();
        for l in text.lines().filter(|l| !l.is_empty()) {
            match l.strip_prefix('\t') {
                Some(v) => {
                    m.get_mut(&key).unwrap().insert(v.to_string());
                }
                None => {
                    key = l.to_string();
                    m.insert(key.clone(), BTreeSet::new());
                }
            }
        }
        m
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let wchc = parse_dump(&ask(&srv, "wchc"));
    assert_eq!(
        wchc,
        BTreeMap::from([
            (sid(0), set(&["/fw"])),
            (sid(1), set(&["/fw/eph", "/nothere"])),
        ])
    );
    let wchp = parse_dump(&ask(&srv, "wchp"));
    assert_eq!(
        wchp,
        BTreeMap::from([
            ("/fw".to_string(), set(&[&sid(0)])),
            ("/fw/eph".to_string(), set(&[&sid(1)])),
            ("/nothere".to_string(), set(&[&sid(1)])),
        ])
    );

    // dirs
    let text = ask(&srv, "dirs");
    let d = pairs(&text, ": ");
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].0, d[1].0), ("datadir_size", "logdir_size"));
    num(d[0].1);
    num(d[1].1);

    // gtmk, stmk, hash
    assert_eq!(ask(&srv, "gtmk"), "306");
    let mut stmk = b"stmk".to_vec();
    stmk.extend_from_slice(&5i64.to_be_bytes());
    assert_eq!(ask_raw(&srv, &stmk, false), "5");
    assert_eq!(ask(&srv, "gtmk"), "5");
    stmk.truncate(4);
    stmk.extend_from_slice(&306i64.to_be_bytes());
    assert_eq!(ask_raw(&srv, &stmk, false), "306");
    assert_eq!(srv.four_letter("hash"), "");

    // `echo srvr | nc`: a trailing newline and a half-closed socket.
    let text = ask_raw(&srv, b"srvr\n", true);
    assert!(text.starts_with("Zookeeper version: ") && text.ends_with("Node count: 7\n"));

    // crst resets every connection's counters, on every shard.
    assert_eq!(ask(&srv, "crst"), "Connection stats reset.\n");
    let text = ask(&srv, "cons");
    for l in conn_lines(&text) {
        if l.interest == "0" {
            continue;
        }
        let f = &l.fields;
        assert_eq!(
            (f["recved"].as_str(), f["sent"].as_str()),
            ("0", "0"),
            "{text}"
        );
        assert_eq!(f["lop"], "NA");
        assert_eq!(f["lzxid"], "0xffffffffffffffff");
        assert!(!f.contains_key("lcxid"));
        assert_eq!((f["llat"].as_str(), f["maxlat"].as_str()), ("0", "0"));
    }

    // srst resets the server counters on every shard: the next srvr sees
    // only srst's answer sent and its own request received.
    assert_eq!(ask(&srv, "srst"), "Server stats reset.\n");
    let text = ask(&srv, "srvr");
    let lines = pairs(&text, ": ");
    assert_eq!(
        lines[1],
        (
            "Latency min/avg/max",
            if against_reference() {
                "0/0.0/0"
            } else {
                "0/0/0"
            }
        )
    );
    assert_eq!(lines[2], ("Received", "1"), "{text}");
    assert_eq!(lines[3], ("Sent", "1"), "{text}");

    // The clients still work, and the probes came from every shard.
    w.clients[3].ping();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !against_reference() && cpus >= 2 {
        let shards = probe_shards(&srv);
        assert!(shards.len() >= 2, "every probe landed on shard {shards:?}");
    }
}

#[test]
fn words_off_the_whitelist_are_refused() {
    let srv = Server::opts()
        .cfg("4lw.commands.whitelist", "ruok, conf")
        .start();
    let _c = Raw::connect(&srv.addr());
    assert_eq!(srv.four_letter("ruok"), "imok");
    assert!(srv.four_letter("conf").starts_with("clientPort="));
    // srvr is always enabled (zkServer.sh status needs it).
    assert!(srv.four_letter("srvr").starts_with("Zookeeper version: "));
    for w in [
        "stat", "mntr", "envi", "cons", "crst", "srst", "dump", "wchs", "wchc", "wchp", "dirs",
        "isro", "gtmk", "stmk", "hash",
    ] {
        assert_eq!(
            srv.four_letter(w),
            format!("{w} is not executed because it is not in the whitelist.\n")
        );
    }
    // The refused probes still count as packets received.
    let text = srv.four_letter("srvr");
    let received = pairs(&text, ": ")
        .into_iter()
        .find(|(k, _)| *k == "Received")
        .map(|(_, v)| num(v))
        .unwrap();
    assert!(received >= 19, "{text}");
}
