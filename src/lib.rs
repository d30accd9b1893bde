//! Shared pieces of the integration tests, examples and test workers of `cluster-client`
//! (not published).

pub mod demo;
pub mod macro_demo;
pub mod node_demo;
pub mod streams;
pub mod worker_io;
