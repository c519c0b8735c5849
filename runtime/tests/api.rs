//! POST /prices, health, readiness, metrics, the OpenAPI document and errors.

mod common;

use axum::extract::State;
use axum::response::IntoResponse;
use common::{averages, error_parameter, spawn_app, spawn_app_with, TestApp, NETWORK_SQL};

/// A fingerprint of the prices and aggregates, to prove nothing changed.
async fn fingerprint(app: &TestApp) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM prices), (SELECT coalesce(sum(price), 0)::bigint FROM prices),
                (SELECT count(*) FROM lane_daily), (SELECT coalesce(sum(price_sum), 0)::bigint FROM lane_daily)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn post_prices_inserts_one_price_per_day_in_the_range() {
    let app = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    let (status, body) = app
        .post_json(
            "/prices",
            r#"{"date_from": "2016-01-30", "date_to": "2016-02-02", "origin_code": "CNSHA", "destination_code": "NOOSL", "price": 1500}"#,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, serde_json::json!({"inserted": 4}));
    let (status, body) = app
        .post_json(
            "/prices",
            r#"{"date_from": "2016-02-01", "date_to": "2016-02-01", "origin_code": "CNNGB", "destination_code": "NOBGO", "price": 1001}"#,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .get_json("/rates?date_from=2016-01-29&date_to=2016-02-03&origin=china&destination=norway")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        averages(&body, "2016-01-29"),
        vec![None, Some(1500), Some(1500), Some(1251), Some(1500), None]
    );
}

#[tokio::test]
async fn bad_price_requests_are_400_and_store_nothing() {
    let app = spawn_app_with(&[("RATES_MAX_RANGE_DAYS", "10")]).await;
    app.exec(NETWORK_SQL).await;
    let (status, _) = app
        .post_json(
            "/prices",
            r#"{"date_from": "2016-01-01", "date_to": "2016-01-10", "origin_code": "CNSHA", "destination_code": "NOOSL", "price": 7}"#,
        )
        .await;
    assert_eq!(status, 201, "a 10-day range is allowed");
    let before = fingerprint(&app).await;
    let body = |from: &str, to: &str, orig: &str, dest: &str, price: &str| {
        format!(
            r#"{{"date_from": {from}, "date_to": {to}, "origin_code": {orig}, "destination_code": {dest}, "price": {price}}}"#
        )
    };
    let ok = (
        "\"2016-01-01\"",
        "\"2016-01-02\"",
        "\"CNSHA\"",
        "\"NOOSL\"",
        "100",
    );
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        // (body, error code, parameter)
        (body("null", ok.1, ok.2, ok.3, ok.4), "invalid_parameter", Some("date_from")),
        (r#"{"date_to": "2016-01-02", "origin_code": "CNSHA", "destination_code": "NOOSL", "price": 1}"#.into(), "invalid_parameter", Some("date_from")),
        (body("\"2016-1-1\"", ok.1, ok.2, ok.3, ok.4), "invalid_parameter", Some("date_from")),
        (body("20160101", ok.1, ok.2, ok.3, ok.4), "invalid_parameter", Some("date_from")),
        (body(ok.0, "\"2016-02-31\"", ok.2, ok.3, ok.4), "invalid_parameter", Some("date_to")),
        (body("\"2016-01-03\"", ok.1, ok.2, ok.3, ok.4), "invalid_parameter", Some("date_from")),
        (body(ok.0, "\"2016-01-11\"", ok.2, ok.3, ok.4), "invalid_parameter", Some("date_to")),
        (body(ok.0, ok.1, "\"XXXXX\"", ok.3, ok.4), "unknown_place", Some("origin_code")),
        (body(ok.0, ok.1, ok.2, "\"ZZZZZ\"", ok.4), "unknown_place", Some("destination_code")),
        (body(ok.0, ok.1, "\"china\"", ok.3, ok.4), "invalid_parameter", Some("origin_code")),
        (body(ok.0, ok.1, ok.2, "\"noosl\"", ok.4), "invalid_parameter", Some("destination_code")),
        (body(ok.0, ok.1, "42", ok.3, ok.4), "invalid_parameter", Some("origin_code")),
        (body(ok.0, ok.1, ok.2, ok.3, "0"), "invalid_parameter", Some("price")),
        (body(ok.0, ok.1, ok.2, ok.3, "-5"), "invalid_parameter", Some("price")),
        (body(ok.0, ok.1, ok.2, ok.3, "10.5"), "invalid_parameter", Some("price")),
        (body(ok.0, ok.1, ok.2, ok.3, "1e3"), "invalid_parameter", Some("price")),
        (body(ok.0, ok.1, ok.2, ok.3, "\"100\""), "invalid_parameter", Some("price")),
        (body(ok.0, ok.1, ok.2, ok.3, "null"), "invalid_parameter", Some("price")),
        (body(ok.0, ok.1, ok.2, ok.3, "2147483648"), "invalid_parameter", Some("price")),
        (r#"{"date_from": "2016-01-01", "date_to": "2016-01-02", "origin_code": "CNSHA", "destination_code": "NOOSL"}"#.into(), "invalid_parameter", Some("price")),
        (r#"{"date_from": "2016-01-01", "date_to": "2016-01-02", "origin_code": "CNSHA", "destination_code": "NOOSL", "price": 1, "currency": "EUR"}"#.into(), "invalid_parameter", Some("currency")),
        ("{\"date_from\": ".into(), "invalid_body", None),
        ("[]".into(), "invalid_body", None),
        ("".into(), "invalid_body", None),
    ];
    for (request, code, parameter) in &cases {
        let (status, response) = app.post_json("/prices", request).await;
        assert_eq!(status, 400, "{request}: {response}");
        assert_eq!(response["error"]["code"], *code, "{request}: {response}");
        assert_eq!(
            error_parameter(&response).as_deref(),
            *parameter,
            "{request}: {response}"
        );
    }
    assert_eq!(fingerprint(&app).await, before, "nothing was written");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(
        (status, body),
        (
            200,
            serde_json::json!({"status": "ok", "contract_version": rates_contract::CONTRACT_VERSION})
        )
    );
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));

    // Readiness turns false the moment shutdown begins (the listener closes
    // right after, so the handler is called directly here).
    app.state.shutdown.cancel();
    let response = rates::health::readyz(State(app.state.clone()))
        .await
        .into_response();
    assert_eq!(response.status(), 503);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"status":"draining"}"#);
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_unreachable() {
    let port = pgrig::free_port().unwrap();
    let app = spawn_app_with(&[(
        "DATABASE_URL",
        &format!("postgres://postgres@127.0.0.1:{port}/nope"),
    )])
    .await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(
        (status, body),
        (503, serde_json::json!({"status": "database_unreachable"}))
    );
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "liveness does not depend on the database");
    // A query needing the database is a 500 with a JSON error that leaks no details.
    let (status, body) = app
        .get_json("/rates?date_from=2016-01-01&date_to=2016-01-01&origin=CNSHA&destination=NOOSL")
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "internal");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/rate").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

fn metric_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_per_app() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    for _ in 0..3 {
        let (status, _) = app
            .get_json(
                "/rates?date_from=2016-01-01&date_to=2016-01-31&origin=china&destination=europe",
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app.get_json("/rates?date_from=2016-01-01").await;
    assert_eq!(status, 400);
    let (status, _) = other.get_json("/healthz").await;
    assert_eq!(status, 200);

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let ok = r#"rates_http_requests_total{route="/rates",method="GET",status="200"}"#;
    let bad = r#"rates_http_requests_total{route="/rates",method="GET",status="400"}"#;
    assert_eq!(metric_value(&text, ok), Some(3.0), "{text}");
    assert_eq!(metric_value(&text, bad), Some(1.0), "{text}");
    assert_eq!(
        metric_value(
            &text,
            r#"rates_http_request_duration_seconds_count{route="/rates",method="GET",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert!(text.contains(r#"rates_http_request_duration_seconds_bucket{route="/rates",method="GET",status="200",le="0.005"}"#), "{text}");
    assert!(
        text.contains("# TYPE rates_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, r#"rates_db_pool_max_connections{pool="primary"}"#),
        Some(10.0),
        "{text}"
    );
    assert!(
        text.contains(r#"rates_db_pool_connections{pool="primary",state="in_use"}"#),
        "{text}"
    );
    assert!(
        !text.contains("/healthz"),
        "the other app's requests are not counted here: {text}"
    );
    let other_text = other.get("/metrics").await.text().await.unwrap();
    assert!(!other_text.contains(r#"route="/rates""#), "{other_text}");
}

#[tokio::test]
async fn the_served_openapi_document_matches_the_repository_copy() {
    let app = spawn_app().await;
    let repo_copy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .expect(
        "runtime/openapi.json (regenerate: cargo run -p rates -- openapi > runtime/openapi.json)",
    );
    assert_eq!(
        rates::openapi::document_json(),
        repo_copy,
        "runtime/openapi.json is stale; regenerate it: cargo run -p rates -- openapi > runtime/openapi.json"
    );
    let (status, served) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    let repo: serde_json::Value = serde_json::from_str(&repo_copy).unwrap();
    assert_eq!(served, repo);
    // The document (whose paths utoipa takes from the handlers' attributes) describes
    // exactly the contract's routes with their methods; the router mounts the same paths
    // from the contract.
    let documented: std::collections::BTreeSet<&str> = served["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let contract: std::collections::BTreeSet<&str> =
        rates_contract::routes::ALL.iter().map(|r| r.path).collect();
    assert_eq!(
        documented, contract,
        "documented paths vs the contract's routes"
    );
    for route in rates_contract::routes::ALL {
        let methods: Vec<String> = served["paths"][route.path]
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        assert_eq!(methods, route.methods, "{}", route.path);
    }
}
