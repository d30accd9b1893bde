//! A worker process for the multi-process tests: one demo handle, driven by JSON-line
//! commands on stdin, reporting JSON lines on stdout.
//!
//! `demo-worker --port N [--codec json|serialize-json] [--heartbeat-ms N] [--timeout-ms N] [--load]`
//!
//! Leader bounds (see `Options`): `--max-connections N`, `--max-queued-bytes N`,
//! `--max-calls-per-connection N`, `--max-subscriptions-per-connection N`, `--max-frame-len N`,
//! `--connect-timeout-ms N`, `--secret S`.
//!
//! Commands: `{"id":1,"cmd":"echo","arg":"x"}`, `{"id":2,"cmd":"is_leader"}`,
//! `{"id":3,"cmd":"subscribe","topic":"t"}` (then `{"event":"value","topic":..,"value":[..]}`
//! for each value: the topic's set of published strings), `{"id":4,"cmd":"publish","topic":"t","value":"v"}`,
//! `{"id":5,"cmd":"stats"}`, `{"id":6,"cmd":"generation"}`, `{"id":7,"cmd":"exit"}`,
//! `{"id":8,"cmd":"published"}` (the publications this process's real clients applied, in
//! order, as `topic=value`), `{"id":9,"cmd":"journal"}` (notes and publications together, in
//! the order the real clients got them).
//! With `--load`, a background loop keeps calls in flight and `stats` reports how they settled
//! (and the process's open file descriptors and resident memory, the demo client's `slow` calls
//! running and its open subscriptions); `--subs N` subscribes to topics `t0` .. `t(N-1)` at
//! start.

use cluster_client_suite::worker_io::{emit, flag, init_logs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cluster_client::codec::PayloadCodec;
use cluster_client::{Builder, Handle};
use cluster_client_suite::demo::{Backend, Demo, DemoService, Publication, Topic};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Default)]
struct Load {
    ok: AtomicU64,
    errors: AtomicU64,
    hung: AtomicU64,
    max_ms: AtomicU64,
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    init_logs();
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = flag(&args, "--port")
        .and_then(|p| p.parse().ok())
        .expect("--port N");
    let codec = flag(&args, "--codec")
        .and_then(|c| PayloadCodec::from_name(&c))
        .unwrap_or_default();
    let timeout = Duration::from_millis(
        flag(&args, "--timeout-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    let heartbeat = Duration::from_millis(
        flag(&args, "--heartbeat-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000),
    );
    let mut builder = Builder::new(DemoService)
        .port(port)
        .codec(codec)
        .response_timeout(timeout)
        .heartbeat_interval(heartbeat);
    let number = |name: &str| flag(&args, name).and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = number("--max-connections") {
        builder = builder.max_connections(n);
    }
    if let Some(n) = number("--max-queued-bytes") {
        builder = builder.max_queued_bytes(n);
    }
    if let Some(n) = number("--max-calls-per-connection") {
        builder = builder.max_calls_per_connection(n);
    }
    if let Some(n) = number("--max-subscriptions-per-connection") {
        builder = builder.max_subscriptions_per_connection(n);
    }
    if let Some(n) = number("--max-frame-len") {
        builder = builder.max_frame_len(n);
    }
    if let Some(ms) = number("--connect-timeout-ms") {
        builder = builder.connect_timeout(Duration::from_millis(ms as u64));
    }
    if let Some(secret) = flag(&args, "--secret") {
        builder = builder.secret(secret);
    }
    let backend = Arc::new(Backend::default());
    let demo_backend = backend.clone();
    let handle: Handle<DemoService> = match builder
        .create(move || {
            let backend = backend.clone();
            async move { Ok::<_, String>(Demo::connect(backend)) }
        })
        .await
    {
        Ok(h) => h,
        Err(e) => {
            emit(json!({"event": "ready_error", "message": e.to_string()}));
            std::process::exit(1);
        }
    };
    emit(json!({"event": "ready", "leader": handle.is_leader(), "pid": std::process::id()}));

    // `--subs N`: subscribe to topics t0 .. t(N-1) right away.
    let subs: usize = flag(&args, "--subs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for i in 0..subs {
        let topic = format!("t{i}");
        match handle.subscribe::<_, Vec<String>>(&Topic {
            topic: topic.clone(),
        }) {
            Ok(mut sub) => {
                tokio::spawn(async move {
                    while let Some(v) = sub.next().await {
                        emit(json!({"event": "value", "topic": topic, "value": v}));
                    }
                });
            }
            Err(e) => emit(json!({"event": "error", "message": e.to_string()})),
        }
    }

    let load = Arc::new(Load::default());
    if args.iter().any(|a| a == "--load") {
        let (handle, load) = (handle.clone(), load.clone());
        tokio::spawn(async move {
            loop {
                let started = tokio::time::Instant::now();
                let result = handle.invoke::<_, u64>("slow", (2u64,)).await;
                let ms = started.elapsed().as_millis() as u64;
                load.max_ms.fetch_max(ms, Ordering::Relaxed);
                // A call is hung when it outlives its timeout by a wide margin.
                if started.elapsed() > timeout * 2 + Duration::from_secs(1) {
                    load.hung.fetch_add(1, Ordering::Relaxed);
                }
                match result {
                    Ok(_) => load.ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        load.errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            emit(json!({"event": "bad_command", "line": line}));
            continue;
        };
        let id = cmd["id"].clone();
        let reply = |result: Result<Value, String>| match result {
            Ok(v) => emit(json!({"id": id, "ok": true, "result": v})),
            Err(e) => emit(json!({"id": id, "ok": false, "error": e})),
        };
        match cmd["cmd"].as_str().unwrap_or("") {
            "echo" => {
                let h = handle.clone();
                let arg = cmd["arg"].as_str().unwrap_or("").to_owned();
                let id = id.clone();
                tokio::spawn(async move {
                    match h.invoke::<_, String>("echo", (arg,)).await {
                        Ok(v) => emit(json!({"id": id, "ok": true, "result": v})),
                        Err(e) => emit(json!({"id": id, "ok": false, "error": e.to_string()})),
                    }
                });
            }
            "generation" => {
                let r = handle.invoke::<_, usize>("generation", ()).await;
                reply(r.map(|g| json!(g)).map_err(|e| e.to_string()));
            }
            "is_leader" => reply(Ok(json!(handle.is_leader()))),
            "subscribe" => {
                let topic = cmd["topic"].as_str().unwrap_or("").to_owned();
                match handle.subscribe::<_, Vec<String>>(&Topic {
                    topic: topic.clone(),
                }) {
                    Ok(mut sub) => {
                        tokio::spawn(async move {
                            while let Some(v) = sub.next().await {
                                emit(json!({"event": "value", "topic": topic, "value": v}));
                            }
                        });
                        reply(Ok(Value::Null));
                    }
                    Err(e) => reply(Err(e.to_string())),
                }
            }
            "publish" => {
                let p = Publication {
                    topic: cmd["topic"].as_str().unwrap_or("").to_owned(),
                    value: cmd["value"].as_str().unwrap_or("").to_owned(),
                };
                reply(
                    handle
                        .publish(&p)
                        .map(|()| Value::Null)
                        .map_err(|e| e.to_string()),
                );
            }
            "published" => reply(Ok(json!(demo_backend.published()))),
            "journal" => reply(Ok(json!(demo_backend.journal()))),
            "stats" => reply(Ok(json!({
                "ok": load.ok.load(Ordering::Relaxed),
                "errors": load.errors.load(Ordering::Relaxed),
                "hung": load.hung.load(Ordering::Relaxed),
                "max_ms": load.max_ms.load(Ordering::Relaxed),
                "elections": handle.elections(),
                "fds": open_fds(),
                "rss_kib": rss_kib(),
                "slow_running": demo_backend.slow_running.load(Ordering::SeqCst),
                "open_subscriptions": demo_backend.open_subscriptions.load(Ordering::SeqCst),
            }))),
            "exit" => {
                handle.close().await;
                reply(Ok(Value::Null));
                std::process::exit(0);
            }
            other => reply(Err(format!("unknown command {other:?}"))),
        }
    }
    // The driver went away: leave quietly.
    handle.close().await;
}
