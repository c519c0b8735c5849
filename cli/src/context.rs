//! What every command gets: the project root, the global flags and the UI.

use std::path::{Path, PathBuf};

use crate::cli::GlobalArgs;
use crate::profile::{Profile, Region};
use crate::ui::Ui;
use crate::{Error, Result};

/// The project root, the global flags and the output channel of one run.
#[derive(Debug)]
pub struct Context {
    pub root: PathBuf,
    pub global: GlobalArgs,
    pub ui: Ui,
}

impl Context {
    /// Finds the project root (from `--root` or upward from the current directory).
    pub fn new(global: GlobalArgs) -> Result<Context> {
        let root = match &global.root {
            Some(root) => root.clone(),
            None => {
                let cwd =
                    std::env::current_dir().map_err(Error::io("reading the current directory"))?;
                find_root(&cwd).ok_or(Error::RootNotFound { start: cwd })?
            }
        };
        let ui = Ui::new(global.output, global.yes);
        Ok(Context { root, global, ui })
    }

    /// Loads profile `name` (see [`Profile::load`]) with the global `--region` applied, so
    /// what is rendered and what the AWS clients reach are the same region.
    pub fn load_profile(&self, name: &str) -> Result<Profile> {
        let profile = Profile::load(&self.root, name)?;
        match &self.global.region {
            None => Ok(profile),
            Some(region) => {
                let region =
                    Region::try_from(region.clone()).map_err(|message| Error::InvalidArgument {
                        what: "--region".into(),
                        value: region.clone(),
                        message,
                    })?;
                Ok(profile.with_region(region))
            }
        }
    }

    /// `.envctl/` under the project root: rendered files and local state.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".envctl")
    }
}

/// The nearest ancestor of `start` holding both `environments/` and `templates/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("environments").is_dir() && dir.join("templates").is_dir())
        .map(Path::to_path_buf)
}
