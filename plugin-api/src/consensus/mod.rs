//! Consensus-scheme plugins: per epoch, a scheme turns the channel's voting members (weight and
//! optional trusted group from the channel file) and its params JSON into each validator's
//! effective weight, the trusted groups, and a deterministic proposer order. The core (`lc-lft`)
//! applies the quorum threshold `3 × votes > 2 × total` itself.
//!
//! **ABI** ([`ConsensusModule`]): a prefix-type root module (append-only) with [`metadata`] and
//! [`configure`]; `configure` returns a [`SchemeHandle`] trait object (`weights`, `groups`,
//! `proposer(round)`). Checked by the host against [`CONSENSUS_API_VERSION`].
//!
//! **SDK** ([`Scheme`], [`export_consensus!`](crate::export_consensus)): a scheme is a plain Rust
//! type implementing [`Scheme`] plus one `export_consensus!(MyScheme);`. The generated glue parses
//! the params, calls `weights()`/`groups()` once at configure time, and catches panics (in
//! `configure` and in `proposer`), which become errors; nothing unwinds across the FFI boundary.
//!
//! A library exports exactly one root module, so a consensus scheme is its own `cdylib` (never in
//! the same library as a SCORE). Determinism is the author's duty: the proposer must be a pure
//! function of the round (no mutable state across calls, no clock, no floats, no `HashMap`
//! iteration).
//!
//! ```ignore
//! use loopchain_plugin_api::consensus::{Scheme, VotingMember};
//! use loopchain_plugin_api::{export_consensus, serde_json::Value};
//!
//! pub struct Equal { n: u32 }
//! impl Scheme for Equal {
//!     const NAME: &'static str = "equal";
//!     const VERSION: &'static str = "1.0.0";
//!     fn configure(members: &[VotingMember], _params: &Value) -> Result<Self, String> {
//!         Ok(Equal { n: u32::try_from(members.len()).map_err(|e| e.to_string())? })
//!     }
//!     fn weights(&self) -> Vec<u64> { vec![1; self.n as usize] }
//!     fn proposer(&self, round: u64) -> u32 { (round % u64::from(self.n)) as u32 }
//!     fn max_gap(&self) -> u64 { u64::from(self.n) }
//! }
//! export_consensus!(Equal);
//! ```
//!
//! [`metadata`]: ConsensusModule::metadata
//! [`configure`]: ConsensusModule::configure

mod abi;

pub use abi::{
    ConsensusModule, ConsensusModuleRef, GroupSpec, MemberSpec, SchemeHandle, SchemeHandleBox, SchemeHandle_TO,
    SchemeMetadata, CONSENSUS_API_VERSION,
};

use crate::sdk::panic_message;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A voting member as a scheme sees it (plain Rust form of [`MemberSpec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VotingMember {
    /// Weight from the channel file.
    pub weight: u64,
    /// Trusted group name from the channel file, if any.
    pub group: Option<String>,
}

impl VotingMember {
    /// A member with a weight and no group.
    pub fn new(weight: u64) -> Self {
        Self { weight, group: None }
    }

    /// A member with a weight in a named group.
    pub fn grouped(weight: u64, group: &str) -> Self {
        Self { weight, group: Some(group.to_owned()) }
    }

    /// The ABI form.
    pub fn to_spec(&self) -> MemberSpec {
        MemberSpec { weight: self.weight, group: self.group.as_deref().map(RString::from).into() }
    }

    /// From the ABI form.
    pub fn from_spec(spec: &MemberSpec) -> Self {
        Self { weight: spec.weight, group: spec.group.as_ref().map(|g| g.as_str().to_owned()).into_option() }
    }
}

/// A trusted group (plain Rust form of [`GroupSpec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedGroup {
    /// Validator indices of the members (ascending).
    pub members: Vec<u32>,
    /// Votes the group casts as a whole when an internal quorum of it agrees (> 0).
    pub votes: u64,
}

impl TrustedGroup {
    /// The ABI form.
    pub fn to_spec(&self) -> GroupSpec {
        GroupSpec { members: self.members.iter().copied().collect(), votes: self.votes }
    }

    /// From the ABI form.
    pub fn from_spec(spec: &GroupSpec) -> Self {
        Self { members: spec.members.to_vec(), votes: spec.votes }
    }
}

/// A consensus scheme: configured once per epoch, then asked for proposers.
pub trait Scheme: Sized + Send + Sync + 'static {
    /// Scheme name (1-64 of `[a-z0-9_-]`).
    const NAME: &'static str;
    /// The author's version string.
    const VERSION: &'static str;
    /// Whether the rotation is weight-proportional (see [`SchemeMetadata::weight_proportional`]);
    /// the conformance suite checks the claim.
    const WEIGHT_PROPORTIONAL: bool = false;

    /// Configures the scheme for an epoch: the voting members in validator order and the params
    /// (`Value::Null` when none were given). Bad params are an `Err` with a readable reason.
    fn configure(members: &[VotingMember], params: &Value) -> Result<Self, String>;

    /// Effective weight of each validator (one per member, all > 0, `3 × sum` fits in `u64`).
    fn weights(&self) -> Vec<u64>;

    /// Trusted groups (default: none).
    fn groups(&self) -> Vec<TrustedGroup> {
        Vec::new()
    }

    /// Validator index (below the member count) of the proposer of `round`: a pure function of
    /// `round`.
    fn proposer(&self, round: u64) -> u32;

    /// A bound on the rounds between two proposals of the same validator: every validator
    /// proposes at least once in any `max_gap()` consecutive rounds.
    fn max_gap(&self) -> u64;
}

/// Runs `f`, turning a panic into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(payload) => RResult::RErr(format!("consensus scheme panicked: {}", panic_message(&*payload)).into()),
    }
}

/// Parses params JSON; an empty string means no params (`Value::Null`).
pub fn parse_params(params: &str) -> Result<Value, String> {
    if params.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(params).map_err(|e| format!("consensus params are not JSON: {e}"))
}

/// A configured scheme with its weights and groups computed once.
struct Configured<S> {
    scheme: S,
    weights: RVec<u64>,
    groups: RVec<GroupSpec>,
}

impl<S: Scheme> SchemeHandle for Configured<S> {
    fn weights(&self) -> RVec<u64> {
        self.weights.clone()
    }

    fn groups(&self) -> RVec<GroupSpec> {
        self.groups.clone()
    }

    fn proposer(&self, round: u64) -> RResult<u32, RString> {
        guarded(|| Ok(self.scheme.proposer(round)))
    }
}

extern "C" fn metadata<S: Scheme>() -> SchemeMetadata {
    SchemeMetadata {
        name: S::NAME.into(),
        version: S::VERSION.into(),
        api_version: CONSENSUS_API_VERSION,
        weight_proportional: S::WEIGHT_PROPORTIONAL,
    }
}

extern "C" fn configure<S: Scheme>(
    members: RSlice<'_, MemberSpec>,
    params: RStr<'_>,
) -> RResult<SchemeHandleBox, RString> {
    guarded(|| {
        let members: Vec<VotingMember> = members.iter().map(VotingMember::from_spec).collect();
        let scheme = S::configure(&members, &parse_params(params.as_str())?)?;
        let weights = scheme.weights().into_iter().collect();
        let groups = scheme.groups().iter().map(TrustedGroup::to_spec).collect();
        Ok(SchemeHandle_TO::from_value(Configured { scheme, weights, groups }, TD_Opaque))
    })
}

/// The root module of scheme `S` (called by [`export_consensus!`](crate::export_consensus); also
/// usable in-process, e.g. by tests that link a scheme as an `rlib`).
pub fn module<S: Scheme>() -> ConsensusModuleRef {
    ConsensusModule { metadata: metadata::<S>, configure: configure::<S> }.leak_into_prefix()
}

/// Members in their ABI form.
pub fn member_specs(members: &[VotingMember]) -> Vec<MemberSpec> {
    members.iter().map(VotingMember::to_spec).collect()
}

/// Exports a [`Scheme`] type as the library's root module (what abi_stable's
/// `#[export_root_module]` generates, with paths through this crate so a scheme needs no direct
/// `abi_stable` dependency). A library exports one root module: never use this together with
/// [`export_score!`](crate::export_score) in one crate. The exported symbol has a fixed name, so
/// one binary cannot link two exporting crates as `rlib`s either (a test binary may link one
/// scheme; load the others as libraries).
#[macro_export]
macro_rules! export_consensus {
    ($scheme:ty) => {
        #[doc(hidden)]
        pub fn loopchain_consensus_root_module() -> $crate::consensus::ConsensusModuleRef {
            $crate::consensus::module::<$scheme>()
        }

        #[doc(hidden)]
        #[allow(unsafe_code, non_upper_case_globals)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static LOOPCHAIN_CONSENSUS_LIB_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(loopchain_consensus_root_module)
            }
            // SAFETY: the constructor returns the module type named here, as abi_stable's own
            // `#[export_root_module]` expansion does.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::consensus::ConsensusModuleRef>(
                    erased_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
