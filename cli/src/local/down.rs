//! `envctl down local`: stop the api and workers (SIGTERM, SIGKILL after a bound) and the
//! database; the data stays unless `--purge`.

use std::process::ExitCode;

use serde_json::json;

use super::database;
use super::layout::Layout;
use super::lock::LocalLock;
use super::process::{self, StopOutcome};
use super::settings::stop_bound;
use super::up::{API_ROLE, WORKER_ROLE};
use crate::cli::DownArgs;
use crate::context::Context;
use crate::profile::Profile;
use crate::{Error, Result};

/// Stops everything `up local` started. Safe to re-run: what is not running is skipped.
pub fn down(ctx: &Context, profile: &Profile, args: &DownArgs) -> Result<ExitCode> {
    let layout = Layout::new(ctx, profile.name.as_str());
    let env = profile.name.as_str();
    if !layout.dir().exists() {
        ctx.ui.result(
            &format!(
                "{env}: nothing to stop ({} does not exist)\n",
                layout.dir().display()
            ),
            &json!({ "environment": env, "stopped": [], "purged": false }),
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.purge {
        ctx.ui.confirm(
            &format!(
                "Delete the local database, logs and state in {}?",
                layout.dir().display()
            ),
            "pass --yes to delete them without a question",
        )?;
    }
    let lock = LocalLock::acquire(&layout)?;

    let mut names = vec![("api".to_string(), API_ROLE.to_string())];
    names.extend(
        layout
            .worker_names_with_pid_files()
            .into_iter()
            .map(|n| (n, WORKER_ROLE.to_string())),
    );
    let step = ctx.ui.step(format!(
        "Stopping the api and {} worker(s)",
        names.len() - 1
    ));
    let outcomes = match process::stop_all(&layout, &names, stop_bound(profile), |d| step.update(d))
    {
        Ok(outcomes) => outcomes,
        Err(e) => {
            step.fail("failed");
            return Err(e);
        }
    };
    let stopped: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| *o != StopOutcome::NotRunning)
        .map(|(n, _)| n.as_str())
        .collect();
    let killed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| *o == StopOutcome::Killed)
        .map(|(n, _)| n.as_str())
        .collect();
    step.done(&match (stopped.len(), killed.len()) {
        (0, _) => "none was running".to_string(),
        (_, 0) => format!("stopped {}", stopped.join(", ")),
        _ => format!(
            "stopped {} ({} needed SIGKILL)",
            stopped.join(", "),
            killed.join(", ")
        ),
    });

    let db_running = database::running_port(&layout).is_some();
    if db_running {
        let step = ctx.ui.step("Stopping PostgreSQL");
        match database::stop(&layout) {
            Ok(()) => step.done("stopped"),
            Err(e) => {
                step.fail("failed");
                return Err(e);
            }
        }
    }

    if args.purge {
        drop(lock);
        std::fs::remove_dir_all(layout.dir())
            .map_err(Error::io(format!("removing {}", layout.dir().display())))?;
    }
    let what = if args.purge {
        format!("data, logs and state deleted ({})", layout.dir().display())
    } else {
        format!(
            "data kept in {} (`envctl down {env} --purge` deletes it)",
            layout.dir().display()
        )
    };
    ctx.ui.result(
        &format!("{env} is down; {what}\n"),
        &json!({
            "environment": env,
            "stopped": outcomes.iter().map(|(n, o)| json!({ "process": n, "outcome": o })).collect::<Vec<_>>(),
            "database_stopped": db_running,
            "purged": args.purge,
        }),
    );
    Ok(ExitCode::SUCCESS)
}
