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
use std::time::Duration;

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
async fn a_rust_follower_asking_a_node_leader_for_the_channel_status_gets_none_at_once() {
    if !node_available() {
        return;
    }
    let (_leader, mut follower) = pair(Kind::Node, Kind::Rust, &[]).await;
    assert_eq!(
        follower.ok(json!({"cmd": "channel_status"})).await,
        Value::Null
    );
    let (_leader, mut follower) = pair(Kind::Rust, Kind::Rust, &[]).await;
    let status = follower.ok(json!({"cmd": "channel_status"})).await;
    assert_eq!(status["followers"], 1, "{status}");
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
    // `nodeOnly` exists on the Node side only.
    let reply = follower
        .cmd(json!({"cmd": "invoke", "method": "nodeOnly", "args": []}))
        .await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "ERR_CLUSTER_NO_METHOD");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nodeOnly"),
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
        // The factory's code reaches followers of either kind, with a stack.
        assert_eq!(event["code"], "E_BROKEN", "{event}");
        assert_eq!(event["stack_head"], "Error: broken ready", "{event}");
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

/// What a follower of either kind gets from a leader of either kind for the same calls, made
/// with unmodified JavaScript calling conventions: fewer and more arguments than a method
/// declares, a variadic method, errors with their name, code and stack.
async fn outcomes(leader_kind: Kind, follower_kind: Kind) -> Vec<Value> {
    let (_leader, mut follower) = pair(leader_kind, follower_kind, &[]).await;
    let thirteen: Vec<Value> = (1..=13).map(|i| json!(i)).collect();
    // Calls with fewer arguments than a method declares are left out: a Node leader passes
    // its callback in the first missing place (so `echo()` answers the callback, encoded as
    // null), where a Rust leader passes `undefined` (tests/javascript_arguments.rs).
    let calls: Vec<(&str, Vec<Value>)> = vec![
        ("echo", vec![json!(1), json!(2)]),
        ("echo", vec![json!("x")]),
        ("echo", vec![json!({"$undefined": true})]),
        (
            "echo",
            vec![json!({"$date": 1_700_000_000_000_i64}), json!("extra")],
        ),
        ("echoAll", thirteen),
        ("echoAll", vec![]),
        (
            "echoAll",
            vec![json!("a"), json!({"$undefined": true}), json!(null)],
        ),
        ("add", vec![json!(1), json!(2)]),
        ("add", vec![json!(1.5), json!(2), json!(99)]),
        ("add", vec![json!("a"), json!("b")]),
        ("fail", vec![json!("boom")]),
        ("fail", vec![json!("boom"), json!("extra")]),
    ];
    let mut seen = Vec::new();
    for (method, args) in calls {
        let reply = follower
            .cmd(json!({"cmd": "invoke", "method": method, "args": args}))
            .await;
        let mut outcome = if reply["ok"] == true {
            json!({"call": method, "result": reply["result"]})
        } else {
            let e = &reply["error"];
            json!({"call": method, "name": e["name"], "message": e["message"], "code": e["code"], "stack_head": e["stack_head"]})
        };
        // A Node leader appends its completion callback to the arguments of the call it makes
        // (the README's "Differences"); a variadic method sees it as one more, `null` once
        // encoded. A Rust leader passes exactly what the caller sent.
        if let (Kind::Node, "echoAll", Some(items)) =
            (leader_kind, method, outcome["result"].as_array_mut())
        {
            assert_eq!(items.pop(), Some(Value::Null), "the Node leader's callback");
        }
        seen.push(outcome);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_either_kind_get_the_same_answers_and_errors_from_a_rust_leader_as_from_a_node_leader()
 {
    if !node_available() {
        return;
    }
    let reference = outcomes(Kind::Node, Kind::Node).await;
    // Errors carry a name, a code and a stack from either leader.
    for o in reference.iter().filter(|o| o["call"] == "fail") {
        assert_eq!(
            (&o["name"], &o["code"]),
            (&json!("Error"), &json!("E_DEMO")),
            "{o}"
        );
        assert!(o["stack_head"].is_string(), "{o}");
    }
    for (leader, follower) in [
        (Kind::Rust, Kind::Node),
        (Kind::Node, Kind::Rust),
        (Kind::Rust, Kind::Rust),
    ] {
        let got = outcomes(leader, follower).await;
        for (want, got) in reference.iter().zip(&got) {
            assert_eq!(
                got, want,
                "{leader:?} leader, {follower:?} follower differ from Node/Node"
            );
        }
    }
}

/// The one worker that leads right now, once every worker agrees (bounded wait).
async fn current_leader(workers: &mut [(Kind, Worker)]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut leaders = Vec::new();
        for (i, (_, w)) in workers.iter_mut().enumerate() {
            if w.ok(json!({"cmd": "is_leader"})).await == true {
                leaders.push(i);
            }
        }
        if let [one] = leaders[..] {
            return one;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single leader within 10 s: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_mixed_fleet_rust_processes_win_their_share_of_elections() {
    if !node_available() {
        return;
    }
    let port = free_port();
    let kinds = [Kind::Node, Kind::Node, Kind::Node, Kind::Rust, Kind::Rust];
    let mut workers = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        workers.push((kind, spawn(kind, &format!("{kind:?} {i}"), port, &[]).await));
    }
    let rounds = 20;
    let mut rust_wins = 0;
    for round in 0..rounds {
        let leader = current_leader(&mut workers).await;
        // Every leader lives past the storm guard's 1 s "healthy role", so what is measured
        // is the race of an election, as in a fleet whose leader dies now and then.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (kind, mut dead) = workers.swap_remove(leader);
        dead.sigkill();
        dead.wait_exit().await;
        let next = current_leader(&mut workers).await;
        if workers[next].0 == Kind::Rust {
            rust_wins += 1;
        }
        // A replacement of the same kind keeps the fleet at 3 Node and 2 Rust processes.
        workers.push((
            kind,
            spawn(kind, &format!("{kind:?} r{round}"), port, &[]).await,
        ));
    }
    println!("Rust processes won {rust_wins} of {rounds} elections");
    assert!(
        rust_wins * 4 >= rounds,
        "Rust won {rust_wins} of {rounds}, below a quarter (its share is 2 of 5)"
    );
}
