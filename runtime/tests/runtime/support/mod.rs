//! Test helpers: a running app on a fresh database and port 0, and a small
//! hand-made network.

pub(crate) mod batch;
pub(crate) mod emf;

use std::collections::HashMap;
use std::net::SocketAddr;

use rates::auth::token::NewToken;
use rates::config::Config;
use rates::db::Db;
use rates::startup::{App, Role};
use rates::state::AppState;
use rates_contract::scopes::Scope;
use sqlx::PgPool;

pub(crate) struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub state: AppState,
    /// Sends `token` with every request.
    pub client: reqwest::Client,
    /// A token with every scope, made for this app's database (client `tests`).
    pub token: String,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    pub(crate) async fn post_json(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Runs SQL on the app's database (fixtures).
    pub(crate) async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// A fresh, migrated database URL.
pub(crate) async fn fresh_database() -> String {
    let url = tokio::task::spawn_blocking(|| pgrig::test_database().expect("test database"))
        .await
        .unwrap();
    let pool = PgPool::connect(&url).await.expect("connect");
    rates::db::migrate(&pool).await.expect("migrate");
    pool.close().await;
    url
}

/// The app on a fresh database, listening on 127.0.0.1 port 0.
/// Assembles the app as `rates serve` / `rates work` do (startup::App) and runs it in
/// the background; returns its address and state.
pub(crate) async fn start(config: Config, role: Role) -> (SocketAddr, AppState) {
    let db = Db::connect(&config).expect("pools");
    let app = App::build(config, db, role).await.expect("bind");
    let (addr, state) = (app.local_addr(), app.state().clone());
    tokio::spawn(app.run());
    (addr, state)
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like [`spawn_app`], with extra environment variables for the config.
pub(crate) async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let db_url = fresh_database().await;
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_string(), db_url.clone()),
        ("RATES_BIND".to_string(), "127.0.0.1:0".to_string()),
        // Tests make bursts; the limit has its own test.
        ("RATES_RATE_LIMIT_PER_SECOND".to_string(), "0".to_string()),
    ]);
    for (k, v) in vars {
        env.insert(k.to_string(), v.replace("{DATABASE_URL}", &db_url));
    }
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("config");
    let (addr, state) = start(config, Role::Serve { with_worker: false }).await;
    // The database the app uses (a test may point DATABASE_URL elsewhere, or at a
    // database that is not there: then the fresh one).
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect(&env["DATABASE_URL"])
        .await
    {
        Ok(pool) => pool,
        Err(_) => PgPool::connect(&db_url).await.expect("connect"),
    };
    let token = create_token(&pool, "tests", &Scope::ALL).await;
    TestApp {
        base: format!("http://{addr}"),
        pool,
        state,
        client: client_with(&token),
        token,
    }
}

/// Creates client `name` with `scopes` (as `rates token create` does); returns its token.
pub(crate) async fn create_token(pool: &PgPool, name: &str, scopes: &[Scope]) -> String {
    let token = NewToken::generate();
    rates::auth::store::create(pool, name, &token, scopes, None)
        .await
        .expect("create token");
    token.text
}

/// An HTTP client that sends `token` as its bearer token on every request.
pub(crate) fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("HTTP client")
}

/// A small network with regions four deep and an empty region:
///
/// ```text
/// europe                 ESBCN
///   north_europe         DEHAM
///     scandinavia        SEGOT
///       norway           NOOSL NOBGO
/// asia                   JPTYO
///   china                CNSHA CNNGB
/// arctic                 (no ports)
/// ```
pub(crate) const NETWORK_SQL: &str = "
INSERT INTO regions (slug, name, parent_slug) VALUES
  ('europe', 'Europe', NULL),
  ('north_europe', 'North Europe', 'europe'),
  ('scandinavia', 'Scandinavia', 'north_europe'),
  ('norway', 'Norway', 'scandinavia'),
  ('asia', 'Asia', NULL),
  ('china', 'China', 'asia'),
  ('arctic', 'Arctic', NULL);
INSERT INTO ports (code, name, parent_slug) VALUES
  ('ESBCN', 'Barcelona', 'europe'),
  ('DEHAM', 'Hamburg', 'north_europe'),
  ('SEGOT', 'Gothenburg', 'scandinavia'),
  ('NOOSL', 'Oslo', 'norway'),
  ('NOBGO', 'Bergen', 'norway'),
  ('JPTYO', 'Tokyo', 'asia'),
  ('CNSHA', 'Shanghai', 'china'),
  ('CNNGB', 'Ningbo', 'china');
";

/// Inserts `(orig, dest, day, price)` rows.
pub(crate) async fn insert_prices(pool: &PgPool, rows: &[(&str, &str, &str, i32)]) {
    for (orig, dest, day, price) in rows {
        sqlx::query(
            "INSERT INTO prices (orig_code, dest_code, day, price) VALUES ($1, $2, $3::date, $4)",
        )
        .bind(orig)
        .bind(dest)
        .bind(day)
        .bind(price)
        .execute(pool)
        .await
        .expect("insert price");
    }
}

/// The `average_price` column of a rates answer, checking every day appears
/// once, ascending, starting at `first_day`.
pub(crate) fn averages(body: &serde_json::Value, first_day: &str) -> Vec<Option<i64>> {
    let entries = body.as_array().expect("a JSON array");
    let mut day = chrono::NaiveDate::parse_from_str(first_day, "%Y-%m-%d").unwrap();
    entries
        .iter()
        .map(|e| {
            assert_eq!(e["day"], day.format("%Y-%m-%d").to_string(), "{body}");
            day = day.succ_opt().unwrap();
            e["average_price"].as_i64()
        })
        .collect()
}

/// The error object of a 4xx answer, checked for shape.
pub(crate) fn error_parameter(body: &serde_json::Value) -> Option<String> {
    let error = &body["error"];
    assert!(error["code"].is_string(), "{body}");
    assert!(error["message"].is_string(), "{body}");
    error["parameter"].as_str().map(str::to_string)
}
