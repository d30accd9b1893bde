//! `#[cluster_client]` on an inherent impl (`inherent_demo::Inventory`, a struct with no
//! trait), used through the generated `InventoryCluster`: in a leader and followers, in this
//! process and in other processes, before and after the leader is killed, every call answers
//! what the real client answers when called directly, typed errors included.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_client::Scope;
use cluster_client_suite::demo::{Backend, Publication, Topic};
use cluster_client_suite::inherent_demo::{
    Inventory, InventoryCluster, InventoryError, direct_script, script,
};
use futures::StreamExt;
use support::impl_forms::{exit, leader_and_two_followers_across_a_kill};
use support::{bounded, free_port};

const WORKER: &str = env!("CARGO_BIN_EXE_impl-worker");

/// What the real client answers, called directly (no handle, no runtime).
async fn direct_answers() -> serde_json::Value {
    direct_script(&Inventory::connect(Arc::new(Backend::default()))).await
}

/// A handle in a scope of its own (a "process" inside this test process).
async fn handle_in_new_scope(port: u16, backend: &Arc<Backend>) -> InventoryCluster {
    let backend = backend.clone();
    InventoryCluster::builder()
        .port(port)
        .scope(Scope::new())
        .response_timeout(Duration::from_secs(2))
        .create(move || {
            let backend = backend.clone();
            async move { Ok::<_, String>(Inventory::connect(backend)) }
        })
        .await
        .expect("the handle becomes ready")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_and_two_follower_processes_answer_like_the_real_client_across_a_leader_kill() {
    let expected = direct_answers().await;
    let [a, b] = leader_and_two_followers_across_a_kill(WORKER, "inherent", &expected).await;
    exit(a).await;
    exit(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_one_process_the_leader_and_a_follower_answer_like_the_real_client() {
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
    // The follower gets the leader's error value itself.
    assert_eq!(
        follower.quote("plum".into(), 4).await,
        Err(InventoryError::OutOfStock {
            item: "plum".into(),
            left: 3
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneway_calls_publications_and_subscriptions_reach_the_real_client() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = handle_in_new_scope(port, &backend).await;
    let follower = handle_in_new_scope(port, &backend).await;

    follower.record_sale("apple".into());
    assert_eq!(
        bounded("the sale", backend.wait_notes(1)).await,
        vec!["apple".to_owned()]
    );

    let topic = Topic {
        topic: "deliveries".into(),
    };
    let mut values = follower.watch(topic.clone());
    leader.announce(Publication {
        topic: "deliveries".into(),
        value: "pears".into(),
    });
    bounded("the delivery", async {
        while !values
            .next()
            .await
            .expect("the stream stays open")
            .contains(&"pears".to_owned())
        {}
    })
    .await;

    follower.unwatch(topic.clone());
    assert_eq!(bounded("the end of the stream", values.next()).await, None);

    // The shared `close` closes the handle; on the leader it closes the real client.
    leader.close().await;
    assert_eq!(backend.clients_closed.load(Ordering::SeqCst), 1);
    follower.close().await;
    assert_eq!(
        follower.stock_of("apple".into()).await,
        Err(InventoryError::Cluster("ERR_CLUSTER_CLOSED".into()))
    );
}
