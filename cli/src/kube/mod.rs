//! Reaching an environment's EKS cluster and deploying to it: the bearer token,
//! server-side apply with pruning, the migration Job, and rollout waiting that says
//! why a Deployment is stuck.

pub mod apply;
pub mod cluster;
pub mod compare;
pub mod diagnose;
pub mod objects;
pub mod preflight;
pub mod rollout;
pub mod token;

pub use apply::{Applier, ApplyReport};
pub use cluster::{ClusterAccess, ClusterInfo, KUBE_API_URL_ENV};
pub use objects::{ObjectKey, RenderedObject};
