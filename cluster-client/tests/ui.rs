//! Compile-time behaviour of `#[cluster_client]`: every misuse is one file under
//! `tests/ui/fail/<group>/` with the expected compiler output beside it, and the forms that
//! must compile (and run) are under `tests/ui/pass/`.
//!
//! After a deliberate change to a message, regenerate the snapshots with
//! `TRYBUILD=overwrite cargo test -p cluster-client --test ui`, then read every changed
//! `.stderr`: each should point at the user's token and say what to write instead.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/**/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
