//! A client trait written with `#[cluster_client]`, its real client over the demo
//! [`Backend`], and a fixed script of calls, so tests can compare what the generated handle
//! answers (in any role) with what the real client answers directly.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use cluster_client::cluster_client;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::demo::{Backend, Demo, Publication, Topic};

/// A directory of entries with notes, watched topics and announcements.
#[cluster_client(name = "MacroDirectory", rename_all = "camelCase")]
pub trait Directory: Send + Sync + 'static {
    /// Returns its argument.
    #[delegate(invoke)]
    async fn echo_text(&self, text: String) -> Result<String, DirectoryError>;

    /// Adds two numbers.
    #[delegate(invoke)]
    async fn add(&self, a: i64, b: i64) -> Result<i64, DirectoryError>;

    /// Looks an entry up; unknown keys fail with [`DirectoryError::NotFound`].
    #[delegate(invoke, name = "lookup")]
    fn find(&self, key: String) -> impl Future<Output = Result<Entry, DirectoryError>> + Send;

    /// The notes the serving real client received so far.
    #[delegate(invoke)]
    async fn notes(&self) -> Result<Vec<String>, DirectoryError>;

    /// Records a note (nobody waits for it).
    #[delegate(invoke_oneway)]
    fn note(&self, text: String);

    /// The values of a topic: the current one, then every change.
    #[delegate(subscribe)]
    fn watch(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static;

    /// Stops watching a topic.
    #[delegate(unsubscribe)]
    fn unwatch(&self, topic: Topic);

    /// Adds a value to a topic.
    #[delegate(publish)]
    fn announce(&self, publication: Publication);

    /// Closes the client.
    #[delegate(close)]
    async fn close(&self);
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its key.
    pub key: String,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
}

/// What a directory call can fail with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DirectoryError {
    /// The key has no entry.
    NotFound {
        /// The key looked up.
        key: String,
    },
    /// The call itself failed (timeout, lost leader, ...).
    Cluster {
        /// The runtime's error code.
        code: String,
        /// Its message.
        message: String,
    },
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::NotFound { key } => write!(f, "no entry for {key:?}"),
            DirectoryError::Cluster { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

impl std::error::Error for DirectoryError {}

impl From<cluster_client::Error> for DirectoryError {
    fn from(e: cluster_client::Error) -> Self {
        DirectoryError::Cluster {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// The real client: the demo client plus a fixed set of entries.
pub struct RealDirectory {
    demo: Demo,
    backend: Arc<Backend>,
}

impl RealDirectory {
    /// Connects a new real client to `backend`.
    pub fn connect(backend: Arc<Backend>) -> Self {
        Self {
            demo: Demo::connect(backend.clone()),
            backend,
        }
    }

    /// Which creation on its backend this client is (1 for the first).
    pub fn generation(&self) -> usize {
        self.demo.generation
    }
}

impl Directory for RealDirectory {
    async fn echo_text(&self, text: String) -> Result<String, DirectoryError> {
        Ok(self.demo.echo(text).await)
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, DirectoryError> {
        Ok(self.demo.add(a, b).await)
    }

    async fn find(&self, key: String) -> Result<Entry, DirectoryError> {
        if key.starts_with("svc-") {
            let attributes = [("host", "127.0.0.1"), ("kind", "service")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Ok(Entry { key, attributes })
        } else {
            Err(DirectoryError::NotFound { key })
        }
    }

    async fn notes(&self) -> Result<Vec<String>, DirectoryError> {
        Ok(self.backend.wait_notes(0).await)
    }

    fn note(&self, text: String) {
        self.demo.notify(text);
    }

    fn watch(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
        self.demo.subscribe(topic)
    }

    fn unwatch(&self, _topic: Topic) {
        self.backend
            .unsubscribes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn announce(&self, publication: Publication) {
        self.demo.publish(publication);
    }

    async fn close(&self) {
        self.backend
            .clients_closed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs a fixed set of calls and returns their results as JSON (`{"Ok": ..}` or
/// `{"Err": ..}` each), so that any two ways of calling can be compared.
pub async fn script<D: Directory>(d: &D) -> Value {
    json!({
        "echo": d.echo_text("héllo, \"world\"".into()).await,
        "add": d.add(40, 2).await,
        "negative": d.add(-7, -8).await,
        "found": d.find("svc-a".into()).await,
        "missing": d.find("nope".into()).await,
    })
}
