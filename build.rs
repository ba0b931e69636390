//! Tells the integration tests which database the run uses, so PostgreSQL-only tests are
//! reported as ignored on SQLite runs instead of passing without doing anything:
//! `cfg(landx_pg)` is set when `LANDX_TEST_DATABASE_URL` is a PostgreSQL URL.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(landx_pg)");
    println!("cargo:rerun-if-env-changed=LANDX_TEST_DATABASE_URL");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("LANDX_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        println!("cargo:rustc-cfg=landx_pg");
    }
}
