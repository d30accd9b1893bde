//! The port owner: accepts connections and routes each to the channel named in its
//! `register_channel` packet. One per port per process (scope); it serves every channel this
//! process leads on that port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Endpoint;
use super::connection::serve_connection;

pub(crate) struct PortServer {
    port: u16,
    channels: Mutex<HashMap<String, Arc<dyn Endpoint>>>,
    /// Cancelled to close the listener and every accepted connection.
    shutdown: CancellationToken,
}

impl PortServer {
    /// Starts accepting on a listener this process just bound.
    pub(crate) fn start(listener: TcpListener, port: u16) -> Arc<Self> {
        let server = Arc::new(Self {
            port,
            channels: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        });
        let weak = Arc::downgrade(&server);
        let shutdown = server.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let Some(server) = weak.upgrade() else { break };
                        tokio::spawn(serve_connection(server, stream, peer));
                    }
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(port, error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
            tracing::debug!(port, "port server stopped; the port is released");
        });
        server
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub(crate) fn endpoint(&self, channel: &str) -> Option<Arc<dyn Endpoint>> {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
    }

    /// Some channel of this port, for settings that apply before a peer names its channel.
    pub(crate) fn any_endpoint(&self) -> Option<Arc<dyn Endpoint>> {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .next()
            .cloned()
    }

    pub(crate) fn add_channel(&self, endpoint: Arc<dyn Endpoint>) {
        let name = endpoint.channel().to_owned();
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, endpoint);
    }

    /// Stops serving a channel. When it was the last one, closes the listener and every
    /// connection, so the followers of all channels on this port re-elect. Returns whether
    /// the server shut down.
    pub(crate) fn remove_channel(&self, channel: &str) -> bool {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.remove(channel);
        if channels.is_empty() {
            self.shutdown.cancel();
            return true;
        }
        false
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
