//! Plugin host: loads SCORE and consensus-scheme libraries and calls them.
//!
//! - [`ScoreRegistry::stage`] copies a library file to a **content-addressed** name
//!   (`<dir>/<stem>-<sha3>.so`, written to a temp name then renamed, never over a loaded file),
//!   loads it with `lib_header_from_path(..).init_root_module::<ScoreModuleRef>()` (never
//!   `RootModule::load_from*`, which caches one library per type), checks the layout, the
//!   plugin-api semver and [`SCORE_API_VERSION`], and keeps it by code hash. A broken file is
//!   refused with a clear [`LoadError`]; whatever was loaded before stays loaded.
//! - Libraries are never unloaded (a loaded `.so` cannot be safely unmapped while any pointer into
//!   it may live): memory grows by one image per deployed version, about 0.6 MB in release and
//!   13 MB in debug builds.
//! - [`CallContext`] is the host side of the SCORE ABI: namespaced state reads over a caller-given
//!   view, a write buffer kept only when the call succeeds, events. It never panics.
//! - [`ConsensusRegistry`] does the same for consensus-scheme libraries (copies under
//!   `<data>/plugins/consensus/`, checked against [`CONSENSUS_API_VERSION`]). A
//!   [`ConsensusLibrary`] configured for an epoch (voting members, params JSON) is a
//!   [`ConsensusScheme`]: it validates the scheme's weights and groups, builds the epoch's
//!   `lc_lft::EpochInfo` ([`ConsensusScheme::epoch_info`]) and is its `ProposerSchedule`.
#![warn(missing_docs)]

mod consensus;
mod context;
mod registry;
mod store;

pub use consensus::{ConsensusLibrary, ConsensusLoadError, ConsensusRegistry, ConsensusScheme, SchemeError};
pub use context::{namespaced_key, CallContext, CallEnv};
pub use loopchain_plugin_api::consensus::{TrustedGroup, VotingMember};
pub use loopchain_plugin_api::{CONSENSUS_API_VERSION, SCORE_API_VERSION};
pub use registry::{valid_score_name, CallResult, LoadError, ScoreLibrary, ScoreRegistry};
