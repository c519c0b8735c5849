//! Helpers for the batch tests: the app on a fresh database with a small
//! network, an optional in-process worker, uploads and polling.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rates::config::Config;
use rates::startup::Role;
use rates_contract::scopes::Scope;

use super::TestApp;
use serde_json::Value;
use sqlx::PgPool;

/// Ports of the test network (all exist).
pub(crate) const PORTS: [&str; 6] = ["CNSHA", "CNNGB", "NLRTM", "DEHAM", "USNYC", "USLAX"];

pub(crate) const BATCH_NETWORK_SQL: &str = "
INSERT INTO regions (slug, name, parent_slug) VALUES
  ('world', 'World', NULL), ('asia', 'Asia', 'world'), ('china', 'China', 'asia'),
  ('europe', 'Europe', 'world'), ('americas', 'Americas', 'world');
INSERT INTO ports (code, name, parent_slug) VALUES
  ('CNSHA', 'Shanghai', 'china'), ('CNNGB', 'Ningbo', 'china'),
  ('NLRTM', 'Rotterdam', 'europe'), ('DEHAM', 'Hamburg', 'europe'),
  ('USNYC', 'New York', 'americas'), ('USLAX', 'Los Angeles', 'americas');
";

/// A fresh, migrated database with the test network; returns its URL.
pub(crate) async fn fresh_batch_database() -> String {
    let url = tokio::task::spawn_blocking(|| pgrig::test_database().expect("test database"))
        .await
        .unwrap();
    let pool = PgPool::connect(&url).await.expect("connect");
    rates::db::migrate(&pool).await.expect("migrate");
    sqlx::raw_sql(BATCH_NETWORK_SQL)
        .execute(&pool)
        .await
        .expect("network");
    pool.close().await;
    url
}

/// The app (port 0) on `db_url` with extra config variables; with an
/// in-process worker when `worker` is true.
pub(crate) async fn spawn_on(db_url: &str, vars: &[(&str, &str)], worker: bool) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .try_init();
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_string(), db_url.to_string()),
        ("RATES_BIND".to_string(), "127.0.0.1:0".to_string()),
        ("RATES_WORKER_POLL_MS".to_string(), "200".to_string()),
        // Tests make bursts; the limit has its own test.
        ("RATES_RATE_LIMIT_PER_SECOND".to_string(), "0".to_string()),
    ]);
    for (k, v) in vars {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("config");
    let (addr, state) = super::start(
        config,
        Role::Serve {
            with_worker: worker,
        },
    )
    .await;
    let pool = PgPool::connect(db_url).await.expect("connect");
    // Several apps may share one database: each gets its own client.
    let name = format!("tests-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let token = super::create_token(&pool, &name, &Scope::ALL).await;
    TestApp {
        base: format!("http://{addr}"),
        pool,
        state,
        client: super::client_with(&token),
        token,
    }
}

pub(crate) async fn spawn(vars: &[(&str, &str)], worker: bool) -> TestApp {
    let url = fresh_batch_database().await;
    spawn_on(&url, vars, worker).await
}

impl TestApp {
    /// POSTs a payload to /batches; returns status and JSON body.
    pub(crate) async fn upload(
        &self,
        content_type: Option<&str>,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut request = self.client.post(self.url("/batches")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("POST /batches");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }

    pub(crate) async fn csv(&self, body: &str) -> (u16, Value) {
        self.upload(Some("text/csv"), None, body.to_string()).await
    }

    /// Polls a batch until it is committed, rejected or failed.
    pub(crate) async fn wait_final(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get_json(&format!("/batches/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if ["committed", "rejected", "failed"].contains(&body["status"].as_str().unwrap()) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "batch {id} not final in time: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Uploads CSV and waits for the final state.
    pub(crate) async fn ingest_csv(&self, body: &str) -> Value {
        let (status, accepted) = self.csv(body).await;
        assert_eq!(status, 202, "{accepted}");
        self.wait_final(accepted["id"].as_str().unwrap(), Duration::from_secs(60))
            .await
    }

    pub(crate) async fn prices_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM prices")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// A fingerprint of the prices table and its aggregates.
    pub(crate) async fn prices_fingerprint(&self) -> (i64, i64, i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM prices), (SELECT coalesce(sum(price), 0)::int8 FROM prices),
                    (SELECT count(*) FROM lane_daily), (SELECT coalesce(sum(price_sum), 0)::int8 FROM lane_daily)",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

/// A CSV batch of `rows` rows whose prices are `base + 1 ..= base + rows`
/// (unique, so each batch's rows can be counted in `prices`).
pub(crate) fn csv_batch(base: i64, rows: usize) -> String {
    let mut out = String::from("orig_code,dest_code,day,price\n");
    for i in 0..rows {
        let orig = PORTS[i % PORTS.len()];
        let dest = PORTS[(i / PORTS.len() + 1 + i) % PORTS.len()];
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        out.push_str(&format!(
            "{orig},{dest},2016-{month:02}-{day:02},{}\n",
            base + 1 + i as i64
        ));
    }
    out
}
