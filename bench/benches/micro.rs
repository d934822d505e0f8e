//! Criterion microbenches of corral's hot paths, through its public API:
//! the jute records of getData/setData/create and their replies, the tree
//! (get, setData and create applied to a tree of 1M nodes, publishing a
//! version), the txn log's record serialisation, and a whole request
//! without I/O.
//!
//! `cargo bench -p corral-bench` runs them (a few minutes on 2 cores);
//! `cargo bench -p corral-bench -- tree/` runs one group. Under
//! `cargo test --all-targets` (no `--bench` flag) criterion runs each
//! bench once, and the big tree shrinks to 10k nodes to keep that quick.
//! `MICRO_NODES=N` sets the tree size.

use bytes::{Bytes, BytesMut};
use corral::data::tree::{open_acl, Tree};
use corral::data::txn::{Txn, TxnBody};
use corral::protocol::jute::{self, op, Jute, Reader};
use corral::storage::txnlog;
use corral_bench::{build_tree, get_data_packet, key, set_data_packet, ReadSide, Writer};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const VALUE: [u8; 100] = [b'v'; 100];

fn nodes() -> usize {
    if let Some(n) = std::env::var("MICRO_NODES")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return n;
    }
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

/// The shared big tree: `/bench/k0000000…` with 100-byte values, as
/// `zkbench --scenario tree` fills it. Built once per process.
fn big_tree() -> &'static (Tree, usize) {
    static TREE: OnceLock<(Tree, usize)> = OnceLock::new();
    TREE.get_or_init(|| {
        let n = nodes();
        let t0 = Instant::now();
        let t = build_tree(n, &VALUE);
        eprintln!(
            "built a tree of {} nodes in {:.1} s",
            t.node_count(),
            t0.elapsed().as_secs_f64()
        );
        (t, n)
    })
}

/// Keys in a scrambled order, so lookups do not walk the map in sequence.
fn scrambled(n: usize, count: usize) -> Vec<String> {
    (0..count).map(|i| key((i * 7919 + 13) % n)).collect()
}

fn stat() -> jute::Stat {
    jute::Stat {
        czxid: 0x1_0000_0003,
        mzxid: 0x1_0000_2af1,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_123_456,
        version: 17,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 100,
        num_children: 0,
        pzxid: 0x1_0000_0003,
    }
}

fn set_data_txn(zxid: i64, path: &str) -> Txn {
    Txn {
        hdr: jute::TxnHeader {
            client_id: corral_bench::SESSION,
            cxid: 42,
            zxid,
            time: 1_700_000_000_000,
            op: op::SET_DATA,
        },
        body: TxnBody::SetData(jute::SetDataTxn {
            path: path.to_string(),
            data: Some(Bytes::from_static(&VALUE)),
            version: 18,
        }),
    }
}

fn jute_records(c: &mut Criterion) {
    let mut g = c.benchmark_group("jute");
    let path = key(123_456);

    let get = get_data_packet(7, &path);
    g.bench_function("decode/getData request (header+body)", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(&get));
            let h = jute::RequestHeader::read(&mut r).unwrap();
            let q = jute::PathWatchRequest::read(&mut r).unwrap();
            black_box((h, q))
        })
    });
    g.bench_function("encode/getData request (header+body)", |b| {
        let mut out = BytesMut::with_capacity(256);
        b.iter(|| {
            out.clear();
            jute::RequestHeader { xid: 7, op: 4 }.write(&mut out);
            jute::PathWatchRequest {
                path: black_box(&path).clone(),
                watch: false,
            }
            .write(&mut out);
            black_box(out.len())
        })
    });

    let set = set_data_packet(8, &path, &VALUE);
    g.bench_function("decode/setData request (header+body)", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(&set));
            let h = jute::RequestHeader::read(&mut r).unwrap();
            let q = jute::SetDataRequest::read(&mut r).unwrap();
            black_box((h, q))
        })
    });
    let set_req = jute::SetDataRequest {
        path: path.clone(),
        data: Some(Bytes::from_static(&VALUE)),
        version: -1,
    };
    g.bench_function("encode/setData request", |b| {
        let mut out = BytesMut::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&set_req).write(&mut out);
            black_box(out.len())
        })
    });

    let create_req = jute::CreateRequest {
        path: path.clone(),
        data: Some(Bytes::from_static(&VALUE)),
        acl: open_acl(),
        flags: 0,
    };
    let create = create_req.encode();
    g.bench_function("decode/create request", |b| {
        b.iter(|| black_box(jute::CreateRequest::decode(black_box(&create)).unwrap()))
    });
    g.bench_function("encode/create request", |b| {
        let mut out = BytesMut::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&create_req).write(&mut out);
            black_box(out.len())
        })
    });

    let reply = jute::GetDataResponse {
        data: Some(Bytes::from_static(&VALUE)),
        stat: stat(),
    };
    let reply_bytes = reply.encode();
    g.bench_function("encode/getData reply (Stat+data)", |b| {
        let mut out = BytesMut::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&reply).write(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode/getData reply (Stat+data)", |b| {
        b.iter(|| black_box(jute::GetDataResponse::decode(black_box(&reply_bytes)).unwrap()))
    });

    let hdr = jute::ReplyHeader {
        xid: 7,
        zxid: 0x1_0000_2af1,
        err: 0,
    };
    let hdr_bytes = hdr.encode();
    g.bench_function("encode/reply header", |b| {
        let mut out = BytesMut::with_capacity(64);
        b.iter(|| {
            out.clear();
            black_box(&hdr).write(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode/reply header", |b| {
        b.iter(|| black_box(jute::ReplyHeader::decode(black_box(&hdr_bytes)).unwrap()))
    });
    g.bench_function(
        "encode/reply frame (corral::protocol::request::frame, getData)",
        |b| {
            let mut out = BytesMut::with_capacity(256);
            b.iter(|| {
                out.clear();
                corral::protocol::request::frame(
                    &mut out,
                    7,
                    0x1_0000_2af1,
                    0,
                    Some(black_box(&reply_bytes)),
                );
                black_box(out.len())
            })
        },
    );

    let txn = set_data_txn(0x1_0000_2af2, &path);
    let txn_bytes = txn.encode();
    g.bench_function("encode/TxnHeader+SetDataTxn", |b| {
        b.iter(|| black_box(black_box(&txn).encode()))
    });
    g.bench_function("decode/TxnHeader+SetDataTxn", |b| {
        b.iter(|| black_box(Txn::decode(black_box(&txn_bytes)).unwrap()))
    });
    g.finish();
}

fn tree_ops(c: &mut Criterion) {
    let (tree, n) = big_tree();
    let n = *n;
    let mut g = c.benchmark_group(format!("tree {}k nodes", n / 1000));
    let keys = scrambled(n, 4096);

    g.bench_function("get", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(tree.get(black_box(&keys[i])).is_some())
        })
    });

    let txns: Vec<Txn> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| set_data_txn(0x2_0000_0000 + i as i64, k))
        .collect();
    g.bench_function("apply setData", |b| {
        let mut t = tree.clone();
        let mut events = Vec::new();
        // Touch every key once first, so the copy-on-write of the clone's
        // shared structure is not what is measured.
        for x in &txns {
            t.apply(x, &mut events);
        }
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            events.clear();
            black_box(t.apply(black_box(&txns[i]), &mut events).err)
        })
    });

    g.bench_function("apply create (new child of a 1M-child parent)", |b| {
        // Creates of fresh nodes in chunks; each chunk is deleted again
        // (untimed) so the tree does not grow without bound.
        let mut t = tree.clone();
        let mut events = Vec::new();
        let mut zxid = 0x3_0000_0000i64;
        let mut next = 0usize;
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(10_000);
                let creates: Vec<Txn> = (0..chunk)
                    .map(|j| {
                        zxid += 1;
                        Txn {
                            hdr: jute::TxnHeader {
                                client_id: corral_bench::SESSION,
                                cxid: 1,
                                zxid,
                                time: 1_700_000_000_000,
                                op: op::CREATE,
                            },
                            body: TxnBody::Create(jute::CreateTxn {
                                path: format!("/bench/new{}", next + j as usize),
                                data: Some(Bytes::from_static(&VALUE)),
                                acl: open_acl(),
                                ephemeral: false,
                                parent_cversion: 0,
                            }),
                        }
                    })
                    .collect();
                next += chunk as usize;
                let t0 = Instant::now();
                for x in &creates {
                    events.clear();
                    black_box(t.apply(x, &mut events).err);
                }
                spent += t0.elapsed();
                for x in &creates {
                    zxid += 1;
                    let del = Txn {
                        hdr: jute::TxnHeader {
                            op: op::DELETE,
                            zxid,
                            ..x.hdr.clone()
                        },
                        body: TxnBody::Delete(jute::DeleteTxn {
                            path: x.body.path().unwrap_or_default().to_string(),
                        }),
                    };
                    events.clear();
                    t.apply(&del, &mut events);
                }
                left -= chunk;
            }
            spent
        })
    });

    g.bench_function("publish a version (Arc of a clone) + apply setData", |b| {
        let mut t = tree.clone();
        let mut events = Vec::new();
        let mut published = Arc::new(t.clone());
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            events.clear();
            t.apply(black_box(&txns[i]), &mut events);
            // The shards hold the previous version until they take this one.
            published = Arc::new(t.clone());
            black_box(&published);
        })
    });
    g.bench_function("clone (Tree::clone alone)", |b| {
        b.iter_batched(|| (), |_| tree.clone(), BatchSize::SmallInput)
    });
    g.finish();
}

fn txnlog_batch(c: &mut Criterion) {
    let (_, n) = big_tree();
    let mut g = c.benchmark_group("txnlog");
    let batch: Vec<Txn> = scrambled(*n, 64)
        .iter()
        .enumerate()
        .map(|(i, k)| set_data_txn(0x4_0000_0000 + i as i64, k))
        .collect();
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("write_record x64 setData (Adler32, 100 B values)", |b| {
        let mut buf = BytesMut::with_capacity(1 << 16);
        b.iter(|| {
            buf.clear();
            for t in &batch {
                txnlog::write_record(&mut buf, black_box(t), None);
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

fn request_path(c: &mut Criterion) {
    let (tree, n) = big_tree();
    let n = *n;
    let mut g = c.benchmark_group(format!("request path, {}k nodes", n / 1000));
    let keys = scrambled(n, 4096);
    let gets: Vec<BytesMut> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| get_data_packet(i as i32, k))
        .collect();
    g.bench_function("getData: decode, serve, frame reply", |b| {
        let mut rs = ReadSide::default();
        let mut out = BytesMut::with_capacity(1 << 16);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            out.clear();
            rs.read_packet(tree, black_box(&gets[i]), &mut out);
            black_box(out.len())
        })
    });
    let sets: Vec<BytesMut> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| set_data_packet(i as i32, k, &VALUE))
        .collect();
    g.bench_function(
        "setData: decode, prep, apply, log record, frame reply (+publish /64)",
        |b| {
            let mut w = Writer::new(tree.clone());
            let mut out = BytesMut::with_capacity(1 << 16);
            let mut published = Arc::new(w.tree.clone());
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                out.clear();
                w.write_packet(black_box(&sets[i & 4095]), &mut out);
                if i.is_multiple_of(64) {
                    w.log.clear();
                    published = Arc::new(w.tree.clone());
                }
                black_box(out.len())
            });
            drop(published);
        },
    );
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = micro;
    config = config();
    targets = jute_records, tree_ops, txnlog_batch, request_path
}
criterion_main!(micro);
