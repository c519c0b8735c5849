//! Environment variables the tests use to steer envctl (the clock, the Kubernetes API
//! address, token refresh timing, the bake's length). Only debug builds, which is what the tests run,
//! honour them: a release binary ignores them, so a variable left in a CI job cannot
//! move review-stack expiry or drop the pin on the cluster's CA.

/// `ENVCTL_NOW`: an RFC 3339 time used as "now" (review-stack expiry).
pub const NOW: &str = "ENVCTL_NOW";
/// `ENVCTL_KUBE_API_URL`: the API server to talk to instead of the EKS endpoint (the
/// in-test API server); the cluster's CA is then not used.
pub const KUBE_API_URL: &str = "ENVCTL_KUBE_API_URL";
/// `ENVCTL_EKS_TOKEN_REFRESH_MS`: how often the EKS token is re-minted.
pub const EKS_TOKEN_REFRESH_MS: &str = "ENVCTL_EKS_TOKEN_REFRESH_MS";

/// `ENVCTL_BAKE_MS`: the bake's length, replacing the profile's and its floor.
pub const BAKE_MS: &str = "ENVCTL_BAKE_MS";
/// `ENVCTL_BAKE_POLL_MS`: how often the bake looks at the alarms and the smoke test.
pub const BAKE_POLL_MS: &str = "ENVCTL_BAKE_POLL_MS";

/// The hook's value in a debug build when set and not empty; always `None` in a
/// release build.
pub fn var(name: &str) -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    } else {
        None
    }
}
