//! `envctl review ... --help`: the help texts are part of the interface (insta snapshots).

use assert_cmd::Command;

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("envctl")
        .unwrap()
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        // Help shows the values of flags' environment variables: keep them out.
        .env_remove("ENVCTL_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("TERRAFORM")
        .env_remove("ENVCTL_ROOT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn review_help() {
    insta::assert_snapshot!("review", help(&["review"]));
    insta::assert_snapshot!("review_up", help(&["review", "up"]));
    insta::assert_snapshot!("review_down", help(&["review", "down"]));
    insta::assert_snapshot!("review_list", help(&["review", "list"]));
    insta::assert_snapshot!("review_gc", help(&["review", "gc"]));
}
