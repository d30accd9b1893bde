use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
    fn flush(&self);
}

macro_rules! flush_method {
    () => {
        fn flush(&self) {}
    };
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}

    flush_method!();
}

fn main() {}
