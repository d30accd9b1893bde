//! Mixed fleets: Rust processes lead and follow the real Node.js `cluster-client@3.7.0` on one
//! channel and port, with no special configuration.
//!
//! Both kinds of participant are worker processes driven by the same JSON-line protocol:
//! `tests/interop/node/worker.js` (Node) and `src/bin/interop-worker.rs` (Rust). The Node
//! fixture's packages are installed with `npm ci` on first use; without node or npm on the
//! machine the tests print "skipped: node not found" and pass.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use support::free_port;
use support::worker::Worker;

const RUST_WORKER: &str = env!("CARGO_BIN_EXE_interop-worker");

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Node,
    Rust,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node")
}

/// Installs the fixture once; `Err` says why Node tests cannot run here.
fn node_setup() -> &'static Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let node = std::process::Command::new("node").arg("--version").output();
        if !node.is_ok_and(|o| o.status.success()) {
            return Err("node not found".into());
        }
        if fixture_dir()
            .join("node_modules/cluster-client/package.json")
            .exists()
        {
            return Ok(());
        }
        let npm = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(fixture_dir())
            .status();
        match npm {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => panic!("npm ci failed in {}: {s}", fixture_dir().display()),
            Err(_) => Err("npm not found".into()),
        }
    })
}

/// False (after saying so) when node is missing.
fn node_available() -> bool {
    match node_setup() {
        Ok(()) => true,
        Err(why) => {
            println!("skipped: {why}");
            false
        }
    }
}

async fn spawn(kind: Kind, name: &str, port: u16, extra: &[&str]) -> Worker {
    let (w, ready) = start(kind, name, port, extra).await;
    assert_eq!(ready["event"], "ready", "{name} failed to start: {ready}");
    w
}

/// Starts a worker and returns it with its `ready` or `ready_error` event.
async fn start(kind: Kind, name: &str, port: u16, extra: &[&str]) -> (Worker, Value) {
    let mut args = vec!["--port".to_string(), port.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    match kind {
        Kind::Node => {
            let mut node_args = vec![fixture_dir().join("worker.js").display().to_string()];
            node_args.extend(args);
            Worker::start(name, "node", &node_args).await
        }
        Kind::Rust => Worker::start(name, RUST_WORKER, &args).await,
    }
}

/// A leader of one kind and a follower of the other (or the same) kind, on a fresh port.
async fn pair(leader: Kind, follower: Kind, extra: &[&str]) -> (Worker, Worker) {
    let port = free_port();
    let mut role = vec!["--role", "leader"];
    role.extend_from_slice(extra);
    let mut l = spawn(leader, &format!("{leader:?} leader"), port, &role).await;
    let mut role = vec!["--role", "follower"];
    role.extend_from_slice(extra);
    let mut f = spawn(follower, &format!("{follower:?} follower"), port, &role).await;
    assert_eq!(l.ok(json!({"cmd": "is_leader"})).await, true);
    assert_eq!(f.ok(json!({"cmd": "is_leader"})).await, false);
    (l, f)
}

async fn wait_value(w: &mut Worker, topic: &str, value: &Value) {
    let what = format!("{value} on {topic}");
    w.wait_event(&what, |e| {
        e["event"] == "value" && e["reg"]["topic"] == topic && e["value"] == *value
    })
    .await;
}

/// Every type serialize-json carries, as tagged JSON lines.
fn typed_values() -> Vec<Value> {
    vec![
        json!("a b|c^d%e+f \"q\" \\ 中文 😀\n"),
        json!(""),
        json!(0),
        json!(-2),
        json!(35),
        json!(2147483648i64),
        json!(-1099511627776i64),
        json!(3.5),
        json!(-0.25),
        json!(1e-7),
        json!(true),
        json!(false),
        json!(null),
        json!([1, "x", [], {}]),
        json!({"k": "v", "n": 35, "nested": {"a": [1, 2, {"b": null}], "s": "x y"}}),
        json!({"$buffer": "00ff10"}),
        json!({"$buffer": ""}),
        json!({"$date": 1700000000000i64}),
        json!({"$date": -1}),
        json!({"$undefined": true}),
        json!({"$number": "NaN"}),
        json!({"$number": "-Infinity"}),
    ]
}

async fn check_every_scenario(leader_kind: Kind, follower_kind: Kind) {
    let (mut leader, mut follower) = pair(leader_kind, follower_kind, &[]).await;

    // Invoke with values of every type.
    for v in typed_values() {
        let got = follower
            .ok(json!({"cmd": "invoke", "method": "echo", "args": [v]}))
            .await;
        assert_eq!(got, v, "{follower_kind:?} -> {leader_kind:?} echo");
    }
    assert_eq!(
        follower
            .ok(json!({"cmd": "invoke", "method": "add", "args": [2, 3]}))
            .await,
        5
    );

    // Errors keep name, message and code.
    let reply = follower
        .cmd(json!({"cmd": "invoke", "method": "fail", "args": ["boom"]}))
        .await;
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["message"], "boom");
    assert_eq!(reply["error"]["code"], "E_DEMO");
    assert_eq!(reply["error"]["name"], "Error");

    // Oneway calls arrive (the demo client echoes notes on topic "notify").
    follower
        .ok(json!({"cmd": "subscribe", "reg": {"topic": "notify"}}))
        .await;
    follower
        .ok(json!({"cmd": "oneway", "method": "notify", "args": ["ping"]}))
        .await;
    wait_value(&mut follower, "notify", &json!("ping")).await;

    // Late subscribers get the leader's cached value.
    leader
        .ok(json!({"cmd": "publish", "reg": {"topic": "a", "value": "v1"}}))
        .await;
    follower
        .ok(json!({"cmd": "subscribe", "reg": {"topic": "a"}}))
        .await;
    wait_value(&mut follower, "a", &json!("v1")).await;

    // A publication from the follower reaches subscribers on the leader's side.
    leader
        .ok(json!({"cmd": "subscribe", "reg": {"topic": "b"}}))
        .await;
    let typed = json!({"when": {"$date": 1700000000000i64}, "raw": {"$buffer": "0102"}});
    follower
        .ok(json!({"cmd": "publish", "reg": {"topic": "b", "value": typed}}))
        .await;
    wait_value(&mut leader, "b", &typed).await;

    for w in [&mut leader, &mut follower] {
        w.ok(json!({"cmd": "exit"})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_leader_serves_rust_followers() {
    if node_available() {
        check_every_scenario(Kind::Node, Kind::Rust).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_leader_serves_node_followers() {
    if node_available() {
        check_every_scenario(Kind::Rust, Kind::Node).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_follower_calling_an_undelegated_method_gets_an_error_and_the_rust_leader_stays_up()
{
    if !node_available() {
        return;
    }
    let (mut leader, mut follower) = pair(Kind::Rust, Kind::Node, &[]).await;
    // `echoAll` exists on the Node side only.
    let reply = follower
        .cmd(json!({"cmd": "invoke", "method": "echoAll", "args": [1, 2]}))
        .await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "ERR_CLUSTER_NO_METHOD");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("echoAll"),
        "{reply}"
    );
    assert_eq!(
        follower
            .ok(json!({"cmd": "invoke", "method": "echo", "args": ["alive"]}))
            .await,
        "alive"
    );
    assert_eq!(leader.ok(json!({"cmd": "is_leader"})).await, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_client_fails_to_start_is_reported_to_followers_of_the_other_kind() {
    if !node_available() {
        return;
    }
    for (leader_kind, follower_kind) in [(Kind::Node, Kind::Rust), (Kind::Rust, Kind::Node)] {
        let port = free_port();
        let (_leader, started) = start(
            leader_kind,
            "broken leader",
            port,
            &["--role", "leader", "--fail-ready", "broken ready"],
        )
        .await;
        assert_eq!(started["event"], "ready_error", "{started}");
        let (_follower, event) =
            start(follower_kind, "follower", port, &["--role", "follower"]).await;
        assert_eq!(
            event["event"], "ready_error",
            "{leader_kind:?} leader, {follower_kind:?} follower: {event}"
        );
        assert!(
            event["message"].as_str().unwrap().contains("broken ready"),
            "{event}"
        );
        if leader_kind == Kind::Node {
            assert_eq!(event["code"], "E_BROKEN");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_failover_node_to_rust_to_node() {
    if !node_available() {
        return;
    }
    let port = free_port();
    let mut n1 = spawn(Kind::Node, "node leader", port, &["--heartbeat", "1000"]).await;
    let mut r1 = spawn(Kind::Rust, "rust auto", port, &[]).await;
    let mut r2 = spawn(
        Kind::Rust,
        "rust fixed follower",
        port,
        &["--role", "follower"],
    )
    .await;
    let mut n2 = spawn(
        Kind::Node,
        "node fixed follower",
        port,
        &["--role", "follower", "--max-wait-time", "30000"],
    )
    .await;
    assert_eq!(n1.ok(json!({"cmd": "is_leader"})).await, true);
    for w in [&mut r1, &mut r2, &mut n2] {
        assert_eq!(w.ok(json!({"cmd": "is_leader"})).await, false);
        w.ok(json!({"cmd": "subscribe", "reg": {"topic": "m"}}))
            .await;
    }
    // Published by the leader that is about to die: publications die with their process, so
    // no survivor re-sends an older value over the ones published after each failover.
    n1.ok(json!({"cmd": "publish", "reg": {"topic": "m", "value": "before"}}))
        .await;
    for w in [&mut r1, &mut r2, &mut n2] {
        wait_value(w, "m", &json!("before")).await;
    }

    // Kill the Node leader: the only process that competes is Rust.
    n1.sigkill();
    n1.wait_exit().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while r1.ok(json!({"cmd": "is_leader"})).await != true {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Rust process did not take over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The Node follower re-registers with the Rust leader (it probes every 3 s) and keeps its
    // subscription; the Rust follower carries on too.
    r1.ok(json!({"cmd": "publish", "reg": {"topic": "m", "value": "after rust took over"}}))
        .await;
    for w in [&mut r2, &mut n2] {
        wait_value(w, "m", &json!("after rust took over")).await;
    }
    assert_eq!(
        n2.ok(json!({"cmd": "invoke", "method": "echo", "args": ["n2"]}))
            .await,
        "n2"
    );

    // A Node process that competes joins, then the Rust leader is killed: Node takes over.
    let mut n3 = spawn(Kind::Node, "node auto", port, &[]).await;
    assert_eq!(n3.ok(json!({"cmd": "is_leader"})).await, false);
    r1.sigkill();
    r1.wait_exit().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while n3.ok(json!({"cmd": "is_leader"})).await != true {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Node process did not take over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    n3.ok(json!({"cmd": "publish", "reg": {"topic": "m", "value": "after node took over"}}))
        .await;
    for w in [&mut r2, &mut n2] {
        wait_value(w, "m", &json!("after node took over")).await;
    }
    assert_eq!(
        r2.ok(json!({"cmd": "invoke", "method": "echo", "args": ["r2"]}))
            .await,
        "r2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_codec_works_across_kinds() {
    if !node_available() {
        return;
    }
    for (leader_kind, follower_kind) in [(Kind::Node, Kind::Rust), (Kind::Rust, Kind::Node)] {
        let (mut leader, mut follower) =
            pair(leader_kind, follower_kind, &["--codec", "json"]).await;
        let v = json!({"k": "v", "n": [1, 2.5, null, true], "s": "x|y^z"});
        assert_eq!(
            follower
                .ok(json!({"cmd": "invoke", "method": "echo", "args": [v]}))
                .await,
            v
        );
        follower
            .ok(json!({"cmd": "subscribe", "reg": {"topic": "j"}}))
            .await;
        leader
            .ok(json!({"cmd": "publish", "reg": {"topic": "j", "value": v}}))
            .await;
        wait_value(&mut follower, "j", &v).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_secret_is_ignored_by_node_leaders_and_refuses_node_followers() {
    if !node_available() {
        return;
    }
    // A Rust follower presenting a secret to a Node leader: the leader ignores the field.
    let port = free_port();
    let _leader = spawn(Kind::Node, "node leader", port, &["--role", "leader"]).await;
    let mut rust = spawn(
        Kind::Rust,
        "rust with secret",
        port,
        &["--role", "follower", "--secret", "s3cret"],
    )
    .await;
    assert_eq!(
        rust.ok(json!({"cmd": "invoke", "method": "echo", "args": ["ok"]}))
            .await,
        "ok"
    );

    // A Rust leader that requires a secret (from the environment) refuses a Node follower,
    // which cannot present one, with a clear error; a Rust follower with it is served.
    let port = free_port();
    let args = vec![
        "--port".to_string(),
        port.to_string(),
        "--role".into(),
        "leader".into(),
    ];
    let (_rust_leader, ready) = Worker::start_with_env(
        "rust leader",
        RUST_WORKER,
        &args,
        &[("CLUSTER_CLIENT_SECRET", "s3cret")],
    )
    .await;
    assert_eq!(ready["event"], "ready", "{ready}");
    let (_node, refused) = start(Kind::Node, "node follower", port, &["--role", "follower"]).await;
    assert_eq!(refused["event"], "ready_error", "{refused}");
    assert_eq!(refused["code"], "ERR_CLUSTER_AUTH", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("requires a shared secret"),
        "{refused}"
    );
    let mut ok = spawn(
        Kind::Rust,
        "rust follower",
        port,
        &["--role", "follower", "--secret", "s3cret"],
    )
    .await;
    assert_eq!(
        ok.ok(json!({"cmd": "invoke", "method": "echo", "args": ["in"]}))
            .await,
        "in"
    );
}
