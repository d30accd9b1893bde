// A client with no trait: #[cluster_client] on its inherent impl generates `InventoryCluster`
// with the delegated methods (all six kinds). Methods without #[delegate] stay on the real
// client only.
use cluster_client::cluster_client;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct InventoryError(String);

impl std::fmt::Display for InventoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for InventoryError {
    fn from(e: cluster_client::Error) -> Self {
        InventoryError(e.to_string())
    }
}

pub struct Inventory {
    stock: u32,
}

#[cluster_client(rename_all = "camelCase")]
impl Inventory {
    /// Not shared: an associated function.
    pub fn connect(stock: u32) -> Self {
        Inventory { stock }
    }

    /// Not shared: the handle has no `describe`.
    pub fn describe(&self) -> String {
        format!("{} in stock", self.stock)
    }

    #[delegate(invoke)]
    pub async fn stock_of(&self, item: String, mut extra: u32) -> Result<u32, InventoryError> {
        extra += self.stock;
        if item.is_empty() {
            return Err(InventoryError("no item".into()));
        }
        Ok(extra)
    }

    // The `impl Future` form is what this case checks.
    #[allow(clippy::manual_async_fn)]
    #[delegate(invoke)]
    pub fn ping(&self) -> impl std::future::Future<Output = Result<(), InventoryError>> + Send {
        async { Ok(()) }
    }

    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {}

    #[delegate(subscribe)]
    pub fn watch(&self, item: String) -> impl Stream<Item = Vec<String>> + Send + 'static {
        futures::stream::iter(vec![vec![item]])
    }

    #[delegate(unsubscribe)]
    pub fn unwatch(&self, _item: String) {}

    #[delegate(publish)]
    pub fn restock(&self, _item: String) {}

    #[delegate(close)]
    pub async fn close(&self) {}
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main]
pub async fn main() {
    let real = Inventory::connect(3);
    assert_eq!(real.describe(), "3 in stock");
    let inventory: InventoryCluster = InventoryCluster::builder()
        .single_mode(true)
        .create(|| async { Ok::<_, String>(Inventory::connect(3)) })
        .await
        .unwrap();
    assert!(inventory.is_leader());
    assert_eq!(
        assert_send(inventory.stock_of("apple".into(), 2)).await,
        Ok(5)
    );
    assert_eq!(
        inventory.stock_of(String::new(), 2).await,
        Err(InventoryError("no item".into()))
    );
    inventory.ping().await.unwrap();
    inventory.record_sale("apple".into());
    let mut values = assert_send(inventory.watch("apple".into()));
    assert_eq!(values.next().await, Some(vec!["apple".to_owned()]));
    inventory.unwatch("apple".into());
    inventory.restock("pear".into());
    let _copy = inventory.clone();
    inventory.close().await;
}
