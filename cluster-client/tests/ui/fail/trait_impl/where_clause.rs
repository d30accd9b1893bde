use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
}

pub struct Real;

#[cluster_client]
impl Metrics for Real
where
    Real: Send,
{
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}
}

fn main() {}
