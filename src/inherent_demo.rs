//! A client with no trait: a struct with inherent methods, shared by putting
//! `#[cluster_client]` on its `impl` block. The generated `InventoryCluster` has the same
//! delegated methods; `connect` and `generation` stay on the real client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cluster_client::cluster_client;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::demo::{Backend, Demo, Publication, Topic};

/// What an inventory call fails with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InventoryError {
    /// The item is not sold here.
    UnknownItem(String),
    /// The order asks for more than the stock.
    OutOfStock {
        /// The item ordered.
        item: String,
        /// How many are left.
        left: u32,
    },
    /// The call itself failed (timeout, lost leader, ...).
    Cluster(String),
}

impl std::fmt::Display for InventoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InventoryError::UnknownItem(item) => write!(f, "no such item {item:?}"),
            InventoryError::OutOfStock { item, left } => write!(f, "only {left} {item} left"),
            InventoryError::Cluster(code) => write!(f, "cluster failure {code}"),
        }
    }
}

impl std::error::Error for InventoryError {}

impl From<cluster_client::Error> for InventoryError {
    fn from(e: cluster_client::Error) -> Self {
        InventoryError::Cluster(e.code().to_owned())
    }
}

/// The real client: an inventory over the demo backend.
pub struct Inventory {
    demo: Demo,
    backend: Arc<Backend>,
    /// Stock and unit price (cents) per item.
    catalog: BTreeMap<String, (u32, u64)>,
}

#[cluster_client(vis = "pub", rename_all = "camelCase")]
impl Inventory {
    /// Connects a new real client to `backend` (not shared: an associated function).
    pub fn connect(backend: Arc<Backend>) -> Self {
        let catalog = [("apple", (12, 40)), ("pear", (0, 55)), ("plum", (3, 25))]
            .into_iter()
            .map(|(item, entry)| (item.to_owned(), entry))
            .collect();
        Self {
            demo: Demo::connect(backend.clone()),
            backend,
            catalog,
        }
    }

    /// Which creation on its backend this client is (not shared: kept on the real client).
    pub fn generation(&self) -> usize {
        self.demo.generation
    }

    /// How many of an item are in stock.
    #[delegate(invoke)]
    pub async fn stock_of(&self, item: String) -> Result<u32, InventoryError> {
        match self.catalog.get(&item) {
            Some((stock, _)) => Ok(*stock),
            None => Err(InventoryError::UnknownItem(item)),
        }
    }

    /// The price of an order, in cents.
    #[delegate(invoke)]
    pub async fn quote(&self, item: String, mut count: u32) -> Result<u64, InventoryError> {
        let Some((stock, price)) = self.catalog.get(&item) else {
            return Err(InventoryError::UnknownItem(item));
        };
        if count > *stock {
            return Err(InventoryError::OutOfStock { item, left: *stock });
        }
        // A dozen costs eleven.
        if count >= 12 {
            count -= count / 12;
        }
        Ok(u64::from(count) * price)
    }

    /// Records a sale (nobody waits for it).
    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, item: String) {
        self.demo.notify(item);
    }

    /// Stock announcements of a topic: the current ones, then every change.
    #[delegate(subscribe)]
    pub fn watch(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
        self.demo.subscribe(topic)
    }

    /// Stops watching a topic.
    #[delegate(unsubscribe)]
    pub fn unwatch(&self, _topic: Topic) {
        self.backend.unsubscribes.fetch_add(1, Ordering::SeqCst);
    }

    /// Announces a delivery (re-sent to every new leader).
    #[delegate(publish)]
    pub fn announce(&self, delivery: Publication) {
        self.demo.publish(delivery);
    }

    /// Closes the client.
    #[delegate(close)]
    pub async fn close(&self) {
        self.backend.clients_closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The same calls on the real client and on the handle (they share method names, not a type).
macro_rules! calls {
    ($inventory:expr) => {{
        let inventory = $inventory;
        json!({
            "apple": inventory.stock_of("apple".into()).await,
            "durian": inventory.stock_of("durian".into()).await,
            "dozen": inventory.quote("apple".into(), 12).await,
            "too_many": inventory.quote("plum".into(), 4).await,
            "sold_out": inventory.quote("pear".into(), 1).await,
        })
    }};
}

/// Runs a fixed set of calls on the real client, directly, and returns their results as JSON.
pub async fn direct_script(inventory: &Inventory) -> Value {
    calls!(inventory)
}

/// Runs the same calls through the handle.
pub async fn script(inventory: &InventoryCluster) -> Value {
    calls!(inventory)
}
