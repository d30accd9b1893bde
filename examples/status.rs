//! A live table of a running fleet: three worker processes share one `Counter` channel; each
//! reports its handle's `status()` and calls made, and the leader's `channel_status()` says
//! what the channel holds. Halfway through, the leader is killed and the table shows the new
//! one take over.
//!
//! `cargo run --release --example status` (`-- --seconds N` to watch longer).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cluster_client::{RoleStatus, cluster_client};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Serialize, Deserialize)]
pub struct CounterError(String);

impl std::fmt::Display for CounterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for CounterError {
    fn from(e: cluster_client::Error) -> Self {
        CounterError(e.to_string())
    }
}

/// The shared client: count hits per name, watch a name's count.
#[cluster_client]
pub trait Counter: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn hit(&self, name: String) -> Result<u64, CounterError>;
    #[delegate(subscribe)]
    fn watch(&self, name: String) -> impl Stream<Item = u64> + Send + 'static;
}

/// The real client: an in-memory counter (one per leader).
#[derive(Default)]
struct Memory {
    hits: AtomicU64,
}

impl Counter for Memory {
    async fn hit(&self, _name: String) -> Result<u64, CounterError> {
        Ok(self.hits.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn watch(&self, _name: String) -> impl Stream<Item = u64> + Send + 'static {
        futures::stream::iter([0])
    }
}

const WORKERS: usize = 3;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match (flag("--worker"), flag("--port")) {
        (Some(id), Some(port)) => worker(id.parse().unwrap(), port.parse().unwrap()).await,
        _ => {
            let seconds = flag("--seconds").and_then(|s| s.parse().ok()).unwrap_or(6);
            supervise(seconds).await
        }
    }
}

/// A worker: makes calls, holds a subscription per worker, reports its status every 250 ms.
async fn worker(id: usize, port: u16) {
    let counter = CounterCluster::<Memory>::builder()
        .port(port)
        .response_timeout(Duration::from_millis(500))
        .create(|| async { Ok::<_, String>(Memory::default()) })
        .await
        .expect("the handle becomes ready");
    let _watch = counter.watch(format!("worker-{id}"));
    let made = Arc::new(AtomicU64::new(0));
    {
        let (counter, made) = (counter.clone(), made.clone());
        tokio::spawn(async move {
            loop {
                if counter.hit(format!("worker-{id}")).await.is_ok() {
                    made.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let status = counter.status();
        let channel = if status.role == RoleStatus::Leading {
            counter.channel_status().await.ok().flatten()
        } else {
            None
        };
        let line = json!({
            "worker": id,
            "pid": std::process::id(),
            "calls": made.load(Ordering::Relaxed),
            "status": status,
            "channel": channel,
        });
        println!("{line}");
    }
}

/// A worker's last report.
struct Row {
    pid: u32,
    calls: u64,
    status: Value,
    channel: Value,
}

/// Starts the workers and prints the table once a second.
async fn supervise(seconds: u64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exe = std::env::current_exe().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let mut children: Vec<Option<Child>> = Vec::new();
    for id in 0..WORKERS {
        let mut child = Command::new(&exe)
            .args(["--worker", &id.to_string(), "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        children.push(Some(child));
    }
    println!(
        "a fleet of {WORKERS} workers on port {port}; the leader is killed after {} s",
        seconds / 2
    );
    let mut rows: Vec<Option<Row>> = (0..WORKERS).map(|_| None).collect();
    let mut killed = None;
    let mut leaders_seen = Vec::new();
    let mut max_followers = 0;
    for second in 1..=seconds {
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Some(v)) = tokio::time::timeout_at(until, rx.recv()).await {
            let id = v["worker"].as_u64().unwrap_or(0) as usize;
            if id >= WORKERS || killed == Some(id) {
                continue;
            }
            rows[id] = Some(Row {
                pid: v["pid"].as_u64().unwrap_or(0) as u32,
                calls: v["calls"].as_u64().unwrap_or(0),
                status: v["status"].clone(),
                channel: v["channel"].clone(),
            });
        }
        println!(
            "\nt={second}s  worker  pid      role       leader pid  followers  keys  calls ok  elections"
        );
        for (id, row) in rows.iter().enumerate() {
            let Some(r) = row else { continue };
            let dead = killed == Some(id);
            let role = if dead {
                "killed".into()
            } else {
                r.status["role"]["state"].as_str().unwrap_or("?").to_owned()
            };
            println!(
                "        {id:<6}  {:<7}  {:<9}  {:<10}  {:<9}  {:<4}  {:<8}  {}",
                r.pid,
                role,
                r.status["leader_pid"]
                    .as_u64()
                    .map_or("-".into(), |p| p.to_string()),
                r.status["followers"]
                    .as_u64()
                    .map_or("-".into(), |f| f.to_string()),
                r.status["subscribed_keys"].to_string(),
                r.calls,
                r.status["elections"],
            );
            if !dead && role == "leading" {
                if !leaders_seen.contains(&r.pid) {
                    leaders_seen.push(r.pid);
                }
                max_followers = max_followers.max(r.channel["followers"].as_u64().unwrap_or(0));
                println!(
                    "        channel: {} followers, {} connections, {} upstream keys, {} bytes queued",
                    r.channel["followers"],
                    r.channel["connections"],
                    r.channel["upstream_keys"],
                    r.channel["queued_bytes"]
                );
            }
        }
        if second == seconds / 2 && killed.is_none() {
            let leader = rows.iter().position(|r| {
                r.as_ref()
                    .is_some_and(|r| r.status["role"]["state"] == "leading")
            });
            if let Some(id) = leader {
                println!("\nkilling the leader, worker {id}");
                if let Some(mut child) = children[id].take() {
                    let _ = child.kill().await;
                }
                killed = Some(id);
            }
        }
    }
    println!(
        "\nsummary: leaders seen: {}, most followers one leader served: {max_followers}, workers reporting: {}",
        leaders_seen.len(),
        rows.iter().filter(|r| r.is_some()).count()
    );
}
