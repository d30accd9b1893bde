//! The guarantees of the runtime core, one test per observation of issue 12 (and two more):
//! publications survive reconnects, a recreated channel is served, oneway calls and
//! publications keep their order, a call has one deadline, calls never written go to the next
//! leader, no reconnect storm, huge durations work, and real-client code never runs under the
//! core's locks.
//!
//! Each doc comment says how the test failed on the runtime before the core was rebuilt
//! (commit be5e9ed), run there unchanged unless it says otherwise, with the counts seen in a
//! few runs on a 2-core machine. In-process tests stand for
//! processes with one [`Scope`] each over real loopback sockets; a stall or a kill needs a real
//! process (`demo-worker`, stopped with SIGSTOP/SIGCONT, killed with SIGKILL).

mod support;

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cluster_client::protocol::{FrameCodec, Header, Message, Packet};
use cluster_client::{CloseReason, Error, Scope, cluster_client};
use cluster_client_suite::demo::{Backend, Demo, Publication, Topic};
use cluster_client_suite::macro_demo::{Directory, DirectoryCluster, RealDirectory};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::worker::Worker;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

const WORKER: &str = env!("CARGO_BIN_EXE_demo-worker");

fn topic(name: &str) -> Topic {
    Topic { topic: name.into() }
}

fn publication(topic: &str, value: &str) -> Publication {
    Publication {
        topic: topic.into(),
        value: value.into(),
    }
}

fn worker_args(port: u16, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--port".to_owned(), port.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Waits (bounded) until `handle` answers a call, retrying the calls that fail while it
/// reconnects. Calls and publications of one handle travel in order, so once this returns,
/// everything the handle sent before has reached the leader.
async fn answered(handle: &cluster_client::Handle<cluster_client_suite::demo::DemoService>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match handle
            .invoke::<_, String>("echo", ("sync".to_string(),))
            .await
        {
            Ok(_) => return,
            Err(e) => assert!(Instant::now() < deadline, "no answer within 10 s: {e}"),
        }
    }
}

/// How often each of `expected` appears in `applied`, for the ones not applied exactly once.
fn not_exactly_once(applied: &[String], expected: &[String]) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for a in applied {
        *counts.entry(a.as_str()).or_default() += 1;
    }
    expected
        .iter()
        .map(|e| (e.clone(), counts.get(e.as_str()).copied().unwrap_or(0)))
        .filter(|(_, n)| *n != 1)
        .collect()
}

/// The numbers of the notes that start with `prefix`, in the order the real client got them.
fn numbered(notes: &[String], prefix: &str) -> Vec<usize> {
    notes
        .iter()
        .filter_map(|n| n.strip_prefix(prefix))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn inversions(seq: &[usize]) -> usize {
    seq.windows(2).filter(|w| w[0] >= w[1]).count()
}

// -------------------------------------------------------------------------------------------
// 1. Publications are never lost, and a Rust leader applies each once.

/// A leader stalled for longer than its idle limit (3 x 100 ms) gets, on resuming, the frames
/// its ten followers wrote meanwhile and connections that re-register with it; each
/// follower's publication reaches the real client exactly once.
///
/// Old: all 10 lost, in each of 4 runs (the connections the leader had not read were dropped
/// as idle, and the followers, back on the same leader, did not re-send).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_reach_a_paused_leader_that_drops_and_re_accepts_their_followers() {
    let port = free_port();
    let mut leader = Worker::spawn(
        "leader",
        WORKER,
        &worker_args(port, &["--heartbeat-ms", "100"]),
    )
    .await;
    let backend = Arc::new(Backend::default());
    let mut followers = Vec::new();
    for _ in 0..10 {
        let f = demo(port, &Scope::new())
            .heartbeat_interval(Duration::from_millis(100))
            .create(factory(&backend))
            .await
            .unwrap();
        assert!(!f.is_leader());
        followers.push(f);
    }

    leader.stop().await;
    let mut expected = Vec::new();
    for (i, f) in followers.iter().enumerate() {
        f.publish(&publication(&format!("p{i}"), "v")).unwrap();
        expected.push(format!("p{i}=v"));
    }
    // The stall itself: well past the leader's idle limit of 300 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    leader.signal("CONT");

    for f in &followers {
        answered(f).await;
    }
    let applied: Vec<String> =
        serde_json::from_value(leader.ok(json!({"cmd": "published"})).await).unwrap();
    assert_eq!(
        not_exactly_once(&applied, &expected),
        [],
        "publications not applied exactly once (publication, times); applied: {applied:?}"
    );
    leader.ok(json!({"cmd": "exit"})).await;
}

/// A follower stalled for longer than the leader's idle limit is dropped; the ten
/// publications it makes as it resumes (into the connection that is already dead) reach the
/// leader's real client exactly once, over the connection it makes next.
///
/// Old: all 10 lost in 2 of 7 runs (the follower handed them to the dead connection and did
/// not re-send them to the same leader); the other runs passed, when the follower saw the
/// connection close before it read the publish commands. The next test catches the same
/// loss every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_made_by_a_follower_resuming_from_a_stall_reach_the_leader_exactly_once() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = demo(port, &Scope::new())
        .heartbeat_interval(Duration::from_millis(100))
        .create(factory(&backend))
        .await
        .unwrap();
    let mut follower = Worker::spawn(
        "follower",
        WORKER,
        &worker_args(port, &["--heartbeat-ms", "100"]),
    )
    .await;
    assert_eq!(follower.ok(json!({"cmd": "is_leader"})).await, false);

    follower.stop().await;
    let mut sent = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10 {
        let cmd = json!({"cmd": "publish", "topic": format!("p{i}"), "value": "v"});
        sent.push(follower.send(cmd).await);
        expected.push(format!("p{i}=v"));
    }
    // The stall itself: well past the leader's idle limit of 300 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    follower.signal("CONT");
    for id in sent {
        let reply = follower.reply(id).await;
        assert_eq!(reply["ok"], true, "{reply}");
    }

    // The leader dropped the stalled connection: the follower connects again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while follower.ok(json!({"cmd": "stats"})).await["elections"].as_u64() < Some(2) {
        assert!(Instant::now() < deadline, "the follower did not reconnect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while follower.cmd(json!({"cmd": "echo", "arg": "sync"})).await["ok"] != true {
        assert!(
            Instant::now() < deadline,
            "the follower is not served again"
        );
    }
    let applied = backend.published();
    assert_eq!(
        not_exactly_once(&applied, &expected),
        [],
        "publications not applied exactly once (publication, times); applied: {applied:?}"
    );
    assert!(leader.is_leader());
    follower.ok(json!({"cmd": "exit"})).await;
}

/// The leader is stopped; its follower fills the socket with 200 oneway calls of 64 KiB, so
/// its ten publications wait in its outbox, never written, when it drops the silent
/// connection. Once the leader resumes, the follower connects to it again and the ten
/// publications reach its real client exactly once.
///
/// Old: all 10 lost, in each of 3 runs (they had been handed to the dead connection, and
/// were not re-sent to the same leader).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_left_in_the_outbox_of_a_dead_connection_reach_the_same_leader_again() {
    let port = free_port();
    let mut leader = Worker::spawn(
        "leader",
        WORKER,
        &worker_args(port, &["--heartbeat-ms", "100"]),
    )
    .await;
    let backend = Arc::new(Backend::default());
    let follower = demo(port, &Scope::new())
        .heartbeat_interval(Duration::from_millis(100))
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(!follower.is_leader());

    leader.stop().await;
    let pad = "x".repeat(64 * 1024);
    for i in 0..200 {
        follower
            .invoke_oneway("notify", (format!("{i} {pad}"),))
            .unwrap();
    }
    let mut expected = Vec::new();
    for i in 0..10 {
        follower
            .publish(&publication(&format!("p{i}"), "v"))
            .unwrap();
        expected.push(format!("p{i}=v"));
    }
    // The stall itself: the follower gives the silent leader up after 200 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    leader.signal("CONT");

    answered(&follower).await;
    assert!(follower.elections() >= 2, "the follower connected again");
    let applied: Vec<String> =
        serde_json::from_value(leader.ok(json!({"cmd": "published"})).await).unwrap();
    assert_eq!(
        not_exactly_once(&applied, &expected),
        [],
        "publications not applied exactly once (publication, times); applied: {applied:?}"
    );
    leader.ok(json!({"cmd": "exit"})).await;
}

// -------------------------------------------------------------------------------------------
// 2. A channel recreated in its process is served.

/// Round after round, the leading handle of a channel is dropped and a new one is created in
/// the same scope, while another channel keeps the port server up; every new follower is
/// served by the new leader.
///
/// Old: 64 to 83 of 100 rounds unserved in 3 runs (`is_leader()` true while followers got
/// `NoLeaderForChannel`: the old leader's teardown removed the new endpoint by name). With
/// the rounds run by the test's main thread instead of a task, the old teardown always won
/// the race and the old runtime passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_recreated_in_its_process_is_served_while_another_channel_keeps_the_port() {
    const ROUNDS: usize = 100;
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let other = Arc::new(Backend::default());
    let scope = Scope::new();
    let _keeps_the_port = demo(port, &scope)
        .name("Other")
        .create(factory(&other))
        .await
        .unwrap();
    let mut lead = demo(port, &scope).create(factory(&backend)).await.unwrap();
    let mut unserved = Vec::new();
    for round in 1..=ROUNDS {
        // Dropped and recreated by a task of the runtime (as an application would), so the
        // new leader's election and the old one's teardown run on its workers side by side.
        let (scope, clients) = (scope.clone(), backend.clone());
        lead = tokio::spawn(async move {
            drop(lead);
            demo(port, &scope).create(factory(&clients)).await.unwrap()
        })
        .await
        .unwrap();
        assert!(lead.is_leader(), "round {round}");
        // The dropped handle's teardown is over once its real client is closed.
        eventually(
            "the dropped leader's teardown",
            Duration::from_secs(5),
            || backend.clients_closed.load(Ordering::SeqCst) == round,
        )
        .await;
        match demo(port, &Scope::new()).create(factory(&backend)).await {
            Ok(follower) => {
                let got: String = follower.invoke("echo", ("hi".to_string(),)).await.unwrap();
                assert_eq!(got, "hi");
                follower.close().await;
            }
            Err(e) => unserved.push(format!("round {round}: {e}")),
        }
    }
    assert!(
        unserved.is_empty(),
        "{} of {ROUNDS} rounds unserved: {unserved:#?}",
        unserved.len()
    );
}

// -------------------------------------------------------------------------------------------
// 3. Oneway calls and publications keep their order, in every role.

/// 3,000 oneway calls from the leader's own handle, then 3,000 from a follower's, reach the
/// real client in the order they were made.
///
/// Old: 408 to 752 adjacent inversions among the leader's 3,000 calls in 3 runs (each was
/// spawned as a task of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneway_calls_reach_the_real_client_in_the_order_they_were_made_in_every_role() {
    const N: usize = 3000;
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    for i in 0..N {
        leader
            .invoke_oneway("notify", (format!("leader {i}"),))
            .unwrap();
    }
    for i in 0..N {
        follower
            .invoke_oneway("notify", (format!("follower {i}"),))
            .unwrap();
    }
    let notes = bounded("every note", backend.wait_notes(2 * N)).await;
    for who in ["leader ", "follower "] {
        let seq = numbered(&notes, who);
        assert_eq!(seq.len(), N, "{who}calls delivered");
        assert_eq!(inversions(&seq), 0, "{who}calls out of order");
    }
}

/// Two publications to one topic, from the leader's handle and from a follower's, reach the
/// real client in the order they were made (v1, then v2), each once.
///
/// Old: 2 to 5 of the leader's 300 topics got v2 before v1, in 3 runs (each publication was
/// spawned as a task of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_to_one_topic_apply_in_the_order_they_were_made_in_every_role() {
    const TOPICS: usize = 300;
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    let mut expected = Vec::new();
    for (who, handle) in [("l", &leader), ("f", &follower)] {
        for i in 0..TOPICS {
            for v in ["v1", "v2"] {
                handle
                    .publish(&publication(&format!("{who}{i}"), v))
                    .unwrap();
                expected.push(format!("{who}{i}={v}"));
            }
        }
    }
    eventually("every publication", Duration::from_secs(10), || {
        backend.published().len() >= expected.len()
    })
    .await;
    let applied = backend.published();
    assert_eq!(not_exactly_once(&applied, &expected), []);
    let position = |p: &str| applied.iter().position(|a| a == p).unwrap();
    let reordered: Vec<_> = expected
        .chunks(2)
        .filter(|pair| position(&pair[0]) > position(&pair[1]))
        .map(|pair| pair[1].clone())
        .collect();
    assert!(
        reordered.is_empty(),
        "{} v2 applied before their v1: {reordered:?}",
        reordered.len()
    );
}

/// A follower keeps making oneway calls while its leader closes and it takes over: the real
/// clients get them in the order they were made (some written to the closing leader may be
/// lost), and every call made once it leads arrives.
///
/// Old: 70 to 223 adjacent inversions in 3 runs, among the calls made after the follower
/// took over (its leader-local oneway calls were spawned as tasks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneway_calls_keep_their_order_across_a_role_change() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    let note = |i: usize| follower.invoke_oneway("notify", (format!("{i}"),)).unwrap();
    let mut made = 0;
    while made < 500 {
        note(made);
        made += 1;
    }
    let closing = tokio::spawn(async move { leader.close().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !follower.is_leader() {
        assert!(Instant::now() < deadline, "the follower did not take over");
        note(made);
        made += 1;
        if made % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    bounded("the leader's close", closing).await.unwrap();
    let leading_from = made;
    while made < leading_from + 1000 {
        note(made);
        made += 1;
    }
    let last = (made - 1).to_string();
    let notes = bounded("the last note", async {
        loop {
            let notes = backend.wait_notes(0).await;
            if notes.contains(&last) {
                return notes;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let seq = numbered(&notes, "");
    assert_eq!(inversions(&seq), 0, "calls out of order: {seq:?}");
    let after = seq.iter().filter(|i| **i >= leading_from).count();
    assert_eq!(after, 1000, "calls made as the new leader lost");
}

/// A leader-local call made right after a oneway call of the same task sees the oneway's
/// effect, on the leader and on a follower.
///
/// Old: 80 to 84 of the leader's 200 `notes()` calls missed the note just made, in 3 runs
/// (the oneway call was spawned and ran after the call that followed it); the follower's
/// never did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_made_after_a_oneway_call_sees_its_effect() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let directory = |backend: &Arc<Backend>| {
        let backend = backend.clone();
        DirectoryCluster::builder()
            .port(port)
            .scope(Scope::new())
            .create(move || {
                let backend = backend.clone();
                async move { Ok::<_, String>(RealDirectory::connect(backend)) }
            })
    };
    let leader = directory(&backend).await.unwrap();
    let follower = directory(&backend).await.unwrap();
    assert!(leader.is_leader() && !follower.is_leader());
    let mut missed = Vec::new();
    for i in 0..200 {
        for (who, d) in [("leader", &leader), ("follower", &follower)] {
            let note = format!("{who} {i}");
            d.note(note.clone());
            if !d.notes().await.unwrap().contains(&note) {
                missed.push(note);
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} calls did not see the oneway call made just before: {missed:?}",
        missed.len()
    );
}

/// A follower gives up a stalled leader after writing 300 oneway calls to it, reconnects to
/// the same leader and, on the new connection, publishes. The leader, resumed, finds the old
/// connection's calls still unread in its socket and the publication on the new one: its real
/// client must get the calls first, as they were made first.
///
/// Old: found by the fault-schedule test (seed 37, once in 4,000 runs); here the publication
/// overtook 6 to 109 of the calls in 3 of 5 runs (the leader served both connections at once),
/// and only 28 to 140 of the 300 calls arrived at all (a batch the writer had taken counted as
/// written, even the part of it the socket never accepted, so it was not sent again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_follower_sent_before_reconnecting_reaches_the_real_client_before_what_it_sent_after()
 {
    const CALLS: usize = 300;
    let port = free_port();
    let mut leader = Worker::spawn("leader", WORKER, &worker_args(port, &[])).await;
    let backend = Arc::new(Backend::default());
    let follower = demo(port, &Scope::new())
        .heartbeat_interval(Duration::from_millis(100))
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(!follower.is_leader());

    leader.stop().await;
    let pad = "x".repeat(1024);
    for i in 0..CALLS {
        follower
            .invoke_oneway("notify", (format!("o{i} {pad}"),))
            .unwrap();
    }
    // The follower drops the silent leader (after 200 ms) and elects again.
    eventually(
        "the follower gives the stalled leader up",
        Duration::from_secs(10),
        || follower.status().role != cluster_client::RoleStatus::Following,
    )
    .await;
    follower.publish(&publication("t", "after")).unwrap();
    leader.signal("CONT");

    answered(&follower).await;
    let journal: Vec<String> =
        serde_json::from_value(leader.ok(json!({"cmd": "journal"})).await).unwrap();
    let published_at = journal
        .iter()
        .position(|e| e == "t=after")
        .expect("the publication reached the leader");
    let notes: Vec<usize> = journal
        .iter()
        .filter_map(|e| e.strip_prefix('o'))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let late = journal[published_at..]
        .iter()
        .filter(|e| e.starts_with('o'))
        .count();
    assert_eq!(
        late,
        0,
        "{late} of {} calls reached the real client after the publication made after them",
        notes.len()
    );
    assert_eq!(
        inversions(&notes),
        0,
        "the calls kept their order: {notes:?}"
    );
    // Those written whole to the old connection were read from it; the rest, never written or
    // cut off mid-frame, were sent again on the new one: each arrived once.
    assert_eq!(
        notes,
        (0..CALLS).collect::<Vec<_>>(),
        "every call arrived once"
    );
    leader.ok(json!({"cmd": "exit"})).await;
}

// -------------------------------------------------------------------------------------------
// 4. One deadline per call.

/// A call made while the leader's real client is still being created (800 ms) waits for it
/// and for the answer within one timeout of 1 s, and says so.
///
/// Old: the timeout error came after 1.80 s (the wait for the leader and the call each got
/// the full timeout), while it said "within 1000ms".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_made_while_the_leader_starts_settles_within_its_one_timeout() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let slow_start = {
        let backend = backend.clone();
        move || {
            let backend = backend.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(800)).await;
                Ok::<_, String>(Demo::connect(backend))
            }
        }
    };
    let leader = demo(port, &Scope::new()).build(slow_start).unwrap();
    let follower = demo(port, &Scope::new())
        .is_leader(false)
        .response_timeout(Duration::from_secs(1))
        .build(factory(&backend))
        .unwrap();
    let started = Instant::now();
    let err = follower
        .invoke::<_, u64>("slow", (5_000u64,))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("within 1000ms"), "{err}");
    assert!(took < Duration::from_millis(1500), "settled after {took:?}");
    // The leader did start: the same follower is served now.
    bounded("the leader", leader.ready()).await.unwrap();
    let v: u64 = follower.invoke("slow", (1u64,)).await.unwrap();
    assert_eq!(v, 1);
}

/// A leader-local call has the same deadline as a remote one: a 3 s method with a 1 s
/// timeout fails with a timeout before 1.5 s.
///
/// Old: `Ok(3000)` after 3.00 s (leader-local calls had no timeout).
#[tokio::test]
async fn leader_local_calls_time_out_like_remote_ones() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = demo(port, &Scope::new())
        .response_timeout(Duration::from_secs(1))
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(leader.is_leader());
    let started = Instant::now();
    let result = leader.invoke::<_, u64>("slow", (3_000u64,)).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout { .. })),
        "{result:?} after {took:?}"
    );
    assert!(took < Duration::from_millis(1500), "settled after {took:?}");
}

/// A panic of the real client in a leader-local call of the generated handle is the caller's
/// error (code `ERR_CLUSTER_PANIC`), as it is for a follower's call, and the leader goes on.
///
/// Old: "leader: the call panicked in the caller" (the panic unwound into the caller's
/// task).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_leader_local_call_of_the_generated_handle_is_an_error_for_the_caller() {
    let port = free_port();
    let world = ProbeWorld::default();
    let leader = world.handle(port).await;
    let follower = world.handle(port).await;
    assert!(leader.is_leader() && !follower.is_leader());
    for (who, handle) in [("leader", &leader), ("follower", &follower)] {
        let handle = handle.clone();
        let outcome = tokio::spawn(async move { handle.boom().await }).await;
        let result = outcome.unwrap_or_else(|_| panic!("{who}: the call panicked in the caller"));
        let err = result.unwrap_err();
        assert_eq!(err.code, "ERR_CLUSTER_PANIC", "{who}: {err}");
    }
    assert!(leader.is_leader());
    assert_eq!(leader.handle().elections(), 1);
}

// -------------------------------------------------------------------------------------------
// 5. Calls never written to a dead leader go to the next one.

/// The leader is stopped, so its follower's socket buffers fill and most of 400 calls of
/// 64 KiB wait in the follower, never written; then the leader is killed. The never-written
/// calls are answered by the next leader (this process) within their deadline; only calls
/// that may have been written fail with `LeaderLost`, and none ran twice.
///
/// Old: 0 of 400 answered; all 400 failed with `LeaderLost`.
#[tokio::test]
async fn calls_never_written_to_a_dead_leader_are_answered_by_the_next_one() {
    const CALLS: usize = 400;
    let port = free_port();
    let mut leader = Worker::spawn("leader", WORKER, &worker_args(port, &[])).await;
    let backend = Arc::new(Backend::default());
    let follower = demo(port, &Scope::new())
        .response_timeout(Duration::from_secs(20))
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(!follower.is_leader());

    leader.stop().await;
    let pad = "x".repeat(64 * 1024);
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let follower = follower.clone();
        let note = format!("{i} {pad}");
        calls.push(tokio::spawn(async move {
            follower.invoke::<_, ()>("notify", (note,)).await
        }));
        // One at a time: the connection's writer takes what it can before the next call.
        tokio::task::yield_now().await;
    }
    leader.sigkill();
    leader.wait_exit().await;

    let (mut answered, mut lost, mut other) = (Vec::new(), Vec::new(), Vec::new());
    for (i, call) in calls.into_iter().enumerate() {
        match bounded("a call", call).await.unwrap() {
            Ok(()) => answered.push(i),
            Err(Error::LeaderLost { .. }) => lost.push(i),
            Err(e) => other.push(format!("{i}: {e}")),
        }
    }
    assert_eq!(other, Vec::<String>::new(), "calls that failed otherwise");
    assert!(follower.is_leader(), "this process leads next");
    assert!(
        answered.len() >= CALLS / 2,
        "only {} of {CALLS} answered; {} failed with LeaderLost",
        answered.len(),
        lost.len()
    );
    let ran = numbered(&backend.wait_notes(0).await, "");
    let mut sorted = ran.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, answered,
        "the next leader ran exactly the answered calls, once each (lost {lost:?})"
    );
}

// -------------------------------------------------------------------------------------------
// 6. No reconnect storm.

/// A subscription whose key is over the leader's frame limit ends with
/// `CloseReason::Refused`, made while following or before the handle was ready; the
/// connection stays up and serves calls.
///
/// Old: does not compile (no `CloseReason::Refused`). With that check removed: the stream
/// never ended and the follower reconnected in a loop (800 elections within the 5 s the
/// test waited): every connection was closed by the leader over the subscription, and the
/// subscription was sent again on the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_over_the_leaders_frame_limit_ends_refused_and_the_connection_stays_up() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = demo(port, &Scope::new())
        .max_frame_len(4096)
        .create(factory(&backend))
        .await
        .unwrap();
    let huge = topic(&"k".repeat(8192));

    let following = process(port, &backend).await;
    let mut made_following = following.subscribe::<_, Vec<String>>(&huge).unwrap();
    let early = demo(port, &Scope::new()).build(factory(&backend)).unwrap();
    let mut made_early = early.subscribe::<_, Vec<String>>(&huge).unwrap();
    bounded("ready", early.ready()).await.unwrap();

    for (who, handle, sub) in [
        ("following", &following, &mut made_following),
        ("before ready", &early, &mut made_early),
    ] {
        let ended = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
        assert!(
            matches!(ended, Ok(None)),
            "{who}: the stream did not end ({} elections meanwhile)",
            handle.elections()
        );
        assert_eq!(sub.close_reason(), Some(CloseReason::Refused), "{who}");
        let got: String = handle.invoke("echo", ("up".to_string(),)).await.unwrap();
        assert_eq!(got, "up");
        assert_eq!(handle.elections(), 1, "{who}: the connection stayed up");
    }
}

/// Something on the port that accepts the registration and hangs up at once gets a bounded
/// number of attempts: at most 20 connections in the first 2 s (about a dozen expected).
///
/// Old: 341 connections in 2 s (the backoff was reset after every registration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_accepts_registration_and_hangs_up_gets_a_bounded_number_of_attempts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(register_then_hang_up(listener, accepted.clone()));

    let backend = Arc::new(Backend::default());
    let handle = demo(port, &Scope::new()).build(factory(&backend)).unwrap();
    // The window over which attempts are counted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attempts = accepted.load(Ordering::SeqCst);
    assert!(
        attempts >= 2,
        "the handle keeps trying: {attempts} connections"
    );
    assert!(attempts <= 20, "{attempts} connections in 2 s");
    bounded("close", handle.close()).await;
    server.abort();
}

/// Accepts connections; answers each one's `register_channel` with success, then closes it.
async fn register_then_hang_up(listener: tokio::net::TcpListener, accepted: Arc<AtomicUsize>) {
    let codec = cluster_client::codec::PayloadCodec::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        let codec = codec.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut frames = FramedRead::new(read, FrameCodec::default());
            let Some(Ok(frame)) = frames.next().await else {
                return;
            };
            let request = Packet::from_frame(frame).unwrap();
            let mut app = Vec::new();
            codec.encode(&json!({"success": true}), &mut app).unwrap();
            let reply = Packet {
                header: Header::response(request.header.id, request.header.timeout),
                message: Message::RegisterChannelRes,
                app: app.into(),
            };
            let mut out = Vec::new();
            reply.encode(&FrameCodec::default(), &mut out).unwrap();
            let _ = write.write_all(&out).await;
            // Both halves dropped here: the connection closes.
        });
    }
}

// -------------------------------------------------------------------------------------------
// 7. Huge durations.

/// Every duration option set to `Duration::MAX` (or another value too large to add to an
/// instant) works: calls local and remote, oneway calls, subscriptions and publications, and
/// a failover after the leader closes.
///
/// Old: a task of the runtime panicked (`overflow when adding duration to instant`) and the
/// follower never became ready ("the follower did not finish within 10 s").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_duration_option_accepts_duration_max_and_other_huge_values() {
    let huge_values = [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::from_millis(u64::MAX),
        Duration::from_secs(1 << 40),
    ];
    for huge in huge_values {
        let port = free_port();
        let backend = Arc::new(Backend::default());
        let create = || {
            demo(port, &Scope::new())
                .response_timeout(huge)
                .connect_timeout(huge)
                .heartbeat_interval(huge)
                .max_wait_time(huge)
                .subscribe_timeout(huge)
                .create(factory(&backend))
        };
        let leader = bounded("the leader", create()).await.unwrap();
        let follower = bounded("the follower", create()).await.unwrap();
        assert!(leader.is_leader() && !follower.is_leader(), "{huge:?}");
        let mut sub = follower.subscribe::<_, Vec<String>>(&topic("t")).unwrap();
        for handle in [&leader, &follower] {
            let got: String = bounded("a call", handle.invoke("echo", ("x".to_string(),)))
                .await
                .unwrap();
            assert_eq!(got, "x", "{huge:?}");
            handle.invoke_oneway("notify", ("n".to_string(),)).unwrap();
        }
        leader.publish(&publication("t", "v")).unwrap();
        assert_eq!(bounded("a value", sub.next()).await.unwrap(), ["v"]);
        assert_eq!(bounded("the notes", backend.wait_notes(2)).await.len(), 2);

        bounded("the leader's close", leader.close()).await;
        eventually("the follower to take over", Duration::from_secs(10), || {
            follower.is_leader()
        })
        .await;
        let g: usize = bounded("a call after failover", follower.invoke("generation", ()))
            .await
            .unwrap();
        assert_eq!(g, 2, "{huge:?}");
        bounded("the follower's close", follower.close()).await;
    }
}

// -------------------------------------------------------------------------------------------
// 8. Real-client code never runs under the core's locks.

/// A client whose `watch` and `unwatch` call back into the handle of their own process.
#[cluster_client(name = "Probe")]
pub trait Probe: Send + Sync + 'static {
    /// Panics.
    #[delegate(invoke)]
    async fn boom(&self) -> Result<u32, ProbeError>;

    /// For topics named `reenter*`: asks the handle whether it leads, publishes to
    /// `announced by <topic>` and subscribes to `inner of <topic>` through it. For `block`:
    /// waits for the world's gate (at most 3 s).
    #[delegate(subscribe)]
    fn watch(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static;

    /// For topics named `reenter*`: asks the handle whether it leads, publishes to
    /// `announced by <topic>` and unsubscribes `inner of <topic>` through it.
    #[delegate(unsubscribe)]
    fn unwatch(&self, topic: Topic);

    /// Adds a value to a topic.
    #[delegate(publish)]
    fn announce(&self, publication: Publication);
}

/// What a probe call can fail with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeError {
    code: String,
    message: String,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<Error> for ProbeError {
    fn from(e: Error) -> Self {
        ProbeError {
            code: e.to_remote().code.unwrap_or_default(),
            message: e.to_string(),
        }
    }
}

type ProbeHandle = ProbeCluster<RealProbe>;
type BoxedValues = Pin<Box<dyn Stream<Item = Vec<String>> + Send>>;

/// What every process's probe client shares: the backend, a log of the callbacks, the gate.
#[derive(Default, Clone)]
struct ProbeWorld {
    backend: Arc<Backend>,
    log: Arc<Mutex<Vec<String>>>,
    gate: Arc<Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
}

impl ProbeWorld {
    fn logged(&self, line: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l == line)
    }

    /// A probe handle in a new scope, whose real client (when it leads) calls back into it.
    async fn handle(&self, port: u16) -> ProbeHandle {
        let own: Arc<OnceLock<ProbeHandle>> = Arc::default();
        let (world, cell) = (self.clone(), own.clone());
        let handle = ProbeCluster::builder()
            .port(port)
            .scope(Scope::new())
            .create(move || {
                let client = RealProbe {
                    demo: Demo::connect(world.backend.clone()),
                    world: world.clone(),
                    own: cell.clone(),
                    inner: Mutex::default(),
                };
                async move { Ok::<_, String>(client) }
            })
            .await
            .unwrap();
        own.set(handle.clone()).ok().unwrap();
        handle
    }
}

struct RealProbe {
    demo: Demo,
    world: ProbeWorld,
    /// The handle of this client's own process.
    own: Arc<OnceLock<ProbeHandle>>,
    /// Streams opened through the handle from inside `watch`, open until `unwatch`.
    inner: Mutex<Vec<BoxedValues>>,
}

impl RealProbe {
    fn log(&self, line: String) {
        self.world.log.lock().unwrap().push(line);
    }
}

impl Probe for RealProbe {
    async fn boom(&self) -> Result<u32, ProbeError> {
        panic!("the probe panics on purpose")
    }

    fn watch(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
        if topic.topic.starts_with("reenter") {
            let own = self.own.get().expect("the handle is set");
            let leads = own.is_leader();
            own.announce(publication(
                &format!("announced by {}", topic.topic),
                "from watch",
            ));
            let inner = own.watch(self::topic(&format!("inner of {}", topic.topic)));
            self.inner.lock().unwrap().push(Box::pin(inner));
            self.log(format!("watch {}: leader {leads}", topic.topic));
        } else if topic.topic == "block" {
            self.log("block: waiting".to_owned());
            let gate = self.world.gate.lock().unwrap().take();
            let opened = gate.is_some_and(|g| g.recv_timeout(Duration::from_secs(3)).is_ok());
            self.log(format!("block: gate opened {opened}"));
        }
        self.demo.subscribe(topic)
    }

    fn unwatch(&self, topic: Topic) {
        if topic.topic.starts_with("reenter") {
            let own = self.own.get().expect("the handle is set");
            let leads = own.is_leader();
            own.announce(publication(
                &format!("announced by {}", topic.topic),
                "from unwatch",
            ));
            own.unwatch(self::topic(&format!("inner of {}", topic.topic)));
            self.log(format!("unwatch {}: leader {leads}", topic.topic));
        }
    }

    fn announce(&self, publication: Publication) {
        self.demo.publish(publication);
    }
}

/// Runs `f` on a thread of its own (inside this runtime), so that a deadlock in it fails the
/// test (see [`joined`]) instead of hanging it.
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _entered = runtime.enter();
        let _ = tx.send(f());
    });
    rx
}

/// Waits at most 5 s for what [`on_thread`] runs.
async fn joined<T>(what: &str, rx: tokio::sync::oneshot::Receiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap_or_else(|_| panic!("{what}: deadlocked"))
        .unwrap()
}

/// The real client's `watch` and `unwatch` call back into the handle of their process
/// (`is_leader`, a publication, a subscription and an unsubscription), for a subscription of
/// the leader's own handle and for one of a follower; nothing deadlocks, and every callback
/// takes effect.
///
/// Old: "subscribing: deadlocked" (the leader's own subscription: the real client's `watch`
/// ran under the handle's lock, and its subscription through the handle took that lock
/// again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_that_calls_back_into_its_handle_from_subscribe_and_unsubscribe_does_not_deadlock()
 {
    let port = free_port();
    let world = ProbeWorld::default();
    let leader = world.handle(port).await;
    let follower = world.handle(port).await;
    assert!(leader.is_leader() && !follower.is_leader());
    world.backend.set("reenter", "r0");
    world.backend.set("reenter-remote", "r0");

    for (who, handle, key) in [
        ("leader", &leader, "reenter"),
        ("follower", &follower, "reenter-remote"),
    ] {
        let subscriber = handle.clone();
        let subscribing = on_thread(move || {
            // The raw handle's stream: the trait's borrows the handle.
            let sub = subscriber.handle().subscribe::<_, Vec<String>>(&topic(key));
            sub.unwrap()
        });
        let mut values = joined("subscribing", subscribing).await;
        assert_eq!(bounded("a value", values.next()).await.unwrap(), ["r0"]);
        let watched = format!("watch {key}: leader true");
        eventually(&watched, Duration::from_secs(5), || world.logged(&watched)).await;
        let announced = format!("announced by {key}=from watch");
        eventually(&announced, Duration::from_secs(5), || {
            world.backend.published().contains(&announced)
        })
        .await;
        // The client's own subscription to the inner key is served.
        world.backend.set(&format!("inner of {key}"), "i0");
        eventually("the inner subscription", Duration::from_secs(5), || {
            world.backend.open_subscriptions.load(Ordering::SeqCst) == 2
        })
        .await;

        joined("unsubscribing", on_thread(move || drop(values))).await;
        let unwatched = format!("unwatch {key}: leader true");
        eventually(&unwatched, Duration::from_secs(5), || {
            world.logged(&unwatched)
        })
        .await;
        let announced = format!("announced by {key}=from unwatch");
        eventually(&announced, Duration::from_secs(5), || {
            world.backend.published().contains(&announced)
        })
        .await;
        // The outer and the inner upstream subscriptions are both released.
        let deadline = Instant::now() + Duration::from_secs(5);
        while world.backend.open_subscriptions.load(Ordering::SeqCst) != 0 {
            assert!(
                Instant::now() < deadline,
                "{who}: {} upstream subscriptions still open; callbacks: {:?}",
                world.backend.open_subscriptions.load(Ordering::SeqCst),
                world.log.lock().unwrap(),
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // The handles still work.
    world.backend.set("after", "a0");
    let mut after = leader.watch(topic("after"));
    assert_eq!(bounded("a value", after.next()).await.unwrap(), ["a0"]);
}

/// While the real client's `watch` blocks (until the test opens its gate), values of another
/// key keep reaching the leader's own subscribers.
///
/// Old: x1 was not delivered within 2 s, in 5 of 5 runs (the real client's subscribe ran
/// under the handle's lock, which delivery needs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_whose_subscribe_blocks_does_not_stall_delivery_of_other_keys() {
    let port = free_port();
    let world = ProbeWorld::default();
    let leader = world.handle(port).await;
    let (open_gate, gate) = std::sync::mpsc::channel();
    *world.gate.lock().unwrap() = Some(gate);
    world.backend.set("x", "x0");
    world.backend.set("block", "b0");
    let mut x = leader.watch(topic("x"));
    assert_eq!(bounded("x0", x.next()).await.unwrap(), ["x0"]);

    let subscriber = leader.clone();
    let subscribing = on_thread(move || {
        let sub = subscriber
            .handle()
            .subscribe::<_, Vec<String>>(&topic("block"));
        sub.unwrap()
    });
    eventually(
        "the real client's subscribe to block",
        Duration::from_secs(5),
        || world.logged("block: waiting"),
    )
    .await;
    world.backend.set("x", "x1");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(2), x.next())
            .await
            .expect("x1 is delivered while the real client's subscribe blocks"),
        Some(vec!["x1".to_string()])
    );
    let _ = open_gate.send(());
    let mut blocked = joined("subscribing to the blocking key", subscribing).await;
    assert_eq!(bounded("b0", blocked.next()).await.unwrap(), ["b0"]);
    assert!(world.logged("block: gate opened true"));
}

// -------------------------------------------------------------------------------------------
// A subscription made during an election.

/// A fixed follower loses its leader and, while no leader exists, subscribes; the next
/// leader serves the subscription.
///
/// Old: passed (the old core re-made every subscription in each new role too); kept as a
/// guarantee of the new core's replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_made_during_an_election_is_served_by_the_next_leader() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let first = process(port, &backend).await;
    let follower = demo(port, &Scope::new())
        .is_leader(false)
        .response_timeout(Duration::from_millis(300))
        .create(factory(&backend))
        .await
        .unwrap();
    first.close().await;
    // Electing: a call finds no leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match follower
            .invoke::<_, String>("echo", ("x".to_string(),))
            .await
        {
            Err(Error::Timeout { method, .. }) if method.contains("no leader elected") => break,
            other => assert!(Instant::now() < deadline, "still served: {other:?}"),
        }
    }
    let mut sub = follower
        .subscribe::<_, Vec<String>>(&topic("during"))
        .unwrap();

    let next = process(port, &backend).await;
    assert!(next.is_leader());
    next.publish(&publication("during", "v")).unwrap();
    assert_eq!(bounded("a value", sub.next()).await.unwrap(), ["v"]);
}
