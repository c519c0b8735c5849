//! RDS IAM database authentication: a short-lived token made from the pod's AWS
//! credentials stands in for the password, renewed before it expires, so credentials
//! never sit in a Secret that goes stale when they rotate.
//!
//! The token is what `aws rds generate-db-auth-token` prints: a SigV4-presigned
//! `connect` URL for `rds-db` without its scheme. RDS accepts it for 15 minutes, and only
//! when a connection opens; open connections stay valid after it expires. The pools are
//! given fresh connect options every [`REFRESH_EVERY`], so every new connection
//! authenticates with a token less than 10 minutes old.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use rates_contract::settings::RATES_DATABASE_IAM_AUTH;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use crate::error::{Error, Result};

/// How long RDS accepts a token (its documented maximum).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// How often the pools get a new token: well inside its lifetime, so a connection
/// opened just before a refresh still presents a valid one.
pub const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// Where a token is valid: the database endpoint and the user it logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub region: String,
}

impl TokenTarget {
    /// The target of a pool's connect options.
    pub fn of(options: &PgConnectOptions, region: &str) -> TokenTarget {
        TokenTarget {
            host: options.get_host().to_string(),
            port: options.get_port(),
            user: options.get_username().to_string(),
            region: region.to_string(),
        }
    }
}

/// Makes the token for `target` with fixed credentials and time (pure; tested against
/// botocore's signer in runtime/tests).
pub fn presign(
    identity: aws_smithy_runtime_api::client::identity::Identity,
    target: &TokenTarget,
    time: SystemTime,
) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| Error::Other(format!("signing the RDS token: {e}"));
    let authority = format!("{}:{}", target.host, target.port);
    let url = format!(
        "https://{authority}/?Action=connect&DBUser={}",
        encode_query(&target.user)
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&target.region)
        .name("rds-db")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let headers = [("host", authority.as_str())];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
    let mut token = format!(
        "{authority}/?Action=connect&DBUser={}",
        encode_query(&target.user)
    );
    for (name, value) in instructions.params() {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.push_str(&encode_query(value));
    }
    Ok(token)
}

/// Gives each pool connect options with a fresh token now, then every
/// [`REFRESH_EVERY`] for the life of the process. Fails when the first token cannot be made
/// (no credentials, no region): the process would otherwise start and never connect.
pub async fn start(pools: &[&PgPool]) -> Result<()> {
    // Each pool's options as configured; every refresh adds a new password to them.
    let pools: Vec<(PgPool, PgConnectOptions)> = pools
        .iter()
        .map(|pool| ((*pool).clone(), (*pool.connect_options()).clone()))
        .collect();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::config(
            RATES_DATABASE_IAM_AUTH.name,
            "needs an AWS region (AWS_REGION) to sign database tokens",
        )
    })?;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        Error::config(
            RATES_DATABASE_IAM_AUTH.name,
            "needs AWS credentials (the pod's IRSA role) to sign database tokens",
        )
    })?;
    refresh(&pools, &provider, &region).await?;
    tokio::spawn(async move {
        let mut wait = REFRESH_EVERY;
        loop {
            tokio::time::sleep(wait).await;
            // A failed refresh keeps the previous token, which is still valid for
            // another five minutes; the next attempt comes sooner.
            wait = match refresh(&pools, &provider, &region).await {
                Ok(()) => REFRESH_EVERY,
                Err(e) => {
                    tracing::error!(error = %e, "renewing the database token failed");
                    Duration::from_secs(30)
                }
            };
        }
    });
    Ok(())
}

async fn refresh(
    pools: &[(PgPool, PgConnectOptions)],
    provider: &aws_credential_types::provider::SharedCredentialsProvider,
    region: &str,
) -> Result<()> {
    let credentials = provider.provide_credentials().await.map_err(|e| {
        Error::config(
            RATES_DATABASE_IAM_AUTH.name,
            format!("loading AWS credentials to sign database tokens: {e}"),
        )
    })?;
    for (pool, options) in pools {
        let target = TokenTarget::of(options, region);
        let token = presign(credentials.clone().into(), &target, SystemTime::now())?;
        pool.set_connect_options(options.clone().password(&token));
    }
    Ok(())
}

/// Everything but RFC 3986's unreserved characters is percent-encoded: how SigV4
/// canonicalises query values.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode_query(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}
