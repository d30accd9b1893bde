//! The quickstart's story with a client that has no trait: a struct with inherent `async fn`s,
//! shared by putting `#[cluster_client]` on its `impl` block (as Node's `cluster(Class)` wraps
//! a class).
//!
//! ```text
//! cargo run --release --example inherent_client
//! ```
//!
//! Four worker processes (copies of this program) each create a `KvClientCluster`, the handle
//! generated from `impl KvClient`. The leader alone connects to the backend; the others forward
//! their calls. After a few seconds the leader is killed: another worker takes over, the backend
//! sees one connection again, every worker's subscription keeps delivering, and the program
//! exits 0. The backend and the supervisor are in `examples/common/`.

mod common;

use cluster_client::cluster_client;
use futures::Stream;

use common::connection::Connection;
use common::supervisor::{self, Role};
use common::{Announcement, KvError};

// ---------------------------------------------------------------------------------------------
// The client as a library would ship it: a struct and its methods, no trait.

/// A key/value client with change notifications (only the leader's is connected).
pub struct KvClient {
    conn: Connection,
}

#[cluster_client(rename_all = "camelCase")]
impl KvClient {
    /// Connects to the backend (not shared: runs where this process leads, in the factory).
    pub async fn connect(backend: String) -> Result<Self, String> {
        let conn = Connection::connect(backend).await?;
        Ok(Self { conn })
    }

    /// Reads a key.
    #[delegate(invoke)]
    pub async fn get(&self, key: String) -> Result<Option<String>, KvError> {
        self.conn.get(key).await
    }

    /// Values of a key: the current one, then every change.
    #[delegate(subscribe)]
    pub fn watch(&self, key: String) -> impl Stream<Item = String> + Send + 'static {
        self.conn.watch(key)
    }

    /// Tells the backend a worker is up (re-sent to every new leader).
    #[delegate(publish)]
    pub fn announce(&self, worker: Announcement) {
        self.conn.announce(worker);
    }

    /// Closes the backend connection.
    #[delegate(close)]
    pub async fn close(&self) {
        self.conn.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A worker process: the handle has the same methods as the client.

async fn worker(id: usize, port: u16, backend: String) {
    let kv: KvClientCluster = KvClientCluster::builder()
        .port(port)
        .create(move || KvClient::connect(backend.clone()))
        .await
        .expect("the cluster handle becomes ready");
    kv.announce(Announcement {
        worker: id,
        pid: std::process::id(),
    });

    let values = supervisor::count_values(kv.watch("config".into()));
    let reader = kv.clone();
    let calls = supervisor::call_repeatedly(move || {
        let kv = reader.clone();
        async move { kv.get("greeting".into()).await.is_ok() }
    });
    supervisor::report_until_stdin_closes(id, || kv.is_leader(), &calls, &values).await;
    kv.close().await;
}

#[tokio::main]
async fn main() {
    cluster_client_suite::worker_io::init_logs();
    match supervisor::role() {
        Role::Worker { id, port, backend } => worker(id, port, backend).await,
        Role::Supervisor => supervisor::run("inherent_client").await,
    }
}
