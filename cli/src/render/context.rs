//! The values templates see: the merged profile plus the names and derived settings every
//! template needs (resource names, labels, the image reference, the runtime's environment).

use rates_contract::settings as rs;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::profile::{Capacity, Profile};

/// The Secret `envctl up` writes the webhook's signing secret into
/// (`RATES_WEBHOOK_SECRET`); rendered into the Deployments' `envFrom` only when the
/// profile has a `runtime.events.webhook_url`.
pub const EVENTS_SECRET: &str = "rates-events";

/// Names derived from a profile that several files must agree on.
#[derive(Debug, Clone)]
pub struct Names {
    pub queue: String,
    pub dlq: String,
    pub database: String,
    pub replicas: Vec<String>,
    pub migration_job: String,
    pub image: String,
}

impl Names {
    pub fn of(p: &Profile) -> Names {
        let prefix = p.resource_prefix();
        let image = image_ref(p);
        // A new image gets a new migration Job (Jobs are immutable once created).
        let digest = hex::encode(Sha256::digest(image.as_bytes()));
        Names {
            queue: format!("{prefix}-batches"),
            dlq: format!("{prefix}-batches-dlq"),
            database: format!("{prefix}-db"),
            replicas: (1..=p.database.read_replicas)
                .map(|i| format!("{prefix}-db-replica-{i}"))
                .collect(),
            migration_job: format!("rates-migrate-{}", &digest[..10]),
            image,
        }
    }
}

/// The Terraform output naming the environment's ECR repository; a rendered image without
/// a profile repository refers to it as `${image_repository_url}` and `envctl up` fills it in.
pub(super) const IMAGE_REPOSITORY_OUTPUT: &str = "image_repository_url";

/// The ECR repository the root reads its `image_repository_url` from:
/// `runtime.image.ecr_repository`, else `rates-<env>`.
pub fn ecr_repository(p: &Profile) -> String {
    match &p.runtime.image.ecr_repository {
        Some(r) => r.to_string(),
        None => p.resource_prefix(),
    }
}

/// `repository:tag`, or `repository@sha256:...` for digests. Without
/// `runtime.image.repository` the repository is the `${image_repository_url}` placeholder.
pub fn image_ref(p: &Profile) -> String {
    let image = &p.runtime.image;
    let sep = if image.tag.as_str().starts_with("sha256:") {
        "@"
    } else {
        ":"
    };
    let repository = match &image.repository {
        Some(r) => r.to_string(),
        None => format!("${{{IMAGE_REPOSITORY_OUTPUT}}}"),
    };
    format!("{repository}{sep}{}", image.tag)
}

/// `Environment=staging,Service=rates`: the runtime's RATES_METRICS_DIMENSIONS.
pub(super) fn dimensions_string(p: &Profile) -> String {
    p.metric_dimensions()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The runtime settings shared by every process (the `rates-config` ConfigMap), by the
/// contract's names, in a fixed order. Per-process settings (pool sizes) are set on each
/// Deployment.
pub fn runtime_config(p: &Profile) -> Vec<(String, String)> {
    let r = &p.runtime;
    [
        (rs::AWS_REGION, p.aws.region.to_string()),
        (rs::RATES_BIND, "0.0.0.0:8080".to_string()),
        (
            rs::RATES_DRAIN_TIMEOUT_SECS,
            r.drain_timeout_seconds.to_string(),
        ),
        (rs::RATES_LOG, r.log.to_string()),
        (rs::RATES_MAX_BATCH_BYTES, r.max_batch_bytes.to_string()),
        (rs::RATES_MAX_RANGE_DAYS, r.max_range_days.to_string()),
        (rs::RATES_METRICS_DIMENSIONS, dimensions_string(p)),
        (
            rs::RATES_METRICS_NAMESPACE,
            p.observability.metrics_namespace.clone(),
        ),
        (rs::RATES_MIGRATE_ON_START, "false".to_string()),
        (rs::RATES_PUBLIC_READS, r.api.public_reads.to_string()),
        (rs::RATES_QUEUE_BACKEND, "sqs".to_string()),
        (
            rs::RATES_RATE_LIMIT_BURST,
            r.api.rate_limit.burst.to_string(),
        ),
        (
            rs::RATES_RATE_LIMIT_PER_SECOND,
            r.api.rate_limit.per_second.to_string(),
        ),
        (rs::RATES_S3_DROP_PREFIX, p.storage.drop_prefix.clone()),
        (
            rs::RATES_WEBHOOK_MAX_ATTEMPTS,
            r.events.max_attempts.to_string(),
        ),
        (
            rs::RATES_WORKER_CONCURRENCY,
            r.worker.concurrency.to_string(),
        ),
    ]
    .into_iter()
    // The URL is no secret (its signing secret is; see EVENTS_SECRET).
    .chain(
        r.events
            .webhook_url
            .as_ref()
            .map(|url| (rs::RATES_WEBHOOK_URL, url.to_string())),
    )
    .map(|(k, v)| (k.name.to_string(), v))
    .collect()
}

/// The contract as templates see it: `contract.version`, `contract.settings` (each setting's
/// name keyed by its name in lower case), `contract.routes` (the probe paths), and per metric (keyed by its name
/// in snake case, `contract.metrics.api_requests`) its `name`, `unit` and its dimensions
/// with this environment's values, as alarms want them (`dimensions`: `[{Name, Value}]`)
/// and as dashboard rows want them (`dims_flat`: `[name, value, ...]`). Alarms and the
/// dashboard take metric and dimension names only from here.
pub(super) fn contract(p: &Profile) -> Value {
    let deployment = p.metric_dimensions();
    let names: Vec<&str> = deployment.keys().map(String::as_str).collect();
    let metrics: serde_json::Map<String, Value> = rates_contract::metrics::ALL
        .iter()
        .map(|m| {
            // A metric is sent with one dimension set today (the deployment's); an alarm
            // or a widget names one set, so templates get the first.
            let set = m.dimensions.sets(&names).remove(0);
            let dimensions: Vec<Value> = set
                .iter()
                .map(|d| json!({"Name": d, "Value": deployment[d]}))
                .collect();
            let dims_flat: Vec<&str> = set
                .iter()
                .flat_map(|d| [d.as_str(), deployment[d].as_str()])
                .collect();
            (
                snake_case(m.name),
                json!({
                    "name": m.name,
                    "unit": m.unit.as_str(),
                    "dimensions": dimensions,
                    "dims_flat": dims_flat,
                }),
            )
        })
        .collect();
    // `contract.settings.rates_db_pool_size` is "RATES_DB_POOL_SIZE": templates name the
    // runtime's environment variables only through here, and a key the contract does not
    // have fails the render (undefined values are errors).
    let settings: serde_json::Map<String, Value> = rs::ALL
        .iter()
        .map(|s| (s.name.to_ascii_lowercase(), Value::from(s.name)))
        .collect();
    // `contract.routes.readyz` is "/readyz" (the probes' paths).
    let routes: serde_json::Map<String, Value> = [
        ("healthz", rates_contract::routes::HEALTHZ),
        ("readyz", rates_contract::routes::READYZ),
    ]
    .into_iter()
    .map(|(key, route)| (key.to_string(), Value::from(route.path)))
    .collect();
    json!({
        "version": rates_contract::CONTRACT_VERSION,
        "metrics": metrics,
        "settings": settings,
        "routes": routes,
        "admin_token_var": rates_contract::tokens::ADMIN_TOKEN_VAR,
    })
}

/// `ApiRequests` -> `api_requests`, `Api5xxErrors` -> `api_5xx_errors`.
pub(super) fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in name.chars() {
        let boundary = match previous {
            None => false,
            Some(p) => {
                (c.is_ascii_uppercase() && !p.is_ascii_uppercase())
                    || (c.is_ascii_digit() && p.is_ascii_alphabetic())
            }
        };
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    out
}

/// The Kubernetes labels every object carries (the last one is the prune selector).
pub(super) fn common_labels(p: &Profile) -> Value {
    json!({
        "app.kubernetes.io/part-of": "rates",
        "app.kubernetes.io/managed-by": "envctl",
        "envctl.io/environment": p.name.as_str(),
    })
}

/// Everything a template may use.
pub(super) fn build(p: &Profile) -> Value {
    let names = Names::of(p);
    let node_groups: serde_json::Map<String, Value> = p
        .eks
        .node_groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                json!({
                    "capacity": g.capacity.as_str(),
                    "instance_types": g.instance_types,
                    "min": g.min,
                    "desired": g.desired,
                    "max": g.max,
                    "disk_gib": g.disk_gib,
                }),
            )
        })
        .collect();
    let config: Vec<Value> = runtime_config(p)
        .into_iter()
        .map(|(k, v)| json!([k, v]))
        .collect();
    json!({
        "p": p,
        "env": {
            "name": p.name.as_str(),
            "prefix": p.resource_prefix(),
            "namespace": p.namespace(),
            "cluster": p.cluster_name(),
            "alarm_prefix": p.alarm_prefix(),
            "dashboard": p.dashboard_name(),
            "state_key": p.state_key(),
            "region": p.aws.region.as_str(),
            "account_id": p.aws.account_id.as_ref().map(|a| a.as_str()),
            // None when runtime.image.repository names another registry.
            "ecr_repository": p.runtime.image.repository.is_none().then(|| ecr_repository(p)),
        },
        "tags": p.all_tags(),
        "labels": common_labels(p),
        "image": names.image,
        "names": {
            "queue": names.queue,
            "dlq": names.dlq,
            "database": names.database,
            "replicas": names.replicas,
            "migration_job": names.migration_job,
            "events_secret": p.runtime.events.webhook_url.is_some().then_some(EVENTS_SECRET),
        },
        "node_groups": node_groups,
        "prestop_seconds": PRESTOP_SECONDS,
        "has_spot": p.eks.node_groups.iter().any(|g| g.capacity == Capacity::Spot),
        "runtime_config": config,
        "metric_dimensions": p.metric_dimensions(),
        "metric_dimensions_string": dimensions_string(p),
        "contract": contract(p),
        "ingress_annotations": ingress_annotations(p),
        "api_host": p.api_host(),
        "edge": edge(p),
        "container_insights_log_groups": container_insights_log_groups(p),
        "emf": {
            "port": EMF_PORT,
            "log_group": emf_log_group(p),
        },
    })
}

/// The CloudWatch agent's Embedded Metric Format port (TCP and UDP) on every node.
pub(super) const EMF_PORT: u16 = 25888;

/// The log group the CloudWatch agent writes the runtime's EMF lines to (the runtime names
/// it in each line's `_aws.LogGroupName`); Terraform creates it with the others.
pub(super) fn emf_log_group(p: &Profile) -> String {
    format!("/aws/containerinsights/{}/rates-emf", p.cluster_name())
}

/// The ALB's TLS policy (AWS's recommended one for HTTPS listeners: TLS 1.3 and 1.2 with
/// forward-secret AEAD ciphers only, hybrid post-quantum key exchange where the client
/// offers it).
pub(super) const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";

/// Terraform outputs the Ingress reads (`envctl up` fills in `${NAME}`).
pub(super) const CERTIFICATE_OUTPUT: &str = "certificate_arn";
pub(super) const WEB_ACL_OUTPUT: &str = "web_acl_arn";

/// What the root's edge module and the external-dns add-on get: whether Terraform
/// requests the certificate, the WAF settings, and the zone external-dns writes to.
fn edge(p: &Profile) -> Value {
    let ingress = &p.runtime.ingress;
    let request_certificate = ingress.certificate_arn.is_none() && ingress.dns_zone.is_some();
    json!({
        "enabled": request_certificate || ingress.waf.enabled,
        "request_certificate": request_certificate,
        "dns_zone": ingress.dns_zone,
        "waf": ingress.waf.enabled,
        "waf_requests_per_5_minutes": ingress.waf.requests_per_5_minutes,
    })
}

/// Annotations of the api's Ingress for the AWS Load Balancer Controller.
fn ingress_annotations(p: &Profile) -> Value {
    let ingress = &p.runtime.ingress;
    let prefix = p.resource_prefix();
    let mut a = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        a.insert(format!("alb.ingress.kubernetes.io/{k}"), Value::String(v));
    };
    put("scheme", ingress.scheme.as_str().into());
    put("target-type", "ip".into());
    put(
        "healthcheck-path",
        rates_contract::routes::READYZ.path.into(),
    );
    put("healthcheck-interval-seconds", "10".into());
    put("healthy-threshold-count", "2".into());
    put("unhealthy-threshold-count", "2".into());
    // Long enough for a large batch upload on a slow link.
    put(
        "load-balancer-attributes",
        format!(
            "idle_timeout.timeout_seconds=300,routing.http.drop_invalid_header_fields.enabled=true,deletion_protection.enabled={}",
            p.protected
        ),
    );
    // Matches the api's preStop pause: targets leave before the pod starts draining.
    put(
        "target-group-attributes",
        format!("deregistration_delay.timeout_seconds={PRESTOP_SECONDS}"),
    );
    // Load balancer names are limited to 32 characters.
    put("load-balancer-name", load_balancer_name(&prefix));
    put(
        "tags",
        format!("Project=rates,Environment={},ManagedBy=envctl", p.name),
    );
    if ingress.tls() {
        // Port 80 only answers with a redirect to 443 (ssl-redirect), so a client that
        // starts in plain HTTP never sends its request, or its token, unencrypted twice.
        put("listen-ports", r#"[{"HTTP": 80}, {"HTTPS": 443}]"#.into());
        let certificate = match &ingress.certificate_arn {
            Some(arn) => arn.clone(),
            None => format!("${{{CERTIFICATE_OUTPUT}}}"),
        };
        put("certificate-arn", certificate);
        put("ssl-redirect", "443".into());
        put("ssl-policy", SSL_POLICY.into());
    } else {
        // Only an internal load balancer may listen without TLS (profile validation).
        put("listen-ports", r#"[{"HTTP": 80}]"#.into());
    }
    if ingress.waf.enabled {
        put("wafv2-acl-arn", format!("${{{WEB_ACL_OUTPUT}}}"));
    }
    Value::Object(a)
}

/// Seconds the api's preStop hook waits before SIGTERM.
pub(super) const PRESTOP_SECONDS: u32 = 15;

/// Log groups the CloudWatch Observability add-on writes to; Terraform creates them first
/// so they get the profile's retention and the environment's key.
pub(super) fn container_insights_log_groups(p: &Profile) -> Vec<String> {
    let mut groups: Vec<String> = ["application", "dataplane", "host", "performance"]
        .iter()
        .map(|g| format!("/aws/containerinsights/{}/{g}", p.cluster_name()))
        .collect();
    groups.push(emf_log_group(p));
    groups
}

/// The api's load balancer name: at most 32 characters, so long names keep a prefix and
/// end in a hash of the whole name (two review stacks never share a load balancer).
pub(super) fn load_balancer_name(prefix: &str) -> String {
    if prefix.len() <= 32 {
        return prefix.to_string();
    }
    let digest = hex::encode(Sha256::digest(prefix.as_bytes()));
    format!("{}-{}", prefix[..23].trim_end_matches('-'), &digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_balancer_names_fit_and_stay_distinct() {
        assert_eq!(load_balancer_name("rates-production"), "rates-production");
        let a = load_balancer_name("rates-review-pr42-feature-long-name-a");
        let b = load_balancer_name("rates-review-pr42-feature-long-name-b");
        assert!(a.len() <= 32 && b.len() <= 32 && a != b, "{a} {b}");
    }

    #[test]
    fn metric_keys_are_snake_case_and_distinct() {
        assert_eq!(snake_case("ApiRequests"), "api_requests");
        assert_eq!(snake_case("Api5xxErrors"), "api_5xx_errors");
        assert_eq!(snake_case("RowsPerSecond"), "rows_per_second");
        let keys: std::collections::BTreeSet<String> = rates_contract::metrics::ALL
            .iter()
            .map(|m| snake_case(m.name))
            .collect();
        assert_eq!(keys.len(), rates_contract::metrics::ALL.len());
    }
}
