//! EMF delivery to the CloudWatch agent (`RATES_EMF_ENDPOINT`): the real binary sends its
//! batch metrics to a listener standing in for the agent's EMF port, every line checked
//! against the EMF specification (emf_support); reconnection after the agent drops the
//! connection; UDP; and an unreachable agent that never slows a batch, with the dropped
//! documents counted.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::batch::{csv_batch, fresh_batch_database, spawn};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rates::emf::agent::{AgentSender, Endpoint};
use rates::metrics::Metrics;
use serde_json::Value;

const LOG_GROUP: &str = "/aws/containerinsights/rates-test/rates-emf";

/// Kills the child if the test fails before it has exited.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
    }
}

/// A stand-in for the agent's TCP listener: every line of every connection, with its
/// newline, in arrival order; `close_after_first` drops each connection after one line
/// (an agent restarting).
fn tcp_agent(close_after_first: bool) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if tx.send(line).is_err() || close_after_first {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn the_emf_checker_refuses_what_the_specification_forbids() {
    crate::support::emf::self_test();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_sends_batch_metrics_to_the_agent_as_valid_emf_lines() {
    let (agent_port, agent_lines) = tcp_agent(false);
    let db_url = fresh_batch_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rates"))
        .args(["serve", "--with-worker"])
        .env("DATABASE_URL", &db_url)
        .env("RATES_BIND", "127.0.0.1:0")
        .env("RATES_METRICS_NAMESPACE", "RatesTest")
        .env("RATES_METRICS_DIMENSIONS", "Environment=test,Service=rates")
        .env("RATES_WORKER_POLL_MS", "100")
        .env(
            "RATES_EMF_ENDPOINT",
            format!("tcp://127.0.0.1:{agent_port}"),
        )
        .env("RATES_EMF_LOG_GROUP", LOG_GROUP)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rates serve --with-worker");
    let _guard = KillOnDrop(child.id());
    let stdout = child.stdout.take().unwrap();
    let (stdout_tx, stdout_lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if stdout_tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = stdout_lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the listening line");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["message"] == "listening" {
            break v["addr"].as_str().unwrap().to_string();
        }
    };
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let token =
        crate::support::create_token(&pool, "tests", &rates_contract::scopes::Scope::ALL).await;
    let client = crate::support::client_with(&token);
    let upload = |body: String| {
        let request = client
            .post(format!("http://{addr}/batches"))
            .header("content-type", "text/csv")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 202);
        }
    };
    upload(csv_batch(0, 321)).await;
    upload("orig_code,dest_code,day,price\nCNSHA,XXXXX,2016-01-01,5\n".to_string()).await;

    // Every line the agent receives is a valid EMF document naming the log group.
    let mut documents: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let check = |line: String, documents: &mut Vec<Value>| {
        let doc = crate::support::emf::validate_line(&line, Some(LOG_GROUP))
            .unwrap_or_else(|e| panic!("the agent received an invalid EMF line: {e}"));
        documents.push(doc);
    };
    while !(documents.iter().any(|d| d["status"] == "committed")
        && documents.iter().any(|d| d["status"] == "rejected"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = agent_lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("batch metrics did not reach the agent: {documents:?}"));
        check(line, &mut documents);
    }
    let committed = documents
        .iter()
        .find(|d| d["status"] == "committed")
        .unwrap();
    let directive = &committed["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "RatesTest");
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["Environment", "Service"]])
    );
    assert_eq!(committed["Environment"], "test");
    assert_eq!(committed["BatchesCommitted"], 1.0);
    assert_eq!(committed["RowsIngested"], 321.0);
    let rejected = documents
        .iter()
        .find(|d| d["status"] == "rejected")
        .unwrap();
    assert_eq!(rejected["BatchesRejected"], 1.0);
    assert!(
        documents.iter().any(|d| d["QueueDepth"].is_number()),
        "queue metrics go to the agent too: {documents:?}"
    );

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    // Whatever arrived up to the exit is valid too.
    while let Ok(line) = agent_lines.recv_timeout(Duration::from_millis(200)) {
        check(line, &mut documents);
    }
    // Nothing of EMF went to stdout (Fluent Bit would wrap it, CloudWatch extract nothing).
    for line in stdout_lines.try_iter() {
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            v.get("_aws").is_none(),
            "EMF on stdout with an agent endpoint: {line}"
        );
    }
}

fn document(n: usize) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    format!(
        "{}\n",
        serde_json::json!({
            "_aws": {"Timestamp": now, "CloudWatchMetrics": [{"Namespace": "RatesTest",
                "Dimensions": [[]], "Metrics": [{"Name": "N", "Unit": "Count"}]}]},
            "N": n
        })
    )
}

fn counter(metrics: &Metrics, name_and_labels: &str) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The agent closing the connection (a restart, an idle timeout) loses nothing: the
/// sender notices before its next write and reconnects.
#[tokio::test]
async fn a_closed_agent_connection_is_reopened_before_the_next_line() {
    let (port, lines) = tcp_agent(true);
    let metrics = Metrics::new();
    let endpoint = Endpoint::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let sender = AgentSender::start(endpoint, metrics.clone());
    for n in 0..3 {
        sender.send(document(n));
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("line {n} did not arrive"));
        assert_eq!(
            crate::support::emf::validate_line(&line, None).unwrap()["N"],
            n
        );
        // The agent has read the line and closed; give its FIN time to arrive.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sender.flush(Duration::from_secs(2)).await);
    assert_eq!(counter(&metrics, "rates_emf_sent_total"), 3);
}

#[tokio::test]
async fn documents_go_over_udp_one_datagram_each() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let endpoint = Endpoint::parse(&format!("udp://127.0.0.1:{port}")).unwrap();
    let sender = AgentSender::start(endpoint, Metrics::new());
    for n in 0..2 {
        sender.send(document(n));
    }
    for n in 0..2 {
        let mut buf = [0u8; 65_536];
        let len = socket.recv(&mut buf).expect("a datagram");
        let line = std::str::from_utf8(&buf[..len]).unwrap();
        assert_eq!(
            crate::support::emf::validate_line(line, None).unwrap()["N"],
            n
        );
    }
}

/// With the agent down, a batch commits as fast as ever, emitting never waits, and what
/// does not fit the buffer is dropped and counted; at shutdown the flush gives up on the
/// unreachable agent at once instead of holding the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_agent_never_blocks_a_batch_and_drops_are_counted() {
    // A port nobody listens on: connections are refused.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let app = spawn(
        &[
            ("RATES_EMF_ENDPOINT", endpoint.as_str()),
            ("RATES_EMF_LOG_GROUP", LOG_GROUP),
        ],
        true,
    )
    .await;
    let observer = app.state.batches.observer();
    // A burst larger than the buffer, from the calling task: never waits.
    let burst = rates::emf::agent::BUFFER_DOCUMENTS + 500;
    let started = Instant::now();
    for _ in 0..burst {
        observer.queue(0, 0.0);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{burst} emits took {took:?} with the agent down"
    );
    // The batch path is not slowed: it commits (its own document is dropped).
    let started = Instant::now();
    let done = app.ingest_csv(&csv_batch(0, 200)).await;
    assert_eq!(done["status"], "committed", "{done}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a batch took {:?} with the agent down",
        started.elapsed()
    );
    let metrics = app.state.metrics.clone();
    let full = counter(&metrics, "rates_emf_dropped_total{reason=\"buffer_full\"}");
    assert!(full >= 500, "drops counted: {full}\n{}", metrics.render());
    // /metrics shows them.
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("rates_emf_dropped_total{reason=\"buffer_full\"}"),
        "{text}"
    );

    let started = Instant::now();
    observer.emf().flush(Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "flush took {:?}",
        started.elapsed()
    );
    // Every document is accounted for: never sent, dropped when the buffer was full, or
    // dropped at the flush because the agent stayed unreachable.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let unreachable = counter(&metrics, "rates_emf_dropped_total{reason=\"unreachable\"}");
    let full = counter(&metrics, "rates_emf_dropped_total{reason=\"buffer_full\"}");
    let sent = counter(&metrics, "rates_emf_sent_total");
    assert_eq!(sent, 0);
    let sender = observer.emf().agent().expect("an agent sink");
    assert_eq!(sender.buffered(), 0, "the flush emptied the buffer");
    // The burst plus the batch's document plus the sampled queue documents.
    assert!(
        full + unreachable > burst as u64,
        "full {full} + unreachable {unreachable} for {burst}+ documents"
    );
}

/// Receives agent lines until `want` documents with `message` arrived; each is checked
/// against the EMF specification.
fn receive(lines: &mpsc::Receiver<String>, message: &str, want: usize) -> Vec<Value> {
    let mut found = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while found.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{want} `{message}` documents did not arrive: {found:?}"));
        let doc = crate::support::emf::validate_line(&line, None)
            .unwrap_or_else(|e| panic!("the agent received an invalid EMF line: {e}"));
        if doc["message"] == message {
            found.push(doc);
        }
    }
    found
}

/// What the api's alarms read (ApiRequests, Api5xxErrors, ApiLatency p99) comes from real
/// requests through the router, probes and scrapes left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_become_emf_for_the_api_alarms() {
    let (port, lines) = tcp_agent(false);
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let app = spawn(&[("RATES_EMF_ENDPOINT", endpoint.as_str())], false).await;
    let get = |path: &str| {
        let request = app.client.get(app.url(path));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for _ in 0..5 {
        let status =
            get("/rates?date_from=2016-01-01&date_to=2016-01-03&origin=china&destination=europe")
                .await;
        assert_eq!(status, 200);
    }
    assert_eq!(get("/nowhere").await, 404);
    for path in ["/healthz", "/readyz", "/metrics", "/healthz"] {
        assert_eq!(get(path).await, 200, "{path}");
    }
    // The query pool gone: the api answers 5xx.
    app.state.db.reader().close().await;
    let status =
        get("/rates?date_from=2016-01-01&date_to=2016-01-04&origin=china&destination=europe").await;
    assert!(status >= 500, "{status}");

    app.state.api_emf.flush();
    let docs = receive(&lines, "api metrics", 1);
    let doc = &docs[0];
    assert_eq!(doc["ApiRequests"], 7.0, "{doc}");
    assert_eq!(doc["Api5xxErrors"], 1.0, "{doc}");
    let latencies = doc["ApiLatency"].as_array().expect("latency samples");
    assert_eq!(latencies.len(), 7, "{doc}");
    assert!(latencies.iter().all(|v| v.as_f64().unwrap() > 0.0), "{doc}");
    let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ApiRequests", "Api5xxErrors", "ApiLatency"]);
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][2]["Unit"],
        "Milliseconds"
    );

    // A quiet interval reports zero requests (and no latency).
    app.state.api_emf.flush();
    let doc = &receive(&lines, "api metrics", 1)[0];
    assert_eq!(doc["ApiRequests"], 0.0, "{doc}");
    assert!(doc.get("ApiLatency").is_none(), "{doc}");
}

/// A busy interval: counts are exact, latencies a sample of at most 1,000 split into
/// documents of at most 100 values (the EMF limit).
#[tokio::test]
async fn a_busy_interval_is_sampled_into_documents_of_at_most_100_values() {
    let (port, lines) = tcp_agent(false);
    let endpoint = Endpoint::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let emf = rates::emf::Emf::to_agent(
        "RatesTest".into(),
        vec![("Environment".into(), "test".into())],
        AgentSender::start(endpoint, Metrics::new()),
        Some(LOG_GROUP.into()),
    );
    let api = rates::emf::api::ApiEmf::new(emf);
    for i in 0..2500u32 {
        let status = if i % 10 == 0 { 500 } else { 200 };
        api.record("/rates", status, f64::from(i % 100) + 0.5);
    }
    api.flush();
    let docs = receive(&lines, "api metrics", 10);
    assert_eq!(docs[0]["ApiRequests"], 2500.0);
    assert_eq!(docs[0]["Api5xxErrors"], 250.0);
    let samples: usize = docs
        .iter()
        .map(|d| d["ApiLatency"].as_array().unwrap().len())
        .sum();
    assert_eq!(samples, rates::emf::api::MAX_SAMPLES);
    for doc in &docs[1..] {
        assert!(doc.get("ApiRequests").is_none(), "counted once: {doc}");
        assert_eq!(doc["_aws"]["LogGroupName"], LOG_GROUP);
    }
}

/// (metric name, unit, dimension set) as an EMF document declares them.
type Declared = (String, String, std::collections::BTreeSet<String>);

/// Every metric a document declares, once per dimension set of its directive.
fn declared(doc: &Value) -> Vec<Declared> {
    let mut out = Vec::new();
    for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        for set in directive["Dimensions"].as_array().unwrap() {
            let names: std::collections::BTreeSet<String> = set
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            for m in directive["Metrics"].as_array().unwrap() {
                out.push((
                    m["Name"].as_str().unwrap().to_string(),
                    m["Unit"].as_str().unwrap_or("None").to_string(),
                    names.clone(),
                ));
            }
        }
    }
    out
}

/// The runtime emits exactly the contract's metrics, with the contract's units and
/// dimensions: a committed, a rejected and a failed batch, the queue sample and real api
/// requests, every EMF line checked against the specification. Nothing is emitted that the
/// contract does not list (an alarm could not know of it), and nothing the contract lists
/// is never emitted (an alarm on it would never fire).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_emits_exactly_the_contracts_metrics() {
    use rates_contract::metrics;
    use std::collections::BTreeSet;

    let (port, lines) = tcp_agent(false);
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let deployment = ["Environment", "Service"];
    let app = spawn(
        &[
            ("RATES_EMF_ENDPOINT", endpoint.as_str()),
            ("RATES_METRICS_DIMENSIONS", "Environment=test,Service=rates"),
            // One attempt: a batch whose payload is lost fails at once.
            ("RATES_BATCH_MAX_ATTEMPTS", "1"),
            // A webhook nobody answers, one attempt: outcome events are given up, and the
            // deliverer samples the outbox.
            ("RATES_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("RATES_WEBHOOK_SECRET", "emf-test-secret-0123456789"),
            ("RATES_WEBHOOK_MAX_ATTEMPTS", "1"),
        ],
        false,
    )
    .await;
    // Staged before any worker runs, so the third one's payload can be lost first.
    let mut ids = Vec::new();
    for body in [
        csv_batch(0, 50),
        "orig_code,dest_code,day,price\nCNSHA,XXXXX,2016-01-01,5\n".to_string(),
        csv_batch(1000, 30),
    ] {
        let (status, accepted) = app.csv(&body).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    sqlx::query("DELETE FROM batch_payload_chunks WHERE batch_id = $1::uuid")
        .bind(&ids[2])
        .execute(&app.pool)
        .await
        .unwrap();
    tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        app.state.shutdown.clone(),
        Duration::from_secs(5),
    ));
    for (id, want) in ids.iter().zip(["committed", "rejected", "failed"]) {
        let done = app.wait_final(id, Duration::from_secs(60)).await;
        assert_eq!(done["status"], want, "{done}");
    }
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url(
                "/rates?date_from=2016-01-01&date_to=2016-01-03&origin=china&destination=europe",
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    app.state.api_emf.flush();

    let expected: BTreeSet<Declared> = metrics::ALL
        .iter()
        .flat_map(|m| {
            m.dimensions.sets(&deployment).into_iter().map(|set| {
                (
                    m.name.to_string(),
                    m.unit.as_str().to_string(),
                    set.into_iter().collect(),
                )
            })
        })
        .collect();
    let mut emitted: BTreeSet<Declared> = BTreeSet::new();
    let check = |line: String, emitted: &mut BTreeSet<Declared>| {
        let doc = crate::support::emf::validate_line(&line, None)
            .unwrap_or_else(|e| panic!("the agent received an invalid EMF line: {e}"));
        emitted.extend(declared(&doc));
    };
    // Until everything expected arrived (or the deadline), then whatever else is in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !expected.is_subset(&emitted) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => check(line, &mut emitted),
            Err(_) => break,
        }
    }
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        check(line, &mut emitted);
    }
    let outside: Vec<&Declared> = emitted.difference(&expected).collect();
    let never: Vec<&Declared> = expected.difference(&emitted).collect();
    assert!(
        outside.is_empty() && never.is_empty(),
        "emitted but not in the contract (or with another unit or dimensions): {outside:?}\n\
         in the contract but never emitted: {never:?}"
    );
}
