//! Discovery plugins (the radio station): a library that runs the radio station's servers
//! (gRPC `RadioStation` and its REST endpoints) on its **own thread and tokio runtime**.
//!
//! **ABI** ([`RadioStationModule`]): a prefix-type root module (append-only) with
//! [`api_version`] and [`start`]. `start(config_json)` binds the ports, starts the servers and
//! returns a [`RadioStationHandle`] trait object: `poll_events()` drains the plugin's bounded
//! buffer of log lines and join/leave events (oldest dropped when full) for the host to print,
//! `stop()` shuts the servers down gracefully and joins the plugin's thread. Only `R*` types
//! cross the boundary: never a tokio handle, channel or future. Checked by the host against
//! [`RADIO_STATION_API_VERSION`].
//!
//! **SDK** ([`RadioStation`], [`export_radio_station!`](crate::export_radio_station)): a plugin
//! is a plain Rust type implementing [`RadioStation`] plus one `export_radio_station!(MyStation);`.
//! The generated glue catches panics in `start`, `poll_events` and `stop` (a panic across
//! `extern "C"` would abort the host): a panic in `start` becomes `RErr`, one in `poll_events`
//! becomes an event line, one in `stop` is swallowed (the handle counts as stopped).
//!
//! Event lines are plain text; a line starting with `warn: ` is a warning.
//!
//! [`api_version`]: RadioStationModule::api_version
//! [`start`]: RadioStationModule::start

pub use abi::{
    RadioStationHandle, RadioStationHandleBox, RadioStationHandle_TO, RadioStationModule, RadioStationModuleRef,
    RADIO_STATION_API_VERSION,
};

use crate::sdk::panic_message;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RString, RVec};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The ABI proper. `abi_stable`'s derive and trait macros generate the unsafe FFI glue, so this
/// module (and only this one of `discovery`) allows `unsafe_code`.
mod abi {
    #![allow(unsafe_code, missing_debug_implementations, non_local_definitions)]

    use abi_stable::library::RootModule;
    use abi_stable::sabi_types::VersionStrings;
    use abi_stable::std_types::{RBox, RResult, RString, RVec};
    use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

    /// Version of the radio-station call contract (the config JSON and the handle's meaning),
    /// checked by the host in addition to the semver of this crate. Bump when a meaning changes.
    pub const RADIO_STATION_API_VERSION: u32 = 1;

    /// A running radio station. Every method returns without unwinding (the SDK glue catches
    /// panics).
    #[sabi_trait]
    pub trait RadioStationHandle: Send {
        /// Drains the buffered log lines and join/leave events, oldest first. The buffer is
        /// bounded inside the plugin; when it is full the oldest lines are dropped.
        fn poll_events(&mut self) -> RVec<RString>;
        /// Shuts the servers down gracefully and joins the plugin's thread. Idempotent.
        #[sabi(last_prefix_field)]
        fn stop(&mut self);
    }

    /// The owned, FFI-safe running radio station returned by [`RadioStationModule::start`].
    pub type RadioStationHandleBox = RadioStationHandle_TO<'static, RBox<()>>;

    /// The root module every radio-station library exports (prefix type: append-only).
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = RadioStationModuleRef)))]
    pub struct RadioStationModule {
        /// The [`RADIO_STATION_API_VERSION`] the library was built against.
        pub api_version: extern "C" fn() -> u32,
        /// Starts the radio station with its configuration (JSON, see the plugin's docs): binds
        /// the ports, spawns the plugin's thread and runtime. `RErr` carries a readable reason
        /// (bad config, a port in use, a panic).
        #[sabi(last_prefix_field)]
        pub start: extern "C" fn(RString) -> RResult<RadioStationHandleBox, RString>,
    }

    impl RootModule for RadioStationModuleRef {
        declare_root_module_statics! {RadioStationModuleRef}
        const BASE_NAME: &'static str = "radio_station";
        const NAME: &'static str = "radio_station";
        const VERSION_STRINGS: VersionStrings = package_version_strings!();
    }
}

/// A radio station as its author writes it: plain Rust, no FFI.
pub trait RadioStation: Sized + Send + 'static {
    /// Starts the servers from the configuration JSON; an `Err` is a readable reason.
    fn start(config_json: &str) -> Result<Self, String>;
    /// Drains buffered event lines, oldest first.
    fn poll_events(&mut self) -> Vec<String>;
    /// Stops the servers gracefully and joins the thread (idempotent).
    fn stop(&mut self);
}

/// Glue: a [`RadioStation`] behind the FFI-safe handle, catching panics. Events stay drainable
/// after `stop` (the last lines of a shutdown).
struct Guarded<S> {
    station: S,
    stopped: bool,
}

impl<S: RadioStation> RadioStationHandle for Guarded<S> {
    fn poll_events(&mut self) -> RVec<RString> {
        let station = &mut self.station;
        match catch_unwind(AssertUnwindSafe(|| station.poll_events())) {
            Ok(lines) => lines.into_iter().map(RString::from).collect(),
            Err(payload) => {
                RVec::from(vec![RString::from(format!("warn: radio station panicked: {}", panic_message(&*payload)))])
            }
        }
    }

    fn stop(&mut self) {
        if !std::mem::replace(&mut self.stopped, true) {
            // A panic while stopping is swallowed: the handle counts as stopped either way.
            let station = &mut self.station;
            let _ = catch_unwind(AssertUnwindSafe(|| station.stop()));
        }
    }
}

extern "C" fn api_version() -> u32 {
    RADIO_STATION_API_VERSION
}

extern "C" fn start<S: RadioStation>(config_json: RString) -> RResult<RadioStationHandleBox, RString> {
    match catch_unwind(AssertUnwindSafe(|| S::start(config_json.as_str()))) {
        Ok(Ok(station)) => {
            RResult::ROk(RadioStationHandle_TO::from_value(Guarded { station, stopped: false }, TD_Opaque))
        }
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(payload) => RResult::RErr(format!("radio station panicked: {}", panic_message(&*payload)).into()),
    }
}

/// The root module of radio station `S` (called by
/// [`export_radio_station!`](crate::export_radio_station); also usable in-process, e.g. by tests
/// that link the plugin as an `rlib`).
pub fn module<S: RadioStation>() -> RadioStationModuleRef {
    RadioStationModule { api_version, start: start::<S> }.leak_into_prefix()
}

/// Exports a [`RadioStation`] type as the library's root module (what abi_stable's
/// `#[export_root_module]` generates, with paths through this crate so a plugin needs no direct
/// `abi_stable` dependency). A library exports one root module: a radio station is its own
/// `cdylib`.
#[macro_export]
macro_rules! export_radio_station {
    ($station:ty) => {
        #[doc(hidden)]
        pub fn loopchain_radio_station_root_module() -> $crate::discovery::RadioStationModuleRef {
            $crate::discovery::module::<$station>()
        }

        #[doc(hidden)]
        #[allow(unsafe_code, non_upper_case_globals)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static LOOPCHAIN_RADIO_STATION_LIB_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(loopchain_radio_station_root_module)
            }
            // SAFETY: the constructor returns the module type named here, as abi_stable's own
            // `#[export_root_module]` expansion does.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::discovery::RadioStationModuleRef>(
                    erased_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
