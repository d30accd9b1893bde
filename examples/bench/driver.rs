//! Starting and talking to child processes (Rust or Node) over JSON lines.

use cluster_client_suite::worker_io::json_lines;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Which implementation a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Rust,
    Node,
}

impl Impl {
    pub fn name(self) -> &'static str {
        match self {
            Impl::Rust => "rust",
            Impl::Node => "node",
        }
    }
}

/// The Node fixture folder (`tests/interop/node`).
pub fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node")
}

/// Installs the fixture's pinned `cluster-client` when `node_modules` is missing.
pub fn ensure_node_modules() -> Result<(), String> {
    let dir = node_dir();
    if dir
        .join("node_modules/cluster-client/package.json")
        .exists()
    {
        return Ok(());
    }
    eprintln!("bench: running `npm ci` in {}", dir.display());
    let status = std::process::Command::new("npm")
        .arg("ci")
        .arg("--no-audit")
        .arg("--no-fund")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("npm ci: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci failed: {status}"))
    }
}

pub struct Proc {
    pub name: String,
    pub pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
}

impl Proc {
    /// Starts a child in `role` and waits for its ready line. Returns it with the ready event
    /// and the time from spawn to that line.
    pub async fn spawn(
        imp: Impl,
        name: &str,
        role: &str,
        args: &[String],
    ) -> Result<(Proc, Value, Duration), String> {
        let mut cmd = match imp {
            Impl::Rust => {
                let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
                c.arg("--child").arg(role);
                c
            }
            Impl::Node => {
                let mut c = Command::new("node");
                c.arg(node_dir().join("bench/bench_child.js"))
                    .arg("--child")
                    .arg(role);
                c
            }
        };
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("spawning {name}: {e}"))?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let rx = json_lines(stdout, name);
        let mut p = Proc {
            name: name.to_owned(),
            pid,
            child,
            stdin,
            rx,
            backlog: VecDeque::new(),
        };
        let ready = p
            .wait(
                |e| e["event"] == "ready" || e["event"] == "ready_error",
                Duration::from_secs(30),
            )
            .await?;
        let took = started.elapsed();
        if ready["event"] != "ready" {
            return Err(format!("{name} failed to start: {ready}"));
        }
        Ok((p, ready, took))
    }

    pub async fn send(&mut self, v: &Value) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        let mut line = v.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("{}: {e}", self.name))?;
        stdin
            .flush()
            .await
            .map_err(|e| format!("{}: {e}", self.name))
    }

    fn drain(&mut self) {
        while let Ok(v) = self.rx.try_recv() {
            self.backlog.push_back(v);
        }
    }

    /// Removes and returns the first event matching `pred` received so far, without waiting.
    pub fn take(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.drain();
        let i = self.backlog.iter().position(&pred)?;
        self.backlog.remove(i)
    }

    /// Waits for the first event matching `pred` (earlier ones stay queued).
    pub async fn wait(
        &mut self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, String> {
        if let Some(v) = self.take(&pred) {
            return Ok(v);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) if pred(&v) => return Ok(v),
                Ok(Some(v)) => self.backlog.push_back(v),
                Ok(None) => return Err(format!("{} exited", self.name)),
                Err(_) => return Err(format!("{}: timed out after {timeout:?}", self.name)),
            }
        }
    }

    /// Sends `cmd` and waits for the `event` it answers with.
    pub async fn ask(
        &mut self,
        cmd: &Value,
        event: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        self.send(cmd).await?;
        self.wait(|e| e["event"] == event, timeout).await
    }

    /// `VmRSS` in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.proc_kib("status", "VmRSS:")
    }

    /// A `Name:   N kB` field of `/proc/<pid>/<file>`, in KiB (`RssAnon:` in `status`,
    /// `Pss:` in `smaps_rollup`).
    pub fn proc_kib(&self, file: &str, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/{file}", self.pid)).ok()?;
        text.lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.start_kill();
    }

    pub async fn wait_exit(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Asks the child to exit, then kills it if it has not within two seconds.
    pub async fn stop(mut self) {
        let _ = self.send(&serde_json::json!({"cmd": "exit"})).await;
        self.stdin = None;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}
