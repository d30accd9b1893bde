use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(invoke)]
    pub async fn stock_of(&self, _item: String) -> u32 {
        0
    }
}

fn main() {}
