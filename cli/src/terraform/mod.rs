//! Terraform orchestration: find the binary, run init/plan/show/apply/output with
//! live output and Ctrl-C forwarding, and summarise saved plans.

pub mod binary;
pub mod display;
pub mod drift;
pub mod outputs;
pub mod plan;
pub mod runner;

pub use binary::{Terraform, TerraformVersion, MIN_VERSION};
pub use outputs::TerraformOutputs;
pub use plan::{PlanSummary, Replacement, TypeChanges};
pub use runner::{BackendConfig, Workspace};
