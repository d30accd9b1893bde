//! Every example in the README's list runs on its own and exits 0, telling the story it
//! promises (one characteristic line each). The quickstart has its own test
//! (`tests/quickstart.rs`).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The example binary cargo built next to this test (`target/<profile>/examples/NAME`).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs an example to completion (killed after `limit`) and returns its stdout; panics with
/// both outputs unless it exits 0.
fn run_example(name: &str, limit: Duration) -> String {
    run_example_with(name, &[], limit)
}

/// [`run_example`] with command-line arguments.
fn run_example_with(name: &str, args: &[&str], limit: Duration) -> String {
    let bin = example_binary(name);
    assert!(
        bin.exists(),
        "{} is missing: cargo test builds the examples",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a chatty example never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!("example {name} failed: {s}\n{stdout}\n{stderr}"),
        None => panic!("example {name} did not finish within {limit:?}\n{stdout}\n{stderr}"),
    }
}

fn summary(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("a summary line in:\n{stdout}"))
}

#[test]
fn inherent_client_shares_one_backend_connection_across_a_leader_kill() {
    let stdout = run_example("inherent_client", Duration::from_secs(60));
    let summary = summary(&stdout);
    assert!(
        summary.contains("backend connections before the kill: 1, after failover: 1"),
        "{summary}"
    );
    assert!(
        summary.contains("subscriptions still delivering: 3/3"),
        "{summary}"
    );
    assert!(summary.contains("workers announced: 4"), "{summary}");
    assert!(stdout.contains("killing the leader"), "{stdout}");
}

#[test]
fn status_shows_the_fleet_and_the_leader_that_takes_over_after_a_kill() {
    let stdout = run_example_with("status", &["--seconds", "4"], Duration::from_secs(60));
    let summary = summary(&stdout);
    assert!(summary.contains("leaders seen: 2"), "{summary}\n{stdout}");
    assert!(
        summary.contains("most followers one leader served: 2"),
        "{summary}\n{stdout}"
    );
    assert!(summary.contains("workers reporting: 3"), "{summary}");
    assert!(stdout.contains("killing the leader"), "{stdout}");
    assert!(stdout.contains("leading"), "{stdout}");
    assert!(stdout.contains("following"), "{stdout}");
}

#[test]
fn api_client_serves_reads_from_the_cache_and_keeps_it_fresh() {
    let stdout = run_example("api_client", Duration::from_secs(60));
    let summary = summary(&stdout);
    assert!(
        summary.contains("10 reads, 7 from the cache, 3 fetched"),
        "{summary}"
    );
    assert!(summary.contains("1 connection"), "{summary}");
    assert!(
        summary.contains("both processes read \"postgres://db-2\" with no new fetch"),
        "{summary}"
    );
}

#[test]
fn pubsub_reaches_every_subscriber_and_the_late_one_but_not_the_unsubscribed() {
    let stdout = run_example("pubsub", Duration::from_secs(60));
    let summary = summary(&stdout);
    assert!(
        summary.contains("\"hello\" reached 4/4 workers"),
        "{summary}"
    );
    assert!(
        summary.contains("\"world\" reached 3/3 remaining subscribers"),
        "{summary}"
    );
    assert!(
        summary.contains("the unsubscribed worker received it 0 times"),
        "{summary}"
    );
}

#[test]
fn fixed_roles_followers_wait_a_second_leader_is_refused_and_they_recover() {
    let stdout = run_example("fixed_roles", Duration::from_secs(60));
    let summary = summary(&stdout);
    assert!(
        summary.contains("apps waited for the agent: true"),
        "{summary}"
    );
    assert!(
        summary.contains("second is_leader(true) process: PortOccupied"),
        "{summary}"
    );
    assert!(summary.ends_with(": true"), "{summary}");
    assert!(stdout.contains("ERR_CLUSTER_PORT_OCCUPIED"), "{stdout}");
}

#[test]
fn single_mode_handles_share_one_real_client_without_networking() {
    let stdout = run_example("single_mode", Duration::from_secs(60));
    let summary = summary(&stdout);
    assert!(summary.contains("factory calls: 1"), "{summary}");
    assert!(summary.contains("[1, 2, 3, 4, 5, 6]"), "{summary}");
    assert!(summary.ends_with("never bound"), "{summary}");
}

#[test]
fn node_interop_crosses_both_ways_or_is_skipped_without_node() {
    // A first run may install the Node fixture with `npm ci`.
    let stdout = run_example("node_interop", Duration::from_secs(240));
    if stdout.lines().any(|l| l.starts_with("skipped:")) {
        println!("{stdout}");
        return;
    }
    let summary = summary(&stdout);
    assert!(
        summary.contains("Rust follower of a Node leader: 6/6 checks"),
        "{summary}"
    );
    assert!(
        summary.contains("Node follower of a Rust leader: 3/3 checks"),
        "{summary}"
    );
}
