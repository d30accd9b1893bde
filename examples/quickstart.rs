//! Four worker processes, one backend connection, and a leader that can die without anyone
//! noticing.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! The program starts a small key/value backend (a TCP server that counts its client
//! connections and pushes change notifications), then spawns four workers: copies of this
//! program, each creating the same `#[cluster_client]` handle. One of them wins the election and
//! is the only one to connect to the backend; the others forward their calls to it. Every worker
//! reads keys, watches a key for changes and announces itself. After a few seconds the leader is
//! killed: another worker takes over, the backend sees one connection again, and every worker's
//! subscription keeps delivering. Then everything shuts down and the program exits 0.
//!
//! Set `RUST_LOG=cluster_client=info` to see the runtime's own log lines. The backend, the
//! real client's connection to it and the supervisor are in `examples/common/` (shared with the
//! `inherent_client` example).

mod common;

use cluster_client::cluster_client;
use futures::Stream;

use common::connection::Connection;
use common::supervisor::{self, Role};
use common::{Announcement, KvError};

// ---------------------------------------------------------------------------------------------
// The shared client: what every worker uses, whatever its role.

/// A key/value store with change notifications.
#[cluster_client(rename_all = "camelCase")]
pub trait KeyValue: Send + Sync + 'static {
    /// Reads a key.
    #[delegate(invoke)]
    async fn get(&self, key: String) -> Result<Option<String>, KvError>;

    /// Values of a key: the current one, then every change.
    #[delegate(subscribe)]
    fn watch(&self, key: String) -> impl Stream<Item = String> + Send + 'static;

    /// Tells the backend a worker is up (re-sent to every new leader).
    #[delegate(publish)]
    fn announce(&self, worker: Announcement);

    /// Closes the backend connection.
    #[delegate(close)]
    async fn close(&self);
}

// ---------------------------------------------------------------------------------------------
// The real client: one TCP connection to the backend (only the leader has one).

struct BackendClient {
    conn: Connection,
}

impl KeyValue for BackendClient {
    async fn get(&self, key: String) -> Result<Option<String>, KvError> {
        self.conn.get(key).await
    }

    fn watch(&self, key: String) -> impl Stream<Item = String> + Send + 'static {
        self.conn.watch(key)
    }

    fn announce(&self, worker: Announcement) {
        self.conn.announce(worker);
    }

    async fn close(&self) {
        self.conn.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A worker process.

async fn worker(id: usize, port: u16, backend: String) {
    let kv = KeyValueCluster::builder()
        .port(port)
        .create(move || {
            let backend = backend.clone();
            async move {
                Connection::connect(backend)
                    .await
                    .map(|conn| BackendClient { conn })
            }
        })
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
        Role::Supervisor => supervisor::run("quickstart").await,
    }
}
