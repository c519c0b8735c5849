//! The review stack lifecycle: `up` records the stack (marker first) then deploys;
//! `down` marks it deleting, tears it down, and removes the marker last; `extend` moves
//! the expiry (never past the maximum lifetime); `warn` comments on pull requests whose
//! stack expires soon; `gc` tears down every stack of a closed pull request, past its
//! maximum lifetime, or expired while its pull request's state is unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;

use super::cloud::ReviewCloud;
use super::expiry;
use super::gc::{self, Doomed, KeptOpen};
use super::github::{GitHub, GitHubConfig};
use super::marker::Marker;
use super::name::{PrNumber, ReviewName};
use super::record::{tag_value, timestamp, ReviewRecord, Status};
use crate::cli::GlobalArgs;
use crate::context::Context;
use crate::deploy::{self, DownOptions, DownReport, ImageContractCheck, UpOptions, UpReport};
use crate::profile::{EnvironmentName, Profile, ReviewSettings, Target};
use crate::ui::Ui;
use crate::{Error, Result};

/// The profile every review stack is an instance of (`environments/review.yaml`).
pub const TEMPLATE_PROFILE: &str = "review";
/// Shortest and longest `--ttl`: a stack must outlive its deploy, and none may linger
/// for more than a month however it was started (cost control).
pub const MIN_TTL: Duration = Duration::from_secs(60 * 60);
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What `review up` is asked to do.
#[derive(Debug, Clone)]
pub struct UpRequest {
    pub pr: u64,
    pub branch: Option<String>,
    pub ttl: Duration,
    pub owner: Option<String>,
    /// The image to deploy instead of the review profile's tag.
    pub image_tag: Option<crate::profile::ImageTag>,
    pub terraform: Option<PathBuf>,
    pub timeout: Duration,
}

/// What `review up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpOutcome {
    pub record: ReviewRecord,
    /// The stack already existed (this run extended its expiry and redeployed it).
    pub existed: bool,
    /// The name `--branch` would give now, when the existing stack keeps another one.
    pub kept_name_instead_of: Option<String>,
    pub report: UpReport,
}

/// What a teardown did.
#[derive(Debug, Clone, Serialize)]
pub struct TeardownOutcome {
    pub pr: PrNumber,
    pub environment: String,
    /// An earlier teardown had been interrupted; this one finished it.
    pub resumed: bool,
    pub report: DownReport,
}

/// What `review gc` is asked to do.
#[derive(Debug, Clone)]
pub struct GcRequest {
    pub dry_run: bool,
    pub open_prs: Option<Vec<u64>>,
    /// `OWNER/NAME` for the GitHub API (default: `$GITHUB_REPOSITORY`).
    pub repo: Option<String>,
    pub terraform: Option<PathBuf>,
}

/// Where gc's knowledge of the pull requests' states came from.
#[derive(Debug, Clone, Serialize)]
pub struct PrStates {
    /// `github` (asked the API per stack), `open-prs` (the flag), or `unknown`.
    pub source: &'static str,
    /// What that means for the decisions, in words (printed in the report).
    pub note: String,
}

/// What `review gc` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    /// Review stacks listed.
    pub listed: usize,
    pub pr_states: PrStates,
    /// Stacks of closed PRs, past the maximum lifetime, or expired with an unknown PR
    /// state, with the reasons.
    pub selected: Vec<Doomed>,
    /// Expired stacks kept because their pull request is open, with when they go anyway.
    pub kept_open: Vec<KeptOpen>,
    pub torn_down: Vec<TeardownOutcome>,
    /// Selected but left alone, with why (gone meanwhile, refreshed since the listing).
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub pr: PrNumber,
    pub environment: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub pr: PrNumber,
    pub environment: String,
    pub error: String,
}

/// Loads `environments/review.yaml`, which must target AWS.
pub fn template(ctx: &Context) -> Result<Profile> {
    let template = ctx.load_profile(TEMPLATE_PROFILE)?;
    if template.target != Target::Aws {
        return Err(Error::InvalidArgument {
            what: "review stack template".into(),
            value: format!("environments/{TEMPLATE_PROFILE}.yaml"),
            message: format!(
                "has `target: {}`; review stacks are deployed to AWS (`target: aws`)",
                template.target.as_str()
            ),
        });
    }
    Ok(template)
}

/// `review up`: record (or refresh) the stack's marker with a new expiry, then deploy.
pub fn up(ctx: &Context, req: &UpRequest) -> Result<UpOutcome> {
    let pr = PrNumber::new(req.pr)?;
    check_ttl(req.ttl)?;
    let now = now()?;
    let template = template(ctx)?;
    let wanted = ReviewName::new(pr, req.branch.as_deref())?;
    // The deploy asks before applying; without a terminal, refuse before recording
    // anything rather than leave a marker behind for a deploy that cannot happen.
    if !ctx.ui.yes && !ctx.ui.interactive {
        return Err(Error::Refused {
            message: "review up deploys changes, and there is no terminal to confirm them on"
                .into(),
            help: Some("pass --yes (review stacks are never protected)".into()),
        });
    }
    let cloud = ReviewCloud::connect(ctx, &template)?;
    let existing = cloud.get(pr)?;

    // A PR keeps its first name: a different --branch (or none) must not orphan the
    // resources deployed under the old one.
    let (name, kept_name_instead_of) = match &existing {
        Some(m) if m.record.environment != wanted => {
            (m.record.environment.clone(), Some(wanted.to_string()))
        }
        _ => (wanted, None),
    };
    if let Some(other) = &kept_name_instead_of {
        ctx.ui.event(
            "review_name_kept",
            &format!("PR {pr} already has review stack {name}; keeping that name (not {other})"),
            json!({ "environment": name.as_str(), "not": other }),
        );
    }
    let previous = existing.as_ref().map(|m| &m.record);
    let settings = settings(&template);
    let created_at = previous.map_or(now, |r| r.created_at);
    // A push never shortens an extension, and nothing passes the maximum lifetime.
    let capped = expiry::capped_expiry(created_at, &settings, now, req.ttl);
    let expires_at = match capped {
        Some(at) => previous.map_or(at, |r| {
            r.expires_at.min(expiry::maximum(r, &settings)).max(at)
        }),
        None => {
            let max =
                created_at + TimeDelta::from_std(settings.max_lifetime.0).unwrap_or(TimeDelta::MAX);
            return Err(Error::Refused {
                message: format!(
                    "review stack {name} of PR {pr} reached its maximum lifetime ({}, review.max_lifetime in environments/review.yaml) at {}; it is not redeployed",
                    settings.max_lifetime,
                    timestamp(max)
                ),
                help: Some(format!(
                    "tear it down (`envctl review down --pr {pr}`, or wait for the hourly `review gc`); the next `review up` then starts a new stack"
                )),
            });
        }
    };
    if expires_at < now + TimeDelta::from_std(req.ttl).expect("ttl is bounded by MAX_TTL") {
        ctx.ui.event(
            "review_expiry_capped",
            &format!(
                "expiry capped at {}: review stacks live at most {} (review.max_lifetime)",
                timestamp(expires_at),
                settings.max_lifetime
            ),
            json!({ "expires_at": expires_at, "max_lifetime": settings.max_lifetime }),
        );
    }
    let mut record = ReviewRecord {
        pr,
        environment: name.clone(),
        branch: req
            .branch
            .clone()
            .or_else(|| previous.and_then(|r| r.branch.clone())),
        owner: req
            .owner
            .clone()
            .or_else(|| previous.map(|r| r.owner.clone()))
            .unwrap_or_else(default_owner),
        created_at,
        expires_at,
        status: Status::Deploying,
        last_error: None,
    };
    // Read back exactly what the tags hold, so the outcome matches `review list`.
    record.owner = tag_value(&record.owner);
    record.branch = record.branch.as_deref().map(tag_value);

    let step = ctx.ui.step(format!(
        "recording review stack {name} (marker stack {})",
        ReviewRecord::marker_name(pr)
    ));
    if let Err(err) = cloud.put(&record) {
        step.fail(&err.to_string());
        return Err(err);
    }
    step.done(&format!("expires at {}", timestamp(record.expires_at)));

    let mut profile = instance(&template, &record)?;
    if let Some(tag) = &req.image_tag {
        profile = profile.with_image_tag(tag.clone());
    }
    let opts = UpOptions {
        terraform: req.terraform.clone(),
        timeout: req.timeout,
        force_protected: None,
        image_contract: ImageContractCheck::Required,
    };
    match deploy::up(ctx, &profile, &opts) {
        Ok(report) => {
            record.status = Status::Ready;
            cloud.put(&record)?;
            Ok(UpOutcome {
                record,
                existed: existing.is_some(),
                kept_name_instead_of,
                report,
            })
        }
        Err(err) => {
            record.status = Status::Failed;
            record.last_error = Some(err.to_string());
            if let Err(marker_err) = cloud.put(&record) {
                ctx.ui.event(
                    "review_marker_error",
                    &format!("could not record the failure on the marker: {marker_err}"),
                    json!({ "error": marker_err.to_string() }),
                );
            }
            Err(err)
        }
    }
}

/// `review down`: tears down PR `pr`'s stack; `None` when it has none (already gone).
pub fn down(ctx: &Context, pr: u64, terraform: Option<PathBuf>) -> Result<Option<TeardownOutcome>> {
    let pr = PrNumber::new(pr)?;
    let template = template(ctx)?;
    let cloud = ReviewCloud::connect(ctx, &template)?;
    let Some(marker) = cloud.get(pr)? else {
        return Ok(None);
    };
    ctx.ui.confirm(
        &format!(
            "Destroy review stack {} of PR {pr} (every resource, database included)?",
            marker.record.environment
        ),
        "pass --yes to tear it down without a prompt",
    )?;
    teardown(ctx, &cloud, &template, &marker, terraform).map(Some)
}

/// `review gc`: lists every review stack and tears down those past their expiry or
/// (given the open PRs) with a closed PR. Any listing error or inconsistency is an
/// error before anything is deleted.
pub fn gc(ctx: &Context, req: &GcRequest) -> Result<GcReport> {
    let open: Option<BTreeSet<u64>> = match &req.open_prs {
        Some(prs) => Some(
            prs.iter()
                .map(|&pr| PrNumber::new(pr).map(PrNumber::get))
                .collect::<Result<_>>()?,
        ),
        None => None,
    };
    let now = now()?;
    let template = template(ctx)?;
    let settings = settings(&template);
    let github = match (&open, GitHubConfig::from_env(req.repo.as_deref())?) {
        (None, Some(config)) => Some(GitHub::new(config)?),
        _ => None,
    };
    let cloud = ReviewCloud::connect(ctx, &template)?;
    let listing = cloud.list()?;
    // Fail safe like the listing: any failed state lookup means nothing is deleted.
    let (open, pr_states) = match (open, &github) {
        (Some(open), _) => (
            Some(open),
            PrStates {
                source: "open-prs",
                note: "pull requests not in --open-prs are taken as closed".into(),
            },
        ),
        (None, Some(github)) => {
            let mut open = BTreeSet::new();
            for marker in &listing.markers {
                let pr = marker.record.pr;
                if cloud.block_on(github.pull_state(pr))?.open {
                    open.insert(pr.get());
                }
            }
            (
                Some(open),
                PrStates {
                    source: "github",
                    note: format!(
                        "pull request states from the GitHub API ({})",
                        github.config().repository()
                    ),
                },
            )
        }
        (None, None) => (
            None,
            PrStates {
                source: "unknown",
                note: format!(
                    "no {} and no --open-prs: pull request states unknown; assuming none is open, so stacks go at their expiry",
                    super::github::TOKEN_ENV
                ),
            },
        ),
    };
    let selection = gc::select(&listing, now, open.as_ref(), &settings)?;
    let selected = selection.doomed;
    let mut report = GcReport {
        now,
        dry_run: req.dry_run,
        listed: listing.markers.len(),
        pr_states,
        selected: selected.clone(),
        kept_open: selection.kept_open,
        torn_down: vec![],
        skipped: vec![],
        failed: vec![],
    };
    if req.dry_run || selected.is_empty() {
        return Ok(report);
    }
    ctx.ui.confirm(
        &format!("Tear down {} review stack(s)?", selected.len()),
        "pass --yes to let gc tear stacks down without a prompt, or --dry-run to only see them",
    )?;
    for doomed in &selected {
        let record = &doomed.marker.record;
        let pr = record.pr;
        // Look again right before acting: a push may have extended it since the listing.
        let current = match cloud.get(pr) {
            Ok(Some(current)) => current,
            Ok(None) => {
                report.skipped.push(skipped(record, "already gone"));
                continue;
            }
            Err(err) => {
                report.failed.push(failed(record, &err));
                continue;
            }
        };
        if gc::reasons(&current, now, open.as_ref(), &settings).is_empty() {
            report.skipped.push(skipped(
                record,
                &format!(
                    "changed since the listing (now expires at {})",
                    timestamp(current.record.expires_at)
                ),
            ));
            continue;
        }
        let reasons: Vec<String> = doomed.reasons.iter().map(ToString::to_string).collect();
        ctx.ui.event(
            "review_gc_teardown",
            &format!(
                "tearing down {} (PR {pr}): {}",
                record.environment,
                reasons.join(", ")
            ),
            json!({ "pr": pr, "environment": record.environment, "reasons": doomed.reasons }),
        );
        match teardown(ctx, &cloud, &template, &current, req.terraform.clone()) {
            Ok(outcome) => report.torn_down.push(outcome),
            Err(err) => report.failed.push(failed(record, &err)),
        }
    }
    Ok(report)
}

/// Marks the stack deleting, tears it down (already-gone parts count as done), and
/// deletes the marker last, unless someone redeployed the stack in the meantime.
fn teardown(
    ctx: &Context,
    cloud: &ReviewCloud,
    template: &Profile,
    marker: &Marker,
    terraform: Option<PathBuf>,
) -> Result<TeardownOutcome> {
    let pr = marker.record.pr;
    let resumed = marker.record.status == Status::Deleting;
    let mut record = marker.record.clone();
    record.status = Status::Deleting;
    record.last_error = None;
    let step = ctx.ui.step(format!(
        "{} review stack {} (PR {pr})",
        if resumed {
            "resuming the teardown of"
        } else {
            "tearing down"
        },
        record.environment
    ));
    cloud.put(&record)?;
    let profile = instance(template, &record)?;
    // Confirmed already (review down, or gc): don't ask again inside deploy::down.
    let confirmed = Context {
        root: ctx.root.clone(),
        global: GlobalArgs {
            yes: true,
            ..ctx.global.clone()
        },
        ui: Ui {
            yes: true,
            ..ctx.ui.clone()
        },
    };
    let opts = DownOptions {
        terraform,
        force_protected: None,
    };
    let report = match deploy::down(&confirmed, &profile, &opts) {
        Ok(report) => report,
        Err(err) => {
            step.fail(&err.to_string());
            record.last_error = Some(err.to_string());
            if let Err(marker_err) = cloud.put(&record) {
                ctx.ui.event(
                    "review_marker_error",
                    &format!("could not record the failure on the marker: {marker_err}"),
                    json!({ "error": marker_err.to_string() }),
                );
            }
            return Err(err);
        }
    };
    match cloud.get(pr)? {
        Some(now) if now.record.status != Status::Deleting => {
            step.fail("redeployed meanwhile");
            return Err(Error::Refused {
                message: format!(
                    "review stack {} was redeployed (status {}) while it was being torn down; its marker was kept",
                    record.environment, now.record.status
                ),
                help: Some(format!(
                    "run `envctl review up --pr {pr}` to finish the deploy, or `envctl review down --pr {pr}` to remove it"
                )),
            });
        }
        Some(_) => cloud.delete(pr)?,
        None => {}
    }
    step.done("every resource and the marker are gone");
    Ok(TeardownOutcome {
        pr,
        environment: record.environment.to_string(),
        resumed,
        report,
    })
}

/// The review profile under the stack's name, with tags on every AWS resource that
/// say which PR, branch and owner it belongs to and when it expires.
fn instance(template: &Profile, record: &ReviewRecord) -> Result<Profile> {
    let name = EnvironmentName::parse(record.environment.as_str())?;
    let mut tags = BTreeMap::from([
        ("ReviewPullRequest".to_string(), record.pr.to_string()),
        ("ReviewOwner".to_string(), tag_value(&record.owner)),
        ("ReviewCreatedAt".to_string(), timestamp(record.created_at)),
        ("ReviewExpiresAt".to_string(), timestamp(record.expires_at)),
        (
            "ReviewMarkerStack".to_string(),
            ReviewRecord::marker_name(record.pr),
        ),
    ]);
    if let Some(branch) = &record.branch {
        tags.insert("ReviewBranch".into(), tag_value(branch));
    }
    Ok(template
        .clone()
        .instance(name, tags)
        .with_pull_request_host(record.pr))
}

/// The review profile's lifetime settings (defaults when it has no `review:` section).
pub fn settings(template: &Profile) -> ReviewSettings {
    template.review.clone().unwrap_or_default()
}

/// What `review extend` did.
#[derive(Debug, Clone, Serialize)]
pub struct ExtendOutcome {
    pub record: ReviewRecord,
    pub previous_expires_at: DateTime<Utc>,
    /// The stack's hard maximum: no extension passes it.
    pub maximum: DateTime<Utc>,
}

/// `review extend`: moves PR `pr`'s expiry `by` later (from now if already expired),
/// refused past the maximum lifetime. Only the marker changes; nothing is redeployed.
pub fn extend(ctx: &Context, pr: u64, by: Duration) -> Result<ExtendOutcome> {
    let pr = PrNumber::new(pr)?;
    let now = now()?;
    let template = template(ctx)?;
    let settings = settings(&template);
    let cloud = ReviewCloud::connect(ctx, &template)?;
    let Some(marker) = cloud.get(pr)? else {
        return Err(Error::InvalidArgument {
            what: "--pr".into(),
            value: pr.to_string(),
            message: "has no review stack to extend (see `envctl review list`)".into(),
        });
    };
    if marker.record.status == Status::Deleting {
        return Err(Error::Refused {
            message: format!(
                "review stack {} of PR {pr} is being torn down; it cannot be extended",
                marker.record.environment
            ),
            help: Some(format!(
                "run `envctl review up --pr {pr}` for a new stack once it is gone"
            )),
        });
    }
    let expires_at = expiry::extended(&marker.record, &settings, now, by)?;
    let mut record = marker.record.clone();
    record.expires_at = expires_at;
    let step = ctx.ui.step(format!(
        "extending review stack {} (PR {pr})",
        record.environment
    ));
    if let Err(err) = cloud.put(&record) {
        step.fail(&err.to_string());
        return Err(err);
    }
    step.done(&format!("expires at {}", timestamp(expires_at)));
    Ok(ExtendOutcome {
        maximum: expiry::maximum(&record, &settings),
        previous_expires_at: marker.record.expires_at,
        record,
    })
}

/// What `review warn` is asked to do.
#[derive(Debug, Clone)]
pub struct WarnRequest {
    pub dry_run: bool,
    pub repo: Option<String>,
}

/// One stack `review warn` looked at closely (in its warning window).
#[derive(Debug, Clone, Serialize)]
pub struct WarnEntry {
    pub pr: PrNumber,
    pub environment: String,
    pub expires_at: DateTime<Utc>,
    /// `posted`, `would post` (dry run), `already warned`, `pull request closed`.
    pub outcome: &'static str,
    /// The warning comment's URL, when there is one.
    pub comment_url: Option<String>,
}

/// What `review warn` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct WarnReport {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    pub repository: String,
    pub warn_before: crate::profile::Span,
    pub listed: usize,
    pub entries: Vec<WarnEntry>,
}

/// `review warn`: comments once on the pull request of every stack that expires within
/// `review.warn_before`, unless the pull request is closed. A comment that carries the
/// stack's and expiry's hidden marker counts as the warning already given.
pub fn warn(ctx: &Context, req: &WarnRequest) -> Result<WarnReport> {
    let now = now()?;
    let template = template(ctx)?;
    let settings = settings(&template);
    let config = GitHubConfig::from_env(req.repo.as_deref())?.ok_or_else(|| Error::Prerequisite {
        message: format!(
            "review warn comments on pull requests and needs a GitHub token in {}",
            super::github::TOKEN_ENV
        ),
        help: Some(
            "in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}` with `permissions: pull-requests: write`"
                .into(),
        ),
    })?;
    let github = GitHub::new(config)?;
    let cloud = ReviewCloud::connect(ctx, &template)?;
    let listing = cloud.list()?;
    let mut report = WarnReport {
        now,
        dry_run: req.dry_run,
        repository: github.config().repository(),
        warn_before: settings.warn_before,
        listed: listing.markers.len(),
        entries: vec![],
    };
    for marker in &listing.markers {
        let record = &marker.record;
        if record.status == Status::Deleting || !expiry::due_for_warning(record, &settings, now) {
            continue;
        }
        let entry = |outcome, comment_url| WarnEntry {
            pr: record.pr,
            environment: record.environment.to_string(),
            expires_at: record.expires_at,
            outcome,
            comment_url,
        };
        if !cloud.block_on(github.pull_state(record.pr))?.open {
            report.entries.push(entry("pull request closed", None));
            continue;
        }
        let tag = expiry::warning_marker(record);
        let comments = cloud.block_on(github.comments(record.pr))?;
        if let Some(c) = comments
            .iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(&tag)))
        {
            report
                .entries
                .push(entry("already warned", Some(c.html_url.clone())));
            continue;
        }
        if req.dry_run {
            report.entries.push(entry("would post", None));
            continue;
        }
        let body = expiry::warning_comment(record, &settings, now);
        let posted = cloud.block_on(github.create_comment(record.pr, &body))?;
        ctx.ui.event(
            "review_expiry_warning",
            &format!(
                "warned PR {} that {} expires at {}: {}",
                record.pr,
                record.environment,
                timestamp(record.expires_at),
                posted.html_url
            ),
            json!({ "pr": record.pr, "environment": record.environment, "comment_url": posted.html_url }),
        );
        report.entries.push(entry("posted", Some(posted.html_url)));
    }
    Ok(report)
}

fn check_ttl(ttl: Duration) -> Result<()> {
    if ttl < MIN_TTL || ttl > MAX_TTL {
        return Err(Error::InvalidArgument {
            what: "--ttl".into(),
            value: humantime::format_duration(ttl).to_string(),
            message: "must be between 1h and 30d".into(),
        });
    }
    Ok(())
}

/// Now, to the second (what the tags can hold).
fn now() -> Result<DateTime<Utc>> {
    let now = super::clock::now()?;
    Ok(now.duration_trunc(TimeDelta::seconds(1)).unwrap_or(now))
}

fn default_owner() -> String {
    ["GITHUB_ACTOR", "USER", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn skipped(record: &ReviewRecord, why: &str) -> Skipped {
    Skipped {
        pr: record.pr,
        environment: record.environment.to_string(),
        why: why.into(),
    }
}

fn failed(record: &ReviewRecord, err: &Error) -> Failed {
    Failed {
        pr: record.pr,
        environment: record.environment.to_string(),
        error: err.to_string(),
    }
}
