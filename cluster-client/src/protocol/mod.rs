//! The wire protocol: frames and typed messages (bytes in, bytes out; no I/O, no roles).
