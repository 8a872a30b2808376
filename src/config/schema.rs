//! `schema/gatehouse-config.schema.json`, generated from the field tables (`gatehouse schema` prints it; a
//! test compares it with the checked-in file).

use serde_json::{json, Map, Value};

use super::fields;

/// The configuration's JSON Schema (draft 2020-12), generated from the tables in `fields`.
pub fn schema() -> Value {
    let mut defs = Map::new();
    for (name, s) in fields::SHARED {
        defs.insert((*name).to_owned(), serde_json::from_str(s).unwrap_or(Value::Null));
    }
    for spec in fields::ALL {
        spec.reference(&mut defs);
    }
    let top = fields::TOP.schema(&mut defs);
    let mut out = Map::new();
    out.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    out.insert("$id".into(), json!("urn:gatehouse:schema:plugin-config"));
    out.insert("title".into(), json!("Gatehouse plugin configuration"));
    if let Value::Object(top) = top {
        out.extend(top);
    }
    out.insert("$defs".into(), Value::Object(defs));
    Value::Object(out)
}
