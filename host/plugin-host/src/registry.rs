use crate::context::CallContext;
use lc_types::{sha3, Hash};
use loopchain_plugin_api::abi_stable::library::lib_header_from_path;
use loopchain_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use loopchain_plugin_api::abi_stable::std_types::{RResult, RString};
use loopchain_plugin_api::{HostContext_TO, ScoreModuleRef, SCORE_API_VERSION};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tracing::info;

/// Why a library was refused. The previously loaded versions stay active.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read or copied.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// abi_stable refused it: not a library, missing root module symbol, wrong layout, or an
    /// incompatible plugin-api version.
    #[error("{path} is not a loadable SCORE library: {reason}")]
    Library {
        /// File.
        path: PathBuf,
        /// abi_stable's explanation.
        reason: String,
    },
    /// Built against another SCORE call contract.
    #[error("{path} speaks SCORE API version {got}, this node speaks {expected}")]
    ApiVersion {
        /// File.
        path: PathBuf,
        /// Its version.
        got: u32,
        /// Ours.
        expected: u32,
    },
}

/// A loaded SCORE library (never unloaded).
pub struct ScoreLibrary {
    /// SHA3-256 of the library file.
    pub code_hash: Hash,
    /// The content-addressed copy it was loaded from.
    pub path: PathBuf,
    /// SCORE name from its metadata.
    pub name: String,
    /// Author's version string from its metadata.
    pub version: String,
    module: ScoreModuleRef,
}

impl std::fmt::Debug for ScoreLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoreLibrary")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("code_hash", &self.code_hash)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Result of a SCORE call: JSON on success, the SCORE's error message otherwise.
pub type CallResult = Result<String, String>;

impl ScoreLibrary {
    fn call(
        ctx: &mut CallContext<'_>,
        f: impl FnOnce(loopchain_plugin_api::HostContextMut<'_>) -> RResult<RString, RString>,
    ) -> CallResult {
        let to = HostContext_TO::from_ptr(ctx, TD_Opaque);
        match f(to) {
            RResult::ROk(v) => Ok(v.into_string()),
            RResult::RErr(e) => Err(e.into_string()),
        }
    }

    /// `on_install(params)`.
    pub fn on_install(&self, ctx: &mut CallContext<'_>, params: &str) -> CallResult {
        let f = self.module.on_install();
        Self::call(ctx, |c| f(c, params.into()))
    }

    /// `on_update(from_version, params)`.
    pub fn on_update(&self, ctx: &mut CallContext<'_>, from_version: &str, params: &str) -> CallResult {
        let f = self.module.on_update();
        Self::call(ctx, |c| f(c, from_version.into(), params.into()))
    }

    /// `invoke(method, params)`.
    pub fn invoke(&self, ctx: &mut CallContext<'_>, method: &str, params: &str) -> CallResult {
        let f = self.module.invoke();
        Self::call(ctx, |c| f(c, method.into(), params.into()))
    }

    /// `query(method, params)`; the context must be read-only.
    pub fn query(&self, ctx: &mut CallContext<'_>, method: &str, params: &str) -> CallResult {
        let f = self.module.query();
        Self::call(ctx, |c| f(c, method.into(), params.into()))
    }

    /// `on_data(json)`.
    pub fn on_data(&self, ctx: &mut CallContext<'_>, data: &str) -> CallResult {
        let f = self.module.on_data();
        Self::call(ctx, |c| f(c, data.into()))
    }
}

/// SCORE names are 1-64 characters of `[a-z0-9_-]` (they name state namespaces: no `/`).
pub fn valid_score_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// All SCORE libraries a node has staged, by code hash.
#[derive(Debug)]
pub struct ScoreRegistry {
    dir: PathBuf,
    loaded: Mutex<BTreeMap<Hash, Arc<ScoreLibrary>>>,
    staging: Mutex<()>,
}

impl ScoreRegistry {
    /// A registry keeping its content-addressed copies in `dir` (created when missing).
    pub fn new(dir: &Path) -> Result<Self, LoadError> {
        std::fs::create_dir_all(dir).map_err(|source| LoadError::Io { path: dir.to_path_buf(), source })?;
        Ok(Self { dir: dir.to_path_buf(), loaded: Mutex::new(BTreeMap::new()), staging: Mutex::new(()) })
    }

    /// Loads every content-addressed copy already in the directory (after a restart). Files
    /// whose content no longer matches their name, or that fail to load, are reported and skipped.
    pub fn load_existing(&self) -> Vec<LoadError> {
        let mut errors = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return errors };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "so")) {
            let bytes = match std::fs::read(&p) {
                Ok(b) => b,
                Err(source) => {
                    errors.push(LoadError::Io { path: p, source });
                    continue;
                }
            };
            // A copy is named after its content: anything else was altered on disk.
            let named = p.file_stem().and_then(|s| s.to_str()).and_then(|s| s.rsplit('-').next()).map(str::to_owned);
            let actual = sha3(&bytes);
            if named.as_deref() != Some(actual.to_hex().as_str()) {
                errors.push(LoadError::Library {
                    path: p,
                    reason: format!("content hash {actual} does not match the file name; skipped"),
                });
                continue;
            }
            if let Err(e) = self.stage_bytes(&p, &bytes) {
                errors.push(e);
            }
        }
        errors
    }

    /// Stages a library file: hash, content-addressed copy, load, check. Idempotent by hash.
    pub fn stage(&self, src: &Path) -> Result<Arc<ScoreLibrary>, LoadError> {
        let bytes = std::fs::read(src).map_err(|source| LoadError::Io { path: src.to_path_buf(), source })?;
        self.stage_bytes(src, &bytes)
    }

    /// Stages library bytes (from a file or, later, from a peer); `origin` names them in errors.
    pub fn stage_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Arc<ScoreLibrary>, LoadError> {
        // One staging at a time: copies, loads and the map stay consistent.
        let _staging = self.staging.lock();
        let code_hash = sha3(bytes);
        if let Some(lib) = self.loaded.lock().get(&code_hash) {
            return Ok(Arc::clone(lib));
        }
        let stem = origin
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| s.split('-').next().unwrap_or(s).to_owned())
            .unwrap_or_else(|| "score".into());
        let path = self.dir.join(format!("{stem}-{code_hash}.so"));
        if !path.exists() {
            let tmp = self.dir.join(format!(".{stem}-{code_hash}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|source| LoadError::Io { path: path.clone(), source })?;
        }
        let checked = Self::open(origin, &path);
        if checked.is_err() {
            // Keep only copies that load: a refused build leaves nothing behind.
            let _ = std::fs::remove_file(&path);
        }
        let (module, meta) = checked?;
        let lib = Arc::new(ScoreLibrary {
            code_hash,
            path,
            name: meta.name.into_string(),
            version: meta.version.into_string(),
            module,
        });
        info!(score = %lib.name, version = %lib.version, code_hash = %code_hash, "staged SCORE library");
        self.loaded.lock().insert(code_hash, Arc::clone(&lib));
        Ok(lib)
    }

    fn open(origin: &Path, path: &Path) -> Result<(ScoreModuleRef, loopchain_plugin_api::ScoreMetadata), LoadError> {
        let refused = |reason: String| LoadError::Library { path: origin.to_path_buf(), reason };
        let header = lib_header_from_path(path).map_err(|e| refused(e.to_string()))?;
        let module = header.init_root_module::<ScoreModuleRef>().map_err(|e| refused(e.to_string()))?;
        let meta = (module.metadata())();
        if meta.api_version != SCORE_API_VERSION {
            return Err(LoadError::ApiVersion {
                path: origin.to_path_buf(),
                got: meta.api_version,
                expected: SCORE_API_VERSION,
            });
        }
        if !valid_score_name(meta.name.as_str()) {
            return Err(refused(format!("SCORE name {:?} is invalid: use 1-64 of [a-z0-9_-]", meta.name.as_str())));
        }
        Ok((module, meta))
    }

    /// A staged library by code hash.
    pub fn get(&self, code_hash: &Hash) -> Option<Arc<ScoreLibrary>> {
        self.loaded.lock().get(code_hash).cloned()
    }

    /// Every staged library, by code hash.
    pub fn all(&self) -> Vec<Arc<ScoreLibrary>> {
        self.loaded.lock().values().cloned().collect()
    }
}
