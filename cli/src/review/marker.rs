//! The review stacks' cloud-side record: one small CloudFormation "marker" stack per
//! pull request (`envctl-review-pr<N>`), holding a no-cost `WaitConditionHandle` and the
//! [`ReviewRecord`] in its tags. Created first by `review up`, deleted last by
//! `review down`, so an interrupted teardown stays visible and is resumed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Stack, StackStatus, Tag};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use super::name::PrNumber;
use super::record::{tag, ReviewRecord, MARKER_PREFIX};
use crate::{Error, Result};

/// The marker stack's template: one resource that costs nothing and does nothing.
const TEMPLATE: &str = r#"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "envctl review stack marker: its tags record the pull request, owner, expiry and status of one review environment. It creates nothing billable; `envctl review down` deletes it last.",
  "Resources": {
    "Marker": {
      "Type": "AWS::CloudFormation::WaitConditionHandle"
    }
  }
}"#;

/// How long to wait for a marker stack operation (they take seconds).
const WAIT_TIMEOUT: Duration = Duration::from_secs(600);
/// A listing that has not ended after this many pages is treated as broken.
const MAX_PAGES: usize = 10_000;

/// A marker stack as found: its record and its CloudFormation state.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    #[serde(flatten)]
    pub record: ReviewRecord,
    pub stack_name: String,
    /// CloudFormation's status of the marker stack itself, e.g. `CREATE_COMPLETE`.
    pub stack_status: String,
}

/// Every review marker found, and everything that looked like one but did not read back.
#[derive(Debug, Default)]
pub struct Listing {
    pub markers: Vec<Marker>,
    /// Inconsistencies, each naming the stack and what is wrong with it.
    pub problems: Vec<String>,
}

/// Reads and writes marker stacks through CloudFormation.
#[derive(Debug, Clone)]
pub struct MarkerStore {
    client: Client,
    poll: Duration,
}

impl MarkerStore {
    pub fn new(client: Client) -> MarkerStore {
        MarkerStore {
            client,
            poll: Duration::from_secs(2),
        }
    }

    /// The marker of pull request `pr`, if there is one. A marker whose tags do not
    /// read back is an error (naming the stack and the tag).
    pub async fn get(&self, pr: PrNumber) -> Result<Option<Marker>> {
        let name = ReviewRecord::marker_name(pr);
        match self.describe(&name).await? {
            None => Ok(None),
            Some(stack) => marker_from_stack(&stack)
                .map(Some)
                .map_err(|problem| Error::Aws {
                    operation: format!("reading review marker stack {name}"),
                    message: problem,
                }),
        }
    }

    /// Every review marker stack in the account and region (all pages of DescribeStacks).
    /// A failing call is an error; stacks that look like markers but do not read back
    /// are listed as problems.
    pub async fn list(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        let mut seen_tokens = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .describe_stacks()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(Error::aws(
                    "CloudFormation DescribeStacks (listing review stacks)",
                ))?;
            for stack in page.stacks() {
                let name = stack.stack_name().unwrap_or_default();
                let tagged = stack.tags().iter().any(|t| t.key() == Some(tag::REVIEW));
                if !tagged && !name.starts_with(MARKER_PREFIX) {
                    continue;
                }
                match marker_from_stack(stack) {
                    Ok(marker) => listing.markers.push(marker),
                    Err(problem) => listing.problems.push(problem),
                }
            }
            match page.next_token() {
                None | Some("") => {
                    listing.markers.sort_by_key(|m| m.record.pr);
                    let mut prs: Vec<PrNumber> =
                        listing.markers.iter().map(|m| m.record.pr).collect();
                    prs.dedup();
                    if prs.len() != listing.markers.len() {
                        listing
                            .problems
                            .push("the listing returned the same review stack twice".into());
                    }
                    return Ok(listing);
                }
                Some(next) => {
                    if !seen_tokens.insert(next.to_string()) {
                        return Err(Error::Aws {
                            operation: "CloudFormation DescribeStacks (listing review stacks)"
                                .into(),
                            message: format!(
                                "pagination token `{next}` came back twice; the listing never ends"
                            ),
                        });
                    }
                    token = Some(next.to_string());
                }
            }
        }
        Err(Error::Aws {
            operation: "CloudFormation DescribeStacks (listing review stacks)".into(),
            message: format!("more than {MAX_PAGES} pages; giving up"),
        })
    }

    /// Creates or updates the marker stack of `record.pr` with `record`'s tags and waits
    /// until CloudFormation is done with it.
    pub async fn put(&self, record: &ReviewRecord) -> Result<()> {
        let name = ReviewRecord::marker_name(record.pr);
        let tags: Vec<Tag> = record
            .to_tags()
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let existing = match self.describe(&name).await? {
            Some(stack) => Some(self.wait_settled(&name, stack).await?),
            None => None,
        };
        match existing.as_ref().and_then(|s| s.stack_status().cloned()) {
            Some(StackStatus::RollbackComplete) | Some(StackStatus::RollbackFailed) => {
                // A marker whose creation failed cannot be updated, only replaced.
                self.delete(record.pr).await?;
                self.create(&name, tags).await
            }
            Some(_) => {
                let result = self
                    .client
                    .update_stack()
                    .stack_name(&name)
                    .template_body(TEMPLATE)
                    .set_tags(Some(tags))
                    .send()
                    .await;
                match result {
                    Ok(_) => {}
                    Err(err)
                        if err
                            .message()
                            .is_some_and(|m| m.contains("No updates are to be performed")) => {}
                    Err(err) => {
                        return Err(Error::aws(format!("CloudFormation UpdateStack {name}"))(
                            err,
                        ))
                    }
                }
                self.wait_done(&name, "UPDATE").await
            }
            None => self.create(&name, tags).await,
        }
    }

    /// Deletes the marker stack of `pr` and waits until it is gone (already gone is fine).
    pub async fn delete(&self, pr: PrNumber) -> Result<()> {
        let name = ReviewRecord::marker_name(pr);
        let Some(stack) = self.describe(&name).await? else {
            return Ok(());
        };
        let stack_id = stack.stack_id().unwrap_or(&name).to_string();
        self.client
            .delete_stack()
            .stack_name(&name)
            .send()
            .await
            .map_err(Error::aws(format!("CloudFormation DeleteStack {name}")))?;
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            // By id: a deleted stack is still described by id, with DELETE_COMPLETE.
            match self.describe(&stack_id).await? {
                None => return Ok(()),
                Some(stack) => match stack.stack_status() {
                    Some(StackStatus::DeleteComplete) => return Ok(()),
                    Some(StackStatus::DeleteFailed) => {
                        return Err(Error::Aws {
                            operation: format!("deleting review marker stack {name}"),
                            message: format!(
                                "DELETE_FAILED: {}",
                                stack.stack_status_reason().unwrap_or("no reason given")
                            ),
                        })
                    }
                    _ => {}
                },
            }
            if Instant::now() > deadline {
                return Err(timeout(&name, "deletion"));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn create(&self, name: &str, tags: Vec<Tag>) -> Result<()> {
        self.client
            .create_stack()
            .stack_name(name)
            .template_body(TEMPLATE)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(Error::aws(format!("CloudFormation CreateStack {name}")))?;
        self.wait_done(name, "CREATE").await
    }

    /// Waits for `<action>_COMPLETE` (an error on failure or rollback).
    async fn wait_done(&self, name: &str, action: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let stack = self.describe(name).await?.ok_or_else(|| Error::Aws {
                operation: format!("waiting for review marker stack {name}"),
                message: "the stack disappeared".into(),
            })?;
            let status = stack.stack_status().map(|s| s.as_str()).unwrap_or_default();
            if status == format!("{action}_COMPLETE") {
                return Ok(());
            }
            if !status.ends_with("_IN_PROGRESS") {
                return Err(Error::Aws {
                    operation: format!("{} review marker stack {name}", action.to_lowercase()),
                    message: format!(
                        "{status}: {}",
                        stack.stack_status_reason().unwrap_or("no reason given")
                    ),
                });
            }
            if Instant::now() > deadline {
                return Err(timeout(name, &action.to_lowercase()));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Waits until no operation is in progress on the stack; returns its settled state.
    async fn wait_settled(&self, name: &str, mut stack: Stack) -> Result<Stack> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while stack
            .stack_status()
            .is_some_and(|s| s.as_str().ends_with("_IN_PROGRESS"))
        {
            if Instant::now() > deadline {
                return Err(timeout(name, "a pending operation"));
            }
            tokio::time::sleep(self.poll).await;
            stack = self.describe(name).await?.ok_or_else(|| Error::Aws {
                operation: format!("waiting for review marker stack {name}"),
                message: "the stack disappeared while another operation ran on it".into(),
            })?;
        }
        Ok(stack)
    }

    /// DescribeStacks for one stack; `None` when it does not exist.
    async fn describe(&self, name_or_id: &str) -> Result<Option<Stack>> {
        match self
            .client
            .describe_stacks()
            .stack_name(name_or_id)
            .send()
            .await
        {
            Ok(out) => Ok(out.stacks().first().cloned()),
            Err(err)
                if err.code() == Some("ValidationError")
                    && err.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(None)
            }
            Err(err) => Err(Error::aws(format!(
                "CloudFormation DescribeStacks {name_or_id}"
            ))(err)),
        }
    }
}

fn marker_from_stack(stack: &Stack) -> std::result::Result<Marker, String> {
    let name = stack.stack_name().unwrap_or_default();
    let tags: BTreeMap<String, String> = stack
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect();
    let record = ReviewRecord::from_tags(name, &tags)?;
    Ok(Marker {
        record,
        stack_name: name.to_string(),
        stack_status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    })
}

fn timeout(name: &str, what: &str) -> Error {
    Error::Aws {
        operation: format!("waiting for review marker stack {name}"),
        message: format!("{what} did not finish within {} s", WAIT_TIMEOUT.as_secs()),
    }
}
