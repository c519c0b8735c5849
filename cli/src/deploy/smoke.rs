//! The smoke test's probes: `GET /readyz` through each way in to the api that an Ingress
//! makes. An internet-facing load balancer is reached at its own address with the public
//! name for TLS (SNI, certificate) and `Host`, so a first deploy is checked before
//! external-dns has published the name and resolvers have it. An internal load balancer
//! answers only inside the VPC, where envctl often is not (a GitHub-hosted runner, a
//! laptop); it is checked through the cluster API server's proxy to the Ingress's
//! backend Service, which reaches the same pods wherever envctl reaches the cluster.

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};

use crate::kube::apply::kube_error;
use crate::Result;

/// The api's readiness route (rates-contract).
const READY: &str = rates_contract::routes::READYZ.path;

/// One way in to the api, and how to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// What the users' requests go to: `https://<host>`.
    pub endpoint: String,
    /// `endpoint`'s readiness URL.
    pub url: String,
    via: Via,
}

#[derive(Debug, Clone, PartialEq)]
enum Via {
    /// The load balancer at `address` (its DNS name), asked for `url`'s host.
    LoadBalancer { address: String },
    /// The API server's proxy to Service `name`, port `port`, in `namespace`.
    ServiceProxy {
        namespace: String,
        name: String,
        port: String,
    },
}

impl Probe {
    /// `url`, and how it is reached when that is not simply the URL.
    pub fn describe(&self) -> String {
        match &self.via {
            Via::LoadBalancer { address } if !self.url.contains(address.as_str()) => {
                format!("{} (at load balancer {address})", self.url)
            }
            Via::LoadBalancer { .. } => self.url.clone(),
            Via::ServiceProxy {
                namespace,
                name,
                port,
            } => format!(
                "{} (internal load balancer: through the cluster API's proxy to service {namespace}/{name}:{port})",
                self.url
            ),
        }
    }

    /// One check: the answer's status when 2xx, else what went wrong.
    pub async fn check(&self, kube: &kube::Client) -> std::result::Result<String, String> {
        match &self.via {
            Via::LoadBalancer { address } => self.through_load_balancer(address).await,
            Via::ServiceProxy {
                namespace,
                name,
                port,
            } => {
                let path =
                    format!("/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy{READY}");
                let request = http::Request::get(&path)
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?;
                match tokio::time::timeout(Duration::from_secs(5), kube.request_text(request)).await
                {
                    Err(_) => Err("no answer within 5s".into()),
                    Ok(Ok(_)) => Ok("200 OK".into()),
                    Ok(Err(kube::Error::Api(e))) => Err(format!("{} {}", e.code, e.message)),
                    Ok(Err(e)) => Err(e.to_string()),
                }
            }
        }
    }

    async fn through_load_balancer(&self, address: &str) -> std::result::Result<String, String> {
        let parsed = reqwest::Url::parse(&self.url).map_err(|e| e.to_string())?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let mut client = reqwest::Client::builder().timeout(Duration::from_secs(5));
        if host != address {
            // The load balancer's current addresses, looked up at each check: a new
            // one's name takes a minute or two to resolve, and its addresses change.
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((address, port))
                .await
                .map_err(|e| format!("load balancer {address} does not resolve yet: {e}"))?
                .collect();
            client = client.resolve_to_addrs(&host, &addrs);
        }
        let client = client.build().map_err(|e| format!("no HTTP client: {e}"))?;
        match client.get(parsed).send().await {
            Ok(resp) if resp.status().is_success() => Ok(resp.status().to_string()),
            Ok(resp) => Err(resp.status().to_string()),
            Err(err) => Err(crate::error::chain(&err)),
        }
    }
}

/// The probes of the environment's Ingresses (those matching `selector` in `namespace`)
/// that have a load balancer; none before the controller has made one. Their endpoints
/// are what `status` and `up` report.
pub async fn probes(client: &kube::Client, namespace: &str, selector: &str) -> Result<Vec<Probe>> {
    let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(kube_error(format!("listing ingresses in {namespace}")))?;
    let mut out: Vec<Probe> = list
        .items
        .iter()
        .flat_map(|i| of_ingress(i, namespace))
        .collect();
    out.sort_by(|a, b| a.url.cmp(&b.url));
    out.dedup();
    Ok(out)
}

const SCHEME: &str = "alb.ingress.kubernetes.io/scheme";
const LISTEN_PORTS: &str = "alb.ingress.kubernetes.io/listen-ports";

fn of_ingress(ingress: &Ingress, namespace: &str) -> Vec<Probe> {
    let annotation = |key: &str| {
        ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    let spec = ingress.spec.as_ref();
    // TLS from spec.tls, or from the load balancer controller's listeners (the api's
    // Ingress names its ACM certificate by annotation and listens on HTTPS 443).
    let tls = annotation(LISTEN_PORTS).is_some_and(|p| p.contains("\"HTTPS\""))
        || spec
            .and_then(|s| s.tls.as_ref())
            .is_some_and(|t| !t.is_empty());
    let scheme = if tls { "https" } else { "http" };
    let addresses: Vec<String> = ingress
        .status
        .iter()
        .filter_map(|s| s.load_balancer.as_ref())
        .flat_map(|lb| lb.ingress.iter().flatten())
        .filter_map(|i| i.hostname.clone().or(i.ip.clone()))
        .collect();
    let Some(address) = addresses.first().cloned() else {
        return Vec::new();
    };
    let rules: Vec<_> = spec.iter().flat_map(|s| s.rules.iter().flatten()).collect();
    // A rule's host is the public name; without one, the load balancer's own names.
    let hosts: Vec<String> = match rules
        .iter()
        .filter_map(|r| r.host.clone())
        .collect::<Vec<_>>()
    {
        hosts if hosts.is_empty() => addresses,
        hosts => hosts,
    };
    // The backend a request for /readyz takes (the api's Service).
    let backend = rules
        .iter()
        .filter_map(|r| r.http.as_ref())
        .flat_map(|h| h.paths.iter())
        .filter_map(|p| p.backend.service.as_ref())
        .chain(
            spec.and_then(|s| s.default_backend.as_ref())
                .and_then(|b| b.service.as_ref()),
        )
        .next()
        .map(|s| {
            let port = s
                .port
                .as_ref()
                .and_then(|p| p.name.clone().or_else(|| p.number.map(|n| n.to_string())));
            (s.name.clone(), port.unwrap_or_else(|| "80".into()))
        });
    let internal = annotation(SCHEME) == Some("internal");
    let hosts_are_addresses = rules.iter().all(|r| r.host.is_none());
    hosts
        .into_iter()
        .map(|host| {
            let endpoint = format!("{scheme}://{host}");
            let url = format!("{endpoint}{READY}");
            let via = match (&backend, internal) {
                (Some((name, port)), true) => Via::ServiceProxy {
                    namespace: namespace.to_string(),
                    name: name.clone(),
                    port: port.clone(),
                },
                // Without rule hosts, each address is its own endpoint.
                _ if hosts_are_addresses => Via::LoadBalancer {
                    address: host.clone(),
                },
                _ => Via::LoadBalancer {
                    address: address.clone(),
                },
            };
            Probe { endpoint, url, via }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(scheme: &str, host: Option<&str>, https: bool) -> Ingress {
        let mut rule = serde_json::json!({
            "http": { "paths": [{ "path": "/", "pathType": "Prefix",
                "backend": { "service": { "name": "rates-api", "port": { "name": "http" } } } }] }
        });
        if let Some(host) = host {
            rule["host"] = host.into();
        }
        let ports = if https {
            r#"[{"HTTPS": 443}]"#
        } else {
            r#"[{"HTTP": 80}]"#
        };
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "rates-api", "annotations": { SCHEME: scheme, LISTEN_PORTS: ports } },
            "spec": { "rules": [rule] },
            "status": { "loadBalancer": { "ingress": [{ "hostname": "k8s-rates-0123.eu-west-1.elb.amazonaws.com" }] } },
        }))
        .unwrap()
    }

    #[test]
    fn public_names_go_to_the_load_balancer_and_internal_ones_through_the_api_server() {
        let public = of_ingress(
            &ingress("internet-facing", Some("staging.example.com"), true),
            "ns",
        );
        assert_eq!(public.len(), 1);
        assert_eq!(public[0].url, "https://staging.example.com/readyz");
        assert_eq!(public[0].endpoint, "https://staging.example.com");
        assert_eq!(
            public[0].via,
            Via::LoadBalancer {
                address: "k8s-rates-0123.eu-west-1.elb.amazonaws.com".into()
            }
        );
        assert!(public[0]
            .describe()
            .contains("at load balancer k8s-rates-0123"));

        let internal = of_ingress(&ingress("internal", None, false), "rates-dev");
        assert_eq!(
            internal[0].url,
            "http://k8s-rates-0123.eu-west-1.elb.amazonaws.com/readyz"
        );
        assert_eq!(
            internal[0].via,
            Via::ServiceProxy {
                namespace: "rates-dev".into(),
                name: "rates-api".into(),
                port: "http".into()
            }
        );

        let mut pending = ingress("internet-facing", Some("x.example.com"), true);
        pending.status = None;
        assert!(
            of_ingress(&pending, "ns").is_empty(),
            "no load balancer yet"
        );
    }

    /// A load balancer whose name differs from the public one is asked at its own
    /// address for the public name: the request carries `Host: <public name>` although
    /// that name resolves nowhere.
    #[tokio::test]
    async fn the_public_name_is_asked_at_the_load_balancers_address() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let probe = Probe {
            endpoint: format!("http://api.rates.invalid:{port}"),
            url: format!("http://api.rates.invalid:{port}/readyz"),
            via: Via::LoadBalancer {
                address: "localhost".into(),
            },
        };
        assert_eq!(
            probe.through_load_balancer("localhost").await,
            Ok("200 OK".into())
        );
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /readyz HTTP/1.1"), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&format!("host: api.rates.invalid:{port}")),
            "{request}"
        );
        // Without a load balancer address to go to, the public name alone fails.
        let unresolved = Probe {
            endpoint: format!("http://api.rates.invalid:{port}"),
            url: format!("http://api.rates.invalid:{port}/readyz"),
            via: Via::LoadBalancer {
                address: "lb.rates.invalid".into(),
            },
        };
        let err = unresolved
            .through_load_balancer("lb.rates.invalid")
            .await
            .unwrap_err();
        assert!(err.contains("does not resolve yet"), "{err}");
    }
}
