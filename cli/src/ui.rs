//! How envctl talks to people and machines: text with progress bars on a
//! terminal, or one JSON event per line with `--output json`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::cli::OutputFormat;
use crate::{Error, Result};

/// The output channel of one run.
#[derive(Debug, Clone)]
pub struct Ui {
    pub format: OutputFormat,
    /// `--yes` was given.
    pub yes: bool,
    /// stdin and stderr are terminals (prompts and progress bars are possible).
    pub interactive: bool,
}

impl Ui {
    pub fn new(format: OutputFormat, yes: bool) -> Ui {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Ui {
            format,
            yes,
            interactive,
        }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A line of progress: text on stderr, or a JSON event on stdout.
    pub fn event(&self, event: &str, message: &str, fields: Value) {
        match self.format {
            OutputFormat::Text => eprintln!("{message}"),
            OutputFormat::Json => {
                let mut line = json!({ "event": event, "message": message });
                if let (Some(obj), Value::Object(extra)) = (line.as_object_mut(), fields) {
                    obj.extend(extra);
                }
                stdout_line(&line.to_string());
            }
        }
    }

    /// Prints a command's result: `text` for people, `value` with `--output json`.
    pub fn result(&self, text: &str, value: &Value) {
        match self.format {
            OutputFormat::Text => write_stdout(text),
            OutputFormat::Json => stdout_line(&value.to_string()),
        }
    }

    /// Starts a step that says what is being waited on; finish it with [`Step::done`].
    pub fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        let bar =
            (self.format == OutputFormat::Text && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .expect("static template"),
                );
                bar.set_message(message.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
        if bar.is_none() {
            self.event(
                "step_started",
                &format!("{message}..."),
                json!({ "step": message }),
            );
        }
        Step {
            ui: self.clone(),
            message,
            bar,
            started: std::time::Instant::now(),
        }
    }

    /// Asks the user to type `expected` (the environment name) to go on.
    /// Without a terminal, refuses with `help` saying which flag to pass.
    pub fn confirm_typed(&self, prompt: &str, expected: &str, help: &str) -> Result<()> {
        if !self.interactive {
            return Err(Error::Refused {
                message: format!("{prompt} (no terminal to confirm on)"),
                help: Some(help.to_string()),
            });
        }
        let typed: String = dialoguer::Input::new()
            .with_prompt(format!("{prompt}\nType `{expected}` to continue"))
            .allow_empty(true)
            .interact_text()
            .map_err(|e| Error::Refused {
                message: format!("confirmation failed: {e}"),
                help: Some(help.to_string()),
            })?;
        if typed.trim() == expected {
            Ok(())
        } else {
            Err(Error::Refused {
                message: format!(
                    "you typed `{}`, not `{expected}`; nothing was changed",
                    typed.trim()
                ),
                help: None,
            })
        }
    }

    /// A yes/no question; `--yes` answers yes, and no terminal without `--yes` refuses.
    pub fn confirm(&self, prompt: &str, help: &str) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        if !self.interactive {
            return Err(Error::Refused {
                message: format!("{prompt} (no terminal to confirm on)"),
                help: Some(help.to_string()),
            });
        }
        let yes = dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(false)
            .interact()
            .map_err(|e| Error::Refused {
                message: format!("confirmation failed: {e}"),
                help: Some(help.to_string()),
            })?;
        if yes {
            Ok(())
        } else {
            Err(Error::Refused {
                message: "declined; nothing was changed".into(),
                help: None,
            })
        }
    }
}

// A closed stdout (`envctl diff a b | head`) ends the output quietly instead
// of panicking the way print! does.
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub fn stdout_line(line: &str) {
    write_stdout(&format!("{line}\n"));
}

/// A step in progress (a spinner on a terminal, events otherwise).
pub struct Step {
    ui: Ui,
    message: String,
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

impl Step {
    /// Updates what is being waited on.
    pub fn update(&self, detail: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{}: {detail}", self.message)),
            None => self.ui.event(
                "step_progress",
                &format!("  {detail}"),
                json!({ "step": self.message, "detail": detail }),
            ),
        }
    }

    /// Finishes the step with a result line.
    pub fn done(self, result: &str) {
        let elapsed = self.started.elapsed();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.ui.event(
            "step_finished",
            &format!(
                "✓ {}: {result} ({:.1}s)",
                self.message,
                elapsed.as_secs_f64()
            ),
            json!({ "step": self.message, "result": result, "seconds": elapsed.as_secs_f64() }),
        );
    }

    /// Finishes the step as failed.
    pub fn fail(self, reason: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.ui.event(
            "step_failed",
            &format!("✗ {}: {reason}", self.message),
            json!({ "step": self.message, "error": reason }),
        );
    }
}
