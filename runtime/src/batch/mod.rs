//! Batch ingestion: streamed uploads are staged durably and queued (upload),
//! workers take them with a lease and commit each in one transaction (worker).
//! Statuses change only through typed transitions (status). Backends: PostgreSQL
//! by default, or S3 + SQS (with object-drop ingestion). No HTTP here: the
//! handlers in [`crate::http`] call into this module.

pub mod lease;
pub mod location;
pub mod observe;
pub mod payload;
pub mod pg_queue;
pub mod price_row;
pub mod queue;
pub mod record;
pub mod settings;
pub mod sqs;
pub mod staging;
pub mod status;
pub mod upload;
pub mod worker;

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::OnceCell;

pub use settings::{BatchSettings, QueueBackend};

use crate::emf::Emf;
use crate::error::Result;
use crate::metrics::Metrics;
use observe::BatchObserver;
use pg_queue::PgQueue;
use queue::Queue;
use staging::StagingStore;

/// The ingestion side's shared handles. Cheap to clone. AWS clients (SQS
/// backend) are created on first use, so constructing this never blocks.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    uploads: tokio::sync::Semaphore,
    settings: BatchSettings,
    observer: BatchObserver,
    backend: OnceCell<Backend>,
}

/// Where jobs and payloads go.
pub struct Backend {
    pub queue: Queue,
    pub staging: StagingStore,
}

impl Ingest {
    pub fn new(settings: BatchSettings, pool: PgPool, metrics: Metrics, emf: Emf) -> Ingest {
        Ingest {
            inner: Arc::new(Inner {
                uploads: tokio::sync::Semaphore::new(settings.max_concurrent_uploads as usize),
                pool,
                settings,
                observer: BatchObserver::new(metrics, emf),
                backend: OnceCell::new(),
            }),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// A turn to stage an upload (bounded by `RATES_MAX_CONCURRENT_UPLOADS`).
    pub async fn upload_permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.inner
            .uploads
            .acquire()
            .await
            .expect("the upload semaphore is never closed")
    }

    pub fn settings(&self) -> &BatchSettings {
        &self.inner.settings
    }

    pub fn observer(&self) -> &BatchObserver {
        &self.inner.observer
    }

    /// The queue and staging store, connecting to AWS on first use.
    pub async fn backend(&self) -> Result<&Backend> {
        self.inner
            .backend
            .get_or_try_init(|| async {
                match &self.inner.settings.backend {
                    QueueBackend::Postgres => Ok(Backend {
                        queue: Queue::Postgres(PgQueue::new(self.inner.pool.clone())),
                        staging: StagingStore::Postgres,
                    }),
                    QueueBackend::Sqs {
                        queue_url,
                        bucket,
                        drop_prefix,
                    } => {
                        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                            .load()
                            .await;
                        // A custom endpoint (an emulator, a VPC endpoint) needs
                        // path-style bucket addressing.
                        let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
                            .force_path_style(sdk.endpoint_url().is_some())
                            .build();
                        let s3 = aws_sdk_s3::Client::from_conf(s3_config);
                        let sqs = aws_sdk_sqs::Client::new(&sdk);
                        Ok(Backend {
                            queue: Queue::Sqs(sqs::SqsQueue::new(
                                sqs,
                                queue_url.clone(),
                                self.inner.pool.clone(),
                                drop_prefix.clone(),
                            )),
                            staging: StagingStore::S3 {
                                client: s3,
                                bucket: bucket.clone(),
                            },
                        })
                    }
                }
            })
            .await
    }
}
