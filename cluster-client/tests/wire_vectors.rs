//! Every frame captured from, or built by, Node `cluster-client@3.7.0` decodes to the expected
//! message and re-encodes to the identical bytes.

use bytes::{Bytes, BytesMut};
use cluster_client::protocol::{
    ArgsReader, Frame, FrameCodec, FrameKind, Message, Packet, ProtocolError,
};
use serde_json::Value;
use tokio_util::codec::Decoder;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_one(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let frame = FrameCodec::default()
        .decode(&mut buf)
        .unwrap()
        .expect("a whole frame");
    assert!(buf.is_empty(), "frame left {} bytes over", buf.len());
    frame
}

fn reencode(packet: &Packet) -> Vec<u8> {
    let mut out = Vec::new();
    packet.encode(&FrameCodec::default(), &mut out).unwrap();
    out
}

struct Captured {
    dir: String,
    bytes: Vec<u8>,
    record: Value,
}

fn session() -> Vec<Captured> {
    let doc: Value = serde_json::from_str(include_str!("fixtures/wire/node-session.json")).unwrap();
    doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("hex").is_some())
        .map(|r| Captured {
            dir: r["dir"].as_str().unwrap().to_owned(),
            bytes: hex(r["hex"].as_str().unwrap()),
            record: r.clone(),
        })
        .collect()
}

#[test]
fn captured_session_frames_round_trip_byte_exact() {
    let frames = session();
    let mut checked = 0;
    for c in &frames {
        let frame = decode_one(&c.bytes);
        let h = &c.record["header"];
        assert_eq!(frame.header.id, h["id"].as_i64().unwrap());
        assert_eq!(frame.header.timeout as i64, h["timeout"].as_i64().unwrap());
        let expected_kind = if h["type"] == 1 {
            FrameKind::Response
        } else {
            FrameKind::Request
        };
        assert_eq!(frame.header.kind, expected_kind);
        assert_eq!(frame.conn.len() as i64, h["connLen"].as_i64().unwrap());
        assert_eq!(frame.app.len() as i64, h["appLen"].as_i64().unwrap());

        let packet = Packet::from_frame(frame).unwrap();
        assert_eq!(
            packet.message.type_name(),
            c.record["connObj"]["type"].as_str().unwrap()
        );
        assert_eq!(
            packet.message.kind(),
            expected_kind,
            "{}",
            packet.message.type_name()
        );
        assert!(!matches!(packet.message, Message::Unknown { .. }));
        if let Message::Invoke { arg_length, .. } = packet.message {
            let mut args = ArgsReader::new(&packet.app, arg_length);
            let mut n = 0;
            while args.next_arg().unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, arg_length);
        }
        assert_eq!(
            reencode(&packet),
            c.bytes,
            "re-encoding {} ({})",
            packet.message.type_name(),
            c.dir
        );
        checked += 1;
    }
    println!("captured session: {checked} frames round-tripped byte-exact");
    assert_eq!(checked, 34);
}

#[test]
fn captured_session_decodes_as_one_stream_per_direction() {
    for dir in ["F->L", "L->F"] {
        let frames: Vec<_> = session().into_iter().filter(|c| c.dir == dir).collect();
        let stream: Vec<u8> = frames.iter().flat_map(|c| c.bytes.clone()).collect();
        // Feed the stream in awkward pieces: frames split and frames sharing a read.
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in stream.chunks(7) {
            buf.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(got.len(), frames.len(), "{dir}");
        for (frame, c) in got.iter().zip(&frames) {
            assert_eq!(*frame, decode_one(&c.bytes));
        }
    }
}

#[test]
fn built_packets_round_trip_byte_exact() {
    let mut checked = 0;
    for line in include_str!("fixtures/wire/packets.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let mut cols = line.split('\t');
        let (name, desc, bytes) = (
            cols.next().unwrap(),
            cols.next().unwrap(),
            hex(cols.next().unwrap()),
        );
        let frame = decode_one(&bytes);
        match name {
            "B11" => {
                assert_eq!(frame.header.id, 4_294_967_298);
                assert_eq!(frame.header.timeout, 1);
                // `{}` has no type: the frame is fine, the message is not.
                assert!(matches!(
                    Packet::from_frame(frame.clone()),
                    Err(ProtocolError::ConnNotObject(_))
                ));
                let mut out = BytesMut::new();
                tokio_util::codec::Encoder::encode(&mut FrameCodec::default(), &frame, &mut out)
                    .unwrap();
                assert_eq!(&out[..], &bytes[..]);
            }
            "upstream-invalid-json" => {
                let err = Packet::from_frame(frame).unwrap_err();
                assert!(
                    err.to_string().starts_with("conn object is not valid JSON"),
                    "{err}"
                );
            }
            _ => {
                let packet =
                    Packet::from_frame(frame).unwrap_or_else(|e| panic!("{name} {desc}: {e}"));
                assert_eq!(reencode(&packet), bytes, "{name} {desc}");
            }
        }
        checked += 1;
    }
    println!("built packets: {checked} checked");
    assert_eq!(checked, 13);
}

#[test]
fn unknown_types_decode_as_such_and_keep_their_bytes() {
    let conn = Bytes::from_static(br#"{"type":"future_thing","x":[1,2]}"#);
    let frame = Frame {
        header: cluster_client::protocol::Header::request(3, 0),
        conn: conn.clone(),
        app: Bytes::new(),
    };
    let packet = Packet::from_frame(frame).unwrap();
    assert_eq!(
        packet.message,
        Message::Unknown {
            type_name: "future_thing".into(),
            conn
        }
    );
    let mut out = Vec::new();
    packet.encode(&FrameCodec::default(), &mut out).unwrap();
    assert_eq!(&out[24..], br#"{"type":"future_thing","x":[1,2]}"#);
}

#[test]
fn malformed_conn_objects_name_what_is_wrong() {
    let cases: &[(&[u8], &str)] = &[
        (b"\xff\xfe", "conn object is not valid JSON"),
        (
            b"[1,2]",
            "conn object is not an object with a string \"type\": an array",
        ),
        (
            b"{\"type\":5}",
            "conn object is not an object with a string \"type\": \"type\" is a number",
        ),
        (
            b"{\"x\":1}",
            "conn object is not an object with a string \"type\": \"type\" is missing",
        ),
        (
            b"{\"type\":\"invoke\"}",
            "invoke packet: field \"method\" is missing or not a string",
        ),
        (
            b"{\"type\":\"invoke\",\"method\":\"m\",\"argLength\":-1}",
            "invoke packet: field \"argLength\" is missing or not a non-negative integer",
        ),
        (
            b"{\"type\":\"subscribe\",\"key\":\"k\"}",
            "subscribe packet: field \"reg\" is missing or not a JSON value",
        ),
        (
            b"{\"type\":\"register_channel\"}",
            "register_channel packet: field \"channelName\" is missing or not a string",
        ),
        (
            b"{\"type\":\"invoke_result\"}",
            "invoke_result packet: field \"success\" is missing or not a boolean",
        ),
    ];
    for (conn, msg) in cases {
        let err = Message::from_conn(&Bytes::copy_from_slice(conn))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(msg), "{err:?} should start with {msg:?}");
    }
}

#[test]
fn oversized_payload_is_refused_when_writing() {
    let codec = FrameCodec::new(100);
    let mut out = b"keep".to_vec();
    let err = Packet::encode_with::<ProtocolError>(
        &codec,
        cluster_client::protocol::Header::request(1, 0),
        &Message::InvokeResult { success: true },
        &mut out,
        |o| {
            o.extend_from_slice(&[0; 200]);
            Ok(())
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "frame length 263 exceeds max 100");
    assert_eq!(out, b"keep");
}
