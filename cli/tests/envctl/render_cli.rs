//! The render commands driven through the real `envctl` binary: list, render, profile
//! show, diff, their JSON output and their `--help` (insta snapshots).

use std::path::Path;

use crate::support::{copy_dir, normalize, repo_root as root, Envctl};

/// envctl in a fresh temp directory, pointed at the repository with --root.
fn envctl(dir: &Path) -> Envctl {
    let mut cmd = Envctl::new();
    cmd.current_dir(dir)
        .env("COLUMNS", "100")
        .arg("--root")
        .arg(root());
    // `--help` shows the values of these variables: keep the snapshots independent of them.
    for var in [
        "AWS_ENDPOINT_URL",
        "ENVCTL_REGION",
        "ENVCTL_ROOT",
        "TERRAFORM",
        "ENVCTL_RATES_BIN",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn stdout(cmd: &mut Envctl) -> String {
    cmd.succeeds().stdout
}

#[test]
fn help_texts_are_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["render", "--help"],
        &["diff", "--help"],
        &["list", "--help"],
        &["profile", "show", "--help"],
        &["bootstrap", "--help"],
        &["plan", "--help"],
        &["up", "--help"],
        &["down", "--help"],
        &["status", "--help"],
        &["rollback", "--help"],
        &["drift", "--help"],
        &["history", "--help"],
        &["logs", "--help"],
    ] {
        let text = stdout(envctl(dir.path()).args(args));
        insta::assert_snapshot!(
            format!("help_{}", args[..args.len() - 1].join("_"))
                .trim_end_matches('_')
                .to_string(),
            text
        );
    }
}

#[test]
fn list_shows_every_deployable_environment() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(envctl(dir.path()).arg("list"));
    insta::assert_snapshot!("list", text);
    let json: serde_json::Value = serde_json::from_str(&stdout(
        envctl(dir.path()).args(["list", "--output", "json"]),
    ))
    .unwrap();
    let names: Vec<&str> = json["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "local", "production", "review", "staging"]);
    assert_eq!(json["environments"][2]["database"]["multi_az"], true);
}

#[test]
fn render_writes_the_tree_into_out_or_the_default_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let json: serde_json::Value = serde_json::from_str(&stdout(
        envctl(dir.path())
            .args(["render", "staging", "--output", "json", "--out"])
            .arg(&out),
    ))
    .unwrap();
    assert_eq!(json["environment"], "staging");
    let files = json["files"].as_array().unwrap();
    assert!(files.len() > 30);
    for f in files {
        assert!(
            out.join(f.as_str().unwrap()).is_file(),
            "{f} was not written"
        );
    }
    // Same input, same bytes.
    let first = std::fs::read(out.join("terraform/main.tf")).unwrap();
    envctl(dir.path())
        .args(["render", "staging", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(first, std::fs::read(out.join("terraform/main.tf")).unwrap());

    // Without --out: .envctl/ENV/ under the project root. Use a copy of the project.
    let project = dir.path().join("project");
    for sub in ["environments", "templates", "terraform/modules"] {
        copy_dir(&root().join(sub), &project.join(sub));
    }
    Envctl::new()
        .current_dir(&project)
        .args(["render", "dev"])
        .assert()
        .success();
    assert!(project.join(".envctl/dev/manifest.json").is_file());
}

#[test]
fn profile_show_prints_the_merged_profile() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(envctl(dir.path()).args(["profile", "show", "dev"]));
    insta::assert_snapshot!("profile_show_dev", text);
    let json: serde_json::Value = serde_json::from_str(&stdout(envctl(dir.path()).args([
        "profile",
        "show",
        "production",
        "--output",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["profile"]["network"]["az_count"], 3);
    assert_eq!(
        json["sources"],
        serde_json::json!(["environments/base.yaml", "environments/production.yaml"])
    );
}

#[test]
fn diff_shows_profile_values_then_file_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(envctl(dir.path()).args(["diff", "dev", "staging"]));
    assert!(
        text.starts_with("# profile values (dev -> staging)\n"),
        "{text}"
    );
    assert!(text.contains("database.read_replicas: 0 -> 1\n"), "{text}");
    assert!(text.contains("--- dev/terraform/main.tf\n+++ staging/terraform/main.tf\n"));
    assert!(
        !text.contains("--- dev/terraform/modules/"),
        "identical module copies are not shown"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        envctl(dir.path()).args(["diff", "dev", "staging", "--output", "json"]),
    ))
    .unwrap();
    let change = json["profile"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "database.read_replicas")
        .unwrap();
    assert_eq!(
        (change["a"].as_u64(), change["b"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(json["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "k8s/40-api.yaml" && f["status"] == "changed"));
    // An environment compared with itself differs in nothing.
    let same = stdout(envctl(dir.path()).args(["diff", "dev", "dev"]));
    assert_eq!(same.matches("(no differences)").count(), 2, "{same}");
}

#[test]
fn unknown_environments_are_refused_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = envctl(dir.path()).args(["render", "prod"]).fails();
    let err = normalize(&out.stderr);
    assert!(
        err.contains("unknown environment `prod`") && err.contains("production"),
        "{err}"
    );
    // base is shared settings, not an environment.
    envctl(dir.path())
        .args(["render", "base"])
        .fails()
        .says("`base` is an abstract profile");
}
