//! `envctl profile show ENV`: print an environment's fully merged profile.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::EnvArgs;
use crate::context::Context;
use crate::{Error, Result};

/// Prints the merged profile as YAML (or JSON with `--output json`).
pub fn show(ctx: &Context, args: &EnvArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    let value = serde_json::to_value(&profile).map_err(|e| Error::Rendered {
        what: "profile".into(),
        message: e.to_string(),
    })?;
    let sources: Vec<String> = profile
        .sources
        .iter()
        .map(|p| p.strip_prefix(&ctx.root).unwrap_or(p).display().to_string())
        .collect();
    let yaml = serde_yaml::to_string(&profile).map_err(|e| Error::Rendered {
        what: "profile".into(),
        message: e.to_string(),
    })?;
    let text = format!(
        "# {} merged from: {}\n{yaml}",
        profile.name,
        sources.join(" <- ")
    );
    ctx.ui
        .result(&text, &json!({ "profile": value, "sources": sources }));
    Ok(ExitCode::SUCCESS)
}
