//! One TCP connection to the demo backend, speaking its line protocol: `GET key`, `WATCH key`
//! (answered with the current value, then `CHANGED key value` pushes), `ANNOUNCE worker pid`.
//! Only a leader's real client has one.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, broadcast, oneshot};

use super::{Announcement, KvError};

/// The connection: requests are answered in order; changes are pushed to every watcher.
pub struct Connection {
    conn: Arc<Conn>,
    changes: broadcast::Sender<(String, String)>,
}

struct Conn {
    writer: Mutex<tokio::net::tcp::OwnedWriteHalf>,
    waiting: Arc<Mutex<VecDeque<oneshot::Sender<String>>>>,
}

impl Conn {
    async fn request(self: Arc<Self>, line: String) -> Result<String, KvError> {
        let (tx, rx) = oneshot::channel();
        {
            // Queue the waiter and write under one lock so answers match requests.
            let mut writer = self.writer.lock().await;
            self.waiting.lock().await.push_back(tx);
            writer
                .write_all(line.as_bytes())
                .await
                .map_err(|e| KvError::Backend(e.to_string()))?;
        }
        rx.await
            .map_err(|_| KvError::Backend("connection lost".into()))
    }
}

impl Connection {
    /// Connects to the backend at `addr`.
    pub async fn connect(addr: String) -> Result<Self, String> {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (read, writer) = stream.into_split();
        let waiting: Arc<Mutex<VecDeque<oneshot::Sender<String>>>> = Arc::default();
        let (changes, _) = broadcast::channel(1024);
        let (w, c) = (waiting.clone(), changes.clone());
        // The reader ends when the backend closes the connection (after `close`).
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("CHANGED ") {
                    if let Some((k, v)) = rest.split_once(' ') {
                        let _ = c.send((k.to_owned(), v.to_owned()));
                    }
                } else if let Some(tx) = w.lock().await.pop_front() {
                    let _ = tx.send(line);
                }
            }
        });
        Ok(Self {
            conn: Arc::new(Conn {
                writer: Mutex::new(writer),
                waiting,
            }),
            changes,
        })
    }

    fn request(
        &self,
        line: String,
    ) -> impl Future<Output = Result<String, KvError>> + Send + 'static {
        self.conn.clone().request(line)
    }

    /// Reads a key.
    pub fn get(
        &self,
        key: String,
    ) -> impl Future<Output = Result<Option<String>, KvError>> + Send + 'static {
        let answer = self.request(format!("GET {key}\n"));
        async move { Ok(answer.await?.strip_prefix("VALUE ").map(str::to_owned)) }
    }

    /// Values of a key: the current one, then every change.
    pub fn watch(&self, key: String) -> impl Stream<Item = String> + Send + 'static {
        let rx = self.changes.subscribe();
        let request = format!("WATCH {key}\n");
        let stream = futures::stream::unfold(rx, move |mut rx| {
            let key = key.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok((k, v)) if k == key => return Some((v, rx)),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        // The backend answers WATCH with the current value, then pushes every change.
        let this_request = self.request(request);
        let first = futures::stream::once(async move { this_request.await.ok() }).filter_map(
            |a| async move { a.and_then(|a| a.strip_prefix("VALUE ").map(str::to_owned)) },
        );
        first.chain(stream).boxed()
    }

    /// Tells the backend a worker is up.
    pub fn announce(&self, worker: Announcement) {
        let line = format!("ANNOUNCE {} {}\n", worker.worker, worker.pid);
        let fut = self.request(line);
        // Ends with the answer, or when the connection closes.
        tokio::spawn(async move {
            let _ = fut.await;
        });
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.conn.writer.lock().await.shutdown().await;
    }
}
