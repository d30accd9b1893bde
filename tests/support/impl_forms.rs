//! The multi-process scenario both impl forms must pass: a leader and two followers, each a
//! process of `impl-worker`, answer like the real client called directly, before and after the
//! leader is SIGKILLed, and a subscription made before the kill keeps delivering.

use serde_json::{Value, json};

use super::free_port;
use super::worker::Worker;

/// The process names, in the order they start (the first one leads).
const NAMES: [&str; 3] = ["leader", "follower-a", "follower-b"];

async fn spawn(program: &str, form: &str, name: &str, port: u16) -> Worker {
    let args = [
        "--form",
        form,
        "--port",
        &port.to_string(),
        "--timeout-ms",
        "5000",
    ]
    .map(str::to_owned);
    Worker::spawn(&format!("{form} {name}"), program, &args).await
}

async fn is_leader(worker: &mut Worker) -> bool {
    worker.ok(json!({"cmd": "is_leader"})).await == true
}

/// Runs the scenario with `program --form form`; `expected` is what the script answers when
/// called on the real client directly. Returns the two survivors, still running.
pub async fn leader_and_two_followers_across_a_kill(
    program: &str,
    form: &str,
    expected: &Value,
) -> [Worker; 2] {
    let port = free_port();
    let mut leader = spawn(program, form, NAMES[0], port).await;
    assert!(is_leader(&mut leader).await, "the first process leads");
    let mut a = spawn(program, form, NAMES[1], port).await;
    let mut b = spawn(program, form, NAMES[2], port).await;
    assert!(!is_leader(&mut a).await, "{} follows", NAMES[1]);
    assert!(!is_leader(&mut b).await, "{} follows", NAMES[2]);

    for worker in [&mut leader, &mut a, &mut b] {
        let answers = worker.ok(json!({"cmd": "script"})).await;
        assert_eq!(&answers, expected, "{} before the kill", worker.name);
    }

    a.ok(json!({"cmd": "watch", "topic": "t"})).await;
    b.ok(json!({"cmd": "watch", "topic": "t"})).await;
    b.ok(json!({"cmd": "announce", "topic": "t", "value": "before"}))
        .await;
    a.wait_value("t", "before").await;
    b.wait_value("t", "before").await;

    leader.sigkill();
    leader.wait_exit().await;

    // Once both survivors have seen the loss and lead or follow the new leader (a call made
    // before a follower notices goes to the dead connection and fails with "leader lost"),
    // they answer as before.
    for worker in [&mut a, &mut b] {
        worker
            .ok(json!({"cmd": "await_elections", "count": 2}))
            .await;
    }
    for worker in [&mut a, &mut b] {
        let answers = worker.ok(json!({"cmd": "script"})).await;
        assert_eq!(&answers, expected, "{} after the kill", worker.name);
    }
    let leaders = usize::from(is_leader(&mut a).await) + usize::from(is_leader(&mut b).await);
    assert_eq!(leaders, 1, "exactly one survivor leads");

    // The subscriptions survived the kill; a new publication reaches both.
    a.ok(json!({"cmd": "announce", "topic": "t", "value": "after"}))
        .await;
    a.wait_value("t", "after").await;
    b.wait_value("t", "after").await;
    [a, b]
}

/// Ends a worker through its `exit` command (it closes its handle first).
pub async fn exit(mut worker: Worker) {
    worker.ok(json!({"cmd": "exit"})).await;
    worker.wait_exit().await;
}
