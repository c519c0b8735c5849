//! envctl's integration tests, one binary: the real envctl binary (and, for local
//! environments, the real rates binary) against a project copy, the moto server, the
//! terraform stand-in or real Terraform core, and the in-test Kubernetes API; plus the
//! library's rendering and profile checks. `support` is shared by every module.

mod support;

mod aws_bootstrap;
mod aws_deploy;
mod aws_drift;
mod aws_events;
mod aws_image_contract;
mod aws_protection;
mod aws_terraform;
mod aws_watch;
mod local_errors;
mod local_events;
mod local_rerun;
mod local_up;
mod migrations_forward;
mod render_cli;
mod render_edge;
mod render_errors;
mod render_events;
mod render_snapshots;
mod render_validation;
mod review_expiry;
mod review_gc;
mod review_help;
mod review_lifecycle;
mod review_names;
mod terraform_core;
