//! envctl's AWS side: SDK configuration, the Terraform state backend stack, the
//! CloudWatch alarms and dashboard of an environment, and the contract version of the
//! image it deploys.

pub mod alarms;
pub mod dashboard;
pub mod image;
pub mod sdk;
pub mod state_backend;

pub use alarms::{AlarmSpec, AlarmState, AlarmSync};
pub use sdk::Aws;
pub use state_backend::{BackendChange, StateBackend};
