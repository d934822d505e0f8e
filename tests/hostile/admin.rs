//! Hostile tests: the AdminServer and the four-letter words (issue 13,
//! items 3, 8 and 12). What an unauthenticated HTTP client may see, what a
//! few slow HTTP clients may hold, and what a server that is not serving
//! answers.

use crate::common::ensemble::{Ensemble, Kind};
use crate::common::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// One HTTP GET: the status and the body ("" and 0 when nothing came).
fn get(port: u16, target: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Waits until `f` holds (up to 20 s).
fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

// ------------------------------------------------------------- item 12

/// A member of a 3-server ensemble started alone never finds a leader:
/// every word and command ZooKeeper gates on serving says so, and none
/// prints a `Mode:` a health check would take for ready.
#[test]
fn a_member_without_a_leader_says_it_is_not_serving() {
    let admin = free_port();
    let mut e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral])
        .cfg("admin.enableServer", "true")
        .cfg("admin.serverAddress", "127.0.0.1")
        .cfg("admin.serverPort", &admin.to_string());
    e.start(0);
    wait("the lone member to answer ruok", || {
        e.four_letter(0, "ruok") == "imok"
    });
    wait("the AdminServer", || get(admin, "/commands/ruok").0 == 200);
    for w in [
        "srvr", "stat", "mntr", "cons", "conf", "dump", "wchs", "wchc", "wchp", "crst", "srst",
        "dirs",
    ] {
        assert_eq!(e.four_letter(0, w), format!("{NOT_SERVING}\n"), "{w}");
    }
    assert_eq!(e.four_letter(0, "hash"), NOT_SERVING);
    assert_eq!(e.four_letter(0, "isro"), "null");
    assert!(e.mode(0).is_none(), "no Mode: while looking");
    // Not gated in ZooKeeper 3.8.
    assert_eq!(e.four_letter(0, "ruok"), "imok");
    assert!(e.four_letter(0, "envi").starts_with("Environment:\n"));
    assert!(e.four_letter(0, "gtmk").trim().parse::<i64>().is_ok());

    for name in [
        "srvr",
        "server_stats",
        "stats",
        "connections",
        "dump",
        "ruok",
        "configuration",
        "dirs",
        "watches",
        "watch_summary",
        "is_read_only",
        "stat_reset",
    ] {
        let (status, body) = get(admin, &format!("/commands/{name}"));
        assert_eq!(status, 200, "{name}: {body}");
        let v = json(&body);
        assert_eq!(v["error"], NOT_SERVING, "{name}: {body}");
        assert_eq!(v["command"], name, "{name}: {body}");
        assert!(v.get("server_stats").is_none(), "{name}: {body}");
    }
    for name in ["environment", "get_trace_mask", "system_properties"] {
        let (status, body) = get(admin, &format!("/commands/{name}"));
        assert_eq!(status, 200, "{name}: {body}");
        assert!(json(&body)["error"].is_null(), "{name}: {body}");
    }
    let (_, body) = get(admin, "/commands/monitor");
    assert_eq!(json(&body)["server_state"], "looking", "{body}");
}
