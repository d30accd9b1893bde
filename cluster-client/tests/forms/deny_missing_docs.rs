//! Every generated public item is documented: this compiles under `deny(missing_docs)`.
#![deny(missing_docs)]

use cluster_client::cluster_client;

/// Metrics sink.
#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    /// Reports a value.
    #[delegate(invoke_oneway)]
    fn report(&self, value: u64);

    /// Closes the sink.
    #[delegate(close)]
    async fn close(&self);
}

fn main() {}
