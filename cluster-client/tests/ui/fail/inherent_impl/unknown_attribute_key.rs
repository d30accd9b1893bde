use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client(visibility = "pub")]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {}
}

fn main() {}
