//! The runtime without the macro: one leader and several followers in one test process (each
//! in its own [`Scope`], standing for a process), through the hand-written demo service.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_client::{Error, Scope};
use cluster_client_suite::demo::{Backend, Publication, Topic};
use futures::StreamExt;
use support::*;

fn topic(name: &str) -> Topic {
    Topic { topic: name.into() }
}

fn publication(name: &str, value: &str) -> Publication {
    Publication {
        topic: name.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn one_leader_serves_three_followers_with_one_real_client() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let mut followers = Vec::new();
    for _ in 0..3 {
        followers.push(process(port, &backend).await);
    }
    assert!(leader.is_leader());
    assert!(followers.iter().all(|f| !f.is_leader()));
    for (i, f) in followers.iter().enumerate() {
        let got: String = f.invoke("echo", (format!("hi {i}"),)).await.unwrap();
        assert_eq!(got, format!("hi {i}"));
        let sum: i64 = f.invoke("add", (i as i64, 40)).await.unwrap();
        assert_eq!(sum, i as i64 + 40);
    }
    let local: String = leader.invoke("echo", ("local".to_string(),)).await.unwrap();
    assert_eq!(local, "local");
    assert_eq!(backend.clients_created.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oneway_calls_reach_the_real_client() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    follower
        .invoke_oneway("notify", ("from follower".to_string(),))
        .unwrap();
    let notes = bounded("the note", backend.wait_notes(1)).await;
    assert_eq!(notes, vec!["from follower".to_string()]);
}

#[tokio::test]
async fn remote_errors_keep_name_message_and_code() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    let err = follower
        .invoke::<_, ()>("fail", ("boom".to_string(),))
        .await
        .unwrap_err();
    let Error::Remote { error, method, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(method, "fail");
    assert_eq!(
        (
            error.name.as_str(),
            error.message.as_str(),
            error.code.as_deref()
        ),
        ("DemoError", "boom", Some("E_DEMO"))
    );
}

#[tokio::test]
async fn unknown_methods_and_panics_get_errors_and_the_leader_survives() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;

    let err = follower
        .invoke::<_, ()>("no_such_method", ())
        .await
        .unwrap_err();
    let Error::Remote { error, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(error.code.as_deref(), Some("ERR_CLUSTER_NO_METHOD"));
    assert!(
        error.message.contains("no_such_method"),
        "{}",
        error.message
    );

    let err = follower.invoke::<_, ()>("panic", ()).await.unwrap_err();
    let Error::Remote { error, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(error.code.as_deref(), Some("ERR_CLUSTER_PANIC"));

    let err = follower
        .invoke::<_, i64>("add", ("not a number".to_string(),))
        .await
        .unwrap_err();
    let Error::Remote { error, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(error.code.as_deref(), Some("ERR_BAD_ARGS"));

    // Still the same leader, still serving.
    let sum: i64 = follower.invoke("add", (1i64, 2i64)).await.unwrap();
    assert_eq!(sum, 3);
    assert!(leader.is_leader());
    assert_eq!(follower.elections(), 1);
}

#[tokio::test]
async fn subscribers_get_published_values_and_late_subscribers_get_the_last_one() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let f1 = process(port, &backend).await;
    let f2 = process(port, &backend).await;

    let mut s1 = f1.subscribe::<_, Vec<String>>(&topic("a")).unwrap();
    let mut s_leader = leader.subscribe::<_, Vec<String>>(&topic("a")).unwrap();
    f2.publish(&publication("a", "v1")).unwrap();
    assert_eq!(bounded("follower value", s1.next()).await.unwrap(), ["v1"]);
    assert_eq!(
        bounded("leader value", s_leader.next()).await.unwrap(),
        ["v1"]
    );

    // A late subscriber in another process, and a second listener in a process that already
    // subscribes, both start from the last value.
    let mut late = f2.subscribe::<_, Vec<String>>(&topic("a")).unwrap();
    assert_eq!(bounded("late value", late.next()).await.unwrap(), ["v1"]);
    let mut second = f1.subscribe::<_, Vec<String>>(&topic("a")).unwrap();
    assert_eq!(
        bounded("second listener value", second.next())
            .await
            .unwrap(),
        ["v1"]
    );

    leader.publish(&publication("a", "v2")).unwrap();
    for s in [&mut s1, &mut s_leader, &mut late, &mut second] {
        assert_eq!(bounded("v2", s.next()).await.unwrap(), ["v1", "v2"]);
    }
    // One upstream subscription serves them all.
    assert_eq!(backend.open_subscriptions.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unsubscribing_the_last_listener_releases_the_upstream_subscription() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    backend.set("t", "x");
    let mut a = follower.subscribe::<_, Vec<String>>(&topic("t")).unwrap();
    let mut b = leader.subscribe::<_, Vec<String>>(&topic("t")).unwrap();
    assert_eq!(bounded("a", a.next()).await.unwrap(), ["x"]);
    assert_eq!(bounded("b", b.next()).await.unwrap(), ["x"]);
    assert_eq!(backend.open_subscriptions.load(Ordering::SeqCst), 1);

    follower.unsubscribe(&topic("t")).unwrap();
    assert_eq!(bounded("a ends", a.next()).await, None);
    assert_eq!(
        a.close_reason(),
        Some(cluster_client::CloseReason::Unsubscribed)
    );
    assert_eq!(
        backend.open_subscriptions.load(Ordering::SeqCst),
        1,
        "the leader's own listener remains"
    );

    drop(b);
    eventually("upstream released", Duration::from_secs(5), || {
        backend.open_subscriptions.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(backend.unsubscribes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn with_broadcast_off_each_value_reaches_exactly_one_subscriber() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = demo(port, &Scope::new())
        .broadcast(false)
        .create(factory(&backend))
        .await
        .unwrap();
    let f1 = process(port, &backend).await;
    let f2 = process(port, &backend).await;
    let mut streams = [
        leader.subscribe::<_, Vec<String>>(&topic("b")).unwrap(),
        f1.subscribe::<_, Vec<String>>(&topic("b")).unwrap(),
        f2.subscribe::<_, Vec<String>>(&topic("b")).unwrap(),
    ];
    // Let every subscription reach the leader before publishing.
    for f in [&f1, &f2] {
        let _: String = f.invoke("echo", ("sync".to_string(),)).await.unwrap();
    }
    const N: usize = 30;
    for i in 0..N {
        backend.set("b", &format!("v{i}"));
        tokio::task::yield_now().await;
    }
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    // Collect until the stream of values dries up: each value must arrive exactly once.
    while tokio::time::Instant::now() < deadline {
        let next = futures::future::select_all(streams.iter_mut().map(|s| s.next()));
        match tokio::time::timeout(Duration::from_millis(300), next).await {
            Ok((Some(v), _, _)) => got.push(v),
            _ => break,
        }
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        got.len(),
        unique.len(),
        "a value was delivered twice: {got:?}"
    );
    assert_eq!(unique.len(), N, "every value is delivered once: {got:?}");
}

#[tokio::test]
async fn several_channels_share_one_port() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let other_backend = Arc::new(Backend::default());
    let leader_scope = Scope::new();
    let follower_scope = Scope::new();
    let a_lead = demo(port, &leader_scope)
        .create(factory(&backend))
        .await
        .unwrap();
    let b_lead = demo(port, &leader_scope)
        .name("Other")
        .create(factory(&other_backend))
        .await
        .unwrap();
    let a = demo(port, &follower_scope)
        .create(factory(&backend))
        .await
        .unwrap();
    let b = demo(port, &follower_scope)
        .name("Other")
        .create(factory(&other_backend))
        .await
        .unwrap();
    assert!(a_lead.is_leader() && b_lead.is_leader() && !a.is_leader() && !b.is_leader());
    b.invoke_oneway("notify", ("to other".to_string(),))
        .unwrap();
    assert_eq!(
        bounded("note", other_backend.wait_notes(1)).await,
        vec!["to other".to_string()]
    );
    let _: String = a.invoke("echo", ("x".to_string(),)).await.unwrap();
    assert_eq!(backend.clients_created.load(Ordering::SeqCst), 1);
    assert_eq!(other_backend.clients_created.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_channel_the_port_owner_does_not_serve_is_a_clear_error() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = process(port, &backend).await;
    let err = demo(port, &Scope::new())
        .name("Nobody")
        .create(factory(&backend))
        .await
        .unwrap_err();
    let Error::NoLeaderForChannel {
        channel,
        port: p,
        message,
    } = &err
    else {
        panic!("unexpected {err:?}")
    };
    assert_eq!((channel.as_str(), *p), ("Nobody", port));
    assert!(message.contains("not served"), "{message}");
}

#[tokio::test]
async fn the_leader_drops_followers_that_stop_sending_heartbeats() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = demo(port, &Scope::new())
        .heartbeat_interval(Duration::from_millis(60))
        .create(factory(&backend))
        .await
        .unwrap();
    // This follower's heartbeat is far slower than the leader's idle limit (180 ms).
    let follower = demo(port, &Scope::new())
        .heartbeat_interval(Duration::from_secs(30))
        .create(factory(&backend))
        .await
        .unwrap();
    assert_eq!(follower.elections(), 1);
    eventually(
        "the idle follower to be dropped and reconnect",
        Duration::from_secs(5),
        || follower.elections() >= 2,
    )
    .await;
    let got: String = follower
        .invoke("echo", ("still here".to_string(),))
        .await
        .unwrap();
    assert_eq!(got, "still here");
    assert!(leader.is_leader());

    // A follower whose heartbeats keep it alive is not dropped.
    let steady = demo(port, &Scope::new())
        .heartbeat_interval(Duration::from_millis(30))
        .create(factory(&backend))
        .await
        .unwrap();
    let before = steady.elections();
    tokio::time::sleep(Duration::from_millis(400)).await; // several idle limits of the leader
    assert_eq!(steady.elections(), before);
}

#[tokio::test]
async fn calls_time_out_after_the_response_timeout() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = process(port, &backend).await;
    let follower = demo(port, &Scope::new())
        .response_timeout(Duration::from_millis(100))
        .create(factory(&backend))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = follower
        .invoke::<_, u64>("slow", (2_000u64,))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The connection is still good.
    let v: u64 = follower.invoke("slow", (1u64,)).await.unwrap();
    assert_eq!(v, 1);
}

#[tokio::test]
async fn closing_handles() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    let mut sub = follower.subscribe::<_, Vec<String>>(&topic("c")).unwrap();

    // Calls on a closed handle fail at once; closing twice is fine.
    follower.close().await;
    follower.close().await;
    let err = follower
        .invoke::<_, String>("echo", ("x".to_string(),))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err:?}");
    assert!(matches!(
        follower.invoke_oneway("notify", ("x".to_string(),)),
        Err(Error::Closed { .. })
    ));
    assert_eq!(bounded("subscription ends", sub.next()).await, None);

    // A handle that never became ready still closes promptly.
    let orphan_port = free_port();
    let waiting = demo(orphan_port, &Scope::new())
        .is_leader(false)
        .build(factory(&backend))
        .unwrap();
    bounded("close of a never-ready handle", waiting.close()).await;

    // Closing the leader closes its real client and releases the port for a new leader.
    let survivor = process(port, &backend).await;
    leader.close().await;
    assert_eq!(backend.clients_closed.load(Ordering::SeqCst), 1);
    eventually("the survivor to lead", Duration::from_secs(5), || {
        survivor.is_leader()
    })
    .await;
    let g: usize = survivor.invoke("generation", ()).await.unwrap();
    assert_eq!(g, 2);
}

#[tokio::test]
async fn fixed_roles() {
    let port = free_port();
    let backend = Arc::new(Backend::default());

    // A fixed follower created before any leader waits, then recovers when one appears.
    let follower = demo(port, &Scope::new())
        .is_leader(false)
        .build(factory(&backend))
        .unwrap();
    let call = {
        let follower = follower.clone();
        tokio::spawn(async move { follower.ready().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!call.is_finished(), "the follower must wait for a leader");
    let leader = demo(port, &Scope::new())
        .is_leader(true)
        .create(factory(&backend))
        .await
        .unwrap();
    bounded("follower ready", call).await.unwrap().unwrap();
    let got: String = follower
        .invoke("echo", ("late leader".to_string(),))
        .await
        .unwrap();
    assert_eq!(got, "late leader");

    // A fixed leader cannot take an occupied port.
    let err = demo(port, &Scope::new())
        .is_leader(true)
        .create(factory(&backend))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PortOccupied { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()));
    drop(leader);
}

#[tokio::test]
async fn a_failing_factory_is_reported_to_followers() {
    let port = free_port();
    let leader = demo(port, &Scope::new())
        .build(|| async { Err::<cluster_client_suite::demo::Demo, _>("backend unreachable") })
        .unwrap();
    let err = leader.ready().await.unwrap_err();
    assert!(
        matches!(&err, Error::LeaderNotReady { error, .. } if error.message == "backend unreachable"),
        "{err:?}"
    );
    let backend = Arc::new(Backend::default());
    let err = demo(port, &Scope::new())
        .create(factory(&backend))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::LeaderNotReady { error, .. } if error.message == "backend unreachable"),
        "{err:?}"
    );
}

#[tokio::test]
async fn handles_of_one_process_share_the_channel() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader_scope = Scope::new();
    let l1 = demo(port, &leader_scope)
        .create(factory(&backend))
        .await
        .unwrap();
    let l2 = demo(port, &leader_scope)
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(l1.is_leader() && l2.is_leader());
    let follower_scope = Scope::new();
    let f1 = demo(port, &follower_scope)
        .create(factory(&backend))
        .await
        .unwrap();
    let f2 = demo(port, &follower_scope)
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(!f1.is_leader() && !f2.is_leader());
    assert_eq!(backend.clients_created.load(Ordering::SeqCst), 1);
    // Closing one handle leaves the other working.
    f1.close().await;
    let got: String = f2.invoke("echo", ("still".to_string(),)).await.unwrap();
    assert_eq!(got, "still");
    l1.close().await;
    assert!(l2.is_leader());
    assert_eq!(
        backend.clients_closed.load(Ordering::SeqCst),
        0,
        "the real client stays while a handle remains"
    );
}

#[tokio::test]
async fn in_flight_calls_settle_when_the_leader_goes_and_later_calls_succeed() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    let mut sub = follower.subscribe::<_, Vec<String>>(&topic("f")).unwrap();
    follower.publish(&publication("f", "before")).unwrap();
    assert_eq!(bounded("before", sub.next()).await.unwrap(), ["before"]);

    let in_flight = {
        let follower = follower.clone();
        tokio::spawn(async move { follower.invoke::<_, u64>("slow", (5_000u64,)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.close().await;
    let err = bounded("in-flight call", in_flight)
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::LeaderLost { .. }), "{err:?}");

    eventually("the follower to take over", Duration::from_secs(5), || {
        follower.is_leader()
    })
    .await;
    let g: usize = follower.invoke("generation", ()).await.unwrap();
    assert_eq!(g, 2);
    // Its subscription carries on: the new real client re-subscribed and the publication was
    // re-sent.
    backend.set("f", "after");
    let mut seen = Vec::new();
    while let Some(v) = bounded("after", sub.next()).await {
        seen.push(v.clone());
        if v == ["after"] {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&vec!["after".to_string()]));
}

#[tokio::test]
async fn single_mode_shares_one_real_client_without_networking() {
    let backend = Arc::new(Backend::default());
    let scope = Scope::new();
    // The port is never bound in single mode: any value works, even one in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let a = demo(port, &scope)
        .single_mode(true)
        .create(factory(&backend))
        .await
        .unwrap();
    let b = demo(port, &scope)
        .single_mode(true)
        .create(factory(&backend))
        .await
        .unwrap();
    assert!(a.is_leader() && b.is_leader());
    let mut sub = b.subscribe::<_, Vec<String>>(&topic("s")).unwrap();
    a.publish(&publication("s", "one")).unwrap();
    assert_eq!(
        bounded("single-mode value", sub.next()).await.unwrap(),
        ["one"]
    );
    let sum: i64 = b.invoke("add", (2i64, 2i64)).await.unwrap();
    assert_eq!(sum, 4);
    assert_eq!(backend.clients_created.load(Ordering::SeqCst), 1);
    // Only the last handle closes the real client.
    a.close().await;
    assert_eq!(backend.clients_closed.load(Ordering::SeqCst), 0);
    b.close().await;
    assert_eq!(backend.clients_closed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_leader_with_a_secret_serves_only_followers_that_present_it() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = demo(port, &Scope::new())
        .secret("s3cret")
        .create(factory(&backend))
        .await
        .unwrap();

    let with = demo(port, &Scope::new())
        .secret("s3cret")
        .create(factory(&backend))
        .await
        .unwrap();
    let got: String = with.invoke("echo", ("let in".to_string(),)).await.unwrap();
    assert_eq!(got, "let in");

    for (label, builder) in [
        ("no secret", demo(port, &Scope::new())),
        ("wrong secret", demo(port, &Scope::new()).secret("guess")),
    ] {
        let err = builder.create(factory(&backend)).await.unwrap_err();
        let Error::Unauthorized {
            message, port: p, ..
        } = &err
        else {
            panic!("{label}: unexpected {err:?}")
        };
        assert_eq!(*p, port);
        assert!(
            message.contains("requires a shared secret"),
            "{label}: {message}"
        );
    }
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let backend = Arc::new(Backend::default());
    let err = demo(free_port(), &Scope::new())
        .build(factory(&backend))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Usage { message, .. } if message.contains("tokio runtime")),
        "{err:?}"
    );
}

#[tokio::test]
async fn fixed_followers_that_waited_long_for_a_leader_are_served_as_soon_as_it_appears() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let mut followers = Vec::new();
    for _ in 0..5 {
        followers.push(
            demo(port, &Scope::new())
                .is_leader(false)
                .response_timeout(Duration::from_secs(1))
                .build(factory(&backend))
                .unwrap(),
        );
    }
    // The followers look for a leader for a while, long enough for any growing backoff to
    // reach its ceiling.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _leader = demo(port, &Scope::new())
        .is_leader(true)
        .create(factory(&backend))
        .await
        .unwrap();
    // Calls made at once, with a 1 s timeout, are answered: the followers find the leader
    // well within it (a connect that finds nobody listening is retried within 100 ms).
    for f in &followers {
        let got: String = f.invoke("echo", ("soon".to_string(),)).await.unwrap();
        assert_eq!(got, "soon");
    }
}

#[tokio::test(start_paused = true)]
async fn create_on_a_fixed_follower_gives_up_after_max_wait_time_and_says_build_keeps_waiting() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let err = demo(port, &Scope::new())
        .is_leader(false)
        .max_wait_time(Duration::from_secs(30))
        .create(factory(&backend))
        .await
        .unwrap_err();
    let Error::Timeout {
        method, timeout, ..
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(*timeout, Duration::from_secs(30));
    assert!(method.contains("build() keeps waiting"), "{err}");
}

#[tokio::test]
async fn a_view_with_its_own_timeout_gives_up_at_its_deadline_in_every_role() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    for handle in [&leader, &follower] {
        let quick = handle.with_timeout(Duration::from_millis(50));
        let err = quick
            .invoke::<_, u64>("slow", (2_000u64,))
            .await
            .unwrap_err();
        let Error::Timeout { timeout, .. } = &err else {
            panic!("expected a timeout, got {err:?}");
        };
        assert_eq!(*timeout, Duration::from_millis(50));
        // The handle itself keeps its response timeout.
        let ms: u64 = handle.invoke("slow", (20u64,)).await.unwrap();
        assert_eq!(ms, 20);
    }
}

#[tokio::test]
async fn status_tells_the_role_the_leader_and_what_is_held_and_the_leader_tells_the_channel() {
    use cluster_client::RoleStatus;
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let a = process(port, &backend).await;
    let b = process(port, &backend).await;
    let _sub = a.subscribe::<_, Vec<String>>(&topic("t")).unwrap();
    let l = leader.status();
    assert_eq!(l.role, RoleStatus::Leading);
    assert_eq!(l.leader_pid, Some(std::process::id()));
    assert_eq!(l.followers, Some(2));
    let f = a.status();
    assert_eq!(f.role, RoleStatus::Following);
    assert_eq!(
        f.leader_id, l.leader_id,
        "a follower knows which leader it follows"
    );
    assert_eq!(f.subscribed_keys, 1);
    assert_eq!(f.elections, 1);
    assert!(f.last_election_ms.is_some());
    // The whole channel, from any process.
    let from_follower = b
        .channel_status()
        .await
        .unwrap()
        .expect("a Rust leader answers");
    let from_leader = leader.channel_status().await.unwrap().unwrap();
    assert_eq!(from_follower.followers, 2);
    assert_eq!(from_follower.upstream_keys, 1);
    assert_eq!(from_follower.leader_id, from_leader.leader_id);
    assert!(from_follower.connections >= 2);
    b.close().await;
    assert_eq!(b.status().role, RoleStatus::Closed);
    eventually(
        "the leader to count one follower",
        Duration::from_secs(5),
        || leader.status().followers == Some(1),
    )
    .await;
}
