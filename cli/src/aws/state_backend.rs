//! The Terraform state backend: one CloudFormation stack per account and region
//! (cli/bootstrap/state-backend.yaml) with the state bucket and the lock table,
//! created or updated idempotently.

use std::time::Duration;

use aws_sdk_cloudformation::client::Waiters;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Stack, StackStatus, Tag};
use serde::Serialize;

use crate::terraform::BackendConfig;
use crate::{Error, Result};

/// The stack's template, shipped inside envctl.
pub const TEMPLATE: &str = include_str!("../../bootstrap/state-backend.yaml");
/// The stack's name (one per account and region).
pub const STACK_NAME: &str = "envctl-state-backend";
const WAIT: Duration = Duration::from_secs(30 * 60);

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChange {
    Created,
    Updated,
    Unchanged,
}

/// The state backend of one account and region.
#[derive(Debug, Clone, Serialize)]
pub struct StateBackend {
    pub stack_name: String,
    pub status: String,
    pub bucket: String,
    pub lock_table: String,
    pub region: String,
    pub change: BackendChange,
}

impl StateBackend {
    /// The `-backend-config` values for `terraform init`.
    pub fn backend_config(&self) -> BackendConfig {
        BackendConfig {
            bucket: self.bucket.clone(),
            dynamodb_table: self.lock_table.clone(),
            region: self.region.clone(),
        }
    }
}

/// The stack, if it exists.
pub async fn describe(cfn: &aws_sdk_cloudformation::Client) -> Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(STACK_NAME).send().await {
        Ok(out) => Ok(out.stacks.unwrap_or_default().into_iter().next()),
        Err(err) if err.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
        Err(err) => Err(Error::aws(format!(
            "cloudformation:DescribeStacks {STACK_NAME}"
        ))(err)),
    }
}

/// The backend as it is now (`None` when never bootstrapped), without changing anything.
pub async fn current(
    cfn: &aws_sdk_cloudformation::Client,
    region: &str,
) -> Result<Option<StateBackend>> {
    match describe(cfn).await? {
        Some(stack) if is_usable(&stack) => {
            Ok(Some(from_stack(&stack, region, BackendChange::Unchanged)?))
        }
        _ => Ok(None),
    }
}

/// Creates the stack, or updates it when its template differs from envctl's; waits
/// for CloudFormation to finish either way. Running it again is a no-op.
pub async fn ensure(cfn: &aws_sdk_cloudformation::Client, region: &str) -> Result<StateBackend> {
    let mut existing = describe(cfn).await?;
    if let Some(stack) = &existing {
        let status = stack
            .stack_status
            .clone()
            .unwrap_or(StackStatus::CreateInProgress);
        if status.as_str().ends_with("_IN_PROGRESS") {
            // Someone else (or an interrupted run) is changing it: wait, then decide.
            wait_settled(cfn).await?;
            existing = describe(cfn).await?;
        }
    }
    if let Some(stack) = &existing {
        let status = stack
            .stack_status
            .clone()
            .unwrap_or(StackStatus::CreateComplete);
        // A failed first creation leaves a stack that can only be deleted; the
        // bucket and table are retained resources so nothing is lost.
        if matches!(
            status,
            StackStatus::RollbackComplete | StackStatus::RollbackFailed
        ) {
            tracing::warn!(
                "state backend stack is {}; deleting it to create it again",
                status.as_str()
            );
            // envctl creates the stack with termination protection, and CloudFormation
            // refuses to delete a protected stack even in ROLLBACK_COMPLETE. (moto does
            // not implement UpdateTerminationProtection: only a real account exercises this.)
            if stack.enable_termination_protection() == Some(true) {
                cfn.update_termination_protection()
                    .stack_name(STACK_NAME)
                    .enable_termination_protection(false)
                    .send()
                    .await
                    .map_err(Error::aws(format!(
                        "cloudformation:UpdateTerminationProtection {STACK_NAME}"
                    )))?;
            }
            cfn.delete_stack()
                .stack_name(STACK_NAME)
                .send()
                .await
                .map_err(Error::aws(format!(
                    "cloudformation:DeleteStack {STACK_NAME}"
                )))?;
            cfn.wait_until_stack_delete_complete()
                .stack_name(STACK_NAME)
                .wait(WAIT)
                .await
                .map_err(Error::aws(format!(
                    "waiting for {STACK_NAME} to be deleted"
                )))?;
            existing = None;
        } else if matches!(status, StackStatus::DeleteComplete) {
            existing = None;
        }
    }
    match existing {
        None => {
            cfn.create_stack()
                .stack_name(STACK_NAME)
                .template_body(TEMPLATE)
                .enable_termination_protection(true)
                .tags(
                    Tag::builder()
                        .key("app.kubernetes.io/managed-by")
                        .value("envctl")
                        .build(),
                )
                .send()
                .await
                .map_err(Error::aws(format!(
                    "cloudformation:CreateStack {STACK_NAME}"
                )))?;
            cfn.wait_until_stack_create_complete()
                .stack_name(STACK_NAME)
                .wait(WAIT)
                .await
                .map_err(Error::aws(format!(
                    "waiting for {STACK_NAME} to be created"
                )))?;
            let stack = describe(cfn).await?.ok_or_else(|| Error::Aws {
                operation: format!("cloudformation:DescribeStacks {STACK_NAME}"),
                message: "the stack vanished right after its creation".into(),
            })?;
            from_stack(&stack, region, BackendChange::Created)
        }
        Some(stack) => {
            let deployed = cfn
                .get_template()
                .stack_name(STACK_NAME)
                .send()
                .await
                .map_err(Error::aws(format!(
                    "cloudformation:GetTemplate {STACK_NAME}"
                )))?
                .template_body
                .unwrap_or_default();
            if deployed.trim() == TEMPLATE.trim() {
                return from_stack(&stack, region, BackendChange::Unchanged);
            }
            match cfn
                .update_stack()
                .stack_name(STACK_NAME)
                .template_body(TEMPLATE)
                .send()
                .await
            {
                Ok(_) => {}
                Err(err)
                    if err
                        .message()
                        .is_some_and(|m| m.contains("No updates are to be performed")) =>
                {
                    return from_stack(&stack, region, BackendChange::Unchanged);
                }
                Err(err) => {
                    return Err(Error::aws(format!(
                        "cloudformation:UpdateStack {STACK_NAME}"
                    ))(err))
                }
            }
            cfn.wait_until_stack_update_complete()
                .stack_name(STACK_NAME)
                .wait(WAIT)
                .await
                .map_err(Error::aws(format!(
                    "waiting for {STACK_NAME} to be updated"
                )))?;
            let stack = describe(cfn).await?.unwrap_or(stack);
            from_stack(&stack, region, BackendChange::Updated)
        }
    }
}

async fn wait_settled(cfn: &aws_sdk_cloudformation::Client) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = describe(cfn)
            .await?
            .and_then(|s| s.stack_status)
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if !status.ends_with("_IN_PROGRESS") {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Aws {
                operation: format!("waiting for {STACK_NAME}"),
                message: format!("still {status} after {} minutes", WAIT.as_secs() / 60),
            });
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn is_usable(stack: &Stack) -> bool {
    matches!(
        stack.stack_status,
        Some(
            StackStatus::CreateComplete
                | StackStatus::UpdateComplete
                | StackStatus::UpdateRollbackComplete
                | StackStatus::ImportComplete
        )
    )
}

fn from_stack(stack: &Stack, region: &str, change: BackendChange) -> Result<StateBackend> {
    let output = |key: &str| {
        stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_string)
            .ok_or_else(|| Error::Aws {
                operation: format!("reading {STACK_NAME} outputs"),
                message: format!(
                    "the stack (status {}) has no output {key}",
                    stack
                        .stack_status()
                        .map(|s| s.as_str())
                        .unwrap_or("unknown")
                ),
            })
    };
    Ok(StateBackend {
        stack_name: STACK_NAME.into(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        bucket: output("StateBucketName")?,
        lock_table: output("LockTableName")?,
        region: region.to_string(),
        change,
    })
}
