//! Fixed roles: one designated leader (like egg's agent process) and workers that never lead.
//!
//! ```text
//! cargo run --release --example fixed_roles
//! ```
//!
//! By default every process competes for the port. Some deployments want a fixed leader
//! instead: egg starts an "agent" process that holds the real clients, and app workers that
//! only follow. Here:
//!
//! * two app workers start first with `.is_leader(false)`. There is no leader yet: they wait
//!   (with backoff, without ever binding the port), and a call made meanwhile waits too;
//! * the agent starts with `.is_leader(true)`: the apps connect, and the waiting call is
//!   answered;
//! * a second process started with `.is_leader(true)` fails at once with
//!   `Error::PortOccupied` instead of quietly following;
//! * the agent is killed: the apps do not take over, they wait for the next agent, and recover
//!   when it starts (Node's fixed followers give up after `maxWaitTime`; these keep waiting).
//!
//! All processes are copies of this program. Set `RUST_LOG=cluster_client=info` to see the
//! runtime's own log lines.

use cluster_client_suite::worker_io::json_lines;
use std::collections::VecDeque;
use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use cluster_client::cluster_client;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long the supervisor waits for any one event before giving up.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Exit status of a leader process that could not take the port.
const EXIT_PORT_OCCUPIED: i32 = 3;

// ---------------------------------------------------------------------------------------------
// The shared client.

/// What the agent process offers the app workers.
#[cluster_client(rename_all = "camelCase")]
pub trait Agent: Send + Sync + 'static {
    /// Answers a greeting, naming the agent process that answered.
    #[delegate(invoke)]
    async fn hello(&self, from: String) -> Result<String, AgentError>;

    /// Shuts the agent's client down.
    #[delegate(close)]
    async fn close(&self);
}

/// What a call to the agent can fail with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentError(String);

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for AgentError {
    fn from(e: cluster_client::Error) -> Self {
        AgentError(e.to_string())
    }
}

/// The real client, created only in the agent process.
struct AgentClient;

impl Agent for AgentClient {
    async fn hello(&self, from: String) -> Result<String, AgentError> {
        Ok(format!(
            "hello {from}, from the agent (pid {})",
            std::process::id()
        ))
    }

    async fn close(&self) {}
}

// ---------------------------------------------------------------------------------------------
// The processes: commands on stdin, JSON events on stdout.

fn emit(event: Value) {
    println!("{event}");
}

fn builder(port: u16) -> AgentBuilder<AgentClient> {
    AgentCluster::builder()
        .port(port)
        // Long enough for a call to outlive the wait for the next agent.
        .response_timeout(Duration::from_secs(5))
}

/// `is_leader(true)`: leads or fails; then serves until stdin closes.
async fn agent(port: u16) -> Result<(), String> {
    let created = builder(port)
        .is_leader(true)
        .create(|| async { Ok::<_, String>(AgentClient) })
        .await;
    let agent = match created {
        Ok(agent) => agent,
        Err(e) => {
            let occupied = matches!(e, cluster_client::Error::PortOccupied { .. });
            emit(
                json!({"event": "refused", "code": e.code(), "message": e.to_string(),
                        "port_occupied": occupied}),
            );
            std::process::exit(EXIT_PORT_OCCUPIED);
        }
    };
    emit(json!({"event": "ready", "leader": agent.is_leader(), "pid": std::process::id()}));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {}
    agent.close().await;
    Ok(())
}

/// `is_leader(false)`: never leads; waits for an agent whenever there is none.
async fn app(port: u16, name: String) -> Result<(), String> {
    // `build` returns at once; `create` would wait for the leader.
    let agent = builder(port)
        .is_leader(false)
        .build(|| async { Err::<AgentClient, _>("an app worker never runs the agent client") })
        .map_err(|e| e.to_string())?;
    emit(json!({"event": "waiting", "pid": std::process::id()}));
    let waiting = agent.clone();
    tokio::spawn(async move {
        match waiting.ready().await {
            Ok(()) => emit(json!({"event": "ready", "leader": waiting.is_leader()})),
            Err(e) => emit(json!({"event": "failed", "message": e.to_string()})),
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_ask)) = lines.next_line().await {
        // Each line asks the agent once; the call waits for a leader within its timeout.
        let (agent, name) = (agent.clone(), name.clone());
        tokio::spawn(async move {
            match agent.hello(name).await {
                Ok(text) => emit(json!({"event": "answer", "text": text})),
                Err(e) => emit(json!({"event": "failed", "message": e.to_string()})),
            }
        });
    }
    agent.close().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The supervisor.

struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::UnboundedReceiver<Value>,
    unread: VecDeque<Value>,
}

impl Proc {
    fn start(name: &str, role: &str, port: u16) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--role", role, "--name", name, "--port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn {name}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("piped stdout")?;
        let events = json_lines(stdout, name);
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin,
            events,
            unread: VecDeque::new(),
        })
    }

    /// The first event named `name` not yet taken (events may arrive in any order).
    async fn wait(&mut self, name: &str) -> Result<Value, String> {
        loop {
            if let Some(i) = self.unread.iter().position(|e| e["event"] == name) {
                return Ok(self.unread.remove(i).unwrap_or_default());
            }
            let event = tokio::time::timeout(EVENT_TIMEOUT, self.events.recv())
                .await
                .map_err(|_| format!("{}: no {name:?} event in time", self.name))?
                .ok_or_else(|| format!("{}: exited before {name:?}", self.name))?;
            if event["event"] == "failed" {
                return Err(format!("{}: {}", self.name, event["message"]));
            }
            self.unread.push_back(event);
        }
    }

    /// Whether an event named `name` arrived by now (without waiting).
    fn has(&mut self, name: &str) -> bool {
        while let Ok(e) = self.events.try_recv() {
            self.unread.push_back(e);
        }
        self.unread.iter().any(|e| e["event"] == name)
    }

    async fn ask(&mut self) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(b"hello\n")
            .await
            .map_err(|e| format!("{}: {e}", self.name))
    }

    async fn answer(&mut self) -> Result<String, String> {
        let a = self.wait("answer").await?;
        let text = a["text"].as_str().unwrap_or_default().to_owned();
        println!("  {:<7} got: {text:?}", self.name);
        Ok(text)
    }

    async fn exit_status(&mut self) -> Result<ExitStatus, String> {
        tokio::time::timeout(EVENT_TIMEOUT, self.child.wait())
            .await
            .map_err(|_| format!("{} did not exit", self.name))?
            .map_err(|e| e.to_string())
    }

    async fn stop(mut self) {
        drop(self.stdin.take());
        if self.exit_status().await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Whether some process accepts connections on the port (that is, leads it).
fn someone_leads(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

async fn start_agent(name: &str, port: u16) -> Result<(Proc, u64), String> {
    let mut agent = Proc::start(name, "leader", port)?;
    let ready = agent.wait("ready").await?;
    let pid = ready["pid"].as_u64().unwrap_or(0);
    println!("  {name:<7} pid {pid}  leading port {port}");
    Ok((agent, pid))
}

async fn supervisor() -> Result<(), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();

    println!(">>> two app workers start with is_leader(false); there is no agent yet");
    let mut apps = Vec::new();
    for name in ["app-1", "app-2"] {
        let mut app = Proc::start(name, "follower", port)?;
        let w = app.wait("waiting").await?;
        println!("  {name:<7} pid {}  waiting for a leader", w["pid"]);
        apps.push(app);
    }
    apps[0].ask().await?;
    println!("  app-1   asks the agent (the call waits for one)");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waited = !apps.iter_mut().any(|a| a.has("ready") || a.has("answer"));
    let port_free = !someone_leads(port);
    println!(
        "  after 0.5 s: apps still waiting: {waited}; port {port} {}",
        if port_free {
            "unclaimed (an app never leads)"
        } else {
            "TAKEN"
        }
    );

    println!("\n>>> the agent starts with is_leader(true)");
    let (mut agent, agent_pid) = start_agent("agent", port).await?;
    for app in &mut apps {
        app.wait("ready").await?;
        println!("  {:<7} connected to the agent", app.name);
    }
    let early = apps[0].answer().await?;
    apps[1].ask().await?;
    apps[1].answer().await?;

    println!("\n>>> a second process starts with is_leader(true)");
    let mut second = Proc::start("agent-2", "leader", port)?;
    let refused = second.wait("refused").await?;
    let status = second.exit_status().await?;
    let occupied = refused["port_occupied"] == true;
    println!(
        "  agent-2 refused ({}): {}; exit status {}",
        refused["code"].as_str().unwrap_or_default(),
        refused["message"].as_str().unwrap_or_default(),
        status.code().unwrap_or(-1)
    );

    println!("\n>>> the agent is killed; the apps wait for the next one");
    agent.child.start_kill().map_err(|e| e.to_string())?;
    let _ = agent.exit_status().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unclaimed = !someone_leads(port);
    println!(
        "  port {port} {} 0.3 s later",
        if unclaimed {
            "still unclaimed"
        } else {
            "TAKEN"
        }
    );
    apps[0].ask().await?;
    println!("  app-1   asks the agent again (the call waits)");
    tokio::time::sleep(Duration::from_millis(200)).await;

    println!("\n>>> a new agent starts");
    let (agent, new_pid) = start_agent("agent", port).await?;
    let late = apps[0].answer().await?;

    for app in apps {
        app.stop().await;
    }
    agent.stop().await;
    let recovered = early.contains(&agent_pid.to_string()) && late.contains(&new_pid.to_string());
    println!(
        "\nsummary: apps waited for the agent: {}; second is_leader(true) process: {}; \
         after the agent was replaced the apps were answered by pid {new_pid}: {recovered}",
        waited && port_free,
        if occupied && status.code() == Some(EXIT_PORT_OCCUPIED) {
            "PortOccupied"
        } else {
            "not refused"
        },
    );
    if !(waited && port_free && occupied && unclaimed && recovered) {
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
    let port = flag("--port").and_then(|p| p.parse().ok());
    let outcome = match (flag("--role").as_deref(), port) {
        (Some("leader"), Some(port)) => agent(port).await,
        (Some("follower"), Some(port)) => app(port, flag("--name").unwrap_or_default()).await,
        (Some(_), _) => Err("usage: --role leader|follower --port N [--name NAME]".into()),
        (None, _) => tokio::time::timeout(Duration::from_secs(30), supervisor())
            .await
            .unwrap_or_else(|_| Err("did not finish within 30 s".into())),
    };
    if let Err(e) = outcome {
        eprintln!("fixed_roles failed: {e}");
        std::process::exit(1);
    }
}
