//! Who may call what: every write refuses a missing, malformed, wrong, expired or
//! revoked token (401) and a token without its scope (403) and changes nothing; reads
//! need `rates:read` unless the environment makes them public; a revocation stops a
//! token on another replica; clients past their rate limit get 429; no token ever
//! appears in a log line or an answer.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rates::auth::store;
use rates::auth::token::NewToken;
use rates_contract::scopes::Scope;
use serde_json::Value;

use crate::support::batch::{csv_batch, fresh_batch_database, spawn, spawn_on};
use crate::support::{client_with, create_token, TestApp};

const PRICE: &str = r#"{"date_from": "2016-01-01", "date_to": "2016-01-03", "origin_code": "CNSHA", "destination_code": "NLRTM", "price": 7}"#;

/// One write with `authorization` as the header (None: no header).
async fn write(app: &TestApp, what: &str, authorization: Option<&str>) -> (u16, Value, String) {
    let client = reqwest::Client::new();
    let request = match what {
        "POST /batches" => client
            .post(app.url("/batches"))
            .header("content-type", "text/csv")
            .body(csv_batch(0, 5)),
        "POST /prices" => client
            .post(app.url("/prices"))
            .header("content-type", "application/json")
            .body(PRICE),
        _ => unreachable!(),
    };
    let request = match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = response.json().await.expect("a JSON body");
    (status, body, www)
}

async fn batches_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM batches")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_write_refuses_a_bad_token_and_changes_nothing() {
    let app = spawn(&[], true).await;
    let expired = NewToken::generate();
    store::create(&app.pool, "expired", &expired, &Scope::ALL, None)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'expired'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let revoked = create_token(&app.pool, "revoked", &Scope::ALL).await;
    store::revoke(&app.pool, "revoked").await.unwrap();
    let reader = create_token(&app.pool, "reader", &[Scope::RatesRead, Scope::BatchesRead]).await;
    // Right id, wrong secret.
    let wrong = format!("{}{}", &app.token[..app.token.len() - 64], "5a".repeat(32));
    let unknown = NewToken::generate().text;

    let before = (app.prices_fingerprint().await, batches_count(&app).await);
    for what in ["POST /batches", "POST /prices"] {
        let cases: [(&str, Option<String>, u16, &str); 8] = [
            ("no header", None, 401, "needs a bearer token"),
            (
                "another scheme",
                Some(format!("Basic {}", app.token)),
                401,
                "not `Bearer",
            ),
            (
                "malformed",
                Some("Bearer rates_123".into()),
                401,
                "not `Bearer",
            ),
            (
                "wrong secret",
                Some(format!("Bearer {wrong}")),
                401,
                "not valid",
            ),
            (
                "unknown",
                Some(format!("Bearer {unknown}")),
                401,
                "not valid",
            ),
            (
                "expired",
                Some(format!("Bearer {}", expired.text)),
                401,
                "expired",
            ),
            ("revoked", Some(format!("Bearer {revoked}")), 401, "revoked"),
            (
                "without the scope",
                Some(format!("Bearer {reader}")),
                403,
                "lacks the scope",
            ),
        ];
        for (case, authorization, status, says) in cases {
            let (got, body, www) = write(&app, what, authorization.as_deref()).await;
            assert_eq!(got, status, "{what}, {case}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{what}, {case}: {message}");
            let code = if status == 401 {
                "unauthorized"
            } else {
                "forbidden"
            };
            assert_eq!(body["error"]["code"], code, "{what}, {case}");
            assert!(
                www.starts_with("Bearer realm=\"rates\""),
                "{what}, {case}: {www}"
            );
            if status == 403 {
                let scope = if what == "POST /batches" {
                    "batches:write"
                } else {
                    "prices:write"
                };
                assert!(
                    message.contains(scope) && www.contains(scope),
                    "{message} / {www}"
                );
            }
            // Nothing of any token comes back.
            let text = body.to_string();
            for token in [
                &app.token,
                &wrong,
                &unknown,
                &expired.text,
                &revoked,
                &reader,
            ] {
                assert!(!text.contains(&token[39..]), "{what}, {case}: {text}");
            }
        }
    }
    assert_eq!(
        (app.prices_fingerprint().await, batches_count(&app).await),
        before,
        "a refused write changed something"
    );
    // And the right token works (so the refusals above were about the token).
    let (status, body, _) =
        write(&app, "POST /prices", Some(&format!("Bearer {}", app.token))).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn reads_need_a_token_unless_the_environment_makes_them_public() {
    let rates = "/rates?date_from=2016-01-01&date_to=2016-01-02&origin=china&destination=europe";
    let anonymous = reqwest::Client::new();
    let private = spawn(&[], false).await;
    let public = spawn(&[("RATES_PUBLIC_READS", "true")], false).await;
    for (app, rates_status) in [(&private, 401), (&public, 200)] {
        let status = |path: &str| {
            let request = anonymous.get(app.url(path));
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(status(rates).await, rates_status);
        assert_eq!(
            status(&rates.replace("/rates", "/rates_null")).await,
            rates_status
        );
        // Batches are never public; probes and the document always are.
        assert_eq!(status("/batches").await, 401);
        for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            assert_eq!(status(open).await, 200, "{open}");
        }
        // With a token that has rates:read only.
        let reader = client_with(&create_token(&app.pool, "reader", &[Scope::RatesRead]).await);
        let rates_read = reader.get(app.url(rates)).send().await.unwrap();
        assert_eq!(rates_read.status(), 200);
        let batches = reader.get(app.url("/batches")).send().await.unwrap();
        assert_eq!(batches.status(), 403);
    }
}

#[tokio::test]
async fn a_revoked_token_stops_on_another_replica() {
    let db_url = fresh_batch_database().await;
    let a = spawn_on(&db_url, &[], false).await;
    let b = spawn_on(&db_url, &[], false).await;
    let token = create_token(&a.pool, "producer", &Scope::ALL).await;
    let client = client_with(&token);
    let read = |app: &TestApp| client.get(app.url("/batches")).send();
    let upload = |app: &TestApp| {
        client
            .post(app.url("/batches"))
            .header("content-type", "text/csv")
            .body(csv_batch(0, 3))
            .send()
    };
    // Both replicas know (and cache) the token.
    for app in [&a, &b] {
        assert_eq!(read(app).await.unwrap().status(), 200);
        assert_eq!(upload(app).await.unwrap().status(), 202);
    }
    store::revoke(&a.pool, "producer").await.unwrap();
    // Writes: at once, on the replica that did not revoke it.
    assert_eq!(upload(&b).await.unwrap().status(), 401);
    // Reads: as soon as the notification arrives.
    let revoked_at = Instant::now();
    loop {
        match read(&b).await.unwrap().status().as_u16() {
            401 => break,
            200 => assert!(
                revoked_at.elapsed() < Duration::from_secs(5),
                "replica b still serves reads with the revoked token"
            ),
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "reads refused {:?} after the revocation",
        revoked_at.elapsed()
    );

    // Writes never trust the cache: with the notifications switched off, a revoked
    // token still cannot write on a replica that has it cached, while reads there
    // are answered from the cache (which is what the notifications are for).
    let second = client_with(&create_token(&a.pool, "second", &Scope::ALL).await);
    assert_eq!(
        second.get(b.url("/batches")).send().await.unwrap().status(),
        200
    );
    sqlx::raw_sql("ALTER TABLE api_tokens DISABLE TRIGGER api_tokens_changed")
        .execute(&a.pool)
        .await
        .unwrap();
    store::revoke(&a.pool, "second").await.unwrap();
    assert_eq!(
        second.get(b.url("/batches")).send().await.unwrap().status(),
        200
    );
    let write = second
        .post(b.url("/batches"))
        .header("content-type", "text/csv")
        .body(csv_batch(0, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401);
    // What the write read from the database replaced the cached entry.
    assert_eq!(
        second.get(b.url("/batches")).send().await.unwrap().status(),
        401
    );
    sqlx::raw_sql("ALTER TABLE api_tokens ENABLE TRIGGER api_tokens_changed")
        .execute(&a.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn each_batch_names_the_client_that_uploaded_it() {
    let app = spawn(&[], true).await;
    let producer =
        client_with(&create_token(&app.pool, "acme-producer", &[Scope::BatchesWrite]).await);
    let response = producer
        .post(app.url("/batches"))
        .header("content-type", "text/csv")
        .body(csv_batch(0, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let batch = app
        .wait_final(accepted["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(batch["client"]["name"], "acme-producer", "{batch}");
    let (_, list) = app.get_json("/batches").await;
    assert_eq!(list["batches"][0]["client"]["name"], "acme-producer");
}

#[tokio::test]
async fn a_client_past_its_rate_limit_gets_429_with_retry_after() {
    let app = spawn(
        &[
            ("RATES_RATE_LIMIT_PER_SECOND", "1"),
            ("RATES_RATE_LIMIT_BURST", "3"),
        ],
        false,
    )
    .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..10 {
        let response = app.client.get(app.url("/batches")).send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 && limited.is_none() {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: Value = response.json().await.unwrap();
            limited = Some((retry_after, body));
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let (retry_after, body) = limited.unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    // (Ten requests in far less than the second one more request's worth takes to come
    // back.) Another client has its own quota.
    let other = client_with(&create_token(&app.pool, "other", &Scope::ALL).await);
    assert_eq!(
        other
            .get(app.url("/batches"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// `rates token create|list|revoke` through the binary: the token is printed once and
/// works, the list holds no secret, a revoked token stops, and with RATES_LOG=debug no
/// line the process writes contains a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_commands_and_logs_never_show_a_secret() {
    let db_url = fresh_batch_database().await;
    let rates = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rates"))
            .args(args)
            .env("DATABASE_URL", &db_url)
            .env("RATES_LOG", "debug")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, token, log) = rates(&[
        "token",
        "create",
        "--name",
        "ops",
        "--scope",
        "all",
        "--expires",
        "30d",
    ]);
    assert!(ok, "{log}");
    let token = token.trim().to_string();
    assert!(token.starts_with("rates_") && token.len() == 103, "{token}");
    assert!(
        !log.contains(&token[39..]),
        "the log shows the secret: {log}"
    );
    let (ok, _, log) = rates(&["token", "create", "--name", "ops", "--scope", "rates:read"]);
    assert!(!ok && log.contains("exists already"), "{log}");
    let (ok, _, log) = rates(&[
        "token",
        "create",
        "--name",
        "ops",
        "--scope",
        "rates:read",
        "--if-absent",
    ]);
    assert!(ok, "{log}");
    let (ok, _, log) = rates(&["token", "create", "--name", "x", "--scope", "prices:read"]);
    assert!(!ok && log.contains("`prices:read` is not a scope"), "{log}");
    let (ok, list, _) = rates(&["token", "list", "--json"]);
    assert!(ok);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "ops");
    assert_eq!(list[0]["scopes"].as_array().unwrap().len(), 4);
    assert!(!list.to_string().contains(&token[39..]));

    // The server, logging everything, sees the token in good and bad requests.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rates"))
        .args(["serve"])
        .env("DATABASE_URL", &db_url)
        .env("RATES_BIND", "127.0.0.1:0")
        .env("RATES_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("listening");
        seen.push(line.clone());
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["message"] == "listening" {
            break v["addr"].as_str().unwrap().to_string();
        }
    };
    let client = client_with(&token);
    let ok = client
        .get(format!("http://{addr}/batches"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = format!("{}{}", &token[..39], "7c".repeat(32));
    let refused = client_with(&wrong)
        .get(format!("http://{addr}/batches"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let (ok, _, log) = rates(&["token", "revoke", "ops"]);
    assert!(ok, "{log}");
    let mut status = 200;
    for _ in 0..200 {
        status = client
            .get(format!("http://{addr}/batches"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, 401, "the revoked token still works");
    child.kill().unwrap();
    let stderr = {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut s).unwrap();
        s
    };
    let _ = child.wait();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
        seen.push(line);
    }
    let everything = format!("{}\n{stderr}", seen.join("\n"));
    assert!(
        everything.contains("\"status\":401"),
        "the requests were logged: {everything}"
    );
    for secret in [&token[39..], &wrong[39..]] {
        assert!(!everything.contains(secret), "a secret in the log");
    }
}
