//! SIGTERM drains the real `rates` binary: in-flight requests finish, new
//! connections are refused, the process exits 0; the drain is bounded.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sqlx::{Connection, PgConnection};

struct Runtime {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Runtime {
    fn start(db_url: &str, drain_secs: &str) -> Runtime {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rates"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", db_url)
            .env("RATES_BIND", "127.0.0.1:0")
            .env("RATES_DRAIN_TIMEOUT_SECS", drain_secs)
            // The requests here are queries without a token.
            .env("RATES_PUBLIC_READS", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rates");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut runtime = Runtime {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            lines,
            seen: Vec::new(),
        };
        let line = runtime.wait_for_line(|l| l.contains(r#""message":"listening""#));
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        runtime.addr = json["addr"].as_str().expect("addr field").parse().unwrap();
        runtime
    }

    fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
        panic!("no matching log line; saw: {:#?}", self.seen);
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "rates did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        use std::io::Read;
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Holds an exclusive lock on lane_daily so a GET /rates blocks inside the
/// database, provably in flight.
async fn lock_aggregates(db_url: &str) -> PgConnection {
    let mut conn = PgConnection::connect(db_url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE lane_daily IN ACCESS EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn wait_until_blocked(db_url: &str) {
    let mut conn = PgConnection::connect(db_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'rates' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the request never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn prepared_database() -> String {
    let db_url = crate::support::fresh_database().await;
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    sqlx::raw_sql(crate::support::NETWORK_SQL)
        .execute(&pool)
        .await
        .unwrap();
    crate::support::insert_prices(
        &pool,
        &[
            ("CNSHA", "NOOSL", "2016-01-01", 100),
            ("CNSHA", "NOBGO", "2016-01-01", 201),
        ],
    )
    .await;
    pool.close().await;
    db_url
}

const QUERY: &str =
    "/rates?date_from=2016-01-01&date_to=2016-01-02&origin=china&destination=norway";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_0() {
    let db_url = prepared_database().await;
    let mut runtime = Runtime::start(&db_url, "30");
    let base = format!("http://{}", runtime.addr);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    let lock = lock_aggregates(&db_url).await;
    let in_flight = tokio::spawn(reqwest::get(format!("{base}{QUERY}")));
    wait_until_blocked(&db_url).await;

    kill(Pid::from_raw(runtime.child.id() as i32), Signal::SIGTERM).unwrap();
    runtime.wait_for_line(|l| l.contains("shutdown requested"));
    // The listener is closed at once: new connections are refused...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&runtime.addr, Duration::from_millis(200)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...while the request is still being served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        runtime.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    assert!(!in_flight.is_finished());

    lock.close().await.unwrap(); // rolls back, releasing the lock
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!([
            {"day": "2016-01-01", "average_price": 151},
            {"day": "2016-01-02", "average_price": null}
        ])
    );
    let status = runtime.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr: {}", runtime.stderr());

    // One JSON line per request, with route, status and latency.
    let line = runtime.wait_for_line(|l| l.contains(r#""route":"/rates""#));
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["status"], 200, "{line}");
    assert!(json["latency_ms"].as_f64().unwrap() >= 300.0, "{line}");
    runtime.wait_for_line(|l| l.contains("drained"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_is_bounded_by_the_timeout() {
    let db_url = prepared_database().await;
    let mut runtime = Runtime::start(&db_url, "1");
    let base = format!("http://{}", runtime.addr);
    let lock = lock_aggregates(&db_url).await;
    let in_flight = tokio::spawn(reqwest::get(format!("{base}{QUERY}")));
    wait_until_blocked(&db_url).await;

    let started = Instant::now();
    kill(Pid::from_raw(runtime.child.id() as i32), Signal::SIGINT).unwrap();
    let status = runtime.wait_exit(Duration::from_secs(10));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "exited after {elapsed:?}, before the drain timeout"
    );
    assert_ne!(status.code(), Some(0), "a cut-off drain is a failure");
    assert!(runtime.stderr().contains("RATES_DRAIN_TIMEOUT_SECS"));
    assert!(in_flight.await.unwrap().is_err(), "the request was cut off");
    lock.close().await.unwrap();
}
