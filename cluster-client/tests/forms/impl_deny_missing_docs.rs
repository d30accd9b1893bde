//! Every generated public item of the impl forms is documented: this compiles under
//! `deny(missing_docs)` with the handles made public.
#![deny(missing_docs)]

use cluster_client::cluster_client;

/// A metrics sink with no trait.
pub struct Sink;

#[cluster_client(vis = "pub")]
impl Sink {
    /// Reports a value.
    #[delegate(invoke_oneway)]
    pub fn report(&self, value: u64) {
        let _ = value;
    }

    /// Closes the sink.
    #[delegate(close)]
    pub async fn close(&self) {}
}

/// A trait the sink also implements.
pub trait Flush {
    /// Flushes.
    fn flush(&self, force: bool);
}

#[cluster_client(vis = "pub")]
impl Flush for Sink {
    #[delegate(invoke_oneway)]
    fn flush(&self, force: bool) {
        let _ = force;
    }
}

fn main() {}
