#![no_main]
//! Arbitrary bytes, fed in arbitrary pieces, to the frame decoder: no panic, and the buffer
//! never grows past the frame limit.

use bytes::BytesMut;
use cluster_client::protocol::FrameCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut codec = FrameCodec::new(MAX);
    let mut buf = BytesMut::new();
    for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let mut out = BytesMut::new();
                    codec
                        .encode(&frame, &mut out)
                        .expect("a decoded frame re-encodes");
                    let again = codec.decode(&mut out).expect("re-decodes").expect("whole");
                    assert_eq!(again, frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.capacity() <= 2 * MAX + 4096);
    }
});
