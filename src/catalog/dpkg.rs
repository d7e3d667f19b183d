//! Debian packages from the dpkg database (`/var/lib/dpkg/status`), distroless images
//! (`/var/lib/dpkg/status.d/*`, one file per package) and opkg (`/usr/lib/opkg/status`, which
//! syft also reports as type `deb`).
//!
//! Each stanza is an RFC 822 style record. Owned files come from `info/<pkg>[:<arch>].md5sums`
//! (or `status.d/<file>.md5sums`) and the stanza's `Conffiles` field, with `info/*.list` as the
//! fallback when there is no md5sums file. Licences come from
//! `/usr/share/doc/<pkg>/copyright`.

use serde_json::{Map, Value, json};

use crate::filesystem::FileTree;

use super::registry::location;
use super::{
    CatalogWarning, Cataloger, Cpes, Environment, Evidence, Location, Package, PackageFile,
    PackageFiles, PackageType,
};
use super::{cpe, license, purl};

/// The dpkg cataloger, named as syft names it.
pub struct DpkgCataloger;

const NAME: &str = "dpkg-db-cataloger";

fn is_database(path: &str) -> bool {
    path.ends_with("/lib/dpkg/status")
        || path.ends_with("/lib/opkg/status")
        || is_status_d_entry(path)
}

fn is_status_d_entry(path: &str) -> bool {
    match path.rsplit_once('/') {
        Some((dir, file)) => {
            dir.ends_with("/lib/dpkg/status.d")
                && !file.ends_with(".md5sums")
                && !file.starts_with('.')
        }
        None => false,
    }
}

impl Cataloger for DpkgCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, path: &str) -> bool {
        // Suffix checks only: this runs for every file of every layer.
        let Some((dir, file)) = path.rsplit_once('/') else {
            return false;
        };
        if file == "status" {
            return dir.ends_with("/lib/dpkg") || dir.ends_with("/lib/opkg");
        }
        if file == "copyright" {
            return dir.starts_with("/usr/share/doc/");
        }
        if dir.ends_with("/lib/dpkg/status.d") {
            return !file.starts_with('.');
        }
        (file.ends_with(".md5sums") || file.ends_with(".list") || file.ends_with(".conffiles"))
            && (dir.ends_with("/lib/dpkg/info") || dir.ends_with("/lib/opkg/info"))
    }

    fn catalog(
        &self,
        tree: &FileTree,
        env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let databases: Vec<String> = tree
            .files_matching(is_database)
            .map(|entry| entry.path.clone())
            .collect();
        let mut packages = Vec::new();
        for path in databases {
            let Some(bytes) = tree.read(&path) else {
                warnings.push(warning(&path, "contents were not captured"));
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            if text.trim().is_empty() {
                warnings.push(warning(&path, "file is empty, so no packages were read"));
                continue;
            }
            let (stanzas, problems) = parse_status(&text);
            for problem in problems {
                warnings.push(warning(&path, &problem));
            }
            for stanza in stanzas {
                if let Some(package) = build_package(tree, env, &path, &stanza) {
                    packages.push(package);
                }
            }
        }
        packages
    }
}

fn warning(path: &str, reason: &str) -> CatalogWarning {
    CatalogWarning {
        cataloger: NAME,
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// One status stanza: fields in file order, continuation lines joined with `\n`.
#[derive(Debug, Default, Clone)]
pub struct Stanza {
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// Returns the trimmed value of `key`, matched case-insensitively.
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.trim())
            .unwrap_or("")
    }

    fn has(&self, key: &str) -> bool {
        self.fields
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(key))
    }
}

/// Splits a status file into stanzas, accepting CRLF line ends. Lines that are neither
/// `Key: value` nor a continuation are reported as problems. Stanzas without a `Package`
/// name are skipped and reported too, because dpkg itself rejects them.
pub fn parse_status(text: &str) -> (Vec<Stanza>, Vec<String>) {
    let mut stanzas = Vec::new();
    let mut problems = Vec::new();
    let mut current = Stanza::default();
    let mut first_line = 1;
    let finish = |current: &mut Stanza,
                  stanzas: &mut Vec<Stanza>,
                  problems: &mut Vec<String>,
                  first_line: usize| {
        let stanza = std::mem::take(current);
        if stanza.fields.is_empty() {
            return;
        }
        if stanza.get("Package").is_empty() {
            problems.push(format!(
                "stanza starting at line {first_line} has no Package name; skipped"
            ));
            return;
        }
        stanzas.push(stanza);
    };
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let number = index + 1;
        if line.trim().is_empty() {
            finish(&mut current, &mut stanzas, &mut problems, first_line);
            first_line = number + 1;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match current.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                None => problems.push(format!("line {number}: continuation without a field")),
            }
            continue;
        }
        match line.split_once(':') {
            Some((key, value)) if !key.is_empty() && !key.contains(' ') => {
                current
                    .fields
                    .push((key.to_owned(), value.trim().to_owned()));
            }
            _ => problems.push(format!("line {number}: expected \"Field: value\"")),
        }
    }
    finish(&mut current, &mut stanzas, &mut problems, first_line);
    (stanzas, problems)
}

/// Returns whether the `Status` field marks the package as removed, with only its
/// configuration left (`config-files`) or nothing (`not-installed`). A missing field counts
/// as installed, because distroless `status.d` files carry no Status.
fn is_removed(stanza: &Stanza) -> bool {
    let status = stanza.get("Status");
    let state = status.split_whitespace().nth(2).unwrap_or("");
    matches!(state, "config-files" | "not-installed")
}

/// Splits `name (version)` from a `Source` field.
fn split_source(value: &str) -> (String, String) {
    match value.split_once('(') {
        Some((name, rest)) => (
            name.trim().to_owned(),
            rest.trim_end().trim_end_matches(')').trim().to_owned(),
        ),
        None => (value.trim().to_owned(), String::new()),
    }
}

/// Parses `Installed-Size`: a plain number (KiB, as dpkg writes it) is kept, and a number with
/// a unit is converted with decimal multiples (`4KB` is 4000) as syft does.
fn installed_size(value: &str) -> u64 {
    let value = value.trim();
    let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(number) = digits.parse::<u64>() else {
        return 0;
    };
    let unit = value[digits.len()..].trim().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        _ => 1,
    };
    number.saturating_mul(multiplier)
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|item| !item.is_empty())
        .collect()
}

/// Lists the paths where a supporting file with `suffix` may be, for the database at
/// `db_path`, most specific first.
fn supporting_candidates(db_path: &str, name: &str, arch: &str, suffix: &str) -> Vec<String> {
    let (dir, file) = db_path.rsplit_once('/').unwrap_or(("", db_path));
    if dir.ends_with("/status.d") {
        return vec![
            format!("{dir}/{file}.{suffix}"),
            format!("{dir}/{name}.{suffix}"),
        ];
    }
    let mut out = Vec::new();
    if !arch.is_empty() {
        out.push(format!("{dir}/info/{name}:{arch}.{suffix}"));
    }
    out.push(format!("{dir}/info/{name}.{suffix}"));
    out
}

fn read_first(tree: &FileTree, candidates: &[String]) -> Option<(String, String)> {
    candidates.iter().find_map(|path| {
        tree.read(path)
            .map(|bytes| (path.clone(), String::from_utf8_lossy(bytes).into_owned()))
    })
}

fn file_entry(path: &str, md5: Option<&str>, config: bool) -> PackageFile {
    let digest = md5.filter(|m| !m.is_empty()).map(|md5| ("md5", md5));
    if path.starts_with('/') {
        PackageFile::new(path, digest, None, Some(config))
    } else {
        PackageFile::new(&format!("/{path}"), digest, None, Some(config))
    }
}

/// Collects the owned files and adds the supporting files they came from to `support`.
fn owned_files(
    tree: &FileTree,
    db_path: &str,
    stanza: &Stanza,
    support: &mut Vec<Location>,
) -> Vec<PackageFile> {
    let name = stanza.get("Package");
    let arch = stanza.get("Architecture");
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in stanza.get("Conffiles").lines() {
        let mut parts = line.split_whitespace();
        let Some(path) = parts.next() else { continue };
        let md5 = parts.next();
        if seen.insert(path.to_owned()) {
            files.push(file_entry(path, md5, true));
        }
    }
    if let Some((path, _)) = read_first(
        tree,
        &supporting_candidates(db_path, name, arch, "conffiles"),
    ) {
        support.extend(location(tree, &path, Evidence::Supporting));
    }
    let md5sums = read_first(tree, &supporting_candidates(db_path, name, arch, "md5sums"));
    if let Some((path, text)) = &md5sums {
        support.extend(location(tree, path, Evidence::Supporting));
        for line in text.lines() {
            let Some((md5, file)) = line.trim().split_once(char::is_whitespace) else {
                continue;
            };
            let file = file.trim();
            let absolute = format!("/{}", file.trim_start_matches('/'));
            if seen.insert(absolute.clone()) {
                files.push(file_entry(&absolute, Some(md5), false));
            }
        }
    } else if let Some((path, text)) =
        read_first(tree, &supporting_candidates(db_path, name, arch, "list"))
    {
        support.extend(location(tree, &path, Evidence::Supporting));
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let is_dir = tree
                .entry(line)
                .is_some_and(|e| e.kind == crate::filesystem::FileKind::Directory);
            if !is_dir && seen.insert(line.to_owned()) {
                files.push(file_entry(line, None, false));
            }
        }
    }
    add_info_files(tree, db_path, name, support);
    files
}

/// Adds every `info/<name>.*` file (the file list, maintainer scripts, triggers) as
/// supporting evidence, as syft 1.18.1's glob for them does. Files named `<name>:<arch>.*`
/// are not matched by that glob, so only their md5sums and conffiles count.
fn add_info_files(tree: &FileTree, db_path: &str, name: &str, support: &mut Vec<Location>) {
    let Some(dir) = db_path.strip_suffix("/status") else {
        return;
    };
    if name.is_empty() {
        return;
    }
    let info = format!("{dir}/info");
    let paths = tree
        .entries
        .child_names(&info, &format!("{name}."))
        .into_iter()
        .map(|child| format!("{info}/{child}"));
    for path in paths {
        if let Some(found) = location(tree, &path, Evidence::Supporting) {
            if !support.iter().any(|known| known.path == found.path) {
                support.push(found);
            }
        }
    }
}

fn build_package(
    tree: &FileTree,
    env: &Environment,
    db_path: &str,
    stanza: &Stanza,
) -> Option<Package> {
    if is_removed(stanza) {
        return None;
    }
    let name = stanza.get("Package").to_owned();
    let raw_version = stanza.get("Version").to_owned();
    let arch = stanza.get("Architecture").to_owned();
    let (source, source_version) = split_source(stanza.get("Source"));

    let mut locations: Vec<Location> = location(tree, db_path, Evidence::Primary)
        .into_iter()
        .collect();
    let mut support = Vec::new();
    let files = owned_files(tree, db_path, stanza, &mut support);

    let mut licenses = Vec::new();
    let copyright_path = format!("/usr/share/doc/{name}/copyright");
    if let Some(copyright) = location(tree, &copyright_path, Evidence::Supporting) {
        if let Some(bytes) = tree.read(&copyright_path) {
            let text = String::from_utf8_lossy(bytes);
            for value in license::debian_copyright_licenses(&text) {
                licenses.push(license::declared(&value, vec![copyright.clone()]));
            }
        }
        support.push(copyright);
    }
    // opkg stanzas carry their licence in the stanza itself.
    if licenses.is_empty() && stanza.has("License") {
        let declared_in = locations.clone();
        licenses.extend(license::split_declared(stanza.get("License"), &declared_in));
    }
    locations.extend(support);

    let mut metadata = Map::new();
    metadata.insert("package".into(), json!(name));
    metadata.insert("source".into(), json!(source));
    metadata.insert("version".into(), json!(raw_version));
    metadata.insert("sourceVersion".into(), json!(source_version));
    metadata.insert("architecture".into(), json!(arch));
    metadata.insert("maintainer".into(), json!(stanza.get("Maintainer")));
    metadata.insert(
        "installedSize".into(),
        json!(installed_size(stanza.get("Installed-Size"))),
    );
    for (field, key) in [
        ("Provides", "provides"),
        ("Depends", "depends"),
        ("Pre-Depends", "preDepends"),
    ] {
        let values = split_list(stanza.get(field));
        if !values.is_empty() {
            metadata.insert(key.into(), json!(values));
        }
    }
    // The typed list takes this place when the metadata is rendered.
    metadata.insert("files".into(), Value::Null);

    let upstream = match (source.is_empty(), source_version.is_empty()) {
        (true, _) => String::new(),
        (false, true) => source.clone(),
        (false, false) => format!("{source}@{source_version}"),
    };
    let purl = purl::os_package(
        "deb",
        env.distro.as_ref(),
        &name,
        &raw_version,
        &[("arch", &arch), ("upstream", &upstream)],
    );
    let version = if raw_version.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        raw_version
    };
    let mut package = Package {
        name,
        version,
        kind: PackageType::Deb,
        found_by: NAME,
        purl,
        cpes: Cpes::default(),
        licenses,
        locations,
        metadata_type: "dpkg-db-entry",
        metadata: Value::Object(metadata),
        files: Some(PackageFiles::Listed(files)),
    };
    package.cpes = cpe::generate(&package);
    Some(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_joins_continuations_and_accepts_crlf() {
        let text = "Package: a\r\nVersion: 1\r\nDepends: x,\r\n y (>= 2)\r\n\r\nPackage: b\r\n";
        let (stanzas, problems) = parse_status(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(stanzas.len(), 2);
        assert_eq!(split_list(stanzas[0].get("Depends")), ["x", "y (>= 2)"]);
        assert_eq!(stanzas[1].get("Package"), "b");
    }

    #[test]
    fn parse_reports_malformed_lines_and_nameless_stanzas() {
        let (stanzas, problems) = parse_status("Pakij: apt\ngarbage line\n\nPackage:\n");
        assert!(stanzas.is_empty());
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn source_field_with_version() {
        assert_eq!(
            split_source("bash (5.2.15-2)"),
            ("bash".to_owned(), "5.2.15-2".to_owned())
        );
        assert_eq!(split_source("pam"), ("pam".to_owned(), String::new()));
    }

    #[test]
    fn installed_size_units() {
        assert_eq!(installed_size("1016"), 1016);
        assert_eq!(installed_size("4KB"), 4000);
        assert_eq!(installed_size("junk"), 0);
    }

    #[test]
    fn removed_packages_are_skipped() {
        let (stanzas, _) = parse_status(
            "Package: gone\nStatus: deinstall ok config-files\n\n\
             Package: here\nStatus: install ok installed\n",
        );
        assert!(is_removed(&stanzas[0]));
        assert!(!is_removed(&stanzas[1]));
    }

    #[test]
    fn wants_is_specific() {
        let dpkg = DpkgCataloger;
        assert!(dpkg.wants("/var/lib/dpkg/status"));
        assert!(dpkg.wants("/var/lib/dpkg/status.d/libc6"));
        assert!(dpkg.wants("/var/lib/dpkg/info/libc6:amd64.md5sums"));
        assert!(dpkg.wants("/usr/share/doc/bash/copyright"));
        assert!(dpkg.wants("/usr/lib/opkg/status"));
        assert!(!dpkg.wants("/var/lib/dpkg/info/bash.postinst"));
        assert!(!dpkg.wants("/usr/bin/status"));
        assert!(!dpkg.wants("/etc/passwd"));
    }
}
