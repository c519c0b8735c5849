//! The protection rules: when a change needs a typed confirmation, a yes, or a flag.

use crate::profile::Profile;
use crate::terraform::PlanSummary;
use crate::ui::Ui;
use crate::{Error, Result};

/// Before `up` applies a plan with changes. Protected environments need the name typed
/// (or `--force-protected NAME` without a terminal) when the plan destroys or replaces
/// anything; every other change needs a yes (or `--yes`).
pub fn confirm_apply(
    ui: &Ui,
    profile: &Profile,
    plan: &PlanSummary,
    force_protected: Option<&str>,
) -> Result<()> {
    let name = profile.name.as_str();
    if profile.protected && plan.is_destructive() {
        let prompt = format!(
            "{name} is protected and this plan destroys {} resource(s) ({} replaced)",
            plan.destroy,
            plan.replacements.len()
        );
        return match force_protected {
            Some(flag) if flag == name => Ok(()),
            Some(other) => Err(mismatch(other, name)),
            None => ui.confirm_typed(
                &prompt,
                name,
                &format!("review `envctl plan {name}`, then pass --force-protected {name} to apply it without a terminal"),
            ),
        };
    }
    ui.confirm(
        &format!("Apply these changes to {name}?"),
        &format!("review `envctl plan {name}`, then pass --yes to apply without a prompt"),
    )
}

/// Before `down`. Protected environments need the name typed, or both `--yes` and
/// `--force-protected NAME` without a terminal; others need a yes (or `--yes`).
pub fn confirm_down(ui: &Ui, profile: &Profile, force_protected: Option<&str>) -> Result<()> {
    let name = profile.name.as_str();
    if profile.protected {
        let help = format!("pass --yes --force-protected {name} to take down a protected environment without a terminal");
        return match force_protected {
            Some(flag) if flag != name => Err(mismatch(flag, name)),
            Some(_) if ui.yes || ui.interactive => Ok(()),
            Some(_) => Err(Error::Refused {
                message: format!("taking down protected environment {name} also needs --yes"),
                help: Some(help),
            }),
            None => ui.confirm_typed(
                &format!("{name} is protected: this destroys its alarms, Kubernetes objects and every Terraform resource (database included)"),
                name,
                &help,
            ),
        };
    }
    ui.confirm(
        &format!(
            "Destroy every resource of {name} (alarms, Kubernetes objects, Terraform resources)?"
        ),
        &format!("pass --yes to take {name} down without a prompt"),
    )
}

fn mismatch(given: &str, name: &str) -> Error {
    Error::Refused {
        message: format!("--force-protected names `{given}`, but the environment is `{name}`"),
        help: Some(format!(
            "repeat the environment's name exactly: --force-protected {name}"
        )),
    }
}
