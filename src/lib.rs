//! Shared pieces of the integration tests, examples and test workers of `cluster-client`
//! (not published).

pub mod demo;
pub mod inherent_demo;
pub mod macro_demo;
pub mod node_demo;
pub mod registry_sdk;
pub mod streams;
pub mod worker_io;

/// The README's Rust examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
