//! `envctl render ENV [--out DIR]`: write an environment's files (no cloud access).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::RenderArgs;
use crate::context::Context;
use crate::render;
use crate::Result;

/// Renders `args.env` into `--out` (default `.envctl/ENV/`) and lists what was written.
pub fn run(ctx: &Context, args: &RenderArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    let rendered = render::render(&ctx.root, &profile)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| ctx.state_dir().join(profile.name.as_str()));
    rendered.write(&out)?;
    let files: Vec<String> = rendered
        .files
        .keys()
        .map(|p| render::slash_path(p))
        .collect();
    let text = format!(
        "rendered {} ({} files) into {}\n",
        profile.name,
        files.len(),
        out.display()
    );
    ctx.ui.result(
        &text,
        &json!({ "environment": profile.name.as_str(), "out": out, "files": files }),
    );
    Ok(ExitCode::SUCCESS)
}
