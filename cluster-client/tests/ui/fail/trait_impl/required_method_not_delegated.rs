// The trait requires `flush` and the impl keeps it local: the handle cannot have it, so rustc
// reports it missing, pointing at the method to delegate.
use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
    fn flush(&self);
    fn describe(&self) -> String {
        "metrics".into()
    }
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}

    fn flush(&self) {}

    fn describe(&self) -> String {
        "real".into()
    }
}

fn main() {}
