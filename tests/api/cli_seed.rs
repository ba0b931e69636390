//! `landx demo seed` run as the real binary (its own process: nothing installed by a test
//! harness), then `landx audit verify` on what it wrote.

use std::process::Command;

fn landx(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_landx"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LANDX_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .env(
            "LANDX_DATABASE__URL",
            format!("sqlite://{}", dir.join("landx.db").display()),
        )
        .env("LANDX_ENV", "test")
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .output()
        .expect("run landx")
}

#[test]
fn the_binary_seeds_the_demo_and_its_audit_trail_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let seed = landx(dir.path(), &["demo", "seed"]);
    assert!(
        seed.status.success(),
        "demo seed failed: {}{}",
        String::from_utf8_lossy(&seed.stdout),
        String::from_utf8_lossy(&seed.stderr)
    );
    assert!(String::from_utf8_lossy(&seed.stdout).contains("demo data seeded"));
    let verify = landx(dir.path(), &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "audit verify failed: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
