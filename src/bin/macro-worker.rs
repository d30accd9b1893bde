//! A worker process for the macro's end-to-end test: one `DirectoryCluster` handle, driven by
//! JSON-line commands on stdin, reporting JSON lines on stdout.
//!
//! `macro-worker --port N [--timeout-ms N]`
//!
//! Commands: `{"id":1,"cmd":"script"}` (the results of `macro_demo::script` through the
//! handle), `{"id":2,"cmd":"is_leader"}`, `{"id":3,"cmd":"watch","topic":"t"}` (then
//! `{"event":"value","topic":..,"value":[..]}` per value), `{"id":4,"cmd":"announce",
//! "topic":"t","value":"v"}`, `{"id":5,"cmd":"note","text":"x"}`, `{"id":6,"cmd":"notes"}`,
//! `{"id":7,"cmd":"exit"}`.

use cluster_client_suite::worker_io::{emit, flag, init_logs};
use std::sync::Arc;
use std::time::Duration;

use cluster_client_suite::demo::{Backend, Publication, Topic};
use cluster_client_suite::macro_demo::{Directory, DirectoryCluster, RealDirectory, script};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() {
    init_logs();
    let args: Vec<String> = std::env::args().collect();
    let Some(port) = flag(&args, "--port").and_then(|p| p.parse::<u16>().ok()) else {
        emit(json!({"event": "ready_error", "message": "usage: macro-worker --port N"}));
        std::process::exit(2);
    };
    let timeout = Duration::from_millis(
        flag(&args, "--timeout-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    let backend = Arc::new(Backend::default());
    let directory = match DirectoryCluster::builder()
        .port(port)
        .response_timeout(timeout)
        .create(move || {
            let backend = backend.clone();
            async move { Ok::<_, String>(RealDirectory::connect(backend)) }
        })
        .await
    {
        Ok(d) => d,
        Err(e) => {
            emit(json!({"event": "ready_error", "message": e.to_string()}));
            std::process::exit(1);
        }
    };
    emit(json!({"event": "ready", "leader": directory.is_leader(), "pid": std::process::id()}));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            emit(json!({"event": "bad_command", "line": line}));
            continue;
        };
        let id = cmd["id"].clone();
        let text = |key: &str| cmd[key].as_str().unwrap_or("").to_owned();
        let result: Result<Value, String> = match cmd["cmd"].as_str().unwrap_or("") {
            "script" => Ok(script(&directory).await),
            "is_leader" => Ok(json!(directory.is_leader())),
            "watch" => {
                let topic = text("topic");
                let mut values = directory.watch(Topic {
                    topic: topic.clone(),
                });
                tokio::spawn(async move {
                    while let Some(v) = values.next().await {
                        emit(json!({"event": "value", "topic": topic, "value": v}));
                    }
                });
                Ok(Value::Null)
            }
            "announce" => {
                directory.announce(Publication {
                    topic: text("topic"),
                    value: text("value"),
                });
                Ok(Value::Null)
            }
            "note" => {
                directory.note(text("text"));
                Ok(Value::Null)
            }
            "notes" => directory
                .notes()
                .await
                .map(|n| json!(n))
                .map_err(|e| e.to_string()),
            "exit" => {
                directory.close().await;
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
    directory.close().await;
}
