//! Four worker processes, one backend connection, and a leader that can die without anyone
//! noticing.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! The program starts a small key/value backend (a TCP server that counts its client
//! connections and pushes change notifications), then spawns four workers: copies of this
//! program, each creating the same `#[cluster_client]` handle. One of them wins the election and
//! is the only one to connect to the backend; the others forward their calls to it. Every worker
//! reads keys, watches a key for changes and announces itself. After a few seconds the leader is
//! killed: another worker takes over, the backend sees one connection again, and every worker's
//! subscription keeps delivering. Then everything shuts down and the program exits 0.
//!
//! Set `RUST_LOG=cluster_client=info` to see the runtime's own log lines.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster_client::cluster_client;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, broadcast, oneshot};

const WORKERS: usize = 4;

// ---------------------------------------------------------------------------------------------
// The shared client: what every worker uses, whatever its role.

/// A key/value store with change notifications.
#[cluster_client(rename_all = "camelCase")]
pub trait KeyValue: Send + Sync + 'static {
    /// Reads a key.
    #[delegate(invoke)]
    async fn get(&self, key: String) -> Result<Option<String>, KvError>;

    /// Values of a key: the current one, then every change.
    #[delegate(subscribe)]
    fn watch(&self, key: String) -> impl Stream<Item = String> + Send + 'static;

    /// Tells the backend a worker is up (re-sent to every new leader).
    #[delegate(publish)]
    fn announce(&self, worker: Announcement);

    /// Closes the backend connection.
    #[delegate(close)]
    async fn close(&self);
}

/// A worker's announcement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announcement {
    /// The worker's number.
    pub worker: usize,
    /// Its process id.
    pub pid: u32,
}

/// What a call can fail with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum KvError {
    /// The backend connection failed.
    Backend(String),
    /// The cluster failed (timeout, leader lost, ...).
    Cluster(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::Backend(m) => write!(f, "backend: {m}"),
            KvError::Cluster(m) => write!(f, "cluster: {m}"),
        }
    }
}

impl From<cluster_client::Error> for KvError {
    fn from(e: cluster_client::Error) -> Self {
        KvError::Cluster(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// The real client: one TCP connection to the backend (only the leader has one).

struct BackendClient {
    conn: Arc<Conn>,
    changes: broadcast::Sender<(String, String)>,
}

/// The backend connection: requests are answered in order.
struct Conn {
    writer: Mutex<tokio::net::tcp::OwnedWriteHalf>,
    waiting: Arc<Mutex<std::collections::VecDeque<oneshot::Sender<String>>>>,
}

impl Conn {
    async fn request(self: Arc<Self>, line: String) -> Result<String, KvError> {
        let (tx, rx) = oneshot::channel();
        {
            // Queue the waiter and write under one lock so answers match requests.
            let mut writer = self.writer.lock().await;
            self.waiting.lock().await.push_back(tx);
            writer
                .write_all(line.as_bytes())
                .await
                .map_err(|e| KvError::Backend(e.to_string()))?;
        }
        rx.await
            .map_err(|_| KvError::Backend("connection lost".into()))
    }
}

impl BackendClient {
    async fn connect(addr: String) -> Result<Self, String> {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (read, writer) = stream.into_split();
        let waiting: Arc<Mutex<std::collections::VecDeque<oneshot::Sender<String>>>> =
            Arc::default();
        let (changes, _) = broadcast::channel(1024);
        let (w, c) = (waiting.clone(), changes.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("CHANGED ") {
                    if let Some((k, v)) = rest.split_once(' ') {
                        let _ = c.send((k.to_owned(), v.to_owned()));
                    }
                } else if let Some(tx) = w.lock().await.pop_front() {
                    let _ = tx.send(line);
                }
            }
        });
        Ok(Self {
            conn: Arc::new(Conn {
                writer: Mutex::new(writer),
                waiting,
            }),
            changes,
        })
    }

    fn request(
        &self,
        line: String,
    ) -> impl std::future::Future<Output = Result<String, KvError>> + Send + 'static {
        self.conn.clone().request(line)
    }
}

impl KeyValue for BackendClient {
    async fn get(&self, key: String) -> Result<Option<String>, KvError> {
        let answer = self.request(format!("GET {key}\n")).await?;
        Ok(answer.strip_prefix("VALUE ").map(str::to_owned))
    }

    fn watch(&self, key: String) -> impl Stream<Item = String> + Send + 'static {
        let rx = self.changes.subscribe();
        let request = format!("WATCH {key}\n");
        let writer_key = key.clone();
        let stream = futures::stream::unfold(rx, move |mut rx| {
            let key = writer_key.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok((k, v)) if k == key => return Some((v, rx)),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        // The backend answers WATCH with the current value, then pushes every change.
        let this_request = self.request(request);
        let first = futures::stream::once(async move { this_request.await.ok() }).filter_map(
            |a| async move { a.and_then(|a| a.strip_prefix("VALUE ").map(str::to_owned)) },
        );
        first.chain(stream).boxed()
    }

    fn announce(&self, worker: Announcement) {
        let line = format!("ANNOUNCE {} {}\n", worker.worker, worker.pid);
        let fut = self.request(line);
        tokio::spawn(async move {
            let _ = fut.await;
        });
    }

    async fn close(&self) {
        let _ = self.conn.writer.lock().await.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A worker process.

async fn worker(id: usize, port: u16, backend: String) {
    let kv = KeyValueCluster::builder()
        .port(port)
        .create(move || BackendClient::connect(backend.clone()))
        .await
        .expect("the cluster handle becomes ready");
    kv.announce(Announcement {
        worker: id,
        pid: std::process::id(),
    });

    let calls = Arc::new(AtomicU64::new(0));
    let values = Arc::new(AtomicU64::new(0));
    let mut changes = kv.watch("config".into());
    let seen = values.clone();
    tokio::spawn(async move {
        while changes.next().await.is_some() {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    let (kv2, made) = (kv.clone(), calls.clone());
    tokio::spawn(async move {
        loop {
            if kv2.get("greeting".into()).await.is_ok() {
                made.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    // Report to the supervisor until it closes our stdin.
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            line = stdin.next_line() => if !matches!(line, Ok(Some(_))) { break },
            _ = tick.tick() => {
                let status = json!({
                    "worker": id,
                    "pid": std::process::id(),
                    "leader": kv.is_leader(),
                    "calls": calls.load(Ordering::Relaxed),
                    "values": values.load(Ordering::Relaxed),
                });
                println!("{status}");
            }
        }
    }
    kv.close().await;
}

// ---------------------------------------------------------------------------------------------
// The demo backend.

#[derive(Default)]
struct Backend {
    open: AtomicUsize,
    total: AtomicUsize,
    data: Mutex<HashMap<String, String>>,
    announced: Mutex<BTreeMap<String, String>>,
    changes: Option<broadcast::Sender<(String, String)>>,
}

async fn serve_backend(listener: TcpListener, backend: Arc<Backend>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let backend = backend.clone();
        tokio::spawn(async move {
            backend.open.fetch_add(1, Ordering::SeqCst);
            backend.total.fetch_add(1, Ordering::SeqCst);
            let (read, mut write) = stream.into_split();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let writer = tokio::spawn(async move {
                while let Some(line) = rx.recv().await {
                    if write.write_all(line.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut parts = line.splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("GET"), Some(key), None) | (Some("WATCH"), Some(key), None) => {
                        let value = backend.data.lock().await.get(key).cloned();
                        let _ = tx.send(value.map_or("NONE\n".into(), |v| format!("VALUE {v}\n")));
                        if line.starts_with("WATCH") {
                            let (tx, key) = (tx.clone(), key.to_owned());
                            let mut changes = backend.changes.as_ref().map(|c| c.subscribe());
                            tokio::spawn(async move {
                                while let Some(Ok((k, v))) = match changes.as_mut() {
                                    Some(c) => Some(c.recv().await),
                                    None => None,
                                } {
                                    if k == key && tx.send(format!("CHANGED {k} {v}\n")).is_err() {
                                        break;
                                    }
                                }
                            });
                        }
                    }
                    (Some("ANNOUNCE"), Some(worker), Some(pid)) => {
                        backend
                            .announced
                            .lock()
                            .await
                            .insert(worker.to_owned(), pid.to_owned());
                        let _ = tx.send("OK\n".into());
                    }
                    _ => {
                        let _ = tx.send("ERROR\n".into());
                    }
                }
            }
            backend.open.fetch_sub(1, Ordering::SeqCst);
            writer.abort();
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The supervisor: starts everything, shows what happens, kills the leader.

struct Worker {
    child: Child,
    status: Arc<Mutex<Value>>,
}

async fn spawn_worker(id: usize, port: u16, backend: &str) -> Worker {
    let exe = std::env::current_exe().expect("the example's own path");
    let mut child = Command::new(exe)
        .args([
            "--worker",
            &id.to_string(),
            "--port",
            &port.to_string(),
            "--backend",
            backend,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a worker");
    let status = Arc::new(Mutex::new(Value::Null));
    let stdout = child.stdout.take().expect("piped stdout");
    let s = status.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str(&line) {
                *s.lock().await = v;
            }
        }
    });
    Worker { child, status }
}

async fn snapshot(workers: &[Worker]) -> Vec<Value> {
    let mut out = Vec::new();
    for w in workers {
        out.push(w.status.lock().await.clone());
    }
    out
}

fn leader_of(statuses: &[Value]) -> Option<usize> {
    statuses.iter().position(|s| s["leader"] == true)
}

async fn show(started: Instant, backend: &Backend, workers: &[Worker], alive: &[bool]) {
    let statuses = snapshot(workers).await;
    println!(
        "{:>5.1}s  backend connections: {}",
        started.elapsed().as_secs_f32(),
        backend.open.load(Ordering::SeqCst)
    );
    for (i, (s, alive)) in statuses.iter().zip(alive).enumerate() {
        let pid = s["pid"].as_u64().unwrap_or(0);
        if !alive {
            println!("        worker {}  pid {pid:>6}  killed", i + 1);
            continue;
        }
        let role = if s["leader"] == true {
            "LEADER  "
        } else {
            "follower"
        };
        println!(
            "        worker {}  pid {pid:>6}  {role}  calls {:>4}  values received {:>3}",
            i + 1,
            s["calls"].as_u64().unwrap_or(0),
            s["values"].as_u64().unwrap_or(0)
        );
    }
}

async fn supervisor() -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let backend_addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let (changes, _) = broadcast::channel(1024);
    let backend = Arc::new(Backend {
        changes: Some(changes.clone()),
        ..Backend::default()
    });
    backend
        .data
        .lock()
        .await
        .insert("greeting".into(), "hello".into());
    tokio::spawn(serve_backend(listener, backend.clone()));
    // The backend changes "config" ten times a second.
    let b = backend.clone();
    tokio::spawn(async move {
        for n in 1u64.. {
            let v = format!("v{n}");
            b.data.lock().await.insert("config".into(), v.clone());
            let _ = changes.send(("config".into(), v));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    println!("backend on {backend_addr}; the {WORKERS} workers share loopback port {port}\n");
    let started = Instant::now();
    let mut workers = Vec::new();
    for id in 1..=WORKERS {
        workers.push(spawn_worker(id, port, &backend_addr).await);
    }
    let mut alive = vec![true; WORKERS];

    // Run until every worker reports, then a little longer.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = snapshot(&workers).await;
        if s.iter().all(|s| s["values"].as_u64().unwrap_or(0) > 3) && leader_of(&s).is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err("the workers did not all become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        show(started, &backend, &workers, &alive).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let before = backend.open.load(Ordering::SeqCst);

    // Kill the leader.
    let statuses = snapshot(&workers).await;
    let leader = leader_of(&statuses).ok_or("no leader")?;
    let values_at_kill: Vec<u64> = statuses
        .iter()
        .map(|s| s["values"].as_u64().unwrap_or(0))
        .collect();
    println!(
        "\n>>> killing the leader (worker {}, pid {})\n",
        leader + 1,
        statuses[leader]["pid"]
    );
    workers[leader]
        .child
        .start_kill()
        .map_err(|e| e.to_string())?;
    let _ = workers[leader].child.wait().await;
    alive[leader] = false;

    // Wait for a new leader, one backend connection, and fresh values everywhere.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = snapshot(&workers).await;
        let new_leader = s.iter().zip(&alive).any(|(s, a)| *a && s["leader"] == true);
        let delivering = s
            .iter()
            .zip(&alive)
            .zip(&values_at_kill)
            .all(|((s, a), at_kill)| !a || s["values"].as_u64().unwrap_or(0) > at_kill + 3);
        if new_leader && delivering && backend.open.load(Ordering::SeqCst) == 1 {
            break;
        }
        if Instant::now() > deadline {
            show(started, &backend, &workers, &alive).await;
            return Err("no follower took over in time".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        show(started, &backend, &workers, &alive).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let after = backend.open.load(Ordering::SeqCst);
    let statuses = snapshot(&workers).await;
    let kept = statuses
        .iter()
        .zip(&alive)
        .zip(&values_at_kill)
        .filter(|((s, a), at_kill)| **a && s["values"].as_u64().unwrap_or(0) > **at_kill)
        .count();

    // Shut down: closing a worker's stdin makes it close its handle and exit.
    for (w, a) in workers.iter_mut().zip(&alive) {
        if *a {
            drop(w.child.stdin.take());
            let _ = tokio::time::timeout(Duration::from_secs(5), w.child.wait()).await;
        }
    }
    let announced = backend.announced.lock().await.len();
    println!(
        "\nsummary: {WORKERS} workers; backend connections before the kill: {before}, after failover: {after} \
         (opened in all: {}); subscriptions still delivering: {kept}/{}; workers announced: {announced}",
        backend.total.load(Ordering::SeqCst),
        WORKERS - 1
    );
    if before != 1 || after != 1 || kept != WORKERS - 1 {
        return Err("unexpected result".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    cluster_client_suite::worker_io::init_logs();
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    if let Some(id) = flag("--worker").and_then(|v| v.parse().ok()) {
        let port = flag("--port").and_then(|v| v.parse().ok()).expect("--port");
        let backend = flag("--backend").expect("--backend");
        worker(id, port, backend).await;
        return;
    }
    if let Err(e) = supervisor().await {
        eprintln!("quickstart failed: {e}");
        std::process::exit(1);
    }
}
