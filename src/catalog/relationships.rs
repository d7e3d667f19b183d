//! Relationships between cataloged packages, and between packages and files, as syft 1.18.1
//! derives them:
//!
//! - `dependency-of`: package A provides a name that package B requires (dpkg `Depends` and
//!   `Pre-Depends` against package names and `Provides`, apk `D:` against names and `p:`, rpm
//!   requires against names, provides and owned file paths);
//! - `contains`: an OS package owns a file that is present in the image;
//! - `ownership-by-file-overlap`: an OS package owns the file another package was found in.
//!   Packages found in binaries ([`is_binary_evidence`]) are then dropped, because the OS
//!   package already describes that binary.
//!
//! Every relationship refers to packages by their index in the catalog's package list.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::filesystem::{FileKind, FileTree};

use super::{Location, Package, PackageType};

/// The relationships of one catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relationships {
    /// `(dependency, dependent)` package index pairs, sorted, without duplicates.
    pub dependency_of: Vec<(usize, usize)>,
    /// Files an OS package owns that exist in the image, by package index.
    pub contains: Vec<(usize, Location)>,
    /// OS packages that own the evidence files of another package.
    pub overlaps: Vec<FileOverlap>,
}

/// An OS package (`owner`) that owns the files another package (`owned`) was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOverlap {
    pub owner: usize,
    pub owned: usize,
    /// The overlapping paths, sorted.
    pub files: Vec<String>,
}

/// Returns whether packages of this type come from an OS package manager's database.
pub fn is_os_package(kind: PackageType) -> bool {
    matches!(kind, PackageType::Deb | PackageType::Rpm | PackageType::Apk)
}

/// Returns whether the package was recognised from the bytes of an executable, and not read
/// from a package database or manifest. syft drops such a package when an OS package owns the
/// binary, and so do we.
pub fn is_binary_evidence(package: &Package) -> bool {
    package.kind == PackageType::Binary
        || matches!(
            package.found_by,
            "binary-classifier-cataloger" | "binary-cataloger" | "elf-binary-package-cataloger"
        )
}

/// Returns the absolute paths a package's database entry lists as its files.
pub fn owned_paths(package: &Package) -> Vec<&str> {
    if !is_os_package(package.kind) {
        return Vec::new();
    }
    let paths = match &package.files {
        Some(files) => files.iter().map(|file| file.path).collect(),
        None => string_list(&package.metadata, "files", Some("path")),
    };
    paths
        .into_iter()
        .filter(|path| path.starts_with('/'))
        .collect()
}

/// Drops the binary-evidence packages whose evidence an OS package owns, and returns the
/// packages kept with the overlap relationships among them.
pub fn remove_owned_binaries(packages: Vec<Package>) -> (Vec<Package>, Vec<FileOverlap>) {
    let overlaps = file_overlaps(&packages);
    let dropped: BTreeSet<usize> = overlaps
        .iter()
        .filter(|overlap| is_binary_evidence(&packages[overlap.owned]))
        .map(|overlap| overlap.owned)
        .collect();
    if dropped.is_empty() {
        return (packages, overlaps);
    }
    for index in &dropped {
        let package = &packages[*index];
        tracing::debug!(
            name = %package.name,
            version = %package.version,
            found_by = package.found_by,
            "dropped a package found in a binary that an OS package owns"
        );
    }
    // Indices shift once packages are removed, so number the kept ones again.
    let mut new_index = vec![None; packages.len()];
    let mut kept = Vec::with_capacity(packages.len() - dropped.len());
    for (index, package) in packages.into_iter().enumerate() {
        if !dropped.contains(&index) {
            new_index[index] = Some(kept.len());
            kept.push(package);
        }
    }
    let overlaps = overlaps
        .into_iter()
        .filter_map(|overlap| {
            Some(FileOverlap {
                owner: new_index[overlap.owner]?,
                owned: new_index[overlap.owned]?,
                files: overlap.files,
            })
        })
        .collect();
    (kept, overlaps)
}

fn file_overlaps(packages: &[Package]) -> Vec<FileOverlap> {
    let mut owners: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, package) in packages.iter().enumerate() {
        for path in owned_paths(package) {
            owners.entry(path).or_default().push(index);
        }
    }
    let mut found: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for (owned, package) in packages.iter().enumerate() {
        if is_os_package(package.kind) {
            continue;
        }
        for location in &package.locations {
            for &owner in owners.get(location.path.as_str()).into_iter().flatten() {
                found
                    .entry((owner, owned))
                    .or_default()
                    .insert(location.path.clone());
            }
        }
    }
    found
        .into_iter()
        .map(|((owner, owned), files)| FileOverlap {
            owner,
            owned,
            files: files.into_iter().collect(),
        })
        .collect()
}

/// Finds the files each OS package owns that are present in `tree`. A path that leads
/// through symlinks is recorded at its real path, with the owned path as access path.
/// Directories and hardlinks are left out.
pub fn owned_files(tree: &FileTree, packages: &[Package]) -> Vec<(usize, Location)> {
    let mut out = Vec::new();
    for (index, package) in packages.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for path in owned_paths(package) {
            let Some(resolved) = tree.resolve(path) else {
                continue;
            };
            // syft 1.18.1 links neither directories nor tar hardlink entries (Debian's
            // /usr/bin/gunzip, for one) to their package.
            if resolved.entry.kind == FileKind::Directory || resolved.entry.hardlink_to.is_some() {
                continue;
            }
            if !seen.insert(resolved.real_path.clone()) {
                continue;
            }
            let access_path = (resolved.real_path != path).then(|| path.to_owned());
            out.push((
                index,
                Location {
                    layer_id: tree.layer_digest(resolved.entry.layer).clone(),
                    path: resolved.real_path,
                    access_path,
                    evidence: super::Evidence::Supporting,
                },
            ));
        }
    }
    out
}

/// The names one package provides and requires.
struct Specification {
    provides: Vec<String>,
    requires: Vec<String>,
}

/// Finds the `dependency-of` pairs among `packages`. Packages of different types never
/// depend on each other, and no package depends on itself.
pub fn dependencies(packages: &[Package]) -> Vec<(usize, usize)> {
    let specifications: Vec<Option<Specification>> = packages.iter().map(specification).collect();
    let mut providers: HashMap<(PackageType, &str), Vec<usize>> = HashMap::new();
    for (index, specification) in specifications.iter().enumerate() {
        let Some(specification) = specification else {
            continue;
        };
        for name in &specification.provides {
            let entry = providers
                .entry((packages[index].kind, name.as_str()))
                .or_default();
            if !entry.contains(&index) {
                entry.push(index);
            }
        }
    }
    let mut pairs = BTreeSet::new();
    for (dependent, specification) in specifications.iter().enumerate() {
        let Some(specification) = specification else {
            continue;
        };
        let kind = packages[dependent].kind;
        for required in &specification.requires {
            for &dependency in providers
                .get(&(kind, required.as_str()))
                .into_iter()
                .flatten()
            {
                if dependency != dependent {
                    pairs.insert((dependency, dependent));
                }
            }
        }
    }
    pairs.extend(go_binary_dependencies(packages));
    pairs.extend(nested_archive_dependencies(packages));
    pairs.into_iter().collect()
}

/// The cataloger that reports the modules of Go binaries.
const GO_BINARY_CATALOGER: &str = "go-module-binary-cataloger";

/// In one Go binary, every other module (the standard library included) is a dependency of
/// the main module, as syft records it.
fn go_binary_dependencies(packages: &[Package]) -> Vec<(usize, usize)> {
    let in_binary = |index: usize| {
        let package = &packages[index];
        (package.found_by == GO_BINARY_CATALOGER)
            .then(|| {
                package
                    .locations
                    .first()
                    .map(|location| location.path.as_str())
            })
            .flatten()
    };
    let mut pairs = Vec::new();
    for (main, package) in packages.iter().enumerate() {
        let Some(binary) = in_binary(main) else {
            continue;
        };
        if package.metadata.get("mainModule").and_then(Value::as_str) != Some(&package.name) {
            continue;
        }
        for dependency in 0..packages.len() {
            if dependency != main && in_binary(dependency) == Some(binary) {
                pairs.push((dependency, main));
            }
        }
    }
    pairs
}

/// Links each Java package found in a nested archive, as a dependency, to the package of the
/// archive around it, whose virtual path is its own without the last segment.
fn nested_archive_dependencies(packages: &[Package]) -> Vec<(usize, usize)> {
    fn virtual_path(package: &Package) -> Option<&str> {
        matches!(
            package.kind,
            PackageType::JavaArchive | PackageType::JenkinsPlugin
        )
        .then(|| package.metadata.get("virtualPath").and_then(Value::as_str))
        .flatten()
    }
    let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, package) in packages.iter().enumerate() {
        if let Some(path) = virtual_path(package) {
            by_path.entry(path).or_default().push(index);
        }
    }
    let mut pairs = Vec::new();
    for (nested, package) in packages.iter().enumerate() {
        let Some((outer, _)) = virtual_path(package).and_then(|path| path.rsplit_once(':')) else {
            continue;
        };
        for &parent in by_path.get(outer).into_iter().flatten() {
            if parent != nested {
                pairs.push((nested, parent));
            }
        }
    }
    pairs
}

fn specification(package: &Package) -> Option<Specification> {
    let metadata = &package.metadata;
    let mut provides = vec![package.name.clone()];
    let mut requires = Vec::new();
    match package.kind {
        PackageType::Deb => {
            provides.extend(
                string_list(metadata, "provides", None)
                    .into_iter()
                    .map(deb_name),
            );
            for key in ["depends", "preDepends"] {
                for entry in string_list(metadata, key, None) {
                    // `a | b` is satisfied by either, so both are dependencies.
                    requires.extend(
                        entry
                            .split('|')
                            .map(deb_name)
                            .filter(|name| !name.is_empty()),
                    );
                }
            }
        }
        PackageType::Apk => {
            provides.extend(
                string_list(metadata, "provides", None)
                    .into_iter()
                    .map(apk_name),
            );
            requires.extend(
                string_list(metadata, "pullDependencies", None)
                    .into_iter()
                    // `!name` declares a conflict, not a dependency.
                    .filter(|entry| !entry.starts_with('!'))
                    .map(apk_name),
            );
        }
        PackageType::Rpm => {
            // A rich dependency such as `(a if b)` is a condition that cannot be matched by
            // name, so it is skipped on both sides.
            let plain = |entry: &&str| !entry.trim_start().starts_with('(');
            provides.extend(
                string_list(metadata, "provides", None)
                    .into_iter()
                    .filter(plain)
                    .map(str::to_owned),
            );
            // NOTE: owned files count as provides, so `Requires: /usr/bin/perl` finds the
            // package that installs it. The stored syft outputs agree with and without this.
            provides.extend(owned_paths(package).into_iter().map(str::to_owned));
            requires.extend(
                string_list(metadata, "requires", None)
                    .into_iter()
                    .filter(plain)
                    .map(str::to_owned),
            );
        }
        _ => return None,
    }
    provides.retain(|name| !name.is_empty());
    Some(Specification { provides, requires })
}

/// Returns the package name of a Debian relation: `libc6 (>= 2.34)` and `libc6:any` are
/// `libc6`.
fn deb_name(relation: &str) -> String {
    let name = relation.trim().split([' ', '(']).next().unwrap_or("");
    name.split(':').next().unwrap_or("").to_owned()
}

/// Returns the name of an apk constraint: `busybox=1.36.1-r15` and `so:libc.so>=1` lose
/// their version part.
fn apk_name(constraint: &str) -> String {
    let constraint = constraint.trim();
    let end = constraint
        .find(['=', '<', '>', '~'])
        .unwrap_or(constraint.len());
    constraint[..end].to_owned()
}

/// Reads `metadata[key]` as a list of strings, or of objects whose `field` is a string.
fn string_list<'a>(metadata: &'a Value, key: &str, field: Option<&str>) -> Vec<&'a str> {
    let Some(items) = metadata.get(key).and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match field {
            Some(field) => item.get(field).and_then(Value::as_str),
            None => item.as_str(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_relation_names() {
        assert_eq!(deb_name("libc6 (>= 2.34)"), "libc6");
        assert_eq!(deb_name(" python3:any "), "python3");
        assert_eq!(deb_name("awk"), "awk");
    }

    #[test]
    fn apk_constraint_names() {
        assert_eq!(apk_name("busybox=1.36.1-r15"), "busybox");
        assert_eq!(
            apk_name("so:libc.musl-x86_64.so.1"),
            "so:libc.musl-x86_64.so.1"
        );
        assert_eq!(apk_name("pc:zlib>=1.2"), "pc:zlib");
    }
}
