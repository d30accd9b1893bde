//! Hostile input to a live leader on its port. Each bad connection gets an error response or is
//! closed, with a `tracing` warning that names the reason, and the leader keeps serving its real
//! followers throughout.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cluster_client::codec::{Codec, PayloadCodec};
use cluster_client::protocol::{ArgsWriter, FrameCodec, Header, Message, Packet};
use cluster_client::{Handle, Scope};
use cluster_client_suite::demo::{Backend, DemoService};
use futures::StreamExt;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

/// Everything the runtime logs in this test binary.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test binary");
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until a warning containing `reason` was logged.
async fn warned(reason: &str) {
    let logs = logs();
    let seen = || String::from_utf8_lossy(&logs.lock().unwrap()).contains(reason);
    eventually(
        &format!("a warning naming \"{reason}\""),
        Duration::from_secs(5),
        seen,
    )
    .await;
}

fn header(version: u8, kind: u8, conn_len: i32, app_len: i32) -> Vec<u8> {
    let mut h = vec![version, kind, 0, 0];
    h.extend_from_slice(&1i64.to_be_bytes());
    h.extend_from_slice(&3000i32.to_be_bytes());
    h.extend_from_slice(&conn_len.to_be_bytes());
    h.extend_from_slice(&app_len.to_be_bytes());
    h
}

fn raw_frame(conn: &[u8]) -> Vec<u8> {
    let mut f = header(1, 0, conn.len() as i32, 0);
    f.extend_from_slice(conn);
    f
}

fn packet(id: i64, message: Message, app: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let p = Packet {
        header: Header::request(id, 3000),
        message,
        app: Bytes::copy_from_slice(app),
    };
    p.encode(&FrameCodec::default(), &mut out).unwrap();
    out
}

fn invoke(id: i64, method: &str, args: &[&[u8]]) -> Vec<u8> {
    let mut app = Vec::new();
    let mut w = ArgsWriter::new(&mut app);
    for a in args {
        w.push(|o| -> Result<(), ()> {
            o.extend_from_slice(a);
            Ok(())
        })
        .unwrap();
    }
    packet(
        id,
        Message::Invoke {
            method: method.into(),
            arg_length: args.len() as u32,
            oneway: false,
        },
        &app,
    )
}

fn encoded<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    PayloadCodec::default().encode(v, &mut out).unwrap();
    out
}

/// A hand-driven peer.
struct Peer {
    write: tokio::net::tcp::OwnedWriteHalf,
    frames: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
}

impl Peer {
    async fn connect(port: u16) -> Peer {
        let (r, write) = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap()
            .into_split();
        Peer {
            write,
            frames: FramedRead::new(r, FrameCodec::default()),
        }
    }

    async fn registered(port: u16) -> Peer {
        let mut p = Peer::connect(port).await;
        p.send(&packet(
            1,
            Message::RegisterChannel {
                channel_name: "DemoClient".into(),
                secret: None,
            },
            b"",
        ))
        .await;
        let reply = p.recv().await.expect("register answer");
        assert_eq!(reply.message, Message::RegisterChannelRes);
        p
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    /// The next packet, or `None` once the leader closed the connection.
    async fn recv(&mut self) -> Option<Packet> {
        let next = tokio::time::timeout(Duration::from_secs(5), self.frames.next()).await;
        match next.expect("the leader answered or closed within 5 s") {
            Some(Ok(frame)) => Some(Packet::from_frame(frame).unwrap()),
            _ => None,
        }
    }

    /// Asserts the next answer is a failed invoke whose error code is `code`.
    async fn expect_invoke_error(&mut self, what: &str, code: &str) {
        let reply = self
            .recv()
            .await
            .unwrap_or_else(|| panic!("{what}: connection closed instead of an error answer"));
        assert_eq!(
            reply.message,
            Message::InvokeResult { success: false },
            "{what}"
        );
        let error: serde_json::Value = PayloadCodec::default().decode(&reply.app).unwrap();
        assert_eq!(error["code"], code, "{what}: {error}");
    }
}

/// Sends `bytes` on a fresh connection and expects the leader to close it.
async fn expect_closed(port: u16, what: &str, bytes: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: the leader kept the connection open"))
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "{what}: expected the connection to be closed, got {n} bytes"
    );
}

async fn served(follower: &Handle<DemoService>, what: &str) {
    let got: String = follower.invoke("echo", (what.to_string(),)).await.unwrap();
    assert_eq!(got, what);
}

async fn setup() -> (u16, Arc<Backend>, Handle<DemoService>, Handle<DemoService>) {
    logs();
    let port = free_port();
    let backend = Arc::new(Backend::default());
    let leader = process(port, &backend).await;
    let follower = process(port, &backend).await;
    (port, backend, leader, follower)
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let (port, _backend, leader, follower) = setup().await;
    let mut random = Vec::new();
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push(x as u8);
    }
    random[0] = 7; // not version 1
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("random bytes", random, "unsupported protocol version 7"),
        (
            "length 2^31-1",
            header(1, 0, i32::MAX, 0),
            "frame length 2147483671 exceeds max 65536",
        ),
        (
            "negative length",
            header(1, 0, 4, -1),
            "negative app length -1",
        ),
        (
            "conn not UTF-8",
            raw_frame(&[0xff, 0xfe, 0xfd]),
            "conn object is not valid JSON",
        ),
        (
            "conn not JSON",
            raw_frame(b"{\"type\":"),
            "conn object is not valid JSON",
        ),
        (
            "conn not an object",
            raw_frame(b"[\"register_channel\"]"),
            "conn object is not an object",
        ),
        (
            "register without a channel",
            raw_frame(b"{\"type\":\"register_channel\"}"),
            r#"field \"channelName\" is missing"#,
        ),
        (
            "invoke before register",
            invoke(2, "echo", &[&encoded(&"x")]),
            r#"\"invoke\" packet before register_channel"#,
        ),
    ];
    for (what, bytes, reason) in &cases {
        expect_closed(port, what, bytes).await;
        warned(reason).await;
        served(&follower, what).await;
    }
    // Zero bytes, and a truncated header followed by a close: nothing to answer, nothing breaks.
    drop(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&header(1, 0, 10, 0)[..11]).await.unwrap();
    drop(s);
    served(&follower, "after truncated header").await;
    assert!(leader.is_leader());
    assert_eq!(
        follower.elections(),
        1,
        "the real follower was never disconnected"
    );
}

#[tokio::test]
async fn bad_calls_get_error_answers_on_a_live_connection() {
    let (port, _backend, _leader, follower) = setup().await;
    let mut peer = Peer::registered(port).await;

    // Unknown packet types are reported and ignored, as Node does.
    peer.send(&raw_frame(b"{\"type\":\"no_such_type\",\"x\":1}"))
        .await;
    warned("unsupported packet type").await;

    peer.send(&invoke(10, "no_such_method", &[])).await;
    peer.expect_invoke_error("unknown method", "ERR_CLUSTER_NO_METHOD")
        .await;
    peer.send(&invoke(11, "add", &[&encoded(&1)])).await;
    peer.expect_invoke_error("too few arguments", "ERR_BAD_ARGS")
        .await;
    peer.send(&invoke(12, "add", &[&encoded(&"one"), &encoded(&"two")]))
        .await;
    peer.expect_invoke_error("wrong argument types", "ERR_BAD_ARGS")
        .await;
    peer.send(&invoke(13, "echo", &[b"\xff\x00 not serialize-json"]))
        .await;
    peer.expect_invoke_error("payload not valid for the codec", "ERR_BAD_ARGS")
        .await;
    let deep = format!("^^^^{}{}", "@".repeat(500), "]".repeat(500));
    peer.send(&invoke(14, "echo", &[deep.as_bytes()])).await;
    peer.expect_invoke_error("nesting deeper than the codec limit", "ERR_BAD_ARGS")
        .await;
    // An argument list whose lengths lie.
    let mut lying = invoke(15, "echo", &[&encoded(&"x")]);
    let n = lying.len();
    lying[n - 8] = 0x7f;
    peer.send(&lying).await;
    peer.expect_invoke_error("argument length beyond the payload", "ERR_BAD_ARGS")
        .await;

    // The connection still works, and so does everyone else's.
    peer.send(&packet(20, Message::Heartbeat, b"")).await;
    assert_eq!(peer.recv().await.unwrap().message, Message::HeartbeatRes);
    served(&follower, "after bad calls").await;
}

#[tokio::test]
async fn a_peer_dribbling_one_byte_every_100ms_blocks_nobody() {
    let (port, _backend, _leader, follower) = setup().await;
    let frame = packet(
        1,
        Message::RegisterChannel {
            channel_name: "DemoClient".into(),
            secret: None,
        },
        b"",
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    for (i, b) in frame.iter().take(12).enumerate() {
        s.write_all(&[*b]).await.unwrap();
        served(&follower, &format!("while dribbling byte {i}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_peer_that_never_reads_is_disconnected_instead_of_buffered_without_bound() {
    logs();
    let port = free_port();
    let backend = Arc::new(Backend::default());
    // A small frame limit makes the leader's per-connection output bound 128 KiB.
    let _leader = demo(port, &Scope::new())
        .max_frame_len(64 * 1024)
        .create(factory(&backend))
        .await
        .unwrap();
    let follower = process(port, &backend).await;
    let mut peer = Peer::registered(port).await;
    let big = encoded(&"x".repeat(32 * 1024));
    let request = invoke(2, "echo", &[&big]);
    // Far more answers than the socket buffers hold; never read any of them.
    let mut closed = false;
    for _ in 0..2000 {
        if peer.write.write_all(&request).await.is_err() {
            closed = true;
            break;
        }
    }
    warned("closing a connection whose peer is not reading").await;
    if !closed {
        // Drain what the kernel holds: the stream must end, not deliver all 2000 answers.
        let mut answers = 0;
        while peer.recv().await.is_some() {
            answers += 1;
        }
        assert!(answers < 2000, "all {answers} answers were buffered");
    }
    served(&follower, "after the stuck peer").await;
}

#[tokio::test]
async fn a_thousand_connections_opened_and_dropped_quickly() {
    let (port, _backend, leader, follower) = setup().await;
    for _ in 0..1000 {
        drop(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    served(&follower, "after 1000 connections").await;
    assert!(leader.is_leader());
    // The leader's buffers for those connections are gone: a fresh peer still registers.
    let _peer = Peer::registered(port).await;
    let _ = BytesMut::new();
}
