//! Subscribe and publish across processes: everyone receives, a late subscriber gets the last
//! value, and an unsubscribed process stops receiving.
//!
//! ```text
//! cargo run --release --example pubsub
//! ```
//!
//! The program starts worker processes (copies of itself) that share a `#[cluster_client]`
//! channel over a loopback port. The real client is an in-memory message board that keeps the
//! last value of each topic; only the leader has one. Workers subscribe to the topic `news`;
//! one publishes, and the value reaches every subscriber, leader and followers alike. A worker
//! started afterwards subscribes and receives the last value at once. Then a worker
//! unsubscribes: its stream ends and the next publication passes it by.
//!
//! The supervisor drives the workers through their stdin (one command a line) and reads their
//! JSON events from their stdout. Set `RUST_LOG=cluster_client=info` to see the runtime's own
//! log lines (every worker writes them to the shared stderr).

use cluster_client_suite::worker_io::json_lines;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use cluster_client::cluster_client;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{broadcast, mpsc};

/// How long the supervisor waits for any one event before giving up.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The shared client.

/// A message board: topics with a last value.
#[cluster_client(rename_all = "camelCase")]
pub trait Board: Send + Sync + 'static {
    /// The values of a topic: the last one (if any), then every new one.
    #[delegate(subscribe)]
    fn subscribe(&self, topic: Topic) -> impl Stream<Item = String> + Send + 'static;

    /// Stops this process's subscriptions to a topic.
    #[delegate(unsubscribe)]
    fn unsubscribe(&self, topic: Topic);

    /// Posts a value to a topic.
    #[delegate(publish)]
    fn publish(&self, post: Post);

    /// Closes the board.
    #[delegate(close)]
    async fn close(&self);
}

/// A subscription key: `{topic}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    /// The topic's name.
    pub topic: String,
}

/// A publication: `{topic, value}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Post {
    /// The topic's name.
    pub topic: String,
    /// The value posted.
    pub value: String,
}

/// A topic's last value and the feed of new ones.
type TopicState = (Option<String>, broadcast::Sender<String>);

/// The real client: topics in memory.
#[derive(Default)]
struct MemoryBoard {
    topics: Mutex<HashMap<String, TopicState>>,
}

impl Board for MemoryBoard {
    fn subscribe(&self, topic: Topic) -> impl Stream<Item = String> + Send + 'static {
        // The last value and the feed are taken under one lock: no value is missed or doubled.
        let (last, rx) = {
            let mut topics = self.topics.lock().unwrap();
            let (last, tx) = topics
                .entry(topic.topic)
                .or_insert_with(|| (None, broadcast::channel(256).0));
            (last.clone(), tx.subscribe())
        };
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

    fn unsubscribe(&self, topic: Topic) {
        // Called by the leader when no process subscribes to the topic any more.
        eprintln!("[real client] no subscriber left for {:?}", topic.topic);
    }

    fn publish(&self, post: Post) {
        let mut topics = self.topics.lock().unwrap();
        let (last, tx) = topics
            .entry(post.topic)
            .or_insert_with(|| (None, broadcast::channel(256).0));
        *last = Some(post.value.clone());
        let _ = tx.send(post.value);
    }

    async fn close(&self) {}
}

// ---------------------------------------------------------------------------------------------
// A worker process: commands on stdin, JSON events on stdout.

fn emit(event: Value) {
    println!("{event}");
}

async fn worker(port: u16) -> Result<(), String> {
    let board = BoardCluster::builder()
        .port(port)
        .create(|| async { Ok::<_, String>(MemoryBoard::default()) })
        .await
        .map_err(|e| e.to_string())?;
    emit(json!({"event": "ready", "leader": board.is_leader(), "pid": std::process::id()}));
    let news = || Topic {
        topic: "news".into(),
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match cmd {
            "subscribe" => {
                let mut values = board.subscribe(news());
                tokio::spawn(async move {
                    while let Some(value) = values.next().await {
                        emit(json!({"event": "value", "value": value}));
                    }
                    emit(json!({"event": "ended"}));
                });
                emit(json!({"event": "subscribed"}));
            }
            "unsubscribe" => {
                // The stream's task reports the end ("ended"), which is the answer.
                board.unsubscribe(news());
            }
            "publish" => {
                board.publish(Post {
                    topic: "news".into(),
                    value: arg.to_owned(),
                });
                emit(json!({"event": "published"}));
            }
            other => emit(json!({"event": "error", "message": format!("unknown command {other}")})),
        }
    }
    // stdin closed: the supervisor is done with us.
    board.close().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The supervisor.

struct Worker {
    id: usize,
    child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    received: Vec<String>,
}

impl Worker {
    async fn start(id: usize, port: u16) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--worker", "--port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn worker {id}: {e}"))?;
        let stdin = child.stdin.take().ok_or("piped stdin")?;
        let stdout = child.stdout.take().ok_or("piped stdout")?;
        let events = json_lines(stdout, &format!("worker {id}"));
        let mut worker = Self {
            id,
            child,
            stdin,
            events,
            received: Vec::new(),
        };
        let ready = worker.wait("ready").await?;
        let role = if ready["leader"] == true {
            "LEADER  "
        } else {
            "follower"
        };
        println!("  worker {id}  pid {:>6}  {role}", ready["pid"]);
        Ok(worker)
    }

    async fn send(&mut self, line: &str) -> Result<(), String> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("worker {}: {e}", self.id))
    }

    /// The next event named `name`; values that arrive meanwhile are recorded and printed.
    async fn wait(&mut self, name: &str) -> Result<Value, String> {
        loop {
            let event = tokio::time::timeout(EVENT_TIMEOUT, self.events.recv())
                .await
                .map_err(|_| format!("worker {}: no {name:?} event in time", self.id))?
                .ok_or_else(|| format!("worker {} exited", self.id))?;
            if event["event"] == "value" {
                self.record(&event);
            }
            if event["event"] == "error" {
                return Err(format!("worker {}: {}", self.id, event["message"]));
            }
            if event["event"] == name {
                return Ok(event);
            }
        }
    }

    fn record(&mut self, event: &Value) {
        let value = event["value"].as_str().unwrap_or_default().to_owned();
        println!("  worker {}  received {value:?}", self.id);
        self.received.push(value);
    }

    async fn wait_value(&mut self, want: &str) -> Result<(), String> {
        while !self.received.iter().any(|v| v == want) {
            self.wait("value").await?;
        }
        Ok(())
    }

    /// Records whatever values arrived so far, without waiting.
    fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            if event["event"] == "value" {
                self.record(&event);
            } else if event["event"] == "ended" {
                println!("  worker {}  its stream ended", self.id);
            }
        }
    }

    async fn stop(mut self) {
        // Closing stdin makes the worker close its handle and exit.
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

async fn supervisor() -> Result<(), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    println!("workers 1-3 start on loopback port {port} (worker 1 first, so it leads):");
    let mut workers = Vec::new();
    for id in 1..=3 {
        workers.push(Worker::start(id, port).await?);
    }
    for w in &mut workers {
        w.send("subscribe").await?;
        w.wait("subscribed").await?;
    }
    println!("  all three subscribe to \"news\"");

    println!("\n>>> worker 2 publishes \"hello\"");
    workers[1].send("publish hello").await?;
    workers[1].wait("published").await?;
    for w in &mut workers {
        w.wait_value("hello").await?;
    }

    println!("\n>>> worker 4 starts late and subscribes");
    let mut late = Worker::start(4, port).await?;
    late.send("subscribe").await?;
    late.wait("subscribed").await?;
    late.wait_value("hello").await?;
    println!("  (worker 4 got the last value without anyone publishing again)");
    workers.push(late);

    println!("\n>>> worker 3 unsubscribes");
    workers[2].send("unsubscribe").await?;
    workers[2].wait("ended").await?;
    println!("  worker 3  its stream ended");

    println!("\n>>> worker 4 publishes \"world\"");
    workers[3].send("publish world").await?;
    workers[3].wait("published").await?;
    for i in [0, 1, 3] {
        workers[i].wait_value("world").await?;
    }
    // Give a stray delivery to worker 3 time to show up before concluding it got none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for w in &mut workers {
        w.drain();
    }
    let got = |w: &Worker, v: &str| w.received.iter().filter(|x| *x == v).count();
    let hello = workers.iter().filter(|w| got(w, "hello") == 1).count();
    let world = workers.iter().filter(|w| got(w, "world") == 1).count();
    let unsubscribed_got_world = got(&workers[2], "world");
    if unsubscribed_got_world == 0 {
        println!("  worker 3  received nothing");
    }

    for w in workers {
        w.stop().await;
    }
    println!(
        "\nsummary: \"hello\" reached {hello}/4 workers (3 subscribers + 1 late), \"world\" reached \
         {world}/3 remaining subscribers, the unsubscribed worker received it {unsubscribed_got_world} times"
    );
    if hello != 4 || world != 3 || unsubscribed_got_world != 0 {
        return Err("unexpected deliveries".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    cluster_client_suite::worker_io::init_logs();
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok());
    let (name, outcome) = if args.iter().any(|a| a == "--worker") {
        let Some(port) = port else {
            eprintln!("pubsub worker: --port N is required");
            std::process::exit(2);
        };
        ("pubsub worker", worker(port).await)
    } else {
        let bounded = tokio::time::timeout(Duration::from_secs(30), supervisor()).await;
        (
            "pubsub",
            bounded.unwrap_or_else(|_| Err("did not finish within 30 s".into())),
        )
    };
    if let Err(e) = outcome {
        eprintln!("{name} failed: {e}");
        std::process::exit(1);
    }
}
