//! The Rust child processes: `leader`, `follower`, `member` (failover: competes for the
//! port) and `keys-member` (the `keys` scenario: competes for the port, subscribes to many keys)
//! run the bench client through the runtime; `echo-server` and `echo-client` are the raw
//! TCP floor. Each prints `{"event":"ready",...}` and then answers JSON-line commands on stdin;
//! all of them exit when stdin closes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use cluster_client::codec::PayloadCodec;
use cluster_client::protocol::{ArgsWriter, FrameCodec, Header, Message, Packet, ProtocolError};
use cluster_client::{
    BoxFuture, Builder, Call, DecodeArgs, Handle, InvokeError, RemoteError, Service, ValueStream,
};
use futures::StreamExt;
use futures::channel::mpsc;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::Decoder;

use crate::alloc_count::{Snapshot, snapshot};
use crate::common::{
    Big, Fan, Hist, KeyVal, Payload, Tick, big, big_items, emit, flag, mono_ns, payload, small,
};

/// The bench's "real client": `echo` answers at once; `subscribe` streams whatever
/// [`Emitter::emit`] is given, or, in the `keys` scenario, the subscribed key's values.
pub struct BenchClient {
    emitter: Arc<Emitter>,
    keys: Option<Arc<KeyStore>>,
}

/// The `keys` scenario's backend state: per key, its version and the one sender of the stream
/// the runtime opened for it (the runtime opens one real-client subscription per key). Kept lean
/// on purpose: its memory is part of the leader RSS per key that the scenario reports.
pub struct KeyStore {
    codec: PayloadCodec,
    payload: Payload,
    keys: Mutex<HashMap<Box<str>, KeyEntry>>,
}

/// One key of a [`KeyStore`]: its version and the sender feeding its subscription.
type KeyEntry = (u64, mpsc::UnboundedSender<Vec<u8>>);

impl KeyStore {
    fn new(codec: PayloadCodec, payload: Payload) -> Self {
        Self {
            codec,
            payload,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn encode(&self, version: u64, change: bool) -> Vec<u8> {
        let v = KeyVal {
            p: std::process::id(),
            s: version,
            t: mono_ns(),
            c: u8::from(change),
            d: &self.payload,
        };
        let mut out = Vec::with_capacity(64);
        let _ = self.codec.encode(&v, &mut out);
        out
    }

    /// A new subscription to `reg.key`: answered at once with the key's current value.
    fn stream(&self, reg: &Value) -> Result<ValueStream, RemoteError> {
        let key = reg["key"].as_str().ok_or_else(|| {
            RemoteError::new("ArgumentError", format!("keys: no \"key\" in {reg}"))
        })?;
        let (tx, rx) = mpsc::unbounded();
        let mut keys = self.keys.lock().unwrap();
        let version = keys.get(key).map_or(0, |e| e.0);
        let _ = tx.unbounded_send(self.encode(version, false));
        keys.insert(key.into(), (version, tx));
        Ok(Box::pin(rx.map(Ok)))
    }

    /// Changes `key` (a new version) and pushes it; false when nobody subscribed to it.
    fn change(&self, key: &str) -> bool {
        let mut keys = self.keys.lock().unwrap();
        let Some(entry) = keys.get_mut(key) else {
            return false;
        };
        entry.0 += 1;
        let value = self.encode(entry.0, true);
        entry.1.unbounded_send(value).is_ok()
    }
}

/// Feeds the real client's subscription streams (the runtime opens one per key).
pub struct Emitter {
    codec: PayloadCodec,
    subs: Mutex<Vec<mpsc::UnboundedSender<Vec<u8>>>>,
}

impl Emitter {
    fn new(codec: PayloadCodec) -> Self {
        Self {
            codec,
            subs: Mutex::new(Vec::new()),
        }
    }

    fn stream(&self) -> ValueStream {
        let (tx, rx) = mpsc::unbounded();
        self.subs.lock().unwrap().push(tx);
        Box::pin(rx.map(Ok))
    }

    fn emit<T: Serialize>(&self, value: &T) {
        let mut out = Vec::with_capacity(64);
        if self.codec.encode(value, &mut out).is_err() {
            return;
        }
        let mut subs = self.subs.lock().unwrap();
        subs.retain(|s| !s.is_closed());
        for s in subs.iter() {
            let _ = s.unbounded_send(out.clone());
        }
    }
}

/// The hand-written dispatch table (the payload kind is fixed per run).
pub struct BenchService {
    big: bool,
}

fn bad(e: impl std::fmt::Display) -> InvokeError {
    InvokeError::Failure(RemoteError::new("ArgumentError", e.to_string()))
}

fn echo_typed<T: Serialize + DeserializeOwned>(call: &Call) -> Result<Vec<u8>, InvokeError> {
    let (v,) = <(T,)>::decode_args(&call.codec, call.args()).map_err(bad)?;
    let mut out = Vec::new();
    call.codec.encode(&v, &mut out).map_err(bad)?;
    Ok(out)
}

impl Service for BenchService {
    type Client = BenchClient;

    fn channel_name(&self) -> &str {
        "BenchClient"
    }

    fn invoke(
        &self,
        _client: Arc<BenchClient>,
        call: Call,
    ) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
        let big = self.big;
        Box::pin(async move {
            match (call.method.as_str(), big) {
                ("echo", true) => echo_typed::<Big>(&call),
                ("echo", false) => echo_typed::<String>(&call),
                _ => Err(call.unknown_method("BenchClient")),
            }
        })
    }

    fn subscribe(
        &self,
        client: &Arc<BenchClient>,
        reg: Value,
        _codec: &PayloadCodec,
    ) -> Result<ValueStream, RemoteError> {
        match &client.keys {
            Some(keys) => keys.stream(&reg),
            None => Ok(client.emitter.stream()),
        }
    }
}

struct Params {
    role: String,
    port: u16,
    codec: PayloadCodec,
    /// `--payload` in bytes.
    payload: usize,
    /// Items of the object payload; `None` for the 16-byte string.
    items: Option<u32>,
    depth: usize,
    /// `--index`: the member's number, naming its keys (`k/<index>/<i>`).
    index: u64,
}

fn params(args: &[String]) -> Params {
    let payload: usize = flag(args, "--payload")
        .and_then(|p| p.parse().ok())
        .unwrap_or(16);
    Params {
        role: flag(args, "--child").unwrap_or_default(),
        port: flag(args, "--port")
            .and_then(|p| p.parse().ok())
            .expect("--port"),
        codec: flag(args, "--codec")
            .and_then(|c| PayloadCodec::from_name(&c))
            .unwrap_or_default(),
        payload,
        items: (payload > 16).then(|| big_items(payload)),
        depth: flag(args, "--depth")
            .and_then(|d| d.parse().ok())
            .unwrap_or(1),
        index: flag(args, "--index")
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    }
}

/// Runs a child role; never returns normally (exits when stdin closes or on `exit`).
pub fn main(args: &[String]) {
    let p = params(args);
    let threads: usize = std::env::var("BENCH_LEADER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let multi = matches!(p.role.as_str(), "leader" | "echo-server") && threads > 1;
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    rt.block_on(async move {
        match p.role.as_str() {
            "echo-server" => echo_server(p).await,
            "echo-client" => echo_client(p).await,
            _ => cluster_role(p).await,
        }
    });
    std::process::exit(0);
}

/// The next JSON command on stdin; `None` when stdin closed.
async fn next_cmd(lines: &mut tokio::io::Lines<BufReader<tokio::io::Stdin>>) -> Option<Value> {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    return Some(v);
                }
            }
            _ => return None,
        }
    }
}

fn stdin_lines() -> tokio::io::Lines<BufReader<tokio::io::Stdin>> {
    BufReader::new(tokio::io::stdin()).lines()
}

async fn cluster_role(p: Params) {
    let emitter = Arc::new(Emitter::new(p.codec.clone()));
    let keys = (p.role == "keys-member")
        .then(|| Arc::new(KeyStore::new(p.codec.clone(), payload(p.payload))));
    let mut builder = Builder::new(BenchService {
        big: p.items.is_some(),
    })
    .port(p.port)
    .codec(p.codec.clone());
    builder = match p.role.as_str() {
        "leader" => builder.is_leader(true),
        "follower" => builder.is_leader(false),
        _ => builder,
    };
    let ticker = p.role == "member";
    let em = emitter.clone();
    let store = keys.clone();
    let created = builder
        .create(move || {
            let em = em.clone();
            let keys = store.clone();
            async move {
                emit(&json!({"event": "leader", "t": mono_ns(), "pid": std::process::id()}));
                if ticker {
                    let ticks = em.clone();
                    tokio::spawn(async move {
                        let pid = std::process::id();
                        let mut every = tokio::time::interval(Duration::from_millis(1));
                        for s in 0..10_000_000u64 {
                            every.tick().await;
                            ticks.emit(&Tick { p: pid, s });
                        }
                    });
                }
                Ok::<_, String>(BenchClient { emitter: em, keys })
            }
        })
        .await;
    let handle = match created {
        Ok(h) => h,
        Err(e) => {
            emit(&json!({"event": "ready_error", "message": e.to_string()}));
            return;
        }
    };
    emit(&json!({
        "event": "ready",
        "pid": std::process::id(),
        "leader": handle.is_leader(),
        "t": mono_ns(),
    }));
    match (p.role.as_str(), p.items) {
        ("leader", Some(n)) => leader_loop(emitter, Arc::new(big(n))).await,
        ("leader", None) => leader_loop(emitter, Arc::new(small())).await,
        ("member", _) => member_loop(handle).await,
        ("keys-member", _) => {
            if let Some(store) = keys {
                keys_member_loop(handle, store, p.index).await
            }
        }
        (_, Some(n)) => follower_loop(handle, Arc::new(big(n)), p.depth).await,
        (_, None) => follower_loop(handle, Arc::new(small()), p.depth).await,
    }
}

/// The leader's commands: `emit` (fanout values at a paced rate).
async fn leader_loop<D: Serialize + Send + Sync + 'static>(emitter: Arc<Emitter>, payload: Arc<D>) {
    let mut lines = stdin_lines();
    while let Some(cmd) = next_cmd(&mut lines).await {
        match cmd["cmd"].as_str().unwrap_or("") {
            "emit" => {
                let phase = cmd["phase"].as_u64().unwrap_or(0) as u32;
                let rate = cmd["rate"].as_f64().unwrap_or(1000.0);
                let ms = cmd["ms"].as_u64().unwrap_or(1000);
                let total = (rate * ms as f64 / 1000.0) as u64;
                let start = Instant::now();
                let before = snapshot();
                let mut n = 0u64;
                while n < total {
                    let due = ((rate * start.elapsed().as_secs_f64()) as u64).min(total);
                    while n < due {
                        emitter.emit(&Fan {
                            p: phase,
                            s: n,
                            t: mono_ns(),
                            d: &*payload,
                        });
                        n += 1;
                    }
                    if n < total {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                let secs = start.elapsed().as_secs_f64();
                let used = snapshot().since(before);
                emit(
                    &json!({"event": "emitted", "phase": phase, "count": n, "secs": secs,
                    "allocs": used.allocs, "alloc_bytes": used.bytes}),
                );
            }
            "alloc_window" => {
                // What this leader allocates during the followers' timed invoke window.
                let warmup = Duration::from_millis(cmd["warmup_ms"].as_u64().unwrap_or(500));
                let dur = Duration::from_millis(cmd["ms"].as_u64().unwrap_or(1000));
                tokio::spawn(async move {
                    tokio::time::sleep(warmup).await;
                    let before = snapshot();
                    tokio::time::sleep(dur).await;
                    let used = snapshot().since(before);
                    emit(&json!({"event": "alloc_window", "allocs": used.allocs,
                        "alloc_bytes": used.bytes}));
                });
            }
            "exit" => break,
            _ => {}
        }
    }
}

#[derive(Default)]
struct PhaseStats {
    count: u64,
    next: u64,
    gaps: u64,
    hist: Hist,
    lat: Vec<(u64, u64)>,
    /// Allocation counters at the phase's first and latest value.
    alloc_first: Snapshot,
    alloc_last: Snapshot,
}

/// A follower: `run` (invoke load) and, for fanout, a subscription counted per phase.
async fn follower_loop<T>(handle: Handle<BenchService>, payload: Arc<T>, depth: usize)
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let phases: Arc<Mutex<HashMap<u32, PhaseStats>>> = Arc::default();
    let mut lines = stdin_lines();
    while let Some(cmd) = next_cmd(&mut lines).await {
        match cmd["cmd"].as_str().unwrap_or("") {
            "run" => {
                let warmup = Duration::from_millis(cmd["warmup_ms"].as_u64().unwrap_or(500));
                let dur = Duration::from_millis(cmd["ms"].as_u64().unwrap_or(1000));
                let r = run_invoke(&handle, payload.clone(), depth, warmup, dur).await;
                emit(&r);
            }
            "subscribe" => {
                let mut sub = match handle.subscribe::<_, Fan<T>>(&json!({"topic": "fan"})) {
                    Ok(s) => s,
                    Err(e) => {
                        emit(&json!({"event": "error", "message": e.to_string()}));
                        continue;
                    }
                };
                let phases = phases.clone();
                tokio::spawn(async move {
                    let mut primed = false;
                    while let Some(v) = sub.next().await {
                        let lat = mono_ns().saturating_sub(v.t);
                        let mut ph = phases.lock().unwrap();
                        let st = ph.entry(v.p).or_default();
                        if v.s != st.next {
                            st.gaps += 1;
                        }
                        st.next = v.s + 1;
                        st.count += 1;
                        if st.count == 1 {
                            st.alloc_first = snapshot();
                        }
                        st.alloc_last = snapshot();
                        st.hist.record(lat);
                        if v.p == 1 {
                            st.lat.push((v.s, lat));
                        }
                        if !primed {
                            primed = true;
                            emit(&json!({"event": "primed"}));
                        }
                    }
                });
            }
            "report" => {
                let phase = cmd["phase"].as_u64().unwrap_or(0) as u32;
                let expect = cmd["expect"].as_u64().unwrap_or(0);
                let wait =
                    Instant::now() + Duration::from_millis(cmd["wait_ms"].as_u64().unwrap_or(0));
                loop {
                    let done = phases
                        .lock()
                        .unwrap()
                        .get(&phase)
                        .is_some_and(|s| s.count >= expect);
                    if done || Instant::now() >= wait {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let ph = phases.lock().unwrap();
                let empty = PhaseStats::default();
                let st = ph.get(&phase).unwrap_or(&empty);
                emit(&json!({
                    "event": "report",
                    "phase": phase,
                    "count": st.count,
                    "gaps": st.gaps,
                    "hist": st.hist.to_json(),
                    "lat": st.lat,
                    "allocs": st.alloc_last.since(st.alloc_first).allocs,
                    "alloc_bytes": st.alloc_last.since(st.alloc_first).bytes,
                    "alloc_values": st.count.saturating_sub(1),
                }));
            }
            "exit" => break,
            _ => {}
        }
    }
}

async fn run_invoke<T>(
    handle: &Handle<BenchService>,
    payload: Arc<T>,
    depth: usize,
    warmup: Duration,
    dur: Duration,
) -> Value
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let warm_end = Instant::now() + warmup;
    let end = warm_end + dur;
    let window = tokio::spawn(async move {
        tokio::time::sleep_until(warm_end).await;
        let before = snapshot();
        tokio::time::sleep_until(end).await;
        snapshot().since(before)
    });
    let tasks: Vec<_> = (0..depth.max(1))
        .map(|_| {
            let handle = handle.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut hist = Hist::default();
                let mut errors = 0u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let r = handle.invoke::<_, T>("echo", (&*payload,)).await;
                    let t1 = Instant::now();
                    match r {
                        Ok(_) if t0 >= warm_end => hist.record((t1 - t0).as_nanos() as u64),
                        Ok(_) => {}
                        Err(_) => errors += 1,
                    }
                }
                (hist, errors)
            })
        })
        .collect();
    let mut hist = Hist::default();
    let mut errors = 0;
    for t in tasks {
        if let Ok((h, e)) = t.await {
            hist.merge(&h);
            errors += e;
        }
    }
    let used = window.await.unwrap_or_default();
    json!({
        "event": "result",
        "ops": hist.count(),
        "errors": errors,
        "secs": dur.as_secs_f64(),
        "hist": hist.to_json(),
        "allocs": used.allocs,
        "alloc_bytes": used.bytes,
    })
}

/// A failover participant: calls `echo` every millisecond and watches the tick subscription.
async fn member_loop(handle: Handle<BenchService>) {
    struct Log {
        ok: Vec<(u64, u64)>,
        err: Vec<(u64, u64)>,
        inflight: HashMap<u64, u64>,
        first_by_pid: HashMap<u32, u64>,
    }
    let log = Arc::new(Mutex::new(Log {
        ok: Vec::new(),
        err: Vec::new(),
        inflight: HashMap::new(),
        first_by_pid: HashMap::new(),
    }));
    let mut sub = handle
        .subscribe::<_, Tick>(&json!({"topic": "tick"}))
        .expect("subscribe");
    let sub_log = log.clone();
    tokio::spawn(async move {
        while let Some(v) = sub.next().await {
            let now = mono_ns();
            let mut l = sub_log.lock().unwrap();
            if l.first_by_pid.is_empty() {
                emit(&json!({"event": "sub_ok"}));
            }
            l.first_by_pid.entry(v.p).or_insert(now);
        }
    });
    let call_log = log.clone();
    let caller = handle.clone();
    tokio::spawn(async move {
        let payload = small();
        let ids = AtomicU64::new(0);
        let mut announced = false;
        // Bounded: at most ten minutes of calls.
        let stop = Instant::now() + Duration::from_secs(600);
        while Instant::now() < stop {
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let t0 = mono_ns();
            call_log.lock().unwrap().inflight.insert(id, t0);
            let r = caller.invoke::<_, String>("echo", (&payload,)).await;
            let t1 = mono_ns();
            {
                let mut l = call_log.lock().unwrap();
                l.inflight.remove(&id);
                match r {
                    Ok(_) => {
                        l.ok.push((t0, t1));
                        if !announced {
                            announced = true;
                            emit(&json!({"event": "call_ok"}));
                        }
                    }
                    Err(_) => l.err.push((t0, t1)),
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut lines = stdin_lines();
    while let Some(cmd) = next_cmd(&mut lines).await {
        match cmd["cmd"].as_str().unwrap_or("") {
            "report" => {
                let t0 = cmd["t0"].as_u64().unwrap_or(0);
                let dead = cmd["dead"].as_u64().unwrap_or(0) as u32;
                let hung_ns = cmd["hung_ms"].as_u64().unwrap_or(4000) * 1_000_000;
                let now = mono_ns();
                let l = log.lock().unwrap();
                let call = l.ok.iter().filter(|(s, _)| *s >= t0).map(|(_, e)| *e).min();
                let sub = l
                    .first_by_pid
                    .iter()
                    .filter(|(p, t)| **p != dead && **t >= t0)
                    .map(|(_, t)| *t)
                    .min();
                let errors = l.err.iter().filter(|(_, e)| *e >= t0).count();
                let slow =
                    l.ok.iter()
                        .chain(&l.err)
                        .filter(|(s, e)| *e >= t0 && e - s > hung_ns)
                        .count();
                let oldest = l
                    .inflight
                    .values()
                    .map(|s| now.saturating_sub(*s))
                    .max()
                    .unwrap_or(0);
                let stuck = l
                    .inflight
                    .values()
                    .filter(|s| now.saturating_sub(**s) > hung_ns)
                    .count();
                emit(&json!({
                    "event": "report",
                    "call_t": call,
                    "sub_t": sub,
                    "errors": errors,
                    "hung": slow + stuck,
                    "inflight_oldest_ns": oldest,
                    "leader": handle.is_leader(),
                }));
            }
            "exit" => break,
            _ => {}
        }
    }
}

/// What a `keys-member` knows about its own subscriptions, per key index.
struct KeysSeen {
    /// The pid of the leader that sent the key's latest value (0: none yet).
    pid: Vec<u32>,
    /// When the first value from that pid arrived (`mono_ns`).
    since: Vec<u64>,
    /// Keys that delivered at least one value.
    delivered: usize,
}

/// A `keys` participant: competes for the port; `subscribe` opens `k` subscriptions
/// (`k/<index>/<i>`) and says `subscribed` once each delivered a value; every change pushed by
/// the leader is reported as `changed` with its latency; `change` (on the leader) changes one
/// key; `report` says when every key last got a value from a leader other than `dead`.
async fn keys_member_loop(handle: Handle<BenchService>, store: Arc<KeyStore>, index: u64) {
    let seen = Arc::new(Mutex::new(KeysSeen {
        pid: Vec::new(),
        since: Vec::new(),
        delivered: 0,
    }));
    let mut watcher: Option<tokio::task::JoinHandle<()>> = None;
    let mut lines = stdin_lines();
    while let Some(cmd) = next_cmd(&mut lines).await {
        match cmd["cmd"].as_str().unwrap_or("") {
            "subscribe" => {
                let k = cmd["k"].as_u64().unwrap_or(0) as usize;
                let mut streams = Vec::with_capacity(k);
                let mut failed = None;
                for i in 0..k {
                    let key = format!("k/{index}/{i}");
                    match handle.subscribe::<_, KeyVal<Payload>>(&json!({ "key": key })) {
                        Ok(s) => streams.push(Box::pin(s.map(move |v| (i, v)))),
                        Err(e) => {
                            failed = Some(format!("subscribing {key}: {e}"));
                            break;
                        }
                    }
                }
                if let Some(message) = failed {
                    emit(&json!({"event": "error", "message": message}));
                    continue;
                }
                {
                    let mut s = seen.lock().unwrap();
                    s.pid = vec![0; k];
                    s.since = vec![0; k];
                    s.delivered = 0;
                }
                let seen = seen.clone();
                let mut all = futures::stream::select_all(streams);
                watcher = Some(tokio::spawn(async move {
                    while let Some((i, v)) = all.next().await {
                        let now = mono_ns();
                        let mut s = seen.lock().unwrap();
                        if s.pid[i] == 0 {
                            s.delivered += 1;
                            if s.delivered == k {
                                emit(&json!({"event": "subscribed", "t": now}));
                            }
                        }
                        if s.pid[i] != v.p {
                            s.pid[i] = v.p;
                            s.since[i] = now;
                        }
                        if v.c == 1 {
                            emit(&json!({"event": "changed", "i": i, "s": v.s,
                                "lat_ns": now.saturating_sub(v.t)}));
                        }
                    }
                }));
            }
            "change" => {
                let key = cmd["key"].as_str().unwrap_or("");
                if !store.change(key) {
                    emit(&json!({"event": "error",
                        "message": format!("change {key}: no subscription to it here")}));
                }
            }
            "report" => {
                let t0 = cmd["t0"].as_u64().unwrap_or(0);
                let dead = cmd["dead"].as_u64().unwrap_or(0) as u32;
                let s = seen.lock().unwrap();
                let mut missing = 0;
                let mut done = 0;
                for (pid, since) in s.pid.iter().zip(&s.since) {
                    if *pid == 0 || *pid == dead || *since < t0 {
                        missing += 1;
                    } else {
                        done = done.max(*since);
                    }
                }
                emit(&json!({
                    "event": "keys_report",
                    "missing": missing,
                    "done_t": if missing == 0 { Some(done) } else { None },
                    "leader": handle.is_leader(),
                }));
            }
            "exit" => break,
            _ => {}
        }
    }
    if let Some(w) = watcher {
        w.abort();
    }
}

/// The floor: reads frames and answers each with an `invoke_result` carrying its payload.
async fn echo_server(p: Params) {
    let listener = TcpListener::bind(("127.0.0.1", p.port))
        .await
        .expect("bind");
    emit(&json!({"event": "ready", "pid": std::process::id(), "leader": true, "t": mono_ns()}));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let mut codec = FrameCodec::default();
                let mut inbuf = BytesMut::with_capacity(64 * 1024);
                let mut out = Vec::with_capacity(64 * 1024);
                let ok = Message::InvokeResult { success: true };
                loop {
                    match sock.read_buf(&mut inbuf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    while let Ok(Some(frame)) = codec.decode(&mut inbuf) {
                        let _ = Packet::encode_with::<ProtocolError>(
                            &codec,
                            Header::response(frame.header.id, 0),
                            &ok,
                            &mut out,
                            |o| {
                                o.extend_from_slice(&frame.app);
                                Ok(())
                            },
                        );
                    }
                    if !out.is_empty() {
                        if sock.write_all(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                }
            });
        }
    });
    let mut lines = stdin_lines();
    while let Some(cmd) = next_cmd(&mut lines).await {
        if cmd["cmd"] == "exit" {
            break;
        }
    }
}

/// The floor's client: one connection, `depth` requests outstanding, the same frames a
/// follower sends (`invoke` conn object, encoded argument list).
async fn echo_client(p: Params) {
    let mut sock = TcpStream::connect(("127.0.0.1", p.port))
        .await
        .expect("connect");
    let _ = sock.set_nodelay(true);
    let mut args = Vec::new();
    {
        let mut w = ArgsWriter::new(&mut args);
        if let Some(n) = p.items {
            w.push(|o| p.codec.encode(&big(n), o)).expect("encode");
        } else {
            w.push(|o| p.codec.encode(&small(), o)).expect("encode");
        }
    }
    emit(&json!({"event": "ready", "pid": std::process::id(), "leader": false, "t": mono_ns()}));
    let mut lines = stdin_lines();
    while let Some(cmd) = next_cmd(&mut lines).await {
        match cmd["cmd"].as_str().unwrap_or("") {
            "run" => {
                let warmup = Duration::from_millis(cmd["warmup_ms"].as_u64().unwrap_or(500));
                let dur = Duration::from_millis(cmd["ms"].as_u64().unwrap_or(1000));
                let r = echo_run(&mut sock, &args, p.depth.max(1), warmup, dur).await;
                emit(&r);
            }
            "exit" => break,
            _ => {}
        }
    }
}

async fn echo_run(
    sock: &mut TcpStream,
    args: &[u8],
    depth: usize,
    warmup: Duration,
    dur: Duration,
) -> Value {
    let codec = FrameCodec::default();
    let invoke = Message::Invoke {
        method: "echo".into(),
        arg_length: 1,
        oneway: false,
    };
    let warm_end = Instant::now() + warmup;
    let end = warm_end + dur;
    let mut next_id = 1i64;
    let mut started: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    let mut dec = FrameCodec::default();
    let mut hist = Hist::default();
    let mut errors = 0u64;
    let mut send = |out: &mut Vec<u8>, started: &mut VecDeque<Instant>| {
        let _ = Packet::encode_with::<ProtocolError>(
            &codec,
            Header::request(next_id, 3000),
            &invoke,
            out,
            |o| {
                o.extend_from_slice(args);
                Ok(())
            },
        );
        next_id += 1;
        started.push_back(Instant::now());
    };
    for _ in 0..depth {
        send(&mut out, &mut started);
    }
    while !started.is_empty() {
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                errors += 1;
                break;
            }
            out.clear();
        }
        match tokio::time::timeout(Duration::from_secs(5), sock.read_buf(&mut inbuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => {
                errors += started.len() as u64;
                break;
            }
        }
        let now = Instant::now();
        while let Ok(Some(_frame)) = dec.decode(&mut inbuf) {
            let Some(t0) = started.pop_front() else {
                errors += 1;
                continue;
            };
            if t0 >= warm_end {
                hist.record((now - t0).as_nanos() as u64);
            }
            if now < end {
                send(&mut out, &mut started);
            }
        }
    }
    json!({
        "event": "result",
        "ops": hist.count(),
        "errors": errors,
        "secs": dur.as_secs_f64(),
        "hist": hist.to_json(),
    })
}
