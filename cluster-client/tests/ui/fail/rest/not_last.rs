use cluster_client::cluster_client;
use cluster_client::codec::JsValue;

#[cluster_client]
pub trait Log: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn log(&self, #[rest] parts: Vec<JsValue>, level: u8);
}

fn main() {}
