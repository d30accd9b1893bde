//! The two halves of each example's program: the supervisor (starts the backend and the worker
//! processes, shows who leads, kills the leader, sums up) and the worker side's reporting.

use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::backend::{self, Backend};

/// How many worker processes share the backend connection.
pub const WORKERS: usize = 4;

/// What this run of the example's program is.
pub enum Role {
    /// A worker process: `--worker id --port port --backend addr`.
    Worker {
        id: usize,
        port: u16,
        backend: String,
    },
    /// The program as the user started it.
    Supervisor,
}

/// Reads the role from the command line.
pub fn role() -> Role {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match flag("--worker").and_then(|v| v.parse().ok()) {
        Some(id) => Role::Worker {
            id,
            port: flag("--port").and_then(|v| v.parse().ok()).expect("--port"),
            backend: flag("--backend").expect("--backend"),
        },
        None => Role::Supervisor,
    }
}

// ---------------------------------------------------------------------------------------------
// The worker side.

/// Counts the items of `stream` in a task that lives as long as the worker process.
pub fn count_values<S>(stream: S) -> Arc<AtomicU64>
where
    S: Stream + Send + 'static,
{
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    seen
}

/// Makes a call every 20 ms, in a task that lives as long as the worker process, and counts
/// the ones that succeed.
pub fn call_repeatedly<F, Fut>(call: F) -> Arc<AtomicU64>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let made = Arc::new(AtomicU64::new(0));
    let counter = made.clone();
    tokio::spawn(async move {
        loop {
            if call().await {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    made
}

/// Reports a status line to the supervisor every 100 ms until it closes this process's stdin.
pub async fn report_until_stdin_closes(
    id: usize,
    is_leader: impl Fn() -> bool,
    calls: &AtomicU64,
    values: &AtomicU64,
) {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            line = stdin.next_line() => if !matches!(line, Ok(Some(_))) { break },
            _ = tick.tick() => {
                let status = json!({
                    "worker": id,
                    "pid": std::process::id(),
                    "leader": is_leader(),
                    "calls": calls.load(Ordering::Relaxed),
                    "values": values.load(Ordering::Relaxed),
                });
                println!("{status}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The supervisor.

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
    // Ends when the worker's stdout closes.
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

/// Runs the supervisor; on failure, prints why and exits 1.
pub async fn run(example: &str) {
    if let Err(e) = supervise().await {
        eprintln!("{example} failed: {e}");
        std::process::exit(1);
    }
}

async fn supervise() -> Result<(), String> {
    let (backend_addr, backend) = backend::start().await?;
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
