//! Reaching an environment's EKS cluster: DescribeCluster for its endpoint and CA,
//! an EKS token, and a kube client (re-minted before the token's 15 minutes run out).

use std::time::{Duration, Instant};

use aws_sdk_eks::error::ProvideErrorMetadata;
use base64::Engine as _;
use serde::Serialize;

use super::token::eks_token;
use crate::aws::Aws;
use crate::{Error, Result};

/// Points envctl's Kubernetes calls at another API server than the EKS endpoint
/// (an `http://` or `https://` URL), e.g. a tunnel, a proxy, or the API server
/// the tests run. The EKS token is still sent; the cluster's CA is not used.
pub const KUBE_API_URL_ENV: &str = "ENVCTL_KUBE_API_URL";

// EKS tokens live 15 minutes; re-mint well before that.
const TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

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

/// A way to get a kube client for one cluster, with a fresh token when needed.
pub struct ClusterAccess {
    aws: Aws,
    pub info: ClusterInfo,
    pub api_url: String,
    client: Option<(kube::Client, Instant)>,
}

impl ClusterAccess {
    /// Describes the cluster and checks it is ACTIVE.
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
        let api_url = match std::env::var(KUBE_API_URL_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ => info.endpoint.clone().ok_or_else(|| Error::Kubernetes {
                operation: format!("reaching cluster {name}"),
                message: "DescribeCluster returned no endpoint".into(),
                help: None,
            })?,
        };
        Ok(ClusterAccess {
            aws: aws.clone(),
            info,
            api_url,
            client: None,
        })
    }

    /// A client with a token younger than ten minutes.
    pub async fn client(&mut self) -> Result<kube::Client> {
        if let Some((client, made)) = &self.client {
            if made.elapsed() < TOKEN_LIFETIME {
                return Ok(client.clone());
            }
        }
        let token = eks_token(&self.aws.sdk, &self.info.name, &self.aws.region).await?;
        let bad = |message: String| Error::Kubernetes {
            operation: format!("configuring the client for {}", self.api_url),
            message,
            help: None,
        };
        let mut config = kube::Config::new(
            self.api_url
                .parse()
                .map_err(|e| bad(format!("bad API URL: {e}")))?,
        );
        config.default_namespace = "default".into();
        config.connect_timeout = Some(Duration::from_secs(15));
        config.read_timeout = Some(Duration::from_secs(60));
        // The token goes through kube's own auth handling (marked sensitive, never logged).
        config.auth_info = serde_json::from_value(serde_json::json!({ "token": token }))
            .map_err(|e| bad(format!("token: {e}")))?;
        if std::env::var(KUBE_API_URL_ENV)
            .map(|u| u.is_empty())
            .unwrap_or(true)
        {
            if let Some(ca) = &self.info.certificate_authority {
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(ca.trim())
                    .map_err(|e| bad(format!("the cluster's CA is not base64: {e}")))?;
                config.root_cert = Some(pem_to_der(&pem).map_err(bad)?);
            }
        }
        // rustls has two crypto backends compiled in (ring and aws-lc-rs, via different
        // dependencies), so it cannot pick one itself; the first call wins, later ones are no-ops.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = kube::Client::try_from(config).map_err(|e| bad(e.to_string()))?;
        self.client = Some((client.clone(), Instant::now()));
        Ok(client)
    }
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
