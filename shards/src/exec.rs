//! Starting pinned glommio executors.
//!
//! One OS thread per executor, pinned to its CPU. Executors that share a CPU
//! never spin while idle (glommio's default), so they do not steal the core
//! from each other.

pub use glommio::ExecutorJoinHandle as JoinHandle;
use glommio::{LocalExecutorBuilder, Placement};
use std::future::Future;

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
