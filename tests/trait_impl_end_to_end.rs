//! `#[cluster_client]` on an impl of a trait the application does not own: `impl-worker`
//! implements the SDK trait `registry_sdk::Registry` (another crate, no attribute on it) and
//! shares it through the generated `RegistryCluster`. A leader and two followers, each its own
//! process, answer what the SDK's client answers when called directly, before and after the
//! leader is killed; the method the impl keeps local answers with the trait's provided body.

mod support;

use std::sync::Arc;

use cluster_client_suite::demo::Backend;
use cluster_client_suite::registry_sdk::{SdkRegistry, script};
use serde_json::json;
use support::impl_forms::{exit, leader_and_two_followers_across_a_kill};

const WORKER: &str = env!("CARGO_BIN_EXE_impl-worker");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_and_two_follower_processes_answer_like_the_sdk_client_across_a_leader_kill() {
    let expected = script(&SdkRegistry::connect(Arc::new(Backend::default()))).await;
    let [mut a, b] = leader_and_two_followers_across_a_kill(WORKER, "trait", &expected).await;

    // The handle has no `describe` of the application's: it keeps the trait's provided one.
    assert_eq!(
        a.ok(json!({"cmd": "describe"})).await,
        json!({"handle": "registry-sdk", "real": "app registry"})
    );
    exit(a).await;
    exit(b).await;
}
