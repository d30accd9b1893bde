#![no_main]
//! Arbitrary conn objects and payloads through the message layer: parsing never panics, and a
//! parsed message re-encodes and parses back to the same conn text.

use bytes::Bytes;
use cluster_client::protocol::{ArgsReader, FrameCodec, Header, Message, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (conn, app) = data.split_at(split);
    let Ok(message) = Message::from_conn(&Bytes::copy_from_slice(conn)) else {
        return;
    };
    if let Message::Invoke { arg_length, .. } = &message {
        let mut args = ArgsReader::new(app, *arg_length);
        while let Ok(Some(_)) = args.next_arg() {}
    }
    let packet = Packet {
        header: Header::request(1, 0),
        message,
        app: Bytes::copy_from_slice(app),
    };
    let mut wire = Vec::new();
    if packet.encode(&FrameCodec::default(), &mut wire).is_ok() {
        let conn_len = u32::from_be_bytes(wire[16..20].try_into().unwrap()) as usize;
        let reparsed = Message::from_conn(&Bytes::copy_from_slice(&wire[24..24 + conn_len]))
            .expect("re-parses");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        packet.message.write_conn(&mut a);
        reparsed.write_conn(&mut b);
        assert_eq!(a, b);
    }
});
