//! A bound on the connections a listener holds at once, and which one a
//! newcomer displaces at the bound.
//!
//! A connection is either *waiting* on its peer (a handshake, a request
//! being read: the peer sets the pace) or *held* (it has proved itself, or
//! the server is busy with it). Below the bound every newcomer is
//! admitted. At the bound a newcomer displaces the connection that has been
//! waiting longest; when every connection is held, the newcomer is
//! refused. So a peer that only opens sockets and stalls cannot keep out
//! one that finishes its handshake, and cannot make the listener hold more
//! than the bound.
//!
//! Logic without I/O: the caller closes the connection whose handle
//! [`Slots::admit`] gives back. A displaced connection keeps a place until
//! it [`leave`](Slots::leave)s, and at most `max` such places are kept, so
//! slow leavers cannot let the listener hold more than twice the bound.

/// Whether a connection may be displaced by a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The peer sets the pace (a handshake, a request being read): the
    /// longest waiting goes first at the bound.
    Waiting,
    /// Proved, or being served: never displaced.
    Held,
}

/// What [`Slots::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<H> {
    /// The newcomer has a place, `id`; close the connection whose handle is
    /// `displaced`, if any, to make it.
    Admitted { id: u64, displaced: Option<H> },
    /// Every place is held: close the newcomer.
    Refused,
}

#[derive(Debug)]
struct Slot<H> {
    id: u64,
    /// When it last changed state, in admissions and changes (a logical
    /// clock: the smallest waited longest).
    since: u64,
    /// `None` once displaced (its handle went to the caller).
    state: Option<State>,
    handle: Option<H>,
}

/// The connections of one listener, at most `max` of them live.
#[derive(Debug)]
pub struct Slots<H> {
    max: usize,
    clock: u64,
    slots: Vec<Slot<H>>,
}

impl<H> Slots<H> {
    /// A listener's slots; `max` is at least 1.
    pub fn new(max: usize) -> Slots<H> {
        assert!(max >= 1, "a listener holds at least one connection");
        Slots {
            max,
            clock: 0,
            slots: Vec::new(),
        }
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections admitted and not displaced.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.state.is_some()).count()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A newcomer, waiting, whose connection `handle` closes.
    pub fn admit(&mut self, handle: H) -> Admission<H> {
        let mut displaced = None;
        if self.live() >= self.max {
            if self.slots.len() >= 2 * self.max {
                return Admission::Refused;
            }
            let oldest = self
                .slots
                .iter_mut()
                .filter(|s| s.state == Some(State::Waiting))
                .min_by_key(|s| s.since);
            let Some(old) = oldest else {
                return Admission::Refused;
            };
            old.state = None;
            displaced = old.handle.take();
        }
        let id = self.tick();
        self.slots.push(Slot {
            id,
            since: id,
            state: Some(State::Waiting),
            handle: Some(handle),
        });
        assert!(self.live() <= self.max, "slots over their bound");
        Admission::Admitted { id, displaced }
    }

    /// Connection `id` is now `state`. `false`: it was displaced (or has
    /// left), and should close.
    pub fn set(&mut self, id: u64, state: State) -> bool {
        let now = self.tick();
        match self.slots.iter_mut().find(|s| s.id == id) {
            Some(s) if s.state.is_some() => {
                s.state = Some(state);
                s.since = now;
                true
            }
            _ => false,
        }
    }

    /// Whether connection `id` still has its place.
    pub fn holds(&self, id: u64) -> bool {
        self.slots.iter().any(|s| s.id == id && s.state.is_some())
    }

    /// Connection `id` has closed.
    pub fn leave(&mut self, id: u64) {
        self.slots.retain(|s| s.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(a: Admission<&'static str>) -> (u64, Option<&'static str>) {
        match a {
            Admission::Admitted { id, displaced } => (id, displaced),
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn below_the_bound_every_newcomer_is_admitted() {
        let mut s = Slots::new(3);
        for name in ["a", "b", "c"] {
            assert_eq!(admitted(s.admit(name)).1, None);
        }
        assert_eq!(s.live(), 3);
    }

    #[test]
    fn at_the_bound_the_longest_waiting_goes() {
        let mut s = Slots::new(3);
        let (a, _) = admitted(s.admit("a"));
        let (b, _) = admitted(s.admit("b"));
        let (_c, _) = admitted(s.admit("c"));
        // a moved last: b has waited longest.
        assert!(s.set(a, State::Waiting));
        let (_d, gone) = admitted(s.admit("d"));
        assert_eq!(gone, Some("b"));
        assert!(!s.set(b, State::Held), "b was displaced");
        assert!(!s.holds(b));
        assert_eq!(s.live(), 3);
    }

    #[test]
    fn held_connections_are_never_displaced() {
        let mut s = Slots::new(2);
        let (a, _) = admitted(s.admit("a"));
        let (b, _) = admitted(s.admit("b"));
        assert!(s.set(a, State::Held));
        let (_c, gone) = admitted(s.admit("c"));
        assert_eq!(gone, Some("b"));
        s.leave(b);
        assert!(s.set(_c, State::Held));
        assert_eq!(s.admit("d"), Admission::Refused);
        s.leave(a);
        assert_eq!(admitted(s.admit("e")).1, None);
    }

    #[test]
    fn displaced_connections_that_do_not_leave_bound_the_listener_too() {
        let mut s = Slots::new(2);
        let mut displaced = 0;
        let mut refused = 0;
        for _ in 0..10 {
            match s.admit("x") {
                Admission::Admitted {
                    displaced: Some(_), ..
                } => displaced += 1,
                Admission::Admitted { .. } => {}
                Admission::Refused => refused += 1,
            }
        }
        // Two live, two displaced that never left: then no more.
        assert_eq!(displaced, 2);
        assert_eq!(refused, 6);
        assert!(s.slots.len() <= 4);
    }
}
