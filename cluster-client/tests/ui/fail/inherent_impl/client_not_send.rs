// The leader's real client is shared by tasks on several threads: a client that is not
// `Send + Sync` is reported at its type.
use std::rc::Rc;

use cluster_client::cluster_client;

pub struct Inventory {
    cache: Rc<Vec<String>>,
}

#[cluster_client]
impl Inventory {
    #[delegate(invoke_oneway)]
    pub fn record_sale(&self, _item: String) {
        let _ = &self.cache;
    }
}

fn main() {}
