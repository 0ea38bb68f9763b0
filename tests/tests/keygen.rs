//! `loopchain keygen`: new identity and BLS keys in files only their owner can read, a member
//! entry whose peer id and proof of possession check out, no silent overwrite, and a peer that
//! runs a channel listing it with those keys (the non-dev path of `channel_manage_data.json`).
use lc_system_tests::{binary, free_port, Node};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

fn keygen(args: &[&str], storage: &std::path::Path) -> std::process::Output {
    Command::new(binary())
        .arg("keygen")
        .args(args)
        .env("DEFAULT_STORAGE_PATH", storage)
        .output()
        .expect("run loopchain keygen")
}

#[test]
fn keygen_writes_private_keys_and_a_checkable_member_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("k");
    let out = keygen(&["--out", out_dir.to_str().expect("utf-8 path")], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["identity.key", "bls.key"] {
        let mode = std::fs::metadata(out_dir.join(f)).expect("key file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} must be readable by its owner only");
    }
    let member: Value = serde_json::from_slice(&out.stdout).expect("member JSON on stdout");
    let written: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("member.json")).expect("member.json")).expect("JSON");
    assert_eq!(member, written);
    let identity: lc_types::PublicKey = member["identity_key"].as_str().expect("key").parse().expect("hex key");
    assert_eq!(
        member["peer_id"],
        lc_types::Address::of(&identity).to_string(),
        "peer id = address of the identity key"
    );
    let bls: lc_types::BlsPublicKey = member["bls_key"].as_str().expect("bls").parse().expect("hex");
    let pop: lc_types::BlsSignature = member["bls_pop"].as_str().expect("pop").parse().expect("hex");
    lc_crypto::bls::validate_registration(&bls, &pop).expect("the proof of possession verifies");

    // No silent overwrite: refused, files unchanged; --force replaces.
    let before = std::fs::read(out_dir.join("identity.key")).expect("read");
    let again = keygen(&["--out", out_dir.to_str().expect("utf-8 path")], dir.path());
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(out_dir.join("identity.key")).expect("read"), before);
    let forced = keygen(&["--out", out_dir.to_str().expect("utf-8 path"), "--force"], dir.path());
    assert!(forced.status.success());
    assert_ne!(std::fs::read(out_dir.join("identity.key")).expect("read"), before);
}

#[test]
fn a_peer_runs_a_channel_that_lists_it_with_its_generated_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("node");
    let port = free_port();
    let out = keygen(&["-p", &port.to_string()], &storage);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(storage.join(port.to_string()).join("keys").join("bls.key").exists(), "written where the peer looks");
    let mut member: Value = serde_json::from_slice(&out.stdout).expect("member JSON");
    member["peer_target"] = Value::String(format!("127.0.0.1:{port}"));
    let channels = serde_json::json!({"keyed": {"score_package": "hello", "peers": [member.clone()]}});
    let file = dir.path().join("channel_manage_data.json");
    std::fs::write(&file, channels.to_string()).expect("write channel file");

    let set = format!("CHANNEL_MANAGE_DATA_PATH={}", file.display());
    let node = Node::start(&storage, port, &[set.as_str(), "INTERVAL_BLOCKGENERATION=0.2"]);
    node.wait_for("blocks on the keyed channel", Duration::from_secs(60), |n| {
        n.get("/api/v1/status/peer?channel=keyed").1["block_height"].as_u64().unwrap_or(0) >= 3
    });
    let (_, status) = node.get("/api/v1/status/peer?channel=keyed");
    assert_eq!(status["peer_id"], member["peer_id"], "{status}");
    assert!(!node.logs().contains("DEV MODE"), "listed with keys: no development keys");
}
