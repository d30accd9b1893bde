use cluster_client::cluster_client;

pub struct Inventory {
    sold: u32,
}

#[cluster_client]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn record_sale(&mut self, _item: String) {
        self.sold += 1;
    }
}

fn main() {}
