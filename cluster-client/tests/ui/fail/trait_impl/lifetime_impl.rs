use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
}

pub struct Client<'a>(&'a str);

#[cluster_client]
impl<'a> Metrics for Client<'a> {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}
}

fn main() {}
