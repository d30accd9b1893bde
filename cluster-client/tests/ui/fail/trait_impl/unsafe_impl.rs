use cluster_client::cluster_client;

/// # Safety
/// Implementors promise something.
pub unsafe trait Metrics {
    fn report(&self, value: u64);
}

pub struct Real;

#[cluster_client]
unsafe impl Metrics for Real {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}
}

fn main() {}
