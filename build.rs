//! Tells the tests whether there is a PostgreSQL to run them on.
//!
//! With `TEST_DATABASE_URL` set (and not empty) when the crate is built, its targets are compiled
//! with `cfg(test_postgres)`, and the PostgreSQL variants of the storage and HTTP tests run (they
//! fail if the variable is gone by the time they do). Without it those variants are compiled as
//! ignored, so `cargo test` lists them as ignored, with the reason, instead of passing them
//! without running anything. Changing the variable rebuilds the crate.
//!
//! The migrations are compiled in (`sqlx::migrate!`), and a build script that names what it
//! watches turns off Cargo's watching of the whole package: so the migrations' folder is named
//! too, or a new migration alone would leave a binary without it.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(test_postgres)");
    if std::env::var_os("TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=test_postgres");
    }
}
