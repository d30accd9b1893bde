//! Single-process mode: several handles in one process share one real client, with no
//! networking at all.
//!
//! ```text
//! cargo run --release --example single_mode
//! ```
//!
//! A program whose parts each create their own handle (here an HTTP layer, a job runner and a
//! metrics reporter) normally shares the real client through the loopback port. With
//! `.single_mode(true)` (or `NODE_CLUSTER_CLIENT_SINGLE_MODE=1`, as in Node) nothing is bound or
//! connected: every handle of the process leads, and they all use one real client, created once
//! by the first handle's factory and closed when the last handle closes. Useful for tests, for
//! tools that run as one process, and for hosts where only one worker runs.
//!
//! The program prints what each part gets, checks that the factory ran once and that the
//! configured port was never bound, and exits 0.
//!
//! Set `RUST_LOG=cluster_client=debug` to see the runtime's own log lines.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cluster_client::cluster_client;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A ticket dispenser: every ticket number is handed out once.
#[cluster_client(rename_all = "camelCase")]
pub trait Tickets: Send + Sync + 'static {
    /// Takes the next ticket for `who`.
    #[delegate(invoke)]
    async fn take(&self, who: String) -> Result<u64, TicketError>;

    /// How many tickets were taken: the current count, then every change.
    #[delegate(subscribe)]
    fn taken(&self, counter: String) -> impl Stream<Item = u64> + Send + 'static;

    /// Closes the dispenser.
    #[delegate(close)]
    async fn close(&self);
}

/// What taking a ticket can fail with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketError(String);

impl fmt::Display for TicketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for TicketError {
    fn from(e: cluster_client::Error) -> Self {
        TicketError(e.to_string())
    }
}

/// The real client. Its state is per instance, so if each handle had its own instance the
/// ticket numbers would repeat: they do not, which shows that the handles share one.
struct Dispenser {
    issued: watch::Sender<u64>,
    instance: usize,
}

impl Tickets for Dispenser {
    async fn take(&self, who: String) -> Result<u64, TicketError> {
        let mut number = 0;
        self.issued.send_modify(|n| {
            *n += 1;
            number = *n;
        });
        println!(
            "    [real client #{}] ticket {number} for {who}",
            self.instance
        );
        Ok(number)
    }

    fn taken(&self, _counter: String) -> impl Stream<Item = u64> + Send + 'static {
        // The current count first, then each change (a watch channel keeps only the latest).
        let mut rx = self.issued.subscribe();
        rx.mark_changed();
        futures::stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            let n = *rx.borrow_and_update();
            Some((n, rx))
        })
    }

    async fn close(&self) {
        println!("    [real client #{}] closed", self.instance);
    }
}

async fn run() -> Result<(), String> {
    // A port nobody uses, to show afterwards that single mode never bound it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let factory_calls = Arc::new(AtomicUsize::new(0));

    println!("three parts of one program each create a handle (single mode, port {port}):");
    let mut handles = Vec::new();
    for part in ["http", "jobs", "metrics"] {
        let calls = factory_calls.clone();
        let handle = TicketsCluster::builder()
            .port(port)
            .single_mode(true)
            .create(move || {
                let instance = calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    println!("    [factory] creating real client #{instance}");
                    Ok::<_, String>(Dispenser {
                        issued: watch::Sender::new(0),
                        instance,
                    })
                }
            })
            .await
            .map_err(|e| format!("{part}: {e}"))?;
        println!("  {part:<8} ready, leader: {}", handle.is_leader());
        handles.push((part, handle));
    }

    // The metrics part watches the count while the others take tickets.
    let mut taken = handles[2].1.taken("tickets".into());
    let mut numbers = Vec::new();
    println!("\neach part takes two tickets:");
    for round in 0..2 {
        for (part, handle) in &handles {
            let n = handle
                .take(format!("{part}/{round}"))
                .await
                .map_err(|e| e.to_string())?;
            println!("  {part:<8} got ticket {n}");
            numbers.push(n);
        }
    }
    let watched = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(n) = taken.next().await {
            if n == 6 {
                return Some(n);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    println!(
        "  metrics  watching \"tickets\" saw the count reach {}",
        watched.map_or("?".into(), |n| n.to_string())
    );

    // Nothing listens on the port: binding it ourselves succeeds.
    let port_free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();

    println!("\nclosing the handles one by one (the real client closes with the last):");
    for (part, handle) in &handles {
        println!("  closing {part}");
        handle.close().await;
    }

    let calls = factory_calls.load(Ordering::SeqCst);
    let distinct = {
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        sorted == (1..=6).collect::<Vec<u64>>()
    };
    println!(
        "\nsummary: {} handles, factory calls: {calls}, tickets {:?} from one real client, \
         port {port} {}",
        handles.len(),
        numbers,
        if port_free { "never bound" } else { "BOUND" }
    );
    if calls != 1 || !distinct || !port_free || watched != Some(6) {
        return Err("the handles did not share one real client without networking".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    cluster_client_suite::worker_io::init_logs();
    let outcome = tokio::time::timeout(Duration::from_secs(20), run()).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("single_mode failed: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("single_mode failed: did not finish within 20 s");
            std::process::exit(1);
        }
    }
}
