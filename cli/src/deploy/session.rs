//! What every deploy operation starts with: a runtime, AWS clients for the
//! environment's region, a credentials check against the profile's account, and
//! the state backend.

use crate::aws::{state_backend, Aws, BackendChange, StateBackend};
use crate::context::Context;
use crate::profile::Profile;
use crate::terraform::{Terraform, Workspace};
use crate::ui::Ui;
use crate::{Error, Result};

/// AWS access for one environment.
pub struct Session {
    pub aws: Aws,
    pub account_id: String,
    pub ui: Ui,
    pub env: String,
}

impl Session {
    pub fn runtime() -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::io("starting the async runtime"))
    }

    /// Connects (region: `--region`, else the profile's) and checks the account.
    pub async fn connect(ctx: &Context, profile: &Profile) -> Result<Session> {
        let region = ctx
            .global
            .region
            .clone()
            .unwrap_or_else(|| profile.aws.region.as_str().to_string());
        let aws = Aws::connect(&region, ctx.global.endpoint_url.as_deref()).await;
        let expected = profile
            .aws
            .account_id
            .as_ref()
            .map(|a| a.as_str().to_string());
        let account_id = aws
            .check_account(profile.name.as_str(), expected.as_deref())
            .await?;
        Ok(Session {
            aws,
            account_id,
            ui: ctx.ui.clone(),
            env: profile.name.to_string(),
        })
    }

    /// Creates or updates the state backend stack, as a step on the display.
    pub async fn ensure_backend(&self) -> Result<StateBackend> {
        let step = self.ui.step(format!(
            "state backend (stack {} in {} / {})",
            state_backend::STACK_NAME,
            self.account_id,
            self.aws.region
        ));
        match state_backend::ensure(&self.aws.cloudformation(), &self.aws.region).await {
            Ok(backend) => {
                step.done(match backend.change {
                    BackendChange::Created => "created",
                    BackendChange::Updated => "updated",
                    BackendChange::Unchanged => "up to date",
                });
                Ok(backend)
            }
            Err(err) => {
                step.fail(&err.to_string());
                Err(err)
            }
        }
    }

    /// The backend, which must exist already (read-only commands never create it).
    pub async fn existing_backend(&self) -> Result<Option<StateBackend>> {
        state_backend::current(&self.aws.cloudformation(), &self.aws.region).await
    }

    /// Takes the environment's deploy lock for `command` (see [`super::lock`]); returns it
    /// and who holds it (the caller's ARN, also what the release history records).
    pub async fn lock(
        &self,
        backend: &StateBackend,
        command: &str,
    ) -> Result<(super::lock::DeployLock, String)> {
        let caller = self.aws.caller_arn().await?;
        let step = self
            .ui
            .step(format!("deploy lock of {} ({command})", self.env));
        match super::lock::DeployLock::acquire(
            self.aws.s3(),
            &backend.bucket,
            &self.env,
            &caller,
            command,
        )
        .await
        {
            Ok(lock) => {
                step.done("held");
                Ok((lock, caller))
            }
            Err(err) => {
                step.fail("held by another run");
                Err(err)
            }
        }
    }

    /// The environment's release history in the state bucket.
    pub fn releases(&self, backend: &StateBackend) -> super::release::ReleaseStore {
        super::release::ReleaseStore::new(self.aws.s3(), &backend.bucket, &self.env)
    }

    /// A Terraform workspace in the rendered root, with this session's region/endpoint.
    pub fn workspace(&self, terraform: Terraform, dir: std::path::PathBuf) -> Workspace {
        let mut env = vec![("AWS_REGION".to_string(), self.aws.region.clone())];
        if let Some(url) = &self.aws.endpoint_url {
            env.push(("AWS_ENDPOINT_URL".into(), url.clone()));
        }
        Workspace {
            terraform,
            dir,
            env,
            ui: self.ui.clone(),
        }
    }
}
