//! Java archives (jar, war, ear, hpi and the other zip-based kinds) and the archives nested in
//! them, named and versioned as syft 1.18.1 does.
//!
//! Each archive with a manifest yields a main package. Its name and version come from the
//! `pom.properties` whose artifact ID matches the file name, else from the file name and the
//! manifest. Every other `pom.properties` in the archive, such as those of shaded
//! dependencies, is a package of its own. An archive without a manifest yields nothing.

mod archive;
mod cpe;
pub mod manifest;

pub use archive::{
    ArchiveInfo, EXTENSIONS, JavaArchives, MAX_DEPTH, MAX_NESTED_ARCHIVE, MAX_NESTED_TOTAL,
    archive_extension, read_archives,
};

use crate::catalog::extracted_results;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{CatalogWarning, Cataloger, Environment, License, Location, Package, PackageType};
use crate::filesystem::FileTree;
use crate::layer::{ExtractResult, Extractor, FileData};
use manifest::{Manifest, PomProject, PomProperties};

/// The cataloger's name as syft spells it.
pub const NAME: &str = "java-archive-cataloger";
/// The first bytes of a zip archive's first local file header.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// Group IDs that mark a `pom.properties` as a Jenkins plugin.
const JENKINS_GROUP_IDS: &[&str] = &[
    "io.jenkins.plugins",
    "org.jenkins.plugins",
    "org.jenkins-ci.plugins",
    "io.jenkins-ci.plugins",
    "com.cloudbees.jenkins.plugins",
];

/// Reads Java archives found by their file extension.
#[derive(Debug, Default, Clone, Copy)]
pub struct JavaArchiveCataloger;

impl Extractor for JavaArchiveCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Claims files by extension. A `.rar` file must also start like a zip archive, because
    /// the extension is shared with RAR archives, which are not Java archives.
    fn claims(&self, path: &str, head: &[u8]) -> bool {
        match archive_extension(path) {
            Some("rar") => head.starts_with(ZIP_MAGIC),
            Some(_) => true,
            None => false,
        }
    }

    fn extract(&self, _path: &str, data: &mut dyn FileData, _size: u64) -> Option<ExtractResult> {
        let mut data = data;
        Some(read_archives(&mut data).map(|found| Arc::new(found) as _))
    }
}

impl Cataloger for JavaArchiveCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, _path: &str) -> bool {
        false
    }

    fn extractor(&self) -> Option<&dyn Extractor> {
        Some(self)
    }

    fn catalog(
        &self,
        tree: &FileTree,
        _env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let mut packages = Vec::new();
        for (path, found, base) in extracted_results::<JavaArchives>(tree, NAME, warnings) {
            for problem in &found.problems {
                warnings.push(CatalogWarning {
                    cataloger: NAME,
                    path: virtual_path(path, &problem.nesting),
                    reason: problem.reason.clone(),
                });
            }
            for info in &found.archives {
                packages.extend(archive_packages(path, info, &base));
            }
        }
        packages
    }
}

/// Returns `outer.war:WEB-INF/lib/inner.jar` for a nested archive, the path for the outer one.
fn virtual_path(path: &str, nesting: &[String]) -> String {
    let mut joined = path.to_owned();
    for name in nesting {
        joined.push(':');
        joined.push_str(name);
    }
    joined
}

/// A package under construction, with the facts the identity rules compare.
struct JavaPackage {
    name: String,
    version: String,
    kind: PackageType,
    virtual_path: String,
    manifest: Option<Manifest>,
    pom_properties: Option<PomProperties>,
    pom_project: Option<PomProject>,
    sha1: Option<String>,
    licenses: Vec<License>,
}

/// Builds the packages of one archive: its main package, then one per `pom.properties` that
/// describes something else.
fn archive_packages(path: &str, info: &ArchiveInfo, base: &Location) -> Vec<Package> {
    let Some(manifest) = &info.manifest else {
        return Vec::new();
    };
    // syft skips archives that only carry classes woven into another package.
    if manifest.main_value("Weave-Classes").is_some() {
        return Vec::new();
    }
    let virtual_path = virtual_path(path, &info.nesting);
    let file_name = virtual_path
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(&virtual_path)
        .to_owned();
    let (file_base, file_version) = split_file_name(&file_name);
    let mut location = base.clone();
    if !info.nesting.is_empty() {
        location.access_path = Some(virtual_path.clone());
    }

    let (pom_properties, pom_project) = matching_pom(info, &file_base);
    let name = pom_properties
        .map(|properties| properties.artifact_id.clone())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            pom_project
                .map(|project| project.artifact_id.clone())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| select_name(manifest, &file_base));
    let version = pom_properties
        .map(|properties| properties.version.clone())
        .filter(|version| !version.is_empty())
        .or_else(|| {
            pom_project
                .map(|project| project.version.clone())
                .filter(|version| !version.is_empty())
        })
        .unwrap_or_else(|| select_version(manifest, &file_version));
    let kind = match archive_extension(&file_name) {
        Some("hpi" | "jpi") => PackageType::JenkinsPlugin,
        _ => PackageType::JavaArchive,
    };

    let mut licenses: Vec<License> = ["Bundle-License", "Plugin-License-Name"]
        .iter()
        .filter_map(|key| manifest.main_value(key))
        .filter(|value| !value.trim().is_empty())
        .map(|value| super::license::declared(value, vec![location.clone()]))
        .collect();
    if licenses.is_empty() {
        licenses = info
            .license_files
            .iter()
            .map(|id| License {
                value: (*id).to_owned(),
                spdx_expression: Some((*id).to_owned()),
                kind: "concluded",
                locations: vec![location.clone()],
            })
            .collect();
    }

    let mut main = JavaPackage {
        name,
        version,
        kind,
        virtual_path: virtual_path.clone(),
        manifest: Some(manifest.clone()),
        pom_properties: None,
        pom_project: pom_project.cloned(),
        sha1: Some(info.sha1.clone()),
        licenses,
    };

    let mut others = Vec::new();
    for properties in &info.pom_properties {
        let parent_key = format!("{}:{}:{}", group_id(&main), main.name, main.version);
        let own_key = format!(
            "{}:{}:{}",
            properties.group_id, properties.artifact_id, properties.version
        );
        let mut own_path = virtual_path.clone();
        if parent_key != own_key {
            own_path = format!(
                "{virtual_path}:{}:{}",
                properties.group_id, properties.artifact_id
            );
        }
        let project = info
            .pom_projects
            .iter()
            .find(|project| parent_dir(&project.path) == parent_dir(&properties.path))
            .cloned();
        let candidate = JavaPackage {
            name: properties.artifact_id.clone(),
            version: properties.version.clone(),
            kind: pom_type(&properties.group_id),
            virtual_path: own_path,
            manifest: None,
            pom_properties: Some(properties.clone()),
            pom_project: project,
            sha1: None,
            licenses: Vec::new(),
        };
        if identities_match(&candidate, &main) {
            main.name = candidate.name;
            main.version = candidate.version;
            main.kind = candidate.kind;
            if main.pom_properties.is_none() {
                main.pom_properties = candidate.pom_properties;
            }
        } else if !candidate.name.is_empty() {
            others.push(candidate);
        }
    }

    let mut packages = vec![finish(main, &location)];
    packages.extend(others.into_iter().map(|other| finish(other, &location)));
    packages
}

/// Finds the `pom.properties` whose artifact ID fits the file name, and the `pom.xml` beside
/// it. A later match replaces an earlier one until one with a `pom.xml` is found.
fn matching_pom<'a>(
    info: &'a ArchiveInfo,
    file_base: &str,
) -> (Option<&'a PomProperties>, Option<&'a PomProject>) {
    let artifacts: Vec<&str> = info
        .pom_properties
        .iter()
        .map(|properties| properties.artifact_id.as_str())
        .collect();
    let mut chosen = None;
    for properties in &info.pom_properties {
        if !artifact_matches_file(&properties.artifact_id, file_base, &artifacts) {
            continue;
        }
        chosen = Some(properties);
        let project = info
            .pom_projects
            .iter()
            .find(|project| parent_dir(&project.path) == parent_dir(&properties.path));
        if project.is_some() {
            return (chosen, project);
        }
    }
    (chosen, None)
}

/// Returns whether an artifact ID names the archive: exactly when some artifact ID equals the file
/// name, else when it starts the file name's base or ends it.
fn artifact_matches_file(artifact: &str, file_base: &str, artifacts: &[&str]) -> bool {
    if artifact.is_empty() || file_base.is_empty() {
        return false;
    }
    if artifacts.contains(&file_base) {
        return artifact == file_base;
    }
    artifact.starts_with(file_base) || file_base.ends_with(artifact)
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/')
        .map(|(parent, _)| parent)
        .unwrap_or("")
}

fn pom_type(group_id: &str) -> PackageType {
    if JENKINS_GROUP_IDS.contains(&group_id) || group_id.contains(".jenkins.plugin") {
        PackageType::JenkinsPlugin
    } else {
        PackageType::JavaArchive
    }
}

/// syft's identity test: the same virtual path, the same `pom.properties`, or the same type,
/// name and version.
fn identities_match(candidate: &JavaPackage, main: &JavaPackage) -> bool {
    if candidate.virtual_path == main.virtual_path {
        return true;
    }
    if let (Some(own), Some(parent)) = (&candidate.pom_properties, &main.pom_properties) {
        if own == parent {
            return true;
        }
    }
    candidate.kind == main.kind && candidate.name == main.name && candidate.version == main.version
}

/// Manifest fields that may hold a group ID, by priority.
const PRIMARY_GROUP_FIELDS: &[&str] = &[
    "Bundle-SymbolicName",
    "Extension-Name",
    "Specification-Vendor",
    "Implementation-Vendor",
    "Implementation-Vendor-Id",
    "Implementation-Title",
    "Bundle-Activator",
];
/// Manifest fields consulted when no primary field contains a group ID.
const SECONDARY_GROUP_FIELDS: &[&str] = &["Automatic-Module-Name", "Main-Class", "Package"];
/// The prefixes by which syft recognises a value as a group ID. syft compares them without a
/// trailing dot, so `commons-io` passes too.
const DOMAIN_PREFIXES: &[&str] = &["com", "org", "net", "io", "be"];

/// Returns the group IDs named by a manifest's fields, primary fields first, each cut at its
/// first `;` (OSGi directives).
fn manifest_group_ids(manifest: &Manifest, fields: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for field in fields {
        for value in manifest.values(field) {
            if DOMAIN_PREFIXES
                .iter()
                .any(|prefix| value.starts_with(prefix))
            {
                let cleaned = value.split(';').next().unwrap_or("").trim().to_owned();
                if !cleaned.is_empty() && !found.contains(&cleaned) {
                    found.push(cleaned);
                }
            }
        }
    }
    found
}

/// Returns the group ID of a package: from its `pom.properties`, its `pom.xml`, else its
/// manifest. Empty when none has one.
fn group_id(package: &JavaPackage) -> String {
    if let Some(properties) = &package.pom_properties {
        if !properties.group_id.is_empty() {
            return properties.group_id.clone();
        }
    }
    if let Some(project) = &package.pom_project {
        if !project.group_id.is_empty() {
            return project.group_id.clone();
        }
    }
    let Some(manifest) = &package.manifest else {
        return String::new();
    };
    manifest_group_ids(manifest, PRIMARY_GROUP_FIELDS)
        .into_iter()
        .chain(manifest_group_ids(manifest, SECONDARY_GROUP_FIELDS))
        .next()
        .unwrap_or_default()
}

/// Returns every group ID known for a package, for CPE candidates.
fn all_group_ids(package: &JavaPackage) -> Vec<String> {
    let mut found = Vec::new();
    let mut add = |value: &str| {
        if !value.is_empty() && !found.iter().any(|known| known == value) {
            found.push(value.to_owned());
        }
    };
    if let Some(properties) = &package.pom_properties {
        add(&properties.group_id);
    }
    if let Some(project) = &package.pom_project {
        add(&project.group_id);
    }
    if let Some(manifest) = &package.manifest {
        for value in manifest_group_ids(manifest, PRIMARY_GROUP_FIELDS)
            .into_iter()
            .chain(manifest_group_ids(manifest, SECONDARY_GROUP_FIELDS))
        {
            add(&value);
        }
    }
    found
}

/// Turns a package under construction into a [`Package`] with purl, CPEs and metadata.
fn finish(package: JavaPackage, location: &Location) -> Package {
    let group = group_id(&package);
    let namespace = if group.is_empty() {
        package.name.clone()
    } else {
        group
    };
    let purl = super::purl::render(
        "maven",
        Some(&namespace),
        &package.name,
        &package.version,
        &[],
    );
    let artifact_id = package
        .pom_properties
        .as_ref()
        .map(|properties| properties.artifact_id.clone())
        .unwrap_or_default();
    let cpes = cpe::generate(
        &package.name,
        &package.version,
        &artifact_id,
        &all_group_ids(&package),
        package.manifest.as_ref(),
    );

    let mut metadata = Map::new();
    metadata.insert("virtualPath".into(), json!(package.virtual_path));
    if let Some(manifest) = &package.manifest {
        metadata.insert("manifest".into(), json!(manifest));
    }
    if let Some(properties) = &package.pom_properties {
        metadata.insert("pomProperties".into(), json!(properties));
    }
    if let Some(sha1) = &package.sha1 {
        metadata.insert(
            "digest".into(),
            json!([{"algorithm": "sha1", "value": sha1}]),
        );
    }
    Package {
        name: package.name,
        version: package.version,
        kind: package.kind,
        found_by: NAME,
        purl,
        cpes,
        licenses: package.licenses,
        locations: vec![location.clone()],
        metadata_type: "java-archive",
        files: None,
        metadata: Value::Object(metadata),
    }
}

/// Splits an archive's file name into name and version as syft does: the version starts at
/// the first `-` followed by a digit, `build`, `r`+digit or `rc`+digit, else at the first
/// `.`, `_` or `-` followed by a digit. The extension is dropped first.
pub fn split_file_name(file_name: &str) -> (String, String) {
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _)) => stem,
        None => file_name,
    };
    let mut offset = 0;
    for part in stem.split('-') {
        if offset > 0 && starts_version(part) {
            return (stem[..offset - 1].to_owned(), stem[offset..].to_owned());
        }
        offset += part.len() + 1;
    }
    for (index, separator) in stem.char_indices() {
        if index > 0 && matches!(separator, '.' | '_' | '-') {
            let rest = &stem[index + 1..];
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                return (stem[..index].to_owned(), rest.to_owned());
            }
        }
    }
    (stem.to_owned(), String::new())
}

fn starts_version(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    let digit_after = |prefix: &str| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    lower.starts_with(|c: char| c.is_ascii_digit())
        || lower.starts_with("build")
        || digit_after("r")
        || digit_after("rc")
}

/// The name when no `pom.properties` gives one: the file name, else manifest fields.
fn select_name(manifest: &Manifest, file_base: &str) -> String {
    if !file_base.is_empty() {
        return file_base.to_owned();
    }
    for key in [
        "Name",
        "Bundle-Name",
        "Short-Name",
        "Extension-Name",
        "Implementation-Title",
    ] {
        if let Some(value) = manifest.values(key).find(|value| !value.is_empty()) {
            return value.to_owned();
        }
    }
    String::new()
}

/// Returns the version when no `pom.properties` gives one: the file name's, else the manifest's.
fn select_version(manifest: &Manifest, file_version: &str) -> String {
    if !file_version.is_empty() {
        return file_version.to_owned();
    }
    for key in [
        "Implementation-Version",
        "Specification-Version",
        "Plugin-Version",
        "Bundle-Version",
    ] {
        if let Some(value) = manifest.values(key).find(|value| !value.is_empty()) {
            return value.to_owned();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_into_name_and_version() {
        let split = |name: &str| split_file_name(name);
        assert_eq!(
            split("heuristic-1.0.0-SNAPSHOT.jar"),
            ("heuristic".into(), "1.0.0-SNAPSHOT".into())
        );
        assert_eq!(
            split("commons-lang3-3.12.0.jar"),
            ("commons-lang3".into(), "3.12.0".into())
        );
        assert_eq!(split("test.jar"), ("test".into(), String::new()));
        assert_eq!(split("foo_1.2.jar"), ("foo".into(), "1.2".into()));
        assert_eq!(split("app-rc1.war"), ("app".into(), "rc1".into()));
        assert_eq!(
            split("jackson-core.jar"),
            ("jackson-core".into(), String::new())
        );
    }

    #[test]
    fn artifact_match_prefers_exact_name() {
        assert!(artifact_matches_file("a", "a", &["a", "a-b"]));
        assert!(!artifact_matches_file("a-b", "a", &["a", "a-b"]));
        assert!(artifact_matches_file("lib-core", "lib", &["lib-core"]));
        assert!(artifact_matches_file("core", "lib-core", &["core"]));
        assert!(!artifact_matches_file("other", "lib", &["other"]));
    }

    #[test]
    fn manifest_group_ids_need_a_domain_prefix() {
        let manifest = manifest::parse_manifest(
            "Bundle-SymbolicName: org.example.core;singleton:=true\nImplementation-Title: App\n",
        );
        assert_eq!(
            manifest_group_ids(&manifest, PRIMARY_GROUP_FIELDS),
            ["org.example.core"]
        );
    }
}
