//! Chaos: five processes (a leader and four followers), each with three subscriptions and a
//! continuous stream of invokes. Whichever process leads is SIGKILLed, round after round (and
//! once SIGSTOPped for longer than the heartbeat limit, then resumed). After every round there
//! is exactly one leader, every subscription delivers the next value, no call hangs, no process
//! crashes, and the survivors' file descriptors and memory do not grow.
//!
//! `CHAOS_ROUNDS=200 cargo test --release --test chaos -- --nocapture` runs a longer session.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::free_port;
use support::worker::Worker;

const WORKER: &str = env!("CARGO_BIN_EXE_demo-worker");
const TOPICS: usize = 3;
const HEARTBEAT_MS: u64 = 200;

async fn spawn(n: usize, port: u16) -> Worker {
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--load",
        "--subs",
        &TOPICS.to_string(),
        "--heartbeat-ms",
        &HEARTBEAT_MS.to_string(),
        "--timeout-ms",
        "1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Worker::spawn(&format!("worker{n}"), WORKER, &args).await
}

async fn leaders(workers: &mut [Worker]) -> Vec<usize> {
    let mut found = Vec::new();
    for (i, w) in workers.iter_mut().enumerate() {
        if w.ok(json!({"cmd": "is_leader"})).await == true {
            found.push(i);
        }
    }
    found
}

/// Waits until exactly one process leads; returns its index.
async fn one_leader(workers: &mut [Worker], round: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let l = leaders(workers).await;
        assert!(l.len() <= 1, "round {round}: several leaders {l:?}");
        if let [i] = l[..] {
            return i;
        }
        assert!(Instant::now() < deadline, "round {round}: no leader");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Publishes `value` on every topic and waits until every process received it on every topic.
async fn deliver_everywhere(workers: &mut [Worker], value: &str) {
    for t in 0..TOPICS {
        workers[0]
            .ok(json!({"cmd": "publish", "topic": format!("t{t}"), "value": value}))
            .await;
    }
    for w in workers.iter_mut() {
        for t in 0..TOPICS {
            w.wait_value(&format!("t{t}"), value).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_die_again_and_again_and_nothing_is_lost() {
    let rounds: usize = std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let port = free_port();
    let mut workers = Vec::new();
    for n in 0..5 {
        workers.push(spawn(n, port).await);
    }
    one_leader(&mut workers, 0).await;
    deliver_everywhere(&mut workers, "start").await;

    // Baseline resources of every process, by name.
    let mut baseline = std::collections::HashMap::new();
    for w in workers.iter_mut() {
        let s = w.ok(json!({"cmd": "stats"})).await;
        baseline.insert(
            w.name.clone(),
            (s["fds"].as_u64().unwrap(), s["rss_kib"].as_u64().unwrap()),
        );
    }

    let mut recovery = Vec::new();
    // Calls counted by processes that were killed (read just before the kill).
    let (mut ok, mut errors, mut hung) = (0, 0, 0);
    for round in 1..=rounds {
        let leader = one_leader(&mut workers, round).await;
        let started = Instant::now();
        if round == rounds / 2 {
            // A leader that stops answering for longer than the heartbeat limit, then resumes.
            workers[leader].stop().await;
            tokio::time::sleep(Duration::from_millis(HEARTBEAT_MS * 5)).await;
            workers[leader].signal("CONT");
        } else {
            let s = workers[leader].ok(json!({"cmd": "stats"})).await;
            ok += s["ok"].as_u64().unwrap();
            errors += s["errors"].as_u64().unwrap();
            hung += s["hung"].as_u64().unwrap();
            let mut dead = workers.remove(leader);
            dead.sigkill();
            dead.wait_exit().await;
        }
        one_leader(&mut workers, round).await;
        deliver_everywhere(&mut workers, &format!("round {round}")).await;
        recovery.push(started.elapsed());
        if workers.len() < 5 {
            let n = 4 + round;
            workers.push(spawn(n, port).await);
            let w = workers.last_mut().unwrap();
            let s = w.ok(json!({"cmd": "stats"})).await;
            baseline.insert(
                w.name.clone(),
                (s["fds"].as_u64().unwrap(), s["rss_kib"].as_u64().unwrap()),
            );
        }
    }

    for w in workers.iter_mut() {
        let s = w.ok(json!({"cmd": "stats"})).await;
        ok += s["ok"].as_u64().unwrap();
        errors += s["errors"].as_u64().unwrap();
        hung += s["hung"].as_u64().unwrap();
        let (fds0, rss0) = baseline[&w.name];
        let (fds, rss) = (s["fds"].as_u64().unwrap(), s["rss_kib"].as_u64().unwrap());
        println!(
            "{}: elections {} fds {fds0} -> {fds}, rss {rss0} -> {rss} KiB",
            w.name, s["elections"]
        );
        assert!(
            fds <= fds0 + 4,
            "{}: file descriptors grew from {fds0} to {fds}",
            w.name
        );
        assert!(
            rss <= rss0 + 8 * 1024,
            "{}: memory grew from {rss0} to {rss} KiB",
            w.name
        );
    }
    recovery.sort();
    let median = recovery[recovery.len() / 2];
    let max = recovery[recovery.len() - 1];
    println!(
        "chaos: {rounds} rounds, calls made {ok} ok + {errors} errored, hung {hung}, subscriptions lost 0, \
         recovery median {median:?} max {max:?}"
    );
    assert_eq!(hung, 0, "calls hung");
    for w in workers.iter_mut() {
        w.ok(json!({"cmd": "exit"})).await;
    }
}
