//! `history`: the releases envctl applied to an environment (from the state bucket),
//! oldest first, with image, commit, when, by whom and outcome. Read-only: no lock.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::context::Context;
use crate::profile::Profile;
use crate::Result;

use super::Session;

/// The release history of one environment.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub environment: String,
    /// Release summaries, oldest first.
    pub releases: Vec<Value>,
}

impl HistoryReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.releases.is_empty() {
            let _ = writeln!(out, "{}: no releases recorded yet.", self.environment);
            return out;
        }
        let _ = writeln!(
            out,
            "{:>8}  {:<25}  {:<20}  {:<12}  {:<12}  BY / DETAIL",
            "REVISION", "APPLIED", "IMAGE TAG", "COMMIT", "OUTCOME"
        );
        for r in &self.releases {
            let commit = r["commit"].as_str().unwrap_or("-");
            let _ = writeln!(
                out,
                "{:>8}  {:<25}  {:<20}  {:<12}  {:<12}  {}{}",
                r["revision"],
                r["applied_at"].as_str().unwrap_or_default(),
                r["image_tag"].as_str().unwrap_or_default(),
                &commit[..commit.len().min(12)],
                r["outcome"].as_str().unwrap_or_default().replace('_', " "),
                r["applied_by"].as_str().unwrap_or_default(),
                r["detail"]
                    .as_str()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            );
        }
        out
    }
}

pub(super) async fn run(ctx: &Context, profile: &Profile) -> Result<HistoryReport> {
    let session = Session::connect(ctx, profile).await?;
    let releases = match session.existing_backend().await? {
        Some(backend) => session
            .releases(&backend)
            .all()
            .await?
            .iter()
            .map(|r| r.summary())
            .collect(),
        None => Vec::new(),
    };
    Ok(HistoryReport {
        environment: profile.name.to_string(),
        releases,
    })
}
