//! `reqpath`: runs corral's request path with no I/O, N times, for
//! instruction counts under callgrind (`perf/callgrind.sh`).
//!
//! ```text
//! reqpath get|set <ops> [--keys K] [--value-size B]
//! ```
//!
//! `get`: decode a getData packet, answer it from a tree version, frame the
//! reply. `set`: decode a setData packet, prep, apply, append its txn log
//! record (into memory), frame the reply; every 64 writes the log buffer is
//! cleared and a tree version is published (`Arc` of a clone), as the
//! sequencer does per batch. Keys cycle through `--keys` nodes in a
//! scrambled order. What is left out: sockets, io_uring, channels between
//! cores, fsync, watch firing.
//!
//! Run it twice with different op counts and divide the difference in
//! instructions by the difference in ops: that cancels the tree build.

use bytes::BytesMut;
use corral_bench::{build_tree, get_data_packet, key, set_data_packet, ReadSide, Writer};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: reqpath get|set <ops> [--keys K] [--value-size B]";
    let mode = args.get(1).expect(usage).clone();
    let ops: usize = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
    let mut keys = 1000usize;
    let mut value_size = 100usize;
    let mut i = 3;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--keys" => keys = args[i + 1].parse().expect(usage),
            "--value-size" => value_size = args[i + 1].parse().expect(usage),
            _ => panic!("{usage}"),
        }
        i += 2;
    }
    let value = vec![b'v'; value_size];
    let tree = build_tree(keys, &value);
    // The packets are made up front so their encoding is not counted.
    let order = |n: usize| (n.wrapping_mul(7919)) % keys;
    let npk = keys.min(4096);
    let mut out = BytesMut::with_capacity(1 << 16);
    let t0 = Instant::now();
    let mut bytes = 0usize;
    match mode.as_str() {
        "get" => {
            let packets: Vec<BytesMut> = (0..npk)
                .map(|n| get_data_packet(n as i32 + 1, &key(order(n))))
                .collect();
            let version = Arc::new(tree);
            let mut rs = ReadSide::default();
            for n in 0..ops {
                rs.read_packet(&version, &packets[n % npk], &mut out);
                bytes += out.len();
                out.clear();
            }
        }
        "set" => {
            let packets: Vec<BytesMut> = (0..npk)
                .map(|n| set_data_packet(n as i32 + 1, &key(order(n)), &value))
                .collect();
            let mut w = Writer::new(tree);
            let mut published = Arc::new(w.tree.clone());
            for n in 0..ops {
                w.write_packet(&packets[n % npk], &mut out);
                bytes += out.len();
                out.clear();
                if n % 64 == 63 {
                    bytes += w.log.len();
                    w.log.clear();
                    published = Arc::new(w.tree.clone());
                }
            }
            drop(published);
        }
        _ => panic!("{usage}"),
    }
    let el = t0.elapsed();
    println!(
        "{mode}: {ops} ops in {:.3} s, {:.0} ns/op ({bytes} bytes out)",
        el.as_secs_f64(),
        el.as_nanos() as f64 / ops.max(1) as f64
    );
}
