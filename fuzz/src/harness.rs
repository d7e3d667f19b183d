//! Fuzz entries for inline-scan's parsers, one function per cargo-fuzz target.
//!
//! Each entry takes arbitrary bytes, runs one parser on them the way the tool runs it on an
//! image, and returns an [`Outcome`]: how many items the parser produced and the most it may
//! produce from that input. [`check`] panics when the count exceeds the bound, so a parser that
//! invents output fails like one that panics. `tests/fuzz_regressions.rs` includes this file as
//! a module and runs every corpus seed and every saved crash input through [`TARGETS`], so CI
//! exercises these entries without cargo-fuzz.
//!
//! The archive entries read a sectioned input (see [`split_sections`] and [`build_archive`]),
//! so that the fuzzer can write documents that refer to each other by digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use inline_scan::catalog::apk::{self, ApkCataloger};
use inline_scan::catalog::distro;
use inline_scan::catalog::dpkg::{self, DpkgCataloger};
use inline_scan::catalog::golang::GoBinaryCataloger;
use inline_scan::catalog::java::{self, JavaArchiveCataloger};
use inline_scan::catalog::npm::NpmCataloger;
use inline_scan::catalog::python::{self, PythonCataloger};
use inline_scan::catalog::rpm::{PackageRecord, RpmCataloger};
use inline_scan::catalog::ruby::{self, GemspecCataloger};
use inline_scan::catalog::rust::CargoAuditableCataloger;
use inline_scan::catalog::{Cataloger, Environment};
use inline_scan::digest::Digest;
use inline_scan::filesystem::{FileEntry, FileKind, FileTree};
use inline_scan::layer::{Extract, Extractor, HEAD_LEN, scan_layer};
use inline_scan::source::archive::{read_docker_archive, read_oci_archive};
use inline_scan::source::{Limits, compression};
use inline_scan::squash::Squasher;
use sha2::{Digest as _, Sha256};

/// The separator between sections of a sectioned input.
pub const SECTION_SEPARATOR: &[u8] = b"\n=====\n";

/// The maximum number of bytes the compression entry reads from a decoder. A small input may
/// expand to gigabytes, which is the caller's limit to enforce, not the decoder's.
pub const MAX_DECODED: u64 = 8 * 1024 * 1024;

/// The result of one parser run: the items produced and the bound they must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Items produced: tree entries, packages, file records or decoded bytes.
    pub items: usize,
    /// The maximum number of items this input can honestly yield.
    pub bound: usize,
}

impl Outcome {
    fn new(items: usize, bound: usize) -> Self {
        Self { items, bound }
    }
}

/// Panics when a parser produced more items than its input can contain.
pub fn check(outcome: Outcome) {
    assert!(
        outcome.items <= outcome.bound,
        "parser produced {} items, more than the bound of {}",
        outcome.items,
        outcome.bound
    );
}

/// One fuzz target: its cargo-fuzz name and its entry.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> Outcome,
}

/// Lists targets by entry function, which names the target too, so the two cannot differ.
macro_rules! targets {
    ($($entry:ident),* $(,)?) => {
        &[$(Target { name: stringify!($entry), run: $entry }),*]
    };
}

/// Every target, by the name of its `fuzz_targets/NAME.rs` file and `fuzz/corpus/NAME` folder.
pub const TARGETS: &[Target] = targets![
    layer_tar,
    layer_sequence,
    docker_archive,
    oci_archive,
    compression,
    os_release,
    dpkg_status,
    apk_installed,
    rpm_sqlite,
    rpm_bdb,
    rpm_ndb,
    rpm_header,
    rpm_manifest,
    python_metadata,
    npm_package_json,
    ruby_gemspec,
    java_archive,
    java_manifest,
    go_buildinfo,
    cargo_auditable,
];

/// Limits small enough that one fuzz input cannot hold much memory.
fn limits() -> Limits {
    Limits {
        max_captured_file: 1024 * 1024,
        max_json: 1024 * 1024,
        // A fuzz input expands at most this far, and its tar headers stay small.
        max_layer_size: 64 * 1024 * 1024,
        max_tar_header: 64 * 1024,
    }
}

fn wants_everything(_path: &str) -> bool {
    true
}

/// Splits a sectioned input at each [`SECTION_SEPARATOR`].
pub fn split_sections(data: &[u8]) -> Vec<&[u8]> {
    let mut sections = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, SECTION_SEPARATOR) {
        sections.push(&rest[..at]);
        rest = &rest[at + SECTION_SEPARATOR.len()..];
    }
    sections.push(rest);
    sections
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Walks the bytes as one layer blob, squashes it and resolves every visible path.
pub fn layer_tar(data: &[u8]) -> Outcome {
    let mut squasher = Squasher::new();
    let mut decoded = 0;
    if let Ok(scan) = scan_layer(data, &wants_everything, &limits()) {
        decoded = scan.uncompressed_size;
        squasher.add_layer(scan);
    }
    let tree = squasher.finish();
    resolve_all(&tree);
    Outcome::new(tree.entries.len(), entry_bound(decoded))
}

/// Walks each section as a layer blob, bottom first, and squashes the layers that could be
/// read, so whiteouts and opaque markers meet lower layers.
pub fn layer_sequence(data: &[u8]) -> Outcome {
    let mut squasher = Squasher::new();
    let mut bound = 0;
    for section in split_sections(data) {
        if let Ok(scan) = scan_layer(section, &wants_everything, &limits()) {
            bound += entry_bound(scan.uncompressed_size);
            squasher.add_layer(scan);
        }
    }
    let tree = squasher.finish();
    resolve_all(&tree);
    Outcome::new(tree.entries.len(), bound)
}

/// Returns the maximum number of paths in a tree built from `tar_bytes` bytes of tar. Every visible path,
/// implied parent directories included, is a prefix of a path stored in the tar, so there is at
/// most one path per byte of the uncompressed stream.
fn entry_bound(tar_bytes: u64) -> usize {
    usize::try_from(tar_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
}

fn resolve_all(tree: &FileTree) {
    for path in tree.entries.paths() {
        let _ = tree.resolve(&path);
        let _ = tree.read(&path);
    }
}

/// Builds a tar from a sectioned input of `name, contents, name, contents, ...` and reads it
/// as a `docker save` tarball.
pub fn docker_archive(data: &[u8]) -> Outcome {
    let archive = build_archive(data);
    let result = read_docker_archive(
        &archive[..],
        "fuzz".to_owned(),
        None,
        None,
        &wants_everything,
        &limits(),
    );
    archive_outcome(result, archive.len())
}

/// Builds a tar from a sectioned input as [`docker_archive`] does and reads it as an OCI
/// archive.
pub fn oci_archive(data: &[u8]) -> Outcome {
    let archive = build_archive(data);
    let result = read_oci_archive(
        &archive[..],
        "fuzz".to_owned(),
        None,
        None,
        &wants_everything,
        &limits(),
    );
    archive_outcome(result, archive.len())
}

fn archive_outcome<E>(
    result: Result<inline_scan::source::SourceImage, E>,
    archive_len: usize,
) -> Outcome {
    match result {
        Ok(image) => {
            resolve_all(&image.tree);
            let decoded: u64 = image
                .layers
                .iter()
                .map(|layer| layer.uncompressed_size)
                .sum();
            let bound = entry_bound(decoded.max(archive_len as u64));
            Outcome::new(image.tree.entries.len(), bound)
        }
        Err(_) => Outcome::new(0, 0),
    }
}

/// Builds a tar archive from a sectioned input whose sections alternate between a member name
/// and its contents. A trailing name without contents becomes an empty member.
///
/// So that documents can refer to each other by digest, as manifests and indexes do, these
/// placeholders are replaced, where N is the number of a member counted from 0:
/// `@dN` by the `sha256:HEX` digest of member N's contents, `@hN` by the bare hex and `@sN` by
/// the size in bytes. Contents are resolved from the last member to the first, so contents may
/// refer to later members only, and names may refer to any member.
pub fn build_archive(data: &[u8]) -> Vec<u8> {
    let sections = split_sections(data);
    let members: Vec<(&[u8], &[u8])> = sections
        .chunks(2)
        .map(|pair| (pair[0], pair.get(1).copied().unwrap_or_default()))
        .collect();

    let mut facts: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    let mut contents: Vec<Vec<u8>> = vec![Vec::new(); members.len()];
    for index in (0..members.len()).rev() {
        let resolved = substitute(members[index].1, &facts);
        let hex = hex_of(&Sha256::digest(&resolved));
        facts.insert(index, (hex, resolved.len()));
        contents[index] = resolved;
    }

    let mut builder = tar::Builder::new(Vec::new());
    for (index, (name, _)) in members.iter().enumerate() {
        let name = String::from_utf8_lossy(&substitute(name, &facts)).into_owned();
        let mut header = tar::Header::new_gnu();
        header.set_size(contents[index].len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // A name the tar crate rejects (empty, or with `..`) leaves the member out, as a
        // hand-made tarball could not contain it either.
        let _ = builder.append_data(&mut header, &name, &contents[index][..]);
    }
    builder.into_inner().unwrap_or_default()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Replaces `@dN`, `@hN` and `@sN` for each member N in `facts`. Other text is kept.
fn substitute(text: &[u8], facts: &BTreeMap<usize, (String, usize)>) -> Vec<u8> {
    let mut output = Vec::with_capacity(text.len());
    let mut position = 0;
    while position < text.len() {
        let byte = text[position];
        let kind = text.get(position + 1).copied();
        let digits = text[(position + 2).min(text.len())..]
            .iter()
            .take_while(|digit| digit.is_ascii_digit())
            .count();
        let replaced = (byte == b'@' && digits > 0)
            .then(|| std::str::from_utf8(&text[position + 2..position + 2 + digits]).ok())
            .flatten()
            .and_then(|number| number.parse::<usize>().ok())
            .and_then(|number| facts.get(&number))
            .and_then(|(hex, size)| match kind {
                Some(b'd') => Some(format!("sha256:{hex}")),
                Some(b'h') => Some(hex.clone()),
                Some(b's') => Some(size.to_string()),
                _ => None,
            });
        match replaced {
            Some(value) => {
                output.extend_from_slice(value.as_bytes());
                position += 2 + digits;
            }
            None => {
                output.push(byte);
                position += 1;
            }
        }
    }
    output
}

/// Detects the compression of the bytes and decodes at most [`MAX_DECODED`] bytes of them.
pub fn compression(data: &[u8]) -> Outcome {
    let decoded = match compression::decompress(data) {
        Ok((_, reader)) => {
            let mut sink = Vec::new();
            let _ = reader.take(MAX_DECODED).read_to_end(&mut sink);
            sink.len()
        }
        Err(_) => 0,
    };
    Outcome::new(decoded, MAX_DECODED as usize)
}

/// Parses the text with every release-file parser, and detects the distribution of a tree
/// that has it at each path detection reads.
pub fn os_release(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let _ = distro::parse_os_release(&text);
    let _ = distro::parse_system_release_cpe(&text);
    let _ = distro::parse_redhat_release(&text);
    let _ = distro::parse_alpine_release(&text);
    let _ = distro::parse_lsb_release(&text);
    for path in [
        "/etc/os-release",
        "/usr/lib/os-release",
        "/etc/system-release-cpe",
        "/etc/redhat-release",
        "/etc/alpine-release",
        "/etc/lsb-release",
    ] {
        let mut tree = tree_with(path, data);
        add_file(&mut tree, "/etc/debian_version", data);
        let _ = distro::detect(&tree);
    }
    Outcome::new(0, 0)
}

/// Parses the bytes as a dpkg status file, and catalogs them at `/var/lib/dpkg/status` and as a
/// distroless `status.d` file.
pub fn dpkg_status(data: &[u8]) -> Outcome {
    let (stanzas, _) = dpkg::parse_status(&String::from_utf8_lossy(data));
    let mut packages = catalog_at(&DpkgCataloger, "/var/lib/dpkg/status", data);
    packages = packages.max(catalog_at(
        &DpkgCataloger,
        "/var/lib/dpkg/status.d/fuzz",
        data,
    ));
    Outcome::new(stanzas.len().max(packages), data.len())
}

/// Parses the bytes as apk's installed database and catalogs them at `/lib/apk/db/installed`.
pub fn apk_installed(data: &[u8]) -> Outcome {
    let (records, _) = apk::parse_installed(&String::from_utf8_lossy(data));
    let packages = catalog_at(&ApkCataloger, "/lib/apk/db/installed", data);
    Outcome::new(records.len().max(packages), data.len())
}

/// Catalogs the bytes as rpm's sqlite database.
pub fn rpm_sqlite(data: &[u8]) -> Outcome {
    let packages = catalog_at(&RpmCataloger, "/var/lib/rpm/rpmdb.sqlite", data);
    Outcome::new(packages, data.len())
}

/// Catalogs the bytes as rpm's BerkeleyDB hash database.
pub fn rpm_bdb(data: &[u8]) -> Outcome {
    let packages = catalog_at(&RpmCataloger, "/var/lib/rpm/Packages", data);
    Outcome::new(packages, data.len())
}

/// Catalogs the bytes as rpm's ndb database.
pub fn rpm_ndb(data: &[u8]) -> Outcome {
    let packages = catalog_at(&RpmCataloger, "/usr/lib/sysimage/rpm/Packages.db", data);
    Outcome::new(packages, data.len())
}

/// Decodes the bytes as one rpm header blob, as the database readers yield them.
pub fn rpm_header(data: &[u8]) -> Outcome {
    let files = PackageRecord::from_blob(data).map_or(0, |record| record.files.len());
    Outcome::new(files, data.len())
}

/// Catalogs the bytes as CBL-Mariner's distroless rpm manifest.
pub fn rpm_manifest(data: &[u8]) -> Outcome {
    let path = "/var/lib/rpmmanifest/container-manifest-2";
    let packages = catalog_at(&RpmCataloger, path, data);
    Outcome::new(packages, data.len())
}

/// Parses the bytes as Python core metadata and catalogs them as a `.dist-info/METADATA`, an
/// `.egg-info/PKG-INFO` and a bare `.egg-info` file.
pub fn python_metadata(data: &[u8]) -> Outcome {
    let _ = python::parse_metadata(&String::from_utf8_lossy(data));
    let root = "/usr/lib/python3/site-packages";
    let mut packages = 0;
    for path in [
        format!("{root}/fuzz-1.0.dist-info/METADATA"),
        format!("{root}/fuzz-1.0.egg-info/PKG-INFO"),
        format!("{root}/fuzz-1.0.egg-info"),
    ] {
        packages += catalog_at(&PythonCataloger, &path, data);
    }
    Outcome::new(packages, 3)
}

/// Catalogs the bytes as an installed `package.json`.
pub fn npm_package_json(data: &[u8]) -> Outcome {
    let path = "/usr/lib/node_modules/fuzz/package.json";
    let packages = catalog_at(&NpmCataloger, path, data);
    Outcome::new(packages, 1)
}

/// Parses the bytes as a gemspec and catalogs them at an installed `specifications/` path.
pub fn ruby_gemspec(data: &[u8]) -> Outcome {
    let _ = ruby::parse_gemspec(&String::from_utf8_lossy(data));
    let path = "/usr/lib/ruby/gems/3.0.0/specifications/fuzz-1.0.gemspec";
    let packages = catalog_at(&GemspecCataloger, path, data);
    Outcome::new(packages, 1)
}

/// Reads the bytes as a jar through the extractor, which opens nested archives, manifests,
/// `pom.properties` and `pom.xml`, and catalogs the result. Every package comes from a
/// manifest or a `pom.properties` entry, each entry takes at least a 30-byte local header, and
/// the reader expands nested archives to at most [`java::MAX_NESTED_TOTAL`] bytes.
pub fn java_archive(data: &[u8]) -> Outcome {
    let packages = extract_and_catalog(&JavaArchiveCataloger, "/app/fuzz.jar", data);
    let readable = data.len() as u64 + java::MAX_NESTED_TOTAL;
    Outcome::new(
        packages,
        usize::try_from(readable / 30 + 1).unwrap_or(usize::MAX),
    )
}

/// Parses the bytes as a `MANIFEST.MF`, a `pom.properties` and a `pom.xml`.
pub fn java_manifest(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let manifest = java::manifest::parse_manifest(&text);
    let _ = manifest.main_value("Implementation-Title");
    let _ = manifest.values("Bundle-License").count();
    let path = "META-INF/maven/fuzz/fuzz";
    let _ = java::manifest::parse_pom_properties(&format!("{path}/pom.properties"), &text);
    let _ = java::manifest::parse_pom_xml(&format!("{path}/pom.xml"), &text);
    Outcome::new(0, 0)
}

/// Reads the bytes as an ELF binary's Go build info through the extractor and catalogs the
/// modules. Each module is one line of the build info, which the input must contain.
pub fn go_buildinfo(data: &[u8]) -> Outcome {
    let packages = extract_and_catalog(&GoBinaryCataloger, "/usr/bin/fuzz", data);
    // The main module and the standard library come without lines of their own.
    Outcome::new(packages, data.len() + 2)
}

/// Reads the bytes as an ELF binary's cargo-auditable `.dep-v0` section through the extractor
/// and catalogs the crates. The section decompresses to at most 8 MiB of JSON, and every crate
/// takes more than 8 bytes of it.
pub fn cargo_auditable(data: &[u8]) -> Outcome {
    let packages = extract_and_catalog(&CargoAuditableCataloger, "/usr/bin/fuzz", data);
    Outcome::new(packages, 1024 * 1024)
}

/// Runs the cataloger's extractor on `bytes` as the layer walk does when it claims the file at
/// `path`, keeps the result in a one-file tree, and returns the number of packages found.
fn extract_and_catalog(cataloger: &dyn Cataloger, path: &str, bytes: &[u8]) -> usize {
    let extractor: &dyn Extractor = cataloger.extractor().expect("an extracting cataloger");
    let mut tree = tree_with(path, bytes);
    let head = &bytes[..bytes.len().min(HEAD_LEN)];
    if extractor.claims(path, head) {
        let mut data = std::io::Cursor::new(bytes);
        if let Some(result) = extractor.extract(path, &mut data, bytes.len() as u64) {
            let extract = Extract {
                extractor: extractor.name(),
                result,
            };
            tree.extracts
                .insert(path.to_owned(), Arc::from(vec![extract]));
        }
    }
    let mut warnings = Vec::new();
    cataloger
        .catalog(&tree, &Environment::default(), &mut warnings)
        .len()
}

/// Runs `cataloger` on a tree that contains only `bytes` at `path`, and returns the number of
/// packages it found.
fn catalog_at(cataloger: &dyn Cataloger, path: &str, bytes: &[u8]) -> usize {
    let tree = tree_with(path, bytes);
    let mut warnings = Vec::new();
    cataloger
        .catalog(&tree, &Environment::default(), &mut warnings)
        .len()
}

/// Builds a one-layer tree that contains a regular file at `path` and the directories above it.
fn tree_with(path: &str, bytes: &[u8]) -> FileTree {
    let mut tree = FileTree {
        layers: vec![Digest::of(b"fuzz layer")],
        ..FileTree::default()
    };
    add_file(&mut tree, path, bytes);
    tree
}

fn add_file(tree: &mut FileTree, path: &str, bytes: &[u8]) {
    let components: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut parent = String::new();
    for component in &components[..components.len() - 1] {
        parent.push('/');
        parent.push_str(component);
        tree.entries.insert(entry(&parent, FileKind::Directory, 0));
    }
    tree.entries
        .insert(entry(path, FileKind::Regular, bytes.len() as u64));
    tree.contents.insert(path.to_owned(), Arc::from(bytes));
}

fn entry(path: &str, kind: FileKind, size: u64) -> FileEntry {
    FileEntry {
        path: path.to_owned(),
        kind,
        mode: 0o644,
        size,
        uid: 0,
        gid: 0,
        layer: 0,
        hardlink_to: None,
    }
}
