use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
    fn reset_all(scope: String);
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}

    #[delegate(invoke_oneway)]
    fn reset_all(_scope: String) {}
}

fn main() {}
