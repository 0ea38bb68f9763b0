//! Loading real SCORE libraries (the `hello` and `token` examples) into a [`ScoreRegistry`] and
//! calling them through [`CallContext`].
//!
//! Needs the example libraries: `cargo build -p hello -p token` first.
use lc_plugin_host::{namespaced_key, CallContext, CallEnv, LoadError, ScoreLibrary, ScoreRegistry};
use lc_types::{sha3, WriteSet};
use loopchain_plugin_api::abi_stable::std_types::{RSlice, RStr};
use loopchain_plugin_api::serde_json::{self, json, Value};
use loopchain_plugin_api::HostContext;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `<target>/debug/lib<name>.so`; panics with instructions when it was not built.
fn score_lib(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let p = target.join("debug").join(format!("lib{name}.so"));
    assert!(
        p.is_file(),
        "SCORE library {} is missing: run `cargo build -p hello -p token` before these tests",
        p.display()
    );
    p
}

fn files_in(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect()
}

fn addr(byte: u8) -> String {
    format!("hx{}", format!("{byte:02x}").repeat(20))
}

fn no_state(_: &[u8]) -> Option<Vec<u8>> {
    None
}

/// Reads `hello`'s `count` query (read-only, empty state): proves the library still answers.
fn hello_answers(hello: &ScoreLibrary) {
    let read = no_state;
    let mut ctx = CallContext::read_only("hello", &read, CallEnv::default());
    assert_eq!(hello.query(&mut ctx, "count", "").expect("hello count query"), "\"0\"");
}

/// Reads `token`'s `total_supply` query (read-only, empty state).
fn token_answers(token: &ScoreLibrary) {
    let read = no_state;
    let mut ctx = CallContext::read_only("token", &read, CallEnv::default());
    assert_eq!(token.query(&mut ctx, "total_supply", "").expect("token total_supply query"), "\"0\"");
}

fn apply(state: &mut WriteSet, writes: &WriteSet) {
    for (k, v) in writes {
        state.insert(k.clone(), v.clone());
    }
}

#[test]
fn two_scores_load_side_by_side_from_content_addressed_copies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = ScoreRegistry::new(dir.path()).expect("registry");
    let sources = [("hello", score_lib("hello")), ("token", score_lib("token"))];

    let mut libs = Vec::new();
    for (name, src) in &sources {
        let bytes = std::fs::read(src).expect("read library");
        let lib = registry.stage(src).unwrap_or_else(|e| panic!("staging {name}: {e}"));
        assert_eq!(lib.name, *name);
        assert_eq!(lib.version, "1.0.0");
        assert_eq!(lib.code_hash, sha3(&bytes), "code hash is sha3 of the file");
        let stem = src.file_stem().and_then(|s| s.to_str()).expect("stem");
        let expected = dir.path().join(format!("{stem}-{}.so", lib.code_hash));
        assert_eq!(lib.path, expected);
        assert_eq!(std::fs::read(&lib.path).expect("read copy"), bytes, "copy is byte-identical");
        libs.push(lib);
    }
    assert_ne!(libs[0].code_hash, libs[1].code_hash);
    assert_eq!(registry.all().len(), 2);
    for lib in &libs {
        let got = registry.get(&lib.code_hash).expect("get by code hash");
        assert!(Arc::ptr_eq(&got, lib));
    }
    // Both answer at once.
    hello_answers(&libs[0]);
    token_answers(&libs[1]);

    // Staging the same files again: the same Arc, no new file.
    let before = files_in(dir.path());
    assert_eq!(before.len(), 2, "exactly the two copies: {before:?}");
    for ((_, src), lib) in sources.iter().zip(&libs) {
        let again = registry.stage(src).expect("restage");
        assert!(Arc::ptr_eq(&again, lib), "restaging must return the loaded library");
        let bytes = std::fs::read(src).expect("read");
        let again = registry.stage_bytes(src, &bytes).expect("restage bytes");
        assert!(Arc::ptr_eq(&again, lib));
    }
    assert_eq!(files_in(dir.path()), before, "restaging created files");
    assert_eq!(registry.all().len(), 2);

    // A restart: a new registry over the same directory finds both.
    let reopened = ScoreRegistry::new(dir.path()).expect("registry");
    assert!(reopened.all().is_empty());
    let errors = reopened.load_existing();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(reopened.all().len(), 2);
    for lib in &libs {
        let got = reopened.get(&lib.code_hash).expect("reloaded");
        assert_eq!(got.name, lib.name);
        assert_eq!(got.version, lib.version);
        assert_eq!(got.path, lib.path);
    }
    assert_eq!(files_in(dir.path()), before, "load_existing created files");
    hello_answers(&reopened.get(&libs[0].code_hash).expect("hello"));
    token_answers(&reopened.get(&libs[1].code_hash).expect("token"));
}

/// A real shared library that is not a SCORE: the system zlib, else the first (sorted) non-SCORE
/// `lib*.so` of `target/debug/deps`.
fn foreign_shared_library() -> PathBuf {
    let fixed = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib64/libz.so.1",
        "/usr/lib64/libz.so.1",
    ];
    if let Some(p) = fixed.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return p;
    }
    let deps = score_lib("hello").parent().expect("profile dir").join("deps");
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(&deps).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    found.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with("lib")
            && name.ends_with(".so")
            && !["libhello", "libtoken", "libledger"].iter().any(|s| name.starts_with(s))
    });
    found.sort();
    found.into_iter().next().unwrap_or_else(|| {
        panic!("no non-SCORE shared library found (looked for {fixed:?} and lib*.so in {})", deps.display())
    })
}

#[test]
fn broken_libraries_are_refused_and_loaded_ones_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src_dir = tempfile::tempdir().expect("tempdir");
    let registry = ScoreRegistry::new(dir.path()).expect("registry");
    let hello = registry.stage(&score_lib("hello")).expect("hello");
    let token = registry.stage(&score_lib("token")).expect("token");
    let still_loaded = || {
        assert_eq!(registry.all().len(), 2);
        let h = registry.get(&hello.code_hash).expect("hello still loaded");
        let t = registry.get(&token.code_hash).expect("token still loaded");
        assert!(Arc::ptr_eq(&h, &hello) && Arc::ptr_eq(&t, &token));
        hello_answers(&h);
        token_answers(&t);
    };

    // Garbage bytes under a library name.
    let broken = src_dir.path().join("libbroken.so");
    std::fs::write(&broken, b"this is not an ELF file, just garbage bytes \x00\x01\x02\x7f").expect("write");
    match registry.stage(&broken) {
        Err(e @ LoadError::Library { .. }) => {
            let LoadError::Library { path, reason } = &e else { unreachable!() };
            assert_eq!(path, &broken);
            assert!(!reason.is_empty());
            assert!(e.to_string().contains("libbroken.so"), "message must name the file: {e}");
        }
        other => panic!("garbage must be refused as LoadError::Library, got {other:?}"),
    }
    still_loaded();

    // A file that does not exist.
    let missing = src_dir.path().join("libnothere.so");
    match registry.stage(&missing) {
        Err(LoadError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("a missing file must be LoadError::Io, got {other:?}"),
    }
    still_loaded();

    // A genuine shared library without the SCORE root module.
    let foreign = foreign_shared_library();
    match registry.stage(&foreign) {
        Err(e @ LoadError::Library { .. }) => {
            let name = foreign.file_name().and_then(|n| n.to_str()).expect("name");
            assert!(e.to_string().contains(name), "message must name {name}: {e}");
        }
        other => panic!("{} is not a SCORE and must be refused, got {other:?}", foreign.display()),
    }
    still_loaded();
}

#[test]
fn token_calls_buffer_namespaced_writes_and_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = ScoreRegistry::new(dir.path()).expect("registry");
    let token = registry.stage(&score_lib("token")).expect("token");
    let (alice, bob) = (addr(0xa1), addr(0xb2));
    let bal_key = |who: &str| namespaced_key("token", format!("balance/{who}").as_bytes());
    let le = |n: u128| Some(n.to_le_bytes().to_vec());

    // on_install with holders.
    let mut state = WriteSet::new();
    {
        let read = |k: &[u8]| state.get(k).cloned().flatten();
        let mut ctx = CallContext::new("token", &read, CallEnv { block_height: 1, ..CallEnv::default() });
        let params = json!({"holders": [{"address": alice, "balance": "1000"}]}).to_string();
        assert_eq!(token.on_install(&mut ctx, &params).expect("install"), "null");
        assert_eq!(ctx.writes.get(&bal_key(&alice)), Some(&le(1000)));
        assert_eq!(ctx.writes.get(&namespaced_key("token", b"total_supply")), Some(&le(1000)));
        assert!(ctx.writes.keys().all(|k| k.starts_with(b"score/token/")), "{:?}", ctx.writes);
        assert!(ctx.events.is_empty());
        let writes = ctx.writes.clone();
        drop(ctx);
        apply(&mut state, &writes);
    }

    // transfer 300 alice -> bob.
    {
        let read = |k: &[u8]| state.get(k).cloned().flatten();
        let env = CallEnv { sender: alice.clone(), tx_hash: "ab".repeat(32), block_height: 2, block_timestamp: 5 };
        let mut ctx = CallContext::new("token", &read, env);
        let params = json!({"to": bob, "value": "300"}).to_string();
        assert_eq!(token.invoke(&mut ctx, "transfer", &params).expect("transfer"), "true");
        let expected: WriteSet = [(bal_key(&alice), le(700)), (bal_key(&bob), le(300))].into_iter().collect();
        assert_eq!(ctx.writes, expected);
        assert_eq!(ctx.events.len(), 1, "{:?}", ctx.events);
        let ev = &ctx.events[0];
        assert_eq!((ev.score.as_str(), ev.name.as_str()), ("token", "Transfer"));
        let data: Value = serde_json::from_str(&ev.data_json).expect("event JSON");
        assert_eq!(data, json!({"from": alice, "to": bob, "value": "300"}));
        let writes = ctx.writes.clone();
        drop(ctx);
        apply(&mut state, &writes);
    }

    // Insufficient balance: an error with a message.
    {
        let read = |k: &[u8]| state.get(k).cloned().flatten();
        let env = CallEnv { sender: bob.clone(), tx_hash: "cd".repeat(32), block_height: 3, block_timestamp: 6 };
        let mut ctx = CallContext::new("token", &read, env);
        let params = json!({"to": alice, "value": "301"}).to_string();
        let err = token.invoke(&mut ctx, "transfer", &params).expect_err("bob only has 300");
        assert!(err.contains("insufficient balance"), "{err}");
        assert!(ctx.events.is_empty());
    }

    // Queries over the state written by the previous calls.
    let read = |k: &[u8]| state.get(k).cloned().flatten();
    for (who, want) in [(&alice, "700"), (&bob, "300"), (&addr(0x11), "0")] {
        let mut ctx = CallContext::read_only("token", &read, CallEnv::default());
        let out = token.query(&mut ctx, "balance_of", &json!({"address": who}).to_string()).expect("balance_of");
        assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON"), json!(want), "balance of {who}");
        assert!(!ctx.write_attempted);
        assert!(ctx.writes.is_empty());
    }
    let mut ctx = CallContext::read_only("token", &read, CallEnv::default());
    let err = token.query(&mut ctx, "balance_of", "{\"address\": \"nope\"}").expect_err("bad address");
    assert!(err.contains("address"), "{err}");
}

#[test]
fn read_only_context_drops_and_flags_writes() {
    let mut state = WriteSet::new();
    state.insert(namespaced_key("token", b"k"), Some(b"stored".to_vec()));
    let read = |k: &[u8]| state.get(k).cloned().flatten();

    let mut ro = CallContext::read_only("token", &read, CallEnv::default());
    assert!(!ro.write_attempted);
    assert_eq!(ro.get(RSlice::from_slice(b"k")).into_option().map(|v| v.to_vec()), Some(b"stored".to_vec()));
    ro.set(RSlice::from_slice(b"k"), RSlice::from_slice(b"changed"));
    assert!(ro.write_attempted, "set on a read-only context must be flagged");
    assert!(ro.writes.is_empty(), "set on a read-only context must be dropped");
    assert_eq!(ro.get(RSlice::from_slice(b"k")).into_option().map(|v| v.to_vec()), Some(b"stored".to_vec()));
    ro.emit_event(RStr::from_str("Ev"), RStr::from_str("{}"));
    assert!(ro.events.is_empty(), "events of a read-only call are dropped");

    let mut ro = CallContext::read_only("token", &read, CallEnv::default());
    ro.delete(RSlice::from_slice(b"k"));
    assert!(ro.write_attempted, "delete on a read-only context must be flagged");
    assert!(ro.writes.is_empty());
    assert!(ro.get(RSlice::from_slice(b"k")).is_some());

    // The same calls on a normal context are buffered, namespaced, and read back.
    let env = CallEnv { sender: "hxs".into(), tx_hash: "th".into(), block_height: 7, block_timestamp: 8 };
    let mut rw = CallContext::new("token", &read, env);
    rw.set(RSlice::from_slice(b"n"), RSlice::from_slice(b"v"));
    rw.delete(RSlice::from_slice(b"k"));
    rw.emit_event(RStr::from_str("Ev"), RStr::from_str("{\"a\":1}"));
    assert!(!rw.write_attempted);
    let expected: WriteSet =
        [(namespaced_key("token", b"n"), Some(b"v".to_vec())), (namespaced_key("token", b"k"), None)]
            .into_iter()
            .collect();
    assert_eq!(rw.writes, expected);
    assert_eq!(rw.get(RSlice::from_slice(b"n")).into_option().map(|v| v.to_vec()), Some(b"v".to_vec()));
    assert!(rw.get(RSlice::from_slice(b"k")).is_none(), "a buffered delete hides the stored value");
    assert_eq!(rw.events.len(), 1);
    assert_eq!(rw.events[0].score, "token");
    assert_eq!(rw.sender().as_str(), "hxs");
    assert_eq!(rw.tx_hash().as_str(), "th");
    assert_eq!((rw.block_height(), rw.block_timestamp()), (7, 8));
    assert_eq!(namespaced_key("token", b"k"), b"score/token/k".to_vec());
}

#[test]
fn a_panicking_score_returns_an_error_and_the_host_keeps_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = ScoreRegistry::new(dir.path()).expect("registry");
    let hello = registry.stage(&score_lib("hello")).expect("hello");
    let read = no_state;
    let env = CallEnv { sender: addr(1), tx_hash: "ef".repeat(32), block_height: 1, block_timestamp: 1 };

    let mut ctx = CallContext::new("hello", &read, env.clone());
    let err = hello.invoke(&mut ctx, "panic", "{}").expect_err("panic must become an error");
    assert!(err.contains("SCORE panicked"), "{err}");
    assert!(err.contains("hello was asked to panic"), "{err}");

    // Still alive: the same library answers the next calls.
    let mut ctx = CallContext::new("hello", &read, env);
    let out = hello.invoke(&mut ctx, "store", "{\"x\":1}").expect("store after a panic");
    assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON"), json!({"stored": "1"}));
    let key = namespaced_key("hello", format!("data/{}", "ef".repeat(32)).as_bytes());
    assert_eq!(ctx.writes.get(&key), Some(&Some(b"{\"x\":1}".to_vec())));
    let err = hello.invoke(&mut ctx, "panic", "").expect_err("panics again");
    assert!(err.contains("SCORE panicked"), "{err}");
    hello_answers(&hello);
}

/// `ScoreRegistry::load_existing` is documented to report and skip "files whose content no longer
/// matches their name". A copy renamed to another hash must not be loaded (nor re-copied).
#[test]
fn load_existing_reports_and_skips_a_copy_whose_content_does_not_match_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(score_lib("token")).expect("read token");
    let wrong = dir.path().join(format!("libtoken-{}.so", lc_types::Hash::ZERO));
    std::fs::write(&wrong, &bytes).expect("write");
    let registry = ScoreRegistry::new(dir.path()).expect("registry");
    let errors = registry.load_existing();
    assert_eq!(errors.len(), 1, "the mismatching copy must be reported: {errors:?}");
    assert!(errors[0].to_string().contains(&wrong.display().to_string()), "{}", errors[0]);
    assert!(registry.all().is_empty(), "the mismatching copy was loaded: {:?}", registry.all());
    assert_eq!(files_in(dir.path()), [wrong].into_iter().collect(), "load_existing wrote new files");
}
