//! Property tests standing in for the fuzzers on stable: packets round-trip, and arbitrary
//! bytes never make the frame or message layer panic or allocate past the frame limit.

use bytes::BytesMut;
use cluster_client::protocol::{FrameCodec, Header, Message, Packet, subscription_key};
use proptest::prelude::*;
use serde_json::{Map, Value};
use tokio_util::codec::Decoder;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z0-9]{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (".*", prop::option::of(".*"), prop::option::of(".*")).prop_map(
            |(channel_name, secret, follower)| Message::RegisterChannel {
                channel_name,
                secret,
                follower,
            }
        ),
        Just(Message::RegisterChannelRes),
        json_value().prop_map(|reg| Message::Subscribe {
            key: subscription_key(&reg),
            reg
        }),
        json_value().prop_map(|reg| Message::Unsubscribe {
            key: subscription_key(&reg),
            reg
        }),
        ".*".prop_map(|key| Message::SubscribeResult { key }),
        Just(Message::SubscribeResultRes),
        (".*", any::<u32>(), any::<bool>()).prop_map(|(method, arg_length, oneway)| {
            Message::Invoke {
                method,
                arg_length,
                oneway,
            }
        }),
        any::<bool>().prop_map(|success| Message::InvokeResult { success }),
        Just(Message::Heartbeat),
        Just(Message::HeartbeatRes),
    ]
}

/// What a reader sees after a round trip: JSON numbers come back as the doubles JavaScript
/// would print, so compare through the JavaScript text.
fn normalized(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    m.write_conn(&mut out);
    out
}

proptest! {
    #[test]
    fn packets_round_trip(msg in message(), id in any::<i64>(), timeout in any::<i32>(), app in prop::collection::vec(any::<u8>(), 0..64)) {
        let header = Header { kind: msg.kind(), id, timeout };
        let packet = Packet { header, message: msg, app: app.into() };
        let codec = FrameCodec::default();
        let mut wire = Vec::new();
        packet.encode(&codec, &mut wire).unwrap();
        let mut buf = BytesMut::from(&wire[..]);
        let frame = FrameCodec::default().decode(&mut buf).unwrap().unwrap();
        let back = Packet::from_frame(frame).unwrap();
        prop_assert_eq!(back.header, packet.header);
        prop_assert_eq!(&back.app, &packet.app);
        prop_assert_eq!(normalized(&back.message), normalized(&packet.message));
        let mut again = Vec::new();
        back.encode(&codec, &mut again).unwrap();
        prop_assert_eq!(again, wire);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_overallocate(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let max = 4096;
        let mut codec = FrameCodec::new(max);
        let mut buf = BytesMut::new();
        'outer: for chunk in chunks {
            buf.extend_from_slice(&chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => { let _ = Packet::from_frame(frame); }
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
                prop_assert!(buf.capacity() <= 2 * max, "capacity {}", buf.capacity());
            }
            prop_assert!(buf.capacity() <= 2 * max, "capacity {}", buf.capacity());
        }
    }

    #[test]
    fn frames_with_valid_headers_and_random_bodies_never_panic(
        kind in 0u8..2, conn in prop::collection::vec(any::<u8>(), 0..80), app in prop::collection::vec(any::<u8>(), 0..80)
    ) {
        let mut wire = vec![1, kind, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        wire.extend_from_slice(&(conn.len() as u32).to_be_bytes());
        wire.extend_from_slice(&(app.len() as u32).to_be_bytes());
        wire.extend_from_slice(&conn);
        wire.extend_from_slice(&app);
        let mut buf = BytesMut::from(&wire[..]);
        let frame = FrameCodec::default().decode(&mut buf).unwrap().unwrap();
        let _ = Packet::from_frame(frame);
    }

    #[test]
    fn json_like_conn_objects_never_panic(s in r#"\{("[a-zA-Z]{0,12}":("[a-z_]{0,20}"|[0-9-]{1,4}|true|null|\{\}|\[\]),?){0,5}\}"#) {
        let _ = Message::from_conn(&bytes::Bytes::from(s.into_bytes()));
    }
}
