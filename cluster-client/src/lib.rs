//! Share one backend connection between the processes of a host.
#![deny(missing_docs)]

pub mod codec;
pub mod protocol;

pub use cluster_client_derive::cluster_client;
