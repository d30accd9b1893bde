//! What `quickstart` and `inherent_client` share: the demo key/value backend (a TCP server that
//! counts its client connections and pushes changes), the connection a real client keeps to it,
//! and the supervisor that runs the worker processes, kills the leader and sums up.
//!
//! Each example keeps what a user writes: the `#[cluster_client]` item, the real client built
//! on [`connection::Connection`], and the worker's use of the handle.

pub mod backend;
pub mod connection;
pub mod supervisor;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A worker's announcement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announcement {
    /// The worker's number.
    pub worker: usize,
    /// Its process id.
    pub pid: u32,
}

/// What a call can fail with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum KvError {
    /// The backend connection failed.
    Backend(String),
    /// The cluster failed (timeout, leader lost, ...).
    Cluster(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::Backend(m) => write!(f, "backend: {m}"),
            KvError::Cluster(m) => write!(f, "cluster: {m}"),
        }
    }
}

impl From<cluster_client::Error> for KvError {
    fn from(e: cluster_client::Error) -> Self {
        KvError::Cluster(e.to_string())
    }
}
