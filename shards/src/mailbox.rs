//! A single-threaded queue with one waiting consumer.
//!
//! Producers on the same executor `push`; the consumer awaits
//! [`Mailbox::ready`] and then drains. No locks and no atomics: it lives
//! inside one shard (`Rc`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A queue whose consumer can sleep until something arrives.
#[derive(Debug)]
pub struct Mailbox<T> {
    inner: RefCell<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    queue: VecDeque<T>,
    waker: Option<Waker>,
    closed: bool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            inner: RefCell::new(Inner {
                queue: VecDeque::new(),
                waker: None,
                closed: false,
            }),
        }
    }
}

impl<T> Mailbox<T> {
    pub fn new() -> Mailbox<T> {
        Mailbox::default()
    }

    /// Adds an item and wakes the consumer.
    pub fn push(&self, item: T) {
        let w = {
            let mut i = self.inner.borrow_mut();
            i.queue.push_back(item);
            i.waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Marks the mailbox closed and wakes the consumer.
    pub fn close(&self) {
        let w = {
            let mut i = self.inner.borrow_mut();
            i.closed = true;
            i.waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.inner.borrow().closed
    }

    /// Takes the oldest item, if any.
    pub fn pop(&self) -> Option<T> {
        self.inner.borrow_mut().queue.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.borrow().queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.inner.borrow().queue.len()
    }

    /// Registers the consumer's waker if the queue is empty; true if there
    /// is something to take (or the mailbox is closed).
    pub fn poll_ready(&self, waker: &Waker) -> bool {
        let mut i = self.inner.borrow_mut();
        if !i.queue.is_empty() || i.closed {
            return true;
        }
        i.waker = Some(waker.clone());
        false
    }

    /// Waits until there is something to take, or the mailbox is closed.
    pub async fn ready(&self) {
        poll_fn(|cx| {
            if self.poll_ready(cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_wakes_and_drains_in_order() {
        glommio::LocalExecutor::default().run(async {
            let m = std::rc::Rc::new(Mailbox::new());
            let m2 = m.clone();
            let t = glommio::spawn_local(async move {
                m2.ready().await;
                let mut got = vec![];
                while let Some(x) = m2.pop() {
                    got.push(x);
                }
                got
            });
            glommio::yield_if_needed().await;
            m.push(1);
            m.push(2);
            assert_eq!(t.await, vec![1, 2]);
        });
    }
}
