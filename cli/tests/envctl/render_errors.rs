//! Malformed profiles: every error names the file, the line and the key, and says what
//! is allowed. Checked on the library's error values and through the real binary.

use envctl::profile::Profile;
use envctl::Error;

use crate::support::profiles::project;
use crate::support::{normalize, repo_root as repo, Envctl};

/// Loads `bad` and returns (file name, line, key, message).
fn error_of(profiles: &[(&str, &str)]) -> (String, usize, String, String, Option<String>) {
    let dir = project(profiles);
    match Profile::load(dir.path(), "bad") {
        Err(Error::Profile {
            file,
            line,
            key,
            message,
            help,
        }) => (
            file.file_name().unwrap().to_string_lossy().into_owned(),
            line,
            key,
            message,
            help,
        ),
        other => panic!("expected a profile error, got {other:?}"),
    }
}

#[test]
fn bad_yaml_names_the_line() {
    let (file, line, key, message, _) = error_of(&[(
        "bad",
        "extends: base\nnetwork:\n  az_count: [2\n  nat: single\n",
    )]);
    assert_eq!((file.as_str(), key.as_str()), ("bad.yaml", "(syntax)"));
    assert!((3..=4).contains(&line), "line {line}");
    assert!(message.contains("not valid YAML"), "{message}");
}

#[test]
fn unknown_keys_name_the_key_and_the_allowed_ones() {
    let (file, line, key, message, help) = error_of(&[(
        "bad",
        "extends: base\ndatabase:\n  multi_az: true\n  multi_azz: true\n",
    )]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 4, "database.multi_azz")
    );
    assert!(
        message.contains("unknown field `multi_azz`") && message.contains("`multi_az`"),
        "{message}"
    );
    assert!(help.unwrap().contains("docs/profiles.md"));
}

#[test]
fn wrong_types_name_the_key() {
    let (file, line, key, message, _) = error_of(&[(
        "bad",
        "extends: base\nqueue:\n  visibility_timeout_seconds: soon\n",
    )]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 3, "queue.visibility_timeout_seconds")
    );
    assert!(message.contains("invalid type"), "{message}");
}

#[test]
fn invalid_cidrs_say_what_is_expected() {
    let (file, line, key, message, _) =
        error_of(&[("bad", "extends: base\nnetwork:\n  vpc_cidr: 10.40.0.0/33\n")]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 3, "network.vpc_cidr")
    );
    assert!(
        message.contains("not an IPv4 CIDR") && message.contains("10.40.0.0/16"),
        "{message}"
    );
}

#[test]
fn min_above_max_replicas_is_refused() {
    let text = "extends: base\nruntime:\n  api:\n    replicas:\n      min: 5\n      max: 2\n";
    let (file, line, key, message, help) = error_of(&[("bad", text)]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 5, "runtime.api.replicas.min")
    );
    assert!(
        message.contains("min (5) is greater than max (2)"),
        "{message}"
    );
    assert_eq!(help.as_deref(), Some("set min <= max"));
}

#[test]
fn unknown_instance_families_list_the_known_ones() {
    let text = "extends: base\neks:\n  node_groups:\n    - name: general\n      capacity: on_demand\n      instance_types: [zz9.large]\n      min: 1\n      desired: 1\n      max: 2\n      disk_gib: 50\n";
    let (file, line, key, message, _) = error_of(&[("bad", text)]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 6, "eks.node_groups[0].instance_types[0]")
    );
    assert!(
        message.contains("unknown instance family `zz9`") && message.contains("m6i"),
        "{message}"
    );
}

#[test]
fn multi_az_databases_need_two_zones() {
    let text = "extends: base\nnetwork:\n  az_count: 1\ndatabase:\n  multi_az: true\n";
    let (file, line, key, message, help) = error_of(&[("bad", text)]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 5, "database.multi_az")
    );
    assert!(
        message.contains("at least 2 availability zones"),
        "{message}"
    );
    assert!(help.unwrap().contains("az_count"));
}

#[test]
fn protected_environments_must_name_their_account() {
    let text = "extends: base\nprotected: true\n";
    let (file, line, key, message, help) = error_of(&[("bad", text)]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 2, "protected")
    );
    assert!(message.contains("aws.account_id"), "{message}");
    assert!(help.unwrap().contains("account_id"));
    // With the account it loads, and an unprotected profile needs none.
    let dir = project(&[
        (
            "ok",
            "extends: base\nprotected: true\naws:\n  account_id: \"123456789012\"\n",
        ),
        ("open", "extends: base\n"),
    ]);
    Profile::load(dir.path(), "ok").unwrap();
    Profile::load(dir.path(), "open").unwrap();
}

#[test]
fn cluster_admins_must_be_iam_roles_or_users() {
    let session = "extends: base\neks:\n  admin_principals:\n    - arn:aws:sts::123456789012:assumed-role/admin/me\n";
    let (file, line, key, message, _) = error_of(&[("bad", session)]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 4, "eks.admin_principals[0]")
    );
    assert!(message.contains("not an IAM role or user"), "{message}");

    let none = "extends: base\neks:\n  admin_principals: []\n";
    let (file, _, key, message, _) = error_of(&[("bad", none)]);
    assert_eq!(
        (file.as_str(), key.as_str()),
        ("bad.yaml", "eks.admin_principals")
    );
    assert!(message.contains("no cluster administrators"), "{message}");

    let good = "extends: base\neks:\n  admin_principals: [role/ci, \"arn:aws:iam::123456789012:user/ops\"]\n";
    let dir = project(&[("good", good)]);
    Profile::load(dir.path(), "good").unwrap();

    // Readers are held to the same rule, and an administrator is not listed again.
    let session = "extends: base\neks:\n  view_principals:\n    - arn:aws:sts::123456789012:assumed-role/drift/run\n";
    let (file, line, key, message, _) = error_of(&[("bad", session)]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 4, "eks.view_principals[0]")
    );
    assert!(message.contains("not an IAM role or user"), "{message}");
    let twice = "extends: base\neks:\n  view_principals: [role/envctl-github-deploy]\n";
    let (_, _, key, message, _) = error_of(&[("bad", twice)]);
    assert_eq!(key, "eks.view_principals[0]");
    assert!(message.contains("listed twice"), "{message}");
}

#[test]
fn the_region_flag_reaches_every_rendered_region() {
    let dir = project(&[("dev", "extends: base\n")]);
    std::fs::remove_dir(dir.path().join("templates")).unwrap();
    let out = dir.path().join("out");
    Envctl::new()
        .args(["--root"])
        .arg(repo())
        .args(["--region", "us-east-2", "render", "dev", "--out"])
        .arg(&out)
        .assert()
        .success();
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert!(read("terraform/versions.tf").contains("region = \"us-east-2\""));
    assert!(read("terraform/backend.tf").contains("region  = \"us-east-2\""));
    assert!(read("k8s/10-config.yaml").contains("us-east-2"));
    let everything: String = [
        "terraform/versions.tf",
        "terraform/backend.tf",
        "terraform/main.tf",
        "k8s/10-config.yaml",
        "k8s/50-worker.yaml",
    ]
    .iter()
    .map(|f| read(f))
    .collect();
    assert!(
        !everything.contains("eu-west-1"),
        "the profile's region leaked into the render"
    );

    Envctl::new()
        .args(["--root"])
        .arg(repo())
        .args(["--region", "Mars", "render", "dev", "--out"])
        .arg(&out)
        .assert()
        .failure();
}

#[test]
fn errors_in_an_inherited_value_point_at_the_file_that_set_it() {
    // `mid` sets the bad value; `bad` only extends it.
    let mid = "extends: base\nalarms:\n  datapoints_to_alarm: 9\n";
    let (file, line, key, _, _) = error_of(&[("mid", mid), ("bad", "extends: mid\n")]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("mid.yaml", 3, "alarms.datapoints_to_alarm")
    );
}

#[test]
fn broken_extends_chains_name_the_missing_profile() {
    let (file, line, key, message, help) = error_of(&[("bad", "description: x\nextends: basis\n")]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 2, "extends")
    );
    assert!(
        message.contains("extends `basis`") && message.contains("does not exist"),
        "{message}"
    );
    assert!(help.unwrap().contains("base"));
}

#[test]
fn extends_cycles_are_shown_whole() {
    let (file, line, key, message, _) =
        error_of(&[("bad", "extends: other\n"), ("other", "\nextends: bad\n")]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("other.yaml", 2, "extends")
    );
    assert!(message.contains("bad -> other -> bad"), "{message}");
}

#[test]
fn duplicate_keys_are_refused() {
    let (file, line, key, _, _) =
        error_of(&[("bad", "extends: base\nprotected: true\nprotected: false\n")]);
    assert_eq!(
        (file.as_str(), line, key.as_str()),
        ("bad.yaml", 3, "protected")
    );
}

#[test]
fn missing_keys_name_where_to_add_them() {
    let (file, _, key, message, _) = error_of(&[("bad", "target: aws\n")]);
    assert_eq!(file, "bad.yaml");
    assert_eq!(key, "aws");
    assert!(message.contains("missing field `aws`"), "{message}");
}

#[test]
fn the_binary_exits_non_zero_with_file_line_and_key() {
    let dir = project(&[("bad", "extends: base\nnetwork:\n  vpc_cidr: 10.40.1.0/16\n")]);
    let out = Envctl::new()
        .current_dir(dir.path())
        .args(["render", "bad"])
        .fails();
    // The diagnostic may be wrapped to the terminal's width: compare it flattened.
    let flat = normalize(&out.stderr);
    assert!(
        flat.contains("environments/bad.yaml:3: `network.vpc_cidr`"),
        "{flat}"
    );
    assert!(flat.contains("did you mean `10.40.0.0/16`?"), "{flat}");
    assert!(
        !dir.path().join(".envctl").exists(),
        "nothing is written when the profile is invalid"
    );
}
