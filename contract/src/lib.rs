//! The contract between envctl and the rates runtime: every name both products must spell
//! the same way, written once.
//!
//! - [`settings`]: the environment variables the runtime reads (name, default, meaning);
//!   envctl writes the runtime's environment with these names.
//! - [`metrics`]: the CloudWatch metrics the runtime emits as EMF (name, unit, dimensions);
//!   envctl's alarms and dashboard read these names.
//! - [`BatchStatus`]: the statuses `GET /batches/{id}` reports.
//! - [`routes`]: the HTTP routes the runtime serves; envctl probes and calls them.
//! - [`scopes`]: what each route needs a client's token to carry; [`tokens`]: the text
//!   of a token, which envctl also makes.
//! - [`startup`]: the `listening` log line the runtime writes once it is bound; envctl
//!   reads the bound address from it.
//!
//! The crate has no dependencies and holds only constants, tables and trivial lookups, so
//! both products can link it without pulling anything in. The runtime reports
//! [`CONTRACT_VERSION`] on `GET /healthz`; its image carries it as
//! [`CONTRACT_VERSION_LABEL`].

pub mod metrics;
pub mod routes;
pub mod scopes;
pub mod settings;
pub mod startup;
pub mod tokens;

mod status;

pub use status::BatchStatus;

/// The version of this contract. Bump it whenever a name, default, unit, dimension, status
/// or route changes meaning or disappears, so a runtime and an envctl built from different
/// contracts can tell (the runtime reports it on `GET /healthz` as `contract_version`).
/// Adding a setting with a default or a new metric does not need a bump: older envctl
/// versions keep working with it.
///
/// Version 2: every API route needs a bearer token with its scope ([`scopes`]); a runtime
/// of version 1 would serve an environment rendered for version 2 without authentication.
pub const CONTRACT_VERSION: u32 = 2;
/// The key under which a runtime image carries the [`CONTRACT_VERSION`] it was built with:
/// an OCI label in the image's config (runtime/Dockerfile) and an annotation on its
/// manifest and index (.github/workflows/image.yml). envctl reads the annotation from ECR
/// before it deploys an image and refuses one built from another contract.
/// `cargo run -p rates-contract --example contract_version` prints the version to stamp.
pub const CONTRACT_VERSION_LABEL: &str = "io.envctl.rates.contract-version";
