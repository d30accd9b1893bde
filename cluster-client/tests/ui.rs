//! Compile-time behaviour of `#[cluster_client]`: every misuse is one file under
//! `tests/ui/fail/<group>/` with the expected compiler output beside it.
//!
//! After a deliberate change to a message, regenerate the snapshots with
//! `TRYBUILD=overwrite cargo test -p cluster-client --test ui`, then read every changed
//! `.stderr`: each should point at the user's token and say what to write instead.
//!
//! The forms that must compile and run are test targets of their own (`tests/forms/`, the
//! `form_*` targets in `Cargo.toml`): built with the rest of the tests, so this suite only
//! type-checks (trybuild switches to `cargo check` when it has no passing cases to run).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/**/*.rs");
}
