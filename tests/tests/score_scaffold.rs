//! A contract developer's path: `loopchain score new`, `cargo build` of the new crate (its own
//! target dir, as a user would have), run it on a node, call it with `loopchain tx`, query it.
use lc_system_tests::{binary, free_port, Node};
use serde_json::Value;
use std::process::Command;

#[test]
fn scaffolded_score_builds_deploys_and_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out =
        Command::new(binary()).args(["score", "new", "my_counter", "--path"]).arg(dir.path()).output().expect("run");
    assert!(out.status.success(), "score new failed: {}", String::from_utf8_lossy(&out.stderr));
    let crate_dir = dir.path().join("my_counter");
    for f in ["Cargo.toml", "clippy.toml", "src/lib.rs"] {
        assert!(crate_dir.join(f).exists(), "{f} missing");
    }
    // Refuses to overwrite and refuses bad names.
    let again =
        Command::new(binary()).args(["score", "new", "my_counter", "--path"]).arg(dir.path()).output().expect("run");
    assert!(!again.status.success());
    let bad =
        Command::new(binary()).args(["score", "new", "Bad/Name", "--path"]).arg(dir.path()).output().expect("run");
    assert!(!bad.status.success());

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = dir.path().join("target");
    let build = Command::new(cargo)
        .arg("build")
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo build of the scaffold");
    assert!(build.status.success(), "scaffold does not build:\n{}", String::from_utf8_lossy(&build.stderr));
    let libs = target.join("debug");
    assert!(libs.join("libmy_counter.so").exists());

    let node = Node::start(
        &dir.path().join("data"),
        free_port(),
        &[
            "INTERVAL_BLOCKGENERATION=0.2",
            "DEFAULT_SCORE_PACKAGE=my_counter",
            &format!("SCORE_PACKAGE_PATH={}", libs.display()),
        ],
    );
    node.wait_for("my_counter deployed", std::time::Duration::from_secs(30), |n| {
        n.get("/api/v1/status/score").1["status"] == "active"
    });
    let tx = Command::new(binary())
        .args([
            "tx",
            "--target",
            &node.base(),
            "--account",
            "2",
            "--wait",
            "call",
            "--score",
            "my_counter",
            "--method",
            "increment",
        ])
        .output()
        .expect("loopchain tx");
    assert!(
        tx.status.success(),
        "tx failed: {}\n{}",
        String::from_utf8_lossy(&tx.stdout),
        String::from_utf8_lossy(&tx.stderr)
    );
    let stdout = String::from_utf8_lossy(&tx.stdout);
    assert!(stdout.contains("Incremented"), "receipt shows the event: {stdout}");
    let (status, v) = node.post("/api/v1/query", r#"{"method":"count"}"#, None);
    assert_eq!((status, &v["response"]), (200, &Value::String("1".into())), "{v}");

    // A Deploy signed by a non-admin dev account is a failed receipt: `tx --wait` exits non-zero.
    let deploy = Command::new(binary())
        .args([
            "tx",
            "--target",
            &node.base(),
            "--account",
            "2",
            "--wait",
            "deploy",
            "--score",
            "my_counter",
            "--library",
        ])
        .arg(libs.join("libmy_counter.so"))
        .output()
        .expect("loopchain tx deploy");
    assert!(!deploy.status.success());
    assert!(String::from_utf8_lossy(&deploy.stderr).contains("9101"), "{}", String::from_utf8_lossy(&deploy.stderr));
}
