//! The per-lane daily aggregates (lane_daily) stay equal to the sums and counts of
//! `prices` whoever inserts and however writers interleave: migration 0007 writes them
//! without ON CONFLICT, which is only sound because every writer of prices takes the
//! prices_version row lock before it touches lane_daily.

use sqlx::PgConnection;

use crate::integrity::{connect, wait_for_a_lock_wait};
use crate::support::batch::{fresh_batch_database, spawn_on};

/// Lane-days where lane_daily and the prices disagree (missing on either side or with
/// another sum or count).
async fn disagreements(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT orig_code, dest_code, day, sum(price) AS s, count(*) AS c
             FROM prices GROUP BY orig_code, dest_code, day) p
         FULL JOIN lane_daily l USING (orig_code, dest_code, day)
         WHERE p.s IS DISTINCT FROM l.price_sum OR p.c IS DISTINCT FROM l.price_count",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn lane_day(conn: &mut PgConnection, day: &str) -> Option<(i64, i32)> {
    sqlx::query_as(
        "SELECT price_sum, price_count FROM lane_daily
         WHERE orig_code = 'USNYC' AND dest_code = 'DEHAM' AND day = $1::date",
    )
    .bind(day)
    .fetch_optional(conn)
    .await
    .unwrap()
}

/// Two transactions insert prices for the same lane-days, some new to both, while the
/// first is still open: the second waits for it, then counts its prices on top (no
/// unique violation on a lane-day the first created, no lost sum).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_on_the_same_new_lane_days_are_all_counted() {
    let url = fresh_batch_database().await;
    let mut first = connect(&url).await;
    let mut second = connect(&url).await;
    // 2016-03-01 exists before either; 03-02 and 03-03 are new to both.
    sqlx::raw_sql(
        "INSERT INTO prices (orig_code, dest_code, day, price) VALUES ('USNYC', 'DEHAM', '2016-03-01', 1)",
    )
    .execute(&mut first)
    .await
    .unwrap();
    sqlx::raw_sql(
        "BEGIN;
         INSERT INTO prices (orig_code, dest_code, day, price)
         SELECT 'USNYC', 'DEHAM', d, 10 FROM generate_series('2016-03-01'::date, '2016-03-02', '1 day') d",
    )
    .execute(&mut first)
    .await
    .unwrap();
    let inserting = tokio::spawn(async move {
        let result = sqlx::query(
            "INSERT INTO prices (orig_code, dest_code, day, price)
             SELECT 'USNYC', 'DEHAM', d, 100 FROM generate_series('2016-03-01'::date, '2016-03-03', '1 day') d",
        )
        .execute(&mut second)
        .await;
        (second, result)
    });
    wait_for_a_lock_wait(&url).await;
    sqlx::raw_sql("COMMIT").execute(&mut first).await.unwrap();
    let (_, result) = inserting.await.unwrap();
    result.expect("the second insert commits after the first");
    assert_eq!(lane_day(&mut first, "2016-03-01").await, Some((111, 3)));
    assert_eq!(lane_day(&mut first, "2016-03-02").await, Some((110, 2)));
    assert_eq!(lane_day(&mut first, "2016-03-03").await, Some((100, 1)));
    assert_eq!(disagreements(&mut first).await, 0);
}

/// Batches committed by the worker while SQL sessions insert, update and delete prices
/// on the same lanes: the aggregates end equal to the prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_racing_sql_writers_keep_the_aggregates_equal_to_the_prices() {
    let url = fresh_batch_database().await;
    let app = spawn_on(&url, &[], true).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let mut body = String::from("orig_code,dest_code,day,price\n");
        for day in 1..=28 {
            body.push_str(&format!("USNYC,DEHAM,2016-02-{day:02},{}\n", n * 100 + day));
        }
        let (status, accepted) = app.csv(&body).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    let writers: Vec<_> = (0..3)
        .map(|n| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut conn = connect(&url).await;
                for round in 0..5 {
                    let sql = match (n + round) % 3 {
                        0 => "INSERT INTO prices (orig_code, dest_code, day, price)
                              SELECT 'USNYC', 'DEHAM', d, 7 FROM generate_series('2016-02-01'::date, '2016-03-05', '1 day') d",
                        1 => "UPDATE prices SET price = price + 1 WHERE day = '2016-02-10'",
                        _ => "DELETE FROM prices WHERE day = '2016-02-11' AND price = 7",
                    };
                    sqlx::query(sql).execute(&mut conn).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for id in &ids {
        let done = app.wait_final(id, std::time::Duration::from_secs(60)).await;
        assert_eq!(done["status"], "committed", "{done}");
    }
    let mut conn = connect(&url).await;
    assert_eq!(disagreements(&mut conn).await, 0);
}
