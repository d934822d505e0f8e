//! Process and host facts some four-letter words print (`mntr`, `envi`,
//! `conf`, `dirs`), and the process and executor figures of `/metrics`
//! ([`process`]), read from `/proc` and the data directories.
//!
//! Small blocking reads, done on the asking shard only when such a word is
//! asked, or on the AdminServer's thread for `/metrics`; the formatting
//! lives in [`crate::protocol::fourlw`] and [`crate::admin::metrics`].

use crate::protocol::fourlw::{EnvFacts, OsFacts};
use std::path::Path;

/// Bytes in the files under `path`, recursively (ZooKeeper's `getDirSize`;
/// 0 when it does not exist).
pub fn dir_size(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Open and maximum file descriptors (as the JVM's `OSMXBean` reports them:
/// the entries of `/proc/self/fd`, and the soft `RLIMIT_NOFILE`).
pub fn os() -> OsFacts {
    let open_fds = std::fs::read_dir("/proc/self/fd")
        // The directory being read holds one descriptor itself.
        .map(|rd| rd.count() as i64 - 1)
        .unwrap_or(-1);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l["Max open files".len()..].split_whitespace().next())
                .and_then(|v| v.parse::<i64>().ok())
        })
        .unwrap_or(-1);
    OsFacts { open_fds, max_fds }
}

/// What `/metrics` shows of the process beside the gathered facts: the
/// figures of the Prometheus Java client's `process_*` exports, and the CPU
/// time of each executor thread (`None`/empty where `/proc` cannot say).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessFacts {
    /// User plus system CPU time of the whole process, in seconds.
    pub cpu_seconds: Option<f64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
    pub virtual_memory_bytes: Option<u64>,
    pub resident_memory_bytes: Option<u64>,
    /// Per executor (`sequencer`, `log`, `zab`, `shard-N`: the names
    /// `server::run` gives them), the user plus system CPU seconds of its
    /// threads (the executor's own and glommio's helper of the same name).
    pub executors: Vec<(String, f64)>,
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The executor a thread belongs to, from its name: glommio names an
/// executor's threads `<name>-<executor id>` (`shard-0-3`, `sequencer-2`; `core-0-1` for the roles sharing CPU 0's
/// executor).
fn executor_of(comm: &str) -> Option<&str> {
    let (name, id) = comm.rsplit_once('-')?;
    let ours = matches!(name, "sequencer" | "log" | "zab")
        || name.strip_prefix("shard-").is_some_and(all_digits)
        || name.strip_prefix("core-").is_some_and(all_digits);
    (ours && all_digits(id)).then_some(name)
}

/// The fields of a `/proc/.../stat` line after the command name (which may
/// hold spaces and parentheses), numbered from 3 as in proc(5).
fn stat_fields(stat: &str) -> Option<(String, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    Some((comm, stat.get(close + 1..)?.split_whitespace().collect()))
}

/// utime + stime (fields 14 and 15) of a stat line, in clock ticks.
fn stat_ticks(fields: &[&str]) -> Option<u64> {
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` figure of `/proc/self/status`, in bytes.
fn status_bytes(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// [`ProcessFacts`] of this process, from `/proc/self`.
pub fn process() -> ProcessFacts {
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let tick = if tick > 0 { tick as f64 } else { 100.0 };
    let mut p = ProcessFacts::default();
    if let Some((_, f)) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .as_deref()
        .and_then(stat_fields)
    {
        p.cpu_seconds = stat_ticks(&f).map(|t| t as f64 / tick);
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        let started: Option<u64> = f.get(22 - 3).and_then(|v| v.parse().ok());
        if let (Some(boot), Some(started)) = (boot, started) {
            p.start_time_seconds = Some(boot as f64 + started as f64 / tick);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        p.virtual_memory_bytes = status_bytes(&status, "VmSize");
        p.resident_memory_bytes = status_bytes(&status, "VmRSS");
    }
    let mut executors = std::collections::BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                continue;
            };
            let Some((comm, f)) = stat_fields(&stat) else {
                continue;
            };
            if let (Some(name), Some(ticks)) = (executor_of(&comm), stat_ticks(&f)) {
                *executors.entry(name.to_string()).or_insert(0.0) += ticks as f64 / tick;
            }
        }
    }
    p.executors = executors.into_iter().collect();
    p
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A `kB` figure of a `/proc` file such as `/proc/meminfo`, in MB.
fn proc_mb(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

/// The login name of the process's user: `$USER`, else `/etc/passwd`.
fn user_name() -> Option<String> {
    if let Ok(u) = std::env::var("USER") {
        if !u.is_empty() {
            return Some(u);
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}

/// What `envi` prints about the host and process.
pub fn env() -> EnvFacts {
    let arch = match std::env::consts::ARCH {
        // Java's `os.arch` names.
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    };
    EnvFacts {
        host_name: read_trimmed("/proc/sys/kernel/hostname"),
        tmp_dir: Some(std::env::temp_dir().display().to_string()),
        os_name: read_trimmed("/proc/sys/kernel/ostype").or(Some("Linux".into())),
        os_arch: Some(arch.to_string()),
        os_version: read_trimmed("/proc/sys/kernel/osrelease"),
        user_name: user_name(),
        user_home: std::env::var("HOME").ok(),
        user_dir: std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
        mem_free_mb: proc_mb("/proc/meminfo", "MemAvailable"),
        mem_max_mb: proc_mb("/proc/meminfo", "MemTotal"),
        mem_total_mb: proc_mb("/proc/self/status", "VmRSS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let o = os();
        assert!(o.open_fds >= 3, "{o:?}");
        assert!(o.max_fds >= o.open_fds, "{o:?}");
        let e = env();
        assert_eq!(e.os_name.as_deref(), Some("Linux"));
        assert!(e.mem_max_mb.unwrap_or(0) > 0 && e.mem_total_mb.is_some());
        let p = process();
        assert!(p.cpu_seconds.is_some_and(|s| s >= 0.0), "{p:?}");
        assert!(p.start_time_seconds.is_some_and(|s| s > 1.5e9), "{p:?}");
        assert!(p.resident_memory_bytes.unwrap_or(0) > 0, "{p:?}");
        assert!(p.virtual_memory_bytes >= p.resident_memory_bytes, "{p:?}");
        assert_eq!(executor_of("shard-12-14"), Some("shard-12"));
        assert_eq!(executor_of("sequencer-2"), Some("sequencer"));
        assert_eq!(executor_of("core-0-1"), Some("core-0"));
        for other in [
            "shard-3",
            "shard--1",
            "shard-x-1",
            "sequencer",
            "main-1",
            "log-",
            "core-x-1",
        ] {
            assert_eq!(executor_of(other), None, "{other}");
        }
        let (comm, f) = stat_fields("7 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13").unwrap();
        assert_eq!((comm.as_str(), stat_ticks(&f)), ("a (b) c", Some(23)));
        let dir = std::env::temp_dir().join(format!("corral-facts-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("version-2")).unwrap();
        std::fs::write(dir.join("version-2/a"), [0u8; 10]).unwrap();
        std::fs::write(dir.join("b"), [0u8; 5]).unwrap();
        assert_eq!(dir_size(&dir.join("version-2")), 10);
        assert_eq!(dir_size(&dir), 15);
        assert_eq!(dir_size(&dir.join("missing")), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
