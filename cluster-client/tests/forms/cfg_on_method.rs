// A `#[cfg]` on a method applies to everything generated for it.
use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn report(&self, value: u64);

    #[cfg(any())]
    #[delegate(invoke_oneway)]
    fn never_compiled(&self, value: NoSuchType);

    #[cfg(not(any()))]
    #[delegate(invoke_oneway)]
    fn always_compiled(&self, value: u64);
}

pub struct Real;

impl Metrics for Real {
    fn report(&self, _value: u64) {}
    fn always_compiled(&self, _value: u64) {}
}

pub fn use_it(metrics: &MetricsCluster<Real>) {
    metrics.report(1);
    metrics.always_compiled(2);
}

pub fn main() {}
