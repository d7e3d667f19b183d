//! The list of catalogers and the run that turns a squashed tree into a [`Catalog`].

use std::collections::HashMap;

use crate::filesystem::FileTree;

use super::apk::ApkCataloger;
use super::dpkg::DpkgCataloger;
use super::npm::NpmCataloger;
use super::python::PythonCataloger;
use super::relationships::{self, Relationships};
use super::rpm::RpmCataloger;
use super::ruby::GemspecCataloger;
use super::{Catalog, CatalogWarning, Cataloger, Environment, Evidence, Location, Package};
use super::{License, distro};

/// Returns the catalogers an image scan runs, in the order their packages are gathered.
pub fn default_catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(DpkgCataloger),
        Box::new(ApkCataloger),
        Box::new(RpmCataloger),
        Box::new(PythonCataloger),
        Box::new(NpmCataloger),
        Box::new(GemspecCataloger),
    ]
}

/// Returns whether the layer walk must capture `path`, because distro detection or a
/// cataloger reads it.
pub fn wants_any(catalogers: &[Box<dyn Cataloger>], path: &str) -> bool {
    distro::wants(path) || catalogers.iter().any(|cataloger| cataloger.wants(path))
}

/// Returns the location of the visible file at `path` (symlinks followed), or `None` when
/// the path does not resolve. `access_path` is set when the real path differs from the one requested.
pub fn location(tree: &FileTree, path: &str, evidence: Evidence) -> Option<Location> {
    let resolved = tree.resolve(path)?;
    let access_path = (resolved.real_path != path).then(|| path.to_owned());
    Some(Location {
        layer_id: tree.layer_digest(resolved.entry.layer).clone(),
        path: resolved.real_path,
        access_path,
        evidence,
    })
}

/// Detects the distro, runs every cataloger and returns the packages sorted by type, name,
/// version and first location, with duplicates merged. Packages are duplicates when they
/// agree on everything but their locations, such as the same package.json in two places.
/// The merged package keeps every location. Packages found in binaries that an OS package
/// owns are dropped, and the relationships are computed on the packages that remain.
pub fn run(tree: &FileTree, catalogers: &[Box<dyn Cataloger>]) -> (Catalog, Vec<CatalogWarning>) {
    let env = Environment {
        distro: distro::detect(tree),
    };
    let mut warnings = Vec::new();
    let mut packages = Vec::new();
    for cataloger in catalogers {
        // A bug in one cataloger must not stop the analysis: its packages are lost, the rest of
        // the image is still cataloged, and the failure is reported as a warning.
        let mut own_warnings = Vec::new();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cataloger.catalog(tree, &env, &mut own_warnings)
        }));
        warnings.append(&mut own_warnings);
        let found = match outcome {
            Ok(found) => found,
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                warnings.push(CatalogWarning {
                    cataloger: cataloger.name(),
                    path: "(image)".to_owned(),
                    reason: format!("internal error, packages of this kind are missing: {reason}"),
                });
                Vec::new()
            }
        };
        tracing::debug!(
            cataloger = cataloger.name(),
            packages = found.len(),
            "cataloger finished"
        );
        packages.extend(found);
    }
    for package in &mut packages {
        sort_licenses(&mut package.licenses);
    }
    let mut packages = merge_duplicates(packages);
    packages.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| first_path(a).cmp(first_path(b)))
    });
    let (packages, overlaps) = relationships::remove_owned_binaries(packages);
    let relationships = Relationships {
        dependency_of: relationships::dependencies(&packages),
        contains: relationships::owned_files(tree, &packages),
        overlaps,
    };
    let catalog = Catalog {
        distro: env.distro,
        packages,
        relationships,
    };
    (catalog, warnings)
}

fn first_path(package: &Package) -> &str {
    package
        .locations
        .first()
        .map(|location| location.path.as_str())
        .unwrap_or("")
}

fn sort_licenses(licenses: &mut Vec<License>) {
    licenses.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then_with(|| a.spdx_expression.cmp(&b.spdx_expression))
            .then_with(|| a.kind.cmp(b.kind))
    });
    licenses.dedup_by(|later, earlier| {
        let same = later.value == earlier.value
            && later.spdx_expression == earlier.spdx_expression
            && later.kind == earlier.kind;
        if same {
            add_locations(&mut earlier.locations, std::mem::take(&mut later.locations));
        }
        same
    });
}

fn add_locations(into: &mut Vec<Location>, from: Vec<Location>) {
    for location in from {
        if !into.contains(&location) {
            into.push(location);
        }
    }
}

/// Everything that makes a package itself, locations left out.
fn identity(package: &Package) -> String {
    let licenses: Vec<(&str, Option<&str>, &str)> = package
        .licenses
        .iter()
        .map(|l| (l.value.as_str(), l.spdx_expression.as_deref(), l.kind))
        .collect();
    format!(
        "{}\0{}\0{}\0{}\0{}\0{:?}\0{}",
        package.kind.as_str(),
        package.name,
        package.version,
        package.purl,
        package.found_by,
        licenses,
        package.metadata
    )
}

fn merge_duplicates(packages: Vec<Package>) -> Vec<Package> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut merged: Vec<Package> = Vec::with_capacity(packages.len());
    for package in packages {
        let key = identity(&package);
        match index.get(&key) {
            Some(&position) => {
                let existing = &mut merged[position];
                add_locations(&mut existing.locations, package.locations);
                for (target, source) in existing.licenses.iter_mut().zip(package.licenses) {
                    add_locations(&mut target.locations, source.locations);
                }
            }
            None => {
                index.insert(key, merged.len());
                merged.push(package);
            }
        }
    }
    merged
}
