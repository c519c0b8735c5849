//! GET /rates and /rates_null against the real database.

use crate::support::{
    averages, error_parameter, insert_prices, spawn_app, spawn_app_with, NETWORK_SQL,
};

fn rates_path(endpoint: &str, from: &str, to: &str, origin: &str, destination: &str) -> String {
    format!("/{endpoint}?date_from={from}&date_to={to}&origin={origin}&destination={destination}")
}

#[tokio::test]
async fn port_to_port_averages_days_with_zero_one_two_and_three_prices() {
    let app = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    insert_prices(
        &app.pool,
        &[
            // 2016-01-01: three prices, mean 200.33 -> 200
            ("CNSHA", "NOOSL", "2016-01-01", 100),
            ("CNSHA", "NOOSL", "2016-01-01", 200),
            ("CNSHA", "NOOSL", "2016-01-01", 301),
            // 2016-01-02: one price
            ("CNSHA", "NOOSL", "2016-01-02", 1112),
            // 2016-01-03: none
            // 2016-01-04: two prices, mean 10.5 -> 11 (halves up)
            ("CNSHA", "NOOSL", "2016-01-04", 10),
            ("CNSHA", "NOOSL", "2016-01-04", 11),
            // 2016-01-05: four prices, mean 2.75 -> 3
            ("CNSHA", "NOOSL", "2016-01-05", 2),
            ("CNSHA", "NOOSL", "2016-01-05", 3),
            ("CNSHA", "NOOSL", "2016-01-05", 3),
            ("CNSHA", "NOOSL", "2016-01-05", 3),
            // Other lanes and the reverse direction must not count.
            ("NOOSL", "CNSHA", "2016-01-03", 9999),
            ("CNNGB", "NOOSL", "2016-01-03", 9999),
            ("CNSHA", "NOBGO", "2016-01-03", 9999),
            // Outside the range.
            ("CNSHA", "NOOSL", "2015-12-31", 9999),
            ("CNSHA", "NOOSL", "2016-01-07", 9999),
        ],
    )
    .await;

    let (status, body) = app
        .get_json(&rates_path(
            "rates",
            "2016-01-01",
            "2016-01-06",
            "CNSHA",
            "NOOSL",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        averages(&body, "2016-01-01"),
        vec![Some(200), Some(1112), None, Some(11), Some(3), None]
    );

    let (status, body) = app
        .get_json(&rates_path(
            "rates_null",
            "2016-01-01",
            "2016-01-06",
            "CNSHA",
            "NOOSL",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        averages(&body, "2016-01-01"),
        vec![Some(200), None, None, None, Some(3), None]
    );

    // A single day.
    let (status, body) = app
        .get_json(&rates_path(
            "rates",
            "2016-01-02",
            "2016-01-02",
            "CNSHA",
            "NOOSL",
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(averages(&body, "2016-01-02"), vec![Some(1112)]);
}

#[tokio::test]
async fn regions_cover_every_port_below_them_at_any_depth() {
    let app = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    insert_prices(
        &app.pool,
        &[
            ("CNSHA", "NOOSL", "2016-03-01", 100),  // norway, depth 4
            ("CNNGB", "NOBGO", "2016-03-01", 200),  // norway
            ("CNSHA", "SEGOT", "2016-03-01", 300),  // scandinavia, depth 3
            ("CNSHA", "DEHAM", "2016-03-01", 400),  // north_europe, depth 2
            ("CNSHA", "ESBCN", "2016-03-01", 500),  // europe itself
            ("JPTYO", "NOOSL", "2016-03-01", 600),  // asia itself, not china
            ("NOOSL", "CNSHA", "2016-03-01", 9000), // reverse direction
        ],
    )
    .await;
    let cases = [
        // (origin, destination, expected mean on 2016-03-01)
        ("china", "norway", Some(150)),
        ("china", "scandinavia", Some(200)),
        ("china", "north_europe", Some(250)),
        ("china", "europe", Some(300)),
        ("asia", "europe", Some(350)),
        ("asia", "NOOSL", Some(350)),         // (100 + 600) / 2
        ("CNSHA", "north_europe", Some(267)), // (100 + 300 + 400) / 3 = 266.67
        ("JPTYO", "scandinavia", Some(600)),
        ("europe", "china", Some(9000)),
        ("china", "arctic", None), // a known region without ports
        ("arctic", "arctic", None),
        ("europe", "europe", None),
    ];
    for (origin, destination, expected) in cases {
        let (status, body) = app
            .get_json(&rates_path(
                "rates",
                "2016-02-29",
                "2016-03-01",
                origin,
                destination,
            ))
            .await;
        assert_eq!(status, 200, "{origin}->{destination}: {body}");
        assert_eq!(
            averages(&body, "2016-02-29"),
            vec![None, expected],
            "{origin}->{destination}"
        );
    }
    // rates_null counts prices across every lane of a region pair.
    let (_, body) = app
        .get_json(&rates_path(
            "rates_null",
            "2016-03-01",
            "2016-03-01",
            "china",
            "norway",
        ))
        .await;
    assert_eq!(averages(&body, "2016-03-01"), vec![None], "two prices");
    let (_, body) = app
        .get_json(&rates_path(
            "rates_null",
            "2016-03-01",
            "2016-03-01",
            "china",
            "scandinavia",
        ))
        .await;
    assert_eq!(
        averages(&body, "2016-03-01"),
        vec![Some(200)],
        "three prices"
    );
}

#[tokio::test]
async fn unknown_places_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    for (origin, destination, parameter) in [
        ("XXXXX", "NOOSL", "origin"),
        ("CNSHA", "atlantis", "destination"),
        ("cnsha", "NOOSL", "origin"), // codes are case-sensitive
        ("nowhere", "nowhere", "origin"),
    ] {
        let (status, body) = app
            .get_json(&rates_path(
                "rates",
                "2016-01-01",
                "2016-01-02",
                origin,
                destination,
            ))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "unknown_place", "{body}");
        assert_eq!(error_parameter(&body).as_deref(), Some(parameter), "{body}");
        let (status, body) = app
            .get_json(&rates_path(
                "rates_null",
                "2016-01-01",
                "2016-01-02",
                origin,
                destination,
            ))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_parameter(&body).as_deref(), Some(parameter), "{body}");
    }
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let app = spawn_app_with(&[("RATES_MAX_RANGE_DAYS", "31")]).await;
    app.exec(NETWORK_SQL).await;
    let ok = "date_from=2016-01-01&date_to=2016-01-31&origin=CNSHA&destination=NOOSL";
    for endpoint in ["rates", "rates_null"] {
        let (status, body) = app.get_json(&format!("/{endpoint}?{ok}")).await;
        assert_eq!(status, 200, "a 31-day range is allowed: {body}");
        assert_eq!(body.as_array().unwrap().len(), 31);
        let cases = [
            ("date_to=2016-01-02&origin=CNSHA&destination=NOOSL", "date_from"),
            ("date_from=2016-01-01&origin=CNSHA&destination=NOOSL", "date_to"),
            ("date_from=2016-01-01&date_to=2016-01-02&destination=NOOSL", "origin"),
            ("date_from=2016-01-01&date_to=2016-01-02&origin=CNSHA", "destination"),
            ("date_from=&date_to=2016-01-02&origin=CNSHA&destination=NOOSL", "date_from"),
            ("date_from=2016-13-01&date_to=2016-01-02&origin=CNSHA&destination=NOOSL", "date_from"),
            ("date_from=2016-01-01&date_to=2016-02-30&origin=CNSHA&destination=NOOSL", "date_to"),
            ("date_from=01/01/2016&date_to=2016-01-02&origin=CNSHA&destination=NOOSL", "date_from"),
            ("date_from=2016-01-01T00:00&date_to=2016-01-02&origin=CNSHA&destination=NOOSL", "date_from"),
            ("date_from=2016-01-03&date_to=2016-01-02&origin=CNSHA&destination=NOOSL", "date_from"),
            ("date_from=2016-01-01&date_to=2016-02-01&origin=CNSHA&destination=NOOSL", "date_to"),
            ("date_from=2016-01-01&date_to=2016-01-02&origin=&destination=NOOSL", "origin"),
            ("date_from=2016-01-01&date_to=2016-01-02&origin=CN%20SHA&destination=NOOSL", "origin"),
            ("date_from=2016-01-01&date_to=2016-01-02&origin=CNSHA&destination=NO'OSL", "destination"),
            ("date_from=2016-01-01&date_to=2016-01-02&origin=CNSHA&destination=NOOSL&orign=x", "orign"),
            ("date_from=2016-01-01&date_to=2016-01-02&origin=CNSHA&destination=NOOSL&origin=CNNGB", "origin"),
        ];
        for (query, parameter) in cases {
            let (status, body) = app.get_json(&format!("/{endpoint}?{query}")).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(
                body["error"]["code"], "invalid_parameter",
                "{query}: {body}"
            );
            assert_eq!(
                error_parameter(&body).as_deref(),
                Some(parameter),
                "{query}: {body}"
            );
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(parameter), "{query}: {message}");
        }
    }
}

#[tokio::test]
async fn a_read_replica_url_serves_the_queries() {
    // The replica here is the same database: the point is that the read pool
    // is the one used, visible in the pool metrics.
    let app = spawn_app_with(&[
        ("DATABASE_READ_URL", "{DATABASE_URL}"),
        ("RATES_READ_POOL_SIZE", "3"),
    ])
    .await;
    app.exec(NETWORK_SQL).await;
    insert_prices(&app.pool, &[("CNSHA", "NOOSL", "2016-01-01", 10)]).await;
    // `rates serve` samples the queue depth on the primary (one connection, from the
    // start); the query must add nothing there.
    let primary_before = loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("rates_batch_queue_depth") {
            break pool_connections(&metrics, "primary");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (status, body) = app
        .get_json(&rates_path(
            "rates",
            "2016-01-01",
            "2016-01-01",
            "china",
            "NOOSL",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(averages(&body, "2016-01-01"), vec![Some(10)]);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"rates_db_pool_max_connections{pool="read"} 3"#),
        "{metrics}"
    );
    assert!(
        pool_connections(&metrics, "read") >= 1.0,
        "the read pool was used: {metrics}"
    );
    assert_eq!(
        pool_connections(&metrics, "primary"),
        primary_before,
        "the primary was not: {metrics}"
    );
}

/// Open connections (idle and in use) of one pool, from /metrics.
fn pool_connections(metrics: &str, pool: &str) -> f64 {
    let prefix = format!(r#"rates_db_pool_connections{{pool="{pool}""#);
    metrics
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn aggregates_follow_inserts_updates_and_deletes() {
    let app = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    insert_prices(
        &app.pool,
        &[
            ("CNSHA", "NOOSL", "2016-01-01", 100),
            ("CNSHA", "NOOSL", "2016-01-01", 200),
            ("CNSHA", "NOOSL", "2016-01-01", 300),
        ],
    )
    .await;
    let path = rates_path("rates_null", "2016-01-01", "2016-01-01", "CNSHA", "NOOSL");
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![Some(200)]
    );
    app.exec("UPDATE prices SET price = price + 30 WHERE price = 300")
        .await;
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![Some(210)]
    );
    app.exec("DELETE FROM prices WHERE price = 100").await;
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![None]
    );
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM lane_daily")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    app.exec("DELETE FROM prices").await;
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM lane_daily")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "emptied lane-days are removed");
    insert_prices(&app.pool, &[("CNSHA", "NOOSL", "2016-01-01", 5)]).await;
    app.exec("TRUNCATE prices").await;
    let path = rates_path("rates", "2016-01-01", "2016-01-01", "CNSHA", "NOOSL");
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![None]
    );
}

fn cache_count(metrics: &str, result: &str) -> f64 {
    let prefix = format!(r#"rates_query_cache_total{{result="{result}"}} "#);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn cached_answers_follow_every_change_of_prices() {
    let app = spawn_app().await;
    app.exec(NETWORK_SQL).await;
    insert_prices(&app.pool, &[("CNSHA", "NOOSL", "2016-01-01", 100)]).await;
    let path = rates_path("rates", "2016-01-01", "2016-01-01", "china", "norway");
    let null_path = rates_path("rates_null", "2016-01-01", "2016-01-01", "china", "norway");
    for _ in 0..3 {
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 200);
        assert_eq!(averages(&body, "2016-01-01"), vec![Some(100)]);
    }
    // /rates_null has its own answers.
    assert_eq!(
        averages(&app.get_json(&null_path).await.1, "2016-01-01"),
        vec![None]
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(cache_count(&metrics, "hit"), 2.0, "{metrics}");
    assert_eq!(cache_count(&metrics, "miss"), 2.0, "{metrics}");

    // A write by another client (SQL), then through the API: each is seen at once.
    insert_prices(&app.pool, &[("CNNGB", "NOBGO", "2016-01-01", 200)]).await;
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![Some(150)]
    );
    let (status, _) = app
        .post_json(
            "/prices",
            r#"{"date_from": "2016-01-01", "date_to": "2016-01-01", "origin_code": "CNSHA", "destination_code": "NOBGO", "price": 300}"#,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![Some(200)]
    );
    assert_eq!(
        averages(&app.get_json(&null_path).await.1, "2016-01-01"),
        vec![Some(200)]
    );
    // A rolled-back write changes nothing, cached or not.
    app.exec("BEGIN; INSERT INTO prices VALUES ('CNSHA', 'NOOSL', '2016-01-01', 9999); ROLLBACK;")
        .await;
    assert_eq!(
        averages(&app.get_json(&path).await.1, "2016-01-01"),
        vec![Some(200)]
    );
}

#[tokio::test]
async fn the_cache_can_be_disabled() {
    let app = spawn_app_with(&[("RATES_CACHE_ENTRIES", "0")]).await;
    app.exec(NETWORK_SQL).await;
    insert_prices(&app.pool, &[("CNSHA", "NOOSL", "2016-01-01", 100)]).await;
    let path = rates_path("rates", "2016-01-01", "2016-01-01", "CNSHA", "norway");
    for _ in 0..2 {
        assert_eq!(
            averages(&app.get_json(&path).await.1, "2016-01-01"),
            vec![Some(100)]
        );
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("rates_query_cache_total"), "{metrics}");
    assert_eq!(app.state.rates.cached_answers(), 0);
}
