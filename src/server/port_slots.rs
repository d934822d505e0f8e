//! The bound on the connections a quorum-facing port holds at once: the
//! election port, the leader's quorum port and a follower's observer
//! master port, each up to `corral.quorum.maxConnections`.
//!
//! The choice is `shards::slots`' (logic without I/O): a connection waits
//! until it proves itself (an election connection by the initial message of
//! a configured server id; a learner once the replica answers it), and at
//! the bound a newcomer displaces the connection that has waited longest.
//! Here each connection's task races its work with being displaced, and a
//! refused newcomer is closed at once. ZooKeeper bounds none of these
//! ports. Runs on the zab core.

use shards::mailbox::Mailbox;
use shards::slots::{Admission, Slots, State};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The key that sets the bound, for the logs.
pub(crate) const KEY: &str = "corral.quorum.maxConnections";

/// One port's connections (with `multiAddress`, all of its addresses).
pub(crate) struct PortSlots {
    /// Which port, for the logs.
    what: &'static str,
    slots: RefCell<Slots<Rc<Mailbox<()>>>>,
    /// When the last refusal or displacement was logged (one a second).
    warned: Cell<Option<Instant>>,
}

/// A connection's place on its port; it leaves when dropped.
pub(crate) struct Place {
    id: u64,
    port: Rc<PortSlots>,
    /// Pushed when a newcomer displaces this connection.
    displaced: Rc<Mailbox<()>>,
}

impl PortSlots {
    pub(crate) fn new(what: &'static str, max: usize) -> Rc<PortSlots> {
        Rc::new(PortSlots {
            what,
            slots: RefCell::new(Slots::new(max.max(1))),
            warned: Cell::new(None),
        })
    }

    /// A place for a connection just accepted from `from`, or `None`: every
    /// place is held, and the connection should be closed.
    pub(crate) fn admit(self: &Rc<Self>, from: Option<SocketAddr>) -> Option<Place> {
        let displaced = Rc::new(Mailbox::new());
        let admission = self.slots.borrow_mut().admit(displaced.clone());
        match admission {
            Admission::Admitted { id, displaced: old } => {
                if let Some(old) = old {
                    old.push(());
                    self.warn(|max| {
                        tracing::warn!(
                            port = self.what,
                            ?from,
                            "{KEY}={max} connections are open: the one waiting longest on its peer is closed"
                        );
                    });
                }
                Some(Place {
                    id,
                    port: self.clone(),
                    displaced,
                })
            }
            Admission::Refused => {
                self.warn(|max| {
                    tracing::warn!(
                        port = self.what,
                        ?from,
                        "connection refused: {KEY}={max} connections are open and proved"
                    );
                });
                None
            }
        }
    }

    fn warn(&self, log: impl FnOnce(usize)) {
        let now = Instant::now();
        if self
            .warned
            .get()
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.warned.set(Some(now));
        log(self.slots.borrow().max());
    }
}

impl Place {
    /// The connection has proved itself: it is never displaced from now
    /// on. `false`: it already was.
    pub(crate) fn hold(&self) -> bool {
        self.port.slots.borrow_mut().set(self.id, State::Held)
    }

    /// Runs `work` until it ends (`Some`) or the connection is displaced
    /// (`None`; `work` is dropped, and with it the socket).
    pub(crate) async fn run<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        futures_lite::future::or(async { Some(work.await) }, async {
            self.displaced.ready().await;
            None
        })
        .await
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.port.slots.borrow_mut().leave(self.id);
    }
}
