// Shared source of the `ledger` SCORE, compiled twice: `ledger` (V2 = false) and `ledger-v2`
// (V2 = true). Both are SCORE "ledger"; deploying v2 over v1 runs `on_update`, which migrates
// every entry from v1's layout (a JSON string) to v2's (an object with a word count).
use loopchain_plugin_api::serde_json::{json, Value};
use loopchain_plugin_api::{export_score, Context, Score};

/// The ledger SCORE: an append-only list of notes.
#[derive(Debug, Default)]
pub struct Ledger;

fn entry_key(n: u128) -> String {
    format!("entry/{n}")
}

fn words(text: &str) -> u128 {
    text.split_whitespace().count() as u128
}

fn store_entry(ctx: &mut Context<'_>, n: u128, text: &str) -> Result<(), String> {
    if V2 {
        ctx.set_json(&entry_key(n), &json!({"text": text, "words": words(text).to_string()}))
    } else {
        ctx.set_json(&entry_key(n), &json!(text))
    }
}

fn entry_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),            // v1 layout
        Value::Object(o) => o.get("text")?.as_str().map(str::to_owned), // v2 layout
        _ => None,
    }
}

impl Score for Ledger {
    const NAME: &'static str = "ledger";
    const VERSION: &'static str = if V2 { "2.0.0" } else { "1.0.0" };

    fn on_update(ctx: &mut Context<'_>, from_version: &str, _params: &Value) -> Result<(), String> {
        if !(V2 && from_version.starts_with("1.")) {
            return Ok(());
        }
        let count = ctx.get_u128("count")?.unwrap_or(0);
        let mut total = 0u128;
        for n in 0..count {
            let v: Value = ctx.get_json(&entry_key(n))?.ok_or_else(|| format!("entry {n} missing"))?;
            let text = entry_text(&v).ok_or_else(|| format!("entry {n} is corrupt"))?;
            total += words(&text);
            store_entry(ctx, n, &text)?;
        }
        ctx.set_u128("total_words", total);
        ctx.emit("Migrated", &json!({"from": from_version, "entries": count.to_string()}));
        Ok(())
    }

    fn invoke(ctx: &mut Context<'_>, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "append" => {
                let text = params["text"].as_str().ok_or("params must be {\"text\": \"...\"}")?;
                let n = ctx.get_u128("count")?.unwrap_or(0);
                store_entry(ctx, n, text)?;
                ctx.set_u128("count", n + 1);
                if V2 {
                    let total = ctx.get_u128("total_words")?.unwrap_or(0) + words(text);
                    ctx.set_u128("total_words", total);
                }
                ctx.emit("Appended", &json!({"n": n.to_string(), "by": ctx.sender()}));
                Ok(json!(n.to_string()))
            }
            other => Err(format!("unknown method {other:?}")),
        }
    }

    fn query(ctx: &Context<'_>, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "count" => Ok(json!(ctx.get_u128("count")?.unwrap_or(0).to_string())),
            "get" => {
                let n: u128 = params["n"].as_str().and_then(|s| s.parse().ok()).ok_or("params must be {\"n\": \"<decimal>\"}")?;
                Ok(ctx.get_json::<Value>(&entry_key(n))?.unwrap_or(Value::Null))
            }
            "version" => Ok(json!(Self::VERSION)),
            // New in v2.
            "total_words" if V2 => Ok(json!(ctx.get_u128("total_words")?.unwrap_or(0).to_string())),
            other => Err(format!("unknown query {other:?}")),
        }
    }
}

export_score!(Ledger);
