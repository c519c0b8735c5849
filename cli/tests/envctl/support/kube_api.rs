//! TEST STAND-IN for a Kubernetes API server (no cluster can run on the test machines).
//! It implements what envctl's kube code uses, with real API shapes and the real API
//! server's rules where envctl depends on them:
//! - discovery (`/api/v1`, `/apis/GROUP/VERSION`); an add-on's kinds only once the add-on
//!   is installed ([`KubeApi::install_controllers`], from the rendered root's output);
//! - get/list with label selectors parsed like apimachinery's labels.Parse (set-based
//!   forms included; unparseable: 400) and field selectors limited to the kind's fields;
//! - server-side apply (PATCH `application/apply-patch+yaml`, kube_api/ssa.rs): built-in
//!   kinds checked against the Kubernetes 1.32 OpenAPI schema (PyPI kubernetes-validate's,
//!   kube_api/schema.rs) as the server's typed conversion does, field ownership per
//!   manager in `metadata.managedFields` (FieldsV1), merging by the schema's list and map
//!   types, removal of fields a manager stopped applying, 409 on conflicts unless
//!   `force=true`, and the immutable fields envctl meets (a Job's selector and template, a
//!   Deployment's selector, a Service's cluster IP, immutable ConfigMaps and Secrets);
//! - delete, pod logs;
//! - the EKS bearer token verified as EKS does: its SigV4 signature re-computed by
//!   botocore (verify_eks_token.py, not the crate that signed it) for the test
//!   credentials and a cluster this server is, and its age (EKS accepts a token for 15
//!   minutes).
//!
//! Tiny "controllers" give Deployments, Jobs and Namespaces a status; a Deployment can be
//! made stuck (a pod failing its readiness probe) and a Job can be made to fail.
//! Add-on kinds (custom resources) have no schema here: they merge like
//! structured-merge-diff's deduced type and are not validated.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

mod schema;
mod selector;
mod ssa;

use ssa::{FieldSet, Manager, Path, Pe};

struct Resource {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
}

const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "services",
        kind: "Service",
        namespaced: true,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "pods",
        kind: "Pod",
        namespaced: true,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
    },
    Resource {
        group: "apps",
        version: "v1",
        plural: "deployments",
        kind: "Deployment",
        namespaced: true,
    },
    Resource {
        group: "batch",
        version: "v1",
        plural: "jobs",
        kind: "Job",
        namespaced: true,
    },
    Resource {
        group: "autoscaling",
        version: "v2",
        plural: "horizontalpodautoscalers",
        kind: "HorizontalPodAutoscaler",
        namespaced: true,
    },
    Resource {
        group: "policy",
        version: "v1",
        plural: "poddisruptionbudgets",
        kind: "PodDisruptionBudget",
        namespaced: true,
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingresses",
        kind: "Ingress",
        namespaced: true,
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        plural: "networkpolicies",
        kind: "NetworkPolicy",
        namespaced: true,
    },
    Resource {
        group: "keda.sh",
        version: "v1alpha1",
        plural: "scaledobjects",
        kind: "ScaledObject",
        namespaced: true,
    },
    Resource {
        group: "keda.sh",
        version: "v1alpha1",
        plural: "triggerauthentications",
        kind: "TriggerAuthentication",
        namespaced: true,
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingressclasses",
        kind: "IngressClass",
        namespaced: false,
    },
    Resource {
        group: "apiregistration.k8s.io",
        version: "v1",
        plural: "apiservices",
        kind: "APIService",
        namespaced: false,
    },
    Resource {
        group: "elbv2.k8s.aws",
        version: "v1beta1",
        plural: "targetgroupbindings",
        kind: "TargetGroupBinding",
        namespaced: true,
    },
    Resource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        kind: "Role",
        namespaced: true,
    },
    Resource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
    },
];

/// API groups a plain EKS cluster does not serve: their kinds are CRDs that an add-on
/// installs, so they are served only after [`KubeApi::install_controllers`] installed
/// the add-on that owns the group.
const ADD_ON_GROUPS: &[&str] = &["keda.sh", "elbv2.k8s.aws"];

fn served(store: &Store, group: &str) -> bool {
    !ADD_ON_GROUPS.contains(&group) || store.installed_groups.contains(group)
}

/// One stored object: the live object, its field owners in `metadata.managedFields`.
#[derive(Clone)]
struct Stored {
    live: Value,
}

/// Everything the server holds; tests read and steer it through [`KubeApi`].
#[derive(Default)]
pub(crate) struct Store {
    objects: BTreeMap<(String, String, String), Stored>,
    resource_version: u64,
    /// "METHOD path?query" of every request, in order.
    pub requests: Vec<String>,
    /// Deployments that never become available (their pod fails its readiness probe); "*": all.
    pub stuck_deployments: BTreeSet<String>,
    /// Jobs that fail; "*": all.
    pub failing_jobs: BTreeSet<String>,
    /// Add-on API groups installed (see [`ADD_ON_GROUPS`]).
    pub installed_groups: BTreeSet<String>,
    /// Requests without a valid EKS token.
    pub rejected_tokens: usize,
    /// Why the last token was refused.
    pub last_token_error: Option<String>,
    /// The credentials and cluster names a token must be signed for.
    pub token_credentials: Option<(String, String, Option<String>)>,
    pub clusters: BTreeSet<String>,
    /// The oldest token accepted (EKS: 15 minutes).
    pub max_token_age: Option<std::time::Duration>,
    /// Tokens already verified (each is checked once).
    verified_tokens: BTreeSet<String>,
    /// Distinct tokens seen, in order.
    pub tokens_seen: Vec<String>,
    /// How long a Job runs before it completes or fails.
    pub job_duration: std::time::Duration,
    /// Jobs still running: (namespace, name) -> when they finish.
    running_jobs: BTreeMap<(String, String), std::time::Instant>,
    /// The bearer token of the tests' own requests ([`KubeApi::request`]): only this
    /// process knows it, so envctl cannot use it.
    test_token: String,
    /// Where the API server's service proxy sends a Service's requests: (namespace,
    /// name) -> "host:port" standing for its ready endpoints (the pods).
    pub service_endpoints: BTreeMap<(String, String), String>,
    /// Where the add-ons come from when real Terraform applies the root: asked at each
    /// request until it answers the `cluster_controllers` output's value from Terraform
    /// state, which is then installed ([`KubeApi::install_controllers`]) once.
    pub controllers_source: Option<ControllersSource>,
}

/// See [`Store::controllers_source`].
pub(crate) type ControllersSource = Box<dyn FnMut() -> Option<Value> + Send>;

/// A running stand-in API server on 127.0.0.1.
pub(crate) struct KubeApi {
    pub port: u16,
    pub store: Arc<Mutex<Store>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KubeApi {
    pub(crate) fn start() -> KubeApi {
        // Loaded once per test process; a missing package fails here, in the test.
        schema::get();
        let store = Arc::new(Mutex::new(Store {
            test_token: format!(
                "test-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ),
            ..Store::default()
        }));
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in API server");
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(handle).with_state(store.clone());
        let (tx, thread) = super::serve_in_background(listener, app);
        KubeApi {
            port,
            store,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The live object, if any (`plural` like "deployments").
    pub(crate) fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .get(&(plural.to_string(), namespace.to_string(), name.to_string()))
            .map(|s| s.live.clone())
    }

    /// `(plural, namespace, name)` of every object.
    pub(crate) fn keys(&self) -> Vec<(String, String, String)> {
        self.store.lock().unwrap().objects.keys().cloned().collect()
    }

    /// Puts an object in as if someone had applied it earlier.
    pub(crate) fn seed(&self, plural: &str, object: Value) {
        seed(&mut self.store.lock().unwrap(), plural, object);
    }

    /// A write by another field manager (an Update, as a controller or `kubectl edit`
    /// makes; `subresource` like "scale" for an autoscaler): `edit` changes the live
    /// object, and the manager then owns what it changed, taken from whoever owned it.
    pub(crate) fn update_as(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        manager: &str,
        subresource: Option<&str>,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut store = self.store.lock().unwrap();
        let key = (plural.to_string(), namespace.to_string(), name.to_string());
        let live = store
            .objects
            .get(&key)
            .unwrap_or_else(|| panic!("no {plural} {namespace}/{name} to update"))
            .live
            .clone();
        let r = RESOURCES.iter().find(|r| r.plural == plural).unwrap();
        let s = schema::get();
        let schema = s.kind(r.group, r.version, r.kind);
        let mut managers = ssa::managers_of(&live);
        let old = without_managed_fields(&live);
        let mut new = old.clone();
        edit(&mut new);
        let cmp = ssa::compare(
            &ssa::entries(s, &old, schema),
            &ssa::entries(s, &new, schema),
        );
        let taken: FieldSet = cmp.added.union(&cmp.modified).cloned().collect();
        let now = now();
        let mut found = false;
        for m in managers.iter_mut() {
            if m.same(manager, "Update", subresource) {
                found = true;
                m.set = m
                    .set
                    .difference(&cmp.removed)
                    .cloned()
                    .collect::<FieldSet>()
                    .union(&taken)
                    .filter(|p| !ignored_path(p))
                    .cloned()
                    .collect();
                m.time = now.clone();
            } else {
                m.set
                    .retain(|p| !taken.contains(p) && !cmp.removed.contains(p));
            }
        }
        if !found {
            managers.push(Manager {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version_of(r),
                subresource: subresource.map(str::to_string),
                time: now,
                set: taken.into_iter().filter(|p| !ignored_path(p)).collect(),
            });
        }
        managers.retain(|m| !m.set.is_empty());
        store.resource_version += 1;
        let rv = store.resource_version;
        if new["spec"] != old["spec"] {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = generation.into();
        }
        new["metadata"]["resourceVersion"] = rv.to_string().into();
        new["metadata"]["managedFields"] = ssa::managed_fields(&managers);
        store.objects.insert(key, Stored { live: new });
    }

    /// A request of the test itself (not envctl's), over HTTP like any client: returns
    /// the status code and the JSON answer. PATCH bodies go as server-side apply.
    pub(crate) fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url());
        let token = self.store.lock().unwrap().test_token.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::new();
            let mut req = client
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&token);
            if let Some(body) = body {
                let content_type = if method == "PATCH" {
                    "application/apply-patch+yaml"
                } else {
                    "application/json"
                };
                req = req
                    .header("content-type", content_type)
                    .body(body.to_string());
            }
            let resp = req
                .send()
                .await
                .expect("request to the stand-in API server");
            let code = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (
                code,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    /// Makes `address` ("host:port", plain HTTP) what Service `namespace/name`'s ready
    /// endpoints answer on, for the API server's service proxy.
    pub(crate) fn set_service_endpoints(&self, namespace: &str, name: &str, address: &str) {
        self.store
            .lock()
            .unwrap()
            .service_endpoints
            .insert((namespace.into(), name.into()), address.into());
    }

    /// Sets a field of a live object's status (e.g. an Ingress's load balancer).
    pub(crate) fn set_status(&self, plural: &str, namespace: &str, name: &str, status: Value) {
        let mut store = self.store.lock().unwrap();
        if let Some(stored) = store
            .objects
            .get_mut(&(plural.into(), namespace.into(), name.into()))
        {
            stored.live["status"] = status;
        }
    }

    /// What `terraform apply` of the add-ons leaves in a cluster, from the rendered
    /// root's `cluster_controllers` output (its value): each add-on's API groups served,
    /// its Deployments ready, its APIServices Available, its IngressClasses present.
    pub(crate) fn install_controllers(&self, controllers: &Value) {
        install_controllers(&mut self.store.lock().unwrap(), controllers);
    }

    /// Removes an add-on's traces: its API groups stop being served and its
    /// Deployments, APIServices and IngressClasses go.
    pub(crate) fn uninstall_controller(&self, controller: &Value) {
        let mut store = self.store.lock().unwrap();
        for group in controller["api_groups"].as_array().into_iter().flatten() {
            store.installed_groups.remove(group.as_str().unwrap());
        }
        let mut gone = Vec::new();
        for d in controller["deployments"].as_array().into_iter().flatten() {
            let (ns, name) = d.as_str().unwrap().split_once('/').unwrap();
            gone.push(("deployments".to_string(), ns.to_string(), name.to_string()));
        }
        for a in controller["api_services"].as_array().into_iter().flatten() {
            gone.push((
                "apiservices".into(),
                String::new(),
                a.as_str().unwrap().into(),
            ));
        }
        for c in controller["ingress_classes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            gone.push((
                "ingressclasses".into(),
                String::new(),
                c.as_str().unwrap().into(),
            ));
        }
        for key in gone {
            store.objects.remove(&key);
        }
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.store.lock().unwrap().requests.clone()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16()
        })),
    )
        .into_response()
}

/// Checks the request's EKS token: well formed, young enough, and signed (by botocore's
/// reckoning) with the test credentials for one of this server's clusters.
fn check_token(store: &mut Store, headers: &HeaderMap) -> Result<(), String> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no bearer token")?
        .to_string();
    if token == store.test_token {
        return Ok(());
    }
    let encoded = token
        .strip_prefix("k8s-aws-v1.")
        .ok_or("not an EKS token")?;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| format!("not base64url: {e}"))?;
    let url = String::from_utf8_lossy(&url).into_owned();
    let stamp = url
        .split('&')
        .find_map(|kv| kv.strip_prefix("X-Amz-Date="))
        .ok_or("no X-Amz-Date")?;
    let signed = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .map_err(|e| format!("bad X-Amz-Date: {e}"))?
        .and_utc();
    let age = (chrono::Utc::now() - signed).to_std().unwrap_or_default();
    let max_age = store
        .max_token_age
        .unwrap_or(std::time::Duration::from_secs(15 * 60));
    if age > max_age {
        return Err(format!("token expired: signed {age:?} ago"));
    }
    if !store.tokens_seen.contains(&token) {
        store.tokens_seen.push(token.clone());
    }
    if store.verified_tokens.contains(&token) {
        return Ok(());
    }
    let Some((key, secret, session)) = store.token_credentials.clone() else {
        return Err("the test server was given no credentials to verify tokens with".into());
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/envctl/support/verify_eks_token.py"
    );
    let mut last = String::from("no cluster to verify against");
    for cluster in &store.clusters {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(script).args([&token, cluster, &key, &secret]);
        if let Some(session) = &session {
            cmd.arg(session);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("running python3 {script}: {e}"))?;
        if out.status.success() {
            store.verified_tokens.insert(token);
            return Ok(());
        }
        last = format!("{cluster}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Err(last)
}

struct Target {
    resource: &'static Resource,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Discovery(String, String),
    Objects(Target),
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return Some(Route::Discovery(group.into(), version.into()));
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
        other => (None, other),
    };
    let resource = RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == rest[0])?;
    Some(Route::Objects(Target {
        resource,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
    }))
}

/// `/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/REST` -> (NS, NAME, /REST).
fn proxy_route(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (namespace, rest) = rest.split_once("/services/")?;
    let (service, rest) = rest.split_once("/proxy")?;
    let name = service.split(':').next().unwrap_or(service);
    let rest = if rest.is_empty() { "/" } else { rest };
    Some((namespace.to_string(), name.to_string(), rest.to_string()))
}

/// What the service's endpoints at `address` answer to GET `path`, passed on as the API
/// server passes a proxied answer on.
async fn proxy_get(address: &str, path: &str) -> Response {
    match reqwest::get(format!("http://{address}{path}")).await {
        Ok(resp) => {
            let code = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            (code, resp.bytes().await.unwrap_or_default()).into_response()
        }
        Err(e) => status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("error trying to reach service: {e}"),
        ),
    }
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// [`KubeApi::seed`] on a locked store.
fn seed(store: &mut Store, plural: &str, object: Value) {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    store.resource_version += 1;
    let mut live = object.clone();
    live["metadata"]["resourceVersion"] = store.resource_version.to_string().into();
    store
        .objects
        .insert((plural.into(), namespace, name), Stored { live });
}

/// [`KubeApi::install_controllers`] on a locked store.
fn install_controllers(store: &mut Store, controllers: &Value) {
    for (_, c) in controllers.as_object().expect("controllers map") {
        for group in c["api_groups"].as_array().into_iter().flatten() {
            store
                .installed_groups
                .insert(group.as_str().unwrap().to_string());
        }
        for d in c["deployments"].as_array().into_iter().flatten() {
            let (ns, name) = d.as_str().unwrap().split_once('/').unwrap();
            seed(
                store,
                "deployments",
                json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": { "name": name, "namespace": ns },
                    "spec": { "replicas": 1 },
                    "status": { "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1 }
                }),
            );
        }
        for a in c["api_services"].as_array().into_iter().flatten() {
            seed(
                store,
                "apiservices",
                json!({
                    "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                    "metadata": { "name": a.as_str().unwrap() },
                    "status": { "conditions": [{ "type": "Available", "status": "True" }] }
                }),
            );
        }
        for class in c["ingress_classes"].as_array().into_iter().flatten() {
            seed(
                store,
                "ingressclasses",
                json!({
                    "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                    "metadata": { "name": class.as_str().unwrap() },
                    "spec": { "controller": "ingress.k8s.aws/alb" }
                }),
            );
        }
    }
}

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some((namespace, service, rest)) = proxy_route(uri.path()) {
        return match proxy_target(&store, &method, &uri, &headers, namespace, service) {
            Ok(address) => proxy_get(&address, &rest).await,
            Err(refused) => *refused,
        };
    }
    handle_objects(&store, method, uri, headers, body)
}

/// The API server's service proxy (GET only, as envctl uses it): 404 without the
/// Service, 503 without ready endpoints, else the address the endpoints answer on.
fn proxy_target(
    store: &Mutex<Store>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    namespace: String,
    service: String,
) -> Result<String, Box<Response>> {
    let mut store = store.lock().unwrap();
    store.requests.push(format!("{method} {}", uri.path()));
    authenticate(&mut store, headers)?;
    if *method != Method::GET {
        return Err(Box::new(status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "GET only".into(),
        )));
    }
    if !store
        .objects
        .contains_key(&("services".into(), namespace.clone(), service.clone()))
    {
        return Err(Box::new(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("services \"{service}\" not found"),
        )));
    }
    store
        .service_endpoints
        .get(&(namespace, service.clone()))
        .cloned()
        .ok_or_else(|| {
            Box::new(status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("no endpoints available for service \"{service}\""),
            ))
        })
}

/// 401 for a request without a valid EKS token, recorded as the API server would log it.
fn authenticate(store: &mut Store, headers: &HeaderMap) -> Result<(), Box<Response>> {
    check_token(store, headers).map_err(|reason| {
        store.rejected_tokens += 1;
        store.last_token_error = Some(reason);
        Box::new(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        ))
    })
}

fn handle_objects(
    store: &Mutex<Store>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut store = store.lock().unwrap();
    store.requests.push(format!(
        "{method} {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    ));
    finish_jobs(&mut store);
    // Real Terraform applied the add-ons: install what its state says, once.
    if let Some(source) = store.controllers_source.as_mut() {
        if let Some(controllers) = source() {
            store.controllers_source = None;
            install_controllers(&mut store, &controllers);
        }
    }
    if let Err(refused) = authenticate(&mut store, &headers) {
        return *refused;
    }
    let Some(route) = route(uri.path()) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
        );
    };
    let target = match route {
        Route::Discovery(group, version) => {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == version && served(&store, r.group))
                .map(|r| {
                    json!({
                        "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]
                    })
                })
                .collect();
            if resources.is_empty() {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("no group version {group}/{version}"),
                );
            }
            let gv = if group.is_empty() {
                version
            } else {
                format!("{group}/{version}")
            };
            return axum::Json(json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources }))
                .into_response();
        }
        Route::Objects(target) => target,
    };
    if !served(&store, target.resource.group) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
        );
    }
    let r = target.resource;
    let api_version = if r.group.is_empty() {
        r.version.to_string()
    } else {
        format!("{}/{}", r.group, r.version)
    };
    let q = query(&uri);
    match (method, &target.name, target.sub.as_deref()) {
        (Method::GET, None, _) => {
            let labels = match selector::parse_labels(
                q.get("labelSelector").map(String::as_str).unwrap_or(""),
            ) {
                Ok(labels) => labels,
                Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", e),
            };
            let fields = match selector::parse_fields(
                q.get("fieldSelector").map(String::as_str).unwrap_or(""),
                r.kind,
            ) {
                Ok(fields) => fields,
                Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", e),
            };
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|((plural, ns, _), _)| {
                    plural == r.plural && target.namespace.as_ref().is_none_or(|n| n == ns)
                })
                .map(|(_, s)| s.live.clone())
                .filter(|o| {
                    selector::matches(&labels, &o["metadata"]["labels"])
                        && selector::fields_match(&fields, o)
                })
                .collect();
            axum::Json(json!({
                "kind": format!("{}List", r.kind), "apiVersion": api_version,
                "metadata": { "resourceVersion": store.resource_version.to_string() }, "items": items
            }))
            .into_response()
        }
        (Method::GET, Some(name), Some("log")) => {
            let ns = target.namespace.clone().unwrap_or_default();
            match store.objects.get(&("pods".into(), ns, name.clone())) {
                Some(pod) => pod.live["metadata"]["annotations"]["test/log"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
                    .into_response(),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("pods \"{name}\" not found"),
                ),
            }
        }
        (Method::GET, Some(name), None) => {
            let key = (
                r.plural.to_string(),
                target.namespace.clone().unwrap_or_default(),
                name.clone(),
            );
            match store.objects.get(&key) {
                Some(s) => axum::Json(s.live.clone()).into_response(),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{}.{} \"{name}\" not found", r.plural, r.group),
                ),
            }
        }
        (Method::PATCH, Some(name), None) => {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if content_type != "application/apply-patch+yaml" {
                return status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    format!("only server-side apply is served here, not {content_type}"),
                );
            }
            let Some(manager) = q.get("fieldManager").filter(|m| !m.is_empty()) else {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
                );
            };
            let force = match q.get("force").map(String::as_str) {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("force: invalid boolean {other:?}"),
                    )
                }
            };
            let Ok(applied) = serde_json::from_slice::<Value>(&body) else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "body is not JSON/YAML".into(),
                );
            };
            if applied["metadata"]["name"].as_str() != Some(name)
                || applied["kind"].as_str() != Some(r.kind)
            {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "name or kind does not match the URL".into(),
                );
            }
            let ns = if r.namespaced {
                target.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            };
            let manager = manager.clone();
            apply(&mut store, r, &ns, name, &manager, force, applied)
        }
        (Method::DELETE, Some(name), None) => {
            let ns = target.namespace.clone().unwrap_or_default();
            let key = (r.plural.to_string(), ns, name.clone());
            match store.objects.remove(&key) {
                Some(s) => {
                    if r.kind == "Namespace" {
                        store.objects.retain(|(_, ns, _), _| ns != name);
                    }
                    axum::Json(s.live).into_response()
                }
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{} \"{name}\" not found", r.plural),
                ),
            }
        }
        (method, _, _) => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} is not served here"),
        ),
    }
}

fn api_version_of(r: &Resource) -> String {
    if r.group.is_empty() {
        r.version.to_string()
    } else {
        format!("{}/{}", r.group, r.version)
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    object
}

/// Fields no manager owns: identity and what the server sets (fieldmanager's stripMeta),
/// and status, which the main resource resets (it has its own subresource).
fn ignored_path(path: &Path) -> bool {
    let field = |i: usize| match path.get(i) {
        Some(Pe::Field(f)) => f.as_str(),
        _ => "",
    };
    match field(0) {
        "apiVersion" | "kind" | "status" => true,
        "metadata" => matches!(
            field(1),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "selfLink"
                | "deletionTimestamp"
        ),
        _ => false,
    }
}

/// `Kind.group` as the API server names a kind in its messages.
fn qualified_kind(r: &Resource) -> String {
    if r.group.is_empty() {
        r.kind.to_string()
    } else {
        format!("{}.{}", r.kind, r.group)
    }
}

/// 422 Invalid with the API server's aggregated message (`[a, b]` for several errors).
fn invalid(r: &Resource, name: &str, errors: Vec<(String, String)>) -> Response {
    let messages: Vec<String> = errors.iter().map(|(_, m)| m.clone()).collect();
    let message = if messages.len() == 1 {
        messages[0].clone()
    } else {
        format!("[{}]", messages.join(", "))
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|(field, m)| json!({ "reason": "FieldValueInvalid", "message": m, "field": field }))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{} {name:?} is invalid: {message}", qualified_kind(r)),
            "reason": "Invalid",
            "details": { "name": name, "group": r.group, "kind": r.kind, "causes": causes },
            "code": 422
        })),
    )
        .into_response()
}

/// What the server fills in on a write (its defaulting and the create strategies that
/// envctl's later applies meet): a Deployment's replicas, a Service's cluster IP, a Job's
/// generated selector and the labels it puts on the Job's pods.
fn defaults(kind: &str, name: &str, uid: &str, rv: u64, created: bool, object: &mut Value) {
    match kind {
        "Deployment" if object["spec"]["replicas"].is_null() => {
            object["spec"]["replicas"] = 1.into();
        }
        "Service" if created => {
            let spec = &mut object["spec"];
            if spec["type"] != "ExternalName" && spec["clusterIP"].as_str().unwrap_or("").is_empty()
            {
                let ip = format!("10.100.{}.{}", (rv / 250) % 250, rv % 250 + 1);
                spec["clusterIP"] = ip.clone().into();
                spec["clusterIPs"] = json!([ip]);
            } else if spec["clusterIPs"].is_null() && spec["clusterIP"].is_string() {
                spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
            }
        }
        "Job" if created && object["spec"]["manualSelector"] != true => {
            let labels = &mut object["spec"]["template"]["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", uid),
                ("batch.kubernetes.io/job-name", name),
                ("controller-uid", uid),
                ("job-name", name),
            ] {
                labels[k] = v.into();
            }
            object["spec"]["selector"] =
                json!({ "matchLabels": { "batch.kubernetes.io/controller-uid": uid } });
        }
        _ => {}
    }
}

/// The update validation of the fields envctl's objects have that cannot change
/// (apps/batch/core validation's messages).
fn immutable_errors(kind: &str, old: &Value, new: &Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let immutable = |errors: &mut Vec<(String, String)>, field: &str, go_type: &str| {
        let path: Vec<&str> = field.split('.').collect();
        let (mut a, mut b) = (old, new);
        for p in &path {
            a = &a[*p];
            b = &b[*p];
        }
        if a != b {
            errors.push((
                field.to_string(),
                format!("{field}: Invalid value: {go_type}{{...}}: field is immutable"),
            ));
        }
    };
    match kind {
        "Job" => {
            immutable(&mut errors, "spec.selector", "v1.LabelSelector");
            immutable(&mut errors, "spec.template", "core.PodTemplateSpec");
        }
        "Deployment" => immutable(&mut errors, "spec.selector", "v1.LabelSelector"),
        "Service" => {
            let before = old["spec"]["clusterIP"].as_str().unwrap_or("");
            let after = new["spec"]["clusterIP"].as_str().unwrap_or("");
            if !before.is_empty() && before != after {
                errors.push((
                    "spec.clusterIPs[0]".into(),
                    format!(
                        "spec.clusterIPs[0]: Invalid value: []string{{{after:?}}}: may not change once set"
                    ),
                ));
            }
        }
        "ConfigMap" | "Secret" => {
            if kind == "Secret" && old["type"] != new["type"] && !old["type"].is_null() {
                errors.push((
                    "type".into(),
                    format!("type: Invalid value: {}: field is immutable", new["type"]),
                ));
            }
            if old["immutable"] == true {
                let forbidden = "Forbidden: field is immutable when `immutable` is set";
                if new["immutable"] != true {
                    errors.push(("immutable".into(), format!("immutable: {forbidden}")));
                }
                for field in ["data", "binaryData"] {
                    let empty =
                        |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
                    if old[field] != new[field] && !(empty(&old[field]) && empty(&new[field])) {
                        errors.push((field.into(), format!("{field}: {forbidden}")));
                    }
                }
            }
        }
        _ => {}
    }
    errors
}

/// Server-side apply of `applied` by `manager` (structured-merge-diff's Apply, then the
/// kind's update validation), answering as the API server does.
fn apply(
    store: &mut Store,
    r: &'static Resource,
    ns: &str,
    name: &str,
    manager: &str,
    force: bool,
    applied: Value,
) -> Response {
    let s = schema::get();
    let schema = s.kind(r.group, r.version, r.kind);
    let api_version = api_version_of(r);
    if let Some(schema) = schema {
        // The typed conversion of the patch: what the server answers (a 500 without a
        // reason, kubernetes/kubernetes#122480) for unknown fields and wrong types.
        let errors = ssa::type_errors(s, &applied, schema);
        if !errors.is_empty() {
            let detail = if errors.len() == 1 {
                errors[0].clone()
            } else {
                format!("errors:\n  {}", errors.join("\n  "))
            };
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!(
                        "failed to create typed patch object ({ns}/{name}; {}/{}, Kind={}): {detail}",
                        r.group, r.version, r.kind
                    ),
                    "code": 500
                })),
            )
                .into_response();
        }
    }
    if r.namespaced
        && !store
            .objects
            .contains_key(&("namespaces".into(), String::new(), ns.to_string()))
    {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("namespaces {ns:?} not found"),
        );
    }
    let key = (r.plural.to_string(), ns.to_string(), name.to_string());
    let previous = store.objects.get(&key).map(|s| s.live.clone());
    let created = previous.is_none();
    let old = match &previous {
        Some(live) => without_managed_fields(live),
        None => {
            let mut fresh =
                json!({ "apiVersion": api_version, "kind": r.kind, "metadata": { "name": name } });
            if r.namespaced {
                fresh["metadata"]["namespace"] = ns.into();
            }
            fresh
        }
    };
    let mut managers = previous.as_ref().map(ssa::managers_of).unwrap_or_default();
    let before: Vec<(String, FieldSet)> = managers
        .iter()
        .map(|m| (m.manager.clone(), m.set.clone()))
        .collect();

    // The configuration: status is not the main resource's to set.
    let mut config = applied;
    if let Some(obj) = config.as_object_mut() {
        obj.remove("status");
    }
    if r.namespaced {
        config["metadata"]["namespace"] = ns.into();
    }
    let mut merged = ssa::merge(s, &old, &config, schema);
    let new_set: FieldSet = ssa::entries(s, &config, schema)
        .into_keys()
        .filter(|p| !ignored_path(p))
        .collect();
    let last_set = match managers.iter_mut().find(|m| m.same(manager, "Apply", None)) {
        Some(m) => std::mem::replace(&mut m.set, new_set.clone()),
        None => {
            managers.push(Manager {
                manager: manager.to_string(),
                operation: "Apply".into(),
                api_version: api_version.clone(),
                subresource: None,
                time: now(),
                set: new_set.clone(),
            });
            FieldSet::new()
        }
    };
    // Fields this manager applied before and no longer does go, unless someone owns them.
    let owned: FieldSet = managers
        .iter()
        .flat_map(|m| m.set.iter().cloned())
        .collect();
    for path in last_set.difference(&new_set) {
        if !ssa::owns_within(&owned, path) {
            ssa::remove(s, &mut merged, schema, path);
        }
    }
    store.resource_version += 1;
    let rv = store.resource_version;
    let uid = old["metadata"]["uid"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("uid-{rv}"));
    defaults(r.kind, name, &uid, rv, created, &mut merged);

    // Conflicts: fields another manager owns that this apply changes.
    let cmp = ssa::compare(
        &ssa::entries(s, &old, schema),
        &ssa::entries(s, &merged, schema),
    );
    let changed: FieldSet = cmp.added.union(&cmp.modified).cloned().collect();
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for m in managers.iter_mut() {
        if m.same(manager, "Apply", None) {
            continue;
        }
        let lost: FieldSet = m.set.intersection(&changed).cloned().collect();
        for path in &lost {
            conflicts.push((m.describe(), ssa::path_string(path)));
        }
        m.set
            .retain(|p| !lost.contains(p) && !cmp.removed.contains(p));
    }
    if !conflicts.is_empty() && !force {
        store.resource_version -= 1;
        return conflict(r, name, &conflicts);
    }
    managers.retain(|m| !m.set.is_empty());

    if let Some(prev) = &previous {
        let errors = immutable_errors(r.kind, prev, &merged);
        if !errors.is_empty() {
            store.resource_version -= 1;
            return invalid(r, name, errors);
        }
    }
    if let Some(schema) = schema {
        let missing = ssa::missing_required(s, &merged, schema);
        if !missing.is_empty() {
            store.resource_version -= 1;
            let errors = missing
                .into_iter()
                .map(|m| (m.split(':').next().unwrap_or_default().to_string(), m))
                .collect();
            return invalid(r, name, errors);
        }
    }
    let after: Vec<(String, FieldSet)> = managers
        .iter()
        .map(|m| (m.manager.clone(), m.set.clone()))
        .collect();
    if let Some(prev) = &previous {
        if merged == old && after == before {
            // Nothing changed: no write, the same resourceVersion.
            store.resource_version -= 1;
            return axum::Json(prev.clone()).into_response();
        }
    }
    let now = now();
    for m in managers.iter_mut() {
        if !before
            .iter()
            .any(|(n, set)| n == &m.manager && set == &m.set)
        {
            m.time = now.clone();
        }
    }
    let generation = match &previous {
        Some(_) if old["spec"] == merged["spec"] => {
            old["metadata"]["generation"].as_i64().unwrap_or(1)
        }
        Some(_) => old["metadata"]["generation"].as_i64().unwrap_or(1) + 1,
        None => 1,
    };
    let mut live = merged;
    let meta = &mut live["metadata"];
    meta["resourceVersion"] = rv.to_string().into();
    meta["generation"] = generation.into();
    meta["uid"] = uid.into();
    if created {
        meta["creationTimestamp"] = now.into();
    }
    meta["managedFields"] = ssa::managed_fields(&managers);
    controllers(store, r.kind, ns, name, &mut live);
    store.objects.insert(key, Stored { live: live.clone() });
    (
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(live),
    )
        .into_response()
}

/// 409 Conflict, worded like the API server's (fieldmanager's NewConflictError).
fn conflict(r: &Resource, name: &str, conflicts: &[(String, String)]) -> Response {
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].0, conflicts[0].1
        )
    } else {
        let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (m, p) in conflicts {
            by_manager.entry(m).or_default().push(p);
        }
        let mut lines = Vec::new();
        for (m, paths) in by_manager {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(paths.iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({ "reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p }))
        .collect();
    (
        StatusCode::CONFLICT,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": "Conflict",
            "details": { "name": name, "group": r.group, "kind": r.plural, "causes": causes },
            "code": 409
        })),
    )
        .into_response()
}

/// What the cluster's controllers would do right after an apply.
fn controllers(store: &mut Store, kind: &str, ns: &str, name: &str, live: &mut Value) {
    match kind {
        "Namespace" => live["status"] = json!({ "phase": "Active" }),
        "Secret" => {
            if let Some(data) = live.get("stringData").cloned() {
                let encoded: serde_json::Map<String, Value> = data
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            base64::engine::general_purpose::STANDARD
                                .encode(v.as_str().unwrap_or_default())
                                .into(),
                        )
                    })
                    .collect();
                live["data"] = Value::Object(encoded);
                live.as_object_mut().unwrap().remove("stringData");
            }
        }
        "Deployment" => {
            let replicas = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let generation = live["metadata"]["generation"].clone();
            let labels = live["spec"]["selector"]["matchLabels"].clone();
            if store.stuck_deployments.contains(name) || store.stuck_deployments.contains("*") {
                live["status"] = json!({
                    "observedGeneration": generation, "replicas": replicas, "updatedReplicas": 1,
                    "readyReplicas": 0, "availableReplicas": 0, "unavailableReplicas": replicas,
                    "conditions": [{ "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated" }]
                });
                let pod = format!("{name}-7c9d8f6b5-x2k4q");
                let now = "2026-11-21T13:00:00Z";
                store_object(
                    store,
                    "pods",
                    ns,
                    &pod,
                    json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": { "name": pod, "namespace": ns, "labels": labels },
                        "status": {
                            "phase": "Running",
                            "conditions": [{ "type": "Ready", "status": "False", "reason": "ContainersNotReady" }],
                            "containerStatuses": [{
                                "name": name, "ready": false, "restartCount": 0, "image": "rates:test", "imageID": "",
                                "state": { "running": { "startedAt": now } }
                            }]
                        }
                    }),
                );
                store_object(
                    store,
                    "events",
                    ns,
                    &format!("{pod}.17a1b2c3"),
                    json!({
                        "apiVersion": "v1", "kind": "Event",
                        "metadata": { "name": format!("{pod}.17a1b2c3"), "namespace": ns },
                        "involvedObject": { "kind": "Pod", "name": pod, "namespace": ns },
                        "type": "Warning", "reason": "Unhealthy", "count": 9, "lastTimestamp": now,
                        "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"
                    }),
                );
            } else {
                live["status"] = json!({
                    "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas,
                    "conditions": [
                        { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable" },
                        { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" }
                    ]
                });
            }
        }
        "Job" => {
            if !store.job_duration.is_zero() {
                live["status"] = json!({ "active": 1 });
                let done = std::time::Instant::now() + store.job_duration;
                store
                    .running_jobs
                    .insert((ns.to_string(), name.to_string()), done);
                return;
            }
            complete_job(store, ns, name, live);
        }
        _ => {}
    }
}

/// Jobs whose run time is up complete (or fail) now.
fn finish_jobs(store: &mut Store) {
    let now = std::time::Instant::now();
    let due: Vec<(String, String)> = store
        .running_jobs
        .iter()
        .filter(|(_, at)| **at <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for (ns, name) in due {
        store.running_jobs.remove(&(ns.clone(), name.clone()));
        let key = ("jobs".to_string(), ns.clone(), name.clone());
        if let Some(mut stored) = store.objects.get(&key).cloned() {
            complete_job(store, &ns, &name, &mut stored.live);
            store.objects.insert(key, stored);
        }
    }
}

/// What the Job controller does when a Job's pod ends.
fn complete_job(store: &mut Store, ns: &str, name: &str, live: &mut Value) {
    {
        {
            let uid = live["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let pod = format!("{name}-abcde");
            let failing = store.failing_jobs.contains(name) || store.failing_jobs.contains("*");
            store_object(
                store,
                "pods",
                ns,
                &pod,
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {
                        "name": pod, "namespace": ns,
                        "labels": { "batch.kubernetes.io/controller-uid": uid, "job-name": name },
                        "annotations": { "test/log": if failing {
                            "applying migration 0004_rates_daily\nerror: relation \"rates_daily\" already exists\n"
                        } else {
                            "applying migration 0004_rates_daily\nmigrations up to date\n"
                        } }
                    },
                    "status": { "phase": if failing { "Failed" } else { "Succeeded" } }
                }),
            );
            live["status"] = if failing {
                json!({ "failed": 1, "conditions": [{
                    "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit"
                }] })
            } else {
                json!({ "succeeded": 1, "conditions": [{ "type": "Complete", "status": "True" }] })
            };
        }
    }
}

fn store_object(store: &mut Store, plural: &str, ns: &str, name: &str, object: Value) {
    store.resource_version += 1;
    let mut live = object.clone();
    live["metadata"]["resourceVersion"] = store.resource_version.to_string().into();
    store
        .objects
        .insert((plural.into(), ns.into(), name.into()), Stored { live });
}
