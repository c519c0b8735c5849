//! `envctl list`: the deployable environments and their main settings.

use std::process::ExitCode;

use serde_json::json;

use crate::context::Context;
use crate::profile::Profile;
use crate::Result;

/// Prints one line (or JSON object) per environment.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for name in Profile::names(&ctx.root)? {
        let p = Profile::load(&ctx.root, &name)?;
        let zones = p.network.az_count;
        let api = p.runtime.api.replicas;
        let worker = p.runtime.worker.replicas;
        rows.push([
            p.name.to_string(),
            p.target.as_str().to_string(),
            if p.protected {
                "yes".into()
            } else {
                "no".into()
            },
            p.aws.region.to_string(),
            zones.to_string(),
            format!(
                "{}{}",
                p.database.instance_class,
                if p.database.multi_az { " multi-az" } else { "" }
            ),
            p.database.read_replicas.to_string(),
            format!("{}-{}", api.min, api.max),
            format!("{}-{}", worker.min, worker.max),
            p.description.clone(),
        ]);
        items.push(json!({
            "name": p.name.as_str(),
            "target": p.target.as_str(),
            "protected": p.protected,
            "region": p.aws.region.as_str(),
            "az_count": zones,
            "database": {
                "instance_class": p.database.instance_class.as_str(),
                "multi_az": p.database.multi_az,
                "read_replicas": p.database.read_replicas,
            },
            "api_replicas": { "min": api.min, "max": api.max },
            "worker_replicas": { "min": worker.min, "max": worker.max },
            "description": p.description,
        }));
    }
    let header = [
        "NAME",
        "TARGET",
        "PROTECTED",
        "REGION",
        "AZS",
        "DATABASE",
        "REPLICAS",
        "API",
        "WORKERS",
        "DESCRIPTION",
    ];
    ctx.ui
        .result(&table(&header, &rows), &json!({ "environments": items }));
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
