//! The runtime's integration tests, as one test binary: the app assembled as
//! `rates serve` and `rates work` assemble it (startup::App), on private PostgreSQL
//! databases (pgrig), the moto server for SQS and S3, and the real `rates` binary
//! where a test needs a process (signals, crashes, the CLI).

mod support;

mod aggregates;
mod api;
mod app_role;
mod auth;
mod batch_api;
mod batch_crash;
mod batch_process;
mod batch_sqs;
mod cli;
mod emf_agent;
mod events;
mod integrity;
mod query;
mod query_memory;
mod shutdown;
