// `name` on the trait sets the channel; `rename_all` and `name` on a method set wire names.
use cluster_client::{Service, cluster_client};

#[cluster_client(name = "RegistryClient", rename_all = "camelCase")]
pub trait Registry: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn report_stat(&self, stat: u64);
    #[delegate(invoke_oneway, name = "flush_all")]
    fn flush(&self);
    #[delegate(publish)]
    fn publish_address(&self, address: String);
}

pub struct Real;

impl Registry for Real {
    fn report_stat(&self, _stat: u64) {}
    fn flush(&self) {}
    fn publish_address(&self, _address: String) {}
}

pub fn main() {
    let service = RegistryService::<Real>::new();
    assert_eq!(service.channel_name(), "RegistryClient");
    assert_eq!(service.publish_method(), Some("publishAddress"));
}
