// The expansion names nothing from the prelude and works with the runtime imported under
// another name, and with the `crate = ".."` override.
#![no_implicit_prelude]

extern crate cluster_client as shared_client;
extern crate std;

mod plain {
    #[::shared_client::cluster_client]
    pub trait Metrics: ::std::marker::Send + ::std::marker::Sync + 'static {
        #[delegate(invoke_oneway)]
        fn report(&self, value: u64);

        #[delegate(invoke)]
        async fn total(
            &self,
            name: ::std::string::String,
        ) -> ::std::result::Result<u64, super::Failure>;

        #[delegate(subscribe)]
        fn watch(
            &self,
            name: ::std::string::String,
        ) -> impl ::shared_client::__private::Stream<Item = u64> + ::std::marker::Send + 'static;

        #[delegate(close)]
        async fn close(&self);
    }
}

mod overridden {
    use ::shared_client::cluster_client as shared;

    #[shared(crate = "::shared_client")]
    pub trait Metrics: ::std::marker::Send + ::std::marker::Sync + 'static {
        #[delegate(invoke_oneway)]
        fn report(&self, value: u64);
    }
}

/// An error type written without the prelude.
#[derive(::std::fmt::Debug)]
pub struct Failure;

impl ::std::fmt::Display for Failure {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str("failure")
    }
}

impl ::std::convert::From<::shared_client::Error> for Failure {
    fn from(_: ::shared_client::Error) -> Self {
        Failure
    }
}

impl ::serde::Serialize for Failure {
    fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> ::serde::Deserialize<'de> for Failure {
    fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
        <() as ::serde::Deserialize>::deserialize(d)?;
        ::std::result::Result::Ok(Failure)
    }
}

/// Uses the handles generically (its methods, through the traits).
pub fn use_them<A: plain::Metrics, B: overridden::Metrics>(
    a: &plain::MetricsCluster<A>,
    b: &overridden::MetricsCluster<B>,
) -> bool {
    use overridden::Metrics as _;
    use plain::Metrics as _;
    a.report(1);
    b.report(2);
    a.is_leader() && b.is_leader()
}

fn main() {}
