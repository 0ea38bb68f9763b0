//! The consensus-scheme ABI proper. `abi_stable`'s derive and trait macros generate the unsafe FFI
//! glue, so this module (and only this one of `consensus`) allows `unsafe_code`.
#![allow(unsafe_code, missing_debug_implementations, non_local_definitions)]

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

/// Version of the consensus-scheme call contract, checked by the host in addition to the semver of
/// this crate. Bump when the meaning of a call changes.
pub const CONSENSUS_API_VERSION: u32 = 1;

/// A voting member of the channel as the host hands it to a scheme, in validator order.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    /// Weight from the channel file (`1` when the file gives none).
    pub weight: u64,
    /// Trusted group name from the channel file, if any.
    pub group: ROption<RString>,
}

/// A trusted group as a scheme reports it: member indices (into the validator list) and the votes
/// the group casts as a whole when an internal quorum of it agrees.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// Validator indices of the members (ascending).
    pub members: RVec<u32>,
    /// Votes the group casts as a whole (> 0).
    pub votes: u64,
}

/// What a scheme says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct SchemeMetadata {
    /// Scheme name (1-64 of `[a-z0-9_-]`).
    pub name: RString,
    /// The author's version string (informational; schemes are keyed by code hash).
    pub version: RString,
    /// [`CONSENSUS_API_VERSION`] the scheme was built against.
    pub api_version: u32,
    /// Whether the proposer rotation is weight-proportional: over every period of
    /// `sum(weights) / gcd(weights)` rounds each validator proposes exactly `weight / gcd` times.
    pub weight_proportional: bool,
}

/// A scheme configured for one epoch. Every method is answered without unwinding: the
/// SDK-generated implementation computes weights and groups at configure time and catches panics
/// of `proposer`, which it reports as `RErr`.
#[sabi_trait]
pub trait SchemeHandle: Send + Sync {
    /// Effective weight of each validator (validator order, all > 0).
    fn weights(&self) -> RVec<u64>;
    /// Trusted groups (disjoint; validators in none count their own weight).
    fn groups(&self) -> RVec<GroupSpec>;
    /// Validator index of the proposer of `round`: a pure function of `round`.
    #[sabi(last_prefix_field)]
    fn proposer(&self, round: u64) -> RResult<u32, RString>;
}

/// The owned, FFI-safe configured scheme returned by [`ConsensusModule::configure`].
pub type SchemeHandleBox = SchemeHandle_TO<'static, RBox<()>>;

/// The root module every consensus-scheme library exports (prefix type: append-only).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ConsensusModuleRef)))]
pub struct ConsensusModule {
    /// Name, version, API version, rotation claim.
    pub metadata: extern "C" fn() -> SchemeMetadata,
    /// Configures the scheme for an epoch: `(voting members in validator order, params JSON)`.
    /// `RErr` carries a readable reason (bad params, a panic in the scheme).
    #[sabi(last_prefix_field)]
    pub configure: extern "C" fn(RSlice<'_, MemberSpec>, RStr<'_>) -> RResult<SchemeHandleBox, RString>,
}

impl RootModule for ConsensusModuleRef {
    declare_root_module_statics! {ConsensusModuleRef}
    const BASE_NAME: &'static str = "consensus";
    const NAME: &'static str = "consensus";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
