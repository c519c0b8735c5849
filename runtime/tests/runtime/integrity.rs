//! Every price names two ports that exist, whoever writes it and however writers
//! interleave: the batch worker, POST /prices, and SQL sessions inserting or updating
//! prices, deleting or renaming ports, or truncating ports (migration 0005 checks this
//! per statement, not per row).

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::support::batch::{fresh_batch_database, spawn_on};

pub(crate) async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

/// The SQLSTATE of a failed statement.
fn sqlstate(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> String {
    match result {
        Ok(r) => panic!("expected a failure, {} rows changed", r.rows_affected()),
        Err(sqlx::Error::Database(e)) => e.code().unwrap_or_default().to_string(),
        Err(e) => panic!("not a database error: {e}"),
    }
}

async fn orphans(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM prices p WHERE NOT EXISTS (SELECT 1 FROM ports o WHERE o.code = p.orig_code)
                                        OR NOT EXISTS (SELECT 1 FROM ports d WHERE d.code = p.dest_code)",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_sql_writer_is_held_to_existing_ports() {
    let url = fresh_batch_database().await;
    let mut db = connect(&url).await;
    let insert = |orig: &'static str, dest: &'static str| {
        format!("INSERT INTO prices (orig_code, dest_code, day, price) VALUES ('{orig}', '{dest}', '2016-01-01', 5)")
    };
    // A new price naming an unknown port, alone or among good ones.
    for sql in [
        insert("ZZZZZ", "NLRTM"),
        insert("CNSHA", "ZZZZZ"),
        "INSERT INTO prices (orig_code, dest_code, day, price)
         SELECT 'CNSHA', CASE WHEN g = 500 THEN 'XXXXX' ELSE 'NLRTM' END, '2016-01-01', g
         FROM generate_series(1, 1000) g"
            .to_string(),
    ] {
        assert_eq!(
            sqlstate(sqlx::query(&sql).execute(&mut db).await),
            "23503",
            "{sql}"
        );
    }
    sqlx::query(&insert("CNSHA", "NLRTM"))
        .execute(&mut db)
        .await
        .unwrap();
    // Moving a price to an unknown port.
    let moved = sqlx::query("UPDATE prices SET dest_code = 'QQQQQ'")
        .execute(&mut db)
        .await;
    assert_eq!(sqlstate(moved), "23503");
    // Deleting or renaming a port that has prices; TRUNCATE of ports.
    for sql in [
        "DELETE FROM ports WHERE code = 'NLRTM'",
        "DELETE FROM ports WHERE code = 'CNSHA'",
        "UPDATE ports SET code = 'NLRTX' WHERE code = 'NLRTM'",
        "TRUNCATE ports CASCADE",
    ] {
        assert_eq!(
            sqlstate(sqlx::query(sql).execute(&mut db).await),
            "23503",
            "{sql}"
        );
    }
    // Ports without prices may go, and renaming another column is fine.
    sqlx::query("UPDATE ports SET name = 'Rotterdam (NL)' WHERE code = 'NLRTM'")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM ports WHERE code = 'USLAX'")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(orphans(&mut db).await, 0);
}

/// A delete of a port and an insert of prices naming it, each waiting on the other's
/// open transaction, in both orders: one of them fails, never an orphan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_port_deletes_and_price_inserts_never_leave_an_orphan() {
    let url = fresh_batch_database().await;
    let insert = "INSERT INTO prices (orig_code, dest_code, day, price) VALUES ('USNYC', 'DEHAM', '2016-01-01', 9)";
    let delete = "DELETE FROM ports WHERE code = 'USNYC'";

    // The insert's transaction is open first: the delete waits for it, then sees its price.
    let mut writer = connect(&url).await;
    let mut admin = connect(&url).await;
    sqlx::raw_sql(&format!("BEGIN; {insert}"))
        .execute(&mut writer)
        .await
        .unwrap();
    let deleting = tokio::spawn(async move {
        let result = sqlx::query(delete).execute(&mut admin).await;
        (admin, result)
    });
    wait_for_a_lock_wait(&url).await;
    sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
    let (mut admin, result) = deleting.await.unwrap();
    assert_eq!(
        sqlstate(result),
        "23503",
        "the delete saw the committed price"
    );
    assert_eq!(orphans(&mut admin).await, 0);

    // The delete's transaction is open first: the insert waits for it, then finds the
    // port gone.
    sqlx::raw_sql("DELETE FROM prices")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("BEGIN; {delete}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let inserting = tokio::spawn(async move {
        let result = sqlx::query(insert).execute(&mut writer).await;
        (writer, result)
    });
    wait_for_a_lock_wait(&url).await;
    sqlx::raw_sql("COMMIT").execute(&mut admin).await.unwrap();
    let (_, result) = inserting.await.unwrap();
    assert_eq!(sqlstate(result), "23503", "the insert found the port gone");
    assert_eq!(orphans(&mut admin).await, 0);
}

/// Returns once some session of the test database waits for a lock.
pub(crate) async fn wait_for_a_lock_wait(url: &str) {
    let mut conn = connect(url).await;
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the second session never waited for the first");
}

/// The batch worker and POST /prices, racing a session that deletes the port they use:
/// a batch whose port goes away before its commit is rejected naming the port (or
/// retried and then rejected); a committed one keeps its port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_price_ranges_racing_a_port_delete_leave_no_orphan() {
    let url = fresh_batch_database().await;
    let app = spawn_on(&url, &[("RATES_BATCH_RETRY_BASE_SECS", "0")], true).await;
    let mut admin = connect(&url).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let body = format!(
            "orig_code,dest_code,day,price\nUSNYC,DEHAM,2016-01-0{},{}\n",
            n + 1,
            n + 10
        );
        let (status, accepted) = app.csv(&body).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
        if n == 2 {
            // The port goes (if no committed price names it yet) while batches are in flight.
            let _ = sqlx::query("DELETE FROM ports WHERE code = 'USNYC'")
                .execute(&mut admin)
                .await;
        }
    }
    let range = app
        .client
        .post(app.url("/prices"))
        .header("content-type", "application/json")
        .body(r#"{"date_from": "2016-02-01", "date_to": "2016-02-03", "origin_code": "USNYC", "destination_code": "DEHAM", "price": 3}"#)
        .send()
        .await
        .unwrap();
    let port_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ports WHERE code = 'USNYC')")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(range.status(), if port_exists { 201 } else { 400 });
    for id in &ids {
        let done = app.wait_final(id, Duration::from_secs(60)).await;
        let status = done["status"].as_str().unwrap();
        assert!(status == "committed" || status == "rejected", "{done}");
        if status == "rejected" {
            assert_eq!(done["errors"][0]["value"], "USNYC", "{done}");
        }
    }
    assert_eq!(orphans(&mut admin).await, 0);
}
