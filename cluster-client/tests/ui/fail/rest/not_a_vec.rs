use cluster_client::cluster_client;
use cluster_client::codec::JsValue;

#[cluster_client]
pub trait Log: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn log(&self, level: u8, #[rest] parts: JsValue);
}

fn main() {}
