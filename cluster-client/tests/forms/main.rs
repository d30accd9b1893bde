//! Forms of `#[cluster_client]` that must compile and run, one module each. The forms that
//! need crate attributes of their own (`no_implicit_prelude`, `deny(missing_docs)`) are the
//! `form_*` test targets in `Cargo.toml`.

// A form declares items to show that they compile; not every one is called.
#![allow(dead_code)]

mod all_kinds;
mod cfg_on_method;
mod inherent_impl;
mod raw_identifiers;
mod renames;
mod rest_and_many_arguments;
mod trait_impl_from_another_module;
mod two_impls_of_one_trait;

#[test]
fn all_kinds() {
    all_kinds::main();
}

#[test]
fn cfg_on_method() {
    cfg_on_method::main();
}

#[test]
fn inherent_impl() {
    inherent_impl::main();
}

#[test]
fn raw_identifiers() {
    raw_identifiers::main();
}

#[test]
fn renames() {
    renames::main();
}

#[test]
fn rest_and_many_arguments() {
    rest_and_many_arguments::main();
}

#[test]
fn trait_impl_from_another_module() {
    trait_impl_from_another_module::main();
}

#[test]
fn two_impls_of_one_trait() {
    two_impls_of_one_trait::main();
}
