//! A view of the cluster: what this process's handle is doing ([`Status`]), and what the
//! channel's leader serves ([`ChannelStatus`]), for dashboards, health checks and logs.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// This process's role on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "reason")]
#[non_exhaustive]
pub enum RoleStatus {
    /// Looking for a leader, or becoming one.
    Electing,
    /// This process leads: its real client serves the channel.
    Leading,
    /// This process follows a leader.
    Following,
    /// Something definitive failed (the reason); the election may still be retrying.
    Failed(String),
    /// The handle is closed.
    Closed,
}

/// What a handle is doing right now ([`crate::Handle::status`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Status {
    /// The channel.
    pub channel: String,
    /// The port.
    pub port: u16,
    /// This process's role.
    pub role: RoleStatus,
    /// The leader's process id, when known (a Rust leader says it; a Node leader does not).
    pub leader_pid: Option<u32>,
    /// The leader's incarnation id, when known: it changes with every new leader.
    pub leader_id: Option<String>,
    /// Leading: the followers registered on the channel now.
    pub followers: Option<usize>,
    /// Subscription keys this process holds.
    pub subscribed_keys: usize,
    /// Calls of this process waiting for an answer now.
    pub calls_in_flight: usize,
    /// Times this process started leading or following a leader.
    pub elections: u64,
    /// When the last of those started (milliseconds since the Unix epoch).
    pub last_election_ms: Option<u64>,
}

/// The channel as its leader serves it ([`crate::Handle::channel_status`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelStatus {
    /// The channel.
    pub channel: String,
    /// The port.
    pub port: u16,
    /// The leader's process id.
    pub leader_pid: u32,
    /// The leader's incarnation id.
    pub leader_id: String,
    /// Followers registered on the channel.
    pub followers: usize,
    /// Connections open on the port (all channels, registered or not).
    pub connections: usize,
    /// Keys the leader's real client is subscribed to.
    pub upstream_keys: usize,
    /// Bytes queued for followers of the port, not yet read by them.
    pub queued_bytes: usize,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The process id in a leader id (`"<pid>-<n>"`, as Rust leaders make them).
pub(crate) fn pid_of(leader_id: &str) -> Option<u32> {
    leader_id.split('-').next()?.parse().ok()
}
