//! The options of the deploy operations (what the commands' flags and review stacks pass).

use std::path::PathBuf;
use std::time::Duration;

/// Options of [`plan`](super::plan).
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// The terraform binary (`--terraform`/`TERRAFORM`); `None`: look on PATH.
    pub terraform: Option<PathBuf>,
}

/// Options of [`up`](super::up).
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub terraform: Option<PathBuf>,
    /// How long to wait for the migration Job, and then for the rollouts.
    pub timeout: Duration,
    /// The environment's name, repeated: lets a protected environment's destroys and
    /// replacements through without a terminal.
    pub force_protected: Option<String>,
    /// Whether the contract version of the image about to be deployed is read from ECR
    /// first, refusing one built from another contract before anything is applied.
    pub image_contract: ImageContractCheck,
}

/// Whether `up` checks the contract version of the image it deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageContractCheck {
    /// Not checked (`--skip-contract-check`).
    #[default]
    Off,
    /// Checked; a refusal names `--skip-contract-check` (`up`).
    Skippable,
    /// Checked with no way around (`review up`: the pull request's image is built from
    /// the same commit as its envctl, so a mismatch is the wrong tag).
    Required,
}

impl Default for UpOptions {
    fn default() -> UpOptions {
        UpOptions {
            terraform: None,
            timeout: Duration::from_secs(15 * 60),
            force_protected: None,
            image_contract: ImageContractCheck::Off,
        }
    }
}

/// Options of [`down`](super::down).
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub terraform: Option<PathBuf>,
    /// The environment's name, repeated: required to take down a protected
    /// environment without a terminal (with `--yes`).
    pub force_protected: Option<String>,
}

/// What `up` adds around the rollout: the bake's handling of alarms that already fire.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Deploy even though a rollback alarm is in ALARM before the rollout (a fix for it);
    /// the bake watches such an alarm again once it has left ALARM.
    pub ignore_firing_alarms: bool,
}

/// Options of [`rollback`](super::rollback()).
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// The revision to go back to; `None`: the newest earlier release that succeeded.
    pub to: Option<u32>,
    /// How long to wait for the rollout.
    pub timeout: Duration,
}
