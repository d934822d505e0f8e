//! The canned-reply ceiling: a server that speaks just enough of
//! ZooKeeper's protocol for zkbench, and does no ZooKeeper work at all.
//!
//! It parses each frame (length, xid, opcode) and writes a fixed answer:
//! a ConnectResponse to the first frame, a GetDataResponse of
//! `--value-size` bytes to getData, a Stat to setData and exists, the path
//! to create, an empty body to anything else. Every reply to the frames
//! one read brought in goes out in one write. It runs on the same
//! substrate as corral (`shards`: one pinned glommio executor a core,
//! `SO_REUSEPORT` listeners, `FrameBuf`, and by default the CPUs of
//! corral's client-serving shards), so corral's CPU per op over the
//! ceiling's is what ZooKeeper's semantics cost corral, and the ceiling's
//! own CPU per op is the floor of this machine's network stack.
//!
//!   ceiling --port 2181 --value-size 100 [--shards N]
//!
//! It answers `srvr` with a version line, for bench/serving.py.

use clap::Parser;
use glommio::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ceiling",
    about = "canned-reply ZooKeeper-protocol server (a CPU floor)"
)]
struct Args {
    #[arg(long, default_value_t = 2181)]
    port: u16,
    /// Bytes of data in every getData reply.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Executors (one a CPU, from CPU 0); default: the CPUs that serve
    /// clients in corral's default core map (`shards::coremap`: on 2 CPUs
    /// one executor on CPU 0, as corral's one shard), so that both serve
    /// the same load on the same cores.
    #[arg(long)]
    shards: Option<usize>,
}

const GET_DATA: i32 = 4;
const SET_DATA: i32 = 5;
const EXISTS: i32 = 3;
const CREATE: i32 = 1;
const CLOSE_SESSION: i32 = -11;
/// The largest frame it takes (jute.maxbuffer's default).
const MAX_FRAME: usize = 0xfffff;

fn stat() -> [u8; 68] {
    // czxid mzxid ctime mtime version cversion aversion ephemeralOwner
    // dataLength numChildren pzxid: any fixed values do.
    let mut s = [0u8; 68];
    s[0..8].copy_from_slice(&1i64.to_be_bytes());
    s[8..16].copy_from_slice(&1i64.to_be_bytes());
    s
}

/// The fixed bodies, built once an executor.
struct Canned {
    get: Vec<u8>,
    stat: Vec<u8>,
}

impl Canned {
    fn new(value_size: usize) -> Canned {
        let mut get = Vec::with_capacity(4 + value_size + 68);
        get.extend_from_slice(&(value_size as i32).to_be_bytes());
        get.resize(4 + value_size, b'v');
        get.extend_from_slice(&stat());
        Canned {
            get,
            stat: stat().to_vec(),
        }
    }
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Appends the reply to one request frame; false: close after writing.
fn answer(frame: &[u8], canned: &Canned, out: &mut Vec<u8>) -> bool {
    let (Some(xid), Some(opcode)) = (be_i32(frame, 0), be_i32(frame, 4)) else {
        return false;
    };
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&1i64.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    match opcode {
        GET_DATA => out.extend_from_slice(&canned.get),
        SET_DATA | EXISTS => out.extend_from_slice(&canned.stat),
        // The path asked for is the path made (no sequence nodes here).
        CREATE => {
            let len = be_i32(frame, 8).unwrap_or(0).max(0) as usize;
            match frame.get(8..12 + len) {
                Some(path) => out.extend_from_slice(path),
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        _ => {}
    }
    let n = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&n.to_be_bytes());
    opcode != CLOSE_SESSION
}

fn connect_response(out: &mut Vec<u8>, session: i64) {
    // protocolVersion, timeOut, sessionId, passwd (16 bytes), readOnly.
    let body_len: i32 = 4 + 4 + 8 + 4 + 16 + 1;
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&30_000i32.to_be_bytes());
    out.extend_from_slice(&session.to_be_bytes());
    out.extend_from_slice(&16i32.to_be_bytes());
    out.extend_from_slice(&[0u8; 16]);
    out.push(0);
}

async fn serve(mut s: TcpStream, canned: &Canned, session: i64) -> std::io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut fb = shards::frame::FrameBuf::new(MAX_FRAME);
    let mut out = Vec::with_capacity(64 << 10);
    let mut connected = false;
    loop {
        let n = s.read(fb.spare(4096)).await?;
        if n == 0 {
            return Ok(());
        }
        fb.filled(n);
        if !connected && fb.peek4() == Some(*b"srvr") {
            s.write_all(b"Zookeeper version: corral-bench ceiling\n")
                .await?;
            return Ok(());
        }
        let mut open = true;
        while let Some(frame) = fb
            .next_frame()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?
        {
            if !connected {
                connected = true;
                connect_response(&mut out, session);
            } else if !answer(frame, canned, &mut out) {
                open = false;
                break;
            }
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        if !open {
            return Ok(());
        }
    }
}

fn main() {
    let a = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placement: Vec<usize> = match a.shards {
        Some(n) => (0..n.clamp(1, cpus)).collect(),
        None => shards::coremap::CoreMap::detect().shards,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port));
    let mut handles = Vec::new();
    for cpu in placement {
        let listener = match shards::listen::shard_listener(addr, 1024) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ceiling: cannot listen on {addr}: {e}");
                std::process::exit(2);
            }
        };
        let value_size = a.value_size;
        let h = shards::exec::spawn_pinned("ceiling", cpu, move || async move {
            // SAFETY: the fd comes from a listening std socket we own.
            let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
            let canned: &'static Canned = Box::leak(Box::new(Canned::new(value_size)));
            let mut next = (cpu as i64) << 32;
            loop {
                let Ok(stream) = listener.accept().await else {
                    continue;
                };
                next += 1;
                let session = next;
                glommio::spawn_local(async move {
                    let _ = serve(stream, canned, session).await;
                })
                .detach();
            }
        });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("ceiling: {e}");
                std::process::exit(2);
            }
        }
    }
    for h in handles {
        let _ = h.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_framed_with_the_request_xid() {
        let c = Canned::new(10);
        let mut frame = Vec::new();
        frame.extend_from_slice(&7i32.to_be_bytes());
        frame.extend_from_slice(&GET_DATA.to_be_bytes());
        let mut out = Vec::new();
        assert!(answer(&frame, &c, &mut out));
        assert_eq!(be_i32(&out, 0), Some((out.len() - 4) as i32));
        assert_eq!(be_i32(&out, 4), Some(7));
        assert_eq!(be_i32(&out, 20), Some(10));
        assert_eq!(out.len(), 4 + 16 + 4 + 10 + 68);
    }

    #[test]
    fn create_echoes_the_path() {
        let c = Canned::new(1);
        let mut frame = Vec::new();
        frame.extend_from_slice(&1i32.to_be_bytes());
        frame.extend_from_slice(&CREATE.to_be_bytes());
        frame.extend_from_slice(&3i32.to_be_bytes());
        frame.extend_from_slice(b"/ab");
        frame.extend_from_slice(&[0; 8]);
        let mut out = Vec::new();
        answer(&frame, &c, &mut out);
        assert_eq!(&out[20..], &[0, 0, 0, 3, b'/', b'a', b'b']);
    }
}
