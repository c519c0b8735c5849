//! Answers from memory (the answer cache, the lanes and the region closure kept per data
//! version) against the database's own answer: equal on random queries, and never stale
//! after a batch commits, another client writes, or the network changes.

use rates::query::rates::daily_rates;
use rates::query::RatesQuery;
use serde_json::Value;

use crate::support::batch::{csv_batch, fresh_batch_database, spawn_on, PORTS};
use crate::support::TestApp;

const PLACES: [&str; 11] = [
    "world", "asia", "china", "europe", "americas", "CNSHA", "CNNGB", "NLRTM", "DEHAM", "USNYC",
    "USLAX",
];

/// The answer RATES_SQL gives (recursive region expansion and the sums in one
/// statement, nothing in memory), as JSON.
async fn truth(app: &TestApp, path: &str, min_count: i64) -> Value {
    let query = path.split_once('?').unwrap().1;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let query = RatesQuery::parse(&pairs, 366).unwrap();
    let (days, _) = daily_rates(&app.pool, &query, min_count).await.unwrap();
    serde_json::to_value(days).unwrap()
}

async fn answer(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get_json(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn path(endpoint: &str, from: &str, to: &str, origin: &str, destination: &str) -> String {
    format!("/{endpoint}?date_from={from}&date_to={to}&origin={origin}&destination={destination}")
}

/// Every answer the app gives equals the database's: first while the lanes of the
/// version load (answered by the database), then from the lanes in memory, then from
/// the answer cache.
async fn assert_all_fresh(app: &TestApp, paths: &[String], what: &str) {
    for pass in 0..3 {
        for p in paths {
            let min_count = if p.starts_with("/rates_null") { 3 } else { 1 };
            let expected = truth(app, p, min_count).await;
            assert_eq!(answer(app, p).await, expected, "{what}: {p} (pass {pass})");
        }
        if pass == 0 {
            wait_for_lanes(app).await;
        }
    }
}

/// Waits until the lanes the queries asked for are in memory.
async fn wait_for_lanes(app: &TestApp) {
    for _ in 0..250 {
        if app.state.rates.lanes_loading() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the lanes did not load in 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_memory_are_never_stale_after_a_commit() {
    let db = fresh_batch_database().await;
    let app = spawn_on(&db, &[], true).await;
    assert!(app.state.rates.cached_answers() == 0);
    let committed = app.ingest_csv(&csv_batch(0, 300)).await;
    assert_eq!(committed["status"], "committed", "{committed}");
    let paths: Vec<String> = [
        ("world", "world"),
        ("asia", "europe"),
        ("china", "DEHAM"),
        ("CNSHA", "NLRTM"),
        ("NLRTM", "americas"),
    ]
    .iter()
    .flat_map(|(o, d)| ["rates", "rates_null"].map(|e| path(e, "2016-01-01", "2016-03-31", o, d)))
    .collect();
    assert_all_fresh(&app, &paths, "after the first batch").await;
    assert!(app.state.rates.cached_answers() > 0);
    assert!(app.state.rates.lane_days_in_memory() > 0);
    let before = answer(&app, &paths[0]).await;

    // A batch commits: the next query sees it.
    let committed = app.ingest_csv(&csv_batch(10_000, 500)).await;
    assert_eq!(committed["status"], "committed", "{committed}");
    assert_ne!(
        answer(&app, &paths[0]).await,
        before,
        "the batch changed the answer"
    );
    assert_all_fresh(&app, &paths, "after the second batch").await;

    // Another client writes with SQL.
    app.exec("INSERT INTO prices VALUES ('CNSHA', 'NLRTM', '2016-02-02', 7)")
        .await;
    assert_all_fresh(&app, &paths, "after an insert by SQL").await;

    // The network changes: a port moves to another region, a region under another parent.
    app.exec("UPDATE ports SET parent_slug = 'americas' WHERE code = 'DEHAM'")
        .await;
    assert_all_fresh(&app, &paths, "after a port moved").await;
    app.exec("UPDATE regions SET parent_slug = NULL WHERE slug = 'europe'")
        .await;
    assert_all_fresh(&app, &paths, "after a region moved").await;
    let (status, body) = app
        .get_json(&path(
            "rates",
            "2016-01-01",
            "2016-01-02",
            "oceania",
            "world",
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    app.exec("INSERT INTO regions VALUES ('oceania', 'Oceania', 'world')")
        .await;
    assert_all_fresh(
        &app,
        &[path(
            "rates",
            "2016-01-01",
            "2016-01-02",
            "oceania",
            "world",
        )],
        "a new region",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sql_and_the_one_statement_agree_on_random_queries() {
    let db = fresh_batch_database().await;
    let memory = spawn_on(&db, &[], true).await;
    let sql = spawn_on(&db, &[("RATES_CACHE_ENTRIES", "0")], false).await;
    let committed = memory.ingest_csv(&csv_batch(0, 2_000)).await;
    assert_eq!(committed["status"], "committed", "{committed}");
    // Several prices on some lane-days, so /rates_null's threshold is exercised.
    memory
        .exec(
            "INSERT INTO prices SELECT orig_code, dest_code, day, price + 1 FROM prices WHERE price % 3 = 0;
             INSERT INTO prices SELECT orig_code, dest_code, day, price + 2 FROM prices WHERE price % 5 = 0",
        )
        .await;
    let mut seed: u64 = 20161201;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    for _ in 0..150 {
        let endpoint = ["rates", "rates_null"][next(2)];
        let origin = PLACES[next(PLACES.len())];
        let destination = PLACES[next(PLACES.len())];
        let from = chrono::NaiveDate::from_ymd_opt(2015, 12, 20).unwrap()
            + chrono::Days::new(next(400) as u64);
        let to = from + chrono::Days::new(next(40) as u64);
        let p = path(
            endpoint,
            &from.to_string(),
            &to.to_string(),
            origin,
            destination,
        );
        let expected = truth(&memory, &p, if endpoint == "rates" { 1 } else { 3 }).await;
        assert_eq!(answer(&memory, &p).await, expected, "from memory: {p}");
        assert_eq!(answer(&sql, &p).await, expected, "from the aggregates: {p}");
    }
    assert!(PORTS.iter().all(|p| PLACES.contains(p)));
}
