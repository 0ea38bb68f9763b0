//! The SCORE SDK: implement [`Score`] on a plain type, then `export_score!(MyScore);`.
//!
//! ```ignore
//! use loopchain_plugin_api::{export_score, serde_json::{json, Value}, Context, Score};
//!
//! #[derive(Default)]
//! pub struct Counter;
//!
//! impl Score for Counter {
//!     const NAME: &'static str = "counter";
//!     const VERSION: &'static str = "1.0.0";
//!     fn invoke(ctx: &mut Context<'_>, method: &str, _params: &Value) -> Result<Value, String> {
//!         match method {
//!             "increment" => {
//!                 let n = ctx.get_u128("count")?.unwrap_or(0) + 1;
//!                 ctx.set_u128("count", n);
//!                 Ok(json!(n.to_string()))
//!             }
//!             other => Err(format!("unknown method {other}")),
//!         }
//!     }
//!     fn query(ctx: &Context<'_>, _method: &str, _params: &Value) -> Result<Value, String> {
//!         Ok(json!(ctx.get_u128("count")?.unwrap_or(0).to_string()))
//!     }
//! }
//! export_score!(Counter);
//! ```
use crate::abi::{HostContextMut, ScoreMetadata, ScoreModule, ScoreModuleRef, SCORE_API_VERSION};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr, RString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A SCORE: stateless code over the channel state reachable through [`Context`].
pub trait Score {
    /// Name (the namespace of its state on the channel).
    const NAME: &'static str;
    /// The author's version string.
    const VERSION: &'static str;

    /// First activation on a channel.
    fn on_install(_ctx: &mut Context<'_>, _params: &Value) -> Result<(), String> {
        Ok(())
    }
    /// Activation of new code over an existing install (state migration).
    fn on_update(_ctx: &mut Context<'_>, _from_version: &str, _params: &Value) -> Result<(), String> {
        Ok(())
    }
    /// A `Call` transaction.
    fn invoke(ctx: &mut Context<'_>, method: &str, params: &Value) -> Result<Value, String>;
    /// A read-only query.
    fn query(ctx: &Context<'_>, method: &str, params: &Value) -> Result<Value, String>;
    /// A `Data` transaction.
    fn on_data(_ctx: &mut Context<'_>, _data: &Value) -> Result<Value, String> {
        Err(format!("SCORE {} does not accept data transactions", Self::NAME))
    }
}

/// The SCORE's view of the host during one call.
pub struct Context<'a> {
    raw: HostContextMut<'a>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("block_height", &self.block_height()).finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// Wraps the ABI object (used by the generated glue).
    pub fn new(raw: HostContextMut<'a>) -> Self {
        Self { raw }
    }

    /// Raw read.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.raw.get(key.into()).into_option().map(Into::into)
    }

    /// Raw write.
    pub fn set(&mut self, key: &[u8], value: &[u8]) {
        self.raw.set(key.into(), value.into());
    }

    /// Delete.
    pub fn delete(&mut self, key: &[u8]) {
        self.raw.delete(key.into());
    }

    /// Reads a JSON value stored under `key`.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.get(key.as_bytes()) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("corrupt value at {key}: {e}")),
        }
    }

    /// Stores a value as JSON under `key`.
    pub fn set_json<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.set(key.as_bytes(), &bytes);
        Ok(())
    }

    /// Reads a `u128` stored as 16 little-endian bytes.
    pub fn get_u128(&self, key: &str) -> Result<Option<u128>, String> {
        match self.get(key.as_bytes()) {
            None => Ok(None),
            Some(b) => <[u8; 16]>::try_from(b.as_slice())
                .map(|a| Some(u128::from_le_bytes(a)))
                .map_err(|_| format!("corrupt u128 at {key}")),
        }
    }

    /// Stores a `u128` as 16 little-endian bytes.
    pub fn set_u128(&mut self, key: &str, value: u128) {
        self.set(key.as_bytes(), &value.to_le_bytes());
    }

    /// Emits an event with a JSON payload.
    pub fn emit(&mut self, name: &str, data: &Value) {
        let json = data.to_string();
        self.raw.emit_event(name.into(), json.as_str().into());
    }

    /// The transaction signer's `hx` address (empty in queries).
    pub fn sender(&self) -> String {
        self.raw.sender().into()
    }

    /// The transaction hash, hex (empty in queries).
    pub fn tx_hash(&self) -> String {
        self.raw.tx_hash().into()
    }

    /// Height of the block being executed.
    pub fn block_height(&self) -> u64 {
        self.raw.block_height()
    }

    /// Timestamp of the block being executed, µs (the only clock a SCORE may read).
    pub fn block_timestamp(&self) -> u64 {
        self.raw.block_timestamp()
    }
}

fn parse(params: RStr<'_>) -> Result<Value, String> {
    let s = params.as_str();
    if s.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(s).map_err(|e| format!("params are not JSON: {e}"))
}

/// Runs `f`, turning a panic into an error: the node keeps running.
fn guarded(f: impl FnOnce() -> Result<Value, String>) -> RResult<RString, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v.to_string().into()),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(payload) => RResult::RErr(format!("SCORE panicked: {}", panic_message(&*payload)).into()),
    }
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

extern "C" fn metadata<S: Score>() -> ScoreMetadata {
    ScoreMetadata { name: S::NAME.into(), version: S::VERSION.into(), api_version: SCORE_API_VERSION }
}

extern "C" fn on_install<S: Score>(ctx: HostContextMut<'_>, params: RStr<'_>) -> RResult<RString, RString> {
    guarded(|| {
        let mut ctx = Context::new(ctx);
        S::on_install(&mut ctx, &parse(params)?).map(|()| Value::Null)
    })
}

extern "C" fn on_update<S: Score>(
    ctx: HostContextMut<'_>,
    from: RStr<'_>,
    params: RStr<'_>,
) -> RResult<RString, RString> {
    guarded(|| {
        let mut ctx = Context::new(ctx);
        S::on_update(&mut ctx, from.as_str(), &parse(params)?).map(|()| Value::Null)
    })
}

extern "C" fn invoke<S: Score>(
    ctx: HostContextMut<'_>,
    method: RStr<'_>,
    params: RStr<'_>,
) -> RResult<RString, RString> {
    guarded(|| {
        let mut ctx = Context::new(ctx);
        S::invoke(&mut ctx, method.as_str(), &parse(params)?)
    })
}

extern "C" fn query<S: Score>(
    ctx: HostContextMut<'_>,
    method: RStr<'_>,
    params: RStr<'_>,
) -> RResult<RString, RString> {
    guarded(|| S::query(&Context::new(ctx), method.as_str(), &parse(params)?))
}

extern "C" fn on_data<S: Score>(ctx: HostContextMut<'_>, data: RStr<'_>) -> RResult<RString, RString> {
    guarded(|| {
        let mut ctx = Context::new(ctx);
        S::on_data(&mut ctx, &parse(data)?)
    })
}

/// The root module of SCORE `S` (called by [`export_score!`](crate::export_score)).
pub fn module<S: Score>() -> ScoreModuleRef {
    ScoreModule {
        metadata: metadata::<S>,
        on_install: on_install::<S>,
        on_update: on_update::<S>,
        invoke: invoke::<S>,
        query: query::<S>,
        on_data: on_data::<S>,
    }
    .leak_into_prefix()
}

/// Symbol under which abi_stable looks for the root module (checked by a test against
/// `abi_stable::library::ROOT_MODULE_LOADER_NAME`).
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Exports a [`Score`] type as the library's root module (what abi_stable's
/// `#[export_root_module]` generates, with paths through this crate so a SCORE needs no direct
/// `abi_stable` dependency).
#[macro_export]
macro_rules! export_score {
    ($score:ty) => {
        #[doc(hidden)]
        pub fn loopchain_score_root_module() -> $crate::ScoreModuleRef {
            $crate::sdk::module::<$score>()
        }

        #[doc(hidden)]
        #[allow(unsafe_code, non_upper_case_globals)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static LOOPCHAIN_SCORE_LIB_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(loopchain_score_root_module)
            }
            // SAFETY: the constructor returns the module type named here, as abi_stable's own
            // `#[export_root_module]` expansion does.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::ScoreModuleRef>(
                    erased_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
