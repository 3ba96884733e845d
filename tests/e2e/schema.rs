//! The checked-in SDL is what the code serves.
#[test]
fn schema_graphql_is_current() {
    let current = salesguard_api::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    if current != checked_in {
        if std::env::var("UPDATE_SCHEMA").is_ok() {
            std::fs::write(path, &current).unwrap_or_else(|e| panic!("write {path}: {e}"));
            return;
        }
        panic!(
            "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test --test e2e schema` \
             (or `cargo run -- schema > schema.graphql`) and review the diff"
        );
    }
}
