//! What the Deployments need that exists only after `terraform apply`: ConfigMap
//! `rates-infra` (the queue URL and the bucket), Secret `rates-database` (the
//! runtime's DATABASE_URL and DATABASE_READ_URL: user `rates_app`, no password, RDS IAM
//! authentication, verified TLS), Secret `rates-database-admin` (the master user's URL
//! and the environment's first API token, for the migration Job only), with a webhook Secret
//! `rates-events` (the key its events are signed with), and the runtime role on the
//! ServiceAccounts (IRSA).
//!
//! Why IAM authentication for the runtime: RDS cannot create a read replica of an
//! instance whose master password it manages in Secrets Manager, and a password copied
//! into a Kubernetes Secret goes stale at the first rotation. An IAM token is made per
//! connection from the pod's role, for the primary and every replica alike.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use rates_contract::settings as rs;
use serde_json::json;

use crate::aws::Aws;
use crate::kube::objects::RenderedObject;
use crate::kube::token::percent_encode;
use crate::profile::{Profile, PROJECT};
use crate::render::EVENTS_SECRET;
use crate::terraform::TerraformOutputs;
use crate::{client_token, webhook_secret};
use crate::{Error, Result};

pub const INFRA_CONFIG_MAP: &str = "rates-infra";
pub const DATABASE_SECRET: &str = "rates-database";
/// The migration Job's database URL (the master user, from the Terraform-managed secret).
pub const DATABASE_ADMIN_SECRET: &str = "rates-database-admin";
/// Where the runtime image keeps the RDS CA bundle (runtime/Dockerfile).
pub const RDS_CA_FILE: &str = "/etc/rates/rds-ca.pem";
const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The labels of everything envctl puts in the cluster (the prune selector's among them).
pub fn labels(profile: &Profile) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/part-of".to_string(), PROJECT.to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "envctl".to_string(),
        ),
        (
            "envctl.io/environment".to_string(),
            profile.name.to_string(),
        ),
    ])
}

/// ConfigMap `rates-infra` and Secret `rates-database` for the environment.
pub async fn objects(
    aws: &Aws,
    profile: &Profile,
    outputs: &TerraformOutputs,
) -> Result<Vec<RenderedObject>> {
    let namespace = profile.namespace();
    let writer = outputs.string("database_endpoint")?;
    let reader = outputs
        .optional("database_reader_endpoint")
        .unwrap_or_else(|| writer.clone());
    let database = outputs
        .optional("database_name")
        .unwrap_or_else(|| PROJECT.to_string());
    // Key names are the runtime's settings (rates-contract); the worker's KEDA
    // ScaledObject reads the queue URL too (`queueURLFromEnv: RATES_SQS_QUEUE_URL`).
    // Only what the runtime reads: the pods get every key as an environment variable.
    let mut data = BTreeMap::from([
        (
            rs::RATES_SQS_QUEUE_URL.name.to_string(),
            outputs.string("queue_url")?,
        ),
        (
            rs::RATES_S3_BUCKET.name.to_string(),
            outputs.string("batch_bucket")?,
        ),
    ]);
    // Roots rendered before the events topic existed have no such output.
    if let Some(topic) = outputs.optional("batch_events_topic_arn") {
        data.insert(rs::RATES_EVENTS_TOPIC_ARN.name.to_string(), topic);
    }
    let secret_arn = outputs.string("database_secret_arn")?;
    let (admin_user, admin_password) = master_credentials(aws, &secret_arn).await?;
    let admin_token = kept_secret(
        aws,
        &outputs.string("admin_token_secret_arn")?,
        &ADMIN_TOKEN,
    )
    .await?;
    let app_user = outputs
        .optional("database_iam_user")
        .unwrap_or_else(|| "rates_app".to_string());
    // `database_port` when the module outputs it; else the port in "host:port"; else 5432.
    let port_output = outputs.optional("database_port");
    // verify-full: RDS forces TLS, and the runtime checks the server's certificate and name
    // against the RDS CA bundle in its image (RATES_DATABASE_CA_FILE).
    let url = |userinfo: &str, endpoint: &str| {
        let (host, endpoint_port) = host_port(endpoint);
        let port = port_output.clone().unwrap_or(endpoint_port);
        format!("postgres://{userinfo}@{host}:{port}/{database}?sslmode=verify-full")
    };
    let labels = labels(profile);
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": INFRA_CONFIG_MAP, "namespace": namespace, "labels": labels },
        "data": data,
    });
    let secret = |name: &str, data: serde_json::Value| {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": namespace, "labels": labels },
            "type": "Opaque",
            // `data`, not `stringData`: what the API server stores, so a re-apply of the
            // same values is a no-op for server-side apply.
            "data": data,
        })
    };
    let runtime = secret(
        DATABASE_SECRET,
        json!({
            rs::DATABASE_URL.name: b64(&url(&percent_encode(&app_user), &writer)),
            rs::DATABASE_READ_URL.name: b64(&url(&percent_encode(&app_user), &reader)),
            rs::RATES_DATABASE_IAM_AUTH.name: b64("true"),
            rs::RATES_DATABASE_CA_FILE.name: b64(RDS_CA_FILE),
        }),
    );
    let admin = secret(
        DATABASE_ADMIN_SECRET,
        json!({
            rs::DATABASE_URL.name: b64(&url(
                &format!("{}:{}", percent_encode(&admin_user), percent_encode(&admin_password)),
                &writer
            )),
            rs::RATES_DATABASE_CA_FILE.name: b64(RDS_CA_FILE),
            // `rates migrate --admin-token-from-env` registers it as client `admin`.
            client_token::ENV_VAR: b64(&admin_token),
        }),
    );
    let origin = PathBuf::from("terraform output");
    let mut objects = vec![
        RenderedObject::from_value(&origin, config_map, &namespace)?,
        RenderedObject::from_value(&origin, runtime, &namespace)?,
        RenderedObject::from_value(&origin, admin, &namespace)?,
    ];
    // The Deployments read it (envFrom) only when the profile has a webhook.
    if profile.runtime.events.webhook_url.is_some() {
        let arn = outputs.string("webhook_secret_arn")?;
        let key = kept_secret(aws, &arn, &WEBHOOK_SECRET).await?;
        let events = secret(
            EVENTS_SECRET,
            json!({ rs::RATES_WEBHOOK_SECRET.name: b64(&key) }),
        );
        objects.push(RenderedObject::from_value(&origin, events, &namespace)?);
    }
    Ok(objects)
}

/// Puts the runtime's IAM role on every rendered ServiceAccount that has none.
pub fn annotate_service_accounts(objects: &mut [RenderedObject], outputs: &TerraformOutputs) {
    let Some(role) = outputs.optional("runtime_role_arn") else {
        return;
    };
    for object in objects
        .iter_mut()
        .filter(|o| o.key.kind == "ServiceAccount")
    {
        let annotations = &mut object.body["metadata"]["annotations"];
        if annotations.is_null() {
            *annotations = json!({});
        }
        if annotations.get(IRSA_ANNOTATION).is_none() {
            annotations[IRSA_ANNOTATION] = role.clone().into();
        }
    }
}

/// Replaces `${OUTPUT}` placeholders in the rendered objects' strings with Terraform
/// outputs (e.g. the ServiceAccount's `${runtime_role_arn}`); an unknown one is an error
/// naming the file.
pub fn substitute_outputs(
    objects: &mut [RenderedObject],
    outputs: &TerraformOutputs,
) -> Result<()> {
    for object in objects.iter_mut() {
        let file = object.file.display().to_string();
        substitute(&mut object.body, outputs, &file)?;
    }
    Ok(())
}

fn substitute(value: &mut serde_json::Value, outputs: &TerraformOutputs, file: &str) -> Result<()> {
    match value {
        serde_json::Value::String(text) => {
            while let Some(start) = text.find("${") {
                let Some(len) = text[start..].find('}') else {
                    break;
                };
                let name = text[start + 2..start + len].to_string();
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                let replacement = outputs.optional(&name).ok_or_else(|| Error::Rendered {
                    what: file.to_string(),
                    message: format!(
                        "`${{{name}}}` names no Terraform output (see the rendered outputs.tf)"
                    ),
                })?;
                text.replace_range(start..start + len + 1, &replacement);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                substitute(item, outputs, file)?;
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                substitute(item, outputs, file)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What envctl keeps in a Terraform-owned secret: its value is made by envctl, never by
/// Terraform (so never in state), and put the first time `up` finds the secret empty.
struct KeptSecret {
    /// What the value is, for errors.
    what: &'static str,
    make: fn() -> Result<String>,
    /// Whether a value found in the secret is one to use.
    usable: fn(&str) -> bool,
    /// Secrets Manager's idempotency token for the first value: a second writer's different
    /// value fails rather than replacing the first.
    first_version: &'static str,
}

const ADMIN_TOKEN: KeptSecret = KeptSecret {
    what: "the admin token",
    make: client_token::generate,
    usable: |v| v.starts_with(rates_contract::tokens::PREFIX),
    first_version: "envctl-first-admin-token-version-1",
};

const WEBHOOK_SECRET: KeptSecret = KeptSecret {
    what: "the webhook secret",
    make: webhook_secret::generate,
    usable: webhook_secret::usable,
    first_version: "envctl-first-webhook-secret-version-1",
};

/// The value of the Terraform-managed secret `arn`; made and put there when the secret
/// has none yet (the first `up`). Two `up`s racing on a new environment both end with the
/// value that was put first.
async fn kept_secret(aws: &Aws, arn: &str, kept: &KeptSecret) -> Result<String> {
    let client = aws.secrets_manager();
    let usable = kept.usable;
    let read = |out: aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput| {
        out.secret_string()
            .map(str::trim)
            .filter(|t| usable(t))
            .map(str::to_string)
    };
    match client.get_secret_value().secret_id(arn).send().await {
        Ok(out) => {
            if let Some(value) = read(out) {
                return Ok(value);
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(e) => {
            return Err(Error::aws(format!("secretsmanager:GetSecretValue {arn}"))(
                e,
            ))
        }
    }
    let value = (kept.make)()?;
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(&value)
        .client_request_token(kept.first_version)
        .send()
        .await
        .map_err(Error::aws(format!("secretsmanager:PutSecretValue {arn}")))?;
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(Error::aws(format!("secretsmanager:GetSecretValue {arn}")))?;
    read(out).ok_or_else(|| Error::Aws {
        operation: format!("secretsmanager:GetSecretValue {arn}"),
        message: format!("the secret holds something that is not {}", kept.what),
    })
}

/// The Terraform-managed master secret: `{"username": ..., "password": ...}`.
async fn master_credentials(aws: &Aws, arn: &str) -> Result<(String, String)> {
    let out = aws
        .secrets_manager()
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(Error::aws(format!("secretsmanager:GetSecretValue {arn}")))?;
    let text = out.secret_string().ok_or_else(|| Error::Aws {
        operation: format!("secretsmanager:GetSecretValue {arn}"),
        message: "the secret has no string value".into(),
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Aws {
        operation: format!("reading database secret {arn}"),
        message: format!("not JSON: {e}"),
    })?;
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Aws {
                operation: format!("reading database secret {arn}"),
                message: format!("no `{name}` in the secret"),
            })
    };
    Ok((field("username")?, field("password")?))
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

// aws_db_instance.endpoint is "host:port"; .address is "host".
fn host_port(endpoint: &str) -> (String, String) {
    match endpoint.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            (host.to_string(), port.to_string())
        }
        _ => (endpoint.to_string(), "5432".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_passwords() {
        assert_eq!(
            host_port("db.x.rds.amazonaws.com:5433"),
            ("db.x.rds.amazonaws.com".into(), "5433".into())
        );
        assert_eq!(host_port("db.x"), ("db.x".into(), "5432".into()));
        assert_eq!(percent_encode("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }
}
