use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
    fn flush(&self);
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    fn report(&self, _value: u64) {}
    fn flush(&self) {}
}

fn main() {}
