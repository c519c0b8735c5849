//! One AWS SDK configuration per run: the standard credential chain (environment
//! variables, `AWS_PROFILE`, SSO, instance roles), the environment's region, and an
//! optional endpoint override (`--endpoint-url`, for emulators).

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::{Error, Result};

/// Configured AWS clients for one region.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub region: String,
    pub endpoint_url: Option<String>,
}

impl Aws {
    /// Loads credentials the standard way and targets `region` (and `endpoint_url`).
    pub async fn connect(region: &str, endpoint_url: Option<&str>) -> Aws {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        Aws {
            sdk: loader.load().await,
            region: region.to_string(),
            endpoint_url: endpoint_url.map(str::to_string),
        }
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk)
    }

    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    /// S3, path-style when an endpoint is set (emulators serve buckets under their path).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.endpoint_url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Who is calling (STS GetCallerIdentity's ARN), for the release history.
    pub async fn caller_arn(&self) -> Result<String> {
        let out = aws_sdk_sts::Client::new(&self.sdk)
            .get_caller_identity()
            .send()
            .await
            .map_err(Error::aws("sts:GetCallerIdentity"))?;
        Ok(out.arn.unwrap_or_else(|| "unknown".into()))
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account_id(&self) -> Result<String> {
        let out = aws_sdk_sts::Client::new(&self.sdk)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sts::error::ProvideErrorMetadata;
                let code = e.code().map(str::to_string);
                let dispatch = matches!(e, aws_sdk_sts::error::SdkError::DispatchFailure(_));
                let mut err = Error::aws("sts:GetCallerIdentity (checking credentials)")(e);
                if let Error::Aws { message, .. } = &mut err {
                    if dispatch && !message.contains("credentials") {
                        message.push_str(&format!(
                            " — check the network and the endpoint ({})",
                            self.endpoint_url
                                .as_deref()
                                .unwrap_or("AWS's default for the region")
                        ));
                    } else if code.is_some() || message.contains("credentials") {
                        message.push_str(
                            " — configure credentials for the environment's account (AWS_PROFILE, \
                             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, or a role)",
                        );
                    }
                }
                err
            })?;
        out.account.ok_or_else(|| Error::Aws {
            operation: "sts:GetCallerIdentity".into(),
            message: "the response has no account".into(),
        })
    }

    /// Refuses to touch an environment pinned to another account than the credentials'.
    pub async fn check_account(&self, env: &str, expected: Option<&str>) -> Result<String> {
        let actual = self.account_id().await?;
        if let Some(expected) = expected {
            if expected != actual {
                return Err(Error::Refused {
                    message: format!(
                        "environment `{env}` lives in AWS account {expected}, but the credentials are for account {actual}"
                    ),
                    help: Some(format!(
                        "switch credentials (e.g. AWS_PROFILE) to account {expected}; nothing was changed"
                    )),
                });
            }
        }
        Ok(actual)
    }
}
