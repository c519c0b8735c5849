//! What `envctl up|status|logs local` say when something is missing or in the way:
//! PostgreSQL not installed, a configured port taken, a wrong --rates-bin, nothing started.

use crate::support::local::{rates_bin, Project};
use crate::support::Envctl;

#[test]
fn missing_postgres_is_named_with_the_install_command_and_needs_consent() {
    let project = Project::new();
    let empty = tempfile::tempdir().unwrap();
    // Without --yes and without a terminal, envctl must not install anything.
    let output = Envctl::new()
        .args([
            "--root",
            project.root().to_str().unwrap(),
            "up",
            "local",
            "--rates-bin",
        ])
        .arg(rates_bin())
        .env("PG_BIN_DIR", empty.path())
        .fails();
    let err = &output.stderr;
    assert!(
        err.contains("PostgreSQL server binaries are missing"),
        "{err}"
    );
    assert!(
        err.contains("install") && err.contains("postgresql"),
        "names the install command: {err}"
    );
    assert!(
        err.contains("--yes"),
        "says how to agree without a terminal: {err}"
    );
    assert!(
        !project.local_dir().join("pg").exists(),
        "nothing was started"
    );
}

#[test]
fn a_configured_port_in_use_is_named() {
    let project = Project::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for flag in ["--api-port", "--db-port"] {
        let output = project.up(&[flag, &port, "--no-demo-data"]).run();
        assert!(output.code != 0, "{flag} {port} in use must fail");
        let err = &output.stderr;
        assert!(
            err.contains(&format!("port {port} ({flag}) is already in use")),
            "{err}"
        );
        assert!(
            project.runtime_processes().is_empty(),
            "nothing left running"
        );
    }
    project.envctl(&["down", "local"]).succeeds();
}

#[test]
fn a_missing_rates_binary_is_named() {
    let project = Project::new();
    let output = project
        .envctl(&["up", "local", "--rates-bin", "/nonexistent/rates"])
        .fails();
    assert!(
        output.stderr.contains("/nonexistent/rates"),
        "{}",
        output.stderr
    );
}

#[test]
fn status_and_logs_of_an_environment_never_started() {
    let project = Project::new();
    let status = project.envctl(&["status", "local"]).exits(3);
    assert!(status.stdout.contains("not started"));
    let logs = project.envctl(&["logs", "local", "api"]).fails();
    assert!(logs.stderr.contains("envctl up local"), "{}", logs.stderr);
    // Down of nothing is fine.
    project.envctl(&["down", "local"]).succeeds();
}
