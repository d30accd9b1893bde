// An inherent impl with an error still yields the handle and its methods, so code that uses
// them adds no errors of its own: the user sees the one mistake.
use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {}

    #[delegate(invoke)]
    pub async fn stock_of(&self, _item: String) -> u32 {
        0
    }
}

pub async fn use_it(inventory: InventoryCluster) {
    inventory.record_sale("apple".into());
    let _stock: u32 = inventory.stock_of("apple".into()).await;
    let _leads: bool = inventory.is_leader();
}

fn main() {}
