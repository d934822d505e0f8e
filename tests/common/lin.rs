//! The linearizability checker the register tests and the simulation
//! share: a history of operations per thread (invocation, return or still
//! in flight, on one logical clock), checked against a sequential spec
//! (stateright's `SequentialSpec`) by a Wing & Gong search with Lowe's
//! memo of visited (linearized prefix, state) pairs. An operation in flight
//! may or may not have taken effect. Included with `#[path]`.
#![allow(dead_code)]

use stateright::semantics::SequentialSpec;
use std::collections::HashSet;
use std::hash::Hash;

/// One operation of a history: its thread, its invocation and, unless it
/// stayed in flight, its return, with the times of both on one clock.
pub struct Entry<S: SequentialSpec> {
    pub op: S::Op,
    pub ret: Option<S::Ret>,
    pub invoked: u64,
    pub returned: u64,
}

/// A history being recorded: ops per thread, in order; a thread has at
/// most one op in flight, and only as its last.
pub struct History<S: SequentialSpec> {
    pub clock: u64,
    pub threads: Vec<Vec<Entry<S>>>,
}

impl<S: SequentialSpec> std::fmt::Debug for Entry<S>
where
    S::Op: std::fmt::Debug,
    S::Ret: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?} -> ", self.invoked, self.op)?;
        match &self.ret {
            Some(r) => write!(f, "{}: {r:?}", self.returned),
            None => write!(f, "in flight"),
        }
    }
}

impl<S: SequentialSpec + Clone + Eq + Hash> History<S>
where
    S::Op: Clone + std::fmt::Debug,
    S::Ret: Clone + std::fmt::Debug,
{
    pub fn new() -> Self {
        History {
            clock: 0,
            threads: Vec::new(),
        }
    }

    /// A new thread's id.
    pub fn thread(&mut self) -> usize {
        self.threads.push(Vec::new());
        self.threads.len() - 1
    }

    pub fn invoke(&mut self, t: usize, op: S::Op) {
        assert!(
            self.threads[t].last().is_none_or(|e| e.ret.is_some()),
            "thread {t} has an op in flight"
        );
        self.clock += 1;
        self.threads[t].push(Entry {
            op,
            ret: None,
            invoked: self.clock,
            returned: u64::MAX,
        });
    }

    pub fn ret(&mut self, t: usize, ret: S::Ret) {
        self.clock += 1;
        let e = self.threads[t].last_mut().expect("an op in flight");
        assert!(e.ret.is_none(), "thread {t} has no op in flight");
        e.ret = Some(ret);
        e.returned = self.clock;
    }

    pub fn len(&self) -> usize {
        self.threads.iter().map(Vec::len).sum()
    }

    /// A sequential order of the history that `init` allows and that keeps
    /// the real-time order (an op that returned before another was invoked
    /// comes first), in which every completed op takes effect and returns
    /// what it did, and an op in flight takes effect or not; `None` if there
    /// is none.
    #[allow(clippy::type_complexity)]
    pub fn linearize(&self, init: &S) -> Option<Vec<(S::Op, Option<S::Ret>)>> {
        let mut seen = HashSet::new();
        let mut pos = vec![0usize; self.threads.len()];
        let mut order = Vec::new();
        self.search(init, &mut pos, &mut order, &mut seen).then(|| {
            order
                .into_iter()
                .map(|(t, i)| {
                    let e = &self.threads[t][i];
                    (e.op.clone(), e.ret.clone())
                })
                .collect()
        })
    }

    fn search(
        &self,
        state: &S,
        pos: &mut Vec<usize>,
        order: &mut Vec<(usize, usize)>,
        seen: &mut HashSet<(Vec<usize>, S)>,
    ) -> bool {
        // The next op of each thread; done when only ops in flight are left.
        let next = |t: usize, pos: &[usize]| self.threads[t].get(pos[t]);
        let mut first_return = u64::MAX;
        let mut done = true;
        for t in 0..self.threads.len() {
            if let Some(e) = next(t, pos) {
                if e.ret.is_some() {
                    done = false;
                    first_return = first_return.min(e.returned);
                }
            }
        }
        if done {
            return true;
        }
        if !seen.insert((pos.clone(), state.clone())) {
            return false;
        }
        for t in 0..self.threads.len() {
            let Some(e) = next(t, pos) else { continue };
            // Whatever returned before this op was invoked comes first.
            if e.invoked > first_return {
                continue;
            }
            let mut s = state.clone();
            match &e.ret {
                Some(r) => {
                    if !s.is_valid_step(&e.op, r) {
                        continue;
                    }
                }
                None => {
                    s.invoke(&e.op);
                }
            }
            pos[t] += 1;
            order.push((t, pos[t] - 1));
            if self.search(&s, pos, order, seen) {
                return true;
            }
            order.pop();
            pos[t] -= 1;
        }
        false
    }
}
