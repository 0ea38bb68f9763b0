//! Consensus-scheme libraries: loading ([`ConsensusRegistry`]) and the host side of a configured
//! scheme ([`ConsensusScheme`]), which builds an `lc_lft::EpochInfo` and serves as its proposer
//! schedule.
use crate::store::{PluginKind, Store};
use lc_lft::{EpochInfo, Group, ProposerSchedule, Validator};
use lc_types::{Epoch, Hash, PublicKey, Round};
use loopchain_plugin_api::abi_stable::library::lib_header_from_path;
use loopchain_plugin_api::abi_stable::std_types::RResult;
use loopchain_plugin_api::consensus::{member_specs, VotingMember};
use loopchain_plugin_api::{ConsensusModuleRef, SchemeHandleBox, SchemeMetadata, CONSENSUS_API_VERSION};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tracing::{error, info};

/// Why a consensus library was refused. The previously loaded versions stay active.
#[derive(Debug, Error)]
pub enum ConsensusLoadError {
    /// The file could not be read or copied.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// abi_stable refused it (not a library, missing root module symbol, a root module of another
    /// kind or layout, an incompatible plugin-api version), or its metadata is unusable.
    #[error("{path} is not a loadable consensus-scheme library: {reason}")]
    Library {
        /// File.
        path: PathBuf,
        /// abi_stable's (or our) explanation.
        reason: String,
    },
    /// Built against another consensus call contract.
    #[error("{path} speaks consensus API version {got}, this node speaks {expected}")]
    ApiVersion {
        /// File.
        path: PathBuf,
        /// Its version.
        got: u32,
        /// Ours.
        expected: u32,
    },
}

/// Why a scheme could not be configured or answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemeError {
    /// The scheme refused the members or params (or panicked while configuring).
    #[error("consensus scheme {scheme} refused its configuration: {reason}")]
    Refused {
        /// Scheme name.
        scheme: String,
        /// The scheme's message.
        reason: String,
    },
    /// The scheme's answer breaks the contract (weight count, zero weight, bad groups, overflow).
    #[error("consensus scheme {scheme} gave an invalid answer: {reason}")]
    Invalid {
        /// Scheme name.
        scheme: String,
        /// What is wrong.
        reason: String,
    },
    /// `proposer(round)` failed (a panic in the scheme) or answered out of range.
    #[error("consensus scheme {scheme} failed to name the proposer of round {round}: {reason}")]
    Proposer {
        /// Scheme name.
        scheme: String,
        /// Round asked.
        round: Round,
        /// What went wrong.
        reason: String,
    },
    /// [`ConsensusScheme::epoch_info`] got a different number of identities than members.
    #[error("consensus scheme {scheme} was configured for {expected} validators, got {got} identities")]
    Identities {
        /// Scheme name.
        scheme: String,
        /// Members it was configured with.
        expected: usize,
        /// Identities given.
        got: usize,
    },
}

/// A loaded consensus-scheme library (never unloaded).
pub struct ConsensusLibrary {
    /// SHA3-256 of the library file.
    pub code_hash: Hash,
    /// The content-addressed copy it was loaded from.
    pub path: PathBuf,
    /// Scheme name from its metadata.
    pub name: String,
    /// Author's version string from its metadata.
    pub version: String,
    /// Whether the scheme claims a weight-proportional rotation.
    pub weight_proportional: bool,
    module: ConsensusModuleRef,
}

impl std::fmt::Debug for ConsensusLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusLibrary")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("code_hash", &self.code_hash)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ConsensusLibrary {
    /// Configures the scheme for an epoch: voting members in validator order, params JSON (empty
    /// for none).
    pub fn configure(&self, members: &[VotingMember], params_json: &str) -> Result<ConsensusScheme, SchemeError> {
        ConsensusScheme::configure(self.module, members, params_json)
    }

    /// The root module (e.g. to configure through [`ConsensusScheme::configure`]).
    pub fn module(&self) -> ConsensusModuleRef {
        self.module
    }
}

/// Scheme names are 1-64 characters of `[a-z0-9_-]`.
fn valid_scheme_name(name: &str) -> bool {
    crate::registry::valid_score_name(name)
}

/// All consensus libraries a node has staged, by code hash. Copies live in the directory given to
/// [`ConsensusRegistry::new`], by convention `<data>/plugins/consensus/`, as `<stem>-<sha3>.so`.
/// Libraries are never unloaded: memory grows by one image per staged version.
#[derive(Debug)]
pub struct ConsensusRegistry {
    store: Store<ConsensusKind>,
}

/// Consensus-scheme libraries as a [`PluginKind`] of the shared store.
#[derive(Debug)]
pub(crate) struct ConsensusKind;

impl PluginKind for ConsensusKind {
    type Lib = ConsensusLibrary;
    type Error = ConsensusLoadError;
    const STEM: &'static str = "consensus";

    fn io(path: PathBuf, source: std::io::Error) -> ConsensusLoadError {
        ConsensusLoadError::Io { path, source }
    }

    fn refused(path: PathBuf, reason: String) -> ConsensusLoadError {
        ConsensusLoadError::Library { path, reason }
    }

    fn open(origin: &Path, path: PathBuf, code_hash: Hash) -> Result<ConsensusLibrary, ConsensusLoadError> {
        let refused = |reason: String| ConsensusLoadError::Library { path: origin.to_path_buf(), reason };
        let header = lib_header_from_path(&path).map_err(|e| refused(e.to_string()))?;
        let module = header.init_root_module::<ConsensusModuleRef>().map_err(|e| refused(e.to_string()))?;
        let meta: SchemeMetadata = (module.metadata())();
        if meta.api_version != CONSENSUS_API_VERSION {
            return Err(ConsensusLoadError::ApiVersion {
                path: origin.to_path_buf(),
                got: meta.api_version,
                expected: CONSENSUS_API_VERSION,
            });
        }
        if !valid_scheme_name(meta.name.as_str()) {
            return Err(refused(format!("scheme name {:?} is invalid: use 1-64 of [a-z0-9_-]", meta.name.as_str())));
        }
        let lib = ConsensusLibrary {
            code_hash,
            path,
            name: meta.name.into_string(),
            version: meta.version.into_string(),
            weight_proportional: meta.weight_proportional,
            module,
        };
        info!(scheme = %lib.name, version = %lib.version, code_hash = %code_hash, "staged consensus library");
        Ok(lib)
    }
}

impl ConsensusRegistry {
    /// A registry keeping its content-addressed copies in `dir` (created when missing).
    pub fn new(dir: &Path) -> Result<Self, ConsensusLoadError> {
        Ok(Self { store: Store::new(dir)? })
    }

    /// The directory of the content-addressed copies.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// Loads every content-addressed copy already in the directory (after a restart). Files whose
    /// content no longer matches their name, or that fail to load, are reported and skipped.
    pub fn load_existing(&self) -> Vec<ConsensusLoadError> {
        self.store.load_existing()
    }

    /// Stages a library file: hash, content-addressed copy, load, check. Idempotent by hash.
    pub fn stage(&self, src: &Path) -> Result<Arc<ConsensusLibrary>, ConsensusLoadError> {
        self.store.stage(src)
    }

    /// Stages library bytes (from a file or from a peer); `origin` names them in errors.
    pub fn stage_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Arc<ConsensusLibrary>, ConsensusLoadError> {
        self.store.stage_bytes(origin, bytes)
    }

    /// A staged library by code hash.
    pub fn get(&self, code_hash: &Hash) -> Option<Arc<ConsensusLibrary>> {
        self.store.get(code_hash)
    }

    /// Every staged library, by code hash.
    pub fn all(&self) -> Vec<Arc<ConsensusLibrary>> {
        self.store.all()
    }
}

struct Inner {
    name: String,
    weights: Vec<u64>,
    groups: Vec<Group>,
    handle: SchemeHandleBox,
    /// The first proposer failure seen through [`ProposerSchedule`], kept for the node to surface.
    fault: Mutex<Option<SchemeError>>,
}

/// A scheme configured for one epoch (cheap to clone: shared). It validates the scheme's answers
/// once, builds the epoch's [`EpochInfo`] and is its [`ProposerSchedule`].
///
/// `ProposerSchedule::proposer` cannot fail; when the plugin's `proposer` fails (a caught panic)
/// or answers out of range, this falls back to round-robin (`round mod n`, the same on every node
/// for a deterministic failure), logs the error, and records the first failure in
/// [`ConsensusScheme::fault`] so the node can stop the channel. Use
/// [`ConsensusScheme::try_proposer`] to get the error directly.
#[derive(Clone)]
pub struct ConsensusScheme {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ConsensusScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusScheme")
            .field("name", &self.inner.name)
            .field("weights", &self.inner.weights)
            .field("groups", &self.inner.groups)
            .finish_non_exhaustive()
    }
}

impl ConsensusScheme {
    /// Configures a scheme from its root module (loaded from a library, or linked in-process via
    /// `loopchain_plugin_api::consensus::module::<S>()`) and validates its answer: one weight per
    /// member, all > 0, groups disjoint and in range, and totals whose triple fits in `u64`.
    pub fn configure(
        module: ConsensusModuleRef,
        members: &[VotingMember],
        params_json: &str,
    ) -> Result<Self, SchemeError> {
        let name = (module.metadata())().name.into_string();
        let specs = member_specs(members);
        let handle = match (module.configure())(specs.as_slice().into(), params_json.into()) {
            RResult::ROk(h) => h,
            RResult::RErr(reason) => return Err(SchemeError::Refused { scheme: name, reason: reason.into_string() }),
        };
        let invalid = |reason: String| SchemeError::Invalid { scheme: name.clone(), reason };
        let weights = handle.weights().to_vec();
        if weights.len() != members.len() {
            return Err(invalid(format!("{} weights for {} members", weights.len(), members.len())));
        }
        let mut groups = Vec::new();
        for g in handle.groups().iter() {
            let members: Vec<usize> = g.members.iter().map(|m| *m as usize).collect();
            if let Some(m) = members.iter().find(|m| **m >= weights.len()) {
                return Err(invalid(format!("group member {m} is out of range")));
            }
            groups.push(Group { members, votes: g.votes });
        }
        // EpochInfo's own checks (zero weights, overlaps, empty groups, overflow) on placeholder ids.
        let placeholder = weights.iter().map(|w| Validator { id: PublicKey::ZERO, weight: *w }).collect();
        if EpochInfo::with_groups(0, placeholder, groups.clone()).is_none() {
            return Err(invalid(format!(
                "weights {weights:?} / groups {groups:?} are not a valid epoch (zero weight, overlapping or empty \
                 group, zero votes, or 3 × total overflows u64)"
            )));
        }
        Ok(Self { inner: Arc::new(Inner { name, weights, groups, handle, fault: Mutex::new(None) }) })
    }

    /// Scheme name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Effective weight of each validator.
    pub fn weights(&self) -> &[u64] {
        &self.inner.weights
    }

    /// Trusted groups.
    pub fn groups(&self) -> &[Group] {
        &self.inner.groups
    }

    /// Number of validators.
    pub fn validator_count(&self) -> usize {
        self.inner.weights.len()
    }

    /// The proposer of `round` as the plugin answers it, or why it could not.
    pub fn try_proposer(&self, round: Round) -> Result<usize, SchemeError> {
        let n = self.validator_count();
        let failed = |reason: String| SchemeError::Proposer { scheme: self.inner.name.clone(), round, reason };
        match self.inner.handle.proposer(round) {
            RResult::ROk(i) if (i as usize) < n => Ok(i as usize),
            RResult::ROk(i) => Err(failed(format!("index {i} is out of range for {n} validators"))),
            RResult::RErr(e) => Err(failed(e.into_string())),
        }
    }

    /// The first proposer failure met through [`ProposerSchedule::proposer`], if any.
    pub fn fault(&self) -> Option<SchemeError> {
        self.inner.fault.lock().clone()
    }

    /// The epoch's validator set: `ids` are the members' identity keys in the order the scheme
    /// was configured with; weights and groups come from the scheme, and so does the proposer
    /// order (this scheme becomes the epoch's [`ProposerSchedule`]).
    pub fn epoch_info(&self, epoch: Epoch, ids: Vec<PublicKey>) -> Result<EpochInfo, SchemeError> {
        if ids.len() != self.validator_count() {
            return Err(SchemeError::Identities {
                scheme: self.inner.name.clone(),
                expected: self.validator_count(),
                got: ids.len(),
            });
        }
        let validators = ids.into_iter().zip(&self.inner.weights).map(|(id, w)| Validator { id, weight: *w }).collect();
        let info = EpochInfo::with_groups(epoch, validators, self.inner.groups.clone()).ok_or_else(|| {
            SchemeError::Invalid { scheme: self.inner.name.clone(), reason: "not a valid epoch".into() }
        })?;
        Ok(info.with_schedule(Arc::new(self.clone())))
    }
}

impl ProposerSchedule for ConsensusScheme {
    fn proposer(&self, round: Round) -> usize {
        match self.try_proposer(round) {
            Ok(i) => i,
            Err(e) => {
                error!(error = %e, "consensus scheme failed; falling back to round-robin for this round");
                self.inner.fault.lock().get_or_insert(e);
                (round % self.validator_count().max(1) as u64) as usize
            }
        }
    }
}
