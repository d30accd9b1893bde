//! The README's main command works: the quickstart example runs four workers on one backend
//! connection, survives the leader's death and exits 0.

use std::path::PathBuf;

/// The example binary cargo built next to this test (`target/<profile>/examples/quickstart`).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("quickstart{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn quickstart_shows_one_backend_connection_before_and_after_the_leader_is_killed() {
    let bin = example_binary();
    assert!(
        bin.exists(),
        "{} is missing: cargo test builds the examples",
        bin.display()
    );
    let out = std::process::Command::new(&bin).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quickstart failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .expect("a summary line");
    assert!(
        summary.contains("backend connections before the kill: 1, after failover: 1"),
        "{summary}"
    );
    assert!(
        summary.contains("subscriptions still delivering: 3/3"),
        "{summary}"
    );
    assert!(stdout.contains("killing the leader"), "{stdout}");
}
