//! Four processes share one port; the leader is SIGKILLed again and again. Each time exactly
//! one new leader is elected, every survivor's subscription receives the next published value,
//! no call hangs, and calls succeed again.

mod support;

use serde_json::json;
use support::free_port;
use support::worker::Worker;

const WORKER: &str = env!("CARGO_BIN_EXE_demo-worker");

async fn spawn_worker(n: usize, port: u16) -> Worker {
    let args = vec![
        "--port".into(),
        port.to_string(),
        "--timeout-ms".into(),
        "1000".into(),
        "--load".into(),
    ];
    let mut w = Worker::spawn(&format!("worker{n}"), WORKER, &args).await;
    w.ok(json!({"cmd": "subscribe", "topic": "t"})).await;
    w
}

async fn leaders(workers: &mut [Worker]) -> Vec<u32> {
    let mut pids = Vec::new();
    for w in workers.iter_mut() {
        if w.ok(json!({"cmd": "is_leader"})).await == true {
            pids.push(w.pid);
        }
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_elect_one_leader_and_keep_their_subscriptions_across_repeated_kills() {
    let port = free_port();
    let mut workers = Vec::new();
    for n in 0..4 {
        workers.push(spawn_worker(n, port).await);
    }
    assert_eq!(
        leaders(&mut workers).await.len(),
        1,
        "exactly one leader at start"
    );
    workers[3]
        .ok(json!({"cmd": "publish", "topic": "t", "value": "v0"}))
        .await;
    for w in workers.iter_mut() {
        w.wait_value("t", "v0").await;
    }

    const ROUNDS: usize = 3;
    for round in 1..=ROUNDS {
        let leader_pid = leaders(&mut workers).await[0];
        let i = workers.iter().position(|w| w.pid == leader_pid).unwrap();
        let mut dead = workers.remove(i);
        dead.sigkill();
        dead.wait_exit().await;

        // Exactly one survivor takes over.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let new_leaders = loop {
            let l = leaders(&mut workers).await;
            if !l.is_empty() {
                break l;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: no new leader"
            );
            tokio::task::yield_now().await;
        };
        assert_eq!(
            new_leaders.len(),
            1,
            "round {round}: leaders {new_leaders:?}"
        );

        // Every survivor's subscription delivers the next value, published by any survivor.
        let value = format!("v{round}");
        workers[0]
            .ok(json!({"cmd": "publish", "topic": "t", "value": value}))
            .await;
        for w in workers.iter_mut() {
            w.wait_value("t", &value).await;
        }
        // Calls succeed again, served by a new real client.
        for w in workers.iter_mut() {
            assert_eq!(w.ok(json!({"cmd": "echo", "arg": "after"})).await, "after");
            assert_eq!(
                w.ok(json!({"cmd": "generation"})).await,
                1,
                "each process's backend has one client"
            );
        }
        // Replace the dead process so four keep sharing the port.
        workers.push(spawn_worker(3 + round, port).await);
        assert_eq!(leaders(&mut workers).await.len(), 1);
    }

    let mut total_ok = 0;
    for w in workers.iter_mut() {
        let stats = w.ok(json!({"cmd": "stats"})).await;
        assert_eq!(stats["hung"], 0, "{}: {stats}", w.name);
        total_ok += stats["ok"].as_u64().unwrap();
        println!("{}: {stats}", w.name);
    }
    assert!(total_ok > 0);
    for w in workers.iter_mut() {
        w.ok(json!({"cmd": "exit"})).await;
    }
}
