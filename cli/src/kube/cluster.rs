//! Reaching an environment's EKS cluster: DescribeCluster for its endpoint and CA,
//! an EKS token, and a kube client whose token is re-minted before its 15 minutes run out.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tower::util::MapRequestLayer;

use aws_sdk_eks::error::ProvideErrorMetadata;
use base64::Engine as _;
use serde::Serialize;

use super::token::eks_token;
use crate::aws::Aws;
use crate::{Error, Result};

/// For tests only (debug builds): points envctl's Kubernetes calls at another API
/// server than the EKS endpoint. The EKS token is still sent; the cluster's CA is not used.
pub const KUBE_API_URL_ENV: &str = crate::test_hooks::KUBE_API_URL;

// EKS accepts a token for 15 minutes; a new one every 5 means a request never carries
// one older than that, with room for a failed attempt or two.
const TOKEN_REFRESH: Duration = Duration::from_secs(5 * 60);

/// What DescribeCluster says about a cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterInfo {
    pub name: String,
    pub status: String,
    pub version: Option<String>,
    pub endpoint: Option<String>,
    #[serde(skip)]
    pub certificate_authority: Option<String>,
}

/// The cluster, or `None` when it does not exist.
pub async fn describe(aws: &Aws, name: &str) -> Result<Option<ClusterInfo>> {
    match aws.eks().describe_cluster().name(name).send().await {
        Ok(out) => {
            let Some(c) = out.cluster else {
                return Ok(None);
            };
            Ok(Some(ClusterInfo {
                name: name.to_string(),
                status: c
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "UNKNOWN".into()),
                version: c.version().map(str::to_string),
                endpoint: c.endpoint().map(str::to_string),
                certificate_authority: c
                    .certificate_authority()
                    .and_then(|ca| ca.data())
                    .map(str::to_string),
            }))
        }
        Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => Err(Error::aws(format!("eks:DescribeCluster {name}"))(err)),
    }
}

/// One cluster's kube client. Its EKS token is re-minted in the background every
/// [`TOKEN_REFRESH`] and put on each request as it leaves, so the same client works
/// however long `up` runs (a migration alone may wait 15 minutes, an EKS token's life).
pub struct ClusterAccess {
    pub info: ClusterInfo,
    pub api_url: String,
    client: kube::Client,
    refresher: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterAccess {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl ClusterAccess {
    /// Describes the cluster, checks it is ACTIVE, and makes its client.
    pub async fn connect(aws: &Aws, name: &str) -> Result<ClusterAccess> {
        let info = describe(aws, name)
            .await?
            .ok_or_else(|| Error::Kubernetes {
                operation: format!("reaching cluster {name}"),
                message: "the EKS cluster does not exist".into(),
                help: Some(
                    "run `envctl up ENV` to create it (Terraform creates the cluster)".into(),
                ),
            })?;
        if info.status != "ACTIVE" {
            return Err(Error::Kubernetes {
                operation: format!("reaching cluster {name}"),
                message: format!("the EKS cluster is {}, not ACTIVE", info.status),
                help: Some("wait for it to finish, then re-run the command".into()),
            });
        }
        let api_override = crate::test_hooks::var(crate::test_hooks::KUBE_API_URL);
        let api_url = match &api_override {
            Some(url) => url.clone(),
            None => info.endpoint.clone().ok_or_else(|| Error::Kubernetes {
                operation: format!("reaching cluster {name}"),
                message: "DescribeCluster returned no endpoint".into(),
                help: None,
            })?,
        };
        let token = eks_token(&aws.sdk, &info.name, &aws.region).await?;
        let token = Arc::new(RwLock::new(bearer(&token)?));
        let refresher = tokio::spawn(refresh_tokens(
            aws.clone(),
            info.name.clone(),
            token.clone(),
        ));
        let bad = |message: String| Error::Kubernetes {
            operation: format!("configuring the client for {api_url}"),
            message,
            help: None,
        };
        let mut config = kube::Config::new(
            api_url
                .parse()
                .map_err(|e| bad(format!("bad API URL: {e}")))?,
        );
        config.default_namespace = "default".into();
        config.connect_timeout = Some(Duration::from_secs(15));
        config.read_timeout = Some(Duration::from_secs(60));
        if api_override.is_none() {
            if let Some(ca) = &info.certificate_authority {
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(ca.trim())
                    .map_err(|e| bad(format!("the cluster's CA is not base64: {e}")))?;
                config.root_cert = Some(pem_to_der(&pem).map_err(bad)?);
            }
        }
        // rustls has two crypto backends compiled in (ring and aws-lc-rs, via different
        // dependencies), so it cannot pick one itself; the first call wins, later ones are no-ops.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let authorize =
            MapRequestLayer::new(move |mut request: http::Request<kube::client::Body>| {
                let value = token.read().map(|v| v.clone());
                if let Ok(value) = value {
                    request
                        .headers_mut()
                        .insert(http::header::AUTHORIZATION, value);
                }
                request
            });
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| bad(e.to_string()))?
            .with_layer(&authorize)
            .build();
        Ok(ClusterAccess {
            info,
            api_url,
            client,
            refresher,
        })
    }

    /// The cluster's client (cheap to clone; its token is always fresh).
    pub async fn client(&mut self) -> Result<kube::Client> {
        Ok(self.client.clone())
    }
}

/// Re-mints the token every [`TOKEN_REFRESH`]. A failure keeps the previous token
/// (still valid for a while) and tries again sooner.
async fn refresh_tokens(aws: Aws, cluster: String, token: Arc<RwLock<http::HeaderValue>>) {
    let every = crate::test_hooks::var(crate::test_hooks::EKS_TOKEN_REFRESH_MS)
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(TOKEN_REFRESH);
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        wait = match eks_token(&aws.sdk, &cluster, &aws.region)
            .await
            .and_then(|t| bearer(&t))
        {
            Ok(value) => {
                if let Ok(mut current) = token.write() {
                    *current = value;
                }
                every
            }
            Err(err) => {
                tracing::warn!(error = %err, "re-minting the EKS token failed; retrying");
                every.min(Duration::from_secs(30))
            }
        };
    }
}

/// The Authorization header for a token, marked sensitive so it is never logged.
fn bearer(token: &str) -> Result<http::HeaderValue> {
    let mut value =
        http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| Error::Kubernetes {
            operation: "making the EKS token header".into(),
            message: e.to_string(),
            help: None,
        })?;
    value.set_sensitive(true);
    Ok(value)
}

// The CA from DescribeCluster is a PEM bundle; kube wants DER certificates.
fn pem_to_der(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let text =
        std::str::from_utf8(pem).map_err(|e| format!("the cluster's CA is not PEM text: {e}"))?;
    let mut certs = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            current = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE-----") {
            let body = current.take().unwrap_or_default();
            certs.push(
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map_err(|e| format!("bad certificate in the cluster's CA: {e}"))?,
            );
        } else if let Some(body) = &mut current {
            body.push_str(line);
        }
    }
    if certs.is_empty() {
        return Err("the cluster's CA holds no certificate".into());
    }
    Ok(certs)
}
