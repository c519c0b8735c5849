//! `envctl up local`: the database, the migrations, the api and the workers as background
//! processes, readiness, the demo data through the batch API, then where everything is.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::api_client::ApiClient;
use super::database;
use super::demo_data;
use super::layout::{worker_name, Layout};
use super::listening::find_listening_addr;
use super::lock::LocalLock;
use super::prerequisites;
use super::process::{self, ProcessSpec, Spawned};
use super::runtime_binary::RatesBinary;
use super::settings::{fingerprint, LocalSettings};
use super::state::LocalState;
use crate::cli::UpArgs;
use crate::context::Context;
use crate::profile::Profile;
use crate::ui::Step;
use crate::{client_token, webhook_secret};
use crate::{Error, Result};

/// The api's role argument: `rates serve`.
pub(super) const API_ROLE: &str = "serve";
/// A worker's role argument: `rates work`.
pub(super) const WORKER_ROLE: &str = "work";

/// Brings the local environment up, or makes a running one match the profile and flags.
/// Processes already running with the same binary and settings are left alone.
pub fn up(ctx: &Context, profile: &Profile, args: &UpArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let layout = Layout::new(ctx, profile.name.as_str());
    let settings = LocalSettings::resolve(profile, args)?;
    let _lock = LocalLock::acquire(&layout)?;
    let previous = LocalState::load(&layout);

    // A configured port taken by another program fails before anything is started.
    if let Some(port) = settings.api_port {
        check_api_port(port, previous.as_ref())?;
    }
    prerequisites::ensure_postgres(&ctx.ui)?;
    let rates = RatesBinary::locate_or_build(ctx, args.rates_bin.as_deref())?;
    ctx.ui.event(
        "runtime_binary",
        &format!(
            "✓ rates runtime: {} ({})",
            rates.path.display(),
            rates.origin.describe()
        ),
        json!({ "path": rates.path, "origin": rates.origin }),
    );

    let step = ctx.ui.step("Starting PostgreSQL");
    let cluster = finish(
        step,
        database::start(
            &layout,
            settings.db_port,
            previous.as_ref().map(|s| s.db_port),
        ),
        |c| {
            format!(
                "127.0.0.1:{}, data in {}",
                c.port(),
                layout.pg_data().display()
            )
        },
    )?;
    let database_url = cluster.url(database::DATABASE);

    let token = client_token::local(&layout.api_token())?;
    let step = ctx.ui.step("Migrating the database");
    finish(
        step,
        migrate(&layout, &rates.path, &database_url, &settings, &token),
        |_| "up to date".into(),
    )?;

    let webhook_secret = match &settings.webhook_url {
        Some(_) => Some(webhook_secret::local(&layout.webhook_secret())?),
        None => None,
    };
    let shared_env = settings.runtime_env(&database_url, webhook_secret.as_deref());
    let api_env: Vec<_> = shared_env
        .iter()
        .cloned()
        .chain(settings.api_env())
        .collect();
    let worker_env: Vec<_> = shared_env
        .iter()
        .cloned()
        .chain(settings.worker_env())
        .collect();
    let api_fingerprint = fingerprint(&rates.path, &api_env);
    let worker_fingerprint = fingerprint(&rates.path, &worker_env);
    let deadline = Instant::now() + args.timeout;

    let api = ensure_api(
        ctx,
        &layout,
        &settings,
        &rates.path,
        api_env,
        &api_fingerprint,
        previous.as_ref(),
        deadline,
    )?;
    let workers = ensure_workers(
        ctx,
        &layout,
        &settings,
        &rates.path,
        worker_env,
        &worker_fingerprint,
        previous.as_ref(),
        deadline,
    )?;

    let mut state = LocalState {
        api_url: format!("http://127.0.0.1:{}", api.port),
        api_port: api.port,
        db_port: cluster.port(),
        database_url: database_url.clone(),
        workers: settings.workers,
        worker_ports: workers.iter().map(|w| (w.name.clone(), w.port)).collect(),
        rates_bin: rates.path.clone(),
        api_fingerprint,
        worker_fingerprint,
        demo_batch: previous.and_then(|p| p.demo_batch),
    };
    state.save(&layout)?;

    let client = ApiClient::new(&state.api_url, Some(&token))?;
    let mut example_lane = None;
    if !args.no_demo_data {
        let loaded = demo_data::load(ctx, &layout, &rates.path, &shared_env, &client, deadline)?;
        example_lane = loaded.example_lane.clone();
        state.demo_batch = Some(loaded.batch);
        state.save(&layout)?;
    }

    let elapsed = started.elapsed();
    print_summary(
        ctx,
        &layout,
        &state,
        &api,
        &workers,
        cluster.port(),
        example_lane,
        settings.webhook_url.as_ref(),
        elapsed,
    );
    Ok(ExitCode::SUCCESS)
}

/// Fails naming `port` when something other than this environment's own api listens on it.
fn check_api_port(port: u16, previous: Option<&LocalState>) -> Result<()> {
    let ours = previous.is_some_and(|p| p.api_port == port);
    if pgrig::port_in_use(port) && !ours {
        return Err(Error::Local {
            message: format!(
                "port {port} (--api-port) is already in use by another program on 127.0.0.1"
            ),
            help: Some(
                "free it, pass another --api-port, or leave --api-port out to pick a free port"
                    .into(),
            ),
        });
    }
    Ok(())
}

/// Ends `step` as done (with `ok`'s text) or failed, passing the result on.
fn finish<T>(step: Step, result: Result<T>, ok: impl FnOnce(&T) -> String) -> Result<T> {
    match &result {
        Ok(value) => step.done(&ok(value)),
        Err(_) => step.fail("failed"),
    }
    result
}

/// The api process as `up` left it.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct ProcessReport {
    pub name: String,
    pub pid: i32,
    /// Started by this run (false: it was already running and was kept).
    pub started: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: u16,
}

fn is_zero(port: &u16) -> bool {
    *port == 0
}

fn migrate(
    layout: &Layout,
    rates: &Path,
    database_url: &str,
    settings: &LocalSettings,
    token: &str,
) -> Result<()> {
    std::fs::create_dir_all(layout.logs_dir()).map_err(Error::io(format!(
        "creating {}",
        layout.logs_dir().display()
    )))?;
    let log_path = layout.log_file("migrate");
    let log = std::fs::File::create(&log_path)
        .map_err(Error::io(format!("creating {}", log_path.display())))?;
    // The environment's token becomes client `admin` on a new database.
    let status = Command::new(rates)
        .args(["migrate", "--admin-token-from-env", client_token::ENV_VAR])
        .env(client_token::ENV_VAR, token)
        .env("DATABASE_URL", database_url)
        .env("RATES_LOG", &settings.log)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(Error::io("opening the migration log"))?,
        )
        .stderr(log)
        .status()
        .map_err(Error::io(format!("running {} migrate", rates.display())))?;
    if status.success() {
        return Ok(());
    }
    Err(Error::Local {
        message: format!(
            "`rates migrate` failed ({status}):\n{}",
            process::log_tail(&log_path, 20)
        ),
        help: Some(format!(
            "the full output is in {}; if the local database was made by a build whose \
             migrations have since changed, `envctl down local --purge` starts afresh",
            log_path.display()
        )),
    })
}

#[allow(clippy::too_many_arguments)]
fn ensure_api(
    ctx: &Context,
    layout: &Layout,
    settings: &LocalSettings,
    rates: &Path,
    env: Vec<(String, String)>,
    fingerprint: &str,
    previous: Option<&LocalState>,
    deadline: Instant,
) -> Result<ProcessReport> {
    let live = process::read_pid(layout, "api").filter(|pid| process::is_alive(*pid, API_ROLE));
    if let (Some(pid), Some(prev)) = (live, previous) {
        let same = prev.api_fingerprint == fingerprint
            && settings.api_port.is_none_or(|p| p == prev.api_port);
        if same
            && ApiClient::new(&prev.api_url, None)?.probe(rates_contract::routes::READYZ.path)
                == Ok(200)
        {
            ctx.ui.event(
                "process_kept",
                &format!("✓ api already running (pid {pid}) on {}", prev.api_url),
                json!({ "process": "api", "pid": pid, "url": prev.api_url }),
            );
            return Ok(ProcessReport {
                name: "api".into(),
                pid,
                started: false,
                port: prev.api_port,
            });
        }
    }
    if live.is_some() {
        let step = ctx
            .ui
            .step("Restarting the api (its binary or settings changed)");
        process::stop_all(
            layout,
            &[("api".into(), API_ROLE.into())],
            stop_bound_of(settings),
            |d| step.update(d),
        )?;
        step.done("stopped");
    } else {
        process::remove_pid_file(layout, "api")?;
    }

    let port = match settings.api_port {
        Some(port) => {
            check_api_port(port, None)?;
            port
        }
        // Port 0: the kernel picks; the api logs the address it bound.
        None => previous
            .map(|p| p.api_port)
            .filter(|p| *p != 0 && !pgrig::port_in_use(*p))
            .unwrap_or(0),
    };
    let step = ctx.ui.step("Starting the api");
    let started = start_http_process(layout, "api", API_ROLE, rates, env, port, deadline, &step);
    let (spawned, port) = match started {
        Ok(started) => started,
        Err(e) => {
            step.fail("did not become ready");
            return Err(e);
        }
    };
    step.done(&format!("pid {}, http://127.0.0.1:{port}", spawned.pid));
    Ok(ProcessReport {
        name: "api".into(),
        pid: spawned.pid,
        started: true,
        port,
    })
}

/// Starts `rates ROLE` listening on 127.0.0.1:`port` (0: any free port, read back from its
/// `listening` log line) and waits for its `/readyz`. A process that exits or is not ready by
/// the deadline is killed and its log shown.
#[allow(clippy::too_many_arguments)]
fn start_http_process(
    layout: &Layout,
    name: &str,
    role: &str,
    rates: &Path,
    mut env: Vec<(String, String)>,
    port: u16,
    deadline: Instant,
    step: &Step,
) -> Result<(Spawned, u16)> {
    env.push(("RATES_BIND".into(), format!("127.0.0.1:{port}")));
    let mut spawned = process::spawn(
        layout,
        &ProcessSpec {
            name: name.into(),
            program: rates.to_path_buf(),
            args: vec![role.into()],
            env,
            cwd: layout.dir().to_path_buf(),
        },
    )?;
    let log = spawned.log.clone();
    let offset = spawned.log_offset;
    let waited = (|| {
        let port = match port {
            0 => {
                step.update(&format!("{name}: waiting for its listening address"));
                wait_for(
                    &mut spawned,
                    deadline,
                    "to log its listening address",
                    || find_listening_addr(&log, offset).map(|a| a.port()),
                )?
            }
            port => port,
        };
        step.update(&format!(
            "{name}: waiting for http://127.0.0.1:{port}/readyz"
        ));
        let client = ApiClient::new(&format!("http://127.0.0.1:{port}"), None)?;
        wait_for(&mut spawned, deadline, "to become ready", || {
            (client.probe(rates_contract::routes::READYZ.path) == Ok(200)).then_some(())
        })?;
        Ok(port)
    })();
    match waited {
        Ok(port) => Ok((spawned, port)),
        Err(e) => {
            kill_spawned(&mut spawned);
            let _ = process::remove_pid_file(layout, name);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn ensure_workers(
    ctx: &Context,
    layout: &Layout,
    settings: &LocalSettings,
    rates: &Path,
    env: Vec<(String, String)>,
    fingerprint: &str,
    previous: Option<&LocalState>,
    deadline: Instant,
) -> Result<Vec<ProcessReport>> {
    let same_settings = previous.is_some_and(|p| p.worker_fingerprint == fingerprint);
    // Workers beyond the wanted count (a smaller --workers than last time) are stopped.
    let extra: Vec<(String, String)> = layout
        .worker_names_with_pid_files()
        .into_iter()
        .filter(|name| {
            name.strip_prefix("worker-")
                .and_then(|i| i.parse::<u32>().ok())
                .is_some_and(|i| i > settings.workers)
        })
        .map(|name| (name, WORKER_ROLE.to_string()))
        .collect();
    let mut to_stop = extra;
    let mut reports = Vec::new();
    let mut wanted = Vec::new();
    for index in 1..=settings.workers {
        let name = worker_name(index);
        match process::read_pid(layout, &name).filter(|pid| process::is_alive(*pid, WORKER_ROLE)) {
            Some(pid) if same_settings => {
                let port = previous
                    .and_then(|p| p.worker_ports.get(&name).copied())
                    .unwrap_or(0);
                reports.push(ProcessReport {
                    name,
                    pid,
                    started: false,
                    port,
                });
            }
            Some(_) => {
                to_stop.push((name.clone(), WORKER_ROLE.into()));
                wanted.push(name);
            }
            None => wanted.push(name),
        }
    }
    if !to_stop.is_empty() {
        let step = ctx.ui.step(format!(
            "Stopping {} worker(s) no longer wanted as they run",
            to_stop.len()
        ));
        process::stop_all(layout, &to_stop, stop_bound_of(settings), |d| {
            step.update(d)
        })?;
        step.done("stopped");
    }
    if !reports.is_empty() {
        let pids: Vec<String> = reports.iter().map(|r| r.pid.to_string()).collect();
        ctx.ui.event(
            "process_kept",
            &format!("✓ {} worker(s) already running (pids {})", reports.len(), pids.join(", ")),
            json!({ "process": "worker", "pids": reports.iter().map(|r| r.pid).collect::<Vec<_>>() }),
        );
    }
    if wanted.is_empty() {
        return Ok(reports);
    }
    let step = ctx.ui.step(format!("Starting {} worker(s)", wanted.len()));
    // Each worker serves /healthz, /readyz and /metrics on its own port.
    for name in wanted {
        let port = previous
            .and_then(|p| p.worker_ports.get(&name).copied())
            .filter(|p| !pgrig::port_in_use(*p))
            .unwrap_or(0);
        let started = start_http_process(
            layout,
            &name,
            WORKER_ROLE,
            rates,
            env.clone(),
            port,
            deadline,
            &step,
        );
        let (spawned, port) = match started {
            Ok(started) => started,
            Err(e) => {
                step.fail(&format!("{name} did not start"));
                return Err(e);
            }
        };
        reports.push(ProcessReport {
            name,
            pid: spawned.pid,
            started: true,
            port,
        });
    }
    let started: Vec<String> = reports
        .iter()
        .filter(|r| r.started)
        .map(|r| format!("{} pid {} :{}", r.name, r.pid, r.port))
        .collect();
    step.done(&started.join(", "));
    reports.sort_by_key(|r| {
        r.name
            .trim_start_matches("worker-")
            .parse::<u32>()
            .unwrap_or(0)
    });
    Ok(reports)
}

fn stop_bound_of(settings: &LocalSettings) -> Duration {
    Duration::from_secs(u64::from(settings.drain_timeout_secs) + 5)
}

/// Polls `ready` until it gives a value, the process exits (an error with its log) or the
/// deadline passes.
fn wait_for<T>(
    spawned: &mut Spawned,
    deadline: Instant,
    what: &str,
    mut ready: impl FnMut() -> Option<T>,
) -> Result<T> {
    loop {
        if let Some(value) = ready() {
            return Ok(value);
        }
        if let Some(status) = spawned.exited() {
            return Err(exit_error(
                spawned,
                &status,
                &format!("exited while envctl waited for it {what}"),
            ));
        }
        if Instant::now() >= deadline {
            return Err(Error::Local {
                message: format!(
                    "{} (pid {}) did not manage {what} before the --timeout:\n{}",
                    spawned.name,
                    spawned.pid,
                    process::log_tail(&spawned.log, 20)
                ),
                help: Some(format!(
                    "see {}; raise --timeout if the machine is slow",
                    spawned.log.display()
                )),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn exit_error(spawned: &Spawned, status: &str, what: &str) -> Error {
    Error::Local {
        message: format!(
            "{} {what} ({status}); the end of its log:\n{}",
            spawned.name,
            process::log_tail(&spawned.log, 20)
        ),
        help: Some(format!("the full log is {}", spawned.log.display())),
    }
}

/// Stops a process this run started and that failed its start-up, so none is left behind.
fn kill_spawned(spawned: &mut Spawned) {
    let _ = spawned.child.kill();
    let _ = spawned.child.wait();
}

#[allow(clippy::too_many_arguments)]
fn print_summary(
    ctx: &Context,
    layout: &Layout,
    state: &LocalState,
    api: &ProcessReport,
    workers: &[ProcessReport],
    db_port: u16,
    example_lane: Option<demo_data::ExampleLane>,
    webhook: Option<&crate::profile::WebhookUrl>,
    elapsed: Duration,
) {
    let url = &state.api_url;
    let logs = layout.logs_dir();
    let token_file = layout.api_token();
    // The token is read from its file where it is used, so it never lands in scrollback.
    let auth = r#"-H "Authorization: Bearer $TOKEN""#;
    let rates_example = match &example_lane {
        Some(lane) => format!(
            "curl {auth} '{url}/rates?date_from={}&date_to={}&origin={}&destination={}'",
            lane.date_from, lane.date_to, lane.origin, lane.destination
        ),
        None => format!("curl {auth} '{url}/rates?date_from=2024-01-01&date_to=2024-01-10&origin=PORT_OR_REGION&destination=PORT_OR_REGION'"),
    };
    let batch_example = format!(
        "printf 'orig_code,dest_code,day,price\\n{}\\n' > prices.csv\n  curl -X POST {url}/batches {auth} -H 'Content-Type: text/csv' -H 'Idempotency-Key: my-first-batch' --data-binary @prices.csv\n  curl {auth} {url}/batches/BATCH_ID",
        example_lane
            .as_ref()
            .map(|l| format!("{},{},{},1234", l.origin, l.destination, l.date_from))
            .unwrap_or_else(|| "ORIG,DEST,2024-01-01,1234".into())
    );
    let worker_pids: Vec<String> = workers.iter().map(|w| w.pid.to_string()).collect();
    let demo = match &state.demo_batch {
        Some(batch) => format!("  Demo data:  batch {} ({})\n", batch.id, batch.status),
        None => String::new(),
    };
    let secret_file = layout.webhook_secret();
    let events = match webhook {
        Some(url) => format!(
            "  Events:     posted to {url}, signed with the key in {} (docs/batches.md)\n",
            secret_file.display()
        ),
        None => String::new(),
    };
    let text = format!(
        "\nThe rates service runs on this machine (ready in {:.1}s).\n\
         \n  API:        {url}  (OpenAPI document: {url}/openapi.json)\n\
         \x20 Database:   {db}\n\
         \x20 Processes:  api pid {api_pid}, {n} worker(s) pids {worker_pids}, PostgreSQL on port {db_port}\n\
         {demo}\
         {events}\
         \x20 Logs:       {logs}/ and {db_log}\n\
         \x20             envctl logs {env} [api|worker|db] [-f]\n\
         \nTry it (the token is client `admin`, every scope; `rates token create` makes others):\n  TOKEN=$(cat {token_file})\n  {rates_example}\n  {batch_example}\n\
         \nStatus: envctl status {env}    Stop: envctl down {env} (add --purge to delete the data)\n",
        elapsed.as_secs_f64(),
        db = state.database_url,
        api_pid = api.pid,
        n = workers.len(),
        worker_pids = worker_pids.join(", "),
        logs = logs.display(),
        db_log = layout.db_log().display(),
        token_file = token_file.display(),
        env = layout.dir().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    );
    let value = json!({
        "event": "up",
        "api_url": url,
        "api_token_file": token_file,
        "database_url": state.database_url,
        "db_port": db_port,
        "api": api,
        "workers": workers,
        "demo_batch": state.demo_batch,
        "logs_dir": logs,
        "db_log": layout.db_log(),
        "seconds": elapsed.as_secs_f64(),
        "examples": { "rates": rates_example },
        "webhook": webhook.map(|url| json!({ "url": url, "secret_file": secret_file })),
    });
    ctx.ui.result(&text, &value);
}
