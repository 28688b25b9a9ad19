//! Offline JSON schemas for kubeconform, made from the testbed apiserver's own OpenAPI v2
//! document and from the CRD file, so that `kubeconform -strict` needs no network.
//!
//! Data flow: `GET /openapi/v2` (a JSON value) and the CRD YAML (a JSON value) go in; out come
//! `(file name, schema)` pairs laid out the way kubeconform's `-schema-location` template
//! `{{ .ResourceKind }}{{ .KindSuffix }}.json` names them. Every schema is standalone (the
//! definitions it references are copied into its own `definitions`) and strict: each object
//! schema that lists `properties` gets `additionalProperties: false` unless it preserves unknown
//! fields, which is what makes a misspelled field fail. Pure functions; the caller writes files.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// Definition of `resource.Quantity` in the OpenAPI v2 document.
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
/// Definition of `ObjectMeta` in the OpenAPI v2 document.
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// Prefix of local references in the OpenAPI v2 document.
const REF_PREFIX: &str = "#/definitions/";

/// The file kubeconform looks up for `apiVersion`/`kind` (its `ResourceKind` + `KindSuffix`):
/// `deployment-apps-v1.json`, `service-v1.json`, `role-rbac-v1.json`.
pub fn file_name(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let mut suffix = String::new();
    if group.is_empty() {
        suffix.push('-');
        suffix.push_str(&version.to_lowercase());
    } else {
        let first = group.split('.').next().unwrap_or(group);
        suffix = format!("-{}-{}", first.to_lowercase(), version.to_lowercase());
    }
    format!("{}{suffix}.json", kind.to_lowercase())
}

/// Strict standalone schemas of every `(apiVersion, kind)` in `wanted` that the OpenAPI v2
/// document defines (keyed by file name). Kinds it does not define are left out, so kubeconform
/// reports them as missing instead of passing them.
pub fn from_openapi_v2(
    doc: &Value,
    wanted: &BTreeSet<(String, String)>,
) -> BTreeMap<String, Value> {
    let Some(defs) = doc.get("definitions").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (name, def) in defs {
        let gvks = def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for gvk in gvks {
            let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (group, version, kind) = (field("group"), field("version"), field("kind"));
            let api_version = if group.is_empty() {
                version
            } else {
                format!("{group}/{version}")
            };
            if wanted.contains(&(api_version.clone(), kind.clone())) {
                let mut root = def.clone();
                strictify(&mut root);
                out.insert(
                    file_name(&api_version, &kind),
                    standalone(root, defs, &[name.as_str()]),
                );
            }
        }
    }
    out
}

/// Strict standalone schemas of every version a CustomResourceDefinition serves, from its
/// `openAPIV3Schema`, with `apiVersion`, `kind` and `metadata` added the way the apiserver adds
/// them (metadata is `ObjectMeta` from the OpenAPI v2 document).
pub fn from_crd(crd: &Value, openapi_v2: &Value) -> Result<Vec<(String, Value)>, String> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .ok_or("CRD without spec.group")?;
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .ok_or("CRD without spec.names.kind")?;
    let defs = openapi_v2
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or("OpenAPI v2 document without definitions")?;
    let mut out = vec![];
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .ok_or("CRD without spec.versions")?
    {
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or("version without name")?;
        let mut root = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .ok_or_else(|| format!("CRD version {version} without openAPIV3Schema"))?;
        let props = root
            .as_object_mut()
            .ok_or("openAPIV3Schema is not an object")?
            .entry("properties")
            .or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert("apiVersion".into(), json!({"type": "string"}));
            p.insert("kind".into(), json!({"type": "string"}));
            p.insert(
                "metadata".into(),
                json!({"$ref": format!("{REF_PREFIX}{OBJECT_META}")}),
            );
        }
        strictify(&mut root);
        let api_version = format!("{group}/{version}");
        out.push((file_name(&api_version, kind), standalone(root, defs, &[])));
    }
    Ok(out)
}

/// `root` plus a `definitions` map holding every definition it reaches through `$ref`
/// (transitively, strictified), so kubeconform resolves everything inside one file.
fn standalone(mut root: Value, defs: &Map<String, Value>, seed: &[&str]) -> Value {
    let mut todo: Vec<String> = seed.iter().map(|s| s.to_string()).collect();
    collect_refs(&root, &mut todo);
    let mut copied = Map::new();
    while let Some(name) = todo.pop() {
        if copied.contains_key(&name) {
            continue;
        }
        let Some(def) = defs.get(&name) else { continue };
        let mut def = if name == QUANTITY {
            // A quantity is written as a string ("20m", "32Mi") or a plain number (cpu: 1).
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]})
        } else {
            def.clone()
        };
        strictify(&mut def);
        collect_refs(&def, &mut todo);
        copied.insert(name, def);
    }
    if let Some(o) = root.as_object_mut() {
        o.insert("definitions".into(), Value::Object(copied));
    }
    root
}

/// Appends the definition names `v` references to `out`.
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                if let Some(name) = r.strip_prefix(REF_PREFIX) {
                    out.push(name.to_string());
                }
            }
            o.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// Makes one schema (and the schemas nested in it, not its `default`/`enum`/`example` data)
/// strict and expresses the Kubernetes extensions kubeconform does not know in plain JSON
/// schema: int-or-string, `nullable`.
pub fn strictify(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    let int_or_string = o.get("format").and_then(Value::as_str) == Some("int-or-string")
        || o.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if int_or_string {
        o.remove("type");
        o.remove("format");
        o.insert(
            "oneOf".into(),
            json!([{"type": "string"}, {"type": "integer"}]),
        );
    }
    if o.get("nullable").and_then(Value::as_bool) == Some(true) {
        if let Some(Value::String(t)) = o.get("type").cloned() {
            o.insert("type".into(), json!([t, "null"]));
        }
    }
    let open = o
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if o.contains_key("properties") && !o.contains_key("additionalProperties") && !open {
        o.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (k, child) in o.iter_mut() {
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                if let Some(m) = child.as_object_mut() {
                    m.values_mut().for_each(strictify);
                }
            }
            "items" | "additionalProperties" | "not" => strictify(child),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(a) = child.as_array_mut() {
                    a.iter_mut().for_each(strictify);
                }
            }
            _ => {}
        }
    }
}

/// `(apiVersion, kind)` of every object in a multi-document YAML stream.
pub fn kinds_in(yaml: &str) -> Result<BTreeSet<(String, String)>, String> {
    let mut out = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        match (s("apiVersion"), s("kind")) {
            (Some(a), Some(k)) => {
                out.insert((a, k));
            }
            _ => return Err(format!("object without apiVersion/kind: {v}")),
        }
    }
    Ok(out)
}
