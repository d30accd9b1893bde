// One method kept local, and the trait requires it: rustc points at it.
use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
    fn flush(&self);
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}

    fn flush(&self) {}
}

fn main() {}
