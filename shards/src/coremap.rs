//! The core map: which CPU runs each role.
//!
//! Roles: `shards` (one executor per listed CPU, each serving client
//! connections), `sequencer` (prep, apply, sessions, and the election and
//! Zab rules), `log` (the txn log and snapshots) and, in an ensemble, `zab`
//! (the quorum sockets: election connections, learner links, the leader
//! link). Several roles may share one CPU; on a 2-core machine they must.

use serde::Deserialize;
use std::path::Path;

/// Placement of every role on a CPU id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreMap {
    /// One client-serving shard per entry, pinned to that CPU.
    pub shards: Vec<usize>,
    /// The CPU of the sequencer (the single writer).
    pub sequencer: usize,
    /// The CPU of the log core.
    pub log: usize,
    /// The CPU of the zab core (an ensemble member's quorum sockets);
    /// left out, see [`CoreMap::zab_cpu`]. Standalone starts none.
    #[serde(default)]
    pub zab: Option<usize>,
    /// How the roles placed on one CPU run; left out, [`Executors::PerRole`].
    #[serde(default)]
    pub executors: Executors,
}

/// How the roles that a core map places on one CPU run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Executors {
    /// One executor thread per role: roles on one CPU are threads that the
    /// kernel switches between, so each hand-off between them is a sleep
    /// and a wake-up of a thread.
    #[default]
    PerRole,
    /// One executor thread per CPU: the roles placed on it are tasks of
    /// that executor, so a hand-off between them is a task wake-up.
    PerCpu,
}

/// Why a core map could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CoreMapError {
    #[error("core map {path}: cannot read it: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("core map {path}: {message}")]
    Parse { path: String, message: String },
    #[error("core map {path}: {message}")]
    Invalid { path: String, message: String },
}

impl CoreMap {
    /// The default placement for a machine with `cpus` usable CPUs.
    ///
    /// - 1–2 CPUs: every role on CPU 0, as tasks of one executor. On 2
    ///   CPUs with the clients on the same machine, this cost setData 27–35%
    ///   less CPU per op than a shard on CPU 0 and the sequencer and the log
    ///   on CPU 1 as three threads, at the same throughput (32 × 8) or 7%
    ///   less (8 × 1, p50 +50 µs), and getData the same: every write's
    ///   hand-offs (shard, sequencer, log and back) were thread switches,
    ///   now task wake-ups (`bench/RESULTS.md`, run 27). The other CPU is
    ///   left to the kernel's network work, the fsyncs' io_uring workers and
    ///   the snapshot thread.
    /// - 3 CPUs: the sequencer and the log share the last CPU, shards the
    ///   rest. (A shard on the sequencer's CPU as a thread of its own was
    ///   measured on 2 CPUs: 35% more CPU per getData, a 3× worse p99, and
    ///   no gain for writes; `bench/RESULTS.md`, run 8.)
    /// - 4+ CPUs: the sequencer and the log get a CPU each at the top, the
    ///   rest serve clients.
    pub fn for_cpus(cpus: usize) -> CoreMap {
        let cpus = cpus.max(1);
        match cpus {
            1 | 2 => CoreMap {
                shards: vec![0],
                sequencer: 0,
                log: 0,
                zab: None,
                executors: Executors::PerCpu,
            },
            3 => CoreMap {
                shards: vec![0, 1],
                sequencer: 2,
                log: 2,
                zab: None,
                executors: Executors::default(),
            },
            _ => CoreMap {
                shards: (0..cpus - 2).collect(),
                sequencer: cpus - 1,
                log: cpus - 2,
                zab: None,
                executors: Executors::default(),
            },
        }
    }

    /// The zab core's CPU: its own; else the log core's when the log has
    /// a CPU apart from the sequencer; else the first shard's. (On 2 CPUs
    /// the zab core beside the sequencer and the log cost a 3-server
    /// ensemble 30% of its setData throughput and 0.9 ms per write at low
    /// load, against 9% and 0.1 ms beside the shard: three executors
    /// taking turns on one CPU for every proposal and ack; `bench/
    /// RESULTS.md`, run 18.)
    pub fn zab_cpu(&self) -> usize {
        match self.zab {
            Some(c) => c,
            None if self.log != self.sequencer => self.log,
            None => self.shards.first().copied().unwrap_or(self.log),
        }
    }

    /// The default placement for this machine.
    pub fn detect() -> CoreMap {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        CoreMap::for_cpus(cpus)
    }

    /// Parses a core-map file (TOML) and checks it against `cpus`.
    pub fn parse(text: &str, origin: &str, cpus: usize) -> Result<CoreMap, CoreMapError> {
        let map: CoreMap = toml::from_str(text).map_err(|e| CoreMapError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        map.validate(origin, cpus)?;
        Ok(map)
    }

    /// Reads and checks a core-map file.
    pub fn load(path: &Path, cpus: usize) -> Result<CoreMap, CoreMapError> {
        let text = std::fs::read_to_string(path).map_err(|source| CoreMapError::Read {
            path: path.display().to_string(),
            source,
        })?;
        CoreMap::parse(&text, &path.display().to_string(), cpus)
    }

    fn validate(&self, origin: &str, cpus: usize) -> Result<(), CoreMapError> {
        let invalid = |message: String| CoreMapError::Invalid {
            path: origin.to_string(),
            message,
        };
        if self.shards.is_empty() {
            return Err(invalid("`shards` lists no CPU".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for &c in &self.shards {
            if !seen.insert(c) {
                return Err(invalid(format!("CPU {c} is listed twice in `shards`")));
            }
        }
        for (role, c) in self
            .shards
            .iter()
            .map(|c| ("shards", *c))
            .chain([("sequencer", self.sequencer), ("log", self.log)])
            .chain(self.zab.map(|c| ("zab", c)))
        {
            if c >= cpus {
                return Err(invalid(format!(
                    "`{role}` names CPU {c}, but this machine has CPUs 0..{}",
                    cpus.saturating_sub(1)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_machine() {
        assert_eq!(CoreMap::for_cpus(1).shards, vec![0]);
        let two = CoreMap::for_cpus(2);
        assert_eq!(two.shards, vec![0]);
        assert_eq!((two.sequencer, two.log), (0, 0));
        assert_eq!(two.executors, Executors::PerCpu);
        assert_eq!(CoreMap::for_cpus(3).executors, Executors::PerRole);
        let three = CoreMap::for_cpus(3);
        assert_eq!(three.shards, vec![0, 1]);
        assert_eq!((three.sequencer, three.log), (2, 2));
        let sixteen = CoreMap::for_cpus(16);
        assert_eq!(sixteen.shards.len(), 14);
        assert_eq!((sixteen.sequencer, sixteen.log), (15, 14));
        for n in 1..64 {
            let m = CoreMap::for_cpus(n);
            assert!(m.validate("t", n).is_ok(), "{n} cpus: {m:?}");
        }
    }

    #[test]
    fn the_zab_core_is_optional_and_checked() {
        // Left out: the log's CPU when it is not the sequencer's, else the
        // first shard's.
        let m = CoreMap::parse("shards = [0]\nsequencer = 1\nlog = 1\n", "t", 2).unwrap();
        assert_eq!((m.zab, m.zab_cpu()), (None, 0));
        assert_eq!(CoreMap::for_cpus(1).zab_cpu(), 0);
        assert_eq!(CoreMap::for_cpus(4).zab_cpu(), 2);
        let m = CoreMap::parse("shards = [0]\nsequencer = 0\nlog = 1\n", "t", 2).unwrap();
        assert_eq!(m.zab_cpu(), 1);
        let m = CoreMap::parse("shards = [0]\nsequencer = 1\nlog = 1\nzab = 0\n", "t", 2).unwrap();
        assert_eq!(m.zab_cpu(), 0);
        let e = CoreMap::parse("shards = [0]\nsequencer = 1\nlog = 1\nzab = 5\n", "t", 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`zab` names CPU 5"), "{e}");
    }

    #[test]
    fn parse_checks_cpus_and_duplicates() {
        let ok = CoreMap::parse(
            "shards = [0]\nsequencer = 0\nlog = 0\nexecutors = \"per-cpu\"\n",
            "t",
            2,
        )
        .unwrap();
        assert_eq!(ok, CoreMap::for_cpus(2));
        let e = CoreMap::parse("shards=[0]\nsequencer=0\nlog=0\nexecutors=\"one\"", "t", 2);
        assert!(e.unwrap_err().to_string().contains("per-cpu"));
        let e = CoreMap::parse("shards = [0, 4]\nsequencer = 1\nlog = 1\n", "t", 2).unwrap_err();
        assert!(e.to_string().contains("CPU 4"), "{e}");
        let e = CoreMap::parse("shards = [0, 0]\nsequencer = 1\nlog = 1\n", "t", 2).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = CoreMap::parse("shards = []\nsequencer = 0\nlog = 0\n", "t", 2).unwrap_err();
        assert!(e.to_string().contains("no CPU"), "{e}");
        assert!(CoreMap::parse("shards = 1", "t", 2).is_err());
        assert!(CoreMap::parse("shards=[0]\nsequencer=0\nlog=0\nextra=1", "t", 2).is_err());
    }
}
