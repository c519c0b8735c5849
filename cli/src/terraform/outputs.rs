//! The root outputs of an applied environment (`terraform output -json`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{Error, Result};

/// `terraform output -json`: output name -> value.
#[derive(Debug, Clone, Default)]
pub struct TerraformOutputs {
    values: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct OutputJson {
    value: serde_json::Value,
}

impl TerraformOutputs {
    pub fn parse(json: &str) -> Result<TerraformOutputs> {
        let raw: BTreeMap<String, OutputJson> =
            serde_json::from_str(json).map_err(|e| Error::Terraform {
                step: "output -json".into(),
                message: format!("unexpected output JSON: {e}"),
                help: None,
            })?;
        Ok(TerraformOutputs {
            values: raw.into_iter().map(|(k, v)| (k, v.value)).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A string output, or an error naming it when it is missing.
    pub fn string(&self, name: &str) -> Result<String> {
        self.optional(name).ok_or_else(|| Error::Terraform {
            step: "output".into(),
            message: format!("the root module has no string output `{name}`"),
            help: Some(
                "the rendered outputs.tf must declare it; re-render with `envctl render`".into(),
            ),
        })
    }

    /// Any output's value, or an error naming it when it is missing.
    pub fn value(&self, name: &str) -> Result<&serde_json::Value> {
        self.values.get(name).ok_or_else(|| Error::Terraform {
            step: "output".into(),
            message: format!("the root module has no output `{name}`"),
            help: Some(
                "the rendered outputs.tf must declare it; re-render with `envctl render`".into(),
            ),
        })
    }

    /// A string output, if present and not null.
    pub fn optional(&self, name: &str) -> Option<String> {
        match self.values.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}
