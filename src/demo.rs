//! A demo "real client" over an in-memory backend, with a hand-written [`Service`], so the
//! runtime can be tested without the macro.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_client::{BoxFuture, Call, DecodeArgs, InvokeError, RemoteError, Service, ValueStream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

/// The backend every real client talks to: topics with a current value, plus counters a test
/// can read.
/// A topic's current value and the feed of its later changes.
type TopicState = (Option<Vec<String>>, broadcast::Sender<Vec<String>>);

pub struct Backend {
    /// Per topic: the current value (a sorted set of strings, like the addresses a registry
    /// holds for a service) and a feed of every later change.
    topics: Mutex<HashMap<String, TopicState>>,
    /// Real clients created so far.
    pub clients_created: AtomicUsize,
    /// Real clients closed so far.
    pub clients_closed: AtomicUsize,
    /// Upstream subscriptions currently open.
    pub open_subscriptions: AtomicUsize,
    /// Upstream unsubscribe calls.
    pub unsubscribes: AtomicUsize,
    /// `slow` calls started and not yet finished or dropped.
    pub slow_running: AtomicUsize,
    /// Messages received through `notify`, observable with [`Backend::wait_notes`].
    notes: watch::Sender<Vec<String>>,
    /// Every publication a real client applied, in order, as `topic=value`.
    published: Mutex<Vec<String>>,
    /// Notes and publications together, in the order the real clients got them.
    journal: Mutex<Vec<String>>,
}

impl Default for Backend {
    fn default() -> Self {
        Self {
            topics: Mutex::default(),
            clients_created: AtomicUsize::new(0),
            clients_closed: AtomicUsize::new(0),
            open_subscriptions: AtomicUsize::new(0),
            unsubscribes: AtomicUsize::new(0),
            slow_running: AtomicUsize::new(0),
            notes: watch::Sender::new(Vec::new()),
            published: Mutex::default(),
            journal: Mutex::default(),
        }
    }
}

impl Backend {
    /// Waits until at least `n` notes arrived and returns them.
    pub async fn wait_notes(&self, n: usize) -> Vec<String> {
        let mut rx = self.notes.subscribe();
        rx.wait_for(|v| v.len() >= n)
            .await
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Every publication the real clients of this backend applied so far, in the order they
    /// applied them, as `topic=value` (a publication applied twice appears twice).
    pub fn published(&self) -> Vec<String> {
        self.published.lock().unwrap().clone()
    }

    /// Every note (as itself) and publication (as `topic=value`) the real clients of this
    /// backend got, in the one order they got them.
    pub fn journal(&self) -> Vec<String> {
        self.journal.lock().unwrap().clone()
    }

    /// The current value of a topic and a receiver of every later change, taken atomically.
    fn watch(&self, name: &str) -> (Option<Vec<String>>, broadcast::Receiver<Vec<String>>) {
        let mut topics = self.topics.lock().unwrap();
        let (current, tx) = topics
            .entry(name.to_owned())
            .or_insert_with(|| (None, broadcast::channel(4096).0));
        (current.clone(), tx.subscribe())
    }

    fn change(&self, topic: &str, f: impl FnOnce(&mut Vec<String>)) {
        let mut topics = self.topics.lock().unwrap();
        let (current, tx) = topics
            .entry(topic.to_owned())
            .or_insert_with(|| (None, broadcast::channel(4096).0));
        let value = current.get_or_insert_with(Vec::new);
        f(value);
        let _ = tx.send(value.clone());
    }

    /// Replaces a topic's value with `[value]`, as another system writing to the backend
    /// would. Every change reaches every open subscription (nothing is coalesced).
    pub fn set(&self, topic: &str, value: &str) {
        self.change(topic, |v| *v = vec![value.to_owned()]);
    }

    /// Adds `value` to a topic's set (what a publication does).
    pub fn add(&self, topic: &str, value: &str) {
        self.change(topic, |v| {
            if !v.iter().any(|x| x == value) {
                v.push(value.to_owned());
                v.sort();
            }
        });
    }
}

/// The subscription argument.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Topic {
    /// The topic name.
    pub topic: String,
}

/// The publication argument.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Publication {
    /// The topic name.
    pub topic: String,
    /// The new value.
    pub value: String,
}

/// The real client: one per leader incarnation.
pub struct Demo {
    backend: Arc<Backend>,
    /// Which creation this is (1 for the first client made on this backend).
    pub generation: usize,
}

impl Demo {
    /// Connects a new real client to `backend`.
    pub fn connect(backend: Arc<Backend>) -> Self {
        let generation = backend.clients_created.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            backend,
            generation,
        }
    }

    /// Returns its argument.
    pub async fn echo(&self, s: String) -> String {
        s
    }

    /// Adds.
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    /// Always fails with `DemoError` / code `E_DEMO`.
    pub async fn fail(&self, message: String) -> Result<(), RemoteError> {
        Err(RemoteError::new("DemoError", message).with_code("E_DEMO"))
    }

    /// Sleeps, then answers. [`Backend::slow_running`] counts the calls asleep (a call
    /// dropped by the runtime stops counting at once).
    pub async fn slow(&self, ms: u64) -> u64 {
        self.backend.slow_running.fetch_add(1, Ordering::SeqCst);
        let _running = SlowGuard(self.backend.clone());
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    /// A string of `n` bytes (an answer much larger than its request).
    pub async fn big(&self, n: usize) -> String {
        "x".repeat(n)
    }

    /// Records a note (used as a oneway call).
    pub fn notify(&self, note: String) {
        self.backend.journal.lock().unwrap().push(note.clone());
        self.backend.notes.send_modify(|v| v.push(note));
    }

    /// Adds a value to a topic (publications accumulate, as registrations do).
    pub fn publish(&self, p: Publication) {
        self.backend
            .published
            .lock()
            .unwrap()
            .push(format!("{}={}", p.topic, p.value));
        self.backend
            .journal
            .lock()
            .unwrap()
            .push(format!("{}={}", p.topic, p.value));
        self.backend.add(&p.topic, &p.value);
    }

    /// Values of a topic: the current one (if any), then every change.
    pub fn subscribe(&self, t: Topic) -> impl futures::Stream<Item = Vec<String>> + Send + 'static {
        let (current, rx) = self.backend.watch(&t.topic);
        let backend = self.backend.clone();
        backend.open_subscriptions.fetch_add(1, Ordering::SeqCst);
        let guard = OpenGuard(backend);
        let later = crate::streams::from_broadcast(rx);
        futures::stream::iter(current).chain(later).map(move |v| {
            let _ = &guard;
            v
        })
    }

    /// A subscription that never yields and holds nothing in the backend (cheap to hold by
    /// the thousand); counted in [`Backend::open_subscriptions`].
    pub fn subscribe_idle(&self) -> impl futures::Stream<Item = Vec<String>> + Send + 'static {
        self.backend
            .open_subscriptions
            .fetch_add(1, Ordering::SeqCst);
        let guard = OpenGuard(self.backend.clone());
        futures::stream::pending().map(move |v| {
            let _ = &guard;
            v
        })
    }
}

struct SlowGuard(Arc<Backend>);

impl Drop for SlowGuard {
    fn drop(&mut self) {
        self.0.slow_running.fetch_sub(1, Ordering::SeqCst);
    }
}

struct OpenGuard(Arc<Backend>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_subscriptions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The hand-written dispatch table for [`Demo`] (what `#[cluster_client]` generates).
#[derive(Clone, Copy, Default)]
pub struct DemoService;

fn failure(e: impl std::fmt::Display) -> InvokeError {
    InvokeError::Failure(RemoteError::new("ArgumentError", e.to_string()).with_code("ERR_BAD_ARGS"))
}

fn encode<T: Serialize>(call: &Call, v: &T) -> Result<Vec<u8>, InvokeError> {
    let mut out = Vec::new();
    call.codec.encode(v, &mut out).map_err(failure)?;
    Ok(out)
}

impl Service for DemoService {
    type Client = Demo;

    fn channel_name(&self) -> &str {
        "DemoClient"
    }

    fn invoke(
        &self,
        client: Arc<Demo>,
        call: Call,
    ) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
        Box::pin(async move {
            match call.method.as_str() {
                "echo" => {
                    let (s,) =
                        <(String,)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    encode(&call, &client.echo(s).await)
                }
                "add" => {
                    let (a, b) =
                        <(i64, i64)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    encode(&call, &client.add(a, b).await)
                }
                "fail" => {
                    let (m,) =
                        <(String,)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    match client.fail(m).await {
                        Ok(()) => encode(&call, &()),
                        Err(e) => Err(InvokeError::Failure(e)),
                    }
                }
                "slow" => {
                    let (ms,) = <(u64,)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    encode(&call, &client.slow(ms).await)
                }
                "big" => {
                    let (n,) =
                        <(usize,)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    encode(&call, &client.big(n).await)
                }
                "panic" => panic!("the demo client panics on purpose"),
                "generation" => encode(&call, &client.generation),
                "notify" => {
                    let (n,) =
                        <(String,)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    client.notify(n);
                    encode(&call, &())
                }
                "publish" => {
                    let (p,) =
                        <(Publication,)>::decode_args(&call.codec, call.args()).map_err(failure)?;
                    client.publish(p);
                    encode(&call, &())
                }
                _ => Err(call.unknown_method("DemoClient")),
            }
        })
    }

    fn subscribe(
        &self,
        client: &Arc<Demo>,
        reg: Value,
        codec: &cluster_client::codec::PayloadCodec,
    ) -> Result<ValueStream, RemoteError> {
        let topic: Topic = serde_json::from_value(reg)
            .map_err(|e| RemoteError::new("ArgumentError", e.to_string()))?;
        // Topic families for the hostile-input tests: `refused/...` is refused, `idle/...`
        // never changes and costs the backend nothing.
        if topic.topic.starts_with("refused/") {
            return Err(
                RemoteError::new("DemoRefusedError", "the demo client refuses this topic")
                    .with_code("E_DEMO_REFUSED"),
            );
        }
        let codec = codec.clone();
        let values: futures::stream::BoxStream<'static, Vec<String>> =
            if topic.topic.starts_with("idle/") {
                Box::pin(client.subscribe_idle())
            } else {
                Box::pin(client.subscribe(topic))
            };
        Ok(Box::pin(values.map(move |v| {
            let mut out = Vec::new();
            codec.encode(&v, &mut out).map(|()| out)
        })))
    }

    fn unsubscribe(&self, client: &Arc<Demo>, _reg: Value) -> BoxFuture<'static, ()> {
        client.backend.unsubscribes.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }

    fn publish_method(&self) -> Option<&str> {
        Some("publish")
    }

    fn close(&self, client: Arc<Demo>) -> BoxFuture<'static, ()> {
        client.backend.clients_closed.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }
}
