//! Consensus-scheme libraries of a running node: staged at start, and staged again by a watcher
//! when a build changes. Staging never activates anything: a scheme (or a new build of one) only
//! takes effect through a committed `ChannelConfig` naming it (and its code hash) at an epoch
//! boundary. Without a code hash, an epoch uses the build staged at start (`preferred`), so a
//! rebuild on disk cannot change a running epoch.
use anyhow::{Context, Result};
use lc_plugin_host::ConsensusRegistry;
use lc_types::Hash;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The consensus plugins shipped with loopchain (crate `consensus-<name>`).
pub(crate) const SCHEMES: [&str; 3] = ["equal", "weighted", "groups"];

fn library_file(dir: &Path, scheme: &str) -> PathBuf {
    dir.join(format!("libconsensus_{}.so", scheme.replace('-', "_")))
}

/// Stages every scheme library found in `dirs` (the first directory holding a scheme wins);
/// returns name → code hash of the staged builds.
pub(crate) fn stage_all(registry: &ConsensusRegistry, dirs: &[PathBuf]) -> BTreeMap<String, Hash> {
    let mut preferred = BTreeMap::new();
    for scheme in SCHEMES {
        let Some(file) = dirs.iter().map(|d| library_file(d, scheme)).find(|f| f.exists()) else { continue };
        match registry.stage(&file) {
            Ok(lib) => {
                info!(scheme = %lib.name, code_hash = %lib.code_hash, version = %lib.version, "consensus plugin staged");
                preferred.insert(lib.name.clone(), lib.code_hash);
            }
            Err(e) => warn!(path = %file.display(), error = %e, "consensus plugin refused"),
        }
    }
    preferred
}

/// Watches `dir` and stages changed scheme builds (never activating them).
pub(crate) fn watch(registry: Arc<ConsensusRegistry>, dir: PathBuf) -> Result<impl Drop> {
    let names: Vec<std::ffi::OsString> =
        SCHEMES.iter().filter_map(|s| library_file(&dir, s).file_name().map(|n| n.to_owned())).collect();
    let mut debouncer = new_debouncer(Duration::from_millis(300), None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let mut changed: Vec<PathBuf> = events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Access(_)))
            .flat_map(|e| e.paths.iter())
            .filter(|p| p.file_name().is_some_and(|n| names.iter().any(|w| w == n)))
            .cloned()
            .collect();
        changed.sort();
        changed.dedup();
        for path in changed {
            if !path.exists() {
                continue;
            }
            match registry.stage(&path) {
                Ok(lib) => info!(scheme = %lib.name, code_hash = %lib.code_hash,
                    "consensus plugin build staged; it takes effect only through a ChannelConfig naming this code hash"),
                Err(e) => warn!(path = %path.display(), error = %e, "consensus plugin build refused"),
            }
        }
    })
    .context("starting the consensus plugin watcher")?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;
    Ok(debouncer)
}
