//! The real binary in its one-process form (`rates serve --with-worker`):
//! a batch goes in over HTTP, commits, and its metrics appear as CloudWatch
//! EMF lines (configured namespace and dimensions) in the JSON log on stdout;
//! SIGTERM then drains and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::batch::{csv_batch, fresh_batch_database};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_worker_commits_and_logs_emf_metrics() {
    let db_url = fresh_batch_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rates"))
        .args(["serve", "--with-worker"])
        .env("DATABASE_URL", &db_url)
        .env("RATES_BIND", "127.0.0.1:0")
        .env("RATES_METRICS_NAMESPACE", "RatesTest")
        .env("RATES_METRICS_DIMENSIONS", "Environment=test,Service=rates")
        .env("RATES_WORKER_POLL_MS", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rates serve --with-worker");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<Value> = Vec::new();
    let next = |seen: &mut Vec<Value>| -> Value {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a log line in time");
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if value.get("_aws").is_some() {
            // Without RATES_EMF_ENDPOINT the EMF documents are stdout lines, as valid
            // as the ones the agent gets.
            crate::support::emf::validate_line(&format!("{line}\n"), None)
                .unwrap_or_else(|e| panic!("an invalid EMF line on stdout: {e}"));
        }
        seen.push(value.clone());
        value
    };
    let addr = loop {
        let v = next(&mut seen);
        let message = v["message"].as_str().or(v["fields"]["message"].as_str());
        if message == Some("listening") {
            break v["addr"]
                .as_str()
                .or(v["fields"]["addr"].as_str())
                .unwrap()
                .to_string();
        }
    };
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let token =
        crate::support::create_token(&pool, "tests", &rates_contract::scopes::Scope::ALL).await;
    let client = crate::support::client_with(&token);
    let response = client
        .post(format!("http://{addr}/batches"))
        .header("content-type", "text/csv")
        .body(csv_batch(0, 321))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let emf = loop {
        let v = next(&mut seen);
        if v["_aws"].is_object() && v["status"] == "committed" {
            break v;
        }
    };
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "RatesTest");
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["Environment", "Service"]])
    );
    assert_eq!(emf["Environment"], "test");
    assert_eq!(emf["Service"], "rates");
    assert_eq!(emf["BatchesCommitted"], 1.0);
    assert_eq!(emf["RowsIngested"], 321.0);
    assert!(emf["BatchDuration"].as_f64().unwrap() >= 0.0);
    assert!(emf["RowsPerSecond"].as_f64().unwrap() > 0.0);
    let names: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "BatchesCommitted",
            "BatchDuration",
            "RowsIngested",
            "RowsPerSecond"
        ]
    );
    // The queue gauges are published as EMF too (sampled at start).
    assert!(
        seen.iter()
            .any(|v| v["_aws"].is_object() && v["QueueDepth"].is_number()),
        "no queue EMF line"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
}
