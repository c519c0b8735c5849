//! The environment's CloudWatch dashboard (cloudwatch/dashboard.json): put when
//! new or different, deleted on `down`.

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::Client;
use serde::Serialize;

use crate::{Error, Result};

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DashboardChange {
    Created,
    Updated,
    Unchanged,
}

/// The dashboard's body as deployed, if it exists.
pub async fn get(cw: &Client, name: &str) -> Result<Option<String>> {
    match cw.get_dashboard().dashboard_name(name).send().await {
        Ok(out) => Ok(out.dashboard_body),
        Err(err) if is_not_found(&err) => Ok(None),
        Err(err) => Err(Error::aws(format!("cloudwatch:GetDashboard {name}"))(err)),
    }
}

/// Puts the dashboard unless the deployed body is already the same JSON.
pub async fn put(cw: &Client, name: &str, body: &str) -> Result<DashboardChange> {
    let wanted: serde_json::Value = serde_json::from_str(body).map_err(|e| Error::Rendered {
        what: "cloudwatch/dashboard.json".into(),
        message: format!("line {}, column {}: {e}", e.line(), e.column()),
    })?;
    let change = match get(cw, name).await? {
        Some(now)
            if serde_json::from_str::<serde_json::Value>(&now)
                .ok()
                .as_ref()
                == Some(&wanted) =>
        {
            return Ok(DashboardChange::Unchanged)
        }
        Some(_) => DashboardChange::Updated,
        None => DashboardChange::Created,
    };
    let out = cw
        .put_dashboard()
        .dashboard_name(name)
        .dashboard_body(body)
        .send()
        .await
        .map_err(Error::aws(format!("cloudwatch:PutDashboard {name}")))?;
    for message in out.dashboard_validation_messages() {
        tracing::warn!(
            "dashboard {name}: {} at {}",
            message.message().unwrap_or_default(),
            message.data_path().unwrap_or("/")
        );
    }
    Ok(change)
}

/// Deletes the dashboard; `false` when it was already gone.
pub async fn delete(cw: &Client, name: &str) -> Result<bool> {
    if get(cw, name).await?.is_none() {
        return Ok(false);
    }
    match cw.delete_dashboards().dashboard_names(name).send().await {
        Ok(_) => Ok(true),
        Err(err) if is_not_found(&err) => Ok(false),
        Err(err) => Err(Error::aws(format!("cloudwatch:DeleteDashboards {name}"))(
            err,
        )),
    }
}

fn is_not_found<E: ProvideErrorMetadata>(err: &E) -> bool {
    matches!(
        err.code(),
        Some("ResourceNotFound" | "ResourceNotFoundException")
    )
}
