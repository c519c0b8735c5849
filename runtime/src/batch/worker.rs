//! The batch worker: takes jobs from the queue with a lease, and commits or
//! rejects each batch in ONE transaction (COPY into a temporary table,
//! set-wise validation, insert into `prices`, mark final). Several loops may
//! run per process and several processes at once; on shutdown no new job is
//! taken and the batch in hand finishes within the drain timeout or is rolled
//! back and handed back to the queue.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::lease::{Claim, Lease};
use super::location::PayloadLocation;
use super::payload::{Parsed, PayloadParser};
use super::pg_queue::NOTIFY_CHANNEL;
use super::price_row::{PriceRow, RowError};
use super::queue::{self, Queue};
use super::record::{self, Source};
use super::staging::{self, StagingStore};
use super::status::{BatchStatus, Transition};
use super::Ingest;
use crate::domain::PortCode;
use crate::error::{DbContext, Error, Result};

/// How a batch left the worker's hands.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Committed {
        rows: u64,
    },
    Rejected {
        rows: u64,
        errors: u64,
    },
    /// Already final (a redelivery) or gone: the job was dropped.
    Skipped,
    /// The lease was lost to another worker before commit: rolled back.
    LeaseLost,
}

/// Runs `concurrency` worker loops until `shutdown` is cancelled and the
/// batches in hand are finished (or handed back after `drain_timeout`).
pub async fn run(
    ingest: Ingest,
    shutdown: CancellationToken,
    drain_timeout: Duration,
) -> Result<()> {
    // Fail fast on a bad backend configuration rather than in every loop.
    ingest.backend().await?;
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(ingest.clone(), wake.clone(), shutdown.clone()));
    let sampler = tokio::spawn(sample_queue(ingest.clone(), shutdown.clone()));
    let loops: Vec<_> = (0..ingest.settings().worker_concurrency)
        .map(|n| {
            tokio::spawn(work_loop(
                ingest.clone(),
                n,
                wake.clone(),
                shutdown.clone(),
                drain_timeout,
            ))
        })
        .collect();
    tracing::info!(
        concurrency = ingest.settings().worker_concurrency,
        "batch worker started"
    );
    for handle in loops {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "a worker loop panicked");
        }
    }
    listener.abort();
    sampler.abort();
    tracing::info!("batch worker stopped");
    Ok(())
}

/// Wakes idle loops when an upload NOTIFYs (PostgreSQL backend); they also
/// poll, so a lost notification only costs latency.
async fn listen(ingest: Ingest, wake: Arc<Notify>, shutdown: CancellationToken) {
    if !matches!(ingest.settings().backend, super::QueueBackend::Postgres) {
        return;
    }
    loop {
        let result: Result<()> = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(ingest.pool())
                .await
                .db("listening for new batches")?;
            listener
                .listen(NOTIFY_CHANNEL)
                .await
                .db("listening for new batches")?;
            loop {
                listener.recv().await.db("listening for new batches")?;
                wake.notify_waiters();
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "lost the notification connection; polling until it is back");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Publishes the queue depth and the oldest queued batch's age.
pub async fn sample_queue(ingest: Ingest, shutdown: CancellationToken) {
    loop {
        match queue::depth(ingest.pool()).await {
            Ok((depth, oldest)) => ingest.observer().queue(depth, oldest),
            Err(e) => tracing::warn!(error = %e, "could not measure the batch queue"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(15)) => {}
        }
    }
}

async fn work_loop(
    ingest: Ingest,
    n: u32,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    drain_timeout: Duration,
) {
    let settings = ingest.settings().clone();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let backend = match ingest.backend().await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "batch backend unavailable");
                sleep_or_stop(&shutdown, Duration::from_secs(5)).await;
                continue;
            }
        };
        // Register interest before looking, so an upload landing in between
        // still wakes us.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Not raced against shutdown: a claim dropped after its commit would
        // strand the job until its lease expires. Claims are short (SQS long
        // polls wait at most RATES_WORKER_POLL_MS, rounded up to a second).
        let claim = backend.queue.claim(&settings).await;
        match claim {
            Ok(Claim::Job(lease)) => {
                failures = 0;
                handle(&ingest, &backend.queue, lease, &shutdown, drain_timeout).await;
            }
            Ok(Claim::Handled) => failures = 0,
            Ok(Claim::Empty) => {
                failures = 0;
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep(settings.poll_interval) => {}
                    () = shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                failures += 1;
                let delay = Duration::from_millis(250 * 2u64.pow(failures.min(5)));
                tracing::warn!(error = %e, worker = n, retry_in_ms = delay.as_millis() as u64, "could not claim a job");
                sleep_or_stop(&shutdown, delay).await;
            }
        }
    }
}

async fn sleep_or_stop(shutdown: &CancellationToken, delay: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(delay) => {}
    }
}

/// Processes one claimed batch: renews the lease meanwhile, honours the drain
/// timeout, and settles the job whatever happens.
async fn handle(
    ingest: &Ingest,
    queue: &Queue,
    lease: Lease,
    shutdown: &CancellationToken,
    drain_timeout: Duration,
) {
    let settings = ingest.settings();
    let started = Instant::now();
    let id = lease.batch_id;
    tracing::info!(batch_id = %id, attempt = lease.attempt, "processing batch");
    // Boxed so it can really be dropped (closing its connection) before the
    // job is handed back.
    let mut work = Box::pin(process(ingest, queue, &lease));
    let renew = async {
        let every = settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match queue.renew(&lease, settings).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(batch_id = %id, "lease lost while processing; the commit will be refused")
                }
                Err(e) => tracing::warn!(batch_id = %id, error = %e, "could not renew the lease"),
            }
        }
    };
    tokio::pin!(renew);
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(drain_timeout).await;
    };
    let result = tokio::select! {
        result = &mut work => Some(result),
        () = &mut renew => None,
        () = deadline => None,
    };
    let Some(result) = result else {
        // Drain timeout: dropping the future drops its dedicated connection,
        // so the server rolls the transaction back; then hand the job back.
        drop(work);
        tracing::warn!(batch_id = %id, "drain timeout reached mid-batch; rolled back and returned to the queue");
        if let Err(e) = queue.release(ingest.pool(), &lease).await {
            tracing::error!(batch_id = %id, error = %e, "could not hand the job back; it returns when its lease expires");
        }
        return;
    };
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(Outcome::Committed { rows }) => {
            tracing::info!(batch_id = %id, rows, seconds, "batch committed");
            ingest
                .observer()
                .finished(id, BatchStatus::Committed, rows, seconds);
            settle_after_commit(ingest, queue, &lease).await;
        }
        Ok(Outcome::Rejected { rows, errors }) => {
            tracing::info!(batch_id = %id, rows, errors, seconds, "batch rejected");
            ingest
                .observer()
                .finished(id, BatchStatus::Rejected, rows, seconds);
            settle_after_commit(ingest, queue, &lease).await;
        }
        Ok(Outcome::Skipped) => {
            if let Err(e) = queue.discard(ingest.pool(), &lease).await {
                tracing::warn!(batch_id = %id, error = %e, "could not drop the job of a finished batch");
            }
        }
        Ok(Outcome::LeaseLost) => {
            tracing::warn!(batch_id = %id, "lease lost before commit; rolled back, another worker owns the job");
        }
        Err(e) => {
            let message = e.to_string();
            tracing::error!(batch_id = %id, attempt = lease.attempt, error = %message, "batch attempt failed");
            match queue
                .retry_or_fail(ingest.pool(), &lease, &message, settings)
                .await
            {
                Ok(true) => ingest
                    .observer()
                    .finished(id, BatchStatus::Failed, 0, seconds),
                Ok(false) => ingest.observer().retried(),
                Err(e) => {
                    tracing::error!(batch_id = %id, error = %e, "could not record the failed attempt; the job returns when its lease expires")
                }
            }
        }
    }
}

async fn settle_after_commit(ingest: &Ingest, queue: &Queue, lease: &Lease) {
    if let Err(e) = queue.after_commit(lease).await {
        tracing::warn!(batch_id = %lease.batch_id, error = %e, "could not acknowledge the job; a redelivery will find the batch final");
    }
    // Uploaded payloads staged in S3 are ours to delete; dropped objects are not.
    if let Ok(backend) = ingest.backend().await {
        if let StagingStore::S3 { bucket, .. } = &backend.staging {
            let location = PayloadLocation::S3 {
                bucket: bucket.clone(),
                key: staging::upload_key(lease.batch_id),
            };
            staging::discard(&backend.staging, &location).await;
        }
    }
}

/// Memory for the sorts and hashes of the batch's own transaction, whose statement
/// trigger groups every inserted row by lane and day. At PostgreSQL's default (4 MB) the
/// 1,000,000-row synthetic batch's 290,163 lane-days spilled: the grouping in 21
/// batches (15 MB on disk), the sort into key order to disk (12 MB), and the trigger
/// took 1,624 ms; with 64 MB both stay in memory and it took 1,354 ms (durable cluster,
/// auto_explain). Only this transaction gets it (`SET LOCAL`), one per worker loop.
const BATCH_WORK_MEM_SQL: &str = "SET LOCAL work_mem = '64MB'";

/// The rows COPY sends per message.
const COPY_BUFFER_BYTES: usize = 512 * 1024;

/// One batch, one transaction. Infrastructure problems return `Err` (the job is
/// retried); problems with the payload reject the batch.
async fn process(ingest: &Ingest, queue: &Queue, lease: &Lease) -> Result<Outcome> {
    let id = lease.batch_id;
    let settings = ingest.settings();
    let backend = ingest.backend().await?;
    // A dedicated connection: if this future is dropped (drain timeout) the
    // socket closes and the server rolls back at once.
    let mut conn = PgConnection::connect_with(&ingest.pool().connect_options())
        .await
        .db("connecting for the batch transaction")?;
    let mut tx = conn.begin().await.db("starting the batch transaction")?;
    sqlx::query(BATCH_WORK_MEM_SQL)
        .execute(&mut *tx)
        .await
        .db("starting the batch transaction")?;
    let Some(item) = record::lock_for_work(&mut tx, id).await? else {
        tracing::warn!(batch_id = %id, "job for a batch that does not exist; dropping it");
        return Ok(Outcome::Skipped);
    };
    if item.status.is_final() {
        return Ok(Outcome::Skipped);
    }
    if item.status != BatchStatus::Processing {
        // Handed back (released or retried) since this worker claimed it: another
        // claim owns it now.
        return Ok(Outcome::LeaseLost);
    }
    // The ports the rows may name, held FOR KEY SHARE (as a foreign key check would)
    // until this transaction ends: none can be deleted or renamed under the batch.
    let ports: HashSet<PortCode> =
        sqlx::query_scalar::<_, String>("SELECT code::text FROM ports ORDER BY code FOR KEY SHARE")
            .fetch_all(&mut *tx)
            .await
            .db("locking the ports")?
            .iter()
            .filter_map(|code| PortCode::parse(code).ok())
            .collect();

    let etag = (item.source == Source::ObjectDrop).then_some(item.content_hash.as_str());
    let reader = staging::open(
        &backend.staging,
        ingest.pool(),
        id,
        &item.payload_location,
        etag,
        item.size_bytes,
    )
    .await?;
    let mut parser = PayloadParser::new(item.format, reader);
    let max_errors = settings.max_errors as usize;
    let mut errors: Vec<RowError> = Vec::new();
    let mut error_count: u64 = 0;
    let mut parse_errors: u64 = 0;
    let mut rows: u64 = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(COPY_BUFFER_BYTES + 1024);
    // The rows go straight into prices, in one pass over the payload: measured on a
    // durable cluster with 1,000,000 rows, COPY into prices takes 5.4 s where COPY into
    // a temporary table followed by INSERT ... SELECT took 8.1 s. The first bad row
    // stops the COPY (the savepoint takes it back); parsing goes on to count and list
    // the errors.
    let t0 = Instant::now();
    sqlx::query("SAVEPOINT batch_rows")
        .execute(&mut *tx)
        .await
        .db("starting the batch's rows")?;
    let mut copy = Some(
        tx.copy_in_raw("COPY prices (orig_code, dest_code, day, price) FROM STDIN")
            .await
            .db("starting COPY")?,
    );
    let reject = |error: RowError, errors: &mut Vec<RowError>, count: &mut u64| {
        *count += 1;
        if errors.len() < max_errors {
            errors.push(error);
        }
    };
    loop {
        let next = match parser.next().await {
            Ok(next) => next,
            Err(e) => {
                if let Some(copy) = copy.take() {
                    let _ = copy.abort("payload read failed").await;
                }
                return Err(Error::io(format!("reading the payload of batch {id}"), e));
            }
        };
        let error = match next {
            None => break,
            Some(Parsed::Row { line, row }) => {
                rows += 1;
                match unknown_port(&ports, line, &row) {
                    Some(error) => error,
                    None => {
                        if copy.is_some() {
                            copy_row(&mut buf, &row);
                            if buf.len() >= COPY_BUFFER_BYTES {
                                if let Some(copy) = copy.as_mut() {
                                    copy.send(std::mem::take(&mut buf))
                                        .await
                                        .db("streaming rows (COPY)")?;
                                }
                                buf.reserve(COPY_BUFFER_BYTES + 1024);
                            }
                        }
                        continue;
                    }
                }
            }
            Some(Parsed::Invalid(error)) => {
                parse_errors += 1;
                error
            }
        };
        reject(error, &mut errors, &mut error_count);
        if let Some(copy) = copy.take() {
            // Nothing of a batch with errors is kept: stop sending rows.
            copy.abort("the batch has errors")
                .await
                .db("stopping COPY")?;
            buf = Vec::new();
        }
    }
    if rows == 0 && error_count == 0 {
        reject(
            RowError::new(1, "row", "", "the batch has no rows"),
            &mut errors,
            &mut error_count,
        );
        if let Some(copy) = copy.take() {
            copy.abort("the batch has no rows")
                .await
                .db("stopping COPY")?;
        }
    }

    let streamed = t0.elapsed();
    let t1 = Instant::now();
    let inserted = match copy.take() {
        Some(mut copy) => {
            if !buf.is_empty() {
                copy.send(buf).await.db("streaming rows (COPY)")?;
            }
            Some(copy.finish().await.db("finishing COPY")?)
        }
        None => None,
    };
    drop(copy);
    let finished = t1.elapsed();
    let outcome = match inserted {
        Some(inserted) => {
            // The one place a batch becomes committed.
            let committed = Transition::Commit { rows: inserted };
            if !committed.apply(&mut tx, id).await? {
                return Err(Error::Other(format!(
                    "batch {id} left processing while locked"
                )));
            }
            Outcome::Committed { rows: inserted }
        }
        None => {
            sqlx::query("ROLLBACK TO SAVEPOINT batch_rows")
                .execute(&mut *tx)
                .await
                .db("taking back the batch's rows")?;
            errors.sort_by(|a, b| {
                a.line
                    .cmp(&b.line)
                    .then_with(|| column_rank(&a.column).cmp(&column_rank(&b.column)))
            });
            errors.truncate(max_errors);
            let json = serde_json::to_value(&errors)
                .map_err(|e| Error::Other(format!("encoding errors: {e}")))?;
            let rejected = Transition::Reject {
                rows: rows + parse_errors,
                errors: error_count,
                first: &json,
            };
            if !rejected.apply(&mut tx, id).await? {
                return Err(Error::Other(format!(
                    "batch {id} left processing while locked"
                )));
            }
            Outcome::Rejected {
                rows,
                errors: error_count,
            }
        }
    };
    staging::delete_in(&mut tx, id).await?;
    if !queue.complete_in(&mut tx, lease).await? {
        tx.rollback()
            .await
            .db("rolling back after losing the lease")?;
        return Ok(Outcome::LeaseLost);
    }
    let t2 = Instant::now();
    tx.commit().await.db("committing the batch")?;
    // Where a batch's time goes: reading, parsing and sending its rows (the server
    // stores them meanwhile), the end of COPY (the statement triggers: port check and
    // aggregates), and the commit (WAL flush).
    tracing::info!(
        batch_id = %id,
        stream_ms = streamed.as_millis() as u64,
        finish_copy_ms = finished.as_millis() as u64,
        commit_ms = t2.elapsed().as_millis() as u64,
        "batch transaction timings"
    );
    let _ = conn.close().await;
    Ok(outcome)
}

/// Appends `row` as a line of COPY's text format. Codes are validated ASCII and days and
/// prices numbers, so nothing needs escaping; the day is written from its parts because
/// chrono's `format` interprets its pattern anew for every row.
fn copy_row(buf: &mut Vec<u8>, row: &PriceRow) {
    use chrono::Datelike;
    let day = row.day;
    buf.extend_from_slice(row.orig_code.as_str().as_bytes());
    buf.push(b'\t');
    buf.extend_from_slice(row.dest_code.as_str().as_bytes());
    buf.push(b'\t');
    let _ = writeln!(
        buf,
        "{:04}-{:02}-{:02}\t{}",
        day.year(),
        day.month(),
        day.day(),
        row.price
    );
}

/// The first port of `row` that is not in `ports`, as the row's error.
fn unknown_port(ports: &HashSet<PortCode>, line: u64, row: &PriceRow) -> Option<RowError> {
    [("orig_code", &row.orig_code), ("dest_code", &row.dest_code)]
        .into_iter()
        .find(|(_, code)| !ports.contains(*code))
        .map(|(column, code)| RowError::new(line, column, code.as_str(), "unknown port code"))
}

fn column_rank(column: &str) -> usize {
    ["header", "row", "orig_code", "dest_code", "day", "price"]
        .iter()
        .position(|c| *c == column)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_are_copy_text_lines() {
        let row = PriceRow::parse(
            7,
            "CNSHA",
            "NLRTM",
            "2016-01-09",
            crate::batch::price_row::RawPrice::Text("1234"),
        )
        .unwrap();
        let mut buf = Vec::new();
        copy_row(&mut buf, &row);
        assert_eq!(buf, b"CNSHA\tNLRTM\t2016-01-09\t1234\n");
    }
}
