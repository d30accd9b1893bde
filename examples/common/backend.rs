//! The demo backend: a key/value TCP server that counts its client connections, answers
//! `GET`/`WATCH`/`ANNOUNCE` lines, and changes the key `config` ten times a second.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, broadcast};

/// The backend's state, as the supervisor reads it.
pub struct Backend {
    /// Client connections open now.
    pub open: AtomicUsize,
    /// Client connections opened in all.
    pub total: AtomicUsize,
    data: Mutex<HashMap<String, String>>,
    /// The announcements received, by worker.
    pub announced: Mutex<BTreeMap<String, String>>,
    changes: broadcast::Sender<(String, String)>,
}

/// Starts the backend on a free loopback port; returns its address. It runs until the
/// program exits.
pub async fn start() -> Result<(String, Arc<Backend>), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let backend = Arc::new(Backend {
        open: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
        data: Mutex::new(HashMap::from([("greeting".into(), "hello".into())])),
        announced: Mutex::default(),
        changes: broadcast::channel(1024).0,
    });
    // Both tasks live as long as the example's process.
    tokio::spawn(serve(listener, backend.clone()));
    let b = backend.clone();
    tokio::spawn(async move {
        for n in 1u64.. {
            let v = format!("v{n}");
            b.data.lock().await.insert("config".into(), v.clone());
            let _ = b.changes.send(("config".into(), v));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok((addr, backend))
}

async fn serve(listener: TcpListener, backend: Arc<Backend>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let backend = backend.clone();
        // One task per connection, ending when the client disconnects.
        tokio::spawn(async move {
            backend.open.fetch_add(1, Ordering::SeqCst);
            backend.total.fetch_add(1, Ordering::SeqCst);
            let (read, mut write) = stream.into_split();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let writer = tokio::spawn(async move {
                while let Some(line) = rx.recv().await {
                    if write.write_all(line.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
            let mut watchers = Vec::new();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut parts = line.splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(verb @ ("GET" | "WATCH")), Some(key), None) => {
                        let value = backend.data.lock().await.get(key).cloned();
                        let _ = tx.send(value.map_or("NONE\n".into(), |v| format!("VALUE {v}\n")));
                        if verb == "WATCH" {
                            let (tx, key) = (tx.clone(), key.to_owned());
                            let mut changes = backend.changes.subscribe();
                            watchers.push(tokio::spawn(async move {
                                while let Ok((k, v)) = changes.recv().await {
                                    if k == key && tx.send(format!("CHANGED {k} {v}\n")).is_err() {
                                        break;
                                    }
                                }
                            }));
                        }
                    }
                    (Some("ANNOUNCE"), Some(worker), Some(pid)) => {
                        backend
                            .announced
                            .lock()
                            .await
                            .insert(worker.to_owned(), pid.to_owned());
                        let _ = tx.send("OK\n".into());
                    }
                    _ => {
                        let _ = tx.send("ERROR\n".into());
                    }
                }
            }
            backend.open.fetch_sub(1, Ordering::SeqCst);
            for watcher in watchers {
                watcher.abort();
            }
            writer.abort();
        });
    }
}
