//! One description of the configuration: each object is a `Spec`, a table of its fields (key, kind with
//! default and range, whether required, what it means). The loader opens objects through their spec (unknown
//! keys refused, with "did you mean"), takes defaults and ranges from it, and `super::schema` generates
//! `schema/gatehouse-config.schema.json` from the same tables, so the two cannot drift.

use serde_json::{json, Map, Value};

pub struct Spec {
    /// The name under `$defs` (empty for the top level).
    pub def: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
    /// What a table cannot say about the object as a whole (`allOf`, `anyOf`, `dependentRequired`, …), as a
    /// JSON object merged into its schema.
    pub extra: Option<&'static str>,
}

pub struct Field {
    pub key: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub doc: &'static str,
}

pub enum Kind {
    /// A non-empty string.
    Text,
    Bool {
        default: Option<bool>,
    },
    Int {
        min: u64,
        max: u64,
        default: Option<u64>,
    },
    Enum {
        options: &'static [&'static str],
        default: Option<&'static str>,
    },
    Obj(&'static Spec),
    /// An array of objects.
    List(&'static Spec),
    /// A shared definition (`fields::SHARED`).
    Def(&'static str),
    /// Any other shape, as its JSON Schema.
    Schema(&'static str),
}

impl Spec {
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.key)
    }

    pub(super) fn schema(&self, defs: &mut Map<String, Value>) -> Value {
        let mut o = Map::new();
        if !self.doc.is_empty() {
            o.insert("description".into(), json!(self.doc));
        }
        o.insert("type".into(), json!("object"));
        o.insert("additionalProperties".into(), json!(false));
        let required: Vec<&str> = self.fields.iter().filter(|f| f.required).map(|f| f.key).collect();
        if !required.is_empty() {
            o.insert("required".into(), json!(required));
        }
        let props: Map<String, Value> = self.fields.iter().map(|f| (f.key.to_owned(), f.schema(defs))).collect();
        o.insert("properties".into(), Value::Object(props));
        if let Some(Value::Object(extra)) = self.extra.and_then(|e| serde_json::from_str(e).ok()) {
            o.extend(extra);
        }
        Value::Object(o)
    }

    /// A `$ref` to this object, adding its definition (and everything it uses) to `defs` the first time.
    pub(super) fn reference(&self, defs: &mut Map<String, Value>) -> Value {
        if !defs.contains_key(self.def) {
            defs.insert(self.def.to_owned(), Value::Null);
            let s = self.schema(defs);
            defs.insert(self.def.to_owned(), s);
        }
        json!({"$ref": format!("#/$defs/{}", self.def)})
    }
}

impl Field {
    pub(super) fn schema(&self, defs: &mut Map<String, Value>) -> Value {
        let mut v = match &self.kind {
            Kind::Text => json!({"type": "string", "minLength": 1}),
            Kind::Bool { default } => with_default(json!({"type": "boolean"}), default.map(Value::from)),
            Kind::Int { min, max, default } => {
                with_default(json!({"type": "integer", "minimum": min, "maximum": max}), default.map(Value::from))
            }
            Kind::Enum { options, default } => with_default(json!({"enum": options}), default.map(Value::from)),
            Kind::Obj(spec) => spec.reference(defs),
            Kind::List(spec) => json!({"type": "array", "items": spec.reference(defs)}),
            Kind::Def(name) => json!({"$ref": format!("#/$defs/{name}")}),
            Kind::Schema(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        };
        if let (false, Value::Object(o)) = (self.doc.is_empty(), &mut v) {
            o.insert("description".into(), json!(self.doc));
        }
        v
    }
}

fn with_default(mut v: Value, default: Option<Value>) -> Value {
    if let (Some(d), Value::Object(o)) = (default, &mut v) {
        o.insert("default".into(), d);
    }
    v
}
