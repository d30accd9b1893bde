//! What one process shares: the port servers it owns and one handle core per channel.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::leader::PortServer;

/// The set of port servers and channels that handles share.
///
/// Every handle uses [`Scope::global`] unless told otherwise, so the handles of one process
/// share one connection (or the local real client) per channel. Tests use several scopes in
/// one process to stand for several processes.
#[derive(Clone, Default)]
pub struct Scope {
    inner: Arc<ScopeInner>,
}

/// A channel is identified by its port (none in single mode) and its name.
type ChannelKey = (Option<u16>, String);

#[derive(Default)]
struct ScopeInner {
    ports: Mutex<HashMap<u16, Weak<PortServer>>>,
    channels: Mutex<HashMap<ChannelKey, Weak<dyn Any + Send + Sync>>>,
    /// Serialises "look for our own server, else bind" so two channels of one scope never
    /// race each other for the port.
    election: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl Scope {
    /// A new, isolated scope: its handles behave as if they ran in a process of their own.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide scope.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<Scope> = OnceLock::new();
        GLOBAL.get_or_init(Scope::new).clone()
    }

    pub(crate) async fn election_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.election.lock().await
    }

    pub(crate) fn port_server(&self, port: u16) -> Option<Arc<PortServer>> {
        let ports = self.inner.ports.lock().unwrap_or_else(|p| p.into_inner());
        ports
            .get(&port)
            .and_then(Weak::upgrade)
            .filter(|s| !s.is_shut_down())
    }

    pub(crate) fn set_port_server(&self, port: u16, server: &Arc<PortServer>) {
        let mut ports = self.inner.ports.lock().unwrap_or_else(|p| p.into_inner());
        ports.insert(port, Arc::downgrade(server));
    }

    /// The live core of a channel, or a new one from `make`. `Err(())` when the channel is
    /// in use with another core type.
    pub(crate) fn core<T: Any + Send + Sync>(
        &self,
        port: Option<u16>,
        channel: &str,
        make: impl FnOnce() -> Arc<T>,
    ) -> Result<(Arc<T>, bool), ()> {
        let mut channels = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (port, channel.to_owned());
        if let Some(existing) = channels.get(&key).and_then(Weak::upgrade) {
            return existing.downcast::<T>().map(|c| (c, false)).map_err(|_| ());
        }
        let core = make();
        let erased: Arc<dyn Any + Send + Sync> = core.clone();
        channels.insert(key, Arc::downgrade(&erased));
        Ok((core, true))
    }

    /// Forgets a channel's core if it is still `core`.
    pub(crate) fn remove_core(&self, port: Option<u16>, channel: &str, core: *const ()) {
        let mut channels = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (port, channel.to_owned());
        let same = channels
            .get(&key)
            .is_some_and(|w| std::ptr::addr_eq(w.as_ptr(), core));
        if same {
            channels.remove(&key);
        }
    }
}
