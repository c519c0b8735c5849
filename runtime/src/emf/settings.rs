//! Where EMF documents go and what they are tagged with (part of [`crate::config::Config`]).

use rates_contract::settings as s;

use super::agent::Endpoint;
use crate::env::Env;
use crate::error::{Error, Result};

/// CloudWatch EMF settings, shared by the batch and the API metrics.
#[derive(Debug, Clone)]
pub struct EmfSettings {
    /// `RATES_METRICS_NAMESPACE`: CloudWatch EMF namespace.
    pub namespace: String,
    /// `RATES_METRICS_DIMENSIONS`: `Name=value,...` added to every EMF line.
    pub dimensions: Vec<(String, String)>,
    /// `RATES_EMF_ENDPOINT`: the CloudWatch agent's EMF listener; EMF goes to stdout when unset.
    pub endpoint: Option<Endpoint>,
    /// `RATES_EMF_LOG_GROUP`: the log group the agent writes the documents to
    /// (`_aws.LogGroupName`); only with `RATES_EMF_ENDPOINT`.
    pub log_group: Option<String>,
}

impl EmfSettings {
    pub(crate) fn from_env(env: &Env<'_>) -> Result<EmfSettings> {
        let endpoint = env
            .get(s::RATES_EMF_ENDPOINT)
            .map(|raw| {
                Endpoint::parse(&raw).map_err(|e| Error::config(s::RATES_EMF_ENDPOINT.name, e))
            })
            .transpose()?;
        let log_group = env
            .get(s::RATES_EMF_LOG_GROUP)
            .map(|g| g.trim().to_string());
        if let Some(group) = &log_group {
            check_log_group(group)?;
            if endpoint.is_none() {
                // Lines on stdout land wherever the log shipper puts them; a log group
                // named here would silently mean nothing.
                return Err(Error::config(
                    s::RATES_EMF_LOG_GROUP.name,
                    "applies only to the CloudWatch agent: set RATES_EMF_ENDPOINT too",
                ));
            }
        }
        Ok(EmfSettings {
            namespace: env.string(s::RATES_METRICS_NAMESPACE),
            dimensions: parse_dimensions(
                &env.get(s::RATES_METRICS_DIMENSIONS).unwrap_or_default(),
            )?,
            endpoint,
            log_group,
        })
    }
}

/// CloudWatch Logs' rule for log group names (CreateLogGroup API reference): 1 to 512
/// characters of `a-z A-Z 0-9 _ - / . #`.
fn check_log_group(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#'));
    if valid {
        Ok(())
    } else {
        Err(Error::config(
            s::RATES_EMF_LOG_GROUP.name,
            format!(
                "`{name}` is not a CloudWatch Logs group name (1-512 of a-z A-Z 0-9 _ - / . #)"
            ),
        ))
    }
}

fn parse_dimensions(raw: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                format!("`{part}` is not Name=value"),
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                format!("`{part}` needs both a name and a value"),
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                format!("dimension `{name}` is given twice"),
            ));
        }
        // CloudWatch allows at most 30 dimensions per metric.
        if out.len() == 30 {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                "at most 30 dimensions",
            ));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<EmfSettings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |name: &str| map.get(name).cloned();
        EmfSettings::from_env(&Env(&lookup))
    }

    #[test]
    fn defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.namespace, "Rates");
        assert!(s.dimensions.is_empty());
    }

    #[test]
    fn emf_goes_to_the_agent_when_an_endpoint_is_set() {
        let s = load(&[]).unwrap();
        assert!(s.endpoint.is_none() && s.log_group.is_none());
        let s = load(&[
            ("RATES_EMF_ENDPOINT", "tcp://10.0.3.4:25888"),
            (
                "RATES_EMF_LOG_GROUP",
                "/aws/containerinsights/rates-dev/rates-emf",
            ),
        ])
        .unwrap();
        assert_eq!(s.endpoint.unwrap().to_string(), "tcp://10.0.3.4:25888");
        assert_eq!(
            s.log_group.as_deref(),
            Some("/aws/containerinsights/rates-dev/rates-emf")
        );
        let err = load(&[
            ("RATES_EMF_ENDPOINT", "udp://10.0.3.4:25888"),
            ("RATES_EMF_LOG_GROUP", "rates emf"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("RATES_EMF_LOG_GROUP"), "{err}");
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("RATES_METRICS_DIMENSIONS", "Environment"),
            ("RATES_METRICS_DIMENSIONS", "A=1,A=2"),
            ("RATES_EMF_ENDPOINT", "10.0.0.1:25888"),
            ("RATES_EMF_ENDPOINT", "tcp://$(HOST_IP):25888"),
            (
                "RATES_EMF_LOG_GROUP",
                "/aws/containerinsights/rates-dev/rates-emf",
            ),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let s = load(&[(
            s::RATES_METRICS_DIMENSIONS.name,
            "Environment=staging, Service=rates",
        )])
        .unwrap();
        assert_eq!(
            s.dimensions,
            vec![
                ("Environment".to_string(), "staging".to_string()),
                ("Service".to_string(), "rates".to_string())
            ]
        );
    }
}
