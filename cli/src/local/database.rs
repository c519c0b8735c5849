//! The local environment's PostgreSQL: a durable pgrig cluster in `.envctl/local/pg/data`
//! (reused when it is already running) holding the `rates` database.

use std::process::{Command, Stdio};

use super::layout::Layout;
use crate::{Error, Result};

/// The database the runtime uses inside the local cluster.
pub(super) const DATABASE: &str = "rates";

/// Starts (or finds running) the cluster and makes sure the `rates` database exists.
/// `port`: a configured port (an error names it when it is taken); `preferred`: the previous
/// run's port, used when free so URLs stay the same across restarts.
pub(super) fn start(
    layout: &Layout,
    port: Option<u16>,
    preferred: Option<u16>,
) -> Result<pgrig::Cluster> {
    let running = running_port(layout);
    let port =
        match (running, port) {
            (Some(_), _) => None,
            (None, Some(port)) if pgrig::port_in_use(port) => return Err(Error::Local {
                message: format!(
                    "port {port} (--db-port) is already in use by another program on 127.0.0.1"
                ),
                help: Some(
                    "free it, pass another --db-port, or leave --db-port out to pick a free port"
                        .into(),
                ),
            }),
            (None, Some(port)) => Some(port),
            (None, None) => preferred.filter(|p| !pgrig::port_in_use(*p)),
        };
    let cluster = pgrig::Cluster::start(pgrig::Options {
        data_dir: Some(layout.pg_data()),
        port,
        durable: true,
        stop_on_drop: false,
        max_connections: 200,
        settings: Vec::new(),
    })
    .map_err(pg_error)?;
    ensure_database(&cluster)?;
    Ok(cluster)
}

/// The port of the cluster running in the data directory, if one is.
pub(super) fn running_port(layout: &Layout) -> Option<u16> {
    postmaster(layout)
        .filter(|(pid, _)| super::process::is_alive(*pid, ""))
        .map(|(_, port)| port)
}

/// The postmaster's pid and port from `postmaster.pid` (lines 1 and 4).
pub(super) fn postmaster(layout: &Layout) -> Option<(i32, u16)> {
    let text = std::fs::read_to_string(layout.pg_data().join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2)?.trim().parse().ok()?;
    Some((pid, port))
}

fn ensure_database(cluster: &pgrig::Cluster) -> Result<()> {
    let output = Command::new(cluster.bin_dir().join("psql"))
        .arg(cluster.url("postgres"))
        .args(["-tAq", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        ))
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io("running psql"))?;
    if !output.status.success() {
        return Err(Error::Local {
            message: format!(
                "checking for the `{DATABASE}` database failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            help: None,
        });
    }
    if String::from_utf8_lossy(&output.stdout).trim() != "1" {
        cluster.create_database(DATABASE).map_err(pg_error)?;
    }
    Ok(())
}

/// Stops the cluster if it runs.
pub(super) fn stop(layout: &Layout) -> Result<()> {
    pgrig::stop_data_dir(&layout.pg_data()).map_err(pg_error)
}

/// pgrig's errors in envctl's terms: missing pieces of the machine are prerequisites.
pub(super) fn pg_error(err: pgrig::Error) -> Error {
    match err {
        pgrig::Error::BinariesMissing { .. } | pgrig::Error::NoServiceUser { .. } => {
            Error::Prerequisite {
                message: err.to_string(),
                help: None,
            }
        }
        pgrig::Error::Unreachable { .. } => Error::Local {
            message: err.to_string(),
            help: Some("put the project (or --root) in a directory every user can traverse".into()),
        },
        other => Error::Local {
            message: format!("PostgreSQL: {other}"),
            help: None,
        },
    }
}
