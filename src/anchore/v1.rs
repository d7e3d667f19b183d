//! Down-conversion of a current syft JSON SBOM to the `ImagePackageManifest` shape the v1
//! import API validates (Anchore Engine 1.x, Enterprise 4.x).
//!
//! The v1 schema predates syft's structured fields: licences, CPEs and distro fields must be
//! strings, `source.target` is required, and `language` and `metadataType` must be present.

use serde_json::{Map, Value};

/// The syft cataloger name that Engine's Python handler expects. Engine keeps a Python
/// artifact only when its `foundBy` contains this name.
const ENGINE_PYTHON_CATALOGER: &str = "python-package-cataloger";
const SYFT_PYTHON_INSTALLED_CATALOGER: &str = "python-installed-package-cataloger";

/// Returns a copy of `sbom` that the v1 `ImagePackageManifest` schema accepts.
pub fn downconvert_sbom(sbom: &Value) -> Value {
    let mut converted = sbom.clone();
    let Some(document) = converted.as_object_mut() else {
        return converted;
    };

    let distro = convert_distro(document.get("distro"));
    document.insert("distro".to_owned(), distro);
    convert_source(document);

    match document.get_mut("artifacts") {
        Some(Value::Array(artifacts)) => {
            for artifact in artifacts.iter_mut().filter_map(Value::as_object_mut) {
                convert_artifact(artifact);
            }
        }
        _ => {
            document.insert("artifacts".to_owned(), Value::Array(Vec::new()));
        }
    }
    converted
}

/// Builds `{name, version, idLike}` strings from the os-release fields, preferring the
/// machine-readable `id` and `versionID`, as syft's own v1 upload did. A missing distro
/// (scratch images) becomes empty strings, because the object itself is required.
fn convert_distro(distro: Option<&Value>) -> Value {
    let field = |keys: &[&str]| -> String {
        keys.iter()
            .filter_map(|key| distro?.get(*key)?.as_str())
            .find(|value| !value.is_empty())
            .unwrap_or("")
            .to_owned()
    };
    let id_like = match distro.and_then(|distro| distro.get("idLike")) {
        Some(Value::String(value)) => value.clone(),
        Some(Value::Array(values)) => values
            .iter()
            .find_map(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    };
    serde_json::json!({
        "name": field(&["id", "name"]),
        "version": field(&["versionID", "version"]),
        "idLike": id_like,
    })
}

/// Syft schema 9 and later moved `source.target` to `source.metadata`; v1 requires `target`.
fn convert_source(document: &mut Map<String, Value>) {
    let source = document
        .entry("source")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(source) = source.as_object_mut() else {
        return;
    };
    if !source.contains_key("type") {
        source.insert("type".to_owned(), Value::String("image".to_owned()));
    }
    if source.get("target").is_none_or(Value::is_null) {
        let target = source
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        source.insert("target".to_owned(), target);
    }
}

fn convert_artifact(artifact: &mut Map<String, Value>) {
    let licenses = strings_from(artifact.get("licenses"), &["value", "spdxExpression"]);
    artifact.insert("licenses".to_owned(), licenses);
    let cpes = strings_from(artifact.get("cpes"), &["cpe"]);
    artifact.insert("cpes".to_owned(), cpes);

    for key in ["language", "metadataType"] {
        if !artifact.get(key).is_some_and(Value::is_string) {
            artifact.insert(key.to_owned(), Value::String(String::new()));
        }
    }
    if !artifact.get("locations").is_some_and(Value::is_array) {
        artifact.insert("locations".to_owned(), Value::Array(Vec::new()));
    }
    // The v1 schema types `metadata` as an object, so a null would be rejected.
    if artifact.get("metadata").is_some_and(Value::is_null) {
        artifact.remove("metadata");
    }
    if artifact.get("foundBy").and_then(Value::as_str) == Some(SYFT_PYTHON_INSTALLED_CATALOGER) {
        artifact.insert(
            "foundBy".to_owned(),
            Value::String(ENGINE_PYTHON_CATALOGER.to_owned()),
        );
    }
}

/// Flattens a list of strings or objects to strings, taking the first non-empty field of
/// `keys` from each object and dropping entries that have none.
fn strings_from(list: Option<&Value>, keys: &[&str]) -> Value {
    let Some(Value::Array(items)) = list else {
        return Value::Array(Vec::new());
    };
    let strings = items
        .iter()
        .filter_map(|item| match item {
            Value::String(text) => Some(text.clone()),
            Value::Object(object) => keys
                .iter()
                .filter_map(|key| object.get(*key)?.as_str())
                .find(|value| !value.is_empty())
                .map(str::to_owned),
            _ => None,
        })
        .map(Value::String)
        .collect();
    Value::Array(strings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "artifacts": [{
                "name": "six",
                "version": "1.16.0",
                "type": "python",
                "foundBy": "python-installed-package-cataloger",
                "locations": [{"path": "/usr/lib/python3/dist-packages/six.dist-info/METADATA"}],
                "licenses": [
                    {"value": "MIT", "spdxExpression": "MIT", "type": "declared", "urls": [], "locations": []},
                    {"value": "", "spdxExpression": "BSD-3-Clause", "type": "declared", "urls": [], "locations": []},
                    "GPL-2.0-only"
                ],
                "cpes": [{"cpe": "cpe:2.3:a:six:six:1.16.0:*:*:*:*:*:*:*", "source": "syft-generated"}],
                "purl": "pkg:pypi/six@1.16.0",
                "metadata": null
            }],
            "source": {"id": "abc", "type": "image", "metadata": {"userInput": "local/six:1"}},
            "distro": {"prettyName": "Debian GNU/Linux 12 (bookworm)", "name": "Debian GNU/Linux", "id": "debian", "versionID": "12", "idLike": ["linux", "other"]},
            "schema": {"version": "16.0.18", "url": "https://example.invalid/schema.json"}
        })
    }

    #[test]
    fn distro_becomes_id_strings() {
        let converted = downconvert_sbom(&sample());
        assert_eq!(
            converted["distro"],
            json!({"name": "debian", "version": "12", "idLike": "linux"})
        );
    }

    #[test]
    fn missing_distro_becomes_empty_strings() {
        let mut sbom = sample();
        sbom.as_object_mut().unwrap().remove("distro");
        let converted = downconvert_sbom(&sbom);
        assert_eq!(
            converted["distro"],
            json!({"name": "", "version": "", "idLike": ""})
        );
    }

    #[test]
    fn artifact_fields_become_strings() {
        let converted = downconvert_sbom(&sample());
        let artifact = &converted["artifacts"][0];
        assert_eq!(
            artifact["licenses"],
            json!(["MIT", "BSD-3-Clause", "GPL-2.0-only"])
        );
        assert_eq!(
            artifact["cpes"],
            json!(["cpe:2.3:a:six:six:1.16.0:*:*:*:*:*:*:*"])
        );
        assert_eq!(artifact["language"], json!(""));
        assert_eq!(artifact["metadataType"], json!(""));
        assert_eq!(artifact["foundBy"], json!("python-package-cataloger"));
        assert!(artifact.get("metadata").is_none());
    }

    #[test]
    fn source_target_copied_from_metadata() {
        let converted = downconvert_sbom(&sample());
        assert_eq!(
            converted["source"]["target"],
            json!({"userInput": "local/six:1"})
        );
        assert_eq!(converted["source"]["type"], json!("image"));
        assert_eq!(converted["schema"]["version"], json!("16.0.18"));
    }
}
