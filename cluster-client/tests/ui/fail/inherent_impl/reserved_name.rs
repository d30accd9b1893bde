use cluster_client::cluster_client;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn is_leader(&self, _value: u64) {}
}

fn main() {}
