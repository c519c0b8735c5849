//! Crash consistency: 50+ batches of varied size are uploaded while a harness
//! kills the real `rates work` process at random moments (SIGKILL) and
//! restarts it. Every batch must end committed exactly once (all its rows,
//! no duplicates) or rejected (none of its rows). The same with SIGTERM, where
//! every batch must succeed on its first attempt and every exit be clean.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::batch::{csv_batch, fresh_batch_database, spawn_on};
use crate::support::TestApp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::{Rng, SeedableRng};

const BATCHES: usize = 54;
const PRICE_STRIDE: i64 = 1_000_000;

struct Plan {
    rows: usize,
    /// Rejected batches carry one unknown port on their last line.
    bad: bool,
}

fn plans() -> Vec<Plan> {
    let sizes = [7, 120, 1_500, 6_000, 20_000, 45, 3_000];
    (0..BATCHES)
        .map(|i| Plan {
            rows: sizes[i % sizes.len()] + i * 13,
            bad: i % 9 == 4,
        })
        .collect()
}

fn body(i: usize, plan: &Plan) -> String {
    let mut csv = csv_batch((i as i64 + 1) * PRICE_STRIDE, plan.rows);
    if plan.bad {
        csv.push_str(&format!(
            "CNSHA,ZZZZZ,2016-03-01,{}\n",
            (i as i64 + 1) * PRICE_STRIDE + 999_999
        ));
    }
    csv
}

/// A `rates work` process, SIGKILLed if the test fails while it runs.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start_worker(db_url: &str, extra: &[(&str, &str)]) -> Worker {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rates"));
    cmd.arg("work")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("RATES_BIND", "127.0.0.1:0")
        .env("RATES_LOG", "warn")
        .env("RATES_WORKER_CONCURRENCY", "2")
        .env("RATES_WORKER_POLL_MS", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Worker(cmd.spawn().expect("start rates work"))
}

/// Uploads every batch, `gap` apart, so the uploads span several of the
/// harness's stop/restart cycles whatever the machine's speed.
async fn upload_all(app: &TestApp, plans: &[Plan], gap: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let (status, accepted) = app.csv(&body(i, plan)).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
        tokio::time::sleep(gap).await;
    }
    ids
}

async fn all_final(app: &TestApp, expected: usize) -> bool {
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM batches WHERE status NOT IN ('committed', 'rejected', 'failed')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM batches")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    open == 0 && total == expected as i64
}

/// Checks every batch's rows in prices and the aggregates; returns the attempts per batch.
async fn verify(app: &TestApp, plans: &[Plan], ids: &[String]) -> Vec<i32> {
    let mut attempts = Vec::new();
    let mut expected_total = 0i64;
    for (i, (plan, id)) in plans.iter().zip(ids).enumerate() {
        let (status, row_count, tries): (String, Option<i64>, i32) =
            sqlx::query_as("SELECT status, row_count, attempts FROM batches WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        attempts.push(tries);
        let base = (i as i64 + 1) * PRICE_STRIDE;
        let (rows, distinct): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT price) FROM prices WHERE price > $1 AND price < $2",
        )
        .bind(base as i32)
        .bind((base + PRICE_STRIDE) as i32)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if plan.bad {
            assert_eq!(status, "rejected", "batch {i} ({id})");
            assert_eq!(rows, 0, "rejected batch {i} left rows behind");
        } else {
            assert_eq!(status, "committed", "batch {i} ({id})");
            assert_eq!(row_count, Some(plan.rows as i64), "batch {i}");
            assert_eq!(rows, plan.rows as i64, "batch {i}: partial or duplicated");
            assert_eq!(distinct, plan.rows as i64, "batch {i}: duplicated rows");
            expected_total += plan.rows as i64;
        }
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM prices")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(total, expected_total, "no stray rows");
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT orig_code, dest_code, day, sum(price)::int8 AS s, count(*)::int4 AS c
             FROM prices GROUP BY 1, 2, 3) p
         FULL JOIN lane_daily l USING (orig_code, dest_code, day)
         WHERE p.s IS DISTINCT FROM l.price_sum OR p.c IS DISTINCT FROM l.price_count",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0, "lane aggregates match prices");
    let leftovers: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM batch_jobs), (SELECT count(*) FROM batch_payload_chunks)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(leftovers, (0, 0), "no jobs or staged payloads left");
    attempts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_never_half_commits_a_batch() {
    let db_url = fresh_batch_database().await;
    let app = spawn_on(&db_url, &[], false).await;
    let plans = plans();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash harness seed: {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let extra = [
        ("RATES_BATCH_LEASE_SECS", "1"),
        ("RATES_BATCH_MAX_ATTEMPTS", "1000"),
        ("RATES_BATCH_RETRY_BASE_SECS", "0"),
    ];
    let uploads = upload_all(&app, &plans, Duration::from_millis(40));
    tokio::pin!(uploads);
    let mut ids = None;
    let mut kills = 0;
    let mut mid_batch = 0;
    // KILLS workers die at random moments (while uploads continue); the one
    // after them is left to finish the work, so the test always converges.
    const KILLS: usize = 30;
    loop {
        let mut worker = start_worker(&db_url, &extra);
        if kills == KILLS {
            let deadline = Instant::now() + Duration::from_secs(240);
            loop {
                if ids.is_none() {
                    ids = Some((&mut uploads).await);
                }
                if all_final(&app, plans.len()).await {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "batches not final 240 s after the last kill"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            kill(Pid::from_raw(worker.0.id() as i32), Signal::SIGKILL).unwrap();
            worker.0.wait().unwrap();
            break;
        }
        let lifetime = Duration::from_millis(rng.gen_range(200..2_000));
        let until = tokio::time::sleep(lifetime);
        tokio::pin!(until);
        // Keep uploading while the worker lives.
        loop {
            tokio::select! {
                done = &mut uploads, if ids.is_none() => ids = Some(done),
                () = &mut until => break,
            }
        }
        let in_hand: i64 =
            sqlx::query_scalar("SELECT count(*) FROM batches WHERE status = 'processing'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        if in_hand > 0 {
            mid_batch += 1;
        }
        kill(Pid::from_raw(worker.0.id() as i32), Signal::SIGKILL).unwrap();
        worker.0.wait().unwrap();
        kills += 1;
    }
    let ids = ids.unwrap();
    let attempts = verify(&app, &plans, &ids).await;
    let retried = attempts.iter().filter(|&&a| a > 1).count();
    eprintln!(
        "{kills} kills ({mid_batch} with a batch in hand); {retried} batches needed more than one attempt; attempts {attempts:?}"
    );
    assert!(
        kills >= 5,
        "the harness killed the worker only {kills} times"
    );
    assert!(
        retried >= 1,
        "no kill landed mid-batch; the test proved nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_random_moments_finishes_each_batch_first_time() {
    let db_url = fresh_batch_database().await;
    let app = spawn_on(&db_url, &[], false).await;
    let plans = plans();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("shutdown harness seed: {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let extra = [
        ("RATES_BATCH_LEASE_SECS", "30"),
        ("RATES_DRAIN_TIMEOUT_SECS", "60"),
    ];
    let uploads = upload_all(&app, &plans, Duration::from_millis(100));
    tokio::pin!(uploads);
    let mut ids = None;
    let mut stops = 0;
    let mut mid_batch = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut worker = start_worker(&db_url, &extra);
        // Short lives, so that even a fast machine, which drains the whole
        // upload in a few seconds, sees enough stops with work outstanding.
        let lifetime = Duration::from_millis(rng.gen_range(150..800));
        let until = tokio::time::sleep(lifetime);
        tokio::pin!(until);
        loop {
            tokio::select! {
                done = &mut uploads, if ids.is_none() => ids = Some(done),
                () = &mut until => break,
            }
        }
        let finished = ids.is_some() && all_final(&app, plans.len()).await;
        let in_hand: i64 =
            sqlx::query_scalar("SELECT count(*) FROM batches WHERE status = 'processing'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        if in_hand > 0 {
            mid_batch += 1;
        }
        kill(Pid::from_raw(worker.0.id() as i32), Signal::SIGTERM).unwrap();
        let status = tokio::task::spawn_blocking(move || worker.0.wait().unwrap())
            .await
            .unwrap();
        assert!(
            status.success(),
            "rates work exited with {status} after SIGTERM"
        );
        if finished {
            break;
        }
        stops += 1;
        assert!(
            Instant::now() < deadline,
            "batches not final after {stops} stops"
        );
    }
    let ids = ids.unwrap();
    let attempts = verify(&app, &plans, &ids).await;
    eprintln!("{stops} graceful stops, {mid_batch} with a batch in hand; attempts {attempts:?}");
    assert!(
        mid_batch >= 1,
        "no SIGTERM landed mid-batch; the test proved nothing"
    );
    assert!(
        stops >= 5,
        "the harness stopped the worker only {stops} times"
    );
    assert!(
        attempts.iter().all(|&a| a == 1),
        "a graceful stop must never cost a retry: {attempts:?}"
    );
    let failures: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batches WHERE failure IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(failures, 0);
}
