//! The SQS backend against the moto server through aws-sdk-rust: payloads
//! staged in S3, jobs as SQS messages (visibility timeout as the lease, a
//! dead-letter queue after maxReceiveCount), and object-drop ingestion from S3
//! event notifications.

use std::time::{Duration, Instant};

use crate::support::batch::{csv_batch, fresh_batch_database, spawn_on};
use crate::support::TestApp;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

const BUCKET: &str = "rates-batches";

struct Aws {
    _moto: pgrig::moto::MotoServer,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
}

/// moto, a bucket with a drop notification, a queue with a dead-letter queue
/// (maxReceiveCount 3). Points this test process's AWS settings at moto.
async fn aws() -> Aws {
    let moto =
        tokio::task::spawn_blocking(|| pgrig::moto::MotoServer::start().expect("moto_server"))
            .await
            .unwrap();
    for (k, v) in moto.env() {
        // Each test runs in its own process (nextest); the app reads these.
        std::env::set_var(k, v);
    }
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let dlq_url = sqs
        .create_queue()
        .queue_name("rates-batches-dlq")
        .send()
        .await
        .expect("dlq")
        .queue_url
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue_url = sqs
        .create_queue()
        .queue_name("rates-batches")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}"#),
        )
        .send()
        .await
        .expect("queue")
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    s3.put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::S3ObjectCreated)
                        .filter(
                            NotificationConfigurationFilter::builder()
                                .key(
                                    S3KeyFilter::builder()
                                        .filter_rules(
                                            FilterRule::builder()
                                                .name(FilterRuleName::Prefix)
                                                .value("drop/")
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("notification");
    // Configuring notifications sends an s3:TestEvent; start from an empty queue.
    sqs.purge_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("purge");
    Aws {
        _moto: moto,
        s3,
        sqs,
        queue_url,
        dlq_url,
    }
}

async fn app(aws: &Aws, worker: bool) -> TestApp {
    let db = fresh_batch_database().await;
    app_on(aws, &db, worker).await
}

async fn app_on(aws: &Aws, db: &str, worker: bool) -> TestApp {
    spawn_on(
        db,
        &[
            ("RATES_QUEUE_BACKEND", "sqs"),
            ("RATES_SQS_QUEUE_URL", &aws.queue_url),
            ("RATES_S3_BUCKET", BUCKET),
            ("RATES_S3_DROP_PREFIX", "drop/"),
            ("RATES_BATCH_LEASE_SECS", "10"),
            ("RATES_BATCH_MAX_ATTEMPTS", "3"),
            ("RATES_BATCH_RETRY_BASE_SECS", "0"),
        ],
        worker,
    )
    .await
}

async fn object_exists(aws: &Aws, key: &str) -> bool {
    aws.s3
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn queue_count(aws: &Aws, url: &str) -> i64 {
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attrs[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse::<i64>()
        .unwrap()
        + attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
            .parse::<i64>()
            .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_staged_in_s3_queued_on_sqs_and_committed() {
    let aws = aws().await;
    let app = app(&aws, false).await;
    // > 8 MiB: a multipart upload of several parts.
    let big = csv_batch(0, 330_000);
    assert!(big.len() > 8 * 1024 * 1024 + 512 * 1024);
    let (status, accepted) = app.csv(&big).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let (status, small) = app.csv(&csv_batch(10_000_000, 10)).await;
    assert_eq!(status, 202, "{small}");
    let small_id = small["id"].as_str().unwrap().to_string();
    // Durable before acknowledged: the payload is in S3, the job on SQS.
    let head = aws
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(format!("batches/{id}"))
        .send()
        .await
        .expect("staged object");
    assert_eq!(head.content_length(), Some(big.len() as i64));
    assert_eq!(queue_count(&aws, &aws.queue_url).await, 2);
    let location: String =
        sqlx::query_scalar("SELECT payload_location FROM batches WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(location, format!("s3://{BUCKET}/batches/{id}"));
    // Idempotency works the same with S3 staging.
    let worker = tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        app.state.shutdown.clone(),
        Duration::from_secs(10),
    ));
    let done = app.wait_final(&id, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["row_count"], 330_000);
    let done = app.wait_final(&small_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(app.prices_count().await, 330_010);
    // Acknowledged and cleaned up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while object_exists(&aws, &format!("batches/{id}")).await
        || queue_count(&aws, &aws.queue_url).await > 0
    {
        assert!(
            Instant::now() < deadline,
            "staged object or message left behind"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.state.shutdown.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_objects_become_batches_keyed_by_key_and_etag() {
    let aws = aws().await;
    let app = app(&aws, true).await;
    let put = |key: &'static str, body: String| {
        let s3 = aws.s3.clone();
        async move {
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .expect("put")
                .e_tag
                .unwrap()
        }
    };
    let etag = put("drop/2016 jan.csv", csv_batch(0, 100)).await;
    let wait_for = |count: i64| {
        let pool = app.pool.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let final_drops: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM batches WHERE source = 'object_drop' AND status IN ('committed', 'rejected')",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                if final_drops >= count {
                    return final_drops;
                }
                assert!(Instant::now() < deadline, "dropped objects not ingested");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(1).await;
    let (key, status, rows): (String, String, i64) = sqlx::query_as(
        "SELECT idempotency_key, status, row_count FROM batches WHERE source = 'object_drop'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        key,
        format!("s3://{BUCKET}/drop/2016 jan.csv#{}", etag.trim_matches('"'))
    );
    assert_eq!((status.as_str(), rows), ("committed", 100));
    assert_eq!(app.prices_count().await, 100);
    // Outside the prefix: ignored. The same content again: the same key, no new batch.
    put("elsewhere/x.csv", csv_batch(5_000, 10)).await;
    put("drop/2016 jan.csv", csv_batch(0, 100)).await;
    // New content under the same name: a new batch (new ETag); NDJSON by extension.
    put(
        "drop/feb.ndjson",
        "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-02-01\",\"price\":77}\n"
            .into(),
    )
    .await;
    wait_for(2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let drops: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batches WHERE source = 'object_drop'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(drops, 2);
    assert_eq!(app.prices_count().await, 101);
    // A dropped object is the customer's: never deleted.
    assert!(object_exists(&aws, "drop/2016 jan.csv").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_keeps_failing_is_parked_and_its_message_dead_lettered() {
    let aws = aws().await;
    let app = app(&aws, false).await;
    let (status, accepted) = app.csv(&csv_batch(0, 50)).await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap().to_string();
    // The staged payload disappears: every attempt fails (infrastructure).
    aws.s3
        .delete_object()
        .bucket(BUCKET)
        .key(format!("batches/{id}"))
        .send()
        .await
        .unwrap();
    let worker = tokio::spawn(rates::batch::worker::run(
        app.state.batches.clone(),
        app.state.shutdown.clone(),
        Duration::from_secs(10),
    ));
    let done = app.wait_final(&id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempts"], 3);
    let failure = done["failure"].as_str().unwrap();
    assert!(failure.contains("gave up after 3 attempts"), "{failure}");
    assert!(
        failure.contains("NoSuchKey") || failure.contains("not exist"),
        "{failure}"
    );
    // The next receive moves the message to the dead-letter queue.
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue_count(&aws, &aws.dlq_url).await != 1 {
        assert!(Instant::now() < deadline, "message not dead-lettered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(queue_count(&aws, &aws.queue_url).await, 0);
    assert_eq!(app.prices_count().await, 0);
    app.state.shutdown.cancel();
    worker.await.unwrap().unwrap();
}
