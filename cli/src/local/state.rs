//! `.envctl/local/state.json`: what the last `up local` started (ports, URLs, the binary
//! and its settings), read back by `status`, `down` and the next `up`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use crate::{Error, Result};

/// The recorded state of the local environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    /// The api's base URL, e.g. `http://127.0.0.1:40123`.
    pub api_url: String,
    pub api_port: u16,
    pub db_port: u16,
    /// The runtime's database (superuser, trust auth on loopback).
    pub database_url: String,
    pub workers: u32,
    /// Each worker's health port (`rates work` serves /healthz, /readyz, /metrics).
    #[serde(default)]
    pub worker_ports: std::collections::BTreeMap<String, u16>,
    pub rates_bin: PathBuf,
    /// Digests of the binary and the settings the api and the workers run with: when one
    /// changes, the next `up` restarts those processes.
    pub api_fingerprint: String,
    pub worker_fingerprint: String,
    /// The Idempotency-Key the demo batch was posted with, once it committed.
    #[serde(default)]
    pub demo_batch: Option<DemoBatch>,
}

/// The demo data batch as the api reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoBatch {
    pub id: String,
    pub idempotency_key: String,
    pub status: String,
}

impl LocalState {
    /// The recorded state, if `up local` has run (a damaged file reads as none).
    pub fn load(layout: &Layout) -> Option<LocalState> {
        let text = std::fs::read_to_string(layout.state_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn save(&self, layout: &Layout) -> Result<()> {
        let path = layout.state_file();
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("state serialises");
        std::fs::write(&tmp, text + "\n")
            .map_err(Error::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(Error::io(format!("writing {}", path.display())))
    }
}
