//! What `up`, `down` and `status` report, as text for people and JSON for machines.

use std::fmt::Write as _;

use serde::Serialize;

use crate::aws::alarms::AlarmState;
use crate::aws::dashboard::DashboardChange;
use crate::aws::{AlarmSync, BackendChange};
use crate::kube::cluster::ClusterInfo;
use crate::kube::rollout::DeploymentState;
use crate::kube::ApplyReport;
use crate::terraform::PlanSummary;

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub environment: String,
    pub backend: BackendChange,
    pub plan: PlanSummary,
    /// The plan was applied (it had changes).
    pub applied: bool,
    pub kubernetes: ApplyReport,
    /// "ran" or "up to date".
    pub migration: String,
    pub deployments: Vec<DeploymentState>,
    pub alarms: AlarmSync,
    pub dashboard: DashboardChange,
    pub endpoints: Vec<String>,
    /// The release this run applied (`None`: the same as the last one, nothing new).
    pub release: Option<serde_json::Value>,
    /// How long the new release was baked (seconds; 0: no bake).
    pub baked_seconds: u64,
    /// Anything changed at all (false: the environment was already up to date).
    pub changed: bool,
}

impl UpReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.changed {
            let _ = writeln!(out, "{} is up to date now.", self.environment);
        } else {
            let _ = writeln!(
                out,
                "{} was already up to date: nothing changed.",
                self.environment
            );
        }
        let _ = writeln!(
            out,
            "  terraform:  {}",
            if self.applied {
                format!(
                    "{} added, {} changed, {} destroyed",
                    self.plan.add, self.plan.change, self.plan.destroy
                )
            } else {
                "no changes".into()
            }
        );
        let k = &self.kubernetes;
        let _ = writeln!(
            out,
            "  kubernetes: {} created, {} configured, {} unchanged, {} pruned; migrations {}",
            k.created.len(),
            k.configured.len(),
            k.unchanged,
            k.pruned.len(),
            self.migration
        );
        for d in &self.deployments {
            let _ = writeln!(out, "    {}", d.describe());
        }
        let a = &self.alarms;
        let _ = writeln!(
            out,
            "  alarms:     {} created, {} updated, {} unchanged, {} deleted; dashboard {}",
            a.created.len(),
            a.updated.len(),
            a.unchanged.len(),
            a.deleted.len(),
            match self.dashboard {
                DashboardChange::Created => "created",
                DashboardChange::Updated => "updated",
                DashboardChange::Unchanged => "unchanged",
            }
        );
        if let Some(release) = &self.release {
            let _ = writeln!(
                out,
                "  release:    revision {} ({}), {}{}",
                release["revision"],
                release["image_tag"].as_str().unwrap_or_default(),
                release["outcome"].as_str().unwrap_or_default(),
                if self.baked_seconds > 0 {
                    format!(" after a {}s bake", self.baked_seconds)
                } else {
                    String::new()
                }
            );
        }
        for e in &self.endpoints {
            let _ = writeln!(out, "  endpoint:   {e}");
        }
        out
    }
}

/// What `down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    pub environment: String,
    pub alarms_deleted: Vec<String>,
    pub dashboard_deleted: bool,
    pub kubernetes_deleted: Vec<String>,
    /// Why the Kubernetes step was skipped, if it was (e.g. the cluster is already gone).
    pub kubernetes_skipped: Option<String>,
    pub terraform: Option<PlanSummary>,
    pub terraform_skipped: Option<String>,
}

impl DownReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} is down.", self.environment);
        let _ = writeln!(
            out,
            "  alarms:     {} deleted; dashboard {}",
            self.alarms_deleted.len(),
            if self.dashboard_deleted {
                "deleted"
            } else {
                "already gone"
            }
        );
        match &self.kubernetes_skipped {
            Some(why) => {
                let _ = writeln!(out, "  kubernetes: skipped ({why})");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  kubernetes: {} object(s) deleted",
                    self.kubernetes_deleted.len()
                );
            }
        }
        match (&self.terraform, &self.terraform_skipped) {
            (_, Some(why)) => {
                let _ = writeln!(out, "  terraform:  skipped ({why})");
            }
            (Some(plan), None) => {
                let _ = writeln!(out, "  terraform:  {} resource(s) destroyed", plan.destroy);
            }
            (None, None) => {}
        }
        out
    }
}

/// What `status` found.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub environment: String,
    pub region: String,
    pub account_id: String,
    /// The state backend stack's status (`None`: not bootstrapped).
    pub state_backend: Option<String>,
    pub cluster: Option<ClusterInfo>,
    pub deployments: Vec<DeploymentState>,
    /// Why deployments could not be read, if so.
    pub kubernetes_error: Option<String>,
    /// ALARM first, then INSUFFICIENT_DATA, then OK.
    pub alarms: Vec<AlarmState>,
    pub dashboard: Option<String>,
    pub endpoints: Vec<String>,
}

impl StatusReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} (account {}, {})",
            self.environment, self.account_id, self.region
        );
        let _ = writeln!(
            out,
            "  state backend: {}",
            self.state_backend
                .as_deref()
                .unwrap_or("not bootstrapped (run `envctl bootstrap`)")
        );
        match &self.cluster {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "  cluster:       {} {} (Kubernetes {})",
                    c.name,
                    c.status,
                    c.version.as_deref().unwrap_or("?")
                );
            }
            None => {
                let _ = writeln!(out, "  cluster:       not found (environment not deployed)");
            }
        }
        if let Some(err) = &self.kubernetes_error {
            let _ = writeln!(out, "  rollout:       unknown ({err})");
        }
        for d in &self.deployments {
            let mark = if d.complete { "✓" } else { "…" };
            let _ = writeln!(out, "  rollout:       {mark} {}", d.describe());
        }
        if self.alarms.is_empty() {
            let _ = writeln!(out, "  alarms:        none");
        } else {
            let firing = self.alarms.iter().filter(|a| a.state == "ALARM").count();
            let _ = writeln!(
                out,
                "  alarms:        {} total, {firing} in ALARM",
                self.alarms.len()
            );
            for a in &self.alarms {
                let _ = writeln!(out, "    {:<17} {}", a.state, a.name);
            }
        }
        if let Some(d) = &self.dashboard {
            let _ = writeln!(out, "  dashboard:     {d}");
        }
        for e in &self.endpoints {
            let _ = writeln!(out, "  endpoint:      {e}");
        }
        out
    }
}
