//! What `envctl up|status|logs local` say when something is missing or in the way:
//! PostgreSQL not installed, a configured port taken, a wrong --rates-bin, nothing started.

mod local_support;

use local_support::{rates_bin, Project};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn missing_postgres_is_named_with_the_install_command_and_needs_consent() {
    let project = Project::new();
    let empty = tempfile::tempdir().unwrap();
    // Without --yes and without a terminal, envctl must not install anything.
    let output = assert_cmd::Command::cargo_bin("envctl")
        .unwrap()
        .args([
            "--root",
            project.root().to_str().unwrap(),
            "up",
            "local",
            "--rates-bin",
        ])
        .arg(rates_bin())
        .env("PG_BIN_DIR", empty.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
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
        let output = project.up(&[flag, &port, "--no-demo-data"]);
        assert!(!output.status.success(), "{flag} {port} in use must fail");
        let err = stderr(&output);
        assert!(
            err.contains(&format!("port {port} ({flag}) is already in use")),
            "{err}"
        );
        assert!(
            project.runtime_processes().is_empty(),
            "nothing left running"
        );
    }
    let down = project.envctl(&["down", "local"]).output().unwrap();
    assert!(down.status.success());
}

#[test]
fn a_missing_rates_binary_is_named() {
    let project = Project::new();
    let output = project
        .envctl(&["up", "local", "--rates-bin", "/nonexistent/rates"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("/nonexistent/rates"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn status_and_logs_of_an_environment_never_started() {
    let project = Project::new();
    let status = project.envctl(&["status", "local"]).output().unwrap();
    assert_eq!(status.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&status.stdout).contains("not started"));
    let logs = project.envctl(&["logs", "local", "api"]).output().unwrap();
    assert!(!logs.status.success());
    assert!(
        stderr(&logs).contains("envctl up local"),
        "{}",
        stderr(&logs)
    );
    let down = project.envctl(&["down", "local"]).output().unwrap();
    assert!(
        down.status.success(),
        "down of nothing is fine: {}",
        stderr(&down)
    );
}
