//! TEST STAND-IN for a Kubernetes API server (no cluster can run on the test machines).
//! It implements exactly what envctl's kube code uses, with real API shapes:
//! discovery (`/api/v1`, `/apis/GROUP/VERSION`), get/list (label and field selectors),
//! server-side apply (PATCH `application/apply-patch+yaml`), delete, pod logs, and
//! verifies the EKS bearer token as EKS does: its SigV4 signature re-computed by botocore
//! (verify_eks_token.py, not the crate that signed it) for the test credentials and a
//! cluster this server is, and its age (EKS accepts a token for 15 minutes). Tiny "controllers" give Deployments, Jobs and
//! Namespaces a status; a Deployment can be made stuck (a pod failing its readiness
//! probe) and a Job can be made to fail. Apply replaces the object's content (no
//! field-level merge): enough for one field manager, which is all envctl is.

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

/// One stored object: what was applied (to tell no-op applies) and the live object.
#[derive(Clone)]
struct Stored {
    applied: Value,
    live: Value,
}

/// Everything the server holds; tests read and steer it through [`KubeApi`].
#[derive(Default)]
pub struct Store {
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
}

/// A running stand-in API server on 127.0.0.1.
pub struct KubeApi {
    pub port: u16,
    pub store: Arc<Mutex<Store>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KubeApi {
    pub fn start() -> KubeApi {
        let store = Arc::new(Mutex::new(Store::default()));
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in API server");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(store.clone());
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
        KubeApi {
            port,
            store,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The live object, if any (`plural` like "deployments").
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .get(&(plural.to_string(), namespace.to_string(), name.to_string()))
            .map(|s| s.live.clone())
    }

    /// `(plural, namespace, name)` of every object.
    pub fn keys(&self) -> Vec<(String, String, String)> {
        self.store.lock().unwrap().objects.keys().cloned().collect()
    }

    /// Puts an object in as if someone had applied it earlier.
    pub fn seed(&self, plural: &str, object: Value) {
        let mut store = self.store.lock().unwrap();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        store.resource_version += 1;
        let mut live = object.clone();
        live["metadata"]["resourceVersion"] = store.resource_version.to_string().into();
        store.objects.insert(
            (plural.into(), namespace, name),
            Stored {
                applied: object,
                live,
            },
        );
    }

    /// Sets a field of a live object's status (e.g. an Ingress's load balancer).
    pub fn set_status(&self, plural: &str, namespace: &str, name: &str, status: Value) {
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
    pub fn install_controllers(&self, controllers: &Value) {
        for (_, c) in controllers.as_object().expect("controllers map") {
            {
                let mut store = self.store.lock().unwrap();
                for group in c["api_groups"].as_array().into_iter().flatten() {
                    store
                        .installed_groups
                        .insert(group.as_str().unwrap().to_string());
                }
            }
            for d in c["deployments"].as_array().into_iter().flatten() {
                let (ns, name) = d.as_str().unwrap().split_once('/').unwrap();
                self.seed("deployments", json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": { "name": name, "namespace": ns },
                    "spec": { "replicas": 1 },
                    "status": { "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1 }
                }));
            }
            for a in c["api_services"].as_array().into_iter().flatten() {
                self.seed(
                    "apiservices",
                    json!({
                        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                        "metadata": { "name": a.as_str().unwrap() },
                        "status": { "conditions": [{ "type": "Available", "status": "True" }] }
                    }),
                );
            }
            for class in c["ingress_classes"].as_array().into_iter().flatten() {
                self.seed(
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

    /// Removes an add-on's traces: its API groups stop being served and its
    /// Deployments, APIServices and IngressClasses go.
    pub fn uninstall_controller(&self, controller: &Value) {
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

    pub fn requests(&self) -> Vec<String> {
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
        "/tests/support/verify_eks_token.py"
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

fn matches_selectors(object: &Value, labels: Option<&String>, fields: Option<&String>) -> bool {
    for term in labels
        .map(|s| s.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let Some((k, v)) = term.split_once('=') else {
            continue;
        };
        if object["metadata"]["labels"][k].as_str() != Some(v) {
            return false;
        }
    }
    for term in fields
        .map(|s| s.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let Some((k, v)) = term.split_once('=') else {
            continue;
        };
        let mut at = object;
        for part in k.split('.') {
            at = &at[part];
        }
        if at.as_str() != Some(v) {
            return false;
        }
    }
    true
}

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
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
    if let Err(reason) = check_token(&mut store, &headers) {
        store.rejected_tokens += 1;
        store.last_token_error = Some(reason);
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        );
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
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|((plural, ns, _), _)| {
                    plural == r.plural && target.namespace.as_ref().is_none_or(|n| n == ns)
                })
                .map(|(_, s)| s.live.clone())
                .filter(|o| matches_selectors(o, q.get("labelSelector"), q.get("fieldSelector")))
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
            if q.get("fieldManager").map(String::as_str) != Some("envctl") {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "fieldManager is required for apply".into(),
                );
            }
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
            let key = (r.plural.to_string(), ns.clone(), name.clone());
            let previous = store.objects.get(&key).cloned();
            if let Some(prev) = &previous {
                if prev.applied == applied {
                    return axum::Json(prev.live.clone()).into_response();
                }
            }
            store.resource_version += 1;
            let rv = store.resource_version;
            let mut live = applied.clone();
            let generation = match &previous {
                Some(p) if p.applied["spec"] == applied["spec"] => {
                    p.live["metadata"]["generation"].as_i64().unwrap_or(1)
                }
                Some(p) => p.live["metadata"]["generation"].as_i64().unwrap_or(1) + 1,
                None => 1,
            };
            let meta = &mut live["metadata"];
            meta["resourceVersion"] = rv.to_string().into();
            meta["generation"] = generation.into();
            meta["uid"] = previous
                .as_ref()
                .map(|p| p.live["metadata"]["uid"].clone())
                .unwrap_or_else(|| format!("uid-{rv}").into());
            meta["creationTimestamp"] = "2026-11-21T13:00:00Z".into();
            if r.namespaced {
                meta["namespace"] = ns.clone().into();
            }
            if let Some(prev) = &previous {
                live["status"] = prev.live["status"].clone();
            }
            controllers(&mut store, r.kind, &ns, name, &mut live);
            store.objects.insert(
                key,
                Stored {
                    applied,
                    live: live.clone(),
                },
            );
            (
                if previous.is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
                axum::Json(live),
            )
                .into_response()
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
            live["spec"]["selector"] =
                json!({ "matchLabels": { "batch.kubernetes.io/controller-uid": uid } });
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
    store.objects.insert(
        (plural.into(), ns.into(), name.into()),
        Stored {
            applied: object,
            live,
        },
    );
}
