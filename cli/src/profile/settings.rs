//! The typed sections of a profile (network, eks, database, queue, storage, runtime,
//! observability, alarms). Every struct denies unknown keys; docs/profiles.md describes
//! each field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::{
    AccountId, Cidr, Cpu, DbInstanceClass, EcrRepositoryName, ImageRepository, ImageTag,
    InstanceType, KubernetesVersion, LogFilter, Memory, PostgresVersion, Region, RetentionDays,
    WebhookUrl,
};

/// Where an environment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// AWS: VPC, EKS, RDS, SQS, S3, CloudWatch.
    Aws,
    /// This machine: a private PostgreSQL cluster and the runtime's processes.
    Local,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Aws => "aws",
            Target::Local => "local",
        }
    }
}

/// The AWS account and region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The account the environment must be deployed to; envctl refuses other accounts.
    #[serde(default)]
    pub account_id: Option<AccountId>,
    pub region: Region,
}

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatLayout {
    /// One NAT gateway per availability zone (survives the loss of a zone).
    PerAz,
    /// One NAT gateway for the whole VPC (cheaper; a zone outage cuts egress).
    Single,
}

impl NatLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            NatLayout::PerAz => "per_az",
            NatLayout::Single => "single",
        }
    }
}

/// The VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    pub vpc_cidr: Cidr,
    pub az_count: u8,
    pub nat: NatLayout,
    /// Days to keep VPC flow logs.
    pub flow_log_retention_days: RetentionDays,
}

/// EC2 purchase option of a node group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capacity {
    OnDemand,
    Spot,
}

impl Capacity {
    pub fn as_str(self) -> &'static str {
        match self {
            Capacity::OnDemand => "on_demand",
            Capacity::Spot => "spot",
        }
    }
}

/// One EKS managed node group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    pub name: String,
    pub capacity: Capacity,
    pub instance_types: Vec<InstanceType>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub disk_gib: u32,
}

/// The EKS cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EksSettings {
    pub version: KubernetesVersion,
    /// Whether the API endpoint is reachable from outside the VPC (envctl applies
    /// manifests from CI runners), restricted to `public_access_cidrs`.
    pub endpoint_public_access: bool,
    pub public_access_cidrs: Vec<Cidr>,
    pub node_groups: Vec<NodeGroup>,
    /// Cluster administrators (EKS access entries with AmazonEKSClusterAdminPolicy): IAM
    /// role or user ARNs, or `role/NAME` / `user/NAME` in the environment's own account.
    /// List the deploy role and every principal that runs `envctl up`: the cluster's
    /// creator gets no implicit access.
    #[serde(default)]
    pub admin_principals: Vec<String>,
    /// Principals that may only read the cluster (EKS access entry with
    /// `AmazonEKSAdminViewPolicy`): the drift workflow's read-only role.
    #[serde(default)]
    pub view_principals: Vec<String>,
    /// Replicas of each cluster controller (load balancer controller, KEDA operator and
    /// metrics servers, metrics-server); 2 or more keeps them up through a node drain.
    pub controller_replicas: u32,
}

/// The PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub engine_version: PostgresVersion,
    pub instance_class: DbInstanceClass,
    pub allocated_storage_gib: u32,
    pub max_allocated_storage_gib: u32,
    pub multi_az: bool,
    pub read_replicas: u8,
    pub backup_retention_days: u8,
    pub deletion_protection: bool,
    pub performance_insights: bool,
    /// Enhanced monitoring interval (0 turns it off).
    pub monitoring_interval_seconds: u8,
    /// Queries slower than this are logged (-1: none).
    pub log_min_duration_ms: i32,
    /// Take a final snapshot when the database is destroyed.
    pub final_snapshot: bool,
}

/// The SQS batch queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub visibility_timeout_seconds: u32,
    pub message_retention_seconds: u32,
    pub dlq_max_receive_count: u32,
    pub dlq_retention_seconds: u32,
}

/// The S3 batch bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Staged payloads and dropped files are deleted after this many days.
    pub expire_after_days: u32,
    /// Overwritten or deleted object versions are kept this many days.
    pub noncurrent_version_expire_days: u32,
    /// Key prefix whose new objects are announced to the queue (object-store drops).
    pub drop_prefix: String,
    /// Let `down` delete a bucket that still holds objects.
    pub force_destroy: bool,
    /// The IAM roles allowed to drop objects under `drop_prefix` (`role/NAME` in the
    /// environment's account, or a role ARN, also of another account). The bucket policy
    /// denies `s3:PutObject` there to every other principal; none: drops are closed.
    #[serde(default)]
    pub producer_roles: Vec<String>,
}

/// A replica range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    pub min: u32,
    pub max: u32,
}

/// CPU and memory requests and limits of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cpu_request: Cpu,
    pub cpu_limit: Cpu,
    pub memory_request: Memory,
    pub memory_limit: Memory,
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pdb {
    pub enabled: bool,
    pub max_unavailable: u32,
}

/// The container image of the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Where the image is pulled from; none: the environment's own ECR repository (the
    /// Terraform output `image_repository_url`, filled in by `envctl up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<ImageRepository>,
    /// The ECR repository (a name in the environment's account) whose URL the rendered
    /// root reads when `repository` is unset; none: `rates-<env>`. The account setup
    /// (terraform/modules/github_oidc, `image_repositories`) creates it, because CI pushes
    /// an image before the environment's first `up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_repository: Option<EcrRepositoryName>,
    pub tag: ImageTag,
}

/// The api Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub replicas: Replicas,
    pub resources: Resources,
    /// HPA target: average CPU utilisation (percent of the request).
    pub target_cpu_percent: u8,
    pub pdb: Pdb,
    /// Spread replicas across availability zones (hard constraint) and nodes.
    pub spread_across_zones: bool,
    pub db_pool_size: u32,
    pub read_pool_size: u32,
    /// GET /rates and /rates_null without a token (`RATES_PUBLIC_READS`).
    pub public_reads: bool,
    /// Requests per client, enforced by each api replica.
    pub rate_limit: RateLimit,
}

/// A per-client rate limit: `per_second` on average, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// `RATES_RATE_LIMIT_PER_SECOND`; 0 turns the limit off.
    pub per_second: u32,
    /// `RATES_RATE_LIMIT_BURST`.
    pub burst: u32,
}

/// The worker Deployment (scaled by KEDA on queue depth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub replicas: Replicas,
    pub resources: Resources,
    /// Batches each worker process handles at once.
    pub concurrency: u32,
    /// KEDA target: visible queue messages per worker replica.
    pub messages_per_replica: u32,
    pub polling_interval_seconds: u32,
    pub cooldown_seconds: u32,
    pub pdb: Pdb,
    pub db_pool_size: u32,
}

/// Whether the load balancer faces the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IngressScheme {
    InternetFacing,
    Internal,
}

impl IngressScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            IngressScheme::InternetFacing => "internet-facing",
            IngressScheme::Internal => "internal",
        }
    }
}

/// The api's Ingress (AWS Load Balancer Controller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressSettings {
    /// `internet-facing` needs HTTPS (`dns_zone` or `certificate_arn`); `internal` is
    /// reachable only inside the VPC.
    pub scheme: IngressScheme,
    /// DNS name the api answers on. None with `dns_zone`: `<environment>.<dns_zone>`
    /// (review stacks: `pr-<N>.<dns_zone>`); none without: any host.
    #[serde(default)]
    pub host: Option<String>,
    /// A public Route 53 hosted zone (its name, e.g. `example.com`) that holds `host`:
    /// Terraform requests and DNS-validates the certificate there (unless
    /// `certificate_arn` is given) and external-dns keeps `host` pointing at the load
    /// balancer.
    #[serde(default)]
    pub dns_zone: Option<String>,
    /// An existing ACM certificate for `host`, in the environment's region (instead of
    /// one requested through `dns_zone`).
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The AWS WAF web ACL in front of the load balancer.
    pub waf: WafSettings,
}

impl IngressSettings {
    /// Whether the load balancer listens with TLS (a certificate is given or requested).
    pub fn tls(&self) -> bool {
        self.certificate_arn.is_some() || self.dns_zone.is_some()
    }
}

/// AWS WAF on the api's load balancer: AWS's managed rule groups and a per-client-IP
/// rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafSettings {
    pub enabled: bool,
    /// Requests one client IP may send in any 5 minutes; WAF blocks it above that.
    pub requests_per_5_minutes: u32,
}

/// The rates runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSettings {
    pub image: Image,
    pub api: ApiSettings,
    pub worker: WorkerSettings,
    /// How long a SIGTERM'd process may take to finish in-flight work.
    pub drain_timeout_seconds: u32,
    pub log: LogFilter,
    pub max_batch_bytes: u64,
    pub max_range_days: u32,
    pub ingress: IngressSettings,
    /// Where batch outcome events go besides the environment's SNS topic.
    pub events: EventSettings,
}

/// Batch outcome events: the webhook every target can post them to, and how often one
/// event is tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// `RATES_WEBHOOK_URL`; none: no webhook. Its signing secret is the environment's own
    /// (Secrets Manager `<name>/events/webhook-secret`, or `.envctl/local/webhook-secret`),
    /// made by `envctl up` unless one is already there.
    #[serde(default)]
    pub webhook_url: Option<WebhookUrl>,
    /// `RATES_WEBHOOK_MAX_ATTEMPTS`: deliveries of one event (webhook and SNS topic) before
    /// it is kept as given up.
    pub max_attempts: u32,
}

/// Logs and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservabilitySettings {
    pub log_retention_days: RetentionDays,
    /// CloudWatch namespace of the runtime's EMF metrics.
    pub metrics_namespace: String,
    /// Extra EMF dimensions; `Environment=<name>` is always added.
    pub metric_dimensions: BTreeMap<String, String>,
    /// E-mail addresses subscribed to the alarm topic.
    #[serde(default)]
    pub alarm_emails: Vec<String>,
}

/// Alarm thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSettings {
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub api_5xx_percent: f64,
    pub api_p99_latency_ms: f64,
    pub oldest_batch_age_seconds: u32,
    /// `events-undelivered`: the oldest batch outcome event waited longer than this.
    pub oldest_undelivered_event_seconds: u32,
    pub dlq_messages: u32,
    pub rejected_batches: u32,
    pub failed_batches: u32,
    pub database_cpu_percent: f64,
    pub database_free_storage_gib: u32,
    pub replica_lag_seconds: u32,
    pub min_nodes: u32,
}

/// How long metrics take to reach CloudWatch after the runtime emits them (EMF lines are
/// flushed per interval and delivered through the log pipeline): a bake shorter than the
/// rollback alarms' window plus this could end before an alarm can see the new release.
pub const METRIC_DELIVERY_DELAY: std::time::Duration = std::time::Duration::from_secs(120);

/// What `up` does after a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySettings {
    /// How long `up` watches a new release (its rollback alarms and the smoke test) before
    /// calling it good, e.g. `10m`; `0s` skips the bake. A bake that is not zero is at
    /// least the rollback alarms' evaluation window plus [`METRIC_DELIVERY_DELAY`].
    #[serde(with = "humantime_serde_compat")]
    pub bake: std::time::Duration,
    /// How many releases envctl keeps (history and rollback targets).
    #[serde(default = "default_keep_releases")]
    pub keep_releases: u32,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            bake: std::time::Duration::ZERO,
            keep_releases: default_keep_releases(),
        }
    }
}

fn default_keep_releases() -> u32 {
    20
}

/// `10m`, `90s`, `0s` (humantime) in YAML, and back.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        match &value {
            serde_yaml::Value::Number(n) if n.as_u64() == Some(0) => Ok(std::time::Duration::ZERO),
            serde_yaml::Value::String(s) => humantime::parse_duration(s).map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a duration ({e}); write it like 10m, 90s or 0s"
                ))
            }),
            _ => Err(serde::de::Error::custom(
                "not a duration; write it like 10m, 90s or 0s",
            )),
        }
    }
}
