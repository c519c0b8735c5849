//! The current data version, read once for many requests at a time.
//!
//! An answer kept in memory may be used only if it belongs to a version at least as new
//! as every commit that finished before the request arrived. Reading the version (one
//! round trip) per request would give that; so does any read that *started* after the
//! request arrived. Requests that arrive while a read is in flight wait for the next
//! one, which one of them starts when the read in flight ends; that read answers all of
//! them. Under load the database sees one version read per round trip instead of one
//! per request; an idle service still pays one round trip per request.

use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::watch;

use crate::error::{DbContext, Result};

/// What a finished read found.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// The read's number; reads are numbered in the order they start.
    seq: u64,
    /// None when the read failed (each waiter then reads for itself, to get the error).
    version: Option<i64>,
}

#[derive(Debug, Default)]
struct Reads {
    /// Reads started so far.
    started: u64,
    in_flight: bool,
}

/// Shares version reads between concurrent requests. Cheap to clone.
#[derive(Clone)]
pub struct VersionGate {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    reads: Mutex<Reads>,
    done: watch::Sender<Reading>,
}

pub const VERSION_SQL: &str = "SELECT version FROM prices_version";

impl VersionGate {
    pub fn new(pool: PgPool) -> VersionGate {
        VersionGate {
            inner: Arc::new(Inner {
                pool,
                reads: Mutex::new(Reads::default()),
                done: watch::Sender::new(Reading {
                    seq: 0,
                    version: None,
                }),
            }),
        }
    }

    /// A data version read that started after this call: it reflects every commit
    /// that finished before the call.
    pub async fn current(&self) -> Result<i64> {
        let mut done = self.inner.done.subscribe();
        // Reads numbered `need` and later start after this point.
        let need = self.lock().started + 1;
        loop {
            let reading = *done.borrow_and_update();
            if reading.seq >= need {
                return match reading.version {
                    Some(version) => Ok(version),
                    None => read(&self.inner.pool).await,
                };
            }
            self.start_read_unless_running();
            if done.changed().await.is_err() {
                return read(&self.inner.pool).await;
            }
        }
    }

    /// Starts the next read when none is in flight. It runs as its own task, so a
    /// request that goes away (a client disconnecting) cannot leave it unfinished.
    fn start_read_unless_running(&self) {
        let seq = {
            let mut reads = self.lock();
            if reads.in_flight {
                return;
            }
            reads.in_flight = true;
            reads.started += 1;
            reads.started
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let version = read(&inner.pool).await.ok();
            // Not in flight before the result is out: a waiter woken by it that needs
            // a later read must be able to start it.
            inner
                .reads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .in_flight = false;
            inner.done.send_if_modified(|last| {
                if seq > last.seq {
                    *last = Reading { seq, version };
                    true
                } else {
                    false
                }
            });
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reads> {
        self.inner.reads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn read(pool: &PgPool) -> Result<i64> {
    let (version,): (i64,) = sqlx::query_as(VERSION_SQL)
        .fetch_one(pool)
        .await
        .db("reading the data version")?;
    Ok(version)
}
