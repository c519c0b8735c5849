//! For the review_* tests (and terraform_core), on top of the AWS world (`super`: a project
//! copy, the moto server with the real SDK, real Terraform core or the terraform stand-in,
//! and the in-test Kubernetes API stand-in): the real envctl binary for review commands, markers seeded
//! through envctl's own store, and a small HTTP proxy that makes chosen AWS calls fail
//! (to prove `review gc` fails safe); review commands can talk to the GitHub API stand-in
//! (`envctl_github`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_cloudformation::types::Tag;
use chrono::{DateTime, Utc};
use envctl::review::{MarkerStore, PrNumber, ReviewName, ReviewRecord, Status};

use super::github_api::GitHubApi;
use super::{Envctl, World};

/// The review tests' world.
pub(crate) struct Stand {
    pub w: World,
}

impl Stand {
    /// With real Terraform core (the default world).
    pub(crate) fn new() -> Stand {
        Stand { w: World::new() }
    }

    /// With the terraform stand-in (callers say why: support/mod.rs).
    pub(crate) fn with_standin() -> Stand {
        Stand {
            w: World::with_standin(),
        }
    }

    /// The real envctl binary against moto, the stand-ins and the project copy.
    pub(crate) fn envctl(&self) -> Envctl {
        let mut cmd = self.w.envctl();
        cmd.env("GITHUB_ACTOR", "octo-reviewer")
            // Real core plans and applies a whole root: minutes on a busy machine.
            .timeout(std::time::Duration::from_secs(600));
        cmd
    }

    /// The same, sending its AWS calls to `endpoint` (e.g. a [`FailingProxy`]).
    pub(crate) fn envctl_via(&self, endpoint: &str) -> Envctl {
        let mut cmd = self.envctl();
        cmd.env("AWS_ENDPOINT_URL", endpoint);
        cmd
    }

    /// The same, with the GitHub API stand-in `github` as its GitHub (token, URL, repository).
    pub(crate) fn envctl_github(&self, github: &GitHubApi) -> Envctl {
        let mut cmd = self.envctl();
        for (k, v) in github.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// The recorded terraform invocations, one per line.
    pub(crate) fn terraform_calls(&self) -> String {
        self.w.terraform_calls().join("\n")
    }

    /// `envctl --output json review list`, parsed (asserting it succeeds).
    pub(crate) fn list(&self) -> serde_json::Value {
        self.envctl()
            .args(["--output", "json", "review", "list"])
            .succeeds()
            .result()
    }

    /// The PR numbers of the listed review stacks, sorted.
    pub(crate) fn listed_prs(&self) -> Vec<u64> {
        self.list()["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["pr"].as_u64().unwrap())
            .collect()
    }

    fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.w.sdk())
    }

    /// Writes a marker through envctl's own store, as `review up` would, without deploying.
    pub(crate) fn seed(
        &self,
        pr: u64,
        environment: &str,
        created: &str,
        expires: &str,
        status: Status,
    ) {
        let number = PrNumber::new(pr).unwrap();
        let record = ReviewRecord {
            pr: number,
            environment: ReviewName::parse(environment, number).unwrap(),
            branch: Some(format!("branch-{pr}")),
            owner: "seeded".into(),
            created_at: time(created),
            expires_at: time(expires),
            status,
            last_error: None,
        };
        let store = MarkerStore::new(self.cloudformation());
        self.w.rt.block_on(store.put(&record)).unwrap();
    }

    /// Creates a stack that looks like a marker but carries `tags` as given.
    pub(crate) fn raw_stack(&self, name: &str, tags: &[(&str, &str)]) {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect();
        self.w
            .rt
            .block_on(
                self.cloudformation()
                    .create_stack()
                    .stack_name(name)
                    .template_body(
                        r#"{"Resources":{"M":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#,
                    )
                    .set_tags(Some(tags))
                    .send(),
            )
            .unwrap();
    }

    /// Every live stack's name and tags, straight from moto (not through envctl).
    pub(crate) fn stacks(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let client = self.cloudformation();
        let mut stacks = BTreeMap::new();
        let mut token = None;
        loop {
            let out = self
                .w
                .rt
                .block_on(client.describe_stacks().set_next_token(token).send())
                .unwrap();
            for s in out.stacks() {
                if s.stack_status().map(|s| s.as_str()) == Some("DELETE_COMPLETE") {
                    continue;
                }
                let tags = s
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                    .collect();
                stacks.insert(s.stack_name().unwrap().to_string(), tags);
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return stacks;
            }
        }
    }

    /// The marker's tags of PR `pr`, if it has one.
    pub(crate) fn marker(&self, pr: u64) -> Option<BTreeMap<String, String>> {
        self.stacks().remove(&format!("envctl-review-pr{pr}"))
    }
}

pub(crate) fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// An HTTP proxy in front of moto that answers the requests `fail` picks with a 500
/// `InternalFailure` (as AWS does when it has a bad moment) and forwards the rest.
/// One request per connection, so no request ever slips past on a reused connection.
pub(crate) struct FailingProxy {
    port: u16,
    /// How many requests were failed.
    pub failed: Arc<AtomicUsize>,
}

impl FailingProxy {
    pub(crate) fn start(upstream: u16, fail: fn(&str) -> bool) -> FailingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let failed = Arc::new(AtomicUsize::new(0));
        let counter = failed.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, fail, &counter);
                });
            }
        });
        FailingProxy { port, failed }
    }

    pub(crate) fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    fail: fn(&str) -> bool,
    failed: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
            if name.eq_ignore_ascii_case("connection") {
                continue;
            }
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    if fail(&String::from_utf8_lossy(&body)) {
        failed.fetch_add(1, Ordering::SeqCst);
        let xml = "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>\
                   <Message>injected by the test proxy</Message></Error>\
                   <RequestId>test</RequestId></ErrorResponse>";
        write!(
            client,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return client.flush();
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(&head)?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    // Tell the client the connection ends here, whatever moto said.
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 2);
    let (resp_head, rest) = response.split_at(split);
    let resp_head: String = String::from_utf8_lossy(resp_head)
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    client.write_all(resp_head.as_bytes())?;
    client.write_all(b"Connection: close\r\n")?;
    client.write_all(rest)?;
    client.flush()
}
