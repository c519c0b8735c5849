//! Live display of a running Terraform command: its output streamed line by line,
//! under a spinner saying which resources are being waited on (text), or one JSON
//! event per line (`--output json`).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::ui::Ui;

/// The display of one Terraform step.
pub struct LiveDisplay {
    ui: Ui,
    step: String,
    bar: Option<ProgressBar>,
    /// Resources with an operation in flight ("aws_db_instance.main: Creating...").
    in_flight: BTreeSet<String>,
    started: Instant,
}

impl LiveDisplay {
    pub fn start(ui: &Ui, step: &str) -> LiveDisplay {
        let bar = (!ui.json() && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("static template"),
            );
            bar.set_message(step.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            ui.event(
                "step_started",
                &format!("{step}..."),
                json!({ "step": step }),
            );
        }
        LiveDisplay {
            ui: ui.clone(),
            step: step.to_string(),
            bar,
            in_flight: BTreeSet::new(),
            started: Instant::now(),
        }
    }

    /// One line of Terraform's output.
    pub fn line(&mut self, stream: &str, line: &str) {
        self.track(line);
        if self.ui.json() {
            crate::ui::stdout_line(
                &json!({ "event": "terraform_output", "step": self.step, "stream": stream, "line": line })
                    .to_string(),
            );
            return;
        }
        let text = format!("  │ {line}");
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                bar.set_message(self.waiting_on());
            }
            None => eprintln!("{text}"),
        }
    }

    /// A message from envctl itself while the step runs (e.g. an interrupt).
    pub fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(format!("! {message}"));
                bar.set_message(format!("{}: {message}", self.step));
            }
            None => self.ui.event(
                "step_progress",
                &format!("! {message}"),
                json!({ "step": self.step, "detail": message }),
            ),
        }
    }

    pub fn finish(self, result: Result<&str, &str>) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let seconds = self.started.elapsed().as_secs_f64();
        match result {
            Ok(result) => self.ui.event(
                "step_finished",
                &format!("✓ {}: {result} ({seconds:.1}s)", self.step),
                json!({ "step": self.step, "result": result, "seconds": seconds }),
            ),
            Err(reason) => self.ui.event(
                "step_failed",
                &format!("✗ {}: {reason}", self.step),
                json!({ "step": self.step, "error": reason }),
            ),
        }
    }

    fn waiting_on(&self) -> String {
        let mut names = self
            .in_flight
            .iter()
            .take(2)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.in_flight.len() > 2 {
            names.push_str(&format!(" and {} more", self.in_flight.len() - 2));
        }
        if names.is_empty() {
            self.step.clone()
        } else {
            format!("{}: waiting on {names}", self.step)
        }
    }

    // "aws_db_instance.main: Still creating... [1m0s elapsed]" and friends.
    fn track(&mut self, line: &str) {
        let Some((address, rest)) = line.split_once(": ") else {
            return;
        };
        if address.contains(' ') {
            return;
        }
        let rest = rest.trim_start();
        const STARTED: [&str; 7] = [
            "Creating...",
            "Modifying...",
            "Destroying...",
            "Still creating...",
            "Still modifying...",
            "Still destroying...",
            "Reading...",
        ];
        const FINISHED: [&str; 5] = [
            "Creation complete",
            "Modifications complete",
            "Destruction complete",
            "Read complete",
            "Creation errored",
        ];
        if STARTED.iter().any(|p| rest.starts_with(p)) {
            self.in_flight.insert(address.to_string());
        } else if FINISHED.iter().any(|p| rest.starts_with(p)) {
            self.in_flight.remove(address);
        }
    }
}
