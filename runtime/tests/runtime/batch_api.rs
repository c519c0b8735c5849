//! POST /batches, GET /batches/{id}, GET /batches: the upload contract, the
//! worker's commit/reject, idempotency, retries, leases, bursts and metrics,
//! against a real PostgreSQL.

use std::time::{Duration, Instant};

use crate::support::batch::{csv_batch, spawn};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_batch_is_queued_then_committed_whole() {
    let app = spawn(&[], true).await;
    let body = csv_batch(1000, 500);
    let (status, accepted) = app.csv(&body).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(accepted["status"], "queued");
    assert_eq!(accepted["status_url"], format!("/batches/{id}"));
    let done = app.wait_final(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["row_count"], 500);
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["format"], "csv");
    assert!(done["duration_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(app.prices_count().await, 500);
    let (lane_sum, lane_count): (i64, i64) =
        sqlx::query_as("SELECT sum(price_sum)::int8, sum(price_count)::int8 FROM lane_daily")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        lane_count, 500,
        "aggregates maintained in the batch transaction"
    );
    assert_eq!(lane_sum, (1001..=1500).sum::<i64>());
    // The staged payload and the job are gone once the batch is final.
    let leftovers: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM batch_payload_chunks), (SELECT count(*) FROM batch_jobs)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(leftovers, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ndjson_batch_commits() {
    let app = spawn(&[], true).await;
    let body = "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":100}\n\
                {\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":100}\n\
                {\"price\":300,\"day\":\"2016-01-02\",\"dest_code\":\"DEHAM\",\"orig_code\":\"CNNGB\"}\n";
    let (status, accepted) = app
        .upload(Some("application/x-ndjson"), None, body.to_string())
        .await;
    assert_eq!(status, 202, "{accepted}");
    let done = app
        .wait_final(accepted["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "committed", "{done}");
    // Duplicate rows inside a batch are allowed.
    assert_eq!(done["row_count"], 3);
    assert_eq!(app.prices_count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_streams_through_many_chunks() {
    let app = spawn(&[], true).await;
    // ~3.5 MB: several 1 MiB staging chunks.
    let body = csv_batch(0, 120_000);
    assert!(body.len() > 3_000_000);
    let (status, accepted) = app.csv(&body).await;
    assert_eq!(status, 202, "{accepted}");
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM batch_payload_chunks")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Either still staged in several chunks or already committed and deleted.
    assert!(chunks == 0 || chunks >= 3, "{chunks} chunks");
    let done = app
        .wait_final(accepted["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["row_count"], 120_000);
    assert_eq!(app.prices_count().await, 120_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_same_batch_or_409() {
    let app = spawn(&[], true).await;
    let body = csv_batch(0, 10);
    let (status, first) = app
        .upload(Some("text/csv"), Some("prices-2016-01"), body.clone())
        .await;
    assert_eq!(status, 202, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    app.wait_final(&id, Duration::from_secs(30)).await;
    let (status, again) = app
        .upload(Some("text/csv"), Some("prices-2016-01"), body.clone())
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["status"], "committed");
    assert_eq!(again["idempotency_key"], "prices-2016-01");
    let before = app.prices_fingerprint().await;
    let (status, conflict) = app
        .upload(Some("text/csv"), Some("prices-2016-01"), csv_batch(50, 10))
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");
    assert!(conflict["error"]["message"].as_str().unwrap().contains(&id));
    assert_eq!(app.prices_fingerprint().await, before);
    assert_eq!(app.prices_count().await, 10, "committed once");
    // Bad keys are refused.
    let (status, bad) = app.upload(Some("text/csv"), Some("has space"), body).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["parameter"], "Idempotency-Key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_with_one_key_make_one_batch() {
    let app = spawn(&[], false).await;
    let body = csv_batch(0, 2000);
    let uploads = (0..6).map(|_| app.upload(Some("text/csv"), Some("same-key"), body.clone()));
    let results = futures::future::join_all(uploads).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert!(*status == 202 || *status == 200, "{status} {body}");
            body["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    let batches: i64 = sqlx::query_scalar("SELECT count(*) FROM batches")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(batches, 1);
}

/// Uploads that are refused at once: nothing staged, nothing recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_say_why_and_store_nothing() {
    let app = spawn(&[("RATES_MAX_BATCH_BYTES", "1000")], true).await;
    let small = csv_batch(0, 3);
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (Some("text/csv"), String::new(), 400, "empty"),
        (Some("application/x-ndjson"), String::new(), 400, "empty"),
        (Some("text/csv"), csv_batch(0, 100), 413, "1000 bytes"),
        (
            Some("application/json"),
            small.clone(),
            415,
            "application/json",
        ),
        (Some("text/plain"), small.clone(), 415, "text/csv"),
        (None, small.clone(), 415, "text/csv"),
        (
            Some("text/csv; charset=latin1"),
            small.clone(),
            415,
            "charset",
        ),
    ];
    for (content_type, body, expected, needle) in cases {
        let (status, answer) = app.upload(content_type, None, body).await;
        assert_eq!(status, expected, "{content_type:?}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{content_type:?}: {message}");
    }
    // Oversize without Content-Length (chunked): refused while streaming.
    let stream = futures::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 100]))),
    );
    let (status, answer) = app
        .upload(Some("text/csv"), None, reqwest::Body::wrap_stream(stream))
        .await;
    assert_eq!(status, 413, "{answer}");
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM batches), (SELECT count(*) FROM batch_payload_chunks), (SELECT count(*) FROM prices)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(counts, (0, 0, 0));
}

/// Payloads that are accepted (staged) but rejected whole by the worker, with
/// the line, column, value and reason of each error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_rejected_with_errors_by_line() {
    let app = spawn(&[], true).await;
    sqlx::query("INSERT INTO prices (orig_code, dest_code, day, price) VALUES ('CNSHA','NLRTM','2016-01-01',7)")
        .execute(&app.pool)
        .await
        .unwrap();
    let header = "orig_code,dest_code,day,price\n";
    let good = "CNSHA,NLRTM,2016-01-01,100\n";
    let csv = |rest: &str| format!("{header}{good}{rest}").into_bytes();
    // A zero-padded price makes a valid row of any length; 65,536 bytes pass, one more
    // does not (the line break is not counted).
    let max = rates::batch::payload::MAX_LINE_BYTES as usize;
    let long_csv = |len: usize| {
        let head = "CNSHA,NLRTM,2016-01-01,";
        format!("{head}{}7", "0".repeat(len - head.len() - 1))
    };
    let long_json = |len: usize| {
        let head = r#"{"orig_code":"CNSHA","dest_code":"NLRTM","day":"2016-01-01","price":7"#;
        format!("{head}{}}}", " ".repeat(len - head.len() - 1))
    };
    let json_good = long_json(80);
    let mut bad_utf8 = format!("{header}{good}").into_bytes();
    bad_utf8.extend_from_slice(b"CNSHA,NL\xffTM,2016-01-01,100\n");
    // (content type, body, expected (line, column) of the first error, reason fragment)
    type Case<'a> = (&'a str, Vec<u8>, (u64, &'a str), &'a str);
    let cases: Vec<Case> = vec![
        ("text/csv", csv("CNSHA,NLRTM,2016-01-01\n"), (3, "row"), "expected 4 fields"),
        ("text/csv", csv("CNSHA,NLRTM,2016-01-01,100,5\n"), (3, "row"), "found 5"),
        ("text/csv", csv("\"CNSHA,NLRTM,2016-01-01,100\n"), (3, "row"), "fields"),
        ("text/csv", csv("CN\"SHA,NLRTM,2016-01-01,100\n"), (3, "orig_code"), "port code"),
        ("text/csv", bad_utf8, (3, "dest_code"), "UTF-8"),
        ("text/csv", csv(&format!("{good}{}\n{good}", long_csv(max + 1))), (4, "row"), "longer than 65536"),
        ("text/csv", csv(&format!("{}\r\n", long_csv(max + 1))), (3, "row"), "longer than 65536"),
        ("text/csv", csv(&format!("{good}\"{good}{}", good.repeat(10_000))), (4, "row"), "runs past"),
        ("application/x-ndjson", format!("{json_good}\n{json_good}\n{}\n{json_good}\n", long_json(max + 1)).into_bytes(), (3, "row"), "longer than 65536"),
        ("text/csv", csv("CNSHA,XXXXX,2016-01-01,100\n"), (3, "dest_code"), "unknown port"),
        ("text/csv", csv("ZZZZZ,NLRTM,2016-01-01,100\n"), (3, "orig_code"), "unknown port"),
        ("text/csv", csv("CNSHA,NLRTM,2016-02-30,100\n"), (3, "day"), "calendar"),
        ("text/csv", csv("CNSHA,NLRTM,01/02/2016,100\n"), (3, "day"), "YYYY-MM-DD"),
        ("text/csv", csv("CNSHA,NLRTM,2016-01-01,0\n"), (3, "price"), "positive"),
        ("text/csv", csv("CNSHA,NLRTM,2016-01-01,-4\n"), (3, "price"), "positive"),
        ("text/csv", csv("CNSHA,NLRTM,2016-01-01,12.5\n"), (3, "price"), "whole"),
        ("text/csv", csv("CNSHA,NLRTM,2016-01-01,\n"), (3, "price"), "required"),
        ("text/csv", b"orig,dest,day,price\nCNSHA,NLRTM,2016-01-01,1\n".to_vec(), (1, "header"), "unknown column"),
        ("text/csv", header.as_bytes().to_vec(), (1, "row"), "no rows"),
        ("application/x-ndjson", b"{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":1}\n{\"orig_code\":\"CNSHA\"\n".to_vec(), (2, "row"), "JSON"),
        ("application/x-ndjson", b"[1,2,3]\n".to_vec(), (1, "row"), "JSON object"),
        ("application/x-ndjson", b"{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\"}\n".to_vec(), (1, "price"), "missing"),
        ("application/x-ndjson", b"{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":2.5}\n".to_vec(), (1, "price"), "whole"),
        ("application/x-ndjson", b"{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":\"9\"}\n".to_vec(), (1, "price"), "JSON number"),
        ("application/x-ndjson", b"{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":1,\"note\":\"x\"}\n".to_vec(), (1, "row"), "unknown field"),
        ("application/x-ndjson", b"{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":1}\n\xff\xfe\n".to_vec(), (2, "row"), "UTF-8"),
    ];
    // At the limit, both formats commit (then the prices are what they are now).
    for (content_type, body) in [
        ("text/csv", csv(&format!("{}\n", long_csv(max)))),
        (
            "application/x-ndjson",
            format!("{}\r\n", long_json(max)).into_bytes(),
        ),
    ] {
        let (status, accepted) = app.upload(Some(content_type), None, body).await;
        assert_eq!(status, 202, "{accepted}");
        let done = app
            .wait_final(accepted["id"].as_str().unwrap(), Duration::from_secs(30))
            .await;
        assert_eq!(done["status"], "committed", "{content_type}: {done}");
    }
    let before = app.prices_fingerprint().await;
    for (content_type, body, (line, column), reason) in cases {
        let (status, accepted) = app.upload(Some(content_type), None, body.clone()).await;
        assert_eq!(status, 202, "{accepted}");
        let done = app
            .wait_final(accepted["id"].as_str().unwrap(), Duration::from_secs(30))
            .await;
        let shown = String::from_utf8_lossy(&body);
        assert_eq!(done["status"], "rejected", "{shown}: {done}");
        let first = &done["errors"][0];
        assert_eq!(first["line"], line, "{shown}: {done}");
        assert_eq!(first["column"], column, "{shown}: {done}");
        assert!(
            first["reason"].as_str().unwrap().contains(reason),
            "{shown}: {done}"
        );
        assert!(done["error_count"].as_i64().unwrap() >= 1);
        assert_eq!(
            app.prices_fingerprint().await,
            before,
            "{shown}: prices unchanged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_reports_the_first_errors_and_counts_all() {
    let app = spawn(&[("RATES_BATCH_MAX_ERRORS", "5")], true).await;
    let mut body = String::from("orig_code,dest_code,day,price\n");
    for i in 0..50 {
        if i % 2 == 0 {
            body.push_str("CNSHA,NLRTM,2016-01-01,-1\n");
        } else {
            body.push_str("CNSHA,QQQQQ,2016-01-01,5\n");
        }
    }
    let done = app.ingest_csv(&body).await;
    assert_eq!(done["status"], "rejected");
    assert_eq!(done["error_count"], 50);
    assert_eq!(done["row_count"], 50);
    let errors = done["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5);
    let lines: Vec<i64> = errors.iter().map(|e| e["line"].as_i64().unwrap()).collect();
    assert_eq!(
        lines,
        vec![2, 3, 4, 5, 6],
        "first errors by line, parse and set-wise merged"
    );
    assert_eq!(errors[1]["column"], "dest_code");
    assert_eq!(errors[1]["value"], "QQQQQ");
    assert_eq!(app.prices_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_endpoints_list_and_filter() {
    pages_walk_every_batch_once().await;
    let app = spawn(&[], true).await;
    let ok = app.ingest_csv(&csv_batch(0, 5)).await;
    let bad = app
        .ingest_csv("orig_code,dest_code,day,price\nCNSHA,NLRTM,2016-01-01,0\n")
        .await;
    let (status, all) = app.get_json("/batches").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = all["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![bad["id"].as_str().unwrap(), ok["id"].as_str().unwrap()],
        "newest first"
    );
    let (_, committed) = app.get_json("/batches?status=committed&limit=10").await;
    assert_eq!(committed["batches"].as_array().unwrap().len(), 1);
    assert_eq!(committed["batches"][0]["id"], ok["id"]);
    let (_, one) = app.get_json("/batches?limit=1").await;
    assert_eq!(one["batches"].as_array().unwrap().len(), 1);
    for (query, parameter) in [
        ("/batches?status=done", "status"),
        ("/batches?source=ftp", "source"),
        ("/batches?created_from=yesterday", "created_from"),
        (
            "/batches?created_before=2026-13-01T00:00:00Z",
            "created_before",
        ),
        ("/batches?cursor=abc", "cursor"),
        ("/batches?limit=0", "limit"),
        ("/batches?limit=501", "limit"),
        ("/batches?limit=ten", "limit"),
    ] {
        let (status, body) = app.get_json(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter);
    }
    let (status, body) = app.get_json("/batches/not-a-uuid").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .get_json("/batches/0190b2a4-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, 404, "{body}");
}

/// Infrastructure failures (here: a staged chunk lost) are retried with
/// backoff, then the batch is parked as failed with its reason; nothing lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infrastructure_failures_are_retried_then_failed() {
    let app = spawn(
        &[
            ("RATES_BATCH_MAX_ATTEMPTS", "3"),
            ("RATES_BATCH_RETRY_BASE_SECS", "0"),
        ],
        false,
    )
    .await;
    let (status, accepted) = app.csv(&csv_batch(0, 40_000)).await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap().to_string();
    sqlx::query("DELETE FROM batch_payload_chunks WHERE seq = 0")
        .execute(&app.pool)
        .await
        .unwrap();
    let worker = tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        app.state.shutdown.clone(),
        Duration::from_secs(5),
    ));
    let done = app.wait_final(&id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempts"], 3);
    let failure = done["failure"].as_str().unwrap();
    assert!(failure.contains("gave up after 3 attempts"), "{failure}");
    assert!(failure.contains("bytes where"), "{failure}");
    assert_eq!(app.prices_count().await, 0);
    // The payload stays staged for the operator; the job is gone.
    let (chunks, jobs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM batch_payload_chunks), (SELECT count(*) FROM batch_jobs)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(chunks > 0);
    assert_eq!(jobs, 0);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rates_batches_total{status=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rates_batch_retries_total 2"), "{metrics}");
    app.state.shutdown.cancel();
    worker.await.unwrap().unwrap();
}

/// A job whose worker died (lease expired) is taken over and committed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_returns_the_job() {
    let app = spawn(&[], false).await;
    let (_, accepted) = app.csv(&csv_batch(0, 100)).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    // A worker that claimed it and died: leased, processing, lease now over.
    sqlx::raw_sql(
        "UPDATE batch_jobs SET attempts = 1, lease_owner = 'dead-worker',
                leased_until = now() - interval '1 second', run_after = now() - interval '1 second';
         UPDATE batches SET status = 'processing', attempts = 1, started_at = now()",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let worker = tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        app.state.shutdown.clone(),
        Duration::from_secs(5),
    ));
    let done = app.wait_final(&id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["attempts"], 2);
    assert_eq!(app.prices_count().await, 100);
    app.state.shutdown.cancel();
    worker.await.unwrap().unwrap();
}

/// A live lease is respected: no second worker takes the job meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lease_is_not_taken() {
    let app = spawn(&[], false).await;
    let (_, accepted) = app.csv(&csv_batch(0, 10)).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    sqlx::raw_sql(
        "UPDATE batch_jobs SET attempts = 1, lease_owner = 'busy-worker',
                leased_until = now() + interval '1 hour', run_after = now() + interval '1 hour';
         UPDATE batches SET status = 'processing', attempts = 1",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let claim = app
        .state
        .batches
        .backend()
        .await
        .unwrap()
        .queue
        .claim(app.state.batches.settings())
        .await
        .unwrap();
    assert!(matches!(claim, rates::batch::lease::Claim::Empty));
    let (_, body) = app.get_json(&format!("/batches/{id}")).await;
    assert_eq!(body["status"], "processing");
}

/// Sporadic bursts: 20 uploads at once are all acknowledged quickly (the
/// upload never waits for commits) and all commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_twenty_batches_is_acknowledged_fast_and_all_commit() {
    let app = spawn(&[("RATES_WORKER_CONCURRENCY", "2")], true).await;
    let bodies: Vec<String> = (0..20)
        .map(|i| csv_batch(i * 1_000_000, 3_000 + i as usize * 100))
        .collect();
    let started = Instant::now();
    let uploads = bodies.iter().map(|b| async {
        let t = Instant::now();
        let r = app.csv(b).await;
        (r, t.elapsed())
    });
    let results = futures::future::join_all(uploads).await;
    let all_acknowledged = started.elapsed();
    let mut ids = Vec::new();
    for ((status, body), took) in &results {
        assert_eq!(*status, 202, "{body}");
        assert!(*took < Duration::from_secs(5), "an upload took {took:?}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    assert!(
        all_acknowledged < Duration::from_secs(10),
        "{all_acknowledged:?}"
    );
    // Acknowledged before the worker could have committed them all.
    let (_, queued) = app.get_json("/batches?status=committed&limit=500").await;
    assert!(
        queued["batches"].as_array().unwrap().len() < 20,
        "uploads waited for commits"
    );
    let mut expected_rows = 0;
    for (i, id) in ids.iter().enumerate() {
        let done = app.wait_final(id, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "committed", "{done}");
        assert_eq!(done["row_count"], 3_000 + i as i64 * 100);
        expected_rows += 3_000 + i as i64 * 100;
    }
    assert_eq!(app.prices_count().await, expected_rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_batches_rows_durations_and_the_queue() {
    let app = spawn(&[], true).await;
    app.ingest_csv(&csv_batch(0, 250)).await;
    app.ingest_csv("orig_code,dest_code,day,price\nCNSHA,NLRTM,2016-01-01,0\n")
        .await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "rates_batches_total{status=\"committed\"} 1",
        "rates_batches_total{status=\"rejected\"} 1",
        "rates_batch_rows_ingested_total 250",
        "rates_batch_duration_seconds_bucket{status=\"committed\",le=\"0.1\"}",
        "rates_batch_rows_per_second_bucket{le=\"1000\"}",
        "rates_batch_queue_depth",
        "rates_batch_oldest_queued_age_seconds",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_batch_routes() {
    let app = spawn(&[], false).await;
    let (status, doc): (u16, Value) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    for path in ["/batches", "/batches/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/batches"]["post"]["responses"]["202"].is_object());
    assert!(doc["components"]["schemas"]["BatchView"].is_object());
}

/// Shutdown with a batch in hand and the drain deadline passing: the
/// transaction rolls back, the job goes back to the queue without costing an
/// attempt, and the next worker commits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_unfinished_at_the_drain_deadline_is_rolled_back_and_requeued() {
    let app = spawn(&[], false).await;
    let (_, accepted) = app.csv(&csv_batch(0, 250_000)).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    // Its own token: the HTTP server keeps running for the checks.
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        stop.clone(),
        Duration::from_millis(300),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = app.get_json(&format!("/batches/{id}")).await;
        if body["status"] == "processing" {
            break;
        }
        assert!(Instant::now() < deadline, "never started: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops soon after the drain deadline")
        .unwrap()
        .unwrap();
    let (_, body) = app.get_json(&format!("/batches/{id}")).await;
    assert_eq!(body["status"], "queued", "{body}");
    assert_eq!(body["attempts"], 0, "a handed-back job costs no attempt");
    assert_eq!(app.prices_count().await, 0, "rolled back");
    let leased: Option<String> = sqlx::query_scalar("SELECT lease_owner FROM batch_jobs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(leased, None);
    let next = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        next.clone(),
        Duration::from_secs(30),
    ));
    let done = app.wait_final(&id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(app.prices_count().await, 250_000);
    next.cancel();
    worker.await.unwrap().unwrap();
}

/// Seven batches in pages of three: 3, 3, 1, each once, newest first, the last page
/// without a cursor; filters by source and creation time.
async fn pages_walk_every_batch_once() {
    let app = spawn(&[], false).await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let (status, accepted) = app.csv(&csv_batch(n * 10, 2)).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/batches?limit=3&source=upload".to_string();
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        let batches = page["batches"].as_array().unwrap();
        sizes.push(batches.len());
        seen.extend(
            batches
                .iter()
                .map(|b| b["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/batches?limit=3&source=upload&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, ids, "every batch once, newest first");
    let (_, drops) = app.get_json("/batches?source=object_drop").await;
    assert_eq!(drops["batches"].as_array().unwrap().len(), 0);
    let (_, later) = app
        .get_json("/batches?created_from=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(later["batches"].as_array().unwrap().len(), 0);
    let (_, earlier) = app
        .get_json("/batches?created_before=2999-01-01T00:00:00%2B02:00&limit=500")
        .await;
    assert_eq!(earlier["batches"].as_array().unwrap().len(), 7);
}
