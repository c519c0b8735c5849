//! `envctl review ... --help`: the help texts are part of the interface (insta snapshots).

use crate::support::Envctl;

fn help(args: &[&str]) -> String {
    Envctl::new()
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        // Help shows the values of flags' environment variables: keep them out.
        .env_remove("ENVCTL_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("TERRAFORM")
        .env_remove("ENVCTL_ROOT")
        .succeeds()
        .stdout
}

#[test]
fn review_help() {
    insta::assert_snapshot!("review", help(&["review"]));
    insta::assert_snapshot!("review_up", help(&["review", "up"]));
    insta::assert_snapshot!("review_down", help(&["review", "down"]));
    insta::assert_snapshot!("review_list", help(&["review", "list"]));
    insta::assert_snapshot!("review_gc", help(&["review", "gc"]));
    insta::assert_snapshot!("review_extend", help(&["review", "extend"]));
    insta::assert_snapshot!("review_warn", help(&["review", "warn"]));
}
