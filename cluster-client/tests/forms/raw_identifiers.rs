// Raw identifiers as trait, method and argument names.
use cluster_client::cluster_client;

#[cluster_client]
pub trait r#Trait: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn r#type(&self, r#struct: String);
    #[delegate(invoke_oneway)]
    fn r#match(&self, r#in: u8, r#ref: u8);
}

pub struct Real;

impl r#Trait for Real {
    fn r#type(&self, _struct: String) {}
    fn r#match(&self, _in: u8, _ref: u8) {}
}

pub fn use_it(handle: &TraitCluster<Real>) {
    handle.r#type("x".into());
    handle.r#match(1, 2);
}

pub fn main() {}
