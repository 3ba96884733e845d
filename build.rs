//! Whether the PostgreSQL variants of the end-to-end tests can run: without
//! `SALESGUARD_TEST_PG_URL` they are ignored (reported as such, never as
//! passed), except under CI (`CI` set), where they run and fail.
fn main() {
    println!("cargo::rerun-if-env-changed=SALESGUARD_TEST_PG_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(sg_no_postgres)");
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    if !set("SALESGUARD_TEST_PG_URL") && !set("CI") {
        println!("cargo::rustc-cfg=sg_no_postgres");
    }
}
