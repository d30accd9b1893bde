use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    pub fn connect() -> Self {
        Inventory
    }

    pub fn record_sale(&self, _item: String) {}
}

fn main() {}
