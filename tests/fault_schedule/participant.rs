//! A participant: what stands for one worker process.
//!
//! Each participant is an OS thread running its own current-thread tokio runtime, with its own
//! [`Scope`] and one handle built in it, so every task the runtime spawns for it (the election,
//! the follower connection's reader and writer, or the leader's port server, connections and
//! upstream subscriptions) runs on that thread and nowhere else. That makes faults faithful:
//!
//! - a **stall** blocks the thread (`Condvar::wait_timeout`): nothing of the process runs, its
//!   sockets stay open with the kernel queueing and accepting for it, its timers fire late when
//!   it resumes, as with SIGSTOP / SIGCONT;
//! - an **abort** returns from `block_on` and drops the runtime: no task of the process is
//!   polled again and its sockets close, as with SIGKILL (the only difference: destructors run);
//! - a **drop** or a **close** is the application letting go of its handle; the process lives
//!   on (the runtime keeps running) so the runtime's own teardown runs.
//!
//! The driver talks to it through a command channel; the participant records what it did and
//! saw in a [`Log`] the driver reads at the end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cluster_client::{Builder, CloseReason, Error, Handle, Scope};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::backend::{
    Backend, CallArgs, CallReply, ClientId, FaultService, Note, Recorder, Registration, TopicReg,
};
use crate::schedule::{Kill, Op};

/// How a call ended, as the caller saw it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok(CallReply),
    Timeout,
    LeaderLost,
    Closed,
    Other(String),
}

impl Outcome {
    fn of(result: Result<CallReply, Error>) -> Self {
        match result {
            Ok(reply) => Outcome::Ok(reply),
            Err(Error::Timeout { .. }) => Outcome::Timeout,
            Err(Error::LeaderLost { .. }) => Outcome::LeaderLost,
            Err(Error::Closed { .. }) => Outcome::Closed,
            Err(e) => Outcome::Other(format!("{e:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallRec {
    pub seq: u64,
    pub slow_ms: u64,
    pub started: Instant,
    pub settled: Option<(Instant, Outcome)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ordered {
    Note,
    Publish(Registration),
}

#[derive(Debug, Clone)]
pub struct OrderedRec {
    pub seq: u64,
    pub made: Instant,
    pub item: Ordered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Held: it must keep delivering.
    Live,
    /// Ended through `unsubscribe`: it must end with that reason.
    Unsubscribed,
    /// Dropped by the application.
    Dropped,
}

#[derive(Debug, Clone)]
pub struct StreamRec {
    pub topic: u8,
    pub state: StreamState,
    pub latest: Option<Vec<String>>,
    pub values: u64,
    /// Set when the stream ended, with the reason it gave.
    pub ended: Option<Option<CloseReason>>,
}

/// What a participant did and saw.
#[derive(Debug)]
pub struct Log {
    pub tag: String,
    pub timeout: Duration,
    pub calls: Vec<CallRec>,
    pub ordered: Vec<OrderedRec>,
    pub streams: Vec<StreamRec>,
    /// Stalls: start and end (none while it lasts, or when it was killed in it).
    pub stalls: Vec<(Instant, Option<Instant>)>,
    /// How and when the participant died (the driver sets it for an abort).
    pub ended: Option<(Instant, Kill)>,
    /// When its thread was aborted after a drop or close (it died for good then).
    pub cut: Option<Instant>,
    /// Things that went wrong inside the participant (a refused call, a close that hung).
    pub problems: Vec<String>,
}

impl Log {
    /// When nothing of the participant could run any more (its calls cannot settle after it).
    pub fn gone_at(&self) -> Option<Instant> {
        match self.ended {
            Some((at, Kill::Abort | Kill::Drop)) => Some(at),
            _ => self.cut,
        }
    }
}

/// A participant's log, shared with the driver; every change bumps the run's signal.
pub struct Shared {
    log: Mutex<Log>,
    signal: Arc<watch::Sender<u64>>,
}

impl Shared {
    pub fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn update<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        let out = f(&mut self.log());
        self.signal.send_modify(|n| *n += 1);
        out
    }
}

/// Ends a participant at once, whether it is running or stalled.
#[derive(Default)]
struct KillSwitch {
    killed: Mutex<bool>,
    stalled: Condvar,
    running: tokio::sync::Notify,
}

impl KillSwitch {
    fn kill(&self) {
        *self.killed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stalled.notify_all();
        self.running.notify_one();
    }

    fn is_killed(&self) -> bool {
        *self.killed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks the thread for `d` (the whole runtime stops); true when killed meanwhile.
    fn stall(&self, d: Duration) -> bool {
        let killed = self.killed.lock().unwrap_or_else(|p| p.into_inner());
        let (killed, _) = self
            .stalled
            .wait_timeout_while(killed, d, |k| !*k)
            .unwrap_or_else(|p| p.into_inner());
        *killed
    }

    async fn killed(&self) {
        loop {
            let notified = self.running.notified();
            if self.is_killed() {
                return;
            }
            notified.await;
        }
    }
}

pub enum Command {
    Op(Op),
    Stall(Duration),
    Close,
    Drop,
    Query(oneshot::Sender<bool>),
    Probe(oneshot::Sender<Result<ClientId, String>>),
}

pub struct Config {
    pub seed: u64,
    pub tag: String,
    pub port: u16,
    pub heartbeat: Duration,
    pub response_timeout: Duration,
    pub connect_timeout: Duration,
    pub factory_delay: Duration,
    pub backend: Arc<Backend>,
    pub signal: Arc<watch::Sender<u64>>,
}

/// The driver's side of a participant.
pub struct Participant {
    pub tag: String,
    pub shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Command>,
    kill: Arc<KillSwitch>,
    thread: Option<JoinHandle<()>>,
    /// Dead as far as the schedule is concerned (killed, dropped or closed).
    pub dead: bool,
}

impl Participant {
    pub fn start(cfg: Config) -> Self {
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                tag: cfg.tag.clone(),
                timeout: cfg.response_timeout,
                calls: Vec::new(),
                ordered: Vec::new(),
                streams: Vec::new(),
                stalls: Vec::new(),
                ended: None,
                cut: None,
                problems: Vec::new(),
            }),
            signal: cfg.signal.clone(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let kill = Arc::new(KillSwitch::default());
        let tag = cfg.tag.clone();
        let thread = std::thread::Builder::new()
            .name(format!("s{}/{}", cfg.seed, cfg.tag))
            .spawn({
                let shared = shared.clone();
                let kill = kill.clone();
                move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime for the participant");
                    let held = rt.block_on(serve(cfg, rx, kill, shared));
                    // SIGKILL: nothing is polled again; dropping the runtime drops every task
                    // (closing the sockets) before the handle itself goes.
                    drop(rt);
                    drop(held);
                }
            })
            .expect("a thread for the participant");
        Self {
            tag,
            shared,
            tx,
            kill,
            thread: Some(thread),
            dead: false,
        }
    }

    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(cmd);
    }

    /// SIGKILL.
    pub fn abort(&self) {
        self.kill.kill();
    }

    /// Whether the participant leads, if it answers within `within`.
    pub async fn query(&self, within: Duration) -> Option<bool> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Query(tx));
        tokio::time::timeout(within, rx).await.ok()?.ok()
    }

    /// Which real client answers this participant's calls, if it answers within `within`.
    pub async fn probe(&self, within: Duration) -> Option<Result<ClientId, String>> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Probe(tx));
        tokio::time::timeout(within, rx).await.ok()?.ok()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Ends the thread (abort first) and reports whether it panicked.
    pub fn join(&mut self) -> Result<(), String> {
        self.abort();
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(panic)) => Err(panic_message(&panic)),
            _ => Ok(()),
        }
    }
}

pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// What a participant holds; dropped after its runtime on an abort.
#[derive(Default)]
struct Held {
    handle: Option<Handle<FaultService>>,
    calls: JoinSet<()>,
    probes: JoinSet<()>,
    stream_tasks: JoinSet<()>,
    /// Live streams: index in the log, topic, and the task that reads it.
    streams: Vec<(usize, u8, AbortHandle)>,
}

async fn serve(
    cfg: Config,
    mut rx: mpsc::UnboundedReceiver<Command>,
    kill: Arc<KillSwitch>,
    shared: Arc<Shared>,
) -> Held {
    let backend = cfg.backend.clone();
    let tag = cfg.tag.clone();
    let delay = cfg.factory_delay;
    let factory = move || {
        let backend = backend.clone();
        let tag = tag.clone();
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, String>(Recorder::connect(&backend, &tag))
        }
    };
    let handle = Builder::new(FaultService)
        .port(cfg.port)
        .scope(Scope::new())
        .response_timeout(cfg.response_timeout)
        .heartbeat_interval(cfg.heartbeat)
        .connect_timeout(cfg.connect_timeout)
        .build(factory)
        .expect("a handle");
    let mut held = Held {
        handle: Some(handle),
        ..Held::default()
    };
    // The participant's order of calls: taken the moment a call enters the handle.
    let order = Arc::new(AtomicU64::new(0));
    loop {
        let cmd = tokio::select! {
            biased;
            _ = kill.killed() => return held,
            cmd = rx.recv() => cmd,
        };
        let Some(cmd) = cmd else { return held };
        // Reap what finished, so the sets hold only live tasks.
        while held.calls.try_join_next().is_some() {}
        while held.probes.try_join_next().is_some() {}
        while held.stream_tasks.try_join_next().is_some() {}
        match cmd {
            Command::Op(op) => {
                if let Some(handle) = held.handle.clone() {
                    run_op(&cfg.tag, &handle, op, &order, &shared, &mut held);
                }
            }
            Command::Stall(d) => {
                let i = shared.update(|log| {
                    log.stalls.push((Instant::now(), None));
                    log.stalls.len() - 1
                });
                let killed = kill.stall(d);
                shared.update(|log| log.stalls[i].1 = Some(Instant::now()));
                if killed {
                    return held;
                }
            }
            Command::Close => {
                shared.update(|log| log.ended = Some((Instant::now(), Kill::Close)));
                if let Some(handle) = held.handle.take() {
                    let closed =
                        tokio::time::timeout(Duration::from_secs(10), handle.close()).await;
                    if closed.is_err() {
                        shared.update(|log| {
                            log.problems
                                .push("close() did not return within 10 s".into())
                        });
                    }
                }
                // Calls go on and must settle; the streams end on their own.
                held.streams.clear();
            }
            Command::Drop => {
                shared.update(|log| log.ended = Some((Instant::now(), Kill::Drop)));
                held.calls.abort_all();
                held.probes.abort_all();
                held.stream_tasks.abort_all();
                held.streams.clear();
                held.handle = None;
            }
            Command::Query(reply) => {
                let _ = reply.send(held.handle.as_ref().is_some_and(|h| h.is_leader()));
            }
            Command::Probe(reply) => {
                if let Some(handle) = held.handle.clone() {
                    held.probes.spawn(async move {
                        let got = handle.invoke::<_, ClientId>("whoami", ()).await;
                        let _ = reply.send(got.map_err(|e| e.to_string()));
                    });
                }
            }
        }
    }
}

fn run_op(
    tag: &str,
    handle: &Handle<FaultService>,
    op: Op,
    order: &Arc<AtomicU64>,
    shared: &Arc<Shared>,
    held: &mut Held,
) {
    let next = || order.fetch_add(1, Ordering::SeqCst) + 1;
    match op {
        Op::Invoke { slow_ms } => {
            let (handle, order, shared, who) = (
                handle.clone(),
                order.clone(),
                shared.clone(),
                tag.to_owned(),
            );
            held.calls.spawn(async move {
                // Numbered and timed here, right as the call enters the handle (and fixes its
                // deadline).
                let seq = order.fetch_add(1, Ordering::SeqCst) + 1;
                let i = shared.update(|log| {
                    log.calls.push(CallRec {
                        seq,
                        slow_ms,
                        started: Instant::now(),
                        settled: None,
                    });
                    log.calls.len() - 1
                });
                let args = CallArgs { who, seq, slow_ms };
                let result = handle.invoke::<_, CallReply>("call", (args,)).await;
                let outcome = Outcome::of(result);
                shared.update(|log| log.calls[i].settled = Some((Instant::now(), outcome)));
            });
        }
        Op::Oneway => {
            let seq = next();
            let made = Instant::now();
            let note = Note {
                who: tag.to_owned(),
                seq,
            };
            let sent = handle.invoke_oneway("note", (note,));
            shared.update(|log| match sent {
                Ok(()) => log.ordered.push(OrderedRec {
                    seq,
                    made,
                    item: Ordered::Note,
                }),
                Err(e) => log.problems.push(format!("oneway #{seq} refused: {e}")),
            });
        }
        Op::Publish { topic, value } => {
            let seq = next();
            let made = Instant::now();
            let reg = Registration {
                who: tag.to_owned(),
                topic,
                value,
            };
            let sent = handle.publish(&reg);
            shared.update(|log| match sent {
                Ok(()) => log.ordered.push(OrderedRec {
                    seq,
                    made,
                    item: Ordered::Publish(reg),
                }),
                Err(e) => log.problems.push(format!("publish #{seq} refused: {e}")),
            });
        }
        Op::Subscribe { topic } => {
            let mut sub = match handle.subscribe::<_, Vec<String>>(&TopicReg { topic }) {
                Ok(sub) => sub,
                Err(e) => {
                    shared.update(|log| log.problems.push(format!("subscribe refused: {e}")));
                    return;
                }
            };
            let i = shared.update(|log| {
                log.streams.push(StreamRec {
                    topic,
                    state: StreamState::Live,
                    latest: None,
                    values: 0,
                    ended: None,
                });
                log.streams.len() - 1
            });
            let reader = shared.clone();
            let task = held.stream_tasks.spawn(async move {
                while let Some(value) = sub.next().await {
                    reader.update(|log| {
                        let s = &mut log.streams[i];
                        s.latest = Some(value);
                        s.values += 1;
                    });
                }
                let reason = sub.close_reason();
                reader.update(|log| log.streams[i].ended = Some(reason));
            });
            held.streams.push((i, topic, task));
        }
        Op::Unsubscribe { topic } => {
            if let Err(e) = handle.unsubscribe(&TopicReg { topic }) {
                shared.update(|log| log.problems.push(format!("unsubscribe refused: {e}")));
                return;
            }
            let ended: Vec<usize> = held
                .streams
                .iter()
                .filter(|(_, t, _)| *t == topic)
                .map(|(i, _, _)| *i)
                .collect();
            held.streams.retain(|(_, t, _)| *t != topic);
            shared.update(|log| {
                for i in ended {
                    log.streams[i].state = StreamState::Unsubscribed;
                }
            });
        }
        Op::DropStream { topic } => {
            let Some(at) = held.streams.iter().position(|(_, t, _)| *t == topic) else {
                return;
            };
            let (i, _, task) = held.streams.remove(at);
            task.abort();
            shared.update(|log| log.streams[i].state = StreamState::Dropped);
        }
    }
}

/// Live streams per topic of a log (for the driver's expectations).
pub fn live_topics(log: &Log) -> HashMap<u8, usize> {
    let mut topics = HashMap::new();
    for s in &log.streams {
        if s.state == StreamState::Live {
            *topics.entry(s.topic).or_default() += 1;
        }
    }
    topics
}
