//! Batch outcome events: one per final batch, written with the outcome, delivered to
//! the webhook signed (checked here with OpenSSL, not the runtime's code), retried
//! while the receiver fails, at least once across a restart of the runtime, with the
//! same event id every time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

use crate::support::batch::{csv_batch, fresh_batch_database, spawn_on};

const SECRET: &str = "webhook-secret-0123456789abcdef";

/// A webhook receiver: records every delivery; answers 500 to the first `fail_first`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, SocketAddr) {
        let receiver = Receiver {
            fail_first: Arc::new(Mutex::new(fail_first)),
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    /// The deliveries so far: (event id, body).
    fn deliveries(&self) -> Vec<(String, Value, HeaderMap, Bytes)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(h, b)| {
                (
                    h["rates-event-id"].to_str().unwrap().to_string(),
                    serde_json::from_slice(b).unwrap(),
                    h.clone(),
                    b.clone(),
                )
            })
            .collect()
    }

    async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<(String, Value, HeaderMap, Bytes)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.deliveries();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} deliveries",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.got.lock().unwrap().push((headers, body));
    let mut fail = r.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// The signature a receiver expects, computed by OpenSSL.
fn openssl_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&message).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string()
}

/// `t=...,v1=...` -> (t, v1).
fn parse_signature(header: &str) -> (String, String) {
    let parts: HashMap<&str, &str> = header
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    (parts["t"].to_string(), parts["v1"].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_delivered_signed_and_retried_until_taken() {
    let (receiver, addr) = Receiver::start(2).await;
    let db = fresh_batch_database().await;
    let hook = format!("http://{addr}/hook");
    let app = spawn_on(
        &db,
        &[
            ("RATES_WEBHOOK_URL", &hook),
            ("RATES_WEBHOOK_SECRET", SECRET),
        ],
        true,
    )
    .await;
    let committed = app.ingest_csv(&csv_batch(0, 4)).await;
    let rejected = app
        .ingest_csv(
            "orig_code,dest_code,day,price\nCNSHA,NLRTM,2016-01-01,0\nCNSHA,XXXXX,2016-01-01,5\n",
        )
        .await;
    assert_eq!(committed["status"], "committed");
    assert_eq!(rejected["status"], "rejected");

    // Two failures (500) first: four deliveries for two events, each retried once
    // more than it failed, with the same id.
    let got = receiver.wait_for(4, Duration::from_secs(30)).await;
    let ids: Vec<&str> = got.iter().map(|(id, ..)| id.as_str()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        2,
        "two events, redelivered with their ids: {ids:?}"
    );
    let by_batch: HashMap<String, Value> = got
        .iter()
        .map(|(_, body, ..)| (body["batch_id"].as_str().unwrap().to_string(), body.clone()))
        .collect();
    let c = &by_batch[committed["id"].as_str().unwrap()];
    assert_eq!(c["type"], "batch.committed");
    assert_eq!(c["row_count"], 4);
    assert_eq!(c["source"], "upload");
    assert!(c["data_version"].as_i64().unwrap() >= 1, "{c}");
    let r = &by_batch[rejected["id"].as_str().unwrap()];
    assert_eq!(r["type"], "batch.rejected");
    assert_eq!(r["error_count"], 2);
    assert_eq!(r["errors"][0]["line"], 2, "the first errors by line: {r}");
    assert_eq!(r["errors"][1]["value"], "XXXXX", "{r}");

    for (id, _, headers, body) in &got {
        let (t, v1) = parse_signature(headers["rates-signature"].to_str().unwrap());
        assert_eq!(
            v1,
            openssl_signature(SECRET, &t, body),
            "event {id}: signature"
        );
        assert_ne!(v1, openssl_signature("another-secret-0123456789", &t, body));
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .abs_diff(t.parse().unwrap());
        assert!(age < 60, "the timestamp is now: {t}");
    }
    // Recorded as delivered, with the attempts it took.
    let rows: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT attempts, delivered_at IS NOT NULL FROM batch_events ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(_, delivered)| *delivered), "{rows:?}");
    assert_eq!(rows.iter().map(|(a, _)| a).sum::<i32>(), 4);
}

/// The receiver is down when the batches commit; the runtime is killed (SIGKILL) and
/// started again; once the receiver is up, every event arrives, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_outlive_a_killed_runtime_and_arrive_once_the_receiver_is_up() {
    let db = fresh_batch_database().await;
    // A port that refuses connections for now.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let hook = format!("http://127.0.0.1:{port}/hook");
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let token =
        crate::support::create_token(&pool, "tests", &rates_contract::scopes::Scope::ALL).await;
    let client = crate::support::client_with(&token);
    let start = || serve_with_webhook(&db, &hook);
    let mut runtime = start();
    let addr = listening(&mut runtime);
    let mut ids = Vec::new();
    for n in 0..3 {
        let accepted: Value = client
            .post(format!("http://{addr}/batches"))
            .header("content-type", "text/csv")
            .body(csv_batch(n * 10, 2))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    // All three final (their events in the outbox, undeliverable for now).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let final_count: i64 = sqlx::query_scalar("SELECT count(*) FROM batch_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        if final_count == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the batches did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runtime.kill().unwrap();
    let _ = runtime.wait();

    // The receiver comes up on that port; a new runtime delivers what is pending.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Undelivered events wait out their backoff (a second or two after one failure).
    let mut runtime = start();
    let _ = listening(&mut runtime);
    let got = receiver.wait_for(3, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_later = receiver.deliveries();
    runtime.kill().unwrap();
    let _ = runtime.wait();
    assert_eq!(got_later.len(), 3, "each event once after it was taken");
    let mut batches: Vec<String> = got
        .iter()
        .map(|(_, body, ..)| body["batch_id"].as_str().unwrap().to_string())
        .collect();
    batches.sort();
    ids.sort();
    assert_eq!(batches, ids);
}

/// `rates serve --with-worker` on `db`, delivering to `hook`.
fn serve_with_webhook(db: &str, hook: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rates"))
        .args(["serve", "--with-worker"])
        .env("DATABASE_URL", db)
        .env("RATES_BIND", "127.0.0.1:0")
        .env("RATES_WORKER_POLL_MS", "100")
        .env("RATES_WEBHOOK_URL", hook)
        .env("RATES_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn listening(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("the listening line").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["message"] == "listening" {
            break v["addr"].as_str().unwrap().to_string();
        }
    };
    // Keep draining so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    addr
}

/// Outcome events published to an SNS topic (moto), received through a subscribed
/// queue with raw delivery: the body is the event, and `status`/`type` are message
/// attributes subscribers can filter on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_published_to_the_topic_with_filterable_attributes() {
    let moto =
        tokio::task::spawn_blocking(|| pgrig::moto::MotoServer::start().expect("moto_server"))
            .await
            .unwrap();
    for (k, v) in moto.env() {
        // Each test runs in its own process (nextest); the app reads these.
        std::env::set_var(k, v);
    }
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("rates-test-batch-events")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("rejections")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    // A subscriber of rejections only, as the docs' example.
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"status": ["rejected"]}"#)
        .send()
        .await
        .unwrap();

    let db = fresh_batch_database().await;
    let app = spawn_on(&db, &[("RATES_EVENTS_TOPIC_ARN", &topic)], true).await;
    let committed = app.ingest_csv(&csv_batch(0, 3)).await;
    let rejected = app
        .ingest_csv("orig_code,dest_code,day,price\nCNSHA,ZZZZZ,2016-01-01,5\n")
        .await;
    assert_eq!(committed["status"], "committed");

    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = received.messages.and_then(|m| m.into_iter().next()) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached the subscribed queue"
        );
    };
    let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(
        body["batch_id"], rejected["id"],
        "only the rejection passes the filter"
    );
    assert_eq!(body["errors"][0]["value"], "ZZZZZ");
    let attributes = message.message_attributes.unwrap();
    assert_eq!(attributes["status"].string_value(), Some("rejected"));
    assert_eq!(attributes["type"].string_value(), Some("batch.rejected"));
    // Both events were published and are recorded as delivered (the mark follows the
    // publish).
    loop {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM batch_events WHERE delivered_at IS NOT NULL")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        if delivered == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of 2 events marked delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An event whose delivery failed every allowed attempt is kept as given up, listed by
/// `GET /events?state=given_up`, and delivered again on `POST /events/{id}/redeliver`
/// with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_events_are_listed_and_redelivered_on_request() {
    let (receiver, addr) = Receiver::start(1).await;
    let db = fresh_batch_database().await;
    let hook = format!("http://{addr}/hook");
    let app = spawn_on(
        &db,
        &[
            ("RATES_WEBHOOK_URL", &hook),
            ("RATES_WEBHOOK_SECRET", SECRET),
            ("RATES_WEBHOOK_MAX_ATTEMPTS", "1"),
        ],
        true,
    )
    .await;
    app.ingest_csv(&csv_batch(0, 2)).await;
    receiver.wait_for(1, Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let given_up = loop {
        let (status, list) = app.get_json("/events?state=given_up").await;
        assert_eq!(status, 200, "{list}");
        if let Some(event) = list["events"].as_array().unwrap().first() {
            break event.clone();
        }
        assert!(Instant::now() < deadline, "the event was not given up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(given_up["attempts"], 1);
    assert!(
        given_up["last_error"].as_str().unwrap().contains("500"),
        "{given_up}"
    );
    let (_, pending) = app.get_json("/events?state=pending").await;
    assert_eq!(pending["events"].as_array().unwrap().len(), 0);

    let id = given_up["id"].as_str().unwrap();
    let response = app
        .client
        .post(app.url(&format!("/events/{id}/redeliver")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let got = receiver.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(got[1].0, id, "redelivered with the same event id");
    loop {
        let (_, delivered) = app.get_json("/events?state=delivered").await;
        if delivered["events"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not marked delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (path, code) in [("/events?state=lost", 400), ("/events?limit=0", 400)] {
        assert_eq!(app.get_json(path).await.0, code, "{path}");
    }
    let unknown = app
        .client
        .post(app.url("/events/0190b2a4-0000-7000-8000-000000000000/redeliver"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

/// The runtime is killed (SIGKILL) after the receiver got an event and before the
/// delivery was recorded: once the claim's lease runs out (fast-forwarded here), the
/// next runtime delivers it again, with the same event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_before_it_is_recorded_is_repeated_with_the_same_id() {
    let db = fresh_batch_database().await;
    // The receiver takes the first delivery but answers it only much later.
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let slow_first = {
        let got = got.clone();
        move |headers: HeaderMap| {
            let got = got.clone();
            async move {
                let first = {
                    let mut got = got.lock().unwrap();
                    got.push(headers["rates-event-id"].to_str().unwrap().to_string());
                    got.len() == 1
                };
                if first {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                StatusCode::NO_CONTENT
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/hook", post(slow_first)),
        )
        .await
    });
    let hook = format!("http://{addr}/hook");
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let token =
        crate::support::create_token(&pool, "tests", &rates_contract::scopes::Scope::ALL).await;
    let client = crate::support::client_with(&token);
    let start = || serve_with_webhook(&db, &hook);
    let mut runtime = start();
    let api = listening(&mut runtime);
    let response = client
        .post(format!("http://{api}/batches"))
        .header("content-type", "text/csv")
        .body(csv_batch(0, 2))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the event never reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    runtime.kill().unwrap();
    let _ = runtime.wait();
    let recorded: bool = sqlx::query_scalar("SELECT delivered_at IS NOT NULL FROM batch_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!recorded, "killed before the delivery was recorded");
    // The claim's lease (a minute) runs out.
    sqlx::query("UPDATE batch_events SET next_attempt_at = clock_timestamp()")
        .execute(&pool)
        .await
        .unwrap();
    let mut runtime = start();
    let _ = listening(&mut runtime);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered: bool =
            sqlx::query_scalar("SELECT delivered_at IS NOT NULL FROM batch_events")
                .fetch_one(&pool)
                .await
                .unwrap();
        if delivered {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runtime.kill().unwrap();
    let _ = runtime.wait();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], got[1], "the same event id both times");
}
