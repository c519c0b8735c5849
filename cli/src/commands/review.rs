//! `envctl review`: per-pull-request review stacks (up, down, list, gc, extend, warn).

use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::cli::{ReviewDownArgs, ReviewExtendArgs, ReviewGcArgs, ReviewUpArgs, ReviewWarnArgs};
use crate::context::Context;
use crate::deploy::UpOptions;
use crate::review::cloud::ReviewCloud;
use crate::review::comment::{comment, CommentInput};
use crate::review::lifecycle::{self, GcRequest, UpRequest, WarnRequest};
use crate::review::record::timestamp;
use crate::review::{clock, Marker};
use crate::Result;

pub fn up(ctx: &Context, args: &ReviewUpArgs) -> Result<ExitCode> {
    let request = UpRequest {
        pr: args.pr,
        branch: args.branch.clone(),
        ttl: args.ttl,
        owner: args.owner.clone(),
        image_tag: args.image_tag.clone(),
        terraform: args.terraform.terraform.clone(),
        timeout: UpOptions::default().timeout,
    };
    let outcome = lifecycle::up(ctx, &request)?;
    let record = &outcome.record;
    let url = outcome.report.endpoints.first().map(String::as_str);
    let body = comment(&CommentInput {
        environment: record.environment.as_str(),
        url,
        expires_at: record.expires_at,
        plan_summary: &outcome.report.plan.to_text(),
    });
    let mut text = outcome.report.to_text();
    let _ = writeln!(
        text,
        "\nReview stack {} of PR {} is {}.",
        record.environment,
        record.pr,
        if outcome.existed { "redeployed" } else { "up" }
    );
    let _ = writeln!(
        text,
        "  url:       {}",
        url.unwrap_or("(no public endpoint)")
    );
    let _ = writeln!(
        text,
        "  expires:   {} (run `envctl review up --pr {}` again to extend it)",
        timestamp(record.expires_at),
        record.pr
    );
    let _ = writeln!(text, "  tear down: envctl review down --pr {}", record.pr);
    ctx.ui.result(
        &text,
        &json!({
            "event": "result",
            "command": "review up",
            "pr": record.pr,
            "environment": record.environment,
            "branch": record.branch,
            "owner": record.owner,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "status": record.status,
            "existed": outcome.existed,
            "kept_name_instead_of": outcome.kept_name_instead_of,
            "url": url,
            "up": outcome.report,
            "comment": body,
        }),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn down(ctx: &Context, args: &ReviewDownArgs) -> Result<ExitCode> {
    match lifecycle::down(ctx, args.pr, args.terraform.terraform.clone())? {
        None => ctx.ui.result(
            &format!(
                "PR {} has no review stack: nothing to tear down.\n",
                args.pr
            ),
            &json!({ "event": "result", "command": "review down", "pr": args.pr, "found": false }),
        ),
        Some(outcome) => {
            let mut text = outcome.report.to_text();
            let _ = writeln!(
                text,
                "Review stack {} of PR {} is gone{}.",
                outcome.environment,
                outcome.pr,
                if outcome.resumed {
                    " (an interrupted teardown was resumed)"
                } else {
                    ""
                }
            );
            ctx.ui.result(
                &text,
                &json!({
                    "event": "result",
                    "command": "review down",
                    "pr": outcome.pr,
                    "found": true,
                    "environment": outcome.environment,
                    "resumed": outcome.resumed,
                    "down": outcome.report,
                }),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(ctx: &Context) -> Result<ExitCode> {
    let now = clock::now()?;
    let template = lifecycle::template(ctx)?;
    let cloud = ReviewCloud::connect(ctx, &template)?;
    let listing = cloud.list()?;
    let mut text = String::new();
    if listing.markers.is_empty() {
        let _ = writeln!(
            text,
            "No review stacks in {} / {}.",
            cloud.account_id, cloud.region
        );
    } else {
        let _ = writeln!(
            text,
            "{:<8} {:<32} {:<10} {:>7}  {:<16} {:<16} BRANCH",
            "PR", "ENVIRONMENT", "STATUS", "AGE", "EXPIRES", "OWNER"
        );
        for m in &listing.markers {
            let r = &m.record;
            let _ = writeln!(
                text,
                "{:<8} {:<32} {:<10} {:>7}  {:<16} {:<16} {}",
                r.pr,
                r.environment,
                r.status.as_str(),
                human(now - r.created_at),
                expiry(now, r.expires_at),
                r.owner,
                r.branch.as_deref().unwrap_or("-")
            );
            if let Some(err) = &r.last_error {
                let _ = writeln!(text, "         last error: {err}");
            }
        }
    }
    for problem in &listing.problems {
        let _ = writeln!(text, "problem: {problem}");
    }
    let stacks: Vec<_> = listing.markers.iter().map(|m| list_entry(m, now)).collect();
    ctx.ui.result(
        &text,
        &json!({
            "event": "result",
            "command": "review list",
            "now": now,
            "account_id": cloud.account_id,
            "region": cloud.region,
            "stacks": stacks,
            "problems": listing.problems,
        }),
    );
    // Problems are printed above; the exit code makes scripts notice them too.
    Ok(if listing.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn gc(ctx: &Context, args: &ReviewGcArgs) -> Result<ExitCode> {
    let report = lifecycle::gc(
        ctx,
        &GcRequest {
            dry_run: args.dry_run,
            open_prs: args.open_prs.clone(),
            repo: args.repo.clone(),
            terraform: args.terraform.terraform.clone(),
        },
    )?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "review gc at {}: {} review stack(s) listed, {} to tear down{}.",
        timestamp(report.now),
        report.listed,
        report.selected.len(),
        if report.dry_run {
            " (dry run: nothing was torn down)"
        } else {
            ""
        }
    );
    let _ = writeln!(text, "pull request states: {}", report.pr_states.note);
    for d in &report.selected {
        let reasons: Vec<String> = d.reasons.iter().map(ToString::to_string).collect();
        let r = &d.marker.record;
        let done = if report.dry_run {
            "would be torn down"
        } else if report.torn_down.iter().any(|t| t.pr == r.pr) {
            "torn down"
        } else if report.failed.iter().any(|f| f.pr == r.pr) {
            "FAILED"
        } else {
            "skipped"
        };
        let _ = writeln!(
            text,
            "  PR {:<6} {:<32} {}: {done}",
            r.pr,
            r.environment,
            reasons.join(", ")
        );
    }
    for k in &report.kept_open {
        let r = &k.marker.record;
        let _ = writeln!(
            text,
            "  PR {:<6} {:<32} expired at {}: kept, its pull request is open (goes at its maximum lifetime, {}, unless closed first)",
            r.pr,
            r.environment,
            timestamp(r.expires_at),
            timestamp(k.until)
        );
    }
    for s in &report.skipped {
        let _ = writeln!(text, "skipped PR {} ({}): {}", s.pr, s.environment, s.why);
    }
    for f in &report.failed {
        let _ = writeln!(text, "failed PR {} ({}): {}", f.pr, f.environment, f.error);
    }
    if !report.failed.is_empty() {
        let _ = writeln!(text, "Re-run `envctl review gc` (or `envctl review down --pr N`) to resume the failed teardowns.");
    }
    ctx.ui.result(
        &text,
        &json!({ "event": "result", "command": "review gc", "gc": report }),
    );
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn extend(ctx: &Context, args: &ReviewExtendArgs) -> Result<ExitCode> {
    let outcome = lifecycle::extend(ctx, args.pr, args.by)?;
    let r = &outcome.record;
    ctx.ui.result(
        &format!(
            "Review stack {} of PR {} now expires at {} (was {}); it can live until {} at most.\n",
            r.environment,
            r.pr,
            timestamp(r.expires_at),
            timestamp(outcome.previous_expires_at),
            timestamp(outcome.maximum)
        ),
        &json!({
            "event": "result",
            "command": "review extend",
            "pr": r.pr,
            "environment": r.environment,
            "expires_at": r.expires_at,
            "previous_expires_at": outcome.previous_expires_at,
            "maximum": outcome.maximum,
        }),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn warn(ctx: &Context, args: &ReviewWarnArgs) -> Result<ExitCode> {
    let report = lifecycle::warn(
        ctx,
        &WarnRequest {
            dry_run: args.dry_run,
            repo: args.repo.clone(),
        },
    )?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "review warn at {}: {} review stack(s) listed, {} expiring within {} ({}){}.",
        timestamp(report.now),
        report.listed,
        report.entries.len(),
        report.warn_before,
        report.repository,
        if report.dry_run {
            "; dry run: nothing was posted"
        } else {
            ""
        }
    );
    for e in &report.entries {
        let _ = writeln!(
            text,
            "  PR {:<6} {:<32} expires {}: {}{}",
            e.pr,
            e.environment,
            timestamp(e.expires_at),
            e.outcome,
            e.comment_url
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default()
        );
    }
    ctx.ui.result(
        &text,
        &json!({ "event": "result", "command": "review warn", "warn": report }),
    );
    Ok(ExitCode::SUCCESS)
}

fn list_entry(m: &Marker, now: DateTime<Utc>) -> serde_json::Value {
    let mut entry = serde_json::to_value(m).unwrap_or_default();
    if let Some(obj) = entry.as_object_mut() {
        obj.insert(
            "age_seconds".into(),
            json!((now - m.record.created_at).num_seconds()),
        );
        obj.insert(
            "expires_in_seconds".into(),
            json!((m.record.expires_at - now).num_seconds()),
        );
        obj.insert("expired".into(), json!(m.record.is_expired(now)));
    }
    entry
}

/// "in 3d 4h" or "2h 5m ago".
fn expiry(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    if at > now {
        format!("in {}", human(at - now))
    } else {
        format!("{} ago", human(now - at))
    }
}

/// A short human duration: "3d 4h", "5h 10m", "12m", "0m".
fn human(d: TimeDelta) -> String {
    let minutes = d.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, _) => format!("{hours}h {mins}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_briefly() {
        assert_eq!(human(TimeDelta::minutes(12)), "12m");
        assert_eq!(human(TimeDelta::minutes(310)), "5h 10m");
        assert_eq!(human(TimeDelta::hours(76)), "3d 4h");
        assert_eq!(human(TimeDelta::seconds(-5)), "0m");
        let now = Utc::now();
        assert_eq!(expiry(now, now + TimeDelta::hours(2)), "in 2h 0m");
        assert_eq!(expiry(now, now - TimeDelta::minutes(3)), "3m ago");
    }
}
