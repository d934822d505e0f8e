//! Starting pinned glommio executors.
//!
//! One OS thread per executor, pinned to its CPU. Executors that share a CPU
//! never spin while idle (glommio's default), so they do not steal the core
//! from each other. The roles a core map places on one CPU run on one
//! executor each or, with [`Executors::PerCpu`], as tasks of one executor.

pub use crate::coremap::Executors;
pub use glommio::ExecutorJoinHandle as JoinHandle;
use glommio::{LocalExecutorBuilder, Placement};
use std::future::Future;
use std::pin::Pin;

/// glommio's registered buffer pool per executor, for DMA file I/O. corral
/// reads and writes through sockets and buffered files only, so the pool
/// is not used: the 10 MiB default would be resident, and locked, memory
/// in every executor for nothing. glommio's floor is 64 KiB.
const IO_MEMORY: usize = 64 << 10;

/// Why an executor could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {name} executor on CPU {cpu}: {source}")]
pub struct SpawnError {
    pub name: String,
    pub cpu: usize,
    #[source]
    pub source: glommio::GlommioError<()>,
}

/// Starts an executor named `name`, pinned to `cpu`, running the future
/// that `make` builds on that thread.
pub fn spawn_pinned<F, Fut>(name: &str, cpu: usize, make: F) -> Result<JoinHandle<()>, SpawnError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .name(name)
        .io_memory(IO_MEMORY)
        .spawn(make)
        .map_err(|source| SpawnError {
            name: name.to_string(),
            cpu,
            source,
        })
}

/// A role's future, built on the thread of the executor that runs it.
pub type MakeRole = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A role to start: its name, its CPU, and how to build its future.
pub struct Role {
    pub name: String,
    pub cpu: usize,
    pub make: MakeRole,
}

impl Role {
    pub fn new<F, Fut>(name: impl Into<String>, cpu: usize, make: F) -> Role
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Role {
            name: name.into(),
            cpu,
            make: Box::new(move || Box::pin(make())),
        }
    }
}

/// One executor's share of the roles.
pub struct Group {
    /// The executor's name: its role's, or `core-N` for several on CPU N
    /// (a thread name holds 15 bytes: `shard-0+sequencer+log` would be cut).
    pub name: String,
    pub cpu: usize,
    pub roles: Vec<Role>,
}

impl Group {
    /// The names of the roles it runs.
    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }
}

/// The executors that run `roles`: one per role, or with
/// [`Executors::PerCpu`] one per CPU, in the order the roles first name
/// their CPUs.
pub fn group(roles: Vec<Role>, executors: Executors) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for role in roles {
        let at = match executors {
            Executors::PerRole => None,
            Executors::PerCpu => groups.iter().position(|g| g.cpu == role.cpu),
        };
        match at {
            Some(i) => {
                let g = &mut groups[i];
                g.name = format!("core-{}", g.cpu);
                g.roles.push(role);
            }
            None => groups.push(Group {
                name: role.name.clone(),
                cpu: role.cpu,
                roles: vec![role],
            }),
        }
    }
    groups
}

/// Starts the executors that run `roles` (see [`group`]). `around` wraps
/// each executor's work, given the executor's name and its roles' names:
/// the roles run as its tasks, and the executor ends when all of them have.
pub fn spawn_roles<W>(
    roles: Vec<Role>,
    executors: Executors,
    around: W,
) -> Result<Vec<JoinHandle<()>>, SpawnError>
where
    W: Fn(
            String,
            Vec<String>,
            Pin<Box<dyn Future<Output = ()>>>,
        ) -> Pin<Box<dyn Future<Output = ()>>>
        + Clone
        + Send
        + 'static,
{
    group(roles, executors)
        .into_iter()
        .map(|g| {
            let around = around.clone();
            let (label, names) = (g.name.clone(), g.role_names());
            spawn_pinned(&g.name, g.cpu, move || {
                let work: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
                    let tasks: Vec<glommio::task::JoinHandle<()>> = g
                        .roles
                        .into_iter()
                        .map(|r| glommio::spawn_local((r.make)()).detach())
                        .collect();
                    for t in tasks {
                        t.await;
                    }
                });
                around(label, names, work)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, cpu: usize) -> Role {
        Role::new(name, cpu, || async {})
    }

    fn names(g: &[Group]) -> Vec<(String, usize)> {
        g.iter().map(|g| (g.name.clone(), g.cpu)).collect()
    }

    #[test]
    fn roles_on_one_cpu_share_an_executor_only_per_cpu() {
        let roles = || vec![role("log", 1), role("sequencer", 1), role("shard-0", 0)];
        assert_eq!(
            names(&group(roles(), Executors::PerRole)),
            vec![
                ("log".to_string(), 1),
                ("sequencer".to_string(), 1),
                ("shard-0".to_string(), 0)
            ]
        );
        assert_eq!(
            names(&group(roles(), Executors::PerCpu)),
            vec![("core-1".to_string(), 1), ("shard-0".to_string(), 0)]
        );
        let g = group(roles(), Executors::PerCpu);
        assert_eq!(g[0].role_names(), vec!["log", "sequencer"]);
    }

    #[test]
    fn an_executor_of_several_roles_runs_them_all_and_their_channels_connect() {
        use glommio::channels::shared_channel;
        let (tx, rx) = shared_channel::new_bounded::<u32>(4);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let roles = vec![
            Role::new("a", 0, move || async move {
                let tx = tx.connect().await;
                for i in 0..10 {
                    tx.send(i).await.unwrap_or_else(|_| panic!("send {i}"));
                }
            }),
            Role::new("b", 0, move || async move {
                let rx = rx.connect().await;
                let mut sum = 0;
                while let Some(i) = rx.recv().await {
                    sum += i;
                }
                done_tx.send(sum).unwrap();
            }),
        ];
        let handles = spawn_roles(roles, Executors::PerCpu, |_, _, w| w).unwrap();
        assert_eq!(handles.len(), 1);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(done_rx.recv().unwrap(), 45);
    }
}
