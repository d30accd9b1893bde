//! Working with Node.js processes: a Rust process follows a Node `cluster-client@3.7.0` leader,
//! then a Node process follows a Rust leader, on the same channel and wire protocol.
//!
//! ```text
//! cargo run --release --example node_interop
//! ```
//!
//! Needs `node` and `npm` on the `PATH` (without node it prints `skipped: node not found` and
//! exits 0). The Node side is the interop fixture `tests/interop/node/worker.js`, which runs
//! the package's `DemoClient` and is driven by JSON lines on stdin/stdout (see
//! `tests/interop/node/README.md`); its packages are installed with `npm ci` on first use.
//!
//! The Rust side describes the same client as a trait. Three things make the two agree: the
//! channel name (`name = "DemoClient"`, Node's class name), the method names
//! (`rename_all = "camelCase"`, so `un_subscribe` is Node's `unSubscribe`), and the codec (both
//! default to serialize-json). Dynamic JavaScript values are `cluster_client::codec::JsValue`,
//! which keeps `undefined`, dates and buffers apart.
//!
//! Set `RUST_LOG=cluster_client=info` to see the runtime's own log lines.

use cluster_client_suite::worker_io::json_lines;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use cluster_client::cluster_client;
use cluster_client::codec::JsValue;
use cluster_client::codec::serialize_json::Date;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{broadcast, mpsc};

/// How long to wait for any one answer or event.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The client, as the Node fixture's `DemoClient` defines it.

/// The Node fixture's `DemoClient`, seen from Rust.
#[cluster_client(name = "DemoClient", rename_all = "camelCase")]
pub trait Demo: Send + Sync + 'static {
    /// Returns its argument, whatever JavaScript value it is.
    #[delegate(invoke)]
    async fn echo(&self, value: JsValue) -> Result<JsValue, DemoError>;

    /// Adds two numbers (JavaScript numbers are doubles).
    #[delegate(invoke)]
    async fn add(&self, a: f64, b: f64) -> Result<f64, DemoError>;

    /// Always fails, with `code: 'E_DEMO'`.
    #[delegate(invoke)]
    async fn fail(&self, message: String) -> Result<JsValue, DemoError>;

    /// The values published to a topic: the last one, then every new one.
    #[delegate(subscribe)]
    fn subscribe(&self, reg: Topic) -> impl Stream<Item = JsValue> + Send + 'static;

    /// Stops this process's subscriptions to a topic (Node's `unSubscribe`).
    #[delegate(unsubscribe)]
    fn un_subscribe(&self, reg: Topic);

    /// Stores a value under a topic and delivers it to the topic's subscribers.
    #[delegate(publish)]
    fn publish(&self, reg: Publication);
}

/// A subscription key: `{topic}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    /// The topic's name.
    pub topic: String,
}

/// A publication: `{topic, value}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publication {
    /// The topic's name.
    pub topic: String,
    /// The value, any JavaScript value.
    pub value: JsValue,
}

/// A failed call: what a JavaScript `Error` carries across the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoError {
    /// The error's name (`"Error"`, ...).
    pub name: String,
    /// Its message.
    pub message: String,
    /// Its `code`, when it has one.
    pub code: Option<String>,
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<cluster_client::Error> for DemoError {
    fn from(e: cluster_client::Error) -> Self {
        match e {
            // A Node leader's error arrives as `Remote`, with its name, message and code.
            cluster_client::Error::Remote { error, .. } => DemoError {
                name: error.name,
                message: error.message,
                code: error.code,
            },
            other => DemoError {
                name: "ClusterClientError".into(),
                code: Some(other.code().into()),
                message: other.to_string(),
            },
        }
    }
}

/// A topic's last value and the feed of new ones.
type TopicState = (Option<JsValue>, broadcast::Sender<JsValue>);

/// A Rust real client that behaves like the Node `DemoClient`: topics in memory.
#[derive(Default)]
struct RustDemo {
    topics: Mutex<HashMap<String, TopicState>>,
}

impl RustDemo {
    fn topic<R>(&self, name: String, f: impl FnOnce(&mut TopicState) -> R) -> R {
        let mut topics = self.topics.lock().unwrap();
        f(topics
            .entry(name)
            .or_insert_with(|| (None, broadcast::channel(256).0)))
    }
}

impl Demo for RustDemo {
    async fn echo(&self, value: JsValue) -> Result<JsValue, DemoError> {
        Ok(value)
    }

    async fn add(&self, a: f64, b: f64) -> Result<f64, DemoError> {
        Ok(a + b)
    }

    async fn fail(&self, message: String) -> Result<JsValue, DemoError> {
        Err(DemoError {
            name: "Error".into(),
            message,
            code: Some("E_DEMO".into()),
        })
    }

    fn subscribe(&self, reg: Topic) -> impl Stream<Item = JsValue> + Send + 'static {
        // The last value and the feed under one lock, so nothing is missed or doubled.
        let (last, rx) = self.topic(reg.topic, |(last, tx)| (last.clone(), tx.subscribe()));
        let later = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(v) => return Some((v, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures::stream::iter(last).chain(later)
    }

    fn un_subscribe(&self, _reg: Topic) {}

    fn publish(&self, reg: Publication) {
        self.topic(reg.topic, |(last, tx)| {
            *last = Some(reg.value.clone());
            let _ = tx.send(reg.value);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Driving a Node worker.

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node")
}

/// `Ok(false)` (after printing why) when node or npm is missing here.
fn node_ready() -> Result<bool, String> {
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        println!("skipped: node not found");
        return Ok(false);
    }
    if fixture_dir()
        .join("node_modules/cluster-client/package.json")
        .exists()
    {
        return Ok(true);
    }
    println!(
        "installing the Node fixture (npm ci in {})",
        fixture_dir().display()
    );
    // npm's own output goes to stderr so stdout stays the story.
    let npm = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(fixture_dir())
        .stdout(Stdio::from(std::io::stderr()))
        .status();
    match npm {
        Ok(s) if s.success() => Ok(true),
        Ok(s) => Err(format!("npm ci failed: {s}")),
        Err(_) => {
            println!("skipped: npm not found");
            Ok(false)
        }
    }
}

struct NodeWorker {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    unread: Vec<Value>,
    next_id: u64,
}

impl NodeWorker {
    /// Starts `worker.js` and waits for its `ready` event.
    async fn start(port: u16, role: &str) -> Result<(Self, Value), String> {
        let mut child = Command::new("node")
            .arg(fixture_dir().join("worker.js"))
            .args(["--port", &port.to_string(), "--role", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start node: {e}"))?;
        let stdin = child.stdin.take().ok_or("piped stdin")?;
        let stdout = child.stdout.take().ok_or("piped stdout")?;
        let events = json_lines(stdout, "node");
        let mut worker = Self {
            child,
            stdin,
            events,
            unread: Vec::new(),
            next_id: 1,
        };
        let ready = worker
            .next(|e| e["event"] == "ready" || e["event"] == "ready_error")
            .await?;
        if ready["event"] != "ready" {
            return Err(format!("the Node worker did not start: {ready}"));
        }
        Ok((worker, ready))
    }

    /// The first line (event or reply) that `pick` accepts; others are kept for later.
    async fn next(&mut self, pick: impl Fn(&Value) -> bool) -> Result<Value, String> {
        loop {
            if let Some(i) = self.unread.iter().position(&pick) {
                return Ok(self.unread.remove(i));
            }
            let line = tokio::time::timeout(STEP_TIMEOUT, self.events.recv())
                .await
                .map_err(|_| "the Node worker did not answer in time".to_string())?
                .ok_or("the Node worker exited")?;
            self.unread.push(line);
        }
    }

    /// Sends a command and returns its `result` (or the error it replied with).
    async fn command(&mut self, mut cmd: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("write to node: {e}"))?;
        let reply = self.next(|r| r["id"] == id).await?;
        if reply["ok"] == true {
            Ok(reply["result"].clone())
        } else {
            Err(format!("node replied {}", reply["error"]))
        }
    }

    /// The next value the Node worker's subscriptions received on `topic`.
    async fn value_on(&mut self, topic: &str) -> Result<Value, String> {
        let event = self
            .next(|e| e["event"] == "value" && e["reg"]["topic"] == topic)
            .await?;
        Ok(event["value"].clone())
    }

    async fn exit(mut self) {
        let _ = self.command(json!({"cmd": "exit"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

async fn next_value(values: &mut (impl Stream<Item = JsValue> + Unpin)) -> Result<JsValue, String> {
    tokio::time::timeout(STEP_TIMEOUT, values.next())
        .await
        .map_err(|_| "no value in time".to_string())?
        .ok_or_else(|| "the subscription ended".to_string())
}

/// A JavaScript-like rendering of a value, for the printed story.
fn js(v: &JsValue) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match v {
        JsValue::Undefined => "undefined".into(),
        JsValue::Null => "null".into(),
        JsValue::Bool(b) => b.to_string(),
        JsValue::Number(n) => n.to_string(),
        JsValue::String(s) => format!("{s:?}"),
        JsValue::Array(items) => format!("[{}]", list(items.iter().map(js).collect())),
        JsValue::Object(entries) => format!(
            "{{ {} }}",
            list(
                entries
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", js(v)))
                    .collect()
            )
        ),
        JsValue::Buffer(b) => {
            let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("<Buffer {}>", hex.join(" "))
        }
        JsValue::Date(d) => format!("Date({})", d.millis()),
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// The story.

/// Part 1: a Node leader, a Rust follower.
async fn rust_follows_node() -> Result<usize, String> {
    let port = free_port()?;
    let (mut node, ready) = NodeWorker::start(port, "leader").await?;
    println!(
        "node   pid {} leads DemoClient on port {port}",
        ready["pid"]
    );
    let demo = DemoCluster::builder()
        .port(port)
        .is_leader(false)
        // Never called: this handle only follows.
        .create(|| async { Ok::<_, String>(RustDemo::default()) })
        .await
        .map_err(|e| e.to_string())?;
    println!("rust   follows (leader: {})", demo.is_leader());
    let mut checks = 0;

    let sent = JsValue::Object(vec![
        ("text".into(), "héllo".into()),
        (
            "when".into(),
            JsValue::Date(Date::from_millis(1_700_000_000_000)),
        ),
        ("bytes".into(), JsValue::Buffer(vec![0xca, 0xfe])),
        ("nothing".into(), JsValue::Undefined),
        ("empty".into(), JsValue::Null),
    ]);
    let back = demo.echo(sent.clone()).await.map_err(|e| e.to_string())?;
    println!(
        "rust → node  echo({})\n             = {}",
        js(&sent),
        js(&back)
    );
    checks += usize::from(back == sent);

    let sum = demo.add(2.0, 40.5).await.map_err(|e| e.to_string())?;
    println!("rust → node  add(2, 40.5) = {sum}");
    checks += usize::from(sum == 42.5);

    let err = demo
        .fail("boom".into())
        .await
        .err()
        .ok_or("fail() succeeded")?;
    println!(
        "rust → node  fail(\"boom\") = Err {{ name: {:?}, message: {:?}, code: {:?} }}",
        err.name, err.message, err.code
    );
    checks += usize::from(err.code.as_deref() == Some("E_DEMO") && err.message == "boom");

    let mut news = demo.subscribe(Topic {
        topic: "news".into(),
    });
    node.command(json!({"cmd": "publish", "reg": {"topic": "news", "value": "from node"}}))
        .await?;
    let got = next_value(&mut news).await?;
    println!(
        "node → rust  publish {{topic: \"news\"}}: rust's subscription got {}",
        js(&got)
    );
    checks += usize::from(got == JsValue::from("from node"));

    node.command(json!({"cmd": "subscribe", "reg": {"topic": "from-rust"}}))
        .await?;
    demo.publish(Publication {
        topic: "from-rust".into(),
        value: JsValue::Array(vec![JsValue::Number(1.0), "two".into()]),
    });
    let got = node.value_on("from-rust").await?;
    println!("rust → node  publish {{topic: \"from-rust\"}}: node's listener got {got}");
    checks += usize::from(got == json!([1, "two"]));

    demo.un_subscribe(Topic {
        topic: "news".into(),
    });
    let ended = tokio::time::timeout(STEP_TIMEOUT, news.next()).await;
    println!(
        "rust         unSubscribe({{topic: \"news\"}}): the stream {}",
        if matches!(ended, Ok(None)) {
            "ended"
        } else {
            "DID NOT END"
        }
    );
    checks += usize::from(matches!(ended, Ok(None)));

    demo.close().await;
    node.exit().await;
    Ok(checks)
}

/// Part 2: a Rust leader, a Node follower.
async fn node_follows_rust() -> Result<usize, String> {
    let port = free_port()?;
    let demo = DemoCluster::builder()
        .port(port)
        .is_leader(true)
        .create(|| async { Ok::<_, String>(RustDemo::default()) })
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "rust   leads DemoClient on port {port} (leader: {})",
        demo.is_leader()
    );
    let (mut node, ready) = NodeWorker::start(port, "follower").await?;
    println!(
        "node   pid {} follows (leader: {})",
        ready["pid"], ready["leader"]
    );
    let mut checks = 0;

    let echo = json!({"when": {"$date": 1_700_000_000_000i64}, "bytes": {"$buffer": "cafe"}});
    let back = node
        .command(json!({"cmd": "invoke", "method": "echo", "args": [echo]}))
        .await?;
    println!("node → rust  echo({echo}) = {back}");
    checks += usize::from(back == echo);

    let sum = node
        .command(json!({"cmd": "invoke", "method": "add", "args": [2, 40.5]}))
        .await?;
    println!("node → rust  add(2, 40.5) = {sum}");
    checks += usize::from(sum == json!(42.5));

    node.command(json!({"cmd": "subscribe", "reg": {"topic": "news"}}))
        .await?;
    demo.publish(Publication {
        topic: "news".into(),
        value: "from rust".into(),
    });
    let got = node.value_on("news").await?;
    println!("rust → node  publish {{topic: \"news\"}}: node's listener got {got}");
    checks += usize::from(got == json!("from rust"));

    node.exit().await;
    demo.close().await;
    Ok(checks)
}

async fn run() -> Result<(), String> {
    if !node_ready()? {
        return Ok(());
    }
    println!("== a Rust process follows a Node leader ==");
    let first = rust_follows_node().await?;
    println!("\n== a Node process follows a Rust leader ==");
    let second = node_follows_rust().await?;
    println!(
        "\nsummary: Rust follower of a Node leader: {first}/6 checks; \
         Node follower of a Rust leader: {second}/3 checks"
    );
    if first != 6 || second != 3 {
        return Err("some values did not cross as expected".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    cluster_client_suite::worker_io::init_logs();
    // Generous: a first run may include `npm ci`.
    match tokio::time::timeout(Duration::from_secs(180), run()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("node_interop failed: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("node_interop failed: did not finish in time");
            std::process::exit(1);
        }
    }
}
