//! Running `envctl up local` twice leaves one set of processes and loads the demo data once.

mod local_support;

use std::time::Duration;

use local_support::{gone_within, Http, Project};

#[test]
fn up_twice_keeps_one_set_of_processes_and_one_demo_batch() {
    let project = Project::new();
    let http = Http::new();

    let first = project.up(&[]);
    assert!(
        first.status.success(),
        "first up: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let pids = project.pids();
    let processes = project.runtime_processes();
    let roles: Vec<&str> = processes.iter().map(|(_, role)| role.as_str()).collect();
    assert_eq!(
        roles.iter().filter(|r| **r == "serve").count(),
        1,
        "{processes:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| **r == "work").count(),
        1,
        "the local profile's one worker: {processes:?}"
    );
    let demo = project.state()["demo_batch"]["id"].clone();

    let second = project.up(&[]);
    assert!(
        second.status.success(),
        "second up: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("already running"),
        "the second run says it kept the processes: {stderr}"
    );
    assert_eq!(
        project.pids(),
        pids,
        "same api, worker and database processes"
    );
    assert_eq!(
        project.runtime_processes(),
        processes,
        "no second set started"
    );
    assert_eq!(
        project.state()["demo_batch"]["id"],
        demo,
        "the same demo batch (same Idempotency-Key)"
    );
    let (code, list) = http.get(&format!("{}/batches?limit=50", project.api_url()));
    assert_eq!(code, 200, "{list}");
    assert_eq!(
        list["batches"].as_array().unwrap().len(),
        1,
        "the demo data was loaded once: {list}"
    );

    // A different worker count converges to it rather than adding a second set.
    let third = project.up(&["--workers", "2", "--no-demo-data"]);
    assert!(
        third.status.success(),
        "third up: {}",
        String::from_utf8_lossy(&third.stderr)
    );
    let roles: Vec<String> = project
        .runtime_processes()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "serve").count(),
        1,
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| *r == "work").count(),
        2,
        "{roles:?}"
    );
    let after = project.pids();
    assert_eq!(after["api"], pids["api"], "the api was kept");
    assert_eq!(after["worker-1"], pids["worker-1"], "worker-1 was kept");

    let all = project.pids();
    let down = project.envctl(&["down", "local"]).output().unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    for (name, pid) in all {
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "{name} (pid {pid}) still runs"
        );
    }
    assert!(project.runtime_processes().is_empty());
}
