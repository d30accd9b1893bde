use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(invoke)]
    pub async fn connect(_address: String) -> Result<Inventory, String> {
        Ok(Inventory)
    }

    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {}
}

fn main() {}
