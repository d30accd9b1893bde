// `vis` widens the generated items, but a public handle cannot serve a private client type:
// rustc names the type and where it is declared.
use cluster_client::cluster_client;

struct Inventory;

#[cluster_client(vis = "pub")]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {}
}

fn main() {}
