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

/// Every type, field, input field and enum value of the schema has a
/// description, so front-end developers can read the schema alone (issue
/// #22). Built-in scalars and the introspection types are not ours.
#[test]
fn every_type_field_and_enum_value_is_described() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    const BUILT_IN_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];
    fn described(d: &Option<async_graphql::Positioned<String>>) -> bool {
        d.as_ref().is_some_and(|d| !d.node.trim().is_empty())
    }

    let sdl = salesguard_api::graphql::sdl();
    let doc = async_graphql::parser::parse_schema(&sdl)
        .unwrap_or_else(|e| panic!("the generated SDL does not parse: {e}"));
    // What lacks a description.
    let mut missing: Vec<String> = vec![];
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = &t.node;
        let name = t.name.node.as_str();
        if name.starts_with("__") {
            continue;
        }
        let what = match &t.kind {
            TypeKind::Scalar if BUILT_IN_SCALARS.contains(&name) => continue,
            TypeKind::Scalar => "scalar",
            TypeKind::Object(_) => "type",
            TypeKind::Interface(_) => "interface",
            TypeKind::Union(_) => "union",
            TypeKind::Enum(_) => "enum",
            TypeKind::InputObject(_) => "input",
        };
        if !described(&t.description) {
            missing.push(format!("{what} {name}"));
        }
        let fields = match &t.kind {
            TypeKind::Object(o) => &o.fields,
            TypeKind::Interface(i) => &i.fields,
            _ => &vec![],
        };
        for f in fields.iter().filter(|f| !described(&f.node.description)) {
            missing.push(format!("field {name}.{}", f.node.name.node));
        }
        match &t.kind {
            TypeKind::InputObject(i) => {
                for f in i.fields.iter().filter(|f| !described(&f.node.description)) {
                    missing.push(format!("input field {name}.{}", f.node.name.node));
                }
            }
            TypeKind::Enum(e) => {
                for v in e.values.iter().filter(|v| !described(&v.node.description)) {
                    missing.push(format!("enum value {name}.{}", v.node.value.node));
                }
            }
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "{} schema elements have no description:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}
