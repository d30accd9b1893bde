//! Drives a worker process (ours or the Node fixture) over JSON lines.

use cluster_client_suite::worker_io::json_lines;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

pub struct Worker {
    pub name: String,
    pub pid: u32,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Events read while waiting for something else.
    backlog: Vec<Value>,
    next_id: u64,
}

impl Worker {
    /// Starts `program args` and waits for its `ready` event.
    pub async fn spawn(name: &str, program: &str, args: &[String]) -> Worker {
        let (w, ready) = Self::start(name, program, args).await;
        assert_eq!(ready["event"], "ready", "{name} failed to start: {ready}");
        w
    }

    /// Starts `program args` and returns it with its first `ready` or `ready_error` event.
    pub async fn start(name: &str, program: &str, args: &[String]) -> (Worker, Value) {
        Self::start_with_env(name, program, args, &[]).await
    }

    /// [`Worker::start`] with extra environment variables.
    pub async fn start_with_env(
        name: &str,
        program: &str,
        args: &[String],
        envs: &[(&str, &str)],
    ) -> (Worker, Value) {
        let (w, ready, _) = Self::launch(name, program, args, envs, false).await;
        (w, ready)
    }

    /// [`Worker::start_with_env`], keeping every line the worker writes to stderr (its logs)
    /// in the returned list instead of passing them through.
    pub async fn start_logged(
        name: &str,
        program: &str,
        args: &[String],
        envs: &[(&str, &str)],
    ) -> (Worker, Value, Arc<Mutex<Vec<String>>>) {
        Self::launch(name, program, args, envs, true).await
    }

    async fn launch(
        name: &str,
        program: &str,
        args: &[String],
        envs: &[(&str, &str)],
        keep_stderr: bool,
    ) -> (Worker, Value, Arc<Mutex<Vec<String>>>) {
        let mut child = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if keep_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {program}: {e}"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = logs.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut read = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = read.next_line().await {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = json_lines(stdout, name);
        let pid = child.id().unwrap_or(0);
        let mut w = Worker {
            name: name.to_owned(),
            pid,
            child,
            stdin,
            lines,
            backlog: Vec::new(),
            next_id: 0,
        };
        let ready = w
            .wait_event("ready", |e| {
                e["event"] == "ready" || e["event"] == "ready_error"
            })
            .await;
        (w, ready, logs)
    }

    async fn next_line(&mut self, what: &str) -> Value {
        match tokio::time::timeout(Duration::from_secs(20), self.lines.recv()).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("{}: exited while waiting for {what}", self.name),
            Err(_) => panic!(
                "{}: nothing for 20 s while waiting for {what}; last events: {:?}",
                self.name,
                &self.backlog[self.backlog.len().saturating_sub(8)..]
            ),
        }
    }

    /// Waits for an event matching `pred` (earlier unmatched events stay in the backlog).
    pub async fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        loop {
            let v = self.next_line(what).await;
            if pred(&v) {
                return v;
            }
            self.backlog.push(v);
        }
    }

    /// Sends a command and returns its reply.
    pub async fn cmd(&mut self, cmd: Value) -> Value {
        let id = self.send(cmd).await;
        self.reply(id).await
    }

    /// Writes a command without waiting for its reply (a stopped process reads it once it
    /// resumes); returns the id to pass to [`Worker::reply`].
    pub async fn send(&mut self, mut cmd: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: write: {e}", self.name));
        id
    }

    /// Waits for the reply to the command [`Worker::send`] numbered `id`.
    pub async fn reply(&mut self, id: u64) -> Value {
        self.wait_event(&format!("reply to command {id}"), |v| v["id"] == json!(id))
            .await
    }

    /// Sends a command and returns its `result`, failing the test on an error reply.
    pub async fn ok(&mut self, cmd: Value) -> Value {
        let reply = self.cmd(cmd.clone()).await;
        assert_eq!(reply["ok"], true, "{}: {cmd} failed: {reply}", self.name);
        reply["result"].clone()
    }

    /// Waits for a subscription value on `topic` that contains `value` (demo topics deliver
    /// the set of published strings).
    pub async fn wait_value(&mut self, topic: &str, value: &str) {
        self.wait_event(&format!("value {value} on {topic}"), |v| {
            v["event"] == "value"
                && v["topic"] == topic
                && v["value"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == value))
        })
        .await;
    }

    /// Sends a signal by name (`STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{name} {}",
            self.pid
        );
    }

    /// Stops the process (SIGSTOP) and returns once every one of its threads is stopped:
    /// `kill` returns when the signal is queued, and a thread busy on another core can still
    /// read and answer a frame before it stops.
    pub async fn stop(&self) {
        self.signal("STOP");
        let all_stopped = || {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
                return true; // gone: nothing of it runs
            };
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat")).map_or(true, |stat| {
                    // The state follows the parenthesised command name.
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .is_none_or(|state| state == "T" || state == "t")
                })
            })
        };
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while !all_stopped() {
            assert!(
                std::time::Instant::now() < give_up,
                "{}: still running 10 s after SIGSTOP",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.start_kill();
    }

    pub async fn wait_exit(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
