//! Go modules compiled into ELF binaries, read from the build info the Go linker embeds.
//!
//! Every ELF file is claimed by its magic. The extractor keeps the parsed module list of the
//! Go binaries among them. Each binary yields one `go-module` package per dependency (the
//! replacement when a `=>` line replaced it), one for the main module, and one `stdlib`
//! package for the toolchain, as syft 1.18.1 reports them.

mod buildinfo;

pub use buildinfo::{ModInfo, Module, RawBuildInfo, parse_modinfo, read_elf};

use crate::catalog::extracted_results;
use std::sync::{Arc, LazyLock};

use regex_lite::Regex;
use serde_json::{Map, Value, json};

use super::{
    CatalogWarning, Cataloger, Cpe, CpeSource, Cpes, Environment, License, Package, PackageType,
};
use crate::filesystem::FileTree;
use crate::layer::{ExtractResult, Extractor, FileData};

/// The cataloger's name as syft spells it.
pub const NAME: &str = "go-module-binary-cataloger";
/// The version the Go toolchain records for a main module built from a working tree.
const DEVEL: &str = "(devel)";
/// The first bytes of every ELF file.
pub const ELF_MAGIC: &[u8] = b"\x7fELF";

/// The build info kept from one Go binary.
#[derive(Debug, Clone)]
pub struct GoBinary {
    pub raw: RawBuildInfo,
    pub modules: ModInfo,
}

/// Reads Go build info from ELF binaries.
#[derive(Debug, Default, Clone, Copy)]
pub struct GoBinaryCataloger;

impl Extractor for GoBinaryCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn claims(&self, _path: &str, head: &[u8]) -> bool {
        head.starts_with(ELF_MAGIC)
    }

    fn extract(&self, _path: &str, data: &mut dyn FileData, _size: u64) -> Option<ExtractResult> {
        let cache = object::ReadCache::new(data);
        let raw = match read_elf(&cache) {
            Ok(Some(raw)) => raw,
            Ok(None) => return None,
            Err(reason) => return Some(Err(reason)),
        };
        let result = parse_modinfo(&raw.modinfo).map(|modules| {
            Arc::new(GoBinary { raw, modules }) as Arc<dyn std::any::Any + Send + Sync>
        });
        Some(result)
    }
}

impl Cataloger for GoBinaryCataloger {
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
        for (_path, binary, location) in extracted_results::<GoBinary>(tree, NAME, warnings) {
            packages.extend(binary_packages(binary, &location));
        }
        packages
    }
}

/// The facts every package of one binary shares.
struct BinaryFacts<'a> {
    go_version: &'a str,
    experiments: Vec<String>,
    architecture: String,
    main_module: &'a str,
    location: &'a super::Location,
}

/// Builds the packages of one binary: dependencies, the main module, then the stdlib.
pub fn binary_packages(binary: &GoBinary, location: &super::Location) -> Vec<Package> {
    let modules = &binary.modules;
    let (go_version, experiments) = split_experiments(&binary.raw.go_version);
    let architecture = setting(&modules.settings, "GOARCH")
        .unwrap_or(binary.raw.machine_arch)
        .to_owned();
    let facts = BinaryFacts {
        go_version,
        experiments,
        architecture,
        main_module: &modules.main.path,
        location,
    };

    let mut packages = Vec::new();
    for dep in &modules.deps {
        let module = dep.replace.as_deref().unwrap_or(dep);
        if module.path.is_empty() {
            continue;
        }
        packages.push(module_package(&facts, module, &module.version, None));
    }
    if !modules.main.path.is_empty() {
        let main = modules.main.replace.as_deref().unwrap_or(&modules.main);
        let version = main_version(&main.version, &modules.settings);
        packages.push(module_package(
            &facts,
            main,
            &version,
            Some(&modules.settings),
        ));
    }
    if !facts.go_version.is_empty() {
        packages.push(stdlib_package(&facts));
    }
    packages
}

fn module_package(
    facts: &BinaryFacts<'_>,
    module: &Module,
    version: &str,
    settings: Option<&[(String, String)]>,
) -> Package {
    let mut metadata = Map::new();
    if let Some(settings) = settings.filter(|settings| !settings.is_empty()) {
        let settings: Vec<Value> = settings
            .iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
        metadata.insert("goBuildSettings".into(), Value::Array(settings));
    }
    insert_common(&mut metadata, facts);
    if !module.sum.is_empty() {
        metadata.insert("h1Digest".into(), json!(module.sum));
    }
    reorder_main_module(&mut metadata, facts);
    Package {
        name: module.path.clone(),
        version: version.to_owned(),
        kind: PackageType::GoModule,
        found_by: NAME,
        purl: module_purl(&module.path, version),
        cpes: module_cpes(&module.path, version),
        licenses: Vec::new(),
        locations: vec![facts.location.clone()],
        metadata_type: "go-module-buildinfo-entry",
        files: None,
        metadata: Value::Object(metadata),
    }
}

/// Builds the stdlib pseudo-package: the Go standard library linked into the binary.
fn stdlib_package(facts: &BinaryFacts<'_>) -> Package {
    let mut metadata = Map::new();
    insert_common(&mut metadata, facts);
    reorder_main_module(&mut metadata, facts);
    let version = facts.go_version;
    let plain = version.strip_prefix("go").unwrap_or(version);
    Package {
        name: "stdlib".to_owned(),
        version: version.to_owned(),
        kind: PackageType::GoModule,
        found_by: NAME,
        purl: super::purl::render("golang", None, "stdlib", plain, &[]),
        cpes: std::iter::once(Cpe {
            cpe: &stdlib_cpe(plain),
            source: CpeSource::SyftGenerated,
        })
        .collect(),
        // NOTE: syft 1.18.1's stdlib licence is taken from our reading of its rules. No
        // reference output with a Go binary confirms it.
        licenses: vec![License {
            value: "BSD-3-Clause".to_owned(),
            spdx_expression: Some("BSD-3-Clause".to_owned()),
            kind: "declared",
            locations: vec![facts.location.clone()],
        }],
        locations: vec![facts.location.clone()],
        metadata_type: "go-module-buildinfo-entry",
        files: None,
        metadata: Value::Object(metadata),
    }
}

fn insert_common(metadata: &mut Map<String, Value>, facts: &BinaryFacts<'_>) {
    metadata.insert("goCompiledVersion".into(), json!(facts.go_version));
    metadata.insert("architecture".into(), json!(facts.architecture));
}

/// Appends `mainModule` and `goExperiments` after the other fields, in syft's field order.
fn reorder_main_module(metadata: &mut Map<String, Value>, facts: &BinaryFacts<'_>) {
    if !facts.main_module.is_empty() {
        metadata.insert("mainModule".into(), json!(facts.main_module));
    }
    if !facts.experiments.is_empty() {
        metadata.insert("goExperiments".into(), json!(facts.experiments));
    }
}

/// Splits `go1.20 X:boringcrypto,loopvar` into the version and the experiments.
fn split_experiments(version: &str) -> (&str, Vec<String>) {
    match version.split_once(' ') {
        Some((version, rest)) => {
            let experiments = rest
                .split_whitespace()
                .filter_map(|field| field.strip_prefix("X:"))
                .flat_map(|list| list.split(','))
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect();
            (version, experiments)
        }
        None => (version, Vec::new()),
    }
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// `-X` flags whose value syft 1.18.1 takes as the main module's version: a variable named
/// `version`, `Version`, `gitVersion`, `buildVersion` and similar, or `tag`/`Tag`, set to a
/// value that starts with a dotted triple.
static LDFLAGS_VERSION: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        Regex::new(r"\.([gG]it)?([bB]uild)?[vV]ersion=(\S+/)*(?P<version>v?\d+.\d+.\d+[-\w]*)")
            .expect("the pattern is valid"),
        Regex::new(r"\.([tT]ag)=(\S+/)*(?P<version>v?\d+.\d+.\d+[-\w]*)")
            .expect("the pattern is valid"),
    ]
});

/// Returns the main module's version. `(devel)` is replaced by the `-X` version in the
/// ldflags (with a `v` prefix), else by a pseudo-version from `vcs.revision` and `vcs.time`.
fn main_version(version: &str, settings: &[(String, String)]) -> String {
    if version != DEVEL {
        return version.to_owned();
    }
    if let Some(ldflags) = setting(settings, "-ldflags") {
        for pattern in LDFLAGS_VERSION.iter() {
            if let Some(found) = pattern
                .captures(ldflags)
                .and_then(|captures| captures.name("version"))
            {
                let found = found.as_str();
                return if found.starts_with('v') {
                    found.to_owned()
                } else {
                    format!("v{found}")
                };
            }
        }
    }
    let revision = setting(settings, "vcs.revision");
    let time = setting(settings, "vcs.time");
    if let (Some(revision), Some(time)) = (revision, time) {
        if let Some(stamp) = pseudo_time(time) {
            let short: String = revision.chars().take(12).collect();
            return format!("v0.0.0-{stamp}-{short}");
        }
    }
    version.to_owned()
}

/// Turns an RFC 3339 UTC time (`2024-01-02T03:04:05Z`) into the `yyyymmddhhmmss` stamp of a
/// pseudo-version.
fn pseudo_time(time: &str) -> Option<String> {
    let parsed =
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).ok()?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    Some(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

/// Returns the purl of a module: the path's last element is the name, the rest the namespace.
fn module_purl(path: &str, version: &str) -> String {
    match path.rsplit_once('/') {
        Some((namespace, name)) => {
            super::purl::render("golang", Some(namespace), name, version, &[])
        }
        None => super::purl::render("golang", None, path, version, &[]),
    }
}

/// Returns the one CPE syft 1.18.1 derives from a module path: the first path element after
/// the host as vendor and the rest as product, with the special hosts handled as syft does.
/// Paths with fewer elements get no CPE.
fn module_cpes(path: &str, version: &str) -> Cpes {
    let (host, rest) = path.split_once('/').unwrap_or((path, ""));
    let rest = rest.trim_matches('/');
    let elements: Vec<&str> = rest.split('/').filter(|part| !part.is_empty()).collect();
    let (vendor, product) = match host {
        "golang.org" => (host.to_owned(), rest.to_owned()),
        "gopkg.in" => (String::new(), rest.to_owned()),
        "google.golang.org" => (
            "google".to_owned(),
            elements.first().copied().unwrap_or("").to_owned(),
        ),
        _ if elements.len() >= 2 => (elements[0].to_owned(), elements[1..].join("/")),
        _ => (String::new(), String::new()),
    };
    if vendor.is_empty() || product.is_empty() {
        return Cpes::default();
    }
    let cpe = format!(
        "cpe:2.3:a:{}:{}:{}:*:*:*:*:*:*:*",
        super::cpe::escape(&vendor),
        super::cpe::escape(&product),
        super::cpe::escape(version)
    );
    std::iter::once(Cpe {
        cpe: &cpe,
        source: CpeSource::SyftGenerated,
    })
    .collect()
}

/// Returns the stdlib CPE string: `golang:go`, with a pre-release suffix (`rc1`, `beta2`) as
/// the update field and `-` otherwise.
fn stdlib_cpe(version: &str) -> String {
    let split = version
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(version.len());
    let (release, update) = version.split_at(split);
    let update = if update.is_empty() { "-" } else { update };
    format!(
        "cpe:2.3:a:golang:go:{}:{}:*:*:*:*:*:*",
        super::cpe::escape(release),
        super::cpe::escape(update)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn main_version_from_ldflags() {
        let flags = settings(&[("-ldflags", "-s -X main.version=1.2.3")]);
        assert_eq!(main_version("(devel)", &flags), "v1.2.3");
        let flags = settings(&[("-ldflags", "-X github.com/x/y/cmd.Version=v2.0.1-rc1")]);
        assert_eq!(main_version("(devel)", &flags), "v2.0.1-rc1");
        let flags = settings(&[("-ldflags", "-X main.tag=0.4.0")]);
        assert_eq!(main_version("(devel)", &flags), "v0.4.0");
    }

    #[test]
    fn main_version_keeps_release_and_devel() {
        let flags = settings(&[("-ldflags", "-X main.version=1.2.3")]);
        assert_eq!(main_version("v1.0.0", &flags), "v1.0.0");
        assert_eq!(main_version("(devel)", &[]), "(devel)");
        let flags = settings(&[("-ldflags", "-X main.commit=abc")]);
        assert_eq!(main_version("(devel)", &flags), "(devel)");
    }

    #[test]
    fn main_version_from_vcs() {
        let flags = settings(&[
            ("vcs.revision", "0123456789abcdef0123"),
            ("vcs.time", "2024-01-02T03:04:05Z"),
        ]);
        assert_eq!(
            main_version("(devel)", &flags),
            "v0.0.0-20240102030405-0123456789ab"
        );
    }

    #[test]
    fn module_cpes_by_host() {
        let cpe = |path: &str| {
            module_cpes(path, "v1.0.0")
                .iter()
                .map(|cpe| cpe.cpe.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cpe("github.com/pkg/errors"),
            ["cpe:2.3:a:pkg:errors:v1.0.0:*:*:*:*:*:*:*"]
        );
        assert_eq!(
            cpe("golang.org/x/net"),
            ["cpe:2.3:a:golang.org:x\\/net:v1.0.0:*:*:*:*:*:*:*"]
        );
        assert!(cpe("example.com/app").is_empty());
    }

    #[test]
    fn stdlib_cpe_update_field() {
        assert_eq!(
            stdlib_cpe("1.19.8"),
            "cpe:2.3:a:golang:go:1.19.8:-:*:*:*:*:*:*"
        );
        assert_eq!(
            stdlib_cpe("1.22rc1"),
            "cpe:2.3:a:golang:go:1.22:rc1:*:*:*:*:*:*"
        );
    }

    #[test]
    fn experiments_split_from_version() {
        let (version, experiments) = split_experiments("go1.20 X:boringcrypto,loopvar");
        assert_eq!(version, "go1.20");
        assert_eq!(experiments, ["boringcrypto", "loopvar"]);
    }
}
