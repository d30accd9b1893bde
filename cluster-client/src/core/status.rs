//! What a core tells about itself and, asked from any process, about its channel's leader.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Core, Role, lock};
use crate::error::Error;
use crate::follower::CallFailure;
use crate::leader::Endpoint;
use crate::protocol::Message;
use crate::service::Service;
use crate::status::ChannelStatus;
use crate::time::deadline_after;

impl<S: Service> Core<S> {
    /// What this core is doing right now.
    pub(crate) fn status(&self) -> crate::status::Status {
        use crate::status::{RoleStatus, Status, epoch_ms, pid_of};
        let (role, leader_pid, leader_id, followers) = match &*self.role.borrow() {
            Role::Electing => (RoleStatus::Electing, None, None, None),
            Role::Leading { leader, .. } => (
                RoleStatus::Leading,
                Some(std::process::id()),
                Some(crate::leader::Endpoint::instance_id(&**leader).to_owned()),
                Some(leader.followers()),
            ),
            Role::Following(conn) => (
                RoleStatus::Following,
                conn.leader_id().and_then(pid_of),
                conn.leader_id().map(str::to_owned),
                None,
            ),
            Role::Failed(e) => (RoleStatus::Failed(e.to_string()), None, None, None),
            Role::Closed => (RoleStatus::Closed, None, None, None),
        };
        Status {
            channel: self.channel.clone(),
            port: self.options.port,
            role,
            leader_pid,
            leader_id,
            followers,
            subscribed_keys: lock(&self.locals).keys.len(),
            calls_in_flight: self.calls_in_flight.load(Ordering::Relaxed),
            elections: self.elections.load(Ordering::Acquire),
            last_election_ms: lock(&self.last_election).map(epoch_ms),
        }
    }

    /// Waits until the core leads or follows a ready leader, or its election failed for good.
    pub(crate) async fn wait_ready(&self) -> Result<(), Error> {
        let mut rx = self.role.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Role::Leading { .. } | Role::Following(_) => return Ok(()),
                Role::Failed(e) => return Err(e.clone()),
                Role::Closed => return Err(self.closed_error()),
                Role::Electing => {}
            }
            if rx.changed().await.is_err() {
                return Err(self.closed_error());
            }
        }
    }

    /// What the channel's leader serves, asked within `timeout`; `None` from a leader that does
    /// not say (a Node leader).
    pub(crate) async fn channel_status(
        &self,
        timeout: Duration,
    ) -> Result<Option<ChannelStatus>, Error> {
        let deadline = deadline_after(timeout);
        let timed_out = || self.timeout_error("status", timeout);
        tokio::time::timeout_at(deadline, self.wait_ready())
            .await
            .map_err(|_| timed_out())??;
        let role = self.role.borrow().clone();
        match role {
            Role::Leading { leader, .. } => {
                let port = self.options.port;
                let (connections, queued) = self
                    .scope
                    .port_server(port)
                    .map(|s| s.load())
                    .unwrap_or((0, 0));
                Ok(Some(Endpoint::status(&*leader, port, connections, queued)))
            }
            Role::Following(conn) => {
                if conn.leader_id().is_none() {
                    return Ok(None);
                }
                let (_, app) = conn
                    .request(&Message::Status, "status", deadline, timeout, |_| Ok(()))
                    .await
                    .map_err(|e| match e {
                        CallFailure::Failed(e) => e,
                        CallFailure::NotSent => Error::LeaderLost {
                            channel: self.channel.clone(),
                            method: "status".into(),
                            port: self.options.port,
                        },
                    })?;
                self.options
                    .codec
                    .decode(&app)
                    .map(Some)
                    .map_err(|e| self.codec_error("status", e))
            }
            Role::Failed(e) => Err(e),
            Role::Electing => Err(timed_out()),
            Role::Closed => Err(self.closed_error()),
        }
    }
}
