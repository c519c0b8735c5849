//! The review stacks' side of AWS: a connected [`MarkerStore`] with its own runtime,
//! called from the synchronous command code (the deploy operations run their own).

use tokio::runtime::Runtime;

use super::marker::{Listing, Marker, MarkerStore};
use super::name::PrNumber;
use super::record::ReviewRecord;
use crate::aws::Aws;
use crate::context::Context;
use crate::deploy::Session;
use crate::profile::Profile;
use crate::Result;

/// Marker stacks in the review profile's account and region.
pub struct ReviewCloud {
    runtime: Runtime,
    store: MarkerStore,
    pub region: String,
    pub account_id: String,
}

impl ReviewCloud {
    /// Connects with the standard credentials to `--region` (else the review profile's),
    /// and checks the account against the profile's `aws.account_id`.
    pub fn connect(ctx: &Context, template: &Profile) -> Result<ReviewCloud> {
        let runtime = Session::runtime()?;
        let region = ctx
            .global
            .region
            .clone()
            .unwrap_or_else(|| template.aws.region.as_str().to_string());
        let (aws, account_id) = runtime.block_on(async {
            let aws = Aws::connect(&region, ctx.global.endpoint_url.as_deref()).await;
            let expected = template
                .aws
                .account_id
                .as_ref()
                .map(|a| a.as_str().to_string());
            let account = aws.check_account("review", expected.as_deref()).await?;
            Ok::<_, crate::Error>((aws, account))
        })?;
        Ok(ReviewCloud {
            store: MarkerStore::new(aws.cloudformation()),
            runtime,
            region,
            account_id,
        })
    }

    pub fn get(&self, pr: PrNumber) -> Result<Option<Marker>> {
        self.runtime.block_on(self.store.get(pr))
    }

    pub fn list(&self) -> Result<Listing> {
        self.runtime.block_on(self.store.list())
    }

    pub fn put(&self, record: &ReviewRecord) -> Result<()> {
        self.runtime.block_on(self.store.put(record))
    }

    pub fn delete(&self, pr: PrNumber) -> Result<()> {
        self.runtime.block_on(self.store.delete(pr))
    }

    /// Runs other async work (the GitHub calls) on the same runtime.
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }
}
