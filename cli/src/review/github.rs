//! The GitHub REST API calls review stacks make: a pull request's state, its comments,
//! and a new comment. Authenticated with `GITHUB_TOKEN` (the workflow's token), against
//! `GITHUB_API_URL` (set by Actions; https://api.github.com otherwise) and the repository
//! `GITHUB_REPOSITORY` (`owner/name`) or `--repo`.

use std::time::Duration;

use serde::Deserialize;

use super::name::PrNumber;
use crate::{Error, Result};

/// The token's variable (Actions: `${{ github.token }}`); `GH_TOKEN` is read too.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";
pub const API_URL_ENV: &str = "GITHUB_API_URL";
pub const REPOSITORY_ENV: &str = "GITHUB_REPOSITORY";
const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API version envctl is written against (GitHub's `X-GitHub-Api-Version`).
const API_VERSION: &str = "2022-11-28";
/// GitHub's largest page.
const PER_PAGE: u32 = 100;
/// A comment listing longer than this many pages is treated as broken.
const MAX_PAGES: usize = 1000;

/// Where and as whom to call the API.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    token: String,
}

impl GitHubConfig {
    /// From the environment (and `--repo`); `None` when there is no token. A token
    /// without a repository is an error: the caller asked for GitHub and cannot have it.
    pub fn from_env(repo_flag: Option<&str>) -> Result<Option<GitHubConfig>> {
        let token = [TOKEN_ENV, "GH_TOKEN"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|t| !t.trim().is_empty()));
        let Some(token) = token else {
            return Ok(None);
        };
        let full = repo_flag
            .map(str::to_string)
            .or_else(|| std::env::var(REPOSITORY_ENV).ok())
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| Error::InvalidArgument {
                what: "--repo".into(),
                value: String::new(),
                message: format!(
                    "{TOKEN_ENV} is set but no repository is: pass --repo OWNER/NAME or set {REPOSITORY_ENV}"
                ),
            })?;
        let (owner, repo) = split_repo(&full)?;
        let api_url = std::env::var(API_URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.into());
        Ok(Some(GitHubConfig {
            api_url: api_url.trim_end_matches('/').to_string(),
            owner,
            repo,
            token: token.trim().to_string(),
        }))
    }

    /// `owner/name`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

fn split_repo(full: &str) -> Result<(String, String)> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    match full.trim().split_once('/') {
        Some((owner, repo)) if ok(owner) && ok(repo) => Ok((owner.into(), repo.into())),
        _ => Err(Error::InvalidArgument {
            what: "repository".into(),
            value: full.into(),
            message: "must be OWNER/NAME, e.g. example-org/rates".into(),
        }),
    }
}

/// A pull request's state as GitHub reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullState {
    pub open: bool,
    pub html_url: String,
}

/// One issue comment (what envctl reads of it).
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
}

/// A connected GitHub REST API client.
pub struct GitHub {
    config: GitHubConfig,
    http: reqwest::Client,
}

impl GitHub {
    pub fn new(config: GitHubConfig) -> Result<GitHub> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("envctl/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::GitHub {
                operation: "client".into(),
                message: e.to_string(),
                help: None,
            })?;
        Ok(GitHub { config, http })
    }

    pub fn config(&self) -> &GitHubConfig {
        &self.config
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/repos/{}/{}/{tail}",
            self.config.api_url, self.config.owner, self.config.repo
        )
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(&self.config.token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
    }

    /// GET /repos/{owner}/{repo}/pulls/{pull_number} (`pulls/get`).
    pub async fn pull_state(&self, pr: PrNumber) -> Result<PullState> {
        #[derive(Deserialize)]
        struct Pull {
            state: String,
            html_url: String,
        }
        let operation = format!("pulls/get #{pr} in {}", self.config.repository());
        let url = self.url(&format!("pulls/{pr}"));
        let response = self
            .request(reqwest::Method::GET, &url)
            .send()
            .await
            .map_err(|e| self.failed(&operation, &e))?;
        let pull: Pull = self.json(&operation, response).await?;
        match pull.state.as_str() {
            "open" | "closed" => Ok(PullState {
                open: pull.state == "open",
                html_url: pull.html_url,
            }),
            other => Err(Error::GitHub {
                operation,
                message: format!("unexpected state `{other}` (GitHub documents open and closed)"),
                help: None,
            }),
        }
    }

    /// Every comment on pull request `pr`, all pages (`issues/list-comments`).
    pub async fn comments(&self, pr: PrNumber) -> Result<Vec<Comment>> {
        let operation = format!("issues/list-comments #{pr} in {}", self.config.repository());
        let mut next = Some(self.url(&format!("issues/{pr}/comments?per_page={PER_PAGE}")));
        let mut all = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::GitHub {
                    operation,
                    message: format!("more than {MAX_PAGES} pages of comments; giving up"),
                    help: None,
                });
            }
            let response = self
                .request(reqwest::Method::GET, &url)
                .send()
                .await
                .map_err(|e| self.failed(&operation, &e))?;
            next = next_link(response.headers());
            let page: Vec<Comment> = self.json(&operation, response).await?;
            all.extend(page);
        }
        Ok(all)
    }

    /// Comments on pull request `pr` (`issues/create-comment`).
    pub async fn create_comment(&self, pr: PrNumber, body: &str) -> Result<Comment> {
        let operation = format!(
            "issues/create-comment #{pr} in {}",
            self.config.repository()
        );
        let url = self.url(&format!("issues/{pr}/comments"));
        let response = self
            .request(reqwest::Method::POST, &url)
            .json(&serde_json::json!({ "body": body }))
            .send()
            .await
            .map_err(|e| self.failed(&operation, &e))?;
        self.json(&operation, response).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        response: reqwest::Response,
    ) -> Result<T> {
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.failed(operation, &e))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect());
            let help = match status.as_u16() {
                401 => Some(format!("{TOKEN_ENV} is not a valid token")),
                403 => Some(
                    "the token lacks a permission: reading pull requests needs `pull-requests: read`, commenting `pull-requests: write`"
                        .into(),
                ),
                404 => Some(format!(
                    "no such pull request in {} (is {REPOSITORY_ENV} / --repo right?)",
                    self.config.repository()
                )),
                _ => None,
            };
            return Err(Error::GitHub {
                operation: operation.into(),
                message: format!("{status}: {message}"),
                help,
            });
        }
        serde_json::from_str(&text).map_err(|e| Error::GitHub {
            operation: operation.into(),
            message: format!("unexpected response: {e}"),
            help: None,
        })
    }

    fn failed(&self, operation: &str, e: &reqwest::Error) -> Error {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        Error::GitHub {
            operation: operation.into(),
            message,
            help: Some(format!(
                "is {API_URL_ENV} ({}) reachable?",
                self.config.api_url
            )),
        }
    }
}

/// The `rel="next"` URL of a `Link` header (GitHub's pagination).
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_follows_githubs_link_header() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "<https://api.github.com/repositories/1/issues/2/comments?page=3>; rel=\"next\", <https://api.github.com/repositories/1/issues/2/comments?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repositories/1/issues/2/comments?page=3")
        );
        h.insert(
            reqwest::header::LINK,
            "<https://x/?page=1>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn repositories_are_owner_slash_name() {
        assert!(split_repo("example-org/rates").is_ok());
        for bad in ["rates", "a/b/c", "/x", "x/", "a b/c"] {
            assert!(split_repo(bad).is_err(), "{bad}");
        }
    }
}
