//! Runs the fuzz entries of `fuzz/src/harness.rs` on the stable toolchain, without cargo-fuzz.
//! Every saved crash, hang or unbounded-result input (tests/fixtures/fuzz/TARGET/) goes through
//! its own target, and every corpus seed (fuzz/corpus/TARGET/) through every target. Each run
//! must return without a panic and within the target's bound.

#[path = "../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::fs;
use std::path::{Path, PathBuf};

use harness::{Outcome, TARGETS, Target};

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(folder: &Path) -> Vec<PathBuf> {
    let Ok(listing) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = listing
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn target(name: &str) -> &'static Target {
    TARGETS
        .iter()
        .find(|target| target.name == name)
        .unwrap_or_else(|| panic!("no fuzz target named {name}"))
}

fn run(target: &Target, input: &Path) -> Outcome {
    let bytes = fs::read(input).unwrap_or_else(|error| panic!("reading {input:?}: {error}"));
    let outcome = (target.run)(&bytes);
    assert!(
        outcome.items <= outcome.bound,
        "{} on {input:?}: {} items, more than the bound of {}",
        target.name,
        outcome.items,
        outcome.bound
    );
    outcome
}

#[test]
fn every_target_has_seeds() {
    for target in TARGETS {
        let seeds = files_in(&repository().join("fuzz/corpus").join(target.name));
        assert!(
            !seeds.is_empty(),
            "fuzz/corpus/{} has no seeds",
            target.name
        );
    }
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let manifest = fs::read_to_string(repository().join("fuzz/Cargo.toml")).unwrap();
    for target in TARGETS {
        let source = repository()
            .join("fuzz/fuzz_targets")
            .join(format!("{}.rs", target.name));
        assert!(source.is_file(), "{source:?} is missing");
        let declared = format!("name = \"{}\"", target.name);
        assert!(
            manifest.contains(&declared),
            "fuzz/Cargo.toml lacks {declared}"
        );
    }
}

#[test]
fn seeds_run_through_every_target() {
    let corpus = repository().join("fuzz/corpus");
    let seeds: Vec<PathBuf> = TARGETS
        .iter()
        .flat_map(|target| files_in(&corpus.join(target.name)))
        .collect();
    assert!(seeds.len() >= TARGETS.len());
    for target in TARGETS {
        for seed in &seeds {
            run(target, seed);
        }
    }
}

#[test]
fn saved_crash_inputs_run_cleanly() {
    let saved = repository().join("tests/fixtures/fuzz");
    let mut count = 0;
    for folder in files_in_dirs(&saved) {
        let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
        let target = target(&name);
        for input in files_in(&folder) {
            run(target, &input);
            count += 1;
        }
    }
    assert!(count > 0, "tests/fixtures/fuzz holds no saved inputs");
}

fn files_in_dirs(folder: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = fs::read_dir(folder)
        .map(|listing| {
            listing
                .map(|entry| entry.expect("a readable directory entry").path())
                .filter(|path| path.is_dir())
                .collect()
        })
        .unwrap_or_default();
    folders.sort();
    folders
}

/// The archive seeds rely on the placeholder substitution to make digests match, so a seed
/// that yields no files means the builder, not the reader, is broken.
#[test]
fn archive_seeds_yield_images() {
    let corpus = repository().join("fuzz/corpus");
    for (name, seed) in [
        ("docker_archive", "rpm-sqlite-classic"),
        ("docker_archive", "rpm-sqlite-layout"),
        ("oci_archive", "rpm-sqlite-layout"),
    ] {
        let outcome = run(target(name), &corpus.join(name).join(seed));
        assert!(
            outcome.items > 0,
            "{name} read no files from the {seed} seed"
        );
    }
}

#[test]
fn layer_seeds_yield_entries() {
    let corpus = repository().join("fuzz/corpus");
    let outcome = run(
        target("layer_sequence"),
        &corpus.join("layer_sequence/base-upper"),
    );
    assert!(outcome.items > 0);
    let outcome = run(target("layer_tar"), &corpus.join("layer_tar/upper.tar.zst"));
    assert!(outcome.items > 0);
}

/// The Java, Go and Rust seeds go through an extractor first, so a seed that yields no
/// packages means the harness never reached the cataloger.
#[test]
fn extractor_seeds_yield_packages() {
    let corpus = repository().join("fuzz/corpus");
    for (name, seed) in [
        ("java_archive", "java-trivy-test-jar-test.jar"),
        (
            "java_archive",
            "java-jenkins-plugin-example-jenkins-plugin.hpi",
        ),
        ("go_buildinfo", "inline-go1.22"),
        ("go_buildinfo", "pointers-go1.16"),
        ("cargo_auditable", "four-crates"),
        (
            "ruby_gemspec",
            "ruby-gemspec-bundler-usr-lib-ruby-gems-3.0.0-specifications-bundler-2.1.4.gemspec",
        ),
    ] {
        let outcome = run(target(name), &corpus.join(name).join(seed));
        assert!(
            outcome.items > 0,
            "{name} found no packages in the {seed} seed"
        );
    }
}

#[test]
fn placeholders_take_later_digests() {
    let input = b"first\n=====\n@d1 @s1 @h9 @x1\n=====\nsecond\n=====\nbody";
    let archive = harness::build_archive(input);
    let mut reader = tar::Archive::new(&archive[..]);
    let mut members = Vec::new();
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        members.push((name, text));
    }
    let body_digest = "sha256:230d8358dc8e8890b4c58deeb62912ee2f20357ae92a5cc861b98e68fe31acb5";
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].0, "first");
    assert_eq!(members[0].1, format!("{body_digest} 4 @h9 @x1"));
    assert_eq!(members[1], ("second".to_owned(), "body".to_owned()));
}

/// A BerkeleyDB metadata page that declares about 2^32 pages in a file of a few pages. The
/// reader walked every declared page number, which took minutes, before it was bounded by the
/// pages present.
#[test]
fn rpm_bdb_huge_page_count() {
    let folder = repository().join("tests/fixtures/fuzz/rpm_bdb");
    let inputs = files_in(&folder);
    assert!(!inputs.is_empty());
    for input in inputs {
        run(target("rpm_bdb"), &input);
        // Without the bound the walk visits the 4 billion pages the metadata declares.
        let bytes = std::fs::read(&input).unwrap();
        let read = inline_scan::catalog::rpm::bdb::read_blobs(&bytes);
        assert!(
            read.pages_read <= bytes.len() as u64 / 512,
            "{} pages walked in a {}-byte file",
            read.pages_read,
            bytes.len()
        );
    }
}
