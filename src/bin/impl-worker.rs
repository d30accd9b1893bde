//! A worker process for the impl forms' end-to-end tests: one handle generated from an impl
//! block, driven by JSON-line commands on stdin, reporting JSON lines on stdout.
//!
//! `impl-worker --form inherent|trait --port N [--timeout-ms N]`
//!
//! * `inherent`: `InventoryCluster`, generated in the library from the inherent
//!   `impl Inventory` (`inherent_demo`);
//! * `trait`: `RegistryCluster`, generated here from `impl Registry for AppRegistry`, where
//!   `Registry` is the SDK trait of `registry_sdk`: a trait of another crate, with no attribute.
//!
//! Commands: `{"id":1,"cmd":"script"}` (the results of the form's script through the handle),
//! `{"id":2,"cmd":"is_leader"}`, `{"id":3,"cmd":"watch","topic":"t"}` (then
//! `{"event":"value","topic":..,"value":[..]}` per value), `{"id":4,"cmd":"announce",
//! "topic":"t","value":"v"}`, `{"id":5,"cmd":"describe"}` (trait form: the handle's and the
//! real client's `describe`), `{"id":6,"cmd":"await_elections","count":2}` (answers once the
//! process has led or followed a leader that many times, and is ready), `{"id":7,"cmd":"exit"}`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cluster_client::cluster_client;
use cluster_client_suite::demo::{Backend, Publication, Topic};
use cluster_client_suite::inherent_demo::{self, Inventory, InventoryCluster};
use cluster_client_suite::registry_sdk::{self, Registry, SdkError, SdkRegistry};
use cluster_client_suite::worker_io::{emit, flag, init_logs};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The application's registry client: the SDK's, with its own `describe`.
struct AppRegistry {
    sdk: SdkRegistry,
}

#[cluster_client(name = "AppRegistry", rename_all = "camelCase")]
impl Registry for AppRegistry {
    type Error = SdkError;

    #[delegate(invoke)]
    async fn lookup(&self, service: String) -> Result<Vec<String>, Self::Error> {
        self.sdk.lookup(service).await
    }

    #[delegate(invoke)]
    fn resolve(
        &self,
        service: String,
        port: u16,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send {
        self.sdk.resolve(service, port)
    }

    #[delegate(invoke_oneway)]
    fn heartbeat(&self, node: String) {
        self.sdk.heartbeat(node)
    }

    #[delegate(subscribe)]
    fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
        self.sdk.subscribe(topic)
    }

    #[delegate(unsubscribe)]
    fn unsubscribe(&self, topic: Topic) {
        self.sdk.unsubscribe(topic)
    }

    #[delegate(publish)]
    fn register(&self, registration: Publication) {
        self.sdk.register(registration)
    }

    #[delegate(close)]
    async fn close(&self) {
        self.sdk.close().await
    }

    // Kept local: the handle answers with the trait's provided body.
    fn describe(&self) -> String {
        "app registry".to_owned()
    }
}

/// The handle of either form, behind the commands both understand.
enum Shared {
    Inherent(InventoryCluster),
    Trait(RegistryCluster),
}

impl Shared {
    async fn script(&self) -> Value {
        match self {
            Shared::Inherent(h) => inherent_demo::script(h).await,
            Shared::Trait(h) => registry_sdk::script(h).await,
        }
    }

    fn is_leader(&self) -> bool {
        match self {
            Shared::Inherent(h) => h.is_leader(),
            Shared::Trait(h) => h.is_leader(),
        }
    }

    fn watch(&self, topic: Topic) -> futures::stream::BoxStream<'static, Vec<String>> {
        match self {
            Shared::Inherent(h) => h.watch(topic).boxed(),
            Shared::Trait(h) => h.subscribe(topic).boxed(),
        }
    }

    fn announce(&self, publication: Publication) {
        match self {
            Shared::Inherent(h) => h.announce(publication),
            Shared::Trait(h) => h.register(publication),
        }
    }

    fn describe(&self, backend: &Arc<Backend>) -> Value {
        match self {
            Shared::Inherent(_) => Value::Null,
            Shared::Trait(h) => json!({
                "handle": h.describe(),
                "real": AppRegistry { sdk: SdkRegistry::connect(backend.clone()) }.describe(),
            }),
        }
    }

    async fn close(&self) {
        match self {
            Shared::Inherent(h) => h.close().await,
            Shared::Trait(h) => h.close().await,
        }
    }

    fn elections(&self) -> u64 {
        match self {
            Shared::Inherent(h) => h.handle().elections(),
            Shared::Trait(h) => h.handle().elections(),
        }
    }

    async fn ready(&self) -> Result<(), cluster_client::Error> {
        match self {
            Shared::Inherent(h) => h.ready().await,
            Shared::Trait(h) => h.ready().await,
        }
    }

    /// Waits (up to 10 s) until this process has led or followed a leader `count` times, then
    /// until it is ready. The runtime announces no election, so the counter is checked every
    /// few milliseconds.
    async fn await_elections(&self, count: u64) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.elections() < count {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{} elections after 10 s", self.elections()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.ready().await.map_err(|e| e.to_string())?;
        Ok(json!(self.elections()))
    }
}

async fn create(form: &str, port: u16, timeout: Duration, backend: &Arc<Backend>) -> Shared {
    let backend = backend.clone();
    let created = match form {
        "inherent" => InventoryCluster::builder()
            .port(port)
            .response_timeout(timeout)
            .create(move || {
                let backend = backend.clone();
                async move { Ok::<_, String>(Inventory::connect(backend)) }
            })
            .await
            .map(Shared::Inherent),
        "trait" => RegistryCluster::builder()
            .port(port)
            .response_timeout(timeout)
            .create(move || {
                let sdk = SdkRegistry::connect(backend.clone());
                async move { Ok::<_, String>(AppRegistry { sdk }) }
            })
            .await
            .map(Shared::Trait),
        other => {
            emit(json!({"event": "ready_error", "message": format!("unknown form {other:?}")}));
            std::process::exit(2);
        }
    };
    match created {
        Ok(shared) => shared,
        Err(e) => {
            emit(json!({"event": "ready_error", "message": e.to_string()}));
            std::process::exit(1);
        }
    }
}

#[tokio::main]
async fn main() {
    init_logs();
    let args: Vec<String> = std::env::args().collect();
    let (Some(form), Some(port)) = (
        flag(&args, "--form"),
        flag(&args, "--port").and_then(|p| p.parse::<u16>().ok()),
    ) else {
        emit(
            json!({"event": "ready_error", "message": "usage: impl-worker --form inherent|trait --port N"}),
        );
        std::process::exit(2);
    };
    let timeout = Duration::from_millis(
        flag(&args, "--timeout-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    let backend = Arc::new(Backend::default());
    let shared = create(&form, port, timeout, &backend).await;
    emit(json!({"event": "ready", "leader": shared.is_leader(), "pid": std::process::id()}));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            emit(json!({"event": "bad_command", "line": line}));
            continue;
        };
        let id = cmd["id"].clone();
        let text = |key: &str| cmd[key].as_str().unwrap_or("").to_owned();
        let result: Result<Value, String> = match cmd["cmd"].as_str().unwrap_or("") {
            "script" => Ok(shared.script().await),
            "is_leader" => Ok(json!(shared.is_leader())),
            "watch" => {
                let topic = text("topic");
                let mut values = shared.watch(Topic {
                    topic: topic.clone(),
                });
                // Ends with the process (or with the stream, when the handle closes).
                tokio::spawn(async move {
                    while let Some(v) = values.next().await {
                        emit(json!({"event": "value", "topic": topic, "value": v}));
                    }
                });
                Ok(Value::Null)
            }
            "announce" => {
                shared.announce(Publication {
                    topic: text("topic"),
                    value: text("value"),
                });
                Ok(Value::Null)
            }
            "describe" => Ok(shared.describe(&backend)),
            "await_elections" => {
                shared
                    .await_elections(cmd["count"].as_u64().unwrap_or(1))
                    .await
            }
            "exit" => {
                shared.close().await;
                emit(json!({"id": id, "ok": true, "result": null}));
                std::process::exit(0);
            }
            other => Err(format!("unknown command {other:?}")),
        };
        match result {
            Ok(v) => emit(json!({"id": id, "ok": true, "result": v})),
            Err(e) => emit(json!({"id": id, "ok": false, "error": e})),
        }
    }
    // The driver went away: leave quietly.
    shared.close().await;
}
