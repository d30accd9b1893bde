//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod impl_forms;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cluster_client::codec::PayloadCodec;
use cluster_client::{Builder, Handle, Scope};
use cluster_client_suite::demo::{Backend, Demo, DemoService};

/// A port nobody listens on right now (the OS picks it; the listener is closed at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The codec the runtime tests run with.
pub fn codec() -> PayloadCodec {
    PayloadCodec::default()
}

/// A builder for the demo channel on `port`, in its own scope ("process").
pub fn demo(port: u16, scope: &Scope) -> Builder<DemoService> {
    Builder::new(DemoService)
        .port(port)
        .scope(scope.clone())
        .codec(codec())
}

/// Creates a demo handle in a new scope.
pub async fn process(port: u16, backend: &Arc<Backend>) -> Handle<DemoService> {
    let backend = backend.clone();
    demo(port, &Scope::new())
        .create(move || {
            let backend = backend.clone();
            async move { Ok::<_, String>(Demo::connect(backend)) }
        })
        .await
        .expect("handle becomes ready")
}

/// A factory over `backend`.
pub fn factory(
    backend: &Arc<Backend>,
) -> impl Fn() -> std::future::Ready<Result<Demo, String>> + Send + Sync + 'static {
    let backend = backend.clone();
    move || std::future::ready(Ok(Demo::connect(backend.clone())))
}

/// Waits (bounded) for `cond` to hold, checking each time `poke` settles.
pub async fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Awaits `fut` with a generous bound, so a bug shows up as a failure instead of a hang.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 10 s"))
}
