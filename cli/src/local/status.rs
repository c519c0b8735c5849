//! `envctl status local`: the processes (pid, alive), the api's health, the queue depth
//! and the last batches.

use std::process::ExitCode;

use serde_json::{json, Value};

use super::api_client::{queue_depth, ApiClient, BatchInfo};
use super::database;
use super::layout::{worker_name, Layout};
use super::process::{self, ProcessState};
use super::state::LocalState;
use super::up::{API_ROLE, WORKER_ROLE};
use crate::context::Context;
use crate::profile::Profile;
use crate::Result;

/// Exit code when the environment is not (fully) running, as `systemctl status` does.
pub(super) const NOT_RUNNING: u8 = 3;

/// Shows the local environment's state. Exit code 0 when every process is alive and the api
/// is ready, 3 otherwise.
pub fn status(ctx: &Context, profile: &Profile) -> Result<ExitCode> {
    let env = profile.name.as_str();
    let layout = Layout::new(ctx, env);
    let Some(state) = LocalState::load(&layout) else {
        ctx.ui.result(
            &format!("{env}: not started (start it with `envctl up {env}`)\n"),
            &json!({ "environment": env, "running": false, "processes": [] }),
        );
        return Ok(ExitCode::from(NOT_RUNNING));
    };

    let mut processes = vec![process::state(&layout, "api", API_ROLE)];
    let mut worker_names = layout.worker_names_with_pid_files();
    for index in 1..=state.workers {
        if !worker_names.contains(&worker_name(index)) {
            worker_names.push(worker_name(index));
        }
    }
    worker_names.sort_by_key(|n| {
        n.trim_start_matches("worker-")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    processes.extend(
        worker_names
            .iter()
            .map(|n| process::state(&layout, n, WORKER_ROLE)),
    );
    let postmaster = database::postmaster(&layout);
    processes.push(ProcessState {
        name: "db".into(),
        pid: postmaster.map(|(pid, _)| pid),
        alive: postmaster.is_some_and(|(pid, _)| process::is_alive(pid, "")),
    });

    let api_alive = processes[0].alive;
    let token = std::fs::read_to_string(layout.api_token()).ok();
    let client = ApiClient::new(&state.api_url, token.as_deref().map(str::trim))?;
    let probe = |path: &str| {
        if api_alive {
            client.probe(path)
        } else {
            Err("api not running".to_string())
        }
    };
    let healthz = probe(rates_contract::routes::HEALTHZ.path);
    let readyz = probe(rates_contract::routes::READYZ.path);
    let depth = if api_alive {
        client.metrics().ok().as_deref().and_then(queue_depth)
    } else {
        None
    };
    let batches: std::result::Result<Vec<BatchInfo>, String> = if api_alive {
        client.recent_batches(5).map_err(|e| e.to_string())
    } else {
        Err("api not running".into())
    };
    // Workers serve /readyz on their own ports.
    let worker_ready: Vec<(String, std::result::Result<u16, String>)> = processes
        .iter()
        .filter(|p| p.name.starts_with("worker-"))
        .map(|p| {
            let probe = match state.worker_ports.get(&p.name) {
                Some(port) if p.alive => ApiClient::new(&format!("http://127.0.0.1:{port}"), None)
                    .map_err(|e| e.to_string())
                    .and_then(|c| c.probe(rates_contract::routes::READYZ.path)),
                Some(_) => Err("not running".to_string()),
                None => Err("no health port recorded".to_string()),
            };
            (p.name.clone(), probe)
        })
        .collect();
    let running = processes.iter().all(|p| p.alive)
        && readyz == Ok(200)
        && worker_ready.iter().all(|(_, r)| *r == Ok(200));

    let mut text = format!(
        "{env}: {}\n  API:       {}\n  Database:  {}\n  Logs:      {}/\n\nProcesses:\n",
        if running {
            "running"
        } else {
            "NOT fully running"
        },
        state.api_url,
        state.database_url,
        layout.logs_dir().display()
    );
    for p in &processes {
        let pid = p.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        text.push_str(&format!(
            "  {:<10} pid {:<8} {}\n",
            p.name,
            pid,
            if p.alive { "alive" } else { "NOT RUNNING" }
        ));
    }
    let show = |r: &std::result::Result<u16, String>| match r {
        Ok(200) => "ok".to_string(),
        Ok(code) => format!("HTTP {code}"),
        Err(e) => e.clone(),
    };
    text.push_str(&format!(
        "\nHealth:  api /healthz {}, /readyz {}\n",
        show(&healthz),
        show(&readyz)
    ));
    for (name, ready) in &worker_ready {
        text.push_str(&format!("         {name} /readyz {}\n", show(ready)));
    }
    text.push_str(&format!(
        "Queue:   {}\n",
        depth
            .map(|d| format!("{d} batch(es) waiting"))
            .unwrap_or_else(|| "unknown".into())
    ));
    match &batches {
        Ok(list) if list.is_empty() => text.push_str("\nNo batches yet.\n"),
        Ok(list) => {
            text.push_str("\nLast batches:\n");
            for b in list {
                text.push_str(&format!(
                    "  {:<38} {:<11} {}\n",
                    b.id,
                    b.status,
                    batch_details(&b.raw)
                ));
            }
        }
        Err(e) => text.push_str(&format!("\nLast batches: unavailable ({e})\n")),
    }
    let value = json!({
        "environment": env,
        "running": running,
        "api_url": state.api_url,
        "database_url": state.database_url,
        "processes": processes,
        "health": {
            "healthz": healthz.ok(),
            "readyz": readyz.ok(),
            "workers": worker_ready.iter().map(|(n, r)| (n.clone(), json!(r.as_ref().ok()))).collect::<serde_json::Map<_, _>>(),
        },
        "queue_depth": depth,
        "batches": batches.as_ref().map(|l| l.iter().map(|b| b.raw.clone()).collect::<Vec<_>>()).ok(),
        "logs_dir": layout.logs_dir(),
    });
    ctx.ui.result(&text, &value);
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_RUNNING)
    })
}

/// Row counts and times of a batch, from whichever of the usual fields the api gives.
fn batch_details(raw: &Value) -> String {
    [
        "row_count",
        "error_count",
        "created_at",
        "finished_at",
        "failure",
    ]
    .iter()
    .filter_map(|key| match &raw[*key] {
        Value::Null => None,
        Value::String(s) => Some(format!("{key}={s}")),
        other => Some(format!("{key}={other}")),
    })
    .collect::<Vec<_>>()
    .join("  ")
}
