use cluster_client::cluster_client;

pub struct Inventory<T>(T);

#[cluster_client]
impl<T: Send + Sync + 'static> Inventory<T> {
    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {}
}

fn main() {}
