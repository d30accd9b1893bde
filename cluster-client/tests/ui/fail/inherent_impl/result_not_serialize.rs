use cluster_client::cluster_client;

pub struct Stock {
    pub count: u32,
}

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(invoke)]
    pub async fn stock_of(&self, item: String) -> Result<Stock, cluster_client::Error> {
        let _ = item;
        Ok(Stock { count: 1 })
    }
}

fn main() {}
