//! Oneway calls and publications, in the order a handle made them, in every role.
//!
//! Each gets a sequence number. When a route exists and nothing is waiting, it goes straight
//! through: onto the follower connection (FIFO on the wire, and the leader starts calls in the
//! order it reads them) or, on the leader, to the real client in the caller. Otherwise it is
//! queued, and the queue is sent in order when the next role starts (see `core/replay.rs`)
//! or, on the leader, by one task of the core. Oneway calls handed to a connection that dies
//! before writing them are queued again; publications are all re-sent to every new connection
//! anyway (the protocol has no acknowledgement).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::core::{Core, Publications, Role, lock};
use crate::follower::{CallFailure, FollowerConn};
use crate::protocol::Message;
use crate::service::{Call, InvokeError, Service};

/// An ordered call waiting for a route.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Oneway {
        seq: u64,
        method: Arc<str>,
        args: Bytes,
        arg_length: u32,
    },
    /// The last publication of `key`, if it is still the one made at `seq`.
    Publication { seq: u64, key: Arc<str> },
}

impl Item {
    pub(crate) fn seq(&self) -> u64 {
        match self {
            Item::Oneway { seq, .. } | Item::Publication { seq, .. } => *seq,
        }
    }
}

/// Oneway calls handed to one connection, with their frame numbers.
pub(crate) type HandedTo = (Arc<FollowerConn>, VecDeque<(u64, Item)>);

#[derive(Default)]
pub(crate) struct OrderedState {
    next_seq: u64,
    pub(crate) publications: Publications,
    /// Made while nothing could take them (or not yet run by the local queue task), in order.
    pub(crate) queue: VecDeque<Item>,
    /// Oneway calls handed to this connection, with their frame numbers, until they are known
    /// to be written: the ones that never were go to the next route.
    pub(crate) in_outbox: Option<HandedTo>,
    /// The local queue task is running items.
    pub(crate) pumping: bool,
}

impl OrderedState {
    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Whether a new call may skip the queue.
    fn idle(&self) -> bool {
        self.queue.is_empty() && !self.pumping
    }

    /// Records a oneway call handed to `conn` as frame `frame`.
    fn handed(&mut self, conn: &Arc<FollowerConn>, frame: u64, item: Item) {
        let same = matches!(&self.in_outbox, Some((c, _)) if Arc::ptr_eq(c, conn));
        if !same {
            self.in_outbox = Some((conn.clone(), VecDeque::new()));
        }
        if let Some((conn, sent)) = &mut self.in_outbox {
            while sent.front().is_some_and(|(n, _)| conn.was_written(*n)) {
                sent.pop_front();
            }
            sent.push_back((frame, item));
        }
    }

    /// The oneway calls handed to a connection that is now closed and never written by it.
    pub(crate) fn unwritten(&mut self) -> Vec<Item> {
        match self.in_outbox.take() {
            Some((conn, sent)) => sent
                .into_iter()
                .filter(|(n, _)| !conn.was_written(*n))
                .map(|(_, item)| item)
                .collect(),
            None => Vec::new(),
        }
    }
}

/// What running an ordered call on the local real client needs.
pub(crate) struct LocalRun {
    call: Call,
}

impl<S: Service> Core<S> {
    /// A oneway call of this handle.
    pub(crate) fn send_oneway(&self, method: &str, args: Bytes, arg_length: u32) {
        let mut st = lock(&self.ordered);
        let seq = st.next_seq();
        let item = Item::Oneway {
            seq,
            method: Arc::from(method),
            args,
            arg_length,
        };
        self.send_ordered(st, item);
    }

    /// A publication of this handle: remembered (last per key) and sent in order.
    pub(crate) fn send_publication(&self, key: &str, args: Bytes) {
        let mut st = lock(&self.ordered);
        let seq = st.next_seq();
        let (key, _) = st.publications.record(key, seq, args);
        self.send_ordered(st, Item::Publication { seq, key });
    }

    fn send_ordered(&self, mut st: std::sync::MutexGuard<'_, OrderedState>, item: Item) {
        let role = self.role.borrow().clone();
        if st.idle() {
            match &role {
                Role::Following(conn) => match self.send_remote(&mut st, conn, item.clone()) {
                    Ok(()) => {
                        drop(st);
                        drop(role);
                        return;
                    }
                    Err(CallFailure::NotSent) => {}
                    Err(CallFailure::Failed(e)) => {
                        drop(st);
                        drop(role);
                        tracing::warn!(error = ?e.to_string(), "oneway call not sent");
                        return;
                    }
                },
                Role::Leading { client, .. } => {
                    let run = self.local_run(&st, &item);
                    drop(st);
                    if let Some(run) = run {
                        self.run_local(client.clone(), run);
                    }
                    drop(role);
                    return;
                }
                _ => {}
            }
        }
        st.queue.push_back(item);
        let start = matches!(role, Role::Leading { .. }) && !st.pumping;
        if start {
            st.pumping = true;
        }
        drop(st);
        drop(role);
        if start {
            self.start_pump();
        }
    }

    /// Hands one ordered call to a follower connection (called with `ordered` held).
    pub(crate) fn send_remote(
        &self,
        st: &mut OrderedState,
        conn: &Arc<FollowerConn>,
        item: Item,
    ) -> Result<(), CallFailure> {
        match &item {
            Item::Oneway {
                method,
                args,
                arg_length,
                ..
            } => {
                let message = Message::Invoke {
                    method: method.to_string(),
                    arg_length: *arg_length,
                    oneway: true,
                };
                let frame = conn.send(&message, method, |out| {
                    out.extend_from_slice(args);
                    Ok(())
                })?;
                st.handed(conn, frame, item);
                Ok(())
            }
            Item::Publication { seq, key } => {
                let Some(p) = st.publications.current(key, *seq) else {
                    return Ok(()); // superseded by a later publication, sent on its own
                };
                let Some(method) = self.service.publish_method() else {
                    return Ok(());
                };
                let message = Message::Publish {
                    method: method.to_owned(),
                    publisher: self.publisher.clone(),
                    slot: p.slot,
                    seq: p.seq,
                };
                conn.send(&message, method, |out| {
                    out.extend_from_slice(&p.args);
                    Ok(())
                })
                .map(drop)
            }
        }
    }

    /// The call to run locally for `item` (`None` for a superseded publication).
    pub(crate) fn local_run(&self, st: &OrderedState, item: &Item) -> Option<LocalRun> {
        let call = match item {
            Item::Oneway {
                method,
                args,
                arg_length,
                ..
            } => Call {
                method: method.to_string(),
                args: args.clone(),
                arg_length: *arg_length,
                oneway: true,
                codec: self.options.codec.clone(),
            },
            Item::Publication { seq, key } => {
                let p = st.publications.current(key, *seq)?;
                Call {
                    method: self.service.publish_method()?.to_owned(),
                    args: p.args.clone(),
                    arg_length: 1,
                    oneway: true,
                    codec: self.options.codec.clone(),
                }
            }
        };
        Some(LocalRun { call })
    }

    /// Starts an ordered call on the local real client, in the caller (no lock held). What
    /// does not finish at once goes on as a task of the core: calls start in order.
    fn run_local(&self, client: Arc<S::Client>, run: LocalRun) {
        let method = run.call.method.clone();
        let mut fut =
            crate::leader::guarded_invoke(&*self.service, &self.channel, client, run.call);
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => log_failure(&method, result),
            std::task::Poll::Pending => {
                self.tasks
                    .spawn(async move { log_failure(&method, fut.await) });
            }
        }
    }

    /// Runs the queued ordered calls on the local real client, one after another, on a task
    /// of the core; it stops when the queue is empty or the core no longer leads.
    fn start_pump(&self) {
        let weak = self.weak.clone();
        let spawned = self.tasks.spawn(async move {
            loop {
                let Some(core) = weak.upgrade() else { return };
                let (next, role) = {
                    let mut st = lock(&core.ordered);
                    let role = core.role.borrow().clone();
                    let next = match (&role, st.queue.pop_front()) {
                        (Role::Leading { client, .. }, Some(item)) => {
                            Some((client.clone(), core.local_run(&st, &item)))
                        }
                        (_, item) => {
                            if let Some(item) = item {
                                st.queue.push_front(item);
                            }
                            st.pumping = false;
                            None
                        }
                    };
                    drop(st);
                    (next, role)
                };
                // The role may hold the last reference to the real client: dropped unlocked.
                drop(role);
                match next {
                    Some((client, Some(run))) => core.run_local(client, run),
                    Some((_, None)) => {}
                    None => {
                        core.ordered_idle.notify_waiters();
                        return;
                    }
                }
                // Let other work run between calls of a long queue.
                tokio::task::yield_now().await;
            }
        });
        if spawned.is_none() {
            lock(&self.ordered).pumping = false;
        }
    }

    /// Waits until every ordered call made before now has been started locally, so a call
    /// made after a oneway call does not overtake it.
    pub(crate) async fn ordered_barrier(&self) {
        loop {
            let notified = self.ordered_idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.ordered).idle() {
                return;
            }
            notified.await;
        }
    }

    /// Starts the local queue task for items replayed to a new leader (with `ordered` held
    /// by the caller, who sets `pumping`).
    pub(crate) fn resume_pump(&self) {
        self.start_pump();
    }
}

fn log_failure(method: &str, result: Result<Vec<u8>, InvokeError>) {
    match result {
        Ok(_) => {}
        Err(InvokeError::Failure(e)) => {
            tracing::warn!(method = ?method, error = ?e.to_string(), "oneway call failed")
        }
        Err(InvokeError::Encoded(_)) => {
            tracing::warn!(method = ?method, "oneway call failed on the real client")
        }
    }
}
