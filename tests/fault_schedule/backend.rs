//! The test's real client and the backend it talks to.
//!
//! Every leader a run elects creates a [`Recorder`] (one per leader incarnation, numbered from
//! 0). All of them share one [`Backend`], which stands for the external system and records,
//! per real client, everything that client is handed, in the order it was handed: two-way
//! calls, oneway calls, publications. Calls are recorded when the runtime hands them to the
//! real client (in `Service::invoke`, before any await), which is the moment "reached the
//! real client" means for ordering.
//!
//! Topics hold a grow-only set of strings (like the addresses a registry holds for a service):
//! a publication adds `"<publisher>=v<value>"` to its topic, an external write (another
//! system writing to the backend) adds `"ext<n>"`. Subscribers get the whole set each time it
//! changes, so the latest value is all a subscriber needs to have seen.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cluster_client::codec::PayloadCodec;
use cluster_client::{BoxFuture, Call, DecodeArgs, InvokeError, RemoteError, Service, ValueStream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

/// The number of a real client (its leader incarnation), in creation order.
pub type ClientId = usize;

/// The topics participants subscribe and publish to.
pub const TOPICS: u8 = 3;
/// Publication values per topic: small, so a publisher often publishes a key again.
pub const VALUES: u8 = 3;

/// A two-way call: who made it, its number in that participant's order of calls, and how long
/// the real client takes to answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallArgs {
    pub who: String,
    pub seq: u64,
    pub slow_ms: u64,
}

/// What a two-way call answers: which real client ran it, and the call it ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallReply {
    pub client: ClientId,
    pub who: String,
    pub seq: u64,
}

/// A oneway call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    pub who: String,
    pub seq: u64,
}

/// A publication. Its subscription key is its whole JSON (as in Node), so one publisher has
/// `TOPICS * VALUES` keys, and publishing the same registration again is a new publication of
/// the same key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registration {
    pub who: String,
    pub topic: u8,
    pub value: u8,
}

impl Registration {
    /// The member this publication adds to its topic.
    pub fn member(&self) -> String {
        format!("{}=v{}", self.who, self.value)
    }
}

/// A subscription argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicReg {
    pub topic: u8,
}

/// Something a real client was handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handed {
    Call { who: String, seq: u64 },
    Oneway { who: String, seq: u64 },
    Publish(Registration),
}

impl Handed {
    pub fn who(&self) -> &str {
        match self {
            Handed::Call { who, .. } | Handed::Oneway { who, .. } => who,
            Handed::Publish(r) => &r.who,
        }
    }
}

/// What one real client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// The participant (incarnation) whose leader created it.
    pub made_by: String,
    /// In the order it got them, with when.
    pub handed: Vec<(Instant, Handed)>,
    /// The registrations it was handed (what it "holds").
    pub publications: HashSet<Registration>,
    /// Upstream subscriptions open right now, per topic.
    pub upstreams: HashMap<u8, usize>,
    pub closed: bool,
}

struct Topic {
    value: Option<BTreeSet<String>>,
    feed: broadcast::Sender<Vec<String>>,
}

#[derive(Default)]
pub struct BackendState {
    pub clients: Vec<ClientLog>,
    /// Two-way calls run, per (participant, call number): the real clients that ran them.
    pub executions: HashMap<(String, u64), Vec<ClientId>>,
    topics: HashMap<u8, Topic>,
    externals: u64,
}

impl BackendState {
    /// A topic's current value as subscribers receive it.
    pub fn value(&self, topic: u8) -> Option<Vec<String>> {
        self.topics
            .get(&topic)
            .and_then(|t| t.value.as_ref())
            .map(|v| v.iter().cloned().collect())
    }

    fn topic(&mut self, topic: u8) -> &mut Topic {
        self.topics.entry(topic).or_insert_with(|| Topic {
            value: None,
            feed: broadcast::channel(1024).0,
        })
    }

    fn add(&mut self, topic: u8, member: String) {
        let t = self.topic(topic);
        let set = t.value.get_or_insert_with(BTreeSet::new);
        if set.insert(member) {
            let _ = t.feed.send(set.iter().cloned().collect());
        }
    }
}

/// The external system, shared by every real client of a run.
pub struct Backend {
    state: Mutex<BackendState>,
    /// Bumped on every change, so a waiter can await the next one instead of polling.
    changed: Arc<watch::Sender<u64>>,
}

impl Backend {
    pub fn new(changed: Arc<watch::Sender<u64>>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            changed,
        })
    }

    pub fn state(&self) -> MutexGuard<'_, BackendState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn modify<T>(&self, f: impl FnOnce(&mut BackendState) -> T) -> T {
        let out = f(&mut self.state());
        self.changed.send_modify(|n| *n += 1);
        out
    }

    /// Another system writes to the backend: every subscriber of `topic` must see it.
    pub fn external_write(&self, topic: u8) {
        self.modify(|s| {
            s.externals += 1;
            let member = format!("ext{}", s.externals);
            s.add(topic, member);
        });
    }
}

/// The real client: one per leader incarnation.
pub struct Recorder {
    id: ClientId,
    backend: Arc<Backend>,
}

impl Recorder {
    /// Connects a new real client, created by the leader of participant `made_by`.
    pub fn connect(backend: &Arc<Backend>, made_by: &str) -> Self {
        let id = backend.modify(|s| {
            s.clients.push(ClientLog {
                made_by: made_by.to_owned(),
                ..ClientLog::default()
            });
            s.clients.len() - 1
        });
        Self {
            id,
            backend: backend.clone(),
        }
    }

    fn record(&self, item: Handed) {
        let id = self.id;
        self.backend.modify(|s| {
            match &item {
                Handed::Call { who, seq } => {
                    s.executions
                        .entry((who.clone(), *seq))
                        .or_default()
                        .push(id);
                }
                Handed::Publish(reg) => {
                    s.clients[id].publications.insert(reg.clone());
                    s.add(reg.topic, reg.member());
                }
                Handed::Oneway { .. } => {}
            }
            s.clients[id].handed.push((Instant::now(), item));
        });
    }

    /// The topic's current value, then every change; counted as an open upstream subscription
    /// of this client until the stream is dropped.
    fn watch(&self, topic: u8) -> impl futures::Stream<Item = Vec<String>> + Send + 'static {
        let id = self.id;
        let (current, rx) = self.backend.modify(|s| {
            *s.clients[id].upstreams.entry(topic).or_default() += 1;
            let t = s.topic(topic);
            let current = t.value.as_ref().map(|v| v.iter().cloned().collect());
            (current, t.feed.subscribe())
        });
        let open = Upstream {
            backend: self.backend.clone(),
            client: id,
            topic,
        };
        let later = cluster_client_suite::streams::from_broadcast(rx);
        futures::stream::iter(current).chain(later).map(move |v| {
            let _ = &open;
            v
        })
    }
}

/// An open upstream subscription; closed when dropped.
struct Upstream {
    backend: Arc<Backend>,
    client: ClientId,
    topic: u8,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let (client, topic) = (self.client, self.topic);
        self.backend.modify(|s| {
            if let Some(n) = s.clients[client].upstreams.get_mut(&topic) {
                *n -= 1;
                if *n == 0 {
                    s.clients[client].upstreams.remove(&topic);
                }
            }
        });
    }
}

/// The hand-written dispatch table of [`Recorder`], as `#[cluster_client]` would generate it.
#[derive(Clone, Copy, Default)]
pub struct FaultService;

fn failure(e: impl std::fmt::Display) -> InvokeError {
    InvokeError::Failure(RemoteError::new("ArgumentError", e.to_string()).with_code("ERR_BAD_ARGS"))
}

fn encoded<T: Serialize>(codec: &PayloadCodec, v: &T) -> Result<Vec<u8>, InvokeError> {
    let mut out = Vec::new();
    codec.encode(v, &mut out).map_err(failure)?;
    Ok(out)
}

fn ready(result: Result<Vec<u8>, InvokeError>) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
    Box::pin(std::future::ready(result))
}

impl Service for FaultService {
    type Client = Recorder;

    fn channel_name(&self) -> &str {
        "FaultSchedule"
    }

    fn invoke(
        &self,
        client: Arc<Recorder>,
        call: Call,
    ) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
        let codec = call.codec.clone();
        // Decoded and recorded here, before any await: this is when the call reached the real
        // client.
        match call.method.as_str() {
            "call" => {
                let args = match <(CallArgs,)>::decode_args(&codec, call.args()) {
                    Ok((args,)) => args,
                    Err(e) => return ready(Err(failure(e))),
                };
                client.record(Handed::Call {
                    who: args.who.clone(),
                    seq: args.seq,
                });
                let reply = CallReply {
                    client: client.id,
                    who: args.who,
                    seq: args.seq,
                };
                if args.slow_ms == 0 {
                    return ready(encoded(&codec, &reply));
                }
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(args.slow_ms)).await;
                    encoded(&codec, &reply)
                })
            }
            "note" => match <(Note,)>::decode_args(&codec, call.args()) {
                Ok((note,)) => {
                    client.record(Handed::Oneway {
                        who: note.who,
                        seq: note.seq,
                    });
                    ready(encoded(&codec, &()))
                }
                Err(e) => ready(Err(failure(e))),
            },
            "publish" => match <(Registration,)>::decode_args(&codec, call.args()) {
                Ok((reg,)) => {
                    client.record(Handed::Publish(reg));
                    ready(encoded(&codec, &()))
                }
                Err(e) => ready(Err(failure(e))),
            },
            "whoami" => ready(encoded(&codec, &client.id)),
            _ => ready(Err(call.unknown_method("FaultSchedule"))),
        }
    }

    fn subscribe(
        &self,
        client: &Arc<Recorder>,
        reg: Value,
        codec: &PayloadCodec,
    ) -> Result<ValueStream, RemoteError> {
        let topic: TopicReg = serde_json::from_value(reg)
            .map_err(|e| RemoteError::new("ArgumentError", e.to_string()))?;
        let codec = codec.clone();
        Ok(Box::pin(client.watch(topic.topic).map(move |v| {
            let mut out = Vec::new();
            codec.encode(&v, &mut out).map(|()| out)
        })))
    }

    fn publish_method(&self) -> Option<&str> {
        Some("publish")
    }

    fn close(&self, client: Arc<Recorder>) -> BoxFuture<'static, ()> {
        let id = client.id;
        client.backend.modify(|s| s.clients[id].closed = true);
        Box::pin(async {})
    }
}
