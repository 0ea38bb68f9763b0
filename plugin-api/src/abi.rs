//! The ABI proper. `abi_stable`'s derive and trait macros generate the unsafe FFI glue, so this
//! module (and only this one) allows `unsafe_code`.
#![allow(unsafe_code, missing_debug_implementations, non_local_definitions)]

use abi_stable::library::RootModule;
use abi_stable::sabi_types::{RMut, VersionStrings};
use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

/// Version of the SCORE call contract, checked by the host in addition to the semver of this
/// crate. Bump when the meaning of a call changes.
pub const SCORE_API_VERSION: u32 = 1;

/// What a SCORE says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct ScoreMetadata {
    /// SCORE name (the namespace of its state).
    pub name: RString,
    /// The author's version string (informational; deploys are keyed by code hash).
    pub version: RString,
    /// [`SCORE_API_VERSION`] the SCORE was built against.
    pub api_version: u32,
}

/// Services the host offers a SCORE during one call. Keys are namespaced per SCORE by the host.
/// Implementations on the host side never panic.
#[sabi_trait]
pub trait HostContext {
    /// Reads a state value.
    fn get(&self, key: RSlice<'_, u8>) -> ROption<RVec<u8>>;
    /// Writes a state value (buffered; kept only if the call succeeds).
    fn set(&mut self, key: RSlice<'_, u8>, value: RSlice<'_, u8>);
    /// Deletes a state value.
    fn delete(&mut self, key: RSlice<'_, u8>);
    /// Emits an event into the transaction's receipt.
    fn emit_event(&mut self, name: RStr<'_>, data_json: RStr<'_>);
    /// Signer of the transaction (`hx` address), empty for queries.
    fn sender(&self) -> RString;
    /// Hash of the transaction (hex), empty for queries.
    fn tx_hash(&self) -> RString;
    /// Height of the block being executed (of the last committed block for queries).
    fn block_height(&self) -> u64;
    /// Timestamp of that block, µs.
    #[sabi(last_prefix_field)]
    fn block_timestamp(&self) -> u64;
}

/// The context object as passed through the ABI.
pub type HostContextMut<'a> = HostContext_TO<'a, RMut<'a, ()>>;

/// The root module every SCORE library exports (prefix type: append-only).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ScoreModuleRef)))]
pub struct ScoreModule {
    /// Name, version, API version.
    pub metadata: extern "C" fn() -> ScoreMetadata,
    /// First activation on a channel: `params` JSON. Ok carries a JSON result.
    pub on_install: extern "C" fn(HostContextMut<'_>, RStr<'_>) -> RResult<RString, RString>,
    /// Activation of new code over an existing install: `(from_version, params)`; migrates state.
    pub on_update: extern "C" fn(HostContextMut<'_>, RStr<'_>, RStr<'_>) -> RResult<RString, RString>,
    /// A `Call` transaction: `(method, params JSON)`; Ok carries the JSON result.
    pub invoke: extern "C" fn(HostContextMut<'_>, RStr<'_>, RStr<'_>) -> RResult<RString, RString>,
    /// A read-only query: `(method, params JSON)`; writes are refused by the host.
    pub query: extern "C" fn(HostContextMut<'_>, RStr<'_>, RStr<'_>) -> RResult<RString, RString>,
    /// A `Data` transaction (the seed's `{"data": ...}`): the JSON document.
    #[sabi(last_prefix_field)]
    pub on_data: extern "C" fn(HostContextMut<'_>, RStr<'_>) -> RResult<RString, RString>,
}

impl RootModule for ScoreModuleRef {
    declare_root_module_statics! {ScoreModuleRef}
    const BASE_NAME: &'static str = "score";
    const NAME: &'static str = "score";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
