//! `schema/gatehouse-config.schema.json` is generated from the configuration's field tables
//! (`config::fields`), the same tables the loader reads through: the checked-in file must be exactly what
//! they generate (`gatehouse schema > schema/gatehouse-config.schema.json` after changing a table).

use serde_json::{json, Value};

use crate::config::schema::schema;
use crate::config::spec::{Kind, Spec};
use crate::config::{fields, load_config};
use crate::testing::*;

const CHECKED_IN: &str = include_str!("../../schema/gatehouse-config.schema.json");

#[test]
fn the_checked_in_schema_is_the_one_the_field_tables_generate() {
    let checked_in: Value = serde_json::from_str(CHECKED_IN).expect("the schema is JSON");
    assert!(
        checked_in == schema(),
        "schema/gatehouse-config.schema.json is out of date: run `gatehouse schema > schema/gatehouse-config.schema.json`"
    );
}

#[test]
fn every_schema_reference_resolves() {
    let schema = schema();
    fn walk(v: &Value, root: &Value, at: &str) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    let target = r.strip_prefix('#').expect("local reference");
                    assert!(root.pointer(target).is_some(), "{at}: {r} does not resolve");
                }
                for (k, x) in m {
                    walk(x, root, &format!("{at}/{k}"));
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, root, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(&schema, &schema, "");
    assert_eq!(schema["$schema"], json!("https://json-schema.org/draft/2020-12/schema"));
}

/// Every object spec, reached from the top.
fn specs() -> Vec<&'static Spec> {
    fn visit(s: &'static Spec, out: &mut Vec<&'static Spec>) {
        if out.iter().any(|x| std::ptr::eq(*x, s)) {
            return;
        }
        out.push(s);
        for f in s.fields {
            if let Kind::Obj(inner) | Kind::List(inner) = f.kind {
                visit(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    visit(&fields::TOP, &mut out);
    out
}

#[test]
fn every_described_object_refuses_unknown_keys_in_the_schema() {
    let schema = schema();
    for spec in specs().into_iter().filter(|s| !s.def.is_empty()) {
        let at = format!("/$defs/{}", spec.def);
        assert_eq!(schema.pointer(&format!("{at}/additionalProperties")), Some(&json!(false)), "{at}");
    }
    assert_eq!(schema["additionalProperties"], json!(false));
}

#[test]
fn defaults_lie_within_their_ranges_and_among_their_options() {
    for spec in specs() {
        for f in spec.fields {
            match f.kind {
                Kind::Int { min, max, default } => {
                    assert!(min <= max && default.is_none_or(|d| (min..=max).contains(&d)), "{}.{}", spec.def, f.key)
                }
                Kind::Enum { options, default } => {
                    assert!(default.is_none_or(|d| options.contains(&d)), "{}.{}", spec.def, f.key)
                }
                _ => {}
            }
            assert!(!(f.required && matches!(f.kind, Kind::Int { default: Some(_), .. })), "{}.{}", spec.def, f.key);
        }
    }
}

#[test]
fn the_loader_reads_every_choice_with_the_options_its_field_lists() {
    // `Obj::choice` reports a mismatch between the loader's mapping and the table on every load; the session
    // fixture opens every object that has a choice.
    let mut v = session_config_json();
    v["rollout"] = json!({"default": {"mode": "shadow", "bucket_by": "deployment"}});
    v["issuers"][0]["hmac_keys"][0]["encoding"] = json!("raw");
    v["routes"][0]["response"] = json!("text");
    if let Err(e) = load_config(v.to_string().as_bytes(), &session_env) {
        panic!("{e}");
    }
}

#[test]
fn a_top_level_schema_key_is_accepted_and_ignored_but_nowhere_else() {
    let mut v = config_json();
    v["$schema"] = json!("../schema/gatehouse-config.schema.json");
    let with = load_config(v.to_string().as_bytes(), &env).expect("$schema is ignored at the top");
    let without = config();
    assert_eq!(with.routes.len(), without.routes.len());
    assert_eq!(with.issuers.len(), without.issuers.len());

    let mut v = config_json();
    v["routes"][0]["$schema"] = json!("x");
    let errs = load_config(v.to_string().as_bytes(), &env).expect_err("only the top level ignores $schema");
    assert!(errs.iter().any(|e| e.path == "$.routes[0].$schema"), "{errs}");
}
