//! TEST STAND-IN for the GitHub REST API (the tests never reach the internet), built from
//! GitHub's published OpenAPI description (github_api/openapi.rs). Every request is
//! matched to a real operation by path and method and checked against its definition:
//! path and query parameters (names and types), the request body (required fields and
//! types, as JSON), plus what GitHub itself insists on (a token, a User-Agent). A request
//! that fails is answered as GitHub would (401, 403, 404, 422 with GitHub's error shape)
//! and recorded as a violation, which the tests assert there are none of.
//!
//! The operations review stacks use have state: pull requests (open or closed) and their
//! comments, paginated like GitHub (`per_page` up to 100, a `Link` header with `next` and
//! `last`). Answers start from the description's own examples, with this repository's
//! values filled in, and are validated against the operation's response schema before
//! they are sent, so envctl reads what GitHub would send.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

mod openapi;

/// The token the stand-in accepts (envctl gets it as GITHUB_TOKEN).
pub(crate) const TOKEN: &str = "ghs_standintoken0000000000000000000000";

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub operation: String,
    pub status: u16,
}

#[derive(Default)]
struct Store {
    owner: String,
    repo: String,
    /// PR number -> open.
    pulls: BTreeMap<u64, bool>,
    /// Issue number -> comments (GitHub's issue-comment objects), oldest first.
    comments: BTreeMap<u64, Vec<Value>>,
    next_comment_id: u64,
    seen: Vec<Seen>,
    violations: Vec<String>,
    base: String,
}

pub(crate) struct GitHubApi {
    store: Arc<Mutex<Store>>,
    port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHubApi {
    /// Serves repository `owner/repo` on 127.0.0.1 (a free port).
    pub(crate) fn start(owner: &str, repo: &str) -> GitHubApi {
        openapi::get();
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the GitHub stand-in");
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(Mutex::new(Store {
            owner: owner.into(),
            repo: repo.into(),
            next_comment_id: 1_000_000,
            base: format!("http://127.0.0.1:{port}"),
            ..Store::default()
        }));
        let app = Router::new().fallback(handle).with_state(store.clone());
        let (tx, thread) = super::serve_in_background(listener, app);
        GitHubApi {
            store,
            port,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables envctl reads (GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let s = self.store.lock().unwrap();
        vec![
            ("GITHUB_TOKEN", TOKEN.to_string()),
            ("GITHUB_API_URL", self.url()),
            ("GITHUB_REPOSITORY", format!("{}/{}", s.owner, s.repo)),
        ]
    }

    /// Creates (or changes) pull request `number`.
    pub(crate) fn set_pull(&self, number: u64, open: bool) {
        self.store.lock().unwrap().pulls.insert(number, open);
    }

    /// Adds `count` comments by someone else on PR `number` (to make listings page).
    pub(crate) fn seed_comments(&self, number: u64, count: usize, body: &str) {
        let mut s = self.store.lock().unwrap();
        for _ in 0..count {
            let c = s.comment(number, body, "octocat");
            s.comments.entry(number).or_default().push(c);
        }
    }

    /// The bodies of PR `number`'s comments, oldest first.
    pub(crate) fn comment_bodies(&self, number: u64) -> Vec<String> {
        self.store
            .lock()
            .unwrap()
            .comments
            .get(&number)
            .map_or_else(Vec::new, |c| {
                c.iter()
                    .map(|c| c["body"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.store.lock().unwrap().seen.clone()
    }

    /// Requests that broke the operation's definition (should be none).
    pub(crate) fn violations(&self) -> Vec<String> {
        self.store.lock().unwrap().violations.clone()
    }

    /// Asserts every request envctl made matched its operation's definition.
    pub(crate) fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "requests that GitHub would refuse:\n{}",
            v.join("\n")
        );
    }
}

impl Drop for GitHubApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Store {
    fn comment(&mut self, issue: u64, body: &str, login: &str) -> Value {
        self.next_comment_id += 1;
        let id = self.next_comment_id;
        let (owner, repo) = (&self.owner, &self.repo);
        let mut c = openapi::get().example("issue-comment");
        c["id"] = json!(id);
        c["body"] = json!(body);
        c["url"] = json!(format!(
            "https://api.github.com/repos/{owner}/{repo}/issues/comments/{id}"
        ));
        c["html_url"] = json!(format!(
            "https://github.com/{owner}/{repo}/pull/{issue}#issuecomment-{id}"
        ));
        c["issue_url"] = json!(format!(
            "https://api.github.com/repos/{owner}/{repo}/issues/{issue}"
        ));
        c["user"]["login"] = json!(login);
        c
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = openapi::get();
    let path = uri.path().to_string();
    let query: Vec<(String, String)> = uri.query().map(url_pairs).unwrap_or_default();
    let mut s = store.lock().unwrap();
    let record = |s: &mut Store, op: &str, status: StatusCode, violation: Option<String>| {
        if let Some(v) = violation {
            s.violations.push(format!("{method} {uri}: {v}"));
        }
        s.seen.push(Seen {
            method: method.to_string(),
            path: path.clone(),
            operation: op.to_string(),
            status: status.as_u16(),
        });
    };
    let op = match spec.operation(method.as_str(), &path) {
        Ok(op) => op,
        Err(e) => {
            record(&mut s, "", StatusCode::NOT_FOUND, Some(e));
            return error(StatusCode::NOT_FOUND, "Not Found");
        }
    };
    // GitHub refuses requests without a User-Agent, and these operations need a token.
    if headers.get("user-agent").is_none() {
        record(
            &mut s,
            &op.id,
            StatusCode::FORBIDDEN,
            Some("no User-Agent header".into()),
        );
        return error(StatusCode::FORBIDDEN, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header");
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") && auth != format!("token {TOKEN}") {
        record(
            &mut s,
            &op.id,
            StatusCode::UNAUTHORIZED,
            Some(format!("Authorization `{auth}` is not the token")),
        );
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let problems = spec.check_request(&op, &query, content_type, &body);
    if !problems.is_empty() {
        record(
            &mut s,
            &op.id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(problems.join("; ")),
        );
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Validation Failed: {}", problems.join("; ")),
        );
    }
    let repo_ok = op
        .path_params
        .get("owner")
        .is_some_and(|o| o.eq_ignore_ascii_case(&s.owner))
        && op
            .path_params
            .get("repo")
            .is_some_and(|r| r.eq_ignore_ascii_case(&s.repo));
    let number = |name: &str| op.path_params.get(name).and_then(|n| n.parse::<u64>().ok());
    let (status, value, link) = match op.id.as_str() {
        "pulls/get" => match number("pull_number")
            .filter(|_| repo_ok)
            .and_then(|n| s.pulls.get(&n).map(|o| (n, *o)))
        {
            None => (StatusCode::NOT_FOUND, None, None),
            Some((n, open)) => {
                let (owner, repo) = (s.owner.clone(), s.repo.clone());
                let mut pr = spec.example("pull-request");
                pr["number"] = json!(n);
                // The published example predates the schema's required team `type`.
                pr["requested_teams"] = json!([]);
                pr["state"] = json!(if open { "open" } else { "closed" });
                pr["html_url"] = json!(format!("https://github.com/{owner}/{repo}/pull/{n}"));
                pr["url"] = json!(format!(
                    "https://api.github.com/repos/{owner}/{repo}/pulls/{n}"
                ));
                if !open {
                    pr["closed_at"] = json!("2030-01-01T00:00:00Z");
                }
                (StatusCode::OK, Some(pr), None)
            }
        },
        "issues/list-comments" => match number("issue_number")
            .filter(|n| repo_ok && s.pulls.contains_key(n))
        {
            None => (StatusCode::NOT_FOUND, None, None),
            Some(n) => {
                let get = |k: &str, d: usize| {
                    query
                        .iter()
                        .find(|(q, _)| q == k)
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(d)
                };
                let per_page = get("per_page", 30).clamp(1, 100);
                let page = get("page", 1).max(1);
                let all = s.comments.get(&n).cloned().unwrap_or_default();
                let last = all.len().div_ceil(per_page).max(1);
                let items: Vec<Value> = all
                    .into_iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .collect();
                let at = |p: usize| format!("<{}{}?per_page={per_page}&page={p}>", s.base, path);
                let mut links = Vec::new();
                if page < last {
                    links.push(format!("{}; rel=\"next\"", at(page + 1)));
                    links.push(format!("{}; rel=\"last\"", at(last)));
                }
                if page > 1 {
                    links.push(format!("{}; rel=\"prev\"", at(page - 1)));
                    links.push(format!("{}; rel=\"first\"", at(1)));
                }
                (
                    StatusCode::OK,
                    Some(Value::Array(items)),
                    (!links.is_empty()).then(|| links.join(", ")),
                )
            }
        },
        "issues/create-comment" => {
            match number("issue_number").filter(|n| repo_ok && s.pulls.contains_key(n)) {
                None => (StatusCode::NOT_FOUND, None, None),
                Some(n) => {
                    let text = serde_json::from_slice::<Value>(&body).unwrap()["body"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    // GitHub's limit for a comment body.
                    if text.chars().count() > 65_536 {
                        record(
                            &mut s,
                            &op.id,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            Some("body is too long (maximum is 65536 characters)".into()),
                        );
                        return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
                    }
                    let c = s.comment(n, &text, "github-actions[bot]");
                    s.comments.entry(n).or_default().push(c.clone());
                    (StatusCode::CREATED, Some(c), None)
                }
            }
        }
        other => {
            record(
                &mut s,
                other,
                StatusCode::NOT_IMPLEMENTED,
                Some(format!("the stand-in does not implement {other}")),
            );
            return error(
                StatusCode::NOT_IMPLEMENTED,
                "not implemented by the stand-in",
            );
        }
    };
    let Some(value) = value else {
        record(&mut s, &op.id, status, None);
        return error(status, "Not Found");
    };
    // Answer only what GitHub's schema allows for this operation and status.
    let problems = spec.validate(spec.response_schema(&op, status.as_u16()), &value);
    if !problems.is_empty() {
        let v = format!(
            "the stand-in's own {} answer breaks GitHub's schema: {}",
            op.id,
            problems.join("; ")
        );
        record(
            &mut s,
            &op.id,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(v.clone()),
        );
        return error(StatusCode::INTERNAL_SERVER_ERROR, &v);
    }
    record(&mut s, &op.id, status, None);
    let mut response = (status, axum::Json(value)).into_response();
    if let Some(link) = link {
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

/// `a=1&b=x%20y` -> pairs (percent-decoded).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}
