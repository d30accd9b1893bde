//! The `#[cluster_client]` trait of `macro_demo`, used through its generated handle: in a
//! leader and in followers (in this process and in other processes), before and after the
//! leader is killed, every call answers what the real client answers when called directly,
//! typed errors included.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cluster_client::Scope;
use cluster_client_suite::demo::{Backend, Publication, Topic};
use cluster_client_suite::macro_demo::{
    Directory, DirectoryCluster, DirectoryError, RealDirectory, script,
};
use futures::StreamExt;
use serde_json::{Value, json};
use support::worker::Worker;
use support::{bounded, free_port};

const WORKER: &str = env!("CARGO_BIN_EXE_macro-worker");

/// What the real client answers, called directly (no handle, no runtime).
async fn direct_answers() -> Value {
    script(&RealDirectory::connect(Arc::new(Backend::default()))).await
}

/// A handle in a scope of its own (a "process" inside this test process).
async fn handle_in_new_scope(port: u16, backend: &Arc<Backend>) -> DirectoryCluster<RealDirectory> {
    let backend = backend.clone();
    DirectoryCluster::builder()
        .port(port)
        .scope(Scope::new())
        .response_timeout(Duration::from_secs(2))
        .create(move || {
            let backend = backend.clone();
            async move { Ok::<_, String>(RealDirectory::connect(backend)) }
        })
        .await
        .expect("the handle becomes ready")
}

async fn spawn_worker(name: &str, port: u16) -> Worker {
    let args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--timeout-ms".to_owned(),
        "2000".to_owned(),
    ];
    Worker::spawn(name, WORKER, &args).await
}

async fn next_containing(
    values: &mut (impl futures::Stream<Item = Vec<String>> + Unpin),
    want: &str,
) {
    bounded(&format!("a value containing {want}"), async {
        loop {
            let v = values.next().await.expect("the stream stays open");
            if v.iter().any(|x| x == want) {
                return;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_and_followers_answer_like_the_real_client() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = handle_in_new_scope(port, &backend).await;
    let follower = handle_in_new_scope(port, &backend).await;
    assert!(leader.is_leader());
    assert!(!follower.is_leader());

    let expected = direct_answers().await;
    assert_eq!(script(&leader).await, expected, "leader (local calls)");
    assert_eq!(
        script(&follower).await,
        expected,
        "follower (forwarded calls)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_error_is_the_leaders_error_value() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = handle_in_new_scope(port, &backend).await;
    let follower = handle_in_new_scope(port, &backend).await;
    assert_eq!(
        follower.find("nope".into()).await,
        Err(DirectoryError::NotFound { key: "nope".into() })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_the_call_itself_reach_the_callers_error_type() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let handle = handle_in_new_scope(port, &backend).await;
    handle.close().await;
    let Err(DirectoryError::Cluster { code, .. }) = handle.echo_text("x".into()).await else {
        panic!("a closed handle answers a cluster error");
    };
    assert_eq!(code, "ERR_CLUSTER_CLOSED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_publications_and_subscriptions_reach_every_process() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = handle_in_new_scope(port, &backend).await;
    let follower = handle_in_new_scope(port, &backend).await;

    follower.note("from a follower".into());
    let notes = bounded("the note", backend.wait_notes(1)).await;
    assert_eq!(notes, vec!["from a follower".to_owned()]);
    assert_eq!(follower.notes().await, Ok(notes));

    let topic = Topic { topic: "t".into() };
    let mut on_leader = leader.watch(topic.clone());
    let mut on_follower = follower.watch(topic.clone());
    follower.announce(Publication {
        topic: "t".into(),
        value: "v1".into(),
    });
    next_containing(&mut on_leader, "v1").await;
    next_containing(&mut on_follower, "v1").await;

    // Unsubscribing in every process tells the real client once.
    follower.unwatch(topic.clone());
    leader.unwatch(topic);
    bounded("the upstream unsubscribe", async {
        while backend
            .unsubscribes
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(on_follower.next().await, None);

    // Closing the leader's handle closes its real client.
    leader.close().await;
    assert_eq!(
        backend
            .clients_closed
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_answers_in_every_role_across_a_leader_kill() {
    let port = free_port();
    let expected = direct_answers().await;

    // The first process leads; this test process and a third process follow.
    let mut leader = spawn_worker("leader", port).await;
    assert_eq!(leader.ok(json!({"cmd": "is_leader"})).await, true);
    let backend = Arc::new(Backend::default());
    let here = handle_in_new_scope(port, &backend).await;
    let mut other = spawn_worker("other", port).await;
    assert!(!here.is_leader());
    assert_eq!(other.ok(json!({"cmd": "is_leader"})).await, false);

    assert_eq!(
        leader.ok(json!({"cmd": "script"})).await,
        expected,
        "leader"
    );
    assert_eq!(script(&here).await, expected, "follower in this process");
    assert_eq!(
        other.ok(json!({"cmd": "script"})).await,
        expected,
        "follower process"
    );

    let mut values = here.watch(Topic { topic: "t".into() });
    other.ok(json!({"cmd": "watch", "topic": "t"})).await;
    other
        .ok(json!({"cmd": "announce", "topic": "t", "value": "before"}))
        .await;
    next_containing(&mut values, "before").await;
    other.wait_value("t", "before").await;

    leader.sigkill();
    leader.wait_exit().await;

    // One survivor takes over; both keep answering like the real client.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let new_leaders = loop {
        let other_leads = other.ok(json!({"cmd": "is_leader"})).await == true;
        let count = usize::from(here.is_leader()) + usize::from(other_leads);
        if count > 0 {
            break count;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(new_leaders, 1);
    assert_eq!(script(&here).await, expected, "this process after the kill");
    assert_eq!(
        other.ok(json!({"cmd": "script"})).await,
        expected,
        "the other process after the kill"
    );

    // The subscription survived, and a new publication reaches both.
    here.announce(Publication {
        topic: "t".into(),
        value: "after".into(),
    });
    next_containing(&mut values, "after").await;
    other.wait_value("t", "after").await;

    other.ok(json!({"cmd": "exit"})).await;
    here.close().await;
}
