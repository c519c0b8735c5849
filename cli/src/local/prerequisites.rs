//! What `up local` needs from the machine: PostgreSQL server binaries (offered for
//! installation with the system package manager) and, to build the runtime, cargo.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::ui::Ui;
use crate::{Error, Result};

/// A system package manager and the command that installs the PostgreSQL server with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageManager {
    pub name: &'static str,
    /// The install command, as run (after `sudo` when not root and sudo exists).
    pub install: Vec<String>,
    /// A command to run before installing (e.g. `apt-get update`).
    pub refresh: Option<Vec<String>>,
}

impl PackageManager {
    /// The first package manager found on PATH: apt-get, dnf, then brew.
    pub fn detect() -> Option<PackageManager> {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        if on_path("apt-get") {
            Some(PackageManager {
                name: "apt-get",
                refresh: Some(words("apt-get update")),
                install: words(
                    "apt-get install -y --no-install-recommends postgresql postgresql-contrib",
                ),
            })
        } else if on_path("dnf") {
            Some(PackageManager {
                name: "dnf",
                refresh: None,
                install: words("dnf install -y postgresql-server postgresql-contrib"),
            })
        } else if on_path("brew") {
            Some(PackageManager {
                name: "brew",
                refresh: None,
                install: words("brew install postgresql@16"),
            })
        } else {
            None
        }
    }

    /// The install command as a user would type it.
    pub fn display(&self) -> String {
        let prefix = if self.needs_sudo() { "sudo " } else { "" };
        match &self.refresh {
            Some(refresh) => format!(
                "{prefix}{} && {prefix}{}",
                refresh.join(" "),
                self.install.join(" ")
            ),
            None => format!("{prefix}{}", self.install.join(" ")),
        }
    }

    fn needs_sudo(&self) -> bool {
        // brew refuses to run as root; the others need it.
        self.name != "brew" && !nix::unistd::geteuid().is_root()
    }

    fn run(&self, ui: &Ui) -> Result<()> {
        let commands = self.refresh.iter().chain(std::iter::once(&self.install));
        for argv in commands {
            let step = ui.step(format!("Running `{}`", argv.join(" ")));
            let mut cmd = if self.needs_sudo() {
                let mut cmd = Command::new("sudo");
                cmd.args(argv);
                cmd
            } else {
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..]);
                cmd
            };
            let output = cmd
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .output()
                .map_err(Error::io(format!("running {}", argv.join(" "))))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
                step.fail(&output.status.to_string());
                return Err(Error::Prerequisite {
                    message: format!(
                        "`{}` failed ({}):\n{}",
                        argv.join(" "),
                        output.status,
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ),
                    help: Some("install the PostgreSQL server yourself, or set PG_BIN_DIR to the directory holding initdb and pg_ctl".into()),
                });
            }
            step.done("ok");
        }
        if self.name == "brew" {
            // Homebrew's versioned PostgreSQL is keg-only: its binaries are not on PATH.
            if let Ok(out) = Command::new("brew")
                .args(["--prefix", "postgresql@16"])
                .output()
            {
                let prefix = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if out.status.success() && !prefix.is_empty() {
                    // Read by pgrig::find_bin_dir; set before any thread is started.
                    std::env::set_var("PG_BIN_DIR", PathBuf::from(prefix).join("bin"));
                }
            }
        }
        Ok(())
    }
}

/// The directory of the PostgreSQL server binaries. When they are missing, says so and
/// offers to install them with the system package manager (asking first unless `--yes`).
pub(super) fn ensure_postgres(ui: &Ui) -> Result<PathBuf> {
    let missing = match pgrig::find_bin_dir() {
        Ok(dir) => return Ok(dir),
        Err(e) => e.to_string(),
    };
    let Some(manager) = PackageManager::detect() else {
        return Err(Error::Prerequisite {
            message: format!("PostgreSQL server binaries are missing: {missing}"),
            help: Some(
                "no supported package manager (apt-get, dnf, brew) was found: install the PostgreSQL \
                 server (initdb, pg_ctl) yourself, or set PG_BIN_DIR to the directory holding them"
                    .into(),
            ),
        });
    };
    let command = manager.display();
    ui.event(
        "prerequisite_missing",
        &format!("PostgreSQL server binaries are missing ({missing})."),
        json!({ "prerequisite": "postgresql", "install_command": command }),
    );
    ui.confirm(
        &format!("Install them now with `{command}`?"),
        &format!("pass --yes to install them with `{command}`, or run it yourself and re-run `envctl up local`"),
    )?;
    manager.run(ui)?;
    pgrig::find_bin_dir().map_err(|e| Error::Prerequisite {
        message: format!(
            "PostgreSQL was installed with {}, but its server binaries are still not found: {e}",
            manager.name
        ),
        help: Some("set PG_BIN_DIR to the directory holding initdb and pg_ctl".into()),
    })
}

/// Fails with a clear message when cargo (needed to build the runtime) is missing.
pub(super) fn ensure_cargo(looked_for: &str) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| find_on_path("cargo"));
    cargo.ok_or_else(|| Error::Prerequisite {
        message: format!("the rates runtime binary was not found ({looked_for}) and cargo, needed to build it, is not installed"),
        help: Some(
            "install the Rust toolchain (https://rustup.rs: `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh`), \
             or pass --rates-bin PATH (env ENVCTL_RATES_BIN) to a built `rates` binary"
                .into(),
        ),
    })
}

fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// The first executable file named `program` in a PATH directory.
pub(super) fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
