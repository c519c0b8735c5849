//! Finding the terraform binary (`--terraform`, `TERRAFORM`, then `PATH`) and checking its version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// The oldest Terraform envctl drives. 1.5 is the first release with everything the
/// rendered roots and the plan summary rely on: `action_reason` and `replace_paths` in
/// `show -json`, `check`/`import` blocks, and the S3 backend's `dynamodb_table` locking.
pub const MIN_VERSION: TerraformVersion = TerraformVersion {
    major: 1,
    minor: 5,
    patch: 0,
};

const INSTALL_HELP: &str =
    "install Terraform 1.5 or newer (https://developer.hashicorp.com/terraform/install, \
     or `tfenv install 1.9.8`), then put it on PATH, set TERRAFORM=/path/to/terraform, \
     or pass --terraform /path/to/terraform";

/// A Terraform release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TerraformVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl TerraformVersion {
    /// Parses `1.9.8`, `v1.9.8` or `1.10.0-beta1` (pre-release suffixes are ignored).
    pub fn parse(text: &str) -> Option<TerraformVersion> {
        let text = text.trim().trim_start_matches('v');
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some(TerraformVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next().unwrap_or(Some(0))?,
        })
    }
}

impl fmt::Display for TerraformVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A terraform binary that is new enough.
#[derive(Debug, Clone)]
pub struct Terraform {
    pub path: PathBuf,
    pub version: TerraformVersion,
}

impl Terraform {
    /// Finds terraform: `explicit` (from `--terraform` or `TERRAFORM`), else `terraform`
    /// on PATH; then checks `terraform version -json` against [`MIN_VERSION`].
    pub fn discover(explicit: Option<&Path>) -> Result<Terraform> {
        let path = match explicit {
            Some(path) => {
                if !path.is_file() {
                    return Err(Error::Prerequisite {
                        message: format!(
                            "terraform not found at {} (from --terraform or TERRAFORM)",
                            path.display()
                        ),
                        help: Some(INSTALL_HELP.into()),
                    });
                }
                path.to_path_buf()
            }
            None => find_on_path("terraform").ok_or_else(|| Error::Prerequisite {
                message: "terraform is not installed: no `terraform` on PATH".into(),
                help: Some(INSTALL_HELP.into()),
            })?,
        };
        let output = Command::new(&path)
            .args(["version", "-json"])
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .map_err(|e| Error::Prerequisite {
                message: format!("could not run {} version -json: {e}", path.display()),
                help: Some(INSTALL_HELP.into()),
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let version = serde_json::from_str::<serde_json::Value>(&stdout)
            .ok()
            .and_then(|v| {
                v["terraform_version"]
                    .as_str()
                    .and_then(TerraformVersion::parse)
            })
            .ok_or_else(|| Error::Prerequisite {
                message: format!(
                    "{} does not look like terraform: `version -json` printed {:?}",
                    path.display(),
                    stdout.trim()
                ),
                help: Some(INSTALL_HELP.into()),
            })?;
        if version < MIN_VERSION {
            return Err(Error::Prerequisite {
                message: format!(
                    "terraform {version} at {} is too old: envctl needs {MIN_VERSION} or newer",
                    path.display()
                ),
                help: Some(INSTALL_HELP.into()),
            });
        }
        Ok(Terraform { path, version })
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let v = |s| TerraformVersion::parse(s).unwrap();
        assert_eq!(v("1.0.3").to_string(), "1.0.3");
        assert_eq!(v("v1.10.0-beta1").to_string(), "1.10.0");
        assert!(v("1.0.3") < MIN_VERSION);
        assert!(v("1.5.0") >= MIN_VERSION);
        assert!(v("1.10.1") > v("1.9.8"));
        assert!(TerraformVersion::parse("banana").is_none());
    }
}
