//! Bad input to a live leader closes only the connection that carried it; real followers keep
//! being served throughout.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cluster_client_suite::demo::Backend;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn header(version: u8, kind: u8, id: i64, conn_len: i32, app_len: i32) -> Vec<u8> {
    let mut h = vec![version, kind, 0, 0];
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&3000i32.to_be_bytes());
    h.extend_from_slice(&conn_len.to_be_bytes());
    h.extend_from_slice(&app_len.to_be_bytes());
    h
}

fn frame(conn: &[u8]) -> Vec<u8> {
    let mut f = header(1, 0, 1, conn.len() as i32, 0);
    f.extend_from_slice(conn);
    f
}

/// Sends `bytes` and expects the leader to close the connection without answering.
async fn expect_closed(port: u16, what: &str, bytes: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: the leader kept the connection open"))
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "{what}: expected the connection to be closed, got {n} bytes"
    );
}

#[tokio::test]
async fn bad_connections_are_closed_and_followers_keep_being_served() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage bytes",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("oversized length", header(1, 0, 1, i32::MAX, 0)),
        ("negative length", header(1, 0, 1, -5, 0)),
        ("bad version", header(9, 0, 1, 2, 0)),
        ("invalid JSON conn", frame(br#"{"foo":"bar"|"#)),
        ("conn not an object", frame(b"[1,2,3]")),
        (
            "invoke before register",
            frame(br#"{"type":"invoke","method":"echo","argLength":0,"oneway":false}"#),
        ),
        (
            "heartbeat before register",
            frame(br#"{"type":"heartbeat"}"#),
        ),
    ];
    for (what, bytes) in &cases {
        expect_closed(port, what, bytes).await;
        let got: String = follower.invoke("echo", (what.to_string(),)).await.unwrap();
        assert_eq!(got, *what);
    }
    assert!(leader.is_leader());
    assert_eq!(
        follower.elections(),
        1,
        "the real follower was never disconnected"
    );
}

#[tokio::test]
async fn a_truncated_frame_then_silence_does_not_disturb_others() {
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let _leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    // Half a header, then nothing: the leader waits for the rest without blocking anyone.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&header(1, 0, 1, 10, 0)[..12]).await.unwrap();
    for i in 0..20 {
        let got: i64 = follower.invoke("add", (i, 1i64)).await.unwrap();
        assert_eq!(got, i + 1);
    }
    drop(s);
}
