//! Running `envctl up local` twice leaves one set of processes and loads the demo data once.

use std::time::Duration;

use crate::support::local::{gone_within, Http, Project};

#[test]
fn up_twice_keeps_one_set_of_processes_and_one_demo_batch() {
    let project = Project::new();
    let http = Http::new(&project);

    project.up(&[]).succeeds();
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

    let second = project.up(&[]).succeeds();
    let stderr = &second.stderr;
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
    project.up(&["--workers", "2", "--no-demo-data"]).succeeds();
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
    project.envctl(&["down", "local"]).succeeds();
    for (name, pid) in all {
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "{name} (pid {pid}) still runs"
        );
    }
    assert!(project.runtime_processes().is_empty());
}
