//! `loopchain score new NAME`: scaffold a SCORE crate pinned to this node's plugin-api.
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `loopchain score new`.
#[derive(Debug, Args)]
pub(crate) struct ScoreNewArgs {
    /// SCORE (and crate) name: lowercase letters, digits and `_`.
    name: String,
    /// Parent directory of the new crate.
    #[arg(long, default_value = ".")]
    path: PathBuf,
}

/// Where this binary's plugin-api sources are (the SCORE must use the same version).
fn plugin_api_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin-api")
}

pub(crate) fn run(args: ScoreNewArgs) -> Result<()> {
    let name = &args.name;
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !ok {
        bail!("SCORE name {name:?}: use a lowercase letter followed by lowercase letters, digits or _");
    }
    let dir = args.path.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let api = plugin_api_dir().canonicalize().with_context(|| {
        format!(
            "plugin-api sources not found at {} (run the loopchain built from its repository)",
            plugin_api_dir().display()
        )
    })?;
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("creating {}", dir.display()))?;
    let type_name: String =
        name.split('_').filter(|p| !p.is_empty()).map(|p| p[..1].to_ascii_uppercase() + &p[1..]).collect();
    let files = [
        (
            "Cargo.toml",
            format!(
                r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

# A SCORE is a cdylib (loaded by the node) and an rlib (for unit tests).
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
# Pinned to the plugin-api of the node that scaffolded it: same abi_stable, same ABI.
loopchain-plugin-api = {{ path = "{api}" }}

# Its own workspace, so it builds anywhere.
[workspace]

# Never panic = "abort": the SDK turns panics into failed receipts, which needs unwinding.
[profile.release]
panic = "unwind"
"#,
                api = api.display()
            ),
        ),
        (
            "clippy.toml",
            r#"# Determinism guards: a SCORE must give byte-identical results on every node.
# Run `cargo clippy -- -D warnings` before deploying.
disallowed-types = [
    { path = "std::collections::HashMap", reason = "iteration order is random: use BTreeMap" },
    { path = "std::collections::HashSet", reason = "iteration order is random: use BTreeSet" },
    { path = "std::time::Instant", reason = "no clock in a SCORE: use Context::block_timestamp" },
    { path = "std::time::SystemTime", reason = "no clock in a SCORE: use Context::block_timestamp" },
    { path = "std::sync::Mutex", reason = "no shared state in a SCORE" },
    { path = "f32", reason = "no floats in state" },
    { path = "f64", reason = "no floats in state" },
]
disallowed-methods = [
    { path = "std::thread::spawn", reason = "no threads in a SCORE" },
    { path = "std::fs::read", reason = "no IO in a SCORE" },
    { path = "std::fs::write", reason = "no IO in a SCORE" },
    { path = "std::env::var", reason = "no environment in a SCORE" },
]
"#
            .to_owned(),
        ),
        (
            "src/lib.rs",
            format!(
                r#"//! The `{name}` SCORE.
#![deny(clippy::disallowed_types, clippy::disallowed_methods, clippy::float_arithmetic)]

use loopchain_plugin_api::serde_json::{{json, Value}};
use loopchain_plugin_api::{{export_score, Context, Score}};

/// State lives in the channel (through `ctx`), never in this type.
#[derive(Debug, Default)]
pub struct {type_name};

impl Score for {type_name} {{
    const NAME: &'static str = "{name}";
    const VERSION: &'static str = "0.1.0";

    fn invoke(ctx: &mut Context<'_>, method: &str, _params: &Value) -> Result<Value, String> {{
        match method {{
            "increment" => {{
                let n = ctx.get_u128("count")?.unwrap_or(0).checked_add(1).ok_or("overflow")?;
                ctx.set_u128("count", n);
                ctx.emit("Incremented", &json!({{"by": ctx.sender(), "count": n.to_string()}}));
                Ok(json!(n.to_string()))
            }}
            other => Err(format!("unknown method {{other:?}}")),
        }}
    }}

    fn query(ctx: &Context<'_>, method: &str, _params: &Value) -> Result<Value, String> {{
        match method {{
            "count" => Ok(json!(ctx.get_u128("count")?.unwrap_or(0).to_string())),
            other => Err(format!("unknown query {{other:?}}")),
        }}
    }}
}}

export_score!({type_name});
"#
            ),
        ),
    ];
    for (file, content) in files {
        let p = dir.join(file);
        std::fs::write(&p, content).with_context(|| format!("writing {}", p.display()))?;
    }
    println!("created SCORE crate {}", dir.display());
    println!("build it:   cd {} && cargo build", dir.display());
    println!(
        "run it:     loopchain peer --set DEFAULT_SCORE_PACKAGE={name} --set SCORE_PACKAGE_PATH={}/target/debug",
        dir.display()
    );
    println!("            (rebuilds of lib{name}.so are deployed automatically by a node holding the admin key)");
    Ok(())
}
