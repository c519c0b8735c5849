//! envctl's test driver: the real envctl binary with the test's arguments and environment,
//! run to the outcome the test expects, its `--output json` event stream parsed.
//!
//! ```ignore
//! let result = w.envctl().args(["--output", "json", "review", "list"]).succeeds().result();
//! w.envctl().args(["down", "production"]).fails().says("--force-protected");
//! ```
//! `assert()` stays for predicate-style checks of the output (assert_cmd).

use std::ffi::OsStr;
use std::time::Duration;

use serde_json::Value;

/// One envctl invocation being set up.
pub(crate) struct Envctl {
    cmd: assert_cmd::Command,
    /// The arguments, for failure messages.
    shown: Vec<String>,
}

impl Envctl {
    /// The real binary, inheriting the test's environment.
    pub(crate) fn new() -> Envctl {
        Envctl::from_std(std::process::Command::new(assert_cmd::cargo::cargo_bin(
            "envctl",
        )))
    }

    /// The real binary as `cmd` prepares it (a cleared environment, a working directory).
    pub(crate) fn from_std(cmd: std::process::Command) -> Envctl {
        Envctl {
            cmd: assert_cmd::Command::from_std(cmd),
            shown: Vec::new(),
        }
    }

    pub(crate) fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Envctl {
        self.shown.push(arg.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(arg);
        self
    }

    pub(crate) fn args<I, S>(&mut self, args: I) -> &mut Envctl
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    pub(crate) fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Envctl {
        self.cmd.env(key, value);
        self
    }

    pub(crate) fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Envctl {
        self.cmd.env_remove(key);
        self
    }

    pub(crate) fn current_dir(&mut self, dir: impl AsRef<std::path::Path>) -> &mut Envctl {
        self.cmd.current_dir(dir);
        self
    }

    /// Kills envctl after `timeout` (the test then fails with what it printed so far).
    pub(crate) fn timeout(&mut self, timeout: Duration) -> &mut Envctl {
        self.cmd.timeout(timeout);
        self
    }

    /// Runs to whatever exit.
    pub(crate) fn run(&mut self) -> Run {
        let out = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("envctl {} did not run: {e}", self.shown.join(" ")));
        Run {
            shown: self.shown.join(" "),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and fails the test unless envctl exits 0.
    pub(crate) fn succeeds(&mut self) -> Run {
        let run = self.run();
        assert!(run.code == 0, "expected success, got {run}");
        run
    }

    /// Runs and fails the test unless envctl exits non-zero.
    pub(crate) fn fails(&mut self) -> Run {
        let run = self.run();
        assert!(run.code != 0, "expected a failure, got {run}");
        run
    }

    /// Runs and fails the test unless envctl exits with `code`.
    pub(crate) fn exits(&mut self, code: i32) -> Run {
        let run = self.run();
        assert!(run.code == code, "expected exit code {code}, got {run}");
        run
    }

    /// Runs, for assert_cmd's predicate-style checks of the exit code and output.
    pub(crate) fn assert(&mut self) -> assert_cmd::assert::Assert {
        self.cmd.assert()
    }
}

/// How one envctl run ended.
pub(crate) struct Run {
    shown: String,
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Every JSON line of stdout, in order: the progress events, then the result document.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The last JSON line of stdout: the command's result document.
    pub(crate) fn result(&self) -> Value {
        self.events()
            .pop()
            .unwrap_or_else(|| panic!("no JSON line in stdout of {self}"))
    }

    /// Asserts that stderr says `expected`, however miette wrapped it (see [`super::says`]).
    pub(crate) fn says(&self, expected: &str) -> &Run {
        assert!(
            super::normalize(&self.stderr).contains(&super::normalize(expected)),
            "stderr does not say {expected:?}: {self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`envctl {}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.shown, self.code, self.stdout, self.stderr
        )
    }
}
