//! The content-addressed library store shared by every plugin kind: copies named
//! `<stem>-<sha3>.so` (written to a temp name, synced, renamed; never over a loaded file), loaded
//! and checked by the kind, kept by code hash, never unloaded. A copy that does not load is
//! removed, so a refused build leaves nothing behind.
use lc_types::{sha3, Hash};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What differs between plugin kinds: how a copy is opened and checked, and the error type.
pub(crate) trait PluginKind {
    /// A loaded library.
    type Lib;
    /// Why a library was refused.
    type Error;
    /// Stem of copies whose origin has no usable file name.
    const STEM: &'static str;
    /// An IO failure on `path`.
    fn io(path: PathBuf, source: std::io::Error) -> Self::Error;
    /// A refusal of `path` with a reason.
    fn refused(path: PathBuf, reason: String) -> Self::Error;
    /// Loads and checks the copy at `copy` (staged from `origin`, whose name errors mention).
    fn open(origin: &Path, copy: PathBuf, code_hash: Hash) -> Result<Self::Lib, Self::Error>;
}

/// Libraries of one kind, by code hash.
pub(crate) struct Store<K: PluginKind> {
    dir: PathBuf,
    loaded: Mutex<BTreeMap<Hash, Arc<K::Lib>>>,
    staging: Mutex<()>,
}

impl<K: PluginKind> std::fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("loaded", &self.loaded.lock().len()).finish()
    }
}

impl<K: PluginKind> Store<K> {
    pub(crate) fn new(dir: &Path) -> Result<Self, K::Error> {
        std::fs::create_dir_all(dir).map_err(|source| K::io(dir.to_path_buf(), source))?;
        Ok(Self { dir: dir.to_path_buf(), loaded: Mutex::new(BTreeMap::new()), staging: Mutex::new(()) })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every copy already in the directory (after a restart). Files whose content no longer
    /// matches their name, or that fail to load, are reported and skipped.
    pub(crate) fn load_existing(&self) -> Vec<K::Error> {
        let mut errors = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return errors };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "so")) {
            let bytes = match std::fs::read(&p) {
                Ok(b) => b,
                Err(source) => {
                    errors.push(K::io(p, source));
                    continue;
                }
            };
            // A copy is named after its content: anything else was altered on disk.
            let named = p.file_stem().and_then(|s| s.to_str()).and_then(|s| s.rsplit('-').next()).map(str::to_owned);
            let actual = sha3(&bytes);
            if named.as_deref() != Some(actual.to_hex().as_str()) {
                errors.push(K::refused(p, format!("content hash {actual} does not match the file name; skipped")));
                continue;
            }
            if let Err(e) = self.stage_bytes(&p, &bytes) {
                errors.push(e);
            }
        }
        errors
    }

    pub(crate) fn stage(&self, src: &Path) -> Result<Arc<K::Lib>, K::Error> {
        let bytes = std::fs::read(src).map_err(|source| K::io(src.to_path_buf(), source))?;
        self.stage_bytes(src, &bytes)
    }

    pub(crate) fn stage_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Arc<K::Lib>, K::Error> {
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
            .unwrap_or_else(|| K::STEM.into());
        let path = self.dir.join(format!("{stem}-{code_hash}.so"));
        if !path.exists() {
            let tmp = self.dir.join(format!(".{stem}-{code_hash}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|source| K::io(path.clone(), source))?;
        }
        let lib = match K::open(origin, path.clone(), code_hash) {
            Ok(lib) => Arc::new(lib),
            Err(e) => {
                // Keep only copies that load: a refused build leaves nothing behind.
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        self.loaded.lock().insert(code_hash, Arc::clone(&lib));
        Ok(lib)
    }

    pub(crate) fn get(&self, code_hash: &Hash) -> Option<Arc<K::Lib>> {
        self.loaded.lock().get(code_hash).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<K::Lib>> {
        self.loaded.lock().values().cloned().collect()
    }
}
