//! A seeded in-memory network for the simulations: members `0..n`, each up
//! or down, with an incarnation (`boot`) bumped at every crash and restart.
//!
//! - Election traffic travels as datagrams: each with its own random delay
//!   (so they reorder), lost across a partition, to a crash or a restart,
//!   and lost at random while `lossy`; a member's datagrams to itself
//!   arrive at once.
//! - Quorum links model TCP: within a connection nothing is reordered or
//!   lost; closing one end closes both (the other end is told after what is
//!   in flight, as a FIN); a partition breaks a link silently (each end
//!   finds out by its own timeouts, and closes its end, which tells nobody);
//!   a crash closes its links, telling the other ends when it is clean
//!   (the kernel's FIN) and not when the machine vanished.
//!
//! It owns only the wire: what a member does with what arrives is the
//! simulation's. Included with `#[path]`, with `rng.rs`.
#![allow(dead_code)]

use super::rng::SplitMix as Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A time-ordered queue of events; events at the same time come out in the
/// order they were put in, so a seed replays exactly.
pub struct Sched<E> {
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slab: Vec<Option<E>>,
    free: Vec<usize>,
}

impl<E> Default for Sched<E> {
    fn default() -> Self {
        Sched {
            seq: 0,
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<E> Sched<E> {
    pub fn at(&mut self, when: u64, ev: E) {
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i] = Some(ev);
                i
            }
            None => {
                self.slab.push(Some(ev));
                self.slab.len() - 1
            }
        };
        self.seq += 1;
        self.heap.push(Reverse((when, self.seq, i)));
    }

    /// When the next event is due.
    pub fn next_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The next event, if it is due at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<E> {
        let &Reverse((t, _, i)) = self.heap.peek()?;
        if t > now {
            return None;
        }
        self.heap.pop();
        let ev = self.slab[i].take();
        self.free.push(i);
        ev
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// The network's timing and loss.
#[derive(Debug, Clone, Copy)]
pub struct NetParams {
    /// The longest delay of a datagram (ms, at least 1).
    pub dgram_max_delay: u64,
    /// Per-mille of datagrams lost while the network is lossy.
    pub dgram_loss: u64,
    /// The longest delay of a packet on a link (ms, at least 1).
    pub link_max_delay: u64,
}

/// A link's id.
pub type LinkId = usize;

/// What the network delivers.
#[derive(Debug)]
pub enum NetEvent<M> {
    /// A datagram from `from` to `to`.
    Datagram {
        from: usize,
        to: usize,
        bytes: Vec<u8>,
    },
    /// A packet on `link`, for member `to`.
    Packet { link: LinkId, to: usize, msg: M },
    /// `link` was closed by its other end; `to` is told.
    Closed { link: LinkId, to: usize },
}

enum Wire<M> {
    Datagram {
        from: usize,
        to: usize,
        boot: u64,
        bytes: Vec<u8>,
    },
    Packet {
        link: LinkId,
        side: usize,
        msg: M,
    },
    Closed {
        link: LinkId,
        side: usize,
    },
}

/// One TCP connection: `ends[0]` dialled `ends[1]`.
#[derive(Debug, Clone)]
pub struct Link {
    /// (member, its boot when the link opened).
    pub ends: [(usize, u64); 2],
    /// Each end's view: open until it closes or is told.
    pub open: [bool; 2],
    /// Cut by a partition: nothing more gets through, and nobody is told.
    pub broken: bool,
    /// Dropped (a reset): nothing sent after it gets through.
    pub reset: bool,
    /// The last delivery time scheduled towards each side (TCP's order).
    last: [u64; 2],
}

/// What happened on the wire, summed.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetStats {
    pub datagrams: u64,
    pub datagrams_lost: u64,
    pub packets: u64,
    pub links: u64,
    pub links_broken: u64,
    pub partitions: u64,
}

pub struct SimNet<M> {
    pub p: NetParams,
    up: Vec<bool>,
    boot: Vec<u64>,
    cut: Vec<Vec<bool>>,
    links: Vec<Link>,
    q: Sched<Wire<M>>,
    /// Datagrams get lost at random while set (the faults run).
    pub lossy: bool,
    pub stats: NetStats,
}

impl<M> SimNet<M> {
    pub fn new(n: usize, p: NetParams) -> Self {
        SimNet {
            p,
            up: vec![true; n],
            boot: vec![0; n],
            cut: vec![vec![false; n]; n],
            links: Vec::new(),
            q: Sched::default(),
            lossy: true,
            stats: NetStats::default(),
        }
    }

    pub fn members(&self) -> usize {
        self.up.len()
    }

    pub fn is_up(&self, m: usize) -> bool {
        self.up[m]
    }

    pub fn boot(&self, m: usize) -> u64 {
        self.boot[m]
    }

    pub fn reachable(&self, a: usize, b: usize) -> bool {
        self.up[a] && self.up[b] && !self.cut[a][b]
    }

    pub fn link(&self, l: LinkId) -> &Link {
        &self.links[l]
    }

    /// When the next delivery is due.
    pub fn next_time(&self) -> Option<u64> {
        self.q.next_time()
    }

    /// The next delivery due at or before `now`, dropping what can no
    /// longer arrive (to a crashed or restarted member, across a cut, on a
    /// broken or closed link).
    pub fn pop_due(&mut self, now: u64) -> Option<NetEvent<M>> {
        while let Some(w) = self.q.pop_due(now) {
            match w {
                Wire::Datagram {
                    from,
                    to,
                    boot,
                    bytes,
                } => {
                    if !self.up[to] || self.boot[to] != boot || (from != to && self.cut[from][to]) {
                        continue;
                    }
                    return Some(NetEvent::Datagram { from, to, bytes });
                }
                Wire::Packet { link, side, msg } => {
                    let l = &self.links[link];
                    if l.broken || !l.open[side] || !self.alive(link, side) {
                        continue;
                    }
                    return Some(NetEvent::Packet {
                        link,
                        to: l.ends[side].0,
                        msg,
                    });
                }
                Wire::Closed { link, side } => {
                    let alive = self.alive(link, side);
                    let l = &mut self.links[link];
                    if l.broken || !l.open[side] || !alive {
                        continue;
                    }
                    l.open[side] = false;
                    return Some(NetEvent::Closed {
                        link,
                        to: l.ends[side].0,
                    });
                }
            }
        }
        None
    }

    fn alive(&self, link: LinkId, side: usize) -> bool {
        let (m, b) = self.links[link].ends[side];
        self.up[m] && self.boot[m] == b
    }

    // ---- datagrams ----

    /// Sends a datagram (see the module doc for its fate).
    pub fn send_datagram(
        &mut self,
        rng: &mut Rng,
        now: u64,
        from: usize,
        to: usize,
        bytes: Vec<u8>,
    ) {
        self.stats.datagrams += 1;
        let when = if from == to {
            now
        } else {
            if !self.reachable(from, to) {
                return;
            }
            if self.lossy && rng.chance(self.p.dgram_loss) {
                self.stats.datagrams_lost += 1;
                return;
            }
            now + rng.range(1, self.p.dgram_max_delay.max(1))
        };
        let boot = self.boot[to];
        self.q.at(
            when,
            Wire::Datagram {
                from,
                to,
                boot,
                bytes,
            },
        );
    }

    // ---- links ----

    /// `from` dials `to`: a link, or `None` when `to` is down or cut off
    /// (whether `to` listens is the caller's to decide).
    pub fn connect(&mut self, from: usize, to: usize) -> Option<LinkId> {
        if !self.reachable(from, to) {
            return None;
        }
        self.stats.links += 1;
        self.links.push(Link {
            ends: [(from, self.boot[from]), (to, self.boot[to])],
            open: [true, true],
            broken: false,
            reset: false,
            last: [0, 0],
        });
        Some(self.links.len() - 1)
    }

    /// The side of `link` that `m` holds.
    pub fn side(&self, link: LinkId, m: usize) -> Option<usize> {
        let l = self.links.get(link)?;
        (0..2).find(|&s| l.ends[s].0 == m && l.ends[s].1 == self.boot[m])
    }

    /// Whether `m`'s end of `link` is open.
    pub fn is_open(&self, link: LinkId, m: usize) -> bool {
        self.side(link, m).is_some_and(|s| self.links[link].open[s])
    }

    /// `m` sends `msg` on `link`, in order after what it sent before.
    pub fn send(&mut self, rng: &mut Rng, now: u64, link: LinkId, m: usize, msg: M) {
        let Some(side) = self.side(link, m) else {
            return;
        };
        let to = 1 - side;
        let l = &mut self.links[link];
        if l.broken || l.reset || !l.open[side] || !l.open[to] {
            return;
        }
        let when = (now + rng.range(1, self.p.link_max_delay.max(1))).max(l.last[to]);
        l.last[to] = when;
        self.stats.packets += 1;
        self.q.at(
            when,
            Wire::Packet {
                link,
                side: to,
                msg,
            },
        );
    }

    /// `m` closes its end of `link`; the other end is told after what is
    /// in flight to it, unless the link is broken.
    pub fn close(&mut self, now: u64, link: LinkId, m: usize) {
        let Some(side) = self.side(link, m) else {
            return;
        };
        self.close_side(now, link, side, true);
    }

    fn close_side(&mut self, now: u64, link: LinkId, side: usize, tell: bool) {
        let to = 1 - side;
        let l = &mut self.links[link];
        if !l.open[side] {
            return;
        }
        l.open[side] = false;
        if tell && !l.broken && l.open[to] {
            let when = (now + 1).max(l.last[to]);
            self.q.at(when, Wire::Closed { link, side: to });
        }
    }

    // ---- faults ----

    /// Crashes `m`: its links close, the other ends told when `clean`.
    pub fn crash(&mut self, now: u64, m: usize, clean: bool) {
        for link in 0..self.links.len() {
            if let Some(side) = self.side(link, m) {
                self.close_side(now, link, side, clean);
            }
        }
        self.up[m] = false;
        self.boot[m] += 1;
    }

    /// Restarts `m` (a new incarnation: nothing sent to the old arrives).
    pub fn restart(&mut self, m: usize) {
        self.up[m] = true;
        self.boot[m] += 1;
    }

    /// Cuts the members where `side` differs: datagrams between them are
    /// lost and their links break silently.
    pub fn partition(&mut self, side: &[bool]) {
        self.stats.partitions += 1;
        let n = self.up.len();
        for a in 0..n {
            for b in 0..n {
                if side[a] != side[b] {
                    self.cut[a][b] = true;
                }
            }
        }
        for l in &mut self.links {
            let (a, b) = (l.ends[0].0, l.ends[1].0);
            if (l.open[0] || l.open[1]) && !l.broken && self.cut[a][b] {
                l.broken = true;
                self.stats.links_broken += 1;
            }
        }
    }

    /// Ends every partition (links that broke stay broken).
    pub fn heal(&mut self) {
        for row in &mut self.cut {
            row.iter_mut().for_each(|c| *c = false);
        }
    }

    pub fn is_partitioned(&self) -> bool {
        self.cut.iter().any(|r| r.iter().any(|c| *c))
    }

    /// The links open at both ends and not broken.
    pub fn open_links(&self) -> Vec<LinkId> {
        (0..self.links.len())
            .filter(|&l| {
                let k = &self.links[l];
                k.open[0]
                    && k.open[1]
                    && !k.broken
                    && !k.reset
                    && self.alive(l, 0)
                    && self.alive(l, 1)
            })
            .collect()
    }

    /// Drops `link`: both ends are told.
    pub fn drop_link(&mut self, now: u64, link: LinkId) {
        let l = &mut self.links[link];
        if l.broken || l.reset {
            return;
        }
        l.reset = true;
        let (last, open) = (l.last, l.open);
        for (side, (last, open)) in last.into_iter().zip(open).enumerate() {
            if open {
                let when = (now + 1).max(last);
                self.q.at(when, Wire::Closed { link, side });
            }
        }
    }
}
