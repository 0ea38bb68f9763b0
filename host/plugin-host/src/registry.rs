use crate::context::CallContext;
use crate::store::{PluginKind, Store};
use lc_types::Hash;
use loopchain_plugin_api::abi_stable::library::lib_header_from_path;
use loopchain_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use loopchain_plugin_api::abi_stable::std_types::{RResult, RString};
use loopchain_plugin_api::{HostContext_TO, ScoreModuleRef, SCORE_API_VERSION};
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

/// SCORE libraries as a [`PluginKind`] of the shared store.
#[derive(Debug)]
pub(crate) struct ScoreKind;

impl PluginKind for ScoreKind {
    type Lib = ScoreLibrary;
    type Error = LoadError;
    const STEM: &'static str = "score";

    fn io(path: PathBuf, source: std::io::Error) -> LoadError {
        LoadError::Io { path, source }
    }

    fn refused(path: PathBuf, reason: String) -> LoadError {
        LoadError::Library { path, reason }
    }

    fn open(origin: &Path, path: PathBuf, code_hash: Hash) -> Result<ScoreLibrary, LoadError> {
        let refused = |reason: String| LoadError::Library { path: origin.to_path_buf(), reason };
        let header = lib_header_from_path(&path).map_err(|e| refused(e.to_string()))?;
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
        let lib = ScoreLibrary {
            code_hash,
            path,
            name: meta.name.into_string(),
            version: meta.version.into_string(),
            module,
        };
        info!(score = %lib.name, version = %lib.version, code_hash = %code_hash, "staged SCORE library");
        Ok(lib)
    }
}

/// All SCORE libraries a node has staged, by code hash.
#[derive(Debug)]
pub struct ScoreRegistry {
    store: Store<ScoreKind>,
}

impl ScoreRegistry {
    /// A registry keeping its content-addressed copies in `dir` (created when missing).
    pub fn new(dir: &Path) -> Result<Self, LoadError> {
        Ok(Self { store: Store::new(dir)? })
    }

    /// The directory of the content-addressed copies.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// Loads every content-addressed copy already in the directory (after a restart). Files
    /// whose content no longer matches their name, or that fail to load, are reported and skipped.
    pub fn load_existing(&self) -> Vec<LoadError> {
        self.store.load_existing()
    }

    /// Stages a library file: hash, content-addressed copy, load, check. Idempotent by hash.
    pub fn stage(&self, src: &Path) -> Result<Arc<ScoreLibrary>, LoadError> {
        self.store.stage(src)
    }

    /// Stages library bytes (from a file or, later, from a peer); `origin` names them in errors.
    pub fn stage_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Arc<ScoreLibrary>, LoadError> {
        self.store.stage_bytes(origin, bytes)
    }

    /// A staged library by code hash.
    pub fn get(&self, code_hash: &Hash) -> Option<Arc<ScoreLibrary>> {
        self.store.get(code_hash)
    }

    /// Every staged library, by code hash.
    pub fn all(&self) -> Vec<Arc<ScoreLibrary>> {
        self.store.all()
    }
}
