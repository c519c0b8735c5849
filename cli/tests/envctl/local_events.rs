//! `envctl up local --webhook-url`: the runtime's processes post every batch outcome to
//! the receiver, signed with the key envctl made and keeps in `.envctl/local`, which the
//! receiver verifies as docs/batches.md says (openssl, not the runtime's own HMAC code).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Router;

use crate::support::local::{Http, Project};

/// One post the receiver took: its signature and event id headers and its raw body.
#[derive(Debug, Clone)]
struct Post {
    signature: String,
    event_id: String,
    body: Vec<u8>,
}

/// An HTTP receiver on 127.0.0.1 that answers 204 to every post and keeps it.
struct Receiver {
    url: String,
    posts: Arc<Mutex<Vec<Post>>>,
    /// Dropped with the receiver: the server stops.
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/rates", listener.local_addr().unwrap());
        let posts = Arc::new(Mutex::new(Vec::new()));
        let app =
            Router::new()
                .fallback(
                    |State(posts): State<Arc<Mutex<Vec<Post>>>>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let header = |name: &str| {
                            headers
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        posts.lock().unwrap().push(Post {
                            signature: header("rates-signature"),
                            event_id: header("rates-event-id"),
                            body: body.to_vec(),
                        });
                        axum::http::StatusCode::NO_CONTENT
                    },
                )
                .with_state(posts.clone());
        let (shutdown, _thread) = crate::support::serve_in_background(listener, app);
        Receiver {
            url,
            posts,
            _shutdown: shutdown,
        }
    }

    /// The first post whose event is about `batch_id`, waiting up to 60 s.
    fn event_for(&self, batch_id: &str) -> (Post, serde_json::Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self.posts.lock().unwrap().iter().find_map(|p| {
                let event: serde_json::Value = serde_json::from_slice(&p.body).ok()?;
                (event["batch_id"] == batch_id).then(|| (p.clone(), event))
            });
            if let Some(found) = found {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no event for batch {batch_id} reached the receiver; it got {:?}",
                self.posts.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// HMAC-SHA256 of `<t>.<body>` keyed with `secret`, by openssl as docs/batches.md shows.
fn openssl_hmac(secret: &str, t: &str, body: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(t.as_bytes()).unwrap();
    stdin.write_all(b".").unwrap();
    stdin.write_all(body).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit("= ").next().unwrap().to_string()
}

/// Whether `post` carries a valid signature for `secret`.
fn signed_with(post: &Post, secret: &str) -> bool {
    let parts: std::collections::HashMap<&str, &str> = post
        .signature
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
        return false;
    };
    openssl_hmac(secret, t, &post.body) == *v1
}

#[test]
fn up_local_with_a_webhook_posts_signed_outcomes_of_the_demo_and_of_rejected_batches() {
    let receiver = Receiver::start();
    let project = Project::new();
    let http = Http::new(&project);

    let up = project.up(&["--webhook-url", &receiver.url]).succeeds();
    let secret_file = project.local_dir().join("webhook-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let secret = secret.trim();
    assert_eq!(secret.len(), 64, "32 random bytes as hex");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        up.stdout.contains(&format!(
            "posted to {}, signed with the key in {}",
            receiver.url,
            secret_file.display()
        )),
        "the summary says where events go and where the key is: {}",
        up.stdout
    );
    assert!(
        !up.stdout.contains(secret) && !up.stderr.contains(secret),
        "the key itself is never printed"
    );

    // The demo batch's commit reached the receiver, signed with the kept key.
    let demo_id = project.state()["demo_batch"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (post, event) = receiver.event_for(&demo_id);
    assert_eq!(event["status"], "committed", "{event}");
    assert_eq!(event["event_id"], post.event_id.as_str());
    assert!(signed_with(&post, secret), "{post:?}");
    assert!(
        !signed_with(&post, "another-key-0123456789abcdef"),
        "a receiver with another key can tell"
    );

    // A rejected batch's event names its first error by line.
    let api = project.api_url();
    let csv = std::fs::read_to_string(project.local_dir().join("demo-prices.csv")).unwrap();
    let lane: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let (orig, dest) = (lane[0], lane[1]);
    let bad = format!(
        "orig_code,dest_code,day,price\n{orig},{dest},2031-03-01,100\n{orig},{dest},not-a-day,5\n"
    );
    let (code, accepted) = http.post_csv(&format!("{api}/batches"), "events-bad-1", &bad);
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let (post, event) = receiver.event_for(&id);
    assert_eq!(event["status"], "rejected", "{event}");
    assert_eq!(event["error_count"], 1, "{event}");
    assert_eq!(event["errors"][0]["line"], 3, "{event}");
    assert_eq!(event["errors"][0]["column"], "day", "{event}");
    assert!(signed_with(&post, secret));

    // A second `up` keeps the key (a receiver already holds it) and the processes.
    let pids = project.pids();
    project.up(&["--webhook-url", &receiver.url]).succeeds();
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap().trim(),
        secret
    );
    assert_eq!(project.pids(), pids, "nothing changed, nothing restarted");

    project.envctl(&["down", "local"]).succeeds();
}
