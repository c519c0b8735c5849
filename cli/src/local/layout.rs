//! Where the local environment keeps its state: everything lives under `.envctl/local/`.

use std::path::{Path, PathBuf};

use crate::context::Context;

/// The files and directories of the local environment under the project root.
///
/// ```text
/// .envctl/local/
///   pg/data/            PostgreSQL data directory (server.log is the db log)
///   logs/api.log        the api's JSON log lines (appended across restarts)
///   logs/worker-N.log   one log per worker process
///   logs/migrate.log    the last migration run
///   run/api.pid         pid files of the running processes
///   run/worker-N.pid
///   state.json          ports, URLs and the binary the processes were started with
///   demo-prices.csv     the synthetic demo batch as posted to /batches
/// ```
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// `.envctl/NAME/` for the local-target environment NAME (normally `local`).
    pub fn new(ctx: &Context, environment: &str) -> Layout {
        Layout::at(ctx.state_dir().join(environment))
    }

    /// A layout rooted at `dir` (the `.envctl/local` directory).
    pub fn at(dir: impl Into<PathBuf>) -> Layout {
        Layout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parent of the data directory: pgrig hands it to the PostgreSQL service user when
    /// envctl runs as root, so it is kept apart from the logs and pid files.
    pub fn pg_dir(&self) -> PathBuf {
        self.dir.join("pg")
    }

    pub fn pg_data(&self) -> PathBuf {
        self.pg_dir().join("data")
    }

    /// The PostgreSQL server's log (written by `pg_ctl -l`).
    pub fn db_log(&self) -> PathBuf {
        self.pg_data().join("server.log")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    pub fn log_file(&self, process: &str) -> PathBuf {
        self.logs_dir().join(format!("{process}.log"))
    }

    /// The environment's API token (client `admin`, every scope), readable by its owner only.
    pub fn api_token(&self) -> PathBuf {
        self.dir().join("api-token")
    }

    /// The key the local webhook's events are signed with (0600, made by the first `up`
    /// that has a webhook).
    pub fn webhook_secret(&self) -> PathBuf {
        self.dir.join("webhook-secret")
    }

    pub fn pid_file(&self, process: &str) -> PathBuf {
        self.run_dir().join(format!("{process}.pid"))
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn demo_csv(&self) -> PathBuf {
        self.dir.join("demo-prices.csv")
    }

    /// The names of the worker processes that have a pid file, in index order.
    pub fn worker_names_with_pid_files(&self) -> Vec<String> {
        let mut indices: Vec<u32> = std::fs::read_dir(self.run_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_prefix("worker-")?
                    .strip_suffix(".pid")?
                    .parse()
                    .ok()
            })
            .collect();
        indices.sort_unstable();
        indices.into_iter().map(worker_name).collect()
    }

    /// Every worker log file, in index order.
    pub fn worker_logs(&self) -> Vec<PathBuf> {
        let mut logs: Vec<(u32, PathBuf)> = std::fs::read_dir(self.logs_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let index = name
                    .strip_prefix("worker-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((index, entry.path()))
            })
            .collect();
        logs.sort();
        logs.into_iter().map(|(_, path)| path).collect()
    }
}

/// The process name of worker number `index` (1-based): `worker-1`, `worker-2`, ...
pub(super) fn worker_name(index: u32) -> String {
    format!("worker-{index}")
}
