//! The synthetic demo data, loaded the way users load prices: the network with
//! `rates seed --synthetic --network-only`, the prices as one CSV batch posted to
//! `/batches` with an Idempotency-Key derived from its content (a re-run posts the same
//! key and gets the same batch back, so nothing is loaded twice).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::api_client::ApiClient;
use super::layout::Layout;
use super::state::DemoBatch;
use crate::context::Context;
use crate::{Error, Result};

/// A lane and a date range present in the demo data, for the printed example query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExampleLane {
    pub origin: String,
    pub destination: String,
    pub date_from: String,
    pub date_to: String,
}

/// What loading the demo data gave.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub batch: DemoBatch,
    pub example_lane: Option<ExampleLane>,
}

/// Seeds the network, writes the demo prices as CSV and posts them as one batch, then waits
/// (until `deadline`) for a worker to commit it.
pub(super) fn load(
    ctx: &Context,
    layout: &Layout,
    rates: &Path,
    env: &[(String, String)],
    client: &ApiClient,
    deadline: Instant,
) -> Result<Loaded> {
    let step = ctx.ui.step("Loading the demo data");
    let result = (|| {
        step.update("regions and ports (rates seed --synthetic --network-only)");
        run_seed(rates, env, &["--network-only"])?;
        step.update("writing the demo prices (rates seed --synthetic --prices-csv)");
        let csv = layout.demo_csv();
        run_seed(rates, env, &["--prices-csv", &csv.display().to_string()])?;
        let content =
            std::fs::read(&csv).map_err(Error::io(format!("reading {}", csv.display())))?;
        let key = format!(
            "envctl-demo-{}",
            hex::encode(&Sha256::digest(&content)[..12])
        );
        let rows = content
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .saturating_sub(1);
        step.update(&format!(
            "posting {rows} prices to {}/batches",
            client.base()
        ));
        let mut batch = client.post_batch(&csv, &key)?;
        let mut shown = String::new();
        while !batch.is_final() {
            if Instant::now() >= deadline {
                return Err(Error::Local {
                    message: format!("demo batch {} is still `{}` at the --timeout", batch.id, batch.status),
                    help: Some("check the workers with `envctl logs local worker`; re-running `envctl up local` resumes waiting".into()),
                });
            }
            if batch.status != shown {
                // One line per status change (a spinner on a terminal).
                step.update(&format!("batch {} is {}", batch.id, batch.status));
                shown.clone_from(&batch.status);
            }
            std::thread::sleep(Duration::from_millis(200));
            batch = client.batch(&batch.id)?;
        }
        if batch.status != rates_contract::BatchStatus::Committed.as_str() {
            return Err(Error::Local {
                message: format!(
                    "the demo batch {} was {}: {}",
                    batch.id, batch.status, batch.raw
                ),
                help: Some("see `envctl logs local worker`".into()),
            });
        }
        Ok((
            DemoBatch {
                id: batch.id,
                idempotency_key: key,
                status: batch.status,
            },
            rows,
            example_lane(&csv),
        ))
    })();
    match result {
        Ok((batch, rows, example_lane)) => {
            step.done(&format!("{rows} prices committed in batch {}", batch.id));
            Ok(Loaded {
                batch,
                example_lane,
            })
        }
        Err(e) => {
            step.fail("failed");
            Err(e)
        }
    }
}

fn run_seed(rates: &Path, env: &[(String, String)], extra: &[&str]) -> Result<()> {
    let output = Command::new(rates)
        .args(["seed", "--synthetic"])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("running {} seed", rates.display())))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tail: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .rev()
        .take(15)
        .collect();
    Err(Error::Local {
        message: format!(
            "`rates seed --synthetic {}` failed ({}):\n{}",
            extra.join(" "),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ),
        help: None,
    })
}

/// The lane of the first data row, with a ten-day range from its day.
fn example_lane(csv: &Path) -> Option<ExampleLane> {
    let file = std::fs::File::open(csv).ok()?;
    let line = BufReader::new(file).lines().nth(1)?.ok()?;
    let mut fields = line.split(',');
    let (origin, destination, day) = (fields.next()?, fields.next()?, fields.next()?);
    let from = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(ExampleLane {
        origin: origin.to_string(),
        destination: destination.to_string(),
        date_from: from.to_string(),
        date_to: (from + chrono::Duration::days(9)).to_string(),
    })
}
