//! Supervision of the local environment's background processes: start them detached
//! (own session, output appended to a log file, a pid file), tell whether they are
//! alive, and stop them (SIGTERM, then SIGKILL after a bound).

use std::fs::{self, File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::layout::Layout;
use crate::{Error, Result};

/// What to start: a process name (`api`, `worker-1`), the program, its arguments (the first
/// is its role, `serve` or `work`, which [`is_alive`] checks) and its environment.
#[derive(Debug, Clone)]
pub(super) struct ProcessSpec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// A process this run started. Holding the [`Child`] lets `up` notice an early exit.
#[derive(Debug)]
pub(super) struct Spawned {
    pub name: String,
    pub pid: i32,
    pub child: Child,
    pub log: PathBuf,
    /// The log's length before the process started: where its own lines begin.
    pub log_offset: u64,
}

impl Spawned {
    /// `Some(description)` when the process has already exited.
    pub(super) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown state ({e})")),
        }
    }
}

/// What `status` shows of one supervised process.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct ProcessState {
    pub name: String,
    pub pid: Option<i32>,
    pub alive: bool,
}

/// Starts `spec` in its own session (so a Ctrl-C or a closed terminal does not reach it),
/// stdin from /dev/null, stdout and stderr appended to `logs/NAME.log`, pid in `run/NAME.pid`.
#[allow(
    unsafe_code,
    reason = "pre_exec is unsafe; the closure only calls setsid"
)]
pub(super) fn spawn(layout: &Layout, spec: &ProcessSpec) -> Result<Spawned> {
    for dir in [layout.logs_dir(), layout.run_dir()] {
        fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    let log = layout.log_file(&spec.name);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(Error::io(format!("opening {}", log.display())))?;
    let log_offset = out
        .metadata()
        .map_err(Error::io(format!("reading {}", log.display())))?
        .len();
    let err = out
        .try_clone()
        .map_err(Error::io(format!("opening {}", log.display())))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(|source| Error::Io {
        context: format!("starting {} ({})", spec.name, spec.program.display()),
        source,
    })?;
    let pid = child.id() as i32;
    write_pid_file(&layout.pid_file(&spec.name), pid)?;
    Ok(Spawned {
        name: spec.name.clone(),
        pid,
        child,
        log,
        log_offset,
    })
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    // Written whole then renamed: a reader never sees a half-written pid.
    let tmp = path.with_extension("pid.tmp");
    fs::write(&tmp, format!("{pid}\n")).map_err(Error::io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(Error::io(format!("writing {}", path.display())))
}

/// The pid recorded for `name`, if there is a readable pid file.
pub(super) fn read_pid(layout: &Layout, name: &str) -> Option<i32> {
    fs::read_to_string(layout.pid_file(name))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 0)
}

/// Whether `pid` is a live (not zombie) process running with `role` among its arguments.
/// The role check keeps a recycled pid from being taken for ours.
pub(super) fn is_alive(pid: i32, role: &str) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self").exists() {
        // No procfs (macOS): the signal check is all there is.
        return true;
    }
    if let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) {
        // Field 3, after the parenthesised command name, is the state; Z and X are dead.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("Z") | Some("X")) {
            return false;
        }
    }
    if role.is_empty() {
        return true;
    }
    match fs::read(proc_dir.join("cmdline")) {
        Ok(cmdline) => cmdline
            .split(|b| *b == 0)
            .skip(1)
            .any(|arg| arg == role.as_bytes()),
        Err(_) => false,
    }
}

/// The recorded pid of `name` and whether it is alive.
pub(super) fn state(layout: &Layout, name: &str, role: &str) -> ProcessState {
    let pid = read_pid(layout, name);
    ProcessState {
        name: name.to_string(),
        pid,
        alive: pid.is_some_and(|pid| is_alive(pid, role)),
    }
}

/// How stopping a process went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StopOutcome {
    /// There was no live process (a stale pid file is removed).
    NotRunning,
    /// It exited after SIGTERM, within the bound.
    Stopped,
    /// It was still running after the bound and got SIGKILL.
    Killed,
}

/// Stops the named processes together: SIGTERM to each one's process group, a wait of at most
/// `bound` for them to drain and exit, then SIGKILL for any still alive. Pid files are removed.
pub(super) fn stop_all(
    layout: &Layout,
    names: &[(String, String)],
    bound: Duration,
    mut progress: impl FnMut(&str),
) -> Result<Vec<(String, StopOutcome)>> {
    let mut pending = Vec::new();
    let mut outcomes = Vec::new();
    for (name, role) in names {
        match read_pid(layout, name).filter(|pid| is_alive(*pid, role)) {
            Some(pid) => {
                signal_group(pid, Signal::SIGTERM);
                pending.push((name.clone(), role.clone(), pid));
            }
            None => outcomes.push((name.clone(), StopOutcome::NotRunning)),
        }
    }
    let deadline = Instant::now() + bound;
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|(name, role, pid)| {
            if is_alive(*pid, role) {
                true
            } else {
                outcomes.push((name.clone(), StopOutcome::Stopped));
                false
            }
        });
        if !pending.is_empty() {
            let names: Vec<&str> = pending.iter().map(|(n, _, _)| n.as_str()).collect();
            progress(&format!("waiting for {} to drain", names.join(", ")));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for (name, role, pid) in pending {
        progress(&format!(
            "{name} (pid {pid}) did not stop within {bound:?}: SIGKILL"
        ));
        signal_group(pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_alive(pid, &role) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if is_alive(pid, &role) {
            return Err(Error::Local {
                message: format!("{name} (pid {pid}) is still running after SIGKILL"),
                help: Some("check it with `ps` and stop it by hand; its pid file is kept".into()),
            });
        }
        outcomes.push((name, StopOutcome::Killed));
    }
    for (name, _) in names {
        remove_pid_file(layout, name)?;
    }
    Ok(outcomes)
}

/// Removes `name`'s pid file (a missing one is fine).
pub(super) fn remove_pid_file(layout: &Layout, name: &str) -> Result<()> {
    let path = layout.pid_file(name);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            context: format!("removing {}", path.display()),
            source: e,
        }),
    }
}

fn signal_group(pid: i32, signal: Signal) {
    // Each process leads its own session and group (setsid at spawn), so the group signal
    // reaches anything it started too; fall back to the process alone.
    if killpg(Pid::from_raw(pid), signal).is_err() {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// The last `lines` lines of a log file (for error messages), or an empty string.
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return String::new();
    };
    super::logs::tail_lines(file, lines)
        .unwrap_or_default()
        .join("\n")
}
