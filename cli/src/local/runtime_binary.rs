//! Finding the rates runtime binary to run, or building it with cargo when there is none
//! (or the one found is older than the runtime's sources).

use std::io::IsTerminal;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::prerequisites;
use crate::context::Context;
use crate::{Error, Result};

/// The `rates` binary `up local` runs, and how it was found.
#[derive(Debug, Clone)]
pub(super) struct RatesBinary {
    pub path: PathBuf,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Origin {
    /// `--rates-bin` / `ENVCTL_RATES_BIN`.
    Given,
    /// An up-to-date build in a target directory.
    Found,
    /// Built by this run.
    Built,
}

impl Origin {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Origin::Given => "as given",
            Origin::Found => "already built",
            Origin::Built => "just built",
        }
    }
}

impl RatesBinary {
    /// `explicit` if given; else `rates` next to envctl's own executable or in the project's
    /// target/{release,debug}/; else (or when that one is older than the runtime's sources)
    /// `cargo build --release -p rates` in the project root, with progress.
    pub(super) fn locate_or_build(ctx: &Context, explicit: Option<&Path>) -> Result<RatesBinary> {
        if let Some(path) = explicit {
            if !path.is_file() {
                return Err(Error::InvalidArgument {
                    what: "--rates-bin (ENVCTL_RATES_BIN)".into(),
                    value: path.display().to_string(),
                    message: "no such file".into(),
                });
            }
            let path = path
                .canonicalize()
                .map_err(Error::io(format!("resolving {}", path.display())))?;
            return Ok(RatesBinary {
                path,
                origin: Origin::Given,
            });
        }
        let candidates = candidates(&ctx.root);
        let found = candidates.iter().find(|p| p.is_file()).cloned();
        let sources_changed = newest_source_change(&ctx.root);
        let stale = match (&found, sources_changed) {
            (Some(bin), Some(changed)) => modified(bin).is_some_and(|built| built < changed),
            _ => false,
        };
        let buildable = ctx.root.join("runtime/Cargo.toml").is_file();
        match found {
            Some(path) if !stale || !buildable => {
                if stale {
                    ctx.ui.event(
                        "stale_binary",
                        &format!("note: {} is older than the runtime's sources", path.display()),
                        serde_json::json!({ "path": path }),
                    );
                }
                Ok(RatesBinary { path, origin: Origin::Found })
            }
            _ if !buildable => Err(Error::Prerequisite {
                message: format!(
                    "the rates runtime binary was not found (looked for {}) and {} holds no runtime sources to build it from",
                    list(&candidates),
                    ctx.root.display()
                ),
                help: Some("pass --rates-bin PATH (env ENVCTL_RATES_BIN) to a built `rates` binary".into()),
            }),
            found => {
                let why = if found.is_some() { "its sources changed since the last build" } else { "no built binary was found" };
                let cargo = prerequisites::ensure_cargo(&format!("looked for {}", list(&candidates)))?;
                build(ctx, &cargo, why).map(|path| RatesBinary { path, origin: Origin::Built })
            }
        }
    }
}

/// Where a built `rates` may be, best first: beside envctl itself (same build profile),
/// then the project's target/release and target/debug.
fn candidates(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        out.push(dir.join("rates"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    out.push(target.join("release/rates"));
    out.push(target.join("debug/rates"));
    out.dedup();
    out
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}

/// The newest modification time among the files a `rates` build depends on.
fn newest_source_change(root: &Path) -> Option<SystemTime> {
    fn walk(path: &Path, newest: &mut Option<SystemTime>) {
        let Ok(meta) = path.metadata() else { return };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(time) = meta.modified() {
            *newest = (*newest).max(Some(time));
        }
    }
    let mut newest = None;
    for part in [
        "runtime/src",
        "runtime/migrations",
        "runtime/Cargo.toml",
        "Cargo.lock",
    ] {
        walk(&root.join(part), &mut newest);
    }
    newest
}

/// Runs `cargo build --release -p rates` in the project root, showing each compiled crate.
fn build(ctx: &Context, cargo: &Path, why: &str) -> Result<PathBuf> {
    let step = ctx.ui.step(format!(
        "Building the rates runtime ({why}; cargo build --release -p rates)"
    ));
    let mut child = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "rates",
            "--bin",
            "rates",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&ctx.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!("running {} build", cargo.display())))?;
    // Rendered diagnostics come on stderr: keep the end for the error message.
    let stderr = child.stderr.take().expect("piped");
    let diagnostics = std::thread::spawn(move || {
        let mut tail = std::collections::VecDeque::new();
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if tail.len() == 40 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        tail.into_iter().collect::<Vec<_>>().join("\n")
    });
    let mut compiled = 0usize;
    let live_progress = !ctx.ui.json() && std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let mut executable = None;
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(std::result::Result::ok)
    {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        compiled += 1;
        let name = message["target"]["name"].as_str().unwrap_or("?");
        // A spinner shows every crate; a log (no terminal) gets a line every few seconds.
        if live_progress || last_line.elapsed() >= Duration::from_secs(10) {
            step.update(&format!("{compiled} crates compiled, last {name}"));
            last_line = Instant::now();
        }
        if name == "rates" {
            if let Some(exe) = message["executable"].as_str() {
                executable = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().map_err(Error::io("waiting for cargo build"))?;
    let diagnostics = diagnostics.join().unwrap_or_default();
    match executable {
        Some(path) if status.success() => {
            step.done(&path.display().to_string());
            Ok(path)
        }
        _ => {
            step.fail(&status.to_string());
            Err(Error::Local {
                message: format!("building the rates runtime failed ({status}):\n{diagnostics}"),
                help: Some(format!("fix the build (`cargo build --release -p rates` in {}), or pass --rates-bin PATH", ctx.root.display())),
            })
        }
    }
}
