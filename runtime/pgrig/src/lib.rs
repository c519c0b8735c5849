//! Private PostgreSQL clusters on loopback: initdb into a directory, a free port,
//! trust auth, stopped when dropped. Used by the tests, the benchmarks and
//! `envctl up local`, so all three run the database the same way. Also home of
//! [`moto::MotoServer`], the AWS API emulator the tests start the same way.

pub mod moto;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The superuser every rig cluster is initialised with.
pub const SUPERUSER: &str = "postgres";

/// What can go wrong while finding, starting or using a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found in {searched}; \
         install them (Debian: `apt-get install -y postgresql`) or set PG_BIN_DIR"
    )]
    BinariesMissing { searched: String },
    #[error("running as root, but there is no `{user}` system user to run PostgreSQL as; create one or run as a non-root user")]
    NoServiceUser { user: String },
    #[error("{step} failed ({status}): {stderr}")]
    Command {
        step: String,
        status: String,
        stderr: String,
    },
    #[error("the PostgreSQL service user `{user}` cannot reach {path}; choose a directory outside it or make it traversable (chmod o+x)")]
    Unreachable { user: String, path: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not find a free TCP port on 127.0.0.1: {0}")]
    NoFreePort(std::io::Error),
    #[error("database name `{0}` is not a plain identifier (letters, digits, underscores)")]
    BadDatabaseName(String),
}

pub type Result<T> = std::result::Result<T, Error>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Where the PostgreSQL server binaries live: `PG_BIN_DIR`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian), else the directory of `initdb` on PATH.
pub fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
        return Err(Error::BinariesMissing {
            searched: dir.display().to_string(),
        });
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    Err(Error::BinariesMissing {
        searched: "PG_BIN_DIR, /usr/lib/postgresql/*/bin and PATH".into(),
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::NoFreePort)?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(Error::NoFreePort)
}

/// Whether something already listens on 127.0.0.1:`port`.
pub fn port_in_use(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory. `None`: a temporary directory removed on drop.
    pub data_dir: Option<PathBuf>,
    /// Port on 127.0.0.1. `None`: a free one.
    pub port: Option<u16>,
    /// Durable (fsync on) or fast (fsync off, for throwaway test clusters).
    pub durable: bool,
    /// Stop the server when the [`Cluster`] is dropped.
    pub stop_on_drop: bool,
    /// `max_connections` for the server.
    pub max_connections: u32,
    /// Extra `-c name=value` settings.
    pub settings: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: None,
            port: None,
            durable: false,
            stop_on_drop: true,
            max_connections: 200,
            settings: Vec::new(),
        }
    }
}

/// A running private PostgreSQL cluster.
#[derive(Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    run_as: Option<String>,
    stop_on_drop: bool,
    // Keeps a temporary data directory alive; removed after the server stops.
    _temp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts a throwaway cluster in a temporary directory on a free port.
    pub fn start_temporary() -> Result<Cluster> {
        Cluster::start(Options::default())
    }

    /// Initialises (when the data directory is new) and starts a cluster.
    /// An already running server in `data_dir` is reused.
    pub fn start(options: Options) -> Result<Cluster> {
        let bin_dir = find_bin_dir()?;
        let run_as = service_user()?;
        let (data_dir, temp) = match &options.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("pgrig-")
                    .tempdir()
                    .map_err(io("creating a temporary directory"))?;
                (temp.path().join("data"), Some(temp))
            }
        };
        if let Some(parent) = data_dir.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
            if let Some(user) = &run_as {
                // The service user must be able to reach the data directory.
                chown(parent, user)?;
                make_traversable(parent)?;
                check_reachable(parent, user)?;
            }
        }
        let mut cluster = Cluster {
            bin_dir,
            data_dir,
            port: 0,
            run_as,
            stop_on_drop: options.stop_on_drop,
            _temp: temp,
        };
        if let Some(port) = cluster.running_port() {
            cluster.port = port;
            return Ok(cluster);
        }
        if !cluster.data_dir.join("PG_VERSION").is_file() {
            cluster.initdb()?;
        }
        let mut last_error = None;
        for _ in 0..5 {
            let port = match options.port {
                Some(port) => port,
                None => free_port()?,
            };
            match cluster.pg_ctl_start(port, &options) {
                Ok(()) => {
                    cluster.port = port;
                    return Ok(cluster);
                }
                // A fixed port gets no second try; a random one may have been taken meanwhile.
                Err(e) if options.port.is_none() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the server binaries in use (psql, pgbench, ... live there too).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A connection URL for `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `name` (a plain identifier) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        create_database_at(&self.url("postgres"), name)?;
        Ok(self.url(name))
    }

    /// Stops the server (fast shutdown: open sessions are disconnected).
    pub fn stop(&self) -> Result<()> {
        if !self.data_dir.join("postmaster.pid").exists() {
            return Ok(());
        }
        let mut cmd = self.command("pg_ctl");
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "60"]);
        run(cmd, "pg_ctl stop").map(|_| ())
    }

    #[allow(unsafe_code, reason = "kill(2) with signal 0, documented below")]
    fn running_port(&self) -> Option<u16> {
        // postmaster.pid: line 1 pid, line 4 port.
        let pid_file = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid: i32 = lines.next()?.trim().parse().ok()?;
        let port: u16 = lines.nth(2)?.trim().parse().ok()?;
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        alive.then_some(port)
    }

    fn initdb(&self) -> Result<()> {
        fs::create_dir_all(&self.data_dir)
            .map_err(io(format!("creating {}", self.data_dir.display())))?;
        if let Some(user) = &self.run_as {
            chown(&self.data_dir, user)?;
        }
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg("--no-instructions");
        run(cmd, "initdb").map(|_| ())
    }

    fn pg_ctl_start(&self, port: u16, options: &Options) -> Result<()> {
        let mut settings = vec![
            ("listen_addresses".to_string(), "127.0.0.1".to_string()),
            ("port".to_string(), port.to_string()),
            // Sockets in the data directory: no dependency on /var/run/postgresql.
            (
                "unix_socket_directories".to_string(),
                self.data_dir.display().to_string(),
            ),
            (
                "max_connections".to_string(),
                options.max_connections.to_string(),
            ),
        ];
        if !options.durable {
            for (k, v) in [
                ("fsync", "off"),
                ("synchronous_commit", "off"),
                ("full_page_writes", "off"),
            ] {
                settings.push((k.into(), v.into()));
            }
        }
        settings.extend(options.settings.iter().cloned());
        let server_opts = settings
            .iter()
            .map(|(k, v)| format!("-c {k}='{v}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let log = self.data_dir.join("server.log");
        let mut cmd = self.command("pg_ctl");
        cmd.arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(server_opts);
        run(cmd, "pg_ctl start").map(|_| ()).map_err(|e| match e {
            Error::Command {
                step,
                status,
                stderr,
            } => {
                let tail = fs::read_to_string(&log)
                    .map(|s| {
                        s.lines()
                            .rev()
                            .take(5)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default();
                Error::Command {
                    step,
                    status,
                    stderr: format!("{stderr}\n{tail}"),
                }
            }
            other => other,
        })
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            let _ = self.stop();
        }
    }
}

/// Stops the server running in `data_dir`, if any, without starting one.
pub fn stop_data_dir(data_dir: &Path) -> Result<()> {
    if !data_dir.join("postmaster.pid").exists() {
        return Ok(());
    }
    let cluster = Cluster {
        bin_dir: find_bin_dir()?,
        data_dir: data_dir.to_path_buf(),
        port: 0,
        run_as: service_user()?,
        stop_on_drop: false,
        _temp: None,
    };
    cluster.stop()
}

/// Creates database `name` through the server at `admin_url` (a URL to an
/// existing database, as superuser). Uses `createdb`-equivalent SQL via psql.
pub fn create_database_at(admin_url: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::BadDatabaseName(name.into()));
    }
    let psql = find_bin_dir()
        .map(|d| d.join("psql"))
        .unwrap_or_else(|_| PathBuf::from("psql"));
    let mut cmd = Command::new(psql);
    cmd.arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("CREATE DATABASE \"{name}\""));
    run(cmd, "CREATE DATABASE").map(|_| ())
}

/// A fresh database for one test: on the cluster named by `PGRIG_URL` (an
/// admin URL the test command exports after starting one shared cluster), or
/// else on a cluster this process starts and keeps for its lifetime.
pub fn test_database() -> Result<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static CLUSTER: OnceLock<std::result::Result<(String, Option<Cluster>), String>> =
        OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let entry = CLUSTER.get_or_init(|| match std::env::var("PGRIG_URL") {
        Ok(url) if !url.is_empty() => Ok((url, None)),
        _ => Cluster::start(Options {
            // Test processes may exit without running destructors; the
            // cluster would then linger. Tests normally share PGRIG_URL.
            stop_on_drop: true,
            ..Options::default()
        })
        .map(|c| (c.url("postgres"), Some(c)))
        .map_err(|e| e.to_string()),
    });
    let (admin_url, _) = entry.as_ref().map_err(|e| Error::Command {
        step: "starting the test cluster".into(),
        status: "error".into(),
        stderr: e.clone(),
    })?;
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    create_database_at(admin_url, &name)?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

/// Waits until `port` on 127.0.0.1 accepts connections.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[allow(unsafe_code, reason = "geteuid(2), documented below")]
fn service_user() -> Result<Option<String>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let user = std::env::var("PGRIG_USER").unwrap_or_else(|_| "postgres".into());
    let status = Command::new("id")
        .arg("-u")
        .arg(&user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io("running id"))?;
    if !status.success() {
        return Err(Error::NoServiceUser { user });
    }
    Ok(Some(user))
}

fn chown(path: &Path, user: &str) -> Result<()> {
    let mut cmd = Command::new("chown");
    cmd.arg(format!("{user}:")).arg(path);
    run(cmd, "chown").map(|_| ())
}

fn make_traversable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Temp dirs are 0700; the server user must reach its data directory
    // inside, and every ancestor of a temp dir is already world-traversable.
    let mut perms = fs::metadata(path)
        .map_err(io(format!("reading {}", path.display())))?
        .permissions();
    perms.set_mode(perms.mode() | 0o711);
    fs::set_permissions(path, perms).map_err(io(format!("chmod {}", path.display())))
}

fn check_reachable(dir: &Path, user: &str) -> Result<()> {
    let status = Command::new("runuser")
        .args(["-u", user, "--", "test", "-x"])
        .arg(dir)
        .status()
        .map_err(io("running runuser"))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Unreachable {
            user: user.into(),
            path: dir.display().to_string(),
        })
    }
}

fn run(mut cmd: Command, step: &str) -> Result<Output> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("running {step}")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Command {
            step: step.into(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_creates_a_database_and_stops() {
        let cluster = Cluster::start_temporary().expect("cluster starts");
        let url = cluster.create_database("rig_check").expect("database");
        assert!(url.ends_with("/rig_check"));
        assert!(port_in_use(cluster.port()));
        let out = Command::new(cluster.bin_dir().join("psql"))
            .arg(&url)
            .args(["-tA", "-c", "select 40 + 2"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
        let port = cluster.port();
        drop(cluster);
        assert!(!port_in_use(port), "server stopped on drop");
    }

    #[test]
    fn refuses_odd_database_names() {
        assert!(matches!(
            create_database_at("postgres://x@127.0.0.1:1/postgres", "a;drop"),
            Err(Error::BadDatabaseName(_))
        ));
    }

    #[test]
    fn reuses_a_running_server_in_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            data_dir: Some(dir.path().join("pg")),
            stop_on_drop: false,
            ..Options::default()
        };
        let first = Cluster::start(options.clone()).unwrap();
        let second = Cluster::start(options).unwrap();
        assert_eq!(first.port(), second.port());
        first.stop().unwrap();
        assert!(!port_in_use(first.port()));
    }
}
