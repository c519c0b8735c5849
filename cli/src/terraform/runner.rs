//! Running Terraform in a rendered root: init with the state backend, plan to a file,
//! show it as JSON, apply exactly that file, read outputs. Ctrl-C (SIGINT/SIGTERM) is
//! forwarded to the running terraform, and envctl waits for it to stop so it can
//! release the state lock.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::display::LiveDisplay;
use super::{PlanSummary, Terraform, TerraformOutputs};
use crate::ui::Ui;
use crate::{Error, Result};

/// The plan file written by `plan` and applied by `apply`.
pub const PLAN_FILE: &str = "tfplan";

/// Where the S3 backend keeps state (the bootstrap stack's outputs).
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub bucket: String,
    pub dynamodb_table: String,
    pub region: String,
}

/// A rendered Terraform root and the binary to run in it.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub terraform: Terraform,
    pub dir: PathBuf,
    /// Extra environment for terraform (region, endpoint override).
    pub env: Vec<(String, String)>,
    pub ui: Ui,
}

// The running terraform's pid (0: none) and how many interrupts were forwarded to it.
static CHILD_PID: AtomicI32 = AtomicI32::new(0);
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

#[allow(
    unsafe_code,
    reason = "a signal handler: kill(2), write(2) and _exit(2), each documented"
)]
extern "C" fn on_interrupt(_signal: libc::c_int) {
    // Only async-signal-safe calls here: atomics, kill(2), write(2), _exit(2).
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    } else {
        let msg = b"\ninterrupted\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; `msg` outlives the call.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(130);
        }
    }
}

/// Routes SIGINT and SIGTERM to the running terraform (which then stops cleanly and
/// releases its state lock); with no terraform running, envctl exits with 130.
#[allow(
    unsafe_code,
    reason = "sigaction is unsafe; the handler is async-signal-safe"
)]
fn install_interrupt_forwarding() {
    INSTALL.call_once(|| {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        let action = SigAction::new(
            SigHandler::Handler(on_interrupt),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only touches atomics and async-signal-safe libc calls.
        unsafe {
            let _ = sigaction(Signal::SIGINT, &action);
            let _ = sigaction(Signal::SIGTERM, &action);
        }
    });
}

impl Workspace {
    /// `terraform init` with the backend's bucket, lock table and region.
    pub async fn init(&self, backend: &BackendConfig) -> Result<()> {
        let args = vec![
            "init".to_string(),
            "-input=false".into(),
            "-no-color".into(),
            "-reconfigure".into(),
            format!("-backend-config=bucket={}", backend.bucket),
            format!("-backend-config=dynamodb_table={}", backend.dynamodb_table),
            format!("-backend-config=region={}", backend.region),
        ];
        self.stream("init", &args, &[0]).await.map(|_| ())
    }

    /// `terraform plan -out` (of a destroy when `destroy`), then the summary of
    /// exactly that plan file from `terraform show -json`.
    pub async fn plan(&self, destroy: bool) -> Result<PlanSummary> {
        let mut args = vec![
            "plan".to_string(),
            "-input=false".into(),
            "-no-color".into(),
            "-lock-timeout=5m".into(),
            "-detailed-exitcode".into(),
            format!("-out={PLAN_FILE}"),
        ];
        if destroy {
            args.push("-destroy".into());
        }
        let step = if destroy { "plan -destroy" } else { "plan" };
        self.stream(step, &args, &[0, 2]).await?;
        let json = self.capture("show", &["show", "-json", PLAN_FILE]).await?;
        PlanSummary::from_show_json(&json)
    }

    /// `terraform plan -refresh-only -detailed-exitcode -lock=false` to a plan file, and that
    /// plan's `terraform show -json` (what `drift` classifies). Exit codes 0 and 2 are both
    /// success: Terraform 1.15 exits 2 for root output changes alone (also on a state that
    /// has no outputs yet) with no resource drift, so the JSON decides, not the exit code.
    /// `-lock=false`: a read-only run must not wait for (or block) a deploy.
    pub async fn plan_refresh_only(&self) -> Result<(i32, String)> {
        let args = vec![
            "plan".to_string(),
            "-refresh-only".into(),
            "-input=false".into(),
            "-no-color".into(),
            "-lock=false".into(),
            "-detailed-exitcode".into(),
            format!("-out={PLAN_FILE}"),
        ];
        let code = self.stream("plan -refresh-only", &args, &[0, 2]).await?;
        let json = self.capture("show", &["show", "-json", PLAN_FILE]).await?;
        Ok((code, json))
    }

    /// `terraform apply` of the saved plan file (never re-planned).
    pub async fn apply(&self) -> Result<()> {
        let args = [
            "apply",
            "-input=false",
            "-no-color",
            "-lock-timeout=5m",
            PLAN_FILE,
        ]
        .map(String::from);
        self.stream("apply", &args, &[0]).await.map(|_| ())
    }

    /// `terraform output -json`.
    pub async fn outputs(&self) -> Result<TerraformOutputs> {
        let json = self.capture("output", &["output", "-json"]).await?;
        TerraformOutputs::parse(&json)
    }

    fn command(&self, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.terraform.path);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal's Ctrl-C reaches envctl only, which
            // forwards it exactly once per keypress (terraform treats a second
            // interrupt as "stop now, even with the lock held").
            .process_group(0);
        cmd
    }

    async fn capture(&self, step: &str, args: &[&str]) -> Result<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let output = self
            .command(&args)
            .output()
            .await
            .map_err(Error::io(format!(
                "running {} {step}",
                self.terraform.path.display()
            )))?;
        if !output.status.success() {
            return Err(Error::Terraform {
                step: step.into(),
                message: tail(&String::from_utf8_lossy(&output.stderr), 30),
                help: None,
            });
        }
        String::from_utf8(output.stdout).map_err(|e| Error::Terraform {
            step: step.into(),
            message: format!("output is not UTF-8: {e}"),
            help: None,
        })
    }

    /// Runs terraform with its output streamed live; returns its exit code when it is in `ok`.
    async fn stream(&self, step: &str, args: &[String], ok: &[i32]) -> Result<i32> {
        install_interrupt_forwarding();
        let mut display = LiveDisplay::start(&self.ui, &format!("terraform {step}"));
        let mut child = match self.command(args).spawn() {
            Ok(child) => child,
            Err(e) => {
                display.finish(Err("could not start"));
                return Err(Error::io(format!(
                    "starting {}",
                    self.terraform.path.display()
                ))(e));
            }
        };
        let interrupts_before = INTERRUPTS.load(Ordering::SeqCst);
        CHILD_PID.store(child.id().map(|p| p as i32).unwrap_or(0), Ordering::SeqCst);
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
        let (mut out_done, mut err_done) = (false, false);
        let mut errors = Vec::new();
        let mut noted = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let status = loop {
            tokio::select! {
                line = stdout.next_line(), if !out_done => match line {
                    Ok(Some(line)) => display.line("stdout", &line),
                    _ => out_done = true,
                },
                line = stderr.next_line(), if !err_done => match line {
                    Ok(Some(line)) => {
                        display.line("stderr", &line);
                        errors.push(line);
                    }
                    _ => err_done = true,
                },
                _ = tick.tick() => {
                    let seen = INTERRUPTS.load(Ordering::SeqCst) - interrupts_before;
                    if seen > noted {
                        noted = seen;
                        display.note(if seen == 1 {
                            "interrupt received: waiting for terraform to stop and release the state lock (Ctrl-C again to stop it at once)"
                        } else {
                            "second interrupt: terraform stops at once; the state lock may stay held"
                        });
                    }
                },
                status = child.wait(), if out_done && err_done => break status,
            }
        };
        CHILD_PID.store(0, Ordering::SeqCst);
        let interrupted = INTERRUPTS.load(Ordering::SeqCst) - interrupts_before;
        let status = status.map_err(Error::io(format!("waiting for terraform {step}")))?;
        let code = status.code().unwrap_or(-1);
        if interrupted > 0 {
            display.finish(Err("interrupted"));
            let (message, help) = if interrupted == 1 {
                (
                    "interrupted: terraform stopped cleanly and released the state lock".to_string(),
                    "nothing after this step ran; re-run the same command to finish (see docs/operations.md, \"Interrupted up or down\")",
                )
            } else {
                (
                    "interrupted twice: terraform stopped at once and may still hold the state lock".to_string(),
                    "if the next run says the state is locked, run `terraform force-unlock LOCK_ID` in the rendered terraform/ directory (docs/operations.md)",
                )
            };
            return Err(Error::Terraform {
                step: step.into(),
                message,
                help: Some(help.into()),
            });
        }
        if ok.contains(&code) {
            display.finish(Ok(match (step, code) {
                (_, 2) => "changes planned",
                ("plan", _) | ("plan -destroy", _) => "no changes",
                _ => "done",
            }));
            return Ok(code);
        }
        display.finish(Err(&format!("exit code {code}")));
        let text = errors.join("\n");
        let help = if text.contains("Error acquiring the state lock") {
            Some(
                "another run holds the state lock; wait for it, or if it died, run \
                 `terraform force-unlock LOCK_ID` in the rendered terraform/ directory (docs/operations.md)"
                    .to_string(),
            )
        } else {
            None
        };
        Err(Error::Terraform {
            step: step.into(),
            message: format!("exit code {code}\n{}", tail(&text, 30)),
            help,
        })
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
