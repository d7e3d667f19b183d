//! JavaScript packages from `package.json` files.
//!
//! Rule, taken from syft 1.18.1's image scans (its `javascript-package-cataloger` globs
//! `**/package.json`): every `package.json` that has both a `name` and a `version` is a
//! package, inside `node_modules` (global `/usr/lib/node_modules` and application trees
//! alike) or outside it (an application's own root manifest). Files without a name or
//! version, such as the `{"module": ...}` stubs some packages ship in subdirectories, are
//! skipped silently. Lock files are never read: they declare what could be installed, not
//! what is.

use serde_json::{Value, json};

use crate::filesystem::FileTree;

use super::registry::location;
use super::{
    CatalogWarning, Cataloger, Cpes, Environment, Evidence, License, Package, PackageType,
};
use super::{cpe, license, purl};

/// The npm cataloger, named as syft names it.
pub struct NpmCataloger;

const NAME: &str = "javascript-package-cataloger";

fn is_manifest(path: &str) -> bool {
    path.ends_with("/package.json")
}

impl Cataloger for NpmCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, path: &str) -> bool {
        is_manifest(path)
    }

    fn catalog(
        &self,
        tree: &FileTree,
        _env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let manifests: Vec<String> = tree
            .files_matching(is_manifest)
            .map(|entry| entry.path.clone())
            .collect();
        let mut packages = Vec::new();
        for path in manifests {
            let Some(bytes) = tree.read(&path) else {
                warnings.push(warning(&path, "contents were not captured".into()));
                continue;
            };
            match serde_json::from_slice::<Value>(bytes) {
                Ok(manifest) => packages.extend(build_package(tree, &path, &manifest)),
                Err(error) => warnings.push(warning(&path, format!("invalid JSON: {error}"))),
            }
        }
        packages
    }
}

fn warning(path: &str, reason: String) -> CatalogWarning {
    CatalogWarning {
        cataloger: NAME,
        path: path.to_owned(),
        reason,
    }
}

fn string_field<'a>(manifest: &'a Value, key: &str) -> &'a str {
    manifest
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
}

/// `author` as a string, or an object rendered as `name <email> (url)`.
fn author(manifest: &Value) -> String {
    match manifest.get("author") {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Object(person)) => {
            let part = |key: &str| person.get(key).and_then(Value::as_str).unwrap_or("").trim();
            let mut out = part("name").to_owned();
            if !part("email").is_empty() {
                out = format!("{out} <{}>", part("email"));
            }
            if !part("url").is_empty() {
                out = format!("{out} ({})", part("url"));
            }
            out.trim().to_owned()
        }
        _ => String::new(),
    }
}

/// `repository` as a string or as an object with a `url`.
fn repository_url(manifest: &Value) -> String {
    match manifest.get("repository") {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Object(repository)) => repository
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned(),
        _ => String::new(),
    }
}

/// Licence names from `license` (a string or `{type}`) and `licenses` (an array of strings or
/// `{type, url}` objects).
fn license_values(manifest: &Value) -> Vec<String> {
    fn from_entry(entry: &Value) -> Option<String> {
        match entry {
            Value::String(text) => Some(text.trim().to_owned()),
            Value::Object(object) => object
                .get("type")
                .or_else(|| object.get("name"))
                .and_then(Value::as_str)
                .map(|text| text.trim().to_owned()),
            _ => None,
        }
    }
    let mut values = Vec::new();
    if let Some(entry) = manifest.get("license") {
        match entry {
            Value::Array(entries) => values.extend(entries.iter().filter_map(from_entry)),
            other => values.extend(from_entry(other)),
        }
    }
    if let Some(Value::Array(entries)) = manifest.get("licenses") {
        values.extend(entries.iter().filter_map(from_entry));
    }
    values.retain(|value| !value.is_empty());
    values
}

fn build_package(tree: &FileTree, path: &str, manifest: &Value) -> Option<Package> {
    let name = string_field(manifest, "name");
    let version = string_field(manifest, "version");
    if name.is_empty() || version.is_empty() {
        return None;
    }

    let locations: Vec<_> = location(tree, path, Evidence::Primary)
        .into_iter()
        .collect();
    let licenses: Vec<License> = license_values(manifest)
        .iter()
        .map(|value| license::declared(value, locations.clone()))
        .collect();
    let private = manifest
        .get("private")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let metadata = json!({
        "name": name,
        "version": version,
        "author": author(manifest),
        "homepage": string_field(manifest, "homepage"),
        "description": string_field(manifest, "description"),
        "url": repository_url(manifest),
        "private": private,
    });
    let (namespace, short_name) = match name.split_once('/') {
        Some((scope, rest)) if scope.starts_with('@') => (Some(scope), rest),
        _ => (None, name),
    };
    let purl = purl::render("npm", namespace, short_name, version, &[]);

    let mut package = Package {
        name: name.to_owned(),
        version: version.to_owned(),
        kind: PackageType::Npm,
        found_by: NAME,
        purl,
        cpes: Cpes::default(),
        licenses,
        locations,
        metadata_type: "javascript-npm-package",
        files: None,
        metadata,
    };
    package.cpes = cpe::generate(&package);
    Some(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_object_is_rendered() {
        let manifest = json!({"author": {"name": "A B", "email": "a@b.c", "url": "https://b.c"}});
        assert_eq!(author(&manifest), "A B <a@b.c> (https://b.c)");
        assert_eq!(author(&json!({"author": "X <x@y>"})), "X <x@y>");
        assert_eq!(author(&json!({"authors": [{"name": "n"}]})), "");
    }

    #[test]
    fn licence_forms() {
        assert_eq!(license_values(&json!({"license": "MIT"})), ["MIT"]);
        assert_eq!(
            license_values(&json!({"license": {"type": "ISC"}})),
            ["ISC"]
        );
        assert_eq!(
            license_values(&json!({"licenses": [{"type": "MIT"}, "Apache-2.0"]})),
            ["MIT", "Apache-2.0"]
        );
        assert!(license_values(&json!({"license": 3})).is_empty());
    }

    #[test]
    fn repository_forms() {
        assert_eq!(
            repository_url(&json!({"repository": "github:a/b"})),
            "github:a/b"
        );
        assert_eq!(
            repository_url(&json!({"repository": {"type": "git", "url": "git+https://x"}})),
            "git+https://x"
        );
    }
}
