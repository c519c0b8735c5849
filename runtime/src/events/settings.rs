//! Where batch outcome events are delivered (part of [`crate::config::Config`]): a
//! webhook, an SNS topic, or both.

use rates_contract::settings as s;

use crate::env::Env;
use crate::error::{Error, Result};

/// Where events go; delivery runs when at least one is set.
#[derive(Debug, Clone, Default)]
pub struct EventSettings {
    pub webhook: Option<WebhookSettings>,
    /// `RATES_EVENTS_TOPIC_ARN`.
    pub topic_arn: Option<String>,
    /// `RATES_WEBHOOK_MAX_ATTEMPTS`: attempts of one event before it is given up.
    pub max_attempts: u32,
}

impl EventSettings {
    pub fn enabled(&self) -> bool {
        self.webhook.is_some() || self.topic_arn.is_some()
    }
}

/// The webhook, when one is configured.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `RATES_WEBHOOK_URL`.
    pub url: String,
    /// `RATES_WEBHOOK_SECRET`: the HMAC key; never logged.
    pub secret: String,
}

impl std::fmt::Display for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (secret not shown)", self.url)
    }
}

/// The event settings.
pub(crate) fn from_env(env: &Env<'_>) -> Result<EventSettings> {
    let max_attempts = env.positive(s::RATES_WEBHOOK_MAX_ATTEMPTS)?;
    let topic_arn = env
        .get(s::RATES_EVENTS_TOPIC_ARN)
        .map(|t| t.trim().to_string());
    if let Some(arn) = &topic_arn {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
            return Err(Error::config(
                s::RATES_EVENTS_TOPIC_ARN.name,
                format!("`{arn}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
            ));
        }
    }
    Ok(EventSettings {
        webhook: webhook(env)?,
        topic_arn,
        max_attempts,
    })
}

fn webhook(env: &Env<'_>) -> Result<Option<WebhookSettings>> {
    let Some(url) = env.get(s::RATES_WEBHOOK_URL) else {
        if env.get(s::RATES_WEBHOOK_SECRET).is_some() {
            return Err(Error::config(
                s::RATES_WEBHOOK_SECRET.name,
                "is set but RATES_WEBHOOK_URL is not: there is no webhook to sign for",
            ));
        }
        return Ok(None);
    };
    let url = url.trim().to_string();
    let parsed = reqwest::Url::parse(&url).map_err(|e| {
        Error::config(
            s::RATES_WEBHOOK_URL.name,
            format!("`{url}` is not a URL: {e}"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::config(
            s::RATES_WEBHOOK_URL.name,
            format!("`{url}` is not an http:// or https:// URL with a host"),
        ));
    }
    let secret = env.get(s::RATES_WEBHOOK_SECRET).ok_or_else(|| {
        Error::config(
            s::RATES_WEBHOOK_SECRET.name,
            "is required with RATES_WEBHOOK_URL: receivers check every event's signature",
        )
    })?;
    if secret.len() < s::WEBHOOK_SECRET_MIN_LEN {
        return Err(Error::config(
            s::RATES_WEBHOOK_SECRET.name,
            format!(
                "must be at least {} characters (use 32 random bytes, e.g. `openssl rand -hex 32`)",
                s::WEBHOOK_SECRET_MIN_LEN
            ),
        ));
    }
    Ok(Some(WebhookSettings { url, secret }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<EventSettings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |name: &str| map.get(name).cloned();
        from_env(&Env(&lookup))
    }

    #[test]
    fn a_webhook_needs_a_url_with_a_host_and_a_real_secret() {
        assert!(!load(&[]).unwrap().enabled());
        let ok = load(&[
            ("RATES_WEBHOOK_URL", "https://hooks.example.com/rates"),
            ("RATES_WEBHOOK_SECRET", "0123456789abcdef0123"),
        ])
        .unwrap();
        assert_eq!(ok.max_attempts, 10);
        assert!(!ok.webhook.unwrap().to_string().contains("0123456789abcdef"));
        let topic = load(&[(
            "RATES_EVENTS_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:123456789012:rates-staging-batch-events",
        )])
        .unwrap();
        assert!(topic.enabled() && topic.webhook.is_none());
        for (vars, variable) in [
            (
                &[("RATES_WEBHOOK_URL", "https://h.example.com/x")][..],
                "RATES_WEBHOOK_SECRET",
            ),
            (
                &[("RATES_WEBHOOK_SECRET", "0123456789abcdef0123")][..],
                "RATES_WEBHOOK_SECRET",
            ),
            (
                &[
                    ("RATES_WEBHOOK_URL", "ftp://h/x"),
                    ("RATES_WEBHOOK_SECRET", "0123456789abcdef0123"),
                ][..],
                "RATES_WEBHOOK_URL",
            ),
            (
                &[
                    ("RATES_WEBHOOK_URL", "https://h.example.com/x"),
                    ("RATES_WEBHOOK_SECRET", "short"),
                ][..],
                "RATES_WEBHOOK_SECRET",
            ),
        ] {
            let err = load(vars).unwrap_err();
            assert!(err.to_string().contains(variable), "{vars:?}: {err}");
        }
    }
}
