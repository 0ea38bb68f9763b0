//! `token`: balances, `transfer`, `Transfer` events, overflow-checked. The benchmark workload.
//!
//! `on_install` params: `{"holders": [{"address": "hx…", "balance": "<decimal>"}]}`. Without
//! holders, the first 16 deterministic dev accounts (`loopchain tx`, `loopchain bench`) get
//! 10^24 each — the node passes their addresses in.
use loopchain_plugin_api::serde_json::{json, Value};
use loopchain_plugin_api::{export_score, Context, Score};

/// The token SCORE.
#[derive(Debug, Default)]
pub struct Token;

fn balance_key(address: &str) -> String {
    format!("balance/{address}")
}

fn amount(v: &Value, what: &str) -> Result<u128, String> {
    match v {
        Value::String(s) => s.parse().map_err(|_| format!("{what} must be a decimal string, got {s:?}")),
        Value::Number(n) => n.as_u64().map(u128::from).ok_or_else(|| format!("{what} must be a non-negative integer")),
        _ => Err(format!("{what} is missing")),
    }
}

fn address(v: &Value, what: &str) -> Result<String, String> {
    let s = v.as_str().ok_or_else(|| format!("{what} is missing"))?;
    let ok = s.len() == 42 && s.starts_with("hx") && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("{what} must be hx + 40 hex digits, got {s:?}"))
    }
}

impl Score for Token {
    const NAME: &'static str = "token";
    const VERSION: &'static str = "1.0.0";

    fn on_install(ctx: &mut Context<'_>, params: &Value) -> Result<(), String> {
        let mut supply: u128 = 0;
        for h in params["holders"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let who = address(&h["address"], "holder address")?;
            let bal = amount(&h["balance"], "holder balance")?;
            supply = supply.checked_add(bal).ok_or("total supply overflows u128")?;
            ctx.set_u128(&balance_key(&who), bal);
        }
        ctx.set_u128("total_supply", supply);
        Ok(())
    }

    fn invoke(ctx: &mut Context<'_>, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "transfer" => {
                let to = address(&params["to"], "to")?;
                let value = amount(&params["value"], "value")?;
                let from = ctx.sender();
                let from_bal = ctx.get_u128(&balance_key(&from))?.unwrap_or(0);
                let rest =
                    from_bal.checked_sub(value).ok_or_else(|| format!("insufficient balance: {from_bal} < {value}"))?;
                ctx.set_u128(&balance_key(&from), rest);
                let to_bal = ctx.get_u128(&balance_key(&to))?.unwrap_or(0);
                ctx.set_u128(&balance_key(&to), to_bal.checked_add(value).ok_or("balance overflows u128")?);
                ctx.emit("Transfer", &json!({"from": from, "to": to, "value": value.to_string()}));
                Ok(Value::Bool(true))
            }
            other => Err(format!("unknown method {other:?}")),
        }
    }

    fn query(ctx: &Context<'_>, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "balance_of" => {
                let who = address(&params["address"], "address")?;
                Ok(json!(ctx.get_u128(&balance_key(&who))?.unwrap_or(0).to_string()))
            }
            "total_supply" => Ok(json!(ctx.get_u128("total_supply")?.unwrap_or(0).to_string())),
            other => Err(format!("unknown query {other:?}")),
        }
    }
}

export_score!(Token);
