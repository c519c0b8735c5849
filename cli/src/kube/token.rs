//! An EKS bearer token, made the way `aws eks get-token` makes it: a presigned STS
//! GetCallerIdentity URL (signed with the `x-k8s-aws-id: CLUSTER` header) encoded as
//! `k8s-aws-v1.<base64url>`. EKS verifies it by calling STS; no AWS CLI needed.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;

use crate::{Error, Result};

/// The prefix of every EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header naming the cluster the token is for (signed, so it cannot be swapped).
pub const CLUSTER_HEADER: &str = "x-k8s-aws-id";

/// Makes a token for `cluster` with the SDK's credentials.
pub async fn eks_token(sdk: &aws_config::SdkConfig, cluster: &str, region: &str) -> Result<String> {
    let provider = sdk.credentials_provider().ok_or_else(|| Error::Aws {
        operation: "EKS token".into(),
        message: "no AWS credentials configured".into(),
    })?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(Error::aws("loading AWS credentials"))?;
    presign(credentials.into(), cluster, region, SystemTime::now())
}

/// The token for fixed credentials and time (pure; tested).
pub fn presign(
    identity: aws_smithy_runtime_api::client::identity::Identity,
    cluster: &str,
    region: &str,
    time: SystemTime,
) -> Result<String> {
    let signing_error = |e: &dyn std::fmt::Display| Error::Aws {
        operation: "EKS token".into(),
        message: format!("signing the STS request: {e}"),
    };
    let host = format!("sts.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    // EKS accepts a token for 15 minutes whatever this says; 60 s is what the AWS CLI signs.
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| signing_error(&e))?
        .into();
    let headers = [("host", host.as_str()), (CLUSTER_HEADER, cluster)];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| signing_error(&e))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| signing_error(&e))?
        .into_parts();
    let mut signed = url;
    for (name, value) in instructions.params() {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&percent_encode(value));
    }
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed)
    ))
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) is
/// percent-encoded: how SigV4 canonicalises query values, and safe in URL userinfo.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `value` percent-encoded for a SigV4 query or a URL's userinfo.
pub(crate) fn percent_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[test]
    fn token_is_a_presigned_get_caller_identity_url_for_the_cluster() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let token = presign(
            creds.into(),
            "rates-staging",
            "eu-west-1",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let encoded = token.strip_prefix(TOKEN_PREFIX).expect("prefix");
        assert!(!encoded.contains('='), "no padding, like the AWS CLI");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
        assert!(
            url.contains(
                "X-Amz-Credential=AKIDEXAMPLE%2F19700101%2Feu-west-1%2Fsts%2Faws4_request"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(
            url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature="), "{url}");
    }
}
