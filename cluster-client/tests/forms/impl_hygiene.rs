// The expansion of both impl forms names nothing from the prelude and works with the runtime
// imported under another name, and with the `crate = ".."` override.
#![no_implicit_prelude]

extern crate cluster_client as shared_client;
extern crate std;

/// A trait from "elsewhere", written without the prelude.
pub trait Metrics {
    fn report(&self, value: u64);
    fn total(
        &self,
        name: ::std::string::String,
    ) -> impl ::std::future::Future<Output = ::std::result::Result<u64, Failure>> + ::std::marker::Send;
}

mod inherent {
    pub struct Counter;

    #[::shared_client::cluster_client(vis = "pub")]
    impl Counter {
        #[delegate(invoke_oneway)]
        pub fn report(&self, value: u64) {
            let _ = value;
        }

        #[delegate(invoke)]
        pub async fn total(
            &self,
            name: ::std::string::String,
        ) -> ::std::result::Result<u64, super::Failure> {
            ::std::result::Result::Ok(name.len() as u64)
        }

        #[delegate(subscribe)]
        pub fn watch(
            &self,
            name: ::std::string::String,
        ) -> impl ::shared_client::__private::Stream<Item = u64> + ::std::marker::Send + 'static
        {
            let _ = name;
            ::shared_client::__private::stub_stream::<u64>()
        }

        #[delegate(close)]
        pub async fn close(&self) {}
    }
}

mod overridden {
    use ::shared_client::cluster_client as shared;

    pub struct Real;

    #[shared(crate = "::shared_client", vis = "pub")]
    impl super::Metrics for Real {
        #[delegate(invoke_oneway)]
        fn report(&self, value: u64) {
            let _ = value;
        }

        #[delegate(invoke)]
        async fn total(
            &self,
            name: ::std::string::String,
        ) -> ::std::result::Result<u64, super::Failure> {
            ::std::result::Result::Ok(name.len() as u64)
        }
    }

    pub fn use_it(handle: &MetricsCluster) -> bool {
        use super::Metrics as _;
        handle.report(1);
        handle.is_leader()
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

pub fn use_them(a: &inherent::CounterCluster, b: &overridden::MetricsCluster) -> bool {
    a.report(1);
    a.is_leader() && overridden::use_it(b)
}

fn main() {}
