//! Process and host facts some four-letter words print (`mntr`, `envi`,
//! `conf`, `dirs`), read from `/proc` and the data directories.
//!
//! Small blocking reads, done on the asking shard only when such a word is
//! asked; the formatting lives in [`crate::protocol::fourlw`].

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
