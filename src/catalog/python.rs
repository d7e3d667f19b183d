//! Installed Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and
//! single-file `*.egg-info` (distutils), with the directory name matched case-insensitively.
//! Owned files come from RECORD (or installed-files.txt), plus top_level.txt and
//! direct_url.json from the same directory.
//!
//! Licence order: `License-Expression`, then `License`, then the file named by `License-File`
//! (recognised from its text, recorded as `concluded`), then trove classifiers
//! (`License :: OSI Approved :: MIT License`). syft 1.18.1 stops before classifiers.

use serde_json::{Map, Value, json};

use crate::filesystem::FileTree;

use super::registry::location;
use super::{
    CatalogWarning, Cataloger, Cpes, Environment, Evidence, License, Package, PackageFile,
    PackageFiles, PackageType,
};
use super::{cpe, license, purl};

/// The Python cataloger. It uses syft's current name, which the Engine v1 down-conversion
/// renames.
pub struct PythonCataloger;

const NAME: &str = "python-installed-package-cataloger";

/// Splits `path` into its directory and file name.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn ends_with_ignore_case(value: &str, suffix: &str) -> bool {
    value.len() >= suffix.len()
        && value.as_bytes()[value.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn dir_name(dir: &str) -> &str {
    dir.rsplit('/').next().unwrap_or(dir)
}

/// Returns whether `path` is a METADATA or PKG-INFO record, or a single-file egg-info.
fn is_metadata(path: &str) -> bool {
    let (dir, file) = split(path);
    let parent = dir_name(dir);
    (file == "METADATA" && ends_with_ignore_case(parent, "dist-info"))
        || (file == "PKG-INFO" && ends_with_ignore_case(parent, "egg-info"))
        || ends_with_ignore_case(file, ".egg-info")
}

/// NOTE: a `License-File` with another name (NOTICE, AUTHORS) is not captured, so no licence
/// is concluded from it.
fn is_supporting(file: &str) -> bool {
    matches!(
        file,
        "RECORD" | "installed-files.txt" | "top_level.txt" | "direct_url.json"
    ) || file.starts_with("LICEN")
        || file.starts_with("COPYING")
}

impl Cataloger for PythonCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, path: &str) -> bool {
        // Decide on the file name first, so the common case costs one reverse byte search.
        let (dir, file) = split(path);
        let in_info_dir = || {
            let parent = dir_name(dir);
            ends_with_ignore_case(parent, "dist-info") || ends_with_ignore_case(parent, "egg-info")
        };
        match file {
            "METADATA" => ends_with_ignore_case(dir_name(dir), "dist-info"),
            "PKG-INFO" => ends_with_ignore_case(dir_name(dir), "egg-info"),
            "RECORD" | "installed-files.txt" | "top_level.txt" | "direct_url.json" => in_info_dir(),
            _ if is_supporting(file) => {
                in_info_dir()
                    || dir
                        .strip_suffix("/licenses")
                        .is_some_and(|info| ends_with_ignore_case(dir_name(info), "dist-info"))
            }
            _ => {
                ends_with_ignore_case(file, ".egg-info")
                    || dir
                        .strip_suffix("/licenses")
                        .is_some_and(|info| ends_with_ignore_case(dir_name(info), "dist-info"))
            }
        }
    }

    fn catalog(
        &self,
        tree: &FileTree,
        _env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let records: Vec<String> = tree
            .files_matching(is_metadata)
            .map(|entry| entry.path.clone())
            .collect();
        let mut packages = Vec::new();
        for path in records {
            let Some(bytes) = tree.read(&path) else {
                warnings.push(warning(&path, "contents were not captured".into()));
                continue;
            };
            let fields = parse_metadata(&String::from_utf8_lossy(bytes));
            match build_package(tree, &path, &fields, warnings) {
                Some(package) => packages.push(package),
                None => warnings.push(warning(
                    &path,
                    "no Name or Version field; not a distribution record".into(),
                )),
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

/// Header fields of a core-metadata file, keys lower-cased with `-` removed (so
/// `License-File` and `LicenseFile` are the same key). The body after the first blank line is
/// the description and is not read.
#[derive(Debug, Default)]
pub struct Metadata {
    fields: Vec<(String, String)>,
}

impl Metadata {
    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.trim())
            .unwrap_or("")
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .collect()
    }
}

/// Parses the RFC 822 style header of METADATA or PKG-INFO.
pub fn parse_metadata(text: &str) -> Metadata {
    let mut metadata = Metadata::default();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        // Only an empty line ends the header: PKG-INFO writes blank description lines as
        // indented whitespace, and those are continuations.
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = metadata.fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let key: String = key
                .chars()
                .filter(|c| *c != '-')
                .collect::<String>()
                .to_ascii_lowercase();
            metadata.fields.push((key, value.trim().to_owned()));
        }
    }
    metadata
}

/// Maps the licence name in a trove classifier to SPDX, for the common OSI classifiers.
fn classifier_license(classifier: &str) -> Option<&'static str> {
    let name = classifier
        .strip_prefix("License ::")?
        .rsplit("::")
        .next()?
        .trim();
    Some(match name {
        "MIT License" => "MIT",
        "Apache Software License" => "Apache-2.0",
        "BSD License" => return None,
        "ISC License (ISCL)" => "ISC",
        "Mozilla Public License 2.0 (MPL 2.0)" => "MPL-2.0",
        "GNU General Public License v2 (GPLv2)" => "GPL-2.0-only",
        "GNU General Public License v3 (GPLv3)" => "GPL-3.0-only",
        "GNU Lesser General Public License v3 (LGPLv3)" => "LGPL-3.0-only",
        "Python Software Foundation License" => "PSF-2.0",
        "The Unlicense (Unlicense)" => "Unlicense",
        _ => return None,
    })
}

fn licenses(tree: &FileTree, metadata_path: &str, fields: &Metadata) -> Vec<License> {
    let declared_at: Vec<_> = location(tree, metadata_path, Evidence::Primary)
        .into_iter()
        .collect();
    for key in ["licenseexpression", "license"] {
        let value = fields.get(key);
        if !value.is_empty() && !value.eq_ignore_ascii_case("UNKNOWN") {
            return vec![license::declared(value, declared_at)];
        }
    }
    let (dir, _) = split(metadata_path);
    for file in fields.all("licensefile") {
        let path = format!("{dir}/{file}");
        let Some(bytes) = tree.read(&path) else {
            continue;
        };
        if let Some(id) = license::classify_text(&String::from_utf8_lossy(bytes)) {
            let at = location(tree, &path, Evidence::Supporting)
                .into_iter()
                .collect();
            return vec![License {
                value: id.to_owned(),
                spdx_expression: Some(id.to_owned()),
                kind: "concluded",
                locations: at,
            }];
        }
    }
    fields
        .all("classifier")
        .iter()
        .filter_map(|classifier| classifier_license(classifier))
        .map(|id| license::declared(id, declared_at.clone()))
        .collect()
}

fn build_package(
    tree: &FileTree,
    metadata_path: &str,
    fields: &Metadata,
    warnings: &mut Vec<CatalogWarning>,
) -> Option<Package> {
    let raw_name = fields.get("name");
    let version = fields.get("version");
    if raw_name.is_empty() || version.is_empty() {
        return None;
    }
    let (dir, file) = split(metadata_path);
    let single_file = ends_with_ignore_case(file, ".egg-info");
    let info_dir = if single_file { "" } else { dir };
    let site_packages = if single_file {
        dir
    } else {
        dir.rsplit_once('/').map(|(parent, _)| parent).unwrap_or("")
    };

    let mut locations: Vec<_> = location(tree, metadata_path, Evidence::Primary)
        .into_iter()
        .collect();
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(raw_name));
    metadata.insert("version".into(), json!(version));
    for (key, json_key) in [
        ("author", "author"),
        ("authoremail", "authorEmail"),
        ("platform", "platform"),
    ] {
        metadata.insert(json_key.into(), json!(fields.get(key)));
    }

    let mut files = PackageFiles::Listed(Vec::new());
    let mut top_level = Vec::new();
    let mut direct_url: Option<Value> = None;
    if !info_dir.is_empty() {
        let record = format!("{info_dir}/RECORD");
        let installed = format!("{info_dir}/installed-files.txt");
        if let Some(bytes) = tree.read_shared(&record) {
            let (parsed, skipped) = PackageFiles::from_python_record(bytes);
            if skipped > 0 {
                warnings.push(warning(
                    &record,
                    format!("{skipped} lines are not \"path,hash,size\"; skipped"),
                ));
            }
            files = parsed;
            locations.extend(location(tree, &record, Evidence::Supporting));
        } else if let Some(bytes) = tree.read(&installed) {
            files = PackageFiles::Listed(
                String::from_utf8_lossy(bytes)
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(|line| PackageFile::new(line, None, None, None))
                    .collect(),
            );
            locations.extend(location(tree, &installed, Evidence::Supporting));
        }
        let direct_url_path = format!("{info_dir}/direct_url.json");
        if let Some(bytes) = tree.read(&direct_url_path) {
            match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => {
                    direct_url = Some(value);
                    locations.extend(location(tree, &direct_url_path, Evidence::Supporting));
                }
                Err(error) => warnings.push(warning(&direct_url_path, error.to_string())),
            }
        }
        let top_level_path = format!("{info_dir}/top_level.txt");
        if let Some(bytes) = tree.read(&top_level_path) {
            top_level = String::from_utf8_lossy(bytes)
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect();
            locations.extend(location(tree, &top_level_path, Evidence::Supporting));
        }
    }
    let files = (!files.is_empty()).then(|| {
        // The typed list takes this place when the metadata is rendered.
        metadata.insert("files".into(), Value::Null);
        files
    });
    metadata.insert("sitePackagesRootPath".into(), json!(site_packages));
    if !top_level.is_empty() {
        metadata.insert("topLevelPackages".into(), json!(top_level));
    }
    let mut vcs_url = String::new();
    if let Some(direct) = &direct_url {
        let url = direct.get("url").and_then(Value::as_str).unwrap_or("");
        let vcs_info = direct.get("vcs_info");
        let commit = vcs_info
            .and_then(|v| v.get("commit_id"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let vcs = vcs_info
            .and_then(|v| v.get("vcs"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut origin = Map::new();
        origin.insert("url".into(), json!(url));
        if !commit.is_empty() {
            origin.insert("commitId".into(), json!(commit));
        }
        if !vcs.is_empty() {
            origin.insert("vcs".into(), json!(vcs));
            vcs_url = format!("{vcs}+{url}");
            if !commit.is_empty() {
                vcs_url = format!("{vcs_url}@{commit}");
            }
        }
        metadata.insert("directUrlOrigin".into(), Value::Object(origin));
    }
    let requires_python = fields.get("requirespython");
    if !requires_python.is_empty() {
        metadata.insert("requiresPython".into(), json!(requires_python));
    }
    for (key, json_key) in [
        ("requiresdist", "requiresDist"),
        ("providesextra", "providesExtra"),
    ] {
        let values = fields.all(key);
        if !values.is_empty() {
            metadata.insert(json_key.into(), json!(values));
        }
    }

    let name = raw_name.to_lowercase();
    let purl_name = name.replace('_', "-");
    let purl = purl::render("pypi", None, &purl_name, version, &[("vcs_url", &vcs_url)]);
    let mut package = Package {
        name,
        version: version.to_owned(),
        kind: PackageType::Python,
        found_by: NAME,
        purl,
        cpes: Cpes::default(),
        licenses: licenses(tree, metadata_path, fields),
        locations,
        metadata_type: "python-package",
        metadata: Value::Object(metadata),
        files,
    };
    package.cpes = cpe::generate(&package);
    Some(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths_in_any_case() {
        assert!(is_metadata(
            "/usr/lib/python3/site-packages/a-1.0.dist-info/METADATA"
        ));
        assert!(is_metadata("/site-packages/DIST-INFO/METADATA"));
        assert!(is_metadata("/site-packages/egg-name/egg-info/PKG-INFO"));
        assert!(is_metadata("/site-packages/test.egg-info"));
        assert!(!is_metadata("/site-packages/a.dist-info/RECORD"));
    }

    #[test]
    fn wants_supporting_files_only_in_info_dirs() {
        let python = PythonCataloger;
        assert!(python.wants("/sp/a-1.dist-info/RECORD"));
        assert!(python.wants("/sp/a-1.dist-info/LICENSE.txt"));
        assert!(python.wants("/sp/a-1.dist-info/licenses/COPYING"));
        assert!(!python.wants("/sp/a/RECORD"));
        assert!(!python.wants("/usr/bin/python3"));
    }

    #[test]
    fn header_keys_ignore_case_and_dashes() {
        let fields = parse_metadata(
            "Name: x\nLicenseFile: L\nLicense-File: M\nDescription: a\n        \n b\n\nbody: no\n",
        );
        assert_eq!(fields.all("licensefile"), ["L", "M"]);
        assert_eq!(fields.get("description"), "a\n\nb");
        assert_eq!(fields.get("body"), "");
    }

    #[test]
    fn classifiers_map_to_spdx() {
        assert_eq!(
            classifier_license("License :: OSI Approved :: MIT License"),
            Some("MIT")
        );
        assert_eq!(
            classifier_license("License :: OSI Approved :: BSD License"),
            None
        );
        assert_eq!(classifier_license("Programming Language :: Python"), None);
    }

    #[test]
    fn record_skips_conflict_markers() {
        let bytes: &[u8] = b"a.py,sha256=abc,12\n<<<<<<< HEAD\n\n  b.pyc,,  \n";
        let (files, skipped) = PackageFiles::from_python_record(bytes.into());
        assert!(matches!(files, PackageFiles::Record { .. }));
        assert_eq!(files.len(), 2);
        assert_eq!(skipped, 1);
        assert_eq!(
            serde_json::to_value(&files).unwrap(),
            json!([
                {"path": "a.py", "digest": {"algorithm": "sha256", "value": "abc"}, "size": "12"},
                {"path": "b.pyc"},
            ])
        );
    }

    #[test]
    fn non_utf8_record_uses_replacements() {
        let bytes: &[u8] = b"caf\xe9.py,sha256=abc,3\nnot a record line\n";
        let (files, skipped) = PackageFiles::from_python_record(bytes.into());
        assert!(matches!(files, PackageFiles::Listed(_)));
        assert_eq!((files.len(), skipped), (1, 1));
        assert_eq!(
            serde_json::to_value(&files).unwrap(),
            json!([{"path": "caf\u{fffd}.py", "digest": {"algorithm": "sha256", "value": "abc"}, "size": "3"}])
        );
    }
}
