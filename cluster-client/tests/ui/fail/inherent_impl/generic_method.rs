use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn record_sale<T: Into<String>>(&self, _item: T) {}
}

fn main() {}
