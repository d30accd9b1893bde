//! The 24-byte header and the frame codec.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::ProtocolError;

/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 24;
/// The only protocol version there is.
pub const VERSION: u8 = 1;
/// Default upper bound on a whole frame (header and both bodies): 64 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 * 1024 * 1024;

/// Whether a frame asks something or answers something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A request (type byte 0). Both sides send requests: the leader's are subscription pushes.
    Request,
    /// A response (type byte 1), matched to its request by id.
    Response,
}

impl FrameKind {
    fn byte(self) -> u8 {
        match self {
            FrameKind::Request => 0,
            FrameKind::Response => 1,
        }
    }
}

/// The routing fields of the header (the lengths are implied by the bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Request or response.
    pub kind: FrameKind,
    /// The request id; a response repeats the id of its request.
    pub id: i64,
    /// Milliseconds; see the protocol notes on who reads it.
    pub timeout: i32,
}

impl Header {
    /// A request header.
    pub fn request(id: i64, timeout: i32) -> Self {
        Self {
            kind: FrameKind::Request,
            id,
            timeout,
        }
    }

    /// A response header.
    pub fn response(id: i64, timeout: i32) -> Self {
        Self {
            kind: FrameKind::Response,
            id,
            timeout,
        }
    }

    /// Appends the 24 header bytes with the given body lengths.
    pub(crate) fn put<B: BufMut>(&self, conn_len: u32, app_len: u32, out: &mut B) {
        out.put_u8(VERSION);
        out.put_u8(self.kind.byte());
        out.put_u16(0);
        out.put_i64(self.id);
        out.put_i32(self.timeout);
        out.put_u32(conn_len);
        out.put_u32(app_len);
    }
}

/// One frame as it crossed the wire: the header, the raw conn object and the raw payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header.
    pub header: Header,
    /// The conn object's bytes (JSON text).
    pub conn: Bytes,
    /// The payload's bytes (empty when there is none).
    pub app: Bytes,
}

/// `tokio_util` codec for frames, with a maximum frame length checked before anything is
/// allocated for the body.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_len: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameCodec {
    /// A codec that rejects frames longer than `max_frame_len` bytes (header included).
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            max_frame_len: max_frame_len.max(HEADER_LEN),
        }
    }

    /// The configured maximum frame length.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Changes the maximum (a leader raises it once a peer has registered).
    pub(crate) fn set_max_frame_len(&mut self, max_frame_len: usize) {
        self.max_frame_len = max_frame_len.max(HEADER_LEN);
    }

    /// Reads and checks a header at the start of `src` (which holds at least 24 bytes) and
    /// returns it with the two body lengths.
    fn parse_header(&self, src: &[u8]) -> Result<(Header, usize, usize), ProtocolError> {
        let mut h = &src[..HEADER_LEN];
        let version = h.get_u8();
        if version != VERSION {
            return Err(ProtocolError::UnsupportedVersion(version));
        }
        let kind = match h.get_u8() {
            0 => FrameKind::Request,
            1 => FrameKind::Response,
            other => return Err(ProtocolError::UnknownFrameType(other)),
        };
        h.advance(2); // reserved
        let id = h.get_i64();
        let timeout = h.get_i32();
        let conn_len = h.get_i32();
        let app_len = h.get_i32();
        if conn_len < 0 {
            return Err(ProtocolError::NegativeLength {
                field: "conn",
                len: conn_len,
            });
        }
        if app_len < 0 {
            return Err(ProtocolError::NegativeLength {
                field: "app",
                len: app_len,
            });
        }
        let total = HEADER_LEN as u64 + conn_len as u64 + app_len as u64;
        if total > self.max_frame_len as u64 {
            return Err(ProtocolError::FrameTooLarge {
                len: total,
                max: self.max_frame_len,
            });
        }
        Ok((
            Header { kind, id, timeout },
            conn_len as usize,
            app_len as usize,
        ))
    }

    /// Checks that a frame with these body lengths fits, for the writing side.
    pub(crate) fn check_len(&self, conn_len: usize, app_len: usize) -> Result<(), ProtocolError> {
        let total = HEADER_LEN as u64 + conn_len as u64 + app_len as u64;
        if total > self.max_frame_len as u64
            || conn_len > i32::MAX as usize
            || app_len > i32::MAX as usize
        {
            return Err(ProtocolError::FrameTooLarge {
                len: total,
                max: self.max_frame_len,
            });
        }
        Ok(())
    }
}

/// How much room to make for a frame of `total` bytes of which `have` arrived.
///
/// Memory grows with the bytes that actually arrive, not with what a header claims: below a
/// quarter of the frame the buffer at most doubles what is there (64 KiB for a bare header);
/// from a quarter on, the rest of the frame is set aside in one step, so a large frame is not
/// moved again and again as it grows (at most half its size is ever copied).
fn to_reserve(have: usize, total: usize) -> usize {
    let missing = total - have;
    if have >= total / 4 {
        missing
    } else {
        missing.min(have.max(64 * 1024))
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let (header, conn_len, app_len) = self.parse_header(src)?;
        let total = HEADER_LEN + conn_len + app_len;
        if src.len() < total {
            src.reserve(to_reserve(src.len(), total));
            return Ok(None);
        }
        let mut frame = src.split_to(total).freeze();
        frame.advance(HEADER_LEN);
        let conn = frame.split_to(conn_len);
        Ok(Some(Frame {
            header,
            conn,
            app: frame,
        }))
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.check_len(frame.conn.len(), frame.app.len())?;
        dst.reserve(HEADER_LEN + frame.conn.len() + frame.app.len());
        frame
            .header
            .put(frame.conn.len() as u32, frame.app.len() as u32, dst);
        dst.put_slice(&frame.conn);
        dst.put_slice(&frame.app);
        Ok(())
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.encode(&frame, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_alone_sets_aside_at_most_64_kib() {
        assert_eq!(to_reserve(HEADER_LEN, 1 << 30), 64 * 1024);
        assert_eq!(to_reserve(HEADER_LEN, HEADER_LEN + 10), 10);
    }

    #[test]
    fn room_made_stays_within_four_times_what_arrived() {
        let total = 64 << 20;
        let mut have = HEADER_LEN;
        while have < total {
            let room = to_reserve(have, total);
            assert!(room > 0 && have + room <= total);
            assert!(
                have + room <= (4 * have).max(2 * have + 64 * 1024),
                "{room} more for {have} bytes of {total}"
            );
            have += room.min(1 << 20);
        }
    }

    fn header_bytes(version: u8, kind: u8, conn: i32, app: i32) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u8(version);
        b.put_u8(kind);
        b.put_u16(0);
        b.put_i64(9);
        b.put_i32(3000);
        b.put_i32(conn);
        b.put_i32(app);
        b
    }

    #[test]
    fn partial_frames_wait_and_several_frames_decode() {
        let frame = Frame {
            header: Header::request(9, 3000),
            conn: Bytes::from_static(b"{\"type\":\"heartbeat\"}"),
            app: Bytes::new(),
        };
        let mut wire = BytesMut::new();
        let mut codec = FrameCodec::default();
        codec.encode(&frame, &mut wire).unwrap();
        codec.encode(&frame, &mut wire).unwrap();
        let whole = wire.clone();
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut got = Vec::new();
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f);
            }
            buf.extend_from_slice(&whole[cut..]);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f);
            }
            assert_eq!(got, vec![frame.clone(), frame.clone()], "cut at {cut}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn oversized_length_is_rejected_before_allocating() {
        let mut buf = header_bytes(1, 0, i32::MAX, 0);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "frame length 2147483671 exceeds max 67108864"
        );
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn negative_lengths_bad_versions_and_types_are_errors() {
        let cases = [
            (header_bytes(1, 0, -1, 0), "negative conn length -1"),
            (
                header_bytes(1, 0, 2, i32::MIN),
                "negative app length -2147483648",
            ),
            (
                header_bytes(2, 0, 2, 0),
                "unsupported protocol version 2 (expected 1)",
            ),
            (
                header_bytes(1, 7, 2, 0),
                "unknown frame type byte 7 (expected 0 = request or 1 = response)",
            ),
        ];
        for (mut buf, msg) in cases {
            assert_eq!(
                FrameCodec::default()
                    .decode(&mut buf)
                    .unwrap_err()
                    .to_string(),
                msg
            );
        }
    }

    #[test]
    fn small_max_applies_to_header_plus_bodies() {
        let mut buf = header_bytes(1, 0, 10, 7);
        let err = FrameCodec::new(40).decode(&mut buf).unwrap_err();
        assert_eq!(err.to_string(), "frame length 41 exceeds max 40");
    }
}
