//! SCORE libraries of a running node: staging at start, auto-deploy, and the rebuild watcher.
//!
//! The watcher observes the library **directory** (cargo replaces files by unlink + link, which a
//! file watch would lose), keeps only events on `lib<score>.so`, ignores `Access` events (our own
//! `dlopen` fires them), and acts after the debounce: stage the new build (copy, hash, load,
//! check) and, with `SCORE_AUTO_DEPLOY` and the admin key, submit a `Deploy` transaction, so the
//! build goes live on every node at the same height.
use anyhow::{Context, Result};
use lc_engine::{Channel, ScoreRuntime};
use lc_types::Payload;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// File name cargo gives the cdylib of SCORE `score`.
pub(crate) fn library_file(dir: &Path, score: &str) -> PathBuf {
    dir.join(format!("lib{}.so", score.replace('-', "_")))
}

/// Where SCORE libraries are looked for: the configured path, else next to the running binary.
pub(crate) fn library_dir(configured: &str) -> Result<PathBuf> {
    if !configured.is_empty() {
        return Ok(PathBuf::from(configured));
    }
    let exe = std::env::current_exe().context("locating the running binary")?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")))
}

/// Stages the current build of the channel's SCORE and, when it is not the active code and this
/// node may deploy it, submits the `Deploy` transaction.
pub(crate) fn sync_build(channel: &Channel, runtime: &ScoreRuntime, dir: &Path, auto_deploy: bool, params: &str) {
    let score = runtime.channel_score();
    if score.is_empty() {
        return;
    }
    let file = library_file(dir, score);
    if !file.exists() {
        warn!(score, path = %file.display(), "SCORE library not found; build it with `cargo build -p {score}` (Data transactions fail until it is deployed)");
        return;
    }
    let lib = match runtime.registry().stage(&file) {
        Ok(lib) => {
            runtime.set_last_load_error(None);
            lib
        }
        Err(e) => {
            warn!(score, error = %e, "refused SCORE build; the active version keeps serving");
            runtime.set_last_load_error(Some(e.to_string()));
            return;
        }
    };
    if lib.name != score {
        let msg = format!("{} holds SCORE {:?}, expected {score:?}", file.display(), lib.name);
        warn!("{msg}");
        runtime.set_last_load_error(Some(msg));
        return;
    }
    let active = match runtime.active(channel.store(), score) {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "cannot read the active SCORE");
            return;
        }
    };
    if active.as_ref().is_some_and(|a| a.code_hash == lib.code_hash) {
        return;
    }
    if !auto_deploy || !runtime.is_admin(&channel.node_key()) {
        info!(score, code_hash = %lib.code_hash, "staged a new SCORE build; an admin-signed Deploy activates it");
        return;
    }
    let tx = channel.sign_own(Payload::Deploy {
        score: score.to_owned(),
        code_hash: lib.code_hash,
        params: params.to_owned(),
    });
    match channel.submit(vec![tx]).pop() {
        Some(Ok(hash)) => {
            info!(score, version = %lib.version, code_hash = %lib.code_hash, tx = %hash, "submitted Deploy")
        }
        Some(Err(e)) => warn!(score, error = %e, "Deploy transaction refused"),
        None => {}
    }
}

/// Watches the library directory; returns the watcher (dropping it stops watching).
pub(crate) fn watch(
    channel: Arc<Channel>,
    runtime: ScoreRuntime,
    dir: PathBuf,
    auto_deploy: bool,
    params: String,
) -> Result<impl Drop> {
    let wanted = library_file(&dir, runtime.channel_score());
    let file_name = wanted.file_name().map(|n| n.to_owned());
    let watched_dir = dir.clone();
    let mut debouncer = new_debouncer(Duration::from_millis(300), None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let relevant = events.iter().any(|e| {
            !matches!(e.kind, EventKind::Access(_))
                && e.paths.iter().any(|p| p.file_name().map(|n| n.to_owned()) == file_name)
        });
        if relevant {
            info!(path = %wanted.display(), "SCORE library changed");
            sync_build(&channel, &runtime, &watched_dir, auto_deploy, &params);
        }
    })
    .context("starting the SCORE file watcher")?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;
    info!(dir = %dir.display(), "watching SCORE libraries for rebuilds");
    Ok(debouncer)
}
