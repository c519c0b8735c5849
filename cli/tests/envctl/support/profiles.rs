//! Throw-away projects for profile tests: the repository's base.yaml plus the profiles a
//! test writes, and `envctl render` run on them by the real binary.

use crate::support::{normalize, repo_root as repo, Envctl};

/// A throw-away project: the repository's base.yaml plus the given profiles.
pub(crate) fn project(profiles: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("environments")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::copy(
        repo().join("environments/base.yaml"),
        dir.path().join("environments/base.yaml"),
    )
    .unwrap();
    for (name, text) in profiles {
        std::fs::write(dir.path().join(format!("environments/{name}.yaml")), text).unwrap();
    }
    dir
}

/// `envctl render bad` in a project holding `text` as bad.yaml: must fail; returns its
/// diagnostic flattened (it may be wrapped to the terminal's width).
pub(crate) fn refused(text: &str) -> String {
    let dir = project(&[("bad", text)]);
    let run = Envctl::new()
        .current_dir(dir.path())
        .args(["render", "bad", "--out", "out"])
        .fails();
    assert!(
        !dir.path().join("out").exists(),
        "nothing is rendered from an invalid profile"
    );
    normalize(&run.stderr)
}

pub(crate) fn assert_refused(text: &str, at: &str, says: &str) {
    let flat = refused(text);
    assert!(flat.contains(at), "expected `{at}` in: {flat}");
    assert!(flat.contains(says), "expected `{says}` in: {flat}");
}
