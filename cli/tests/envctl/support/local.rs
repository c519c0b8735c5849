//! For the local_* tests: a temporary copy of the project, the real envctl and rates
//! binaries, and checks on the processes `envctl up local` leaves running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{copy_dir, Envctl};

/// The `rates` debug binary built by the same cargo/nextest run as this test
/// (target/debug/rates, found from this test binary's own path: target/debug/deps/NAME).
pub(crate) fn rates_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let rates = profile_dir.join("rates");
    assert!(
        rates.is_file(),
        "the rates binary is missing at {}: build it first (`cargo build -p rates`; \
         `cargo nextest run --workspace` builds it too)",
        rates.display()
    );
    rates
}

/// A temporary project root holding a copy of environments/ and templates/: `.envctl/`
/// (database, logs, pid files) lives there and goes away with it. On drop, whatever the
/// test left running is stopped with `envctl down local`.
pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("envctl-local-")
            .tempdir()
            .unwrap();
        // When the tests run as root, PostgreSQL runs as its service user, which must be
        // able to traverse down to .envctl/local/pg.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let repo = super::repo_root();
        copy_dir(&repo.join("environments"), &dir.path().join("environments"));
        copy_dir(&repo.join("templates"), &dir.path().join("templates"));
        Project { dir }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn local_dir(&self) -> PathBuf {
        self.root().join(".envctl/local")
    }

    /// `envctl --root <temp> --yes ARGS` with no inherited local settings.
    pub(crate) fn envctl(&self, args: &[&str]) -> Envctl {
        let mut cmd = Envctl::new();
        cmd.arg("--root")
            .arg(self.root())
            .arg("--yes")
            .args(args)
            .env_remove("ENVCTL_RATES_BIN")
            .env_remove("ENVCTL_LOCAL_API_PORT")
            .env_remove("ENVCTL_LOCAL_DB_PORT")
            .env_remove("ENVCTL_ROOT")
            .timeout(Duration::from_secs(300));
        cmd
    }

    /// `envctl up local --rates-bin <debug rates> EXTRA`.
    pub(crate) fn up(&self, extra: &[&str]) -> Envctl {
        let rates = rates_bin();
        let mut args = vec!["up", "local", "--rates-bin", rates.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.envctl(&args)
    }

    /// The recorded state (`.envctl/local/state.json`).
    pub(crate) fn state(&self) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.local_dir().join("state.json")).expect("state.json");
        serde_json::from_str(&text).unwrap()
    }

    pub(crate) fn api_url(&self) -> String {
        self.state()["api_url"].as_str().unwrap().to_string()
    }

    /// Process name -> pid, from the pid files, plus `db` from postmaster.pid.
    pub(crate) fn pids(&self) -> BTreeMap<String, i32> {
        let mut pids = BTreeMap::new();
        for entry in std::fs::read_dir(self.local_dir().join("run"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().into_string().unwrap();
            if let Some(process) = name.strip_suffix(".pid") {
                let pid = std::fs::read_to_string(entry.path())
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                pids.insert(process.to_string(), pid);
            }
        }
        let postmaster = self.local_dir().join("pg/data/postmaster.pid");
        if let Ok(text) = std::fs::read_to_string(postmaster) {
            pids.insert(
                "db".into(),
                text.lines().next().unwrap().trim().parse().unwrap(),
            );
        }
        pids
    }

    /// The live processes whose working directory is this environment's directory: the
    /// api and workers envctl started, with their role (`serve`, `work`).
    pub(crate) fn runtime_processes(&self) -> Vec<(i32, String)> {
        let Ok(dir) = self.local_dir().canonicalize() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if !alive(pid) {
                continue;
            }
            let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
                continue;
            };
            if cwd != dir {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if let Some(role) = args.get(1) {
                found.push((pid, role.clone()));
            }
        }
        found.sort();
        found
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.local_dir().exists() {
            self.envctl(&["down", "local"])
                .timeout(Duration::from_secs(60))
                .run();
        }
    }
}

/// Whether `pid` is a live process (zombies, which nobody may have reaped yet, count as gone).
pub(crate) fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Waits up to `timeout` for `pid` to be gone.
pub(crate) fn gone_within(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

/// A blocking HTTP client for the tests (its own single-threaded runtime). It sends the
/// project's API token (`.envctl/local/api-token`, made by `up`) as a bearer token.
pub(crate) struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    token_file: PathBuf,
}

impl Http {
    pub(crate) fn new(project: &Project) -> Http {
        Http {
            token_file: project.local_dir().join("api-token"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                // The tests restart the api on the same port: no pooled connection to a
                // process that is gone.
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let token = std::fs::read_to_string(&self.token_file).expect("the project's API token");
        request.bearer_auth(token.trim())
    }

    /// The status of `GET url` sent without a token.
    pub(crate) fn status_without_token(&self, url: &str) -> u16 {
        self.runtime
            .block_on(async { self.client.get(url).send().await.unwrap().status().as_u16() })
    }

    /// GET `url` -> (status, JSON body).
    pub(crate) fn get(&self, url: &str) -> (u16, serde_json::Value) {
        self.runtime.block_on(async {
            let response = self.authorized(self.client.get(url)).send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json().await.unwrap_or(serde_json::Value::Null),
            )
        })
    }

    /// POST a CSV batch with an Idempotency-Key -> (status, JSON body).
    pub(crate) fn post_csv(&self, url: &str, key: &str, body: &str) -> (u16, serde_json::Value) {
        self.runtime.block_on(async {
            let response = self
                .authorized(self.client.post(url))
                .header("Content-Type", "text/csv")
                .header("Idempotency-Key", key)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json().await.unwrap_or(serde_json::Value::Null),
            )
        })
    }

    /// Polls `GET {api}/batches/{id}` until its status is final; returns the document.
    pub(crate) fn wait_for_batch(&self, api: &str, id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self.get(&format!("{api}/batches/{id}"));
            assert_eq!(status, 200, "GET /batches/{id}: {body}");
            let state = body["status"].as_str().unwrap_or_default().to_string();
            if matches!(state.as_str(), "committed" | "rejected" | "failed") {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "batch {id} still {state} after 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
