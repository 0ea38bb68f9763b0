//! `hello`: the seed's behaviour. A `Data` transaction (`{"data": ...}` posted to
//! `/api/v1/transactions`) is stored under its transaction hash; the `get` query with
//! `{"tx_hash": "<hex>"}` returns it. It is the default SCORE of a node's default channel.
use loopchain_plugin_api::serde_json::{json, Value};
use loopchain_plugin_api::{export_score, Context, Score};

/// The hello SCORE.
#[derive(Debug, Default)]
pub struct Hello;

impl Score for Hello {
    const NAME: &'static str = "hello";
    const VERSION: &'static str = "1.0.0";

    fn invoke(ctx: &mut Context<'_>, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            // The same as a Data transaction, as an explicit call.
            "store" => Self::on_data(ctx, params),
            // Shows the panic guard: the transaction gets a failure receipt, the node keeps running.
            "panic" => panic!("hello was asked to panic"),
            other => Err(format!("unknown method {other:?}")),
        }
    }

    fn query(ctx: &Context<'_>, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "get" => {
                let hash = params["tx_hash"].as_str().ok_or("params must be {\"tx_hash\": \"<hex>\"}")?;
                let key = format!("data/{}", hash.trim_start_matches("0x").to_ascii_lowercase());
                Ok(ctx.get_json::<Value>(&key)?.unwrap_or(Value::Null))
            }
            "count" => Ok(json!(ctx.get_u128("count")?.unwrap_or(0).to_string())),
            other => Err(format!("unknown query {other:?}")),
        }
    }

    fn on_data(ctx: &mut Context<'_>, data: &Value) -> Result<Value, String> {
        let key = format!("data/{}", ctx.tx_hash());
        ctx.set_json(&key, data)?;
        let count = ctx.get_u128("count")?.unwrap_or(0) + 1;
        ctx.set_u128("count", count);
        Ok(json!({"stored": count.to_string()}))
    }
}

export_score!(Hello);
