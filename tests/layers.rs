//! The layer walk and squash on layer tars built here with the tar crate.
// `expect_err` would print the whole image when a read unexpectedly succeeds.
#![allow(clippy::err_expect)]

use std::io::Write;

use inline_scan::digest::Digest;
use inline_scan::filesystem::{FileKind, FileTree};
use inline_scan::layer::{LayerEntryKind, LayerError, LayerScan, recover_links, scan_layer};
use inline_scan::source::archive::{
    read_docker_archive, read_docker_archive_file, read_oci_archive, read_oci_archive_file,
};
use inline_scan::source::error::SourceError;
use inline_scan::source::oci::read_oci_dir;
use inline_scan::source::{Compression, Limits};
use inline_scan::squash::Squasher;
use tar::{EntryType, Header};

/// One entry of a hand-built layer tar. Names are written to the header verbatim, so `./`
/// prefixes, `..` parts and absolute names reach the walk unchanged.
enum Item<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// An entry of any type with a link name, like the whiteouts `docker save` has written.
    Typed(&'a str, EntryType, &'a str),
}

fn header(name: &str, kind: EntryType, size: u64, link: Option<&str>) -> Header {
    let mut header = Header::new_gnu();
    let bytes = name.as_bytes();
    assert!(bytes.len() < 100, "test names must fit the classic header");
    header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_uid(1000);
    header.set_gid(1001);
    header.set_mtime(0);
    if let Some(link) = link {
        header.set_link_name_literal(link).unwrap();
    }
    header.set_cksum();
    header
}

fn layer(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        match item {
            Item::Dir(name) => {
                let header = header(name, EntryType::Directory, 0, None);
                builder.append(&header, &b""[..]).unwrap();
            }
            Item::File(name, data) => {
                let header = header(name, EntryType::Regular, data.len() as u64, None);
                builder.append(&header, *data).unwrap();
            }
            Item::Symlink(name, target) => {
                let header = header(name, EntryType::Symlink, 0, Some(target));
                builder.append(&header, &b""[..]).unwrap();
            }
            Item::Hardlink(name, target) => {
                let header = header(name, EntryType::Link, 0, Some(target));
                builder.append(&header, &b""[..]).unwrap();
            }
            Item::Typed(name, kind, link) => {
                let header = header(name, *kind, 0, Some(link));
                builder.append(&header, &b""[..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn want_all(_: &str) -> bool {
    true
}

fn scan(bytes: &[u8]) -> LayerScan {
    scan_layer(bytes, &want_all, &Limits::default()).unwrap()
}

fn squash(layers: &[Vec<u8>]) -> FileTree {
    let mut squasher = Squasher::new();
    for bytes in layers {
        squasher.add_layer(scan(bytes));
    }
    squasher.finish()
}

fn paths(tree: &FileTree) -> Vec<String> {
    tree.entries.paths()
}

#[test]
fn whiteout_removes_path_and_subtree() {
    let lower = layer(&[
        Item::Dir("etc/"),
        Item::File("etc/keep", b"keep"),
        Item::File("etc/gone", b"gone"),
        Item::Dir("opt/"),
        Item::Dir("opt/tool/"),
        Item::File("opt/tool/bin", b"bin"),
        Item::Dir("opt/tool/lib/"),
        Item::File("opt/tool/lib/x", b"x"),
        Item::File("opt/toolbox", b"sibling with a shared prefix"),
    ]);
    let upper = layer(&[
        Item::Dir("etc/"),
        Item::File("etc/.wh.gone", b""),
        Item::Dir("opt/"),
        Item::File("opt/.wh.tool", b""),
    ]);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/etc", "/etc/keep", "/opt", "/opt/toolbox"]);
    assert!(tree.read("/etc/gone").is_none());
    assert!(!tree.contents.contains_key("/opt/tool/bin"));
    assert!(!tree.contents.contains_key("/opt/tool/lib/x"));
    assert_eq!(tree.read("/etc/keep"), Some(&b"keep"[..]));
}

#[test]
fn whiteout_ignores_stale_link_name_and_type() {
    let lower = layer(&[
        Item::Dir("bin/"),
        Item::File("bin/busybox", b"elf"),
        Item::File("bin/sh", b"sh"),
    ]);
    let upper = layer(&[
        Item::Dir("bin/"),
        Item::Typed("bin/.wh.busybox", EntryType::Link, "bin/busybox"),
        Item::Typed("bin/.wh.sh", EntryType::Symlink, "busybox"),
    ]);
    let scanned = scan(&upper);
    let kinds: Vec<LayerEntryKind> = scanned.entries.iter().map(|entry| entry.kind).collect();
    assert_eq!(
        kinds,
        [
            LayerEntryKind::Directory,
            LayerEntryKind::Whiteout,
            LayerEntryKind::Whiteout
        ]
    );
    assert!(scanned.warnings.is_empty(), "{:?}", scanned.warnings);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/bin"]);
}

#[test]
fn bare_whiteout_prefix_is_ignored() {
    let lower = layer(&[
        Item::Dir("etc/"),
        Item::File("etc/keep", b"keep"),
        Item::File("top", b"top"),
    ]);
    let upper = layer(&[
        Item::File(".wh.", b""),
        Item::Dir("etc/"),
        Item::File("etc/.wh.", b""),
    ]);
    let scanned = scan(&upper);
    assert_eq!(scanned.warnings.len(), 2);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/etc", "/etc/keep", "/top"]);
}

#[test]
fn opaque_directory_hides_lower_children_only() {
    let lower = layer(&[
        Item::Dir("app/"),
        Item::File("app/old", b"old"),
        Item::Dir("app/sub/"),
        Item::File("app/sub/file", b"file"),
        Item::File("apple", b"not a child"),
    ]);
    // The marker sits after a new child here, to show that markers act on lower layers only,
    // wherever they come in the tar.
    let upper = layer(&[
        Item::Dir("app/"),
        Item::File("app/new", b"new"),
        Item::File("app/.wh..wh..opq", b""),
    ]);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/app", "/app/new", "/apple"]);
    assert_eq!(tree.entry("/app").unwrap().layer, 1);
    assert_eq!(tree.read("/app/new"), Some(&b"new"[..]));
    assert!(!tree.contents.contains_key("/app/old"));
}

#[test]
fn directory_replaced_by_file() {
    let lower = layer(&[
        Item::Dir("data/"),
        Item::File("data/a", b"a"),
        Item::Dir("data/b/"),
        Item::File("data/b/c", b"c"),
    ]);
    let upper = layer(&[Item::File("data", b"now a file")]);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/data"]);
    let entry = tree.entry("/data").unwrap();
    assert_eq!(entry.kind, FileKind::Regular);
    assert_eq!(entry.layer, 1);
    assert_eq!(tree.read("/data"), Some(&b"now a file"[..]));
    assert!(!tree.contents.contains_key("/data/a"));
}

#[test]
fn directory_replaced_by_symlink() {
    let lower = layer(&[
        Item::Dir("usr/"),
        Item::Dir("usr/lib/"),
        Item::File("usr/lib/real", b"real"),
        Item::Dir("lib/"),
        Item::File("lib/stale", b"stale"),
    ]);
    let upper = layer(&[Item::Symlink("lib", "usr/lib")]);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/lib", "/usr", "/usr/lib", "/usr/lib/real"]);
    assert_eq!(
        tree.entry("/lib").unwrap().kind,
        FileKind::Symlink("usr/lib".into())
    );
    assert_eq!(tree.read("/lib/real"), Some(&b"real"[..]));
    assert!(tree.resolve("/lib/stale").is_none());
}

#[test]
fn file_replaced_by_directory() {
    let lower = layer(&[Item::File("conf", b"was a file")]);
    let upper = layer(&[Item::Dir("conf/"), Item::File("conf/inner", b"inner")]);
    let tree = squash(&[lower, upper]);
    assert_eq!(paths(&tree), ["/conf", "/conf/inner"]);
    assert_eq!(tree.entry("/conf").unwrap().kind, FileKind::Directory);
    assert!(!tree.contents.contains_key("/conf"));
}

#[test]
fn upper_file_wins_and_records_layer() {
    let lower = layer(&[
        Item::Dir("etc/"),
        Item::File("etc/version", b"1"),
        Item::File("etc/base", b"base"),
    ]);
    let upper = layer(&[Item::Dir("etc/"), Item::File("etc/version", b"2")]);
    let tree = squash(&[lower.clone(), upper.clone()]);
    assert_eq!(tree.read("/etc/version"), Some(&b"2"[..]));
    assert_eq!(tree.entry("/etc/version").unwrap().layer, 1);
    assert_eq!(tree.entry("/etc/base").unwrap().layer, 0);
    assert_eq!(tree.layer_of("/etc/version"), Some(&scan(&upper).diff_id));
    assert_eq!(tree.layer_of("/etc/base"), Some(&scan(&lower).diff_id));
}

#[test]
fn hardlink_shares_contents_in_layer() {
    let bytes = layer(&[
        Item::Dir("data/"),
        Item::File("data/original", b"shared bytes"),
        Item::Hardlink("data/link", "data/original"),
        Item::Hardlink("./data/link2", "./data/original"),
    ]);
    let scanned = scan(&bytes);
    let link = scanned
        .entries
        .iter()
        .find(|entry| entry.path == "/data/link")
        .unwrap();
    assert_eq!(link.hardlink_to, Some("/data/original"));
    assert_eq!(link.size, 12);
    assert_eq!(link.kind, LayerEntryKind::Regular);
    let tree = squash(&[bytes]);
    assert_eq!(tree.read("/data/link"), Some(&b"shared bytes"[..]));
    assert_eq!(tree.read("/data/link2"), Some(&b"shared bytes"[..]));
    assert_eq!(
        tree.entry("/data/link2").unwrap().hardlink_to.as_deref(),
        Some("/data/original")
    );
}

#[test]
fn hardlink_to_uncaptured_target_warns() {
    let bytes = layer(&[
        Item::Dir("data/"),
        Item::File("data/big", b"not wanted"),
        Item::Hardlink("data/wanted", "data/big"),
    ]);
    let wants = |path: &str| path == "/data/wanted";
    let scanned = scan_layer(&bytes[..], &wants, &Limits::default()).unwrap();
    assert!(scanned.contents.is_empty());
    assert_eq!(scanned.warnings.len(), 1);
    assert_eq!(scanned.warnings[0].path, "/data/wanted");
    assert!(
        scanned.warnings[0].message.contains("/data/big"),
        "{}",
        scanned.warnings[0].message
    );
}

/// Scans `bytes` with only the `requested` paths captured, then reads them again for the links
/// whose targets the walk did not keep.
fn scan_and_recover(bytes: &[u8], requested: &[&str]) -> (LayerScan, usize) {
    let wants = |path: &str| requested.contains(&path);
    let mut scanned = scan_layer(bytes, &wants, &Limits::default()).unwrap();
    let recovered = recover_links(&mut scanned, bytes, &Limits::default()).unwrap();
    (scanned, recovered)
}

#[test]
fn uncaptured_hardlink_target_is_read_again() {
    let bytes = layer(&[
        Item::Dir("data/"),
        Item::File("data/big", b"not wanted"),
        Item::Hardlink("data/wanted", "data/big"),
    ]);
    let (scanned, recovered) = scan_and_recover(&bytes, &["/data/wanted"]);
    assert_eq!(recovered, 1);
    assert_eq!(
        scanned.contents.get("/data/wanted").map(|bytes| &bytes[..]),
        Some(&b"not wanted"[..])
    );
    assert!(!scanned.contents.contains_key("/data/big"));
    assert!(scanned.warnings.is_empty(), "{:?}", scanned.warnings);
    assert!(scanned.uncaptured_links.is_empty());
}

#[test]
fn recovery_follows_chains_and_order() {
    let bytes = layer(&[
        // A chain: c -> b -> a, none of them wanted but c.
        Item::File("a", b"first a"),
        Item::Hardlink("b", "a"),
        Item::Hardlink("./c", "/b"),
        // A link made before its target is replaced keeps the old contents.
        Item::File("t", b"old t"),
        Item::Hardlink("early", "t"),
        Item::File("t", b"new t"),
        Item::Hardlink("late", "t"),
        // A link replaced later by a directory is not given its target's contents.
        Item::File("u", b"u data"),
        Item::Hardlink("gone", "u"),
        Item::Dir("gone/"),
    ]);
    let requested = ["/c", "/early", "/late", "/gone"];
    let (scanned, recovered) = scan_and_recover(&bytes, &requested);
    let read = |path: &str| scanned.contents.get(path).map(|bytes| bytes.to_vec());
    assert_eq!(recovered, 3);
    assert_eq!(read("/c"), Some(b"first a".to_vec()));
    assert_eq!(read("/early"), Some(b"old t".to_vec()));
    assert_eq!(read("/late"), Some(b"new t".to_vec()));
    assert_eq!(read("/gone"), None);
    assert_eq!(read("/a"), None);
    assert_eq!(read("/t"), None);
}

#[test]
fn recovery_reads_compressed_layers_and_honours_limit() {
    let bytes = layer(&[
        Item::File("big", b"0123456789"),
        Item::Hardlink("wanted", "big"),
    ]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    let gzip = encoder.finish().unwrap();
    let (scanned, recovered) = scan_and_recover(&gzip, &["/wanted"]);
    assert_eq!(recovered, 1);
    assert_eq!(
        scanned.contents.get("/wanted").map(|bytes| &bytes[..]),
        Some(&b"0123456789"[..])
    );

    // A target larger than the capture limit stays without contents, with its warning.
    let limits = Limits {
        max_captured_file: 9,
        ..Limits::default()
    };
    let wants = |path: &str| path == "/wanted";
    let mut scanned = scan_layer(&bytes[..], &wants, &limits).unwrap();
    assert_eq!(recover_links(&mut scanned, &bytes[..], &limits).unwrap(), 0);
    assert!(scanned.contents.is_empty());
    assert_eq!(scanned.warnings.len(), 1);
}

/// A `docker save` file can be read again, so a wanted hardlink gets its target's contents. The
/// same archive read as a stream cannot, and the link stays without contents.
#[test]
fn archive_file_recovers_hardlinked_contents() {
    let bytes = layer(&[
        Item::Dir("data/"),
        Item::File("data/big", b"not wanted"),
        Item::Hardlink("data/wanted", "data/big"),
    ]);
    let archive = one_layer_archive(&bytes, &Digest::of(&bytes));
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("image.tar");
    std::fs::write(&path, &archive).unwrap();
    let wants = |path: &str| path == "/data/wanted";

    let from_file =
        read_docker_archive_file(&path, None, None, &wants, &Limits::default()).unwrap();
    assert_eq!(
        from_file.tree.read("/data/wanted"),
        Some(&b"not wanted"[..])
    );

    let from_stream = read_docker_archive(
        &archive[..],
        "docker-archive:test.tar".into(),
        None,
        None,
        &wants,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(from_stream.tree.read("/data/wanted"), None);
}

/// Writes an OCI image layout of one plain layer into `folder` and returns its files, by path
/// inside the layout.
fn write_oci_layout(folder: &std::path::Path, layer_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let layer_digest = Digest::of(layer_bytes);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();

    let descriptor = |media_type: &str, bytes: &[u8]| {
        serde_json::json!({
            "mediaType": media_type,
            "digest": Digest::of(bytes),
            "size": bytes.len(),
        })
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer_bytes)],
    }))
    .unwrap();
    let mut manifest_descriptor =
        descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
    manifest_descriptor["annotations"] =
        serde_json::json!({"org.opencontainers.image.ref.name": "1"});
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_descriptor],
    }))
    .unwrap();

    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", Digest::of(bytes).hex());
    let files = vec![
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_owned(), index),
        (blob(&manifest), manifest.clone()),
        (blob(&config), config.clone()),
        (blob(layer_bytes), layer_bytes.to_vec()),
    ];
    for (name, bytes) in &files {
        let path = folder.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    files
}

/// An OCI layout directory and an OCI archive file can be read again too. An OCI archive read
/// as a stream cannot.
#[test]
fn oci_sources_recover_hardlinked_contents() {
    let bytes = layer(&[
        Item::Dir("data/"),
        Item::File("data/big", b"not wanted"),
        Item::Hardlink("data/wanted", "data/big"),
    ]);
    let folder = tempfile::tempdir().unwrap();
    let layout = folder.path().join("layout");
    let files = write_oci_layout(&layout, &bytes);
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in &files {
        let mut header = Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &data[..]).unwrap();
    }
    let archive = builder.into_inner().unwrap();
    let archive_path = folder.path().join("image.oci.tar");
    std::fs::write(&archive_path, &archive).unwrap();
    let wants = |path: &str| path == "/data/wanted";
    let limits = Limits::default();

    let from_dir = read_oci_dir(&layout, None, None, &wants, &limits).unwrap();
    assert_eq!(from_dir.tree.read("/data/wanted"), Some(&b"not wanted"[..]));

    let from_file = read_oci_archive_file(&archive_path, None, None, &wants, &limits).unwrap();
    assert_eq!(
        from_file.tree.read("/data/wanted"),
        Some(&b"not wanted"[..])
    );

    let description = "oci-archive:test.tar".to_owned();
    let from_stream =
        read_oci_archive(&archive[..], description, None, None, &wants, &limits).unwrap();
    assert_eq!(from_stream.tree.read("/data/wanted"), None);
}

#[test]
fn hardlink_to_missing_target_warns() {
    let bytes = layer(&[Item::Hardlink("orphan", "nowhere")]);
    let scanned = scan(&bytes);
    assert_eq!(scanned.warnings.len(), 1);
    assert_eq!(scanned.warnings[0].path, "/orphan");
    let tree = squash(&[bytes]);
    assert_eq!(tree.entry("/orphan").unwrap().kind, FileKind::Regular);
}

#[test]
fn dot_slash_prefixes_are_normalised() {
    let bytes = layer(&[
        Item::Dir("./"),
        Item::Dir("./etc/"),
        Item::File("./etc/os-release", b"ID=test\n"),
        Item::File(".//etc/./hosts", b"hosts"),
    ]);
    let tree = squash(&[bytes]);
    assert_eq!(paths(&tree), ["/etc", "/etc/hosts", "/etc/os-release"]);
    assert_eq!(tree.read("/etc/os-release"), Some(&b"ID=test\n"[..]));
}

#[test]
fn symlink_loop_and_dangling_are_not_fatal() {
    let bytes = layer(&[
        Item::Dir("loop/"),
        Item::Symlink("loop/a", "b"),
        Item::Symlink("loop/b", "a"),
        Item::Dir("etc/"),
        Item::Symlink("etc/dangling", "/nonexistent"),
        Item::File("etc/real", b"real"),
    ]);
    let tree = squash(&[bytes]);
    assert_eq!(
        tree.entry("/loop/a").unwrap().kind,
        FileKind::Symlink("b".into())
    );
    assert!(tree.resolve("/loop/a").is_none());
    assert!(tree.read("/loop/b").is_none());
    assert!(tree.resolve("/etc/dangling").is_none());
    assert_eq!(tree.read("/etc/real"), Some(&b"real"[..]));
}

#[test]
fn traversal_names_stay_inside_tree() {
    let bytes = layer(&[
        Item::File("../../etc/x", b"climbed"),
        Item::File("/abs/name", b"absolute"),
        Item::File("a/../../b", b"mixed"),
        Item::Symlink("escape", "../../../../etc/x"),
    ]);
    let tree = squash(&[bytes]);
    assert_eq!(
        paths(&tree),
        ["/abs", "/abs/name", "/b", "/escape", "/etc", "/etc/x"]
    );
    assert_eq!(tree.read("/etc/x"), Some(&b"climbed"[..]));
    assert_eq!(tree.read("/abs/name"), Some(&b"absolute"[..]));
    assert_eq!(tree.read("/escape"), Some(&b"climbed"[..]));
}

#[test]
fn missing_parents_are_implied() {
    let bytes = layer(&[Item::File("usr/share/doc/pkg/copyright", b"c")]);
    let tree = squash(&[bytes]);
    assert_eq!(
        paths(&tree),
        [
            "/usr",
            "/usr/share",
            "/usr/share/doc",
            "/usr/share/doc/pkg",
            "/usr/share/doc/pkg/copyright"
        ]
    );
    assert_eq!(tree.entry("/usr/share").unwrap().kind, FileKind::Directory);
}

#[test]
fn compression_detected_from_magic() {
    let plain = layer(&[
        Item::Dir("etc/"),
        Item::File("etc/os-release", b"ID=test\n"),
    ]);
    let zstd = zstd::encode_all(&plain[..], 3).unwrap();
    let gzip = gzip(&plain);
    let expected_diff_id = Digest::of(&plain);
    for (bytes, compression) in [
        (&plain, Compression::None),
        (&gzip, Compression::Gzip),
        (&zstd, Compression::Zstd),
    ] {
        let scanned = scan(bytes);
        assert_eq!(scanned.compression, compression);
        assert_eq!(scanned.diff_id, expected_diff_id, "{compression:?}");
        assert_eq!(scanned.blob_digest, Digest::of(bytes), "{compression:?}");
        assert_eq!(scanned.blob_size, bytes.len() as u64);
        assert_eq!(scanned.uncompressed_size, plain.len() as u64);
        assert_eq!(scanned.contents["/etc/os-release"][..], b"ID=test\n"[..]);
    }
}

#[test]
fn diff_id_covers_padding_after_end_blocks() {
    let mut padded = layer(&[Item::File("f", b"x")]);
    // GNU tar pads archives to a 10240-byte record; the padding is part of the diffID.
    padded.resize(10240, 0);
    let scanned = scan(&padded);
    assert_eq!(scanned.uncompressed_size, 10240);
    assert_eq!(scanned.diff_id, Digest::of(&padded));
}

#[test]
fn truncated_gzip_is_an_error() {
    let compressed = gzip(&layer(&[Item::File("f", &[7u8; 40_000])]));
    let cut = &compressed[..compressed.len() / 2];
    let error = scan_layer(cut, &want_all, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            error,
            LayerError::Read {
                compression: Compression::Gzip,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn truncated_tar_is_an_error() {
    let plain = layer(&[
        Item::File("first", &[1u8; 3000]),
        Item::File("second", &[2u8; 3000]),
    ]);
    for cut in [100, 700, 1500, 4096, plain.len() - 1024] {
        let result = scan_layer(&plain[..cut], &want_all, &Limits::default());
        assert!(result.is_err(), "cut at {cut} was accepted");
    }
}

#[test]
fn large_wanted_file_is_not_captured() {
    let bytes = layer(&[
        Item::File("big", &[0u8; 2048]),
        Item::File("small", b"tiny"),
    ]);
    let limits = Limits {
        max_captured_file: 1024,
        ..Limits::default()
    };
    let scanned = scan_layer(&bytes[..], &want_all, &limits).unwrap();
    assert!(!scanned.contents.contains_key("/big"));
    assert_eq!(scanned.contents["/small"][..], b"tiny"[..]);
    assert_eq!(scanned.warnings.len(), 1);
    assert_eq!(scanned.warnings[0].path, "/big");
}

#[test]
fn only_wanted_files_are_captured() {
    let bytes = layer(&[
        Item::File("etc/os-release", b"ID=x"),
        Item::File("etc/other", b"other"),
    ]);
    let wants = |path: &str| path.ends_with("os-release");
    let scanned = scan_layer(&bytes[..], &wants, &Limits::default()).unwrap();
    assert_eq!(scanned.contents.len(), 1);
    assert!(scanned.contents.contains_key("/etc/os-release"));
    assert_eq!(scanned.entries.len(), 2);
}

#[test]
fn gnu_and_pax_long_names_work() {
    let long_dir = "d".repeat(120);
    let gnu_name = format!("{long_dir}/gnu-file");
    let pax_name = format!("{long_dir}/{}", "p".repeat(150));
    let mut builder = tar::Builder::new(Vec::new());
    let mut gnu_header = Header::new_gnu();
    gnu_header.set_size(3);
    gnu_header.set_mode(0o644);
    builder
        .append_data(&mut gnu_header, &gnu_name, &b"gnu"[..])
        .unwrap();

    let record = pax_record("path", &pax_name);
    let mut extension = Header::new_ustar();
    extension.set_path("PaxHeaders/x").unwrap();
    extension.set_entry_type(EntryType::XHeader);
    extension.set_size(record.len() as u64);
    extension.set_cksum();
    builder.append(&extension, &record[..]).unwrap();
    let mut pax_header = Header::new_ustar();
    pax_header.set_path("truncated-name").unwrap();
    pax_header.set_size(3);
    pax_header.set_mode(0o644);
    pax_header.set_cksum();
    builder.append(&pax_header, &b"pax"[..]).unwrap();
    let bytes = builder.into_inner().unwrap();

    let tree = squash(&[bytes]);
    assert_eq!(tree.read(&format!("/{gnu_name}")), Some(&b"gnu"[..]));
    assert_eq!(tree.read(&format!("/{pax_name}")), Some(&b"pax"[..]));
    assert!(tree.entry("/truncated-name").is_none());
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut length = body.len() + 1;
    while format!("{length}{body}").len() != length {
        length += 1;
    }
    format!("{length}{body}").into_bytes()
}

#[test]
fn entry_metadata_is_recorded() {
    let bytes = layer(&[Item::File("bin/tool", b"#!/bin/sh\n")]);
    let scanned = scan(&bytes);
    let entry = scanned.entries.get(0).unwrap();
    assert_eq!(entry.path, "/bin/tool");
    assert_eq!(entry.mode, 0o644);
    assert_eq!(entry.uid, 1000);
    assert_eq!(entry.gid, 1001);
    assert_eq!(entry.size, 10);
}

#[test]
fn path_repeated_in_layer_keeps_last() {
    let bytes = layer(&[
        Item::File("f", b"first"),
        Item::File("f", b"second"),
        Item::File("g", b"file"),
        Item::Symlink("g", "f"),
    ]);
    let tree = squash(&[bytes]);
    assert_eq!(tree.read("/f"), Some(&b"second"[..]));
    assert_eq!(
        tree.entry("/g").unwrap().kind,
        FileKind::Symlink("f".into())
    );
    assert!(!tree.contents.contains_key("/g"));
}

/// Builds a classic `docker save` tarball with one layer, its config listing `diff_id`.
fn one_layer_archive(layer_bytes: &[u8], diff_id: &Digest) -> Vec<u8> {
    layer_archive(
        layer_bytes,
        std::slice::from_ref(diff_id),
        &["abc/layer.tar"],
    )
}

/// Builds a classic `docker save` tarball with one layer member, listed under `layers` in
/// manifest.json, and a config listing `diff_ids`.
fn layer_archive(layer_bytes: &[u8], diff_ids: &[Digest], layers: &[&str]) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["test/one:1"],
        "Layers": layers,
    }]);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("abc/layer.tar", layer_bytes),
        (config_name.as_str(), &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut header = Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn read_test_archive(archive: &[u8]) -> Result<inline_scan::source::SourceImage, SourceError> {
    read_docker_archive(
        archive,
        "docker-archive:test.tar".into(),
        None,
        None,
        &want_all,
        &Limits::default(),
    )
}

#[test]
fn empty_layer_without_magic_is_read() {
    // An empty tar is two zero blocks: no `ustar` magic, so the archive keeps it in memory.
    let empty = layer(&[]);
    assert_eq!(empty.len(), 1024);
    let image = read_test_archive(&one_layer_archive(&empty, &Digest::of(&empty))).unwrap();
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].diff_id, Digest::of(&empty));
    assert!(image.tree.entries.is_empty());
}

#[test]
fn layer_listed_twice_is_squashed_twice() {
    let bytes = layer(&[Item::File("f", b"same")]);
    let diff_id = Digest::of(&bytes);
    let archive = layer_archive(
        &bytes,
        &[diff_id.clone(), diff_id.clone()],
        &["abc/layer.tar", "abc/layer.tar"],
    );
    let image = read_test_archive(&archive).unwrap();
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.tree.layers, [diff_id.clone(), diff_id]);
    assert_eq!(image.tree.entry("/f").unwrap().layer, 1);
    assert_eq!(image.tree.read("/f"), Some(&b"same"[..]));
}

#[test]
fn corrupt_layer_error_names_layer() {
    let plain = layer(&[Item::File("f", &[9u8; 50_000])]);
    let compressed = gzip(&plain);
    let cases = [
        (
            "truncated gzip",
            compressed[..compressed.len() / 2].to_vec(),
        ),
        ("truncated tar", plain[..plain.len() - 2048].to_vec()),
    ];
    for (case, broken) in cases {
        let archive = one_layer_archive(&broken, &Digest::of(&plain));
        let error = read_test_archive(&archive)
            .err()
            .expect("the read should fail");
        assert!(
            matches!(error, SourceError::LayerCorrupt { .. }),
            "{case}: {error}"
        );
        let message = error.to_string();
        assert!(message.contains("abc/layer.tar"), "{case}: {message}");
        assert!(
            message.contains("docker-archive:test.tar"),
            "{case}: {message}"
        );
    }
}
