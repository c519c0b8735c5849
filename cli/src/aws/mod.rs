//! envctl's AWS side: SDK configuration, the Terraform state backend stack, and the
//! CloudWatch alarms and dashboard of an environment.

pub mod alarms;
pub mod dashboard;
pub mod sdk;
pub mod state_backend;

pub use alarms::{AlarmSpec, AlarmState, AlarmSync};
pub use sdk::Aws;
pub use state_backend::{BackendChange, StateBackend};
