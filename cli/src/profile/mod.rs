//! Environment profiles: `environments/NAME.yaml`, merged along their `extends:` chain,
//! typed, validated, and named. Everything envctl renders or deploys starts from a
//! [`Profile`].

mod document;
mod loader;
mod name;
mod review;
mod settings;
mod validate;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use document::{display_path, Node, NodeKind, Origin, PathSegment};
pub use name::{EnvironmentName, MAX_LEN as MAX_NAME_LEN};
pub use review::{ReviewSettings, Span};
pub use settings::*;
pub use values::{
    AccountId, Cidr, Cpu, DbInstanceClass, ImageRepository, ImageTag, InstanceType,
    KubernetesVersion, LogFilter, Memory, PostgresVersion, Region, RetentionDays, WebhookUrl,
    DB_FAMILIES, LOG_RETENTION_DAYS, NODE_FAMILIES,
};

use crate::Result;

/// The project's name, the first part of every resource name.
pub const PROJECT: &str = "rates";

/// A fully merged and validated environment profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: EnvironmentName,
    pub description: String,
    pub target: Target,
    /// Protected environments need a typed confirmation before destroys and `down`.
    pub protected: bool,
    pub aws: AwsSettings,
    pub network: NetworkSettings,
    pub eks: EksSettings,
    pub database: DatabaseSettings,
    pub queue: QueueSettings,
    pub storage: StorageSettings,
    pub runtime: RuntimeSettings,
    pub observability: ObservabilitySettings,
    pub alarms: AlarmSettings,
    /// The bake after every rollout (`up`) and how many releases are kept.
    pub deploy: DeploySettings,
    /// Tags put on every AWS resource (envctl adds Environment, Project and ManagedBy).
    pub tags: BTreeMap<String, String>,
    /// Review stacks' lifetime limits and warning (the review profile only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewSettings>,
    /// The profile files merged into this one, root of the `extends:` chain first.
    #[serde(skip)]
    pub sources: Vec<PathBuf>,
}

/// What a profile file may contain once `extends:` and `abstract:` are taken out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[serde(default)]
    description: String,
    target: Target,
    #[serde(default)]
    protected: bool,
    aws: AwsSettings,
    network: NetworkSettings,
    eks: EksSettings,
    database: DatabaseSettings,
    queue: QueueSettings,
    storage: StorageSettings,
    runtime: RuntimeSettings,
    observability: ObservabilitySettings,
    alarms: AlarmSettings,
    #[serde(default)]
    deploy: DeploySettings,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    review: Option<ReviewSettings>,
}

impl Profile {
    /// Loads `environments/NAME.yaml` under `root`, merges its `extends:` chain, and
    /// checks every value. Errors name the file, line and key.
    pub fn load(root: &Path, name: &str) -> Result<Profile> {
        loader::load(root, name)
    }

    /// The deployable environments (every profile not marked `abstract: true`), sorted.
    pub fn names(root: &Path) -> Result<Vec<String>> {
        loader::names(root)
    }

    /// A copy under another name with more tags (review stacks: `review` →
    /// `review-pr42-x`). Checks that still hold for the new name are not repeated.
    pub fn instance(
        mut self,
        name: EnvironmentName,
        extra_tags: BTreeMap<String, String>,
    ) -> Profile {
        self.name = name;
        self.tags.extend(extra_tags);
        self
    }

    /// The same environment in another region (the global `--region` flag): everything
    /// rendered from it (provider, backend, ConfigMap, alarms) and every AWS call agree.
    pub fn with_region(mut self, region: Region) -> Profile {
        self.aws.region = region;
        self
    }

    /// The same environment running another image tag (`up --image-tag`, e.g. the
    /// commit CI built): the manifests render that tag, nothing else changes.
    pub fn with_image_tag(mut self, tag: ImageTag) -> Profile {
        self.runtime.image.tag = tag;
        self
    }

    /// A review stack's copy of its template: without a `runtime.ingress.host` of its
    /// own, the api answers on `pr-<N>.<dns_zone>`, a name per pull request under the
    /// review zone (external-dns publishes it, the stack's certificate covers it).
    pub fn with_pull_request_host(mut self, pr: impl std::fmt::Display) -> Profile {
        let ingress = &mut self.runtime.ingress;
        if let (None, Some(zone)) = (&ingress.host, &ingress.dns_zone) {
            ingress.host = Some(format!("pr-{pr}.{zone}"));
        }
        self
    }

    /// The DNS name the api answers on: `runtime.ingress.host`, else
    /// `<environment>.<dns_zone>`, else none (any host).
    pub fn api_host(&self) -> Option<String> {
        let ingress = &self.runtime.ingress;
        match (&ingress.host, &ingress.dns_zone) {
            (Some(host), _) => Some(host.clone()),
            (None, Some(zone)) => Some(format!("{}.{zone}", self.name)),
            (None, None) => None,
        }
    }

    /// The stem of every AWS resource name, e.g. `rates-staging`.
    pub fn resource_prefix(&self) -> String {
        format!("{PROJECT}-{}", self.name)
    }

    /// The EKS cluster's name.
    pub fn cluster_name(&self) -> String {
        self.resource_prefix()
    }

    /// The Kubernetes namespace the runtime runs in.
    pub fn namespace(&self) -> String {
        self.resource_prefix()
    }

    /// Every alarm name starts with this, e.g. `rates-staging-`.
    pub fn alarm_prefix(&self) -> String {
        format!("{}-", self.resource_prefix())
    }

    /// The CloudWatch dashboard's name.
    pub fn dashboard_name(&self) -> String {
        self.resource_prefix()
    }

    /// The Terraform state object key in the state bucket.
    pub fn state_key(&self) -> String {
        format!("envs/{}/terraform.tfstate", self.name)
    }

    /// The tags of every AWS resource: the profile's, plus Project, Environment and ManagedBy.
    pub fn all_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert("Project".into(), PROJECT.into());
        tags.insert("Environment".into(), self.name.to_string());
        tags.insert("ManagedBy".into(), "envctl".into());
        tags
    }

    /// The CloudWatch dimensions of the runtime's EMF metrics: `Environment=<name>` plus
    /// the profile's `observability.metric_dimensions`.
    pub fn metric_dimensions(&self) -> BTreeMap<String, String> {
        let mut dims = self.observability.metric_dimensions.clone();
        dims.insert("Environment".into(), self.name.to_string());
        dims
    }

    /// Assembles a profile from a checked body.
    fn from_body(name: EnvironmentName, body: ProfileBody, sources: Vec<PathBuf>) -> Profile {
        Profile {
            name,
            description: body.description,
            target: body.target,
            protected: body.protected,
            aws: body.aws,
            network: body.network,
            eks: body.eks,
            database: body.database,
            queue: body.queue,
            storage: body.storage,
            runtime: body.runtime,
            observability: body.observability,
            alarms: body.alarms,
            deploy: body.deploy,
            tags: body.tags,
            review: body.review,
            sources,
        }
    }
}
