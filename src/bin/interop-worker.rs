//! The Rust counterpart of `tests/interop/node/worker.js`: the same flags, JSON-line commands
//! and events, so interop tests drive Rust and Node participants alike.
//!
//! Flags: `--port N --role auto|leader|follower --name CHANNEL --codec default|json
//! --fail-ready MSG --heartbeat MS --response-timeout MS`. Commands: `invoke`, `oneway`,
//! `subscribe`, `unsubscribe`, `publish`, `is_leader`, `close`, `exit` (see the Node README).

use cluster_client_suite::worker_io::{emit, flag, init_logs};
use std::time::Duration;

use bytes::Bytes;
use cluster_client::codec::{JsValue, PayloadCodec};
use cluster_client::protocol::ArgsWriter;
use cluster_client::{Builder, Error, Handle, RemoteError};
use cluster_client_suite::node_demo::{NodeDemo, NodeDemoService, from_tagged, to_tagged};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// An error as the Node worker reports one: `name`, `message`, `code`, and the first line of
/// its `stack` (`stack_head`, null when it has none).
fn error_json(e: &Error) -> Value {
    match e.remote() {
        Some(error) => {
            let head = error.stack.lines().next().filter(|l| !l.is_empty());
            json!({"name": error.name, "message": error.message, "code": error.code, "stack_head": head})
        }
        None => {
            json!({"name": "ClusterClientError", "message": e.to_string(), "code": e.code(), "stack_head": null})
        }
    }
}

fn encode_args(codec: &PayloadCodec, args: &[Value]) -> Result<Bytes, String> {
    let mut buf = Vec::new();
    let mut w = ArgsWriter::new(&mut buf);
    for a in args {
        w.push(|out| codec.encode(&from_tagged(a), out))
            .map_err(|e| e.to_string())?;
    }
    Ok(Bytes::from(buf))
}

#[tokio::main]
async fn main() {
    init_logs();
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = flag(&args, "--port")
        .and_then(|p| p.parse().ok())
        .expect("--port N");
    let mut builder = Builder::new(NodeDemoService).port(port);
    if let Some(name) = flag(&args, "--name") {
        builder = builder.name(name);
    }
    match flag(&args, "--role").as_deref() {
        Some("leader") => builder = builder.is_leader(true),
        Some("follower") => builder = builder.is_leader(false),
        _ => {}
    }
    if flag(&args, "--codec").as_deref() == Some("json") {
        builder = builder.codec(PayloadCodec::Json);
    }
    if let Some(ms) = flag(&args, "--heartbeat").and_then(|v| v.parse().ok()) {
        builder = builder.heartbeat_interval(Duration::from_millis(ms));
    }
    if let Some(ms) = flag(&args, "--response-timeout").and_then(|v| v.parse().ok()) {
        builder = builder.response_timeout(Duration::from_millis(ms));
    }
    if let Some(secret) = flag(&args, "--secret") {
        builder = builder.secret(secret);
    }
    let fail_ready = flag(&args, "--fail-ready");
    let built = builder.build(move || {
        let fail = fail_ready.clone();
        async move {
            // As the Node fixture's `failReady`: an Error with code E_BROKEN.
            match fail {
                Some(message) => Err(RemoteError::new("Error", message).with_code("E_BROKEN")),
                None => Ok(NodeDemo::default()),
            }
        }
    });
    let handle: Handle<NodeDemoService> = match built {
        Ok(h) => h,
        Err(e) => {
            let mut ev = error_json(&e);
            ev["event"] = json!("ready_error");
            emit(ev);
            std::process::exit(1);
        }
    };
    // Like the Node worker, report a failed start but stay up: a leader whose client failed
    // keeps the port and tells its followers why.
    match handle.ready().await {
        Ok(()) => {
            emit(json!({"event": "ready", "leader": handle.is_leader(), "pid": std::process::id()}))
        }
        Err(e) => {
            let mut ev = error_json(&e);
            ev["event"] = json!("ready_error");
            emit(ev);
        }
    }

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            emit(json!({"event": "bad_command", "line": line}));
            continue;
        };
        let id = cmd["id"].clone();
        let ok = |result: Option<Value>| {
            let mut r = json!({"id": id, "ok": true});
            if let Some(v) = result {
                r["result"] = v;
            }
            emit(r)
        };
        let fail = |e: Value| emit(json!({"id": id, "ok": false, "error": e}));
        let call_args: Vec<Value> = cmd["args"].as_array().cloned().unwrap_or_default();
        match cmd["cmd"].as_str().unwrap_or("") {
            "invoke" => {
                let h = handle.clone();
                let method = cmd["method"].as_str().unwrap_or("").to_owned();
                let id = id.clone();
                tokio::spawn(async move {
                    let reply = match encode_args(h.codec(), &call_args) {
                        Err(e) => {
                            json!({"id": id, "ok": false, "error": {"name": "EncodeError", "message": e, "code": null}})
                        }
                        Ok(bytes) => {
                            match h.invoke_raw(&method, bytes, call_args.len() as u32).await {
                                Ok(result) => match h.codec().decode::<JsValue>(&result) {
                                    Ok(v) => json!({"id": id, "ok": true, "result": to_tagged(&v)}),
                                    Err(e) => {
                                        json!({"id": id, "ok": false, "error": {"name": "DecodeError", "message": e.to_string(), "code": null}})
                                    }
                                },
                                Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
                            }
                        }
                    };
                    emit(reply);
                });
            }
            "oneway" => {
                let method = cmd["method"].as_str().unwrap_or("");
                let values: Vec<JsValue> = call_args.iter().map(from_tagged).collect();
                let sent = match values.as_slice() {
                    [] => handle.invoke_oneway(method, ()),
                    [a] => handle.invoke_oneway(method, (a.clone(),)),
                    [a, b] => handle.invoke_oneway(method, (a.clone(), b.clone())),
                    _ => handle.invoke_oneway(method, (values.clone(),)),
                };
                match sent {
                    Ok(()) => ok(None),
                    Err(e) => fail(error_json(&e)),
                }
            }
            "subscribe" => {
                let reg = cmd["reg"].clone();
                match handle.subscribe::<_, JsValue>(&reg) {
                    Ok(mut sub) => {
                        let sub_id = id.clone();
                        tokio::spawn(async move {
                            while let Some(v) = sub.next().await {
                                emit(
                                    json!({"event": "value", "reg": reg, "value": to_tagged(&v), "sub": sub_id}),
                                );
                            }
                        });
                        ok(None);
                    }
                    Err(e) => fail(error_json(&e)),
                }
            }
            "unsubscribe" => match handle.unsubscribe(&cmd["reg"]) {
                Ok(()) => ok(None),
                Err(e) => fail(error_json(&e)),
            },
            "publish" => match handle.publish(&from_tagged(&cmd["reg"])) {
                Ok(()) => ok(None),
                Err(e) => fail(error_json(&e)),
            },
            "is_leader" => ok(Some(json!(handle.is_leader()))),
            "channel_status" => match handle.channel_status().await {
                Ok(status) => ok(Some(json!(status))),
                Err(e) => emit(json!({"id": id, "ok": false, "error": error_json(&e)})),
            },
            "close" => {
                handle.close().await;
                ok(None);
            }
            "exit" => {
                ok(None);
                std::process::exit(0);
            }
            other => fail(
                json!({"name": "UsageError", "message": format!("unknown command {other:?}"), "code": null}),
            ),
        }
    }
    handle.close().await;
}
