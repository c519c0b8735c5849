//! Typed profile values that are parsed once, at the edge, with errors that say what is
//! allowed: CIDRs, instance types, Kubernetes quantities, image tags, versions, regions.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Declares a string newtype checked by `$check` (which returns what is wrong).
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                let check: fn(&str) -> Option<String> = $check;
                match check(&value) {
                    None => Ok($name(value)),
                    Some(problem) => Err(problem),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// EC2 instance families envctl knows node groups can use (general purpose, compute,
/// memory; x86 and Graviton).
pub const NODE_FAMILIES: &[&str] = &[
    "t3", "t3a", "t4g", "m5", "m5a", "m6a", "m6g", "m6i", "m7a", "m7g", "m7i", "c5", "c5a", "c6a",
    "c6g", "c6i", "c7a", "c7g", "c7i", "r5", "r5a", "r6a", "r6g", "r6i", "r7a", "r7g", "r7i",
];

/// RDS for PostgreSQL instance class families.
pub const DB_FAMILIES: &[&str] = &[
    "t3", "t4g", "m5", "m6g", "m6i", "m7g", "m7i", "r5", "r6g", "r6i", "r7g", "r7i",
];

const SIZES: &[&str] = &[
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge",
    "12xlarge", "16xlarge", "24xlarge", "32xlarge", "48xlarge", "metal",
];

fn check_type(value: &str, prefix: &str, families: &[&str], example: &str) -> Option<String> {
    let Some(rest) = value.strip_prefix(prefix) else {
        return Some(format!(
            "`{value}` is not an instance class; write it like `{example}`"
        ));
    };
    let Some((family, size)) = rest.split_once('.') else {
        return Some(format!(
            "`{value}` is not an instance type; write it like `{example}`"
        ));
    };
    if !families.contains(&family) {
        return Some(format!(
            "unknown instance family `{family}` in `{value}`; allowed families: {}",
            families.join(", ")
        ));
    }
    if !SIZES.contains(&size) {
        return Some(format!(
            "unknown size `{size}` in `{value}`; allowed sizes: {}",
            SIZES.join(", ")
        ));
    }
    None
}

checked_string!(
    /// An EC2 instance type for a node group, e.g. `m6i.large`.
    InstanceType,
    |v| check_type(v, "", NODE_FAMILIES, "m6i.large")
);

checked_string!(
    /// An RDS instance class, e.g. `db.r6g.large`.
    DbInstanceClass,
    |v| check_type(v, "db.", DB_FAMILIES, "db.t4g.medium")
);

checked_string!(
    /// An AWS region code, e.g. `eu-west-1`.
    Region,
    |v| {
        let parts: Vec<&str> = v.split('-').collect();
        let ok = parts.len() >= 3
            && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].parse::<u8>().is_ok();
        (!ok).then(|| format!("`{v}` is not an AWS region code; write it like `eu-west-1`"))
    }
);

checked_string!(
    /// A 12-digit AWS account id (quote it in YAML so leading zeros survive).
    AccountId,
    |v| (!(v.len() == 12 && v.chars().all(|c| c.is_ascii_digit())))
        .then(|| format!("`{v}` is not an AWS account id; it must be exactly 12 digits, quoted"))
);

checked_string!(
    /// An EKS Kubernetes minor version, `1.29` to `1.34`.
    KubernetesVersion,
    |v| {
        let minor = v.strip_prefix("1.").and_then(|m| m.parse::<u8>().ok());
        match minor {
            Some(29..=34) => None,
            _ => Some(format!("`{v}` is not a supported EKS version; allowed: 1.29 to 1.34, quoted (\"1.32\")")),
        }
    }
);

checked_string!(
    /// A PostgreSQL engine version `MAJOR.MINOR`, major 14 to 17.
    PostgresVersion,
    |v| {
        let ok = match v.split_once('.') {
            Some((major, minor)) => {
                matches!(major.parse::<u8>(), Ok(14..=17)) && minor.parse::<u8>().is_ok()
            }
            None => false,
        };
        (!ok).then(|| format!("`{v}` is not a supported PostgreSQL version; write MAJOR.MINOR with major 14 to 17, quoted (\"16.4\")"))
    }
);

checked_string!(
    /// A container image tag: pinned (never `latest`), or a `sha256:` digest.
    ImageTag,
    |v| {
        if v.is_empty() || v == "latest" {
            return Some(format!("`{v}` is not a pinned image tag; use a release tag like `1.4.2` or a `sha256:` digest"));
        }
        let ok = v.len() <= 128
            && (v.starts_with("sha256:") && v.len() == 71
                || v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
        (!ok).then(|| format!("`{v}` is not a valid image tag (letters, digits, `.`, `_`, `-`, at most 128)"))
    }
);

checked_string!(
    /// A container image repository without a tag, e.g. `ghcr.io/acme/rates`.
    ImageRepository,
    |v| {
        let ok = !v.is_empty()
            && !v.contains(':')
            && !v.contains('@')
            && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/'));
        (!ok).then(|| format!("`{v}` is not an image repository; write it without a tag, like `ghcr.io/acme/rates`"))
    }
);

checked_string!(
    /// An ECR repository name in the environment's account, e.g. `rates-staging` (ECR's
    /// rule: lowercase path components of letters and digits joined by `.`, `_` or `-`,
    /// separated by `/`, 2 to 256 characters).
    EcrRepositoryName,
    |v| {
        let component = |c: &str| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
                && !c.as_bytes().windows(2).any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
        };
        // A registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com/...) is a valid path to ECR
        // but not a name in the account: the root looks the name up.
        let ok = (2..=256).contains(&v.len())
            && !v.contains(".dkr.ecr.")
            && v.split('/').all(component);
        (!ok).then(|| format!("`{v}` is not an ECR repository name; write it like `rates-staging` (lowercase letters and digits joined by `.`, `_` or `-`, `/` between path parts, no registry host)"))
    }
);

checked_string!(
    /// Where batch outcome events are posted (`RATES_WEBHOOK_URL`): an absolute http(s)
    /// URL with a host and without credentials or a fragment. The events are signed with
    /// the environment's webhook secret, so the URL itself is not a secret: it is rendered
    /// into the ConfigMap and kept in git with the profile.
    WebhookUrl,
    |v| {
        let url = match reqwest::Url::parse(v) {
            Ok(url) => url,
            Err(e) => return Some(format!("`{v}` is not a URL ({e}); write it like `https://hooks.example.com/rates`")),
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Some(format!("`{v}` is not an http:// or https:// URL with a host; write it like `https://hooks.example.com/rates`"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Some(format!("`{v}` carries credentials, which would be rendered in clear into the ConfigMap; receivers authenticate events by their signature (docs/batches.md)"));
        }
        if url.fragment().is_some() {
            return Some(format!("`{v}` has a fragment (`#...`), which is never sent to the receiver"));
        }
        None
    }
);

impl WebhookUrl {
    /// Whether events would cross the network in clear.
    pub fn is_plain_http(&self) -> bool {
        reqwest::Url::parse(&self.0).is_ok_and(|u| u.scheme() == "http")
    }
}

checked_string!(
    /// A log filter in tracing's EnvFilter syntax, e.g. `info` or `rates=debug,info`.
    LogFilter,
    |v| {
        let ok = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | ',' | '_' | ':'));
        (!ok).then(|| format!("`{v}` is not a log filter; write it like `info` or `rates=debug,info`"))
    }
);

/// An IPv4 network in CIDR notation with its host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr(pub Ipv4Net);

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let net = Ipv4Net::from_str(&value)
            .map_err(|_| format!("`{value}` is not an IPv4 CIDR; write it like `10.40.0.0/16`"))?;
        if net.trunc() != net {
            return Err(format!(
                "`{value}` has host bits set; did you mean `{}`?",
                net.trunc()
            ));
        }
        Ok(Cidr(net))
    }
}

impl From<Cidr> for String {
    fn from(value: Cidr) -> String {
        value.0.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A Kubernetes CPU quantity: whole or fractional cores (`1`, `0.5`) or millicores (`250m`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_yaml::Value", into = "String")]
pub struct Cpu {
    text: String,
    millis: u64,
}

impl Cpu {
    pub fn millicores(&self) -> u64 {
        self.millis
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<serde_yaml::Value> for Cpu {
    type Error = String;
    fn try_from(value: serde_yaml::Value) -> Result<Self, String> {
        let text = scalar_text(&value);
        let millis = if let Some(m) = text.strip_suffix('m') {
            m.parse::<u64>().ok()
        } else {
            text.parse::<f64>()
                .ok()
                .filter(|c| *c > 0.0 && c.is_finite())
                .map(|c| (c * 1000.0).round() as u64)
        };
        match millis {
            Some(millis) if millis > 0 => Ok(Cpu { text, millis }),
            _ => Err(format!("`{text}` is not a CPU quantity; write cores like `1` or `0.5`, or millicores like `250m`")),
        }
    }
}

impl From<Cpu> for String {
    fn from(value: Cpu) -> String {
        value.text
    }
}

/// A Kubernetes memory quantity with a binary suffix: `256Mi`, `1Gi`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Memory {
    text: String,
    mebibytes: u64,
}

impl Memory {
    pub fn mebibytes(&self) -> u64 {
        self.mebibytes
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for Memory {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let mebibytes = if let Some(n) = text.strip_suffix("Mi") {
            n.parse::<u64>().ok()
        } else if let Some(n) = text.strip_suffix("Gi") {
            n.parse::<u64>().ok().map(|g| g * 1024)
        } else {
            None
        };
        match mebibytes {
            Some(m) if m > 0 => Ok(Memory { text, mebibytes: m }),
            _ => Err(format!(
                "`{text}` is not a memory quantity; write it like `512Mi` or `2Gi`"
            )),
        }
    }
}

impl From<Memory> for String {
    fn from(value: Memory) -> String {
        value.text
    }
}

/// CloudWatch Logs retention periods (the API accepts only these).
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A CloudWatch Logs retention in days (one of [`LOG_RETENTION_DAYS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RetentionDays(u32);

impl RetentionDays {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for RetentionDays {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if LOG_RETENTION_DAYS.contains(&v) {
            Ok(RetentionDays(v))
        } else {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
            Err(format!(
                "{v} is not a CloudWatch Logs retention; allowed: {}",
                allowed.join(", ")
            ))
        }
    }
}

impl From<RetentionDays> for u32 {
    fn from(v: RetentionDays) -> u32 {
        v.0
    }
}

fn scalar_text(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_name_the_allowed_families() {
        assert!(InstanceType::try_from("m6i.large".to_string()).is_ok());
        let err = InstanceType::try_from("x9z.large".to_string()).unwrap_err();
        assert!(
            err.contains("unknown instance family `x9z`") && err.contains("m6i"),
            "{err}"
        );
        assert!(DbInstanceClass::try_from("db.r6g.xlarge".to_string()).is_ok());
        assert!(DbInstanceClass::try_from("r6g.xlarge".to_string()).is_err());
    }

    #[test]
    fn cidrs_must_be_networks() {
        assert!(Cidr::try_from("10.40.0.0/16".to_string()).is_ok());
        assert!(Cidr::try_from("10.40.0.0/33".to_string()).is_err());
        let err = Cidr::try_from("10.40.1.0/16".to_string()).unwrap_err();
        assert!(err.contains("10.40.0.0/16"), "{err}");
    }

    #[test]
    fn quantities_convert() {
        let cpu = Cpu::try_from(serde_yaml::Value::String("250m".into())).unwrap();
        assert_eq!(cpu.millicores(), 250);
        let cpu: Cpu = serde_yaml::from_str("1.5").unwrap();
        assert_eq!(cpu.millicores(), 1500);
        assert_eq!(
            Memory::try_from("2Gi".to_string()).unwrap().mebibytes(),
            2048
        );
        assert!(Memory::try_from("2GB".to_string()).is_err());
    }

    #[test]
    fn image_tags_are_pinned() {
        assert!(ImageTag::try_from("latest".to_string()).is_err());
        assert!(ImageTag::try_from("1.4.2".to_string()).is_ok());
        for ok in ["rates-staging", "rates-review", "team/rates_app.v2"] {
            assert!(EcrRepositoryName::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        for bad in [
            "Rates",
            "rates-",
            "rates--x",
            "-rates",
            "a",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/rates",
            "rates:1",
            "team//rates",
        ] {
            assert!(
                EcrRepositoryName::try_from(bad.to_string()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn webhook_urls_are_absolute_http_without_credentials() {
        for ok in [
            "https://hooks.example.com/rates",
            "http://127.0.0.1:9000/hook",
            "https://hooks.example.com:8443/a?b=c",
        ] {
            assert!(WebhookUrl::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        assert!(WebhookUrl::try_from("HTTP://127.0.0.1/x".to_string())
            .unwrap()
            .is_plain_http());
        assert!(!WebhookUrl::try_from("https://h.example.com/".to_string())
            .unwrap()
            .is_plain_http());
        for (bad, says) in [
            ("hooks.example.com/rates", "is not a URL"),
            ("ftp://hooks.example.com/x", "http:// or https://"),
            ("file:///tmp/x", "http:// or https://"),
            ("https://user:pass@hooks.example.com/", "credentials"),
            ("https://hooks.example.com/#x", "fragment"),
        ] {
            let err = WebhookUrl::try_from(bad.to_string()).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
