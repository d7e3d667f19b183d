//! Hostile and damaged images, built inside each test and analyzed by the real binary against
//! the fake Anchore. Every case either fails with an exit code and a message naming the input,
//! or is analyzed safely. No case leaves an import operation open.

mod common;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::binary::{self, PASSWORD, assert_no_open_operation, code, stderr};
use common::built_image::{Layer, Member, docker_archive, layer_tar, oci_layout};
use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig};
use serde_json::Value;

const DPKG_STATUS: &[u8] =
    include_bytes!("fixtures/catalog/dpkg/bookworm-minbase/var/lib/dpkg/status");
const APK_INSTALLED: &[u8] = include_bytes!("fixtures/catalog/apk/multiple-1/lib/apk/db/installed");
const RPM_SQLITE: &[u8] =
    include_bytes!("fixtures/catalog/rpm/sqlite-sbomtest/var/lib/rpm/rpmdb.sqlite");
const OS_RELEASE: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n";

/// One analysis through the binary: its output, the SBOM and result it wrote (when it wrote
/// them) and the fake it imported into.
struct Run {
    output: Output,
    sbom: Option<Value>,
    result: Option<Value>,
    fake: FakeAnchore,
}

impl Run {
    fn stderr(&self) -> String {
        stderr(&self.output)
    }

    fn code(&self) -> i32 {
        code(&self.output)
    }

    fn sbom(&self) -> &Value {
        self.sbom.as_ref().expect("the run wrote an SBOM")
    }

    /// (type, name) of every package in the SBOM.
    fn packages(&self) -> BTreeSet<(String, String)> {
        self.sbom()["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .map(|artifact| {
                (
                    artifact["type"].as_str().unwrap().to_owned(),
                    artifact["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn packages_of(&self, kind: &str) -> BTreeSet<String> {
        self.packages()
            .into_iter()
            .filter(|(package_type, _)| package_type == kind)
            .map(|(_, name)| name)
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.result.as_ref().expect("the run wrote a result")["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|warning| warning.as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Analyzes `image` (an IMAGE argument) and imports it into a fresh fake, with `extra`
/// options appended.
async fn analyze(image: &str, extra: &[&str]) -> Run {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let out = tempfile::tempdir().unwrap();
    let sbom_path = out.path().join("sbom.json");
    let result_path = out.path().join("result.json");
    let sbom_arg = format!("syft-json={}", sbom_path.display());
    let result_arg = result_path.display().to_string();
    let mut args = vec![
        "analyze",
        image,
        "-r",
        &fake.url,
        "-u",
        "admin",
        "--sbom-out",
        &sbom_arg,
        "--result-json",
        &result_arg,
        "--report",
        "none",
    ];
    args.extend_from_slice(extra);
    let output = binary::run(&args, &[("ANCHORECTL_PASSWORD", PASSWORD)]).await;
    let read = |path: &Path| {
        std::fs::read(path)
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).expect("valid JSON output"))
    };
    Run {
        sbom: read(&sbom_path),
        result: read(&result_path),
        output,
        fake,
    }
}

/// Writes `archive` into a temporary folder and returns the folder and the IMAGE argument.
fn archive_arg(archive: &[u8]) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    std::fs::write(&path, archive).unwrap();
    let arg = format!("docker-archive:{}", path.display());
    (dir, arg, path)
}

/// Asserts a failed run: exit `expected`, a message containing each of `needles`, no SBOM and
/// no import operation at all.
fn assert_rejected(run: &Run, expected: i32, needles: &[&str]) {
    let stderr = run.stderr();
    assert_eq!(run.code(), expected, "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    assert!(
        run.sbom.is_none(),
        "an SBOM was written for a rejected image"
    );
    assert!(
        !stderr.contains("\n  packages  "),
        "the summary of a rejected image counts packages: {stderr}"
    );
    assert!(
        run.fake.operations().is_empty(),
        "an import was started: {:?}",
        run.fake.operations()
    );
    assert_no_open_operation(&run.fake);
}

/// Asserts a successful run whose import reached `analyzed` on the fake.
fn assert_imported(run: &Run) {
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.fake.operations().len(), 1);
    assert_no_open_operation(&run.fake);
}

fn base_layer() -> Vec<u8> {
    layer_tar(&[
        Member::Dir("etc"),
        Member::File("etc/os-release", OS_RELEASE),
        Member::Dir("var/lib/dpkg"),
        Member::File("var/lib/dpkg/status", DPKG_STATUS),
    ])
}

/// Returns the byte offset of the `nth` (0-based) occurrence of `needle` in `haystack`.
fn nth_offset(haystack: &[u8], needle: &[u8], nth: usize) -> usize {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .nth(nth)
        .map(|(offset, _)| offset)
        .expect("needle occurs often enough")
}

/// Returns the offset of the tar header of the member named `name` in `tar`.
fn header_offset(tar: &[u8], name: &str) -> usize {
    (0..tar.len())
        .step_by(512)
        .find(|&offset| tar[offset..].starts_with(name.as_bytes()))
        .expect("member header")
}

#[tokio::test]
async fn archive_cut_mid_header_exit_2() {
    let archive = docker_archive(&[Layer::gzip(&base_layer())], "hostile/cut:1");
    // Cut inside the header of the second member, the first layer.
    let cut = header_offset(&archive, "0/layer.tar") + 100;
    let (_dir, arg, path) = archive_arg(&archive[..cut]);
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &[&path.display().to_string()]);
}

#[tokio::test]
async fn archive_cut_mid_layer_data_exit_2() {
    let archive = docker_archive(&[Layer::gzip(&base_layer())], "hostile/cut:1");
    let cut = header_offset(&archive, "0/layer.tar") + 512 + 40;
    let (_dir, arg, path) = archive_arg(&archive[..cut]);
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &[&path.display().to_string()]);
}

#[tokio::test]
async fn layer_tar_cut_mid_header_exit_2() {
    let tar = base_layer();
    let cut = header_offset(&tar, "var/lib/dpkg/status") + 200;
    let mut layer = Layer::plain(tar[..cut].to_vec());
    layer.diff_id = Layer::plain(tar).diff_id;
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/cut:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &["0/layer.tar"]);
}

#[tokio::test]
async fn layer_tar_cut_mid_data_exit_2() {
    let tar = base_layer();
    let cut = header_offset(&tar, "var/lib/dpkg/status") + 512 + 300;
    let truncated = Layer::gzip(&tar[..cut]);
    let layer = Layer {
        diff_id: Layer::plain(tar).diff_id,
        ..truncated
    };
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/cut:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &["0/layer.tar"]);
}

/// Flips bytes in the middle of a compressed blob, keeping its magic bytes.
fn corrupt_middle(layer: &mut Layer) {
    let middle = layer.stored.len() / 2;
    for byte in &mut layer.stored[middle..middle + 16] {
        *byte ^= 0x5a;
    }
}

#[tokio::test]
async fn corrupt_gzip_layer_exit_2() {
    let mut layer = Layer::gzip(&base_layer());
    corrupt_middle(&mut layer);
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/gzip:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &["0/layer.tar", "gzip"]);
}

#[tokio::test]
async fn corrupt_zstd_layer_exit_2() {
    let mut layer = Layer::zstd(&base_layer());
    corrupt_middle(&mut layer);
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/zstd:1"));
    let run = analyze(&arg, &[]).await;
    // A zstd frame written without a checksum may decode damaged bytes without an error, so
    // the failure can come from the decoder or from the diffID check after it.
    assert_rejected(&run, 2, &["0/layer.tar"]);
}

#[tokio::test]
async fn docker_archive_diff_id_mismatch_exit_2() {
    let good = Layer::gzip(&base_layer());
    let other = Layer::plain(layer_tar(&[Member::File("other", b"other")]));
    let layer = Layer {
        diff_id: other.diff_id.clone(),
        ..good.clone()
    };
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/diffid:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &[good.diff_id.hex(), other.diff_id.hex()]);
}

/// An uncompressed layer of a `docker save` file is hashed on another thread while the image
/// is cataloged, so its diffID is checked only after cataloging. The run must still stop before
/// it writes the SBOM or starts an import.
#[tokio::test]
async fn plain_layer_diff_id_mismatch_exit_2() {
    let good = Layer::plain(base_layer());
    let other = Layer::plain(layer_tar(&[Member::File("other", b"other")]));
    let layer = Layer {
        diff_id: other.diff_id.clone(),
        ..good.clone()
    };
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/plain-diffid:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &[good.diff_id.hex(), other.diff_id.hex()]);
}

#[tokio::test]
async fn plain_layer_without_end_blocks_exit_2() {
    let tar = base_layer();
    let stripped = tar[..tar.len() - 1024].to_vec();
    assert!(
        stripped[stripped.len() - 512..]
            .iter()
            .any(|&byte| byte != 0),
        "the last block left must hold data"
    );
    let layer = Layer::plain(stripped);
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/no-end:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &["0/layer.tar", "end-of-archive"]);
}

#[tokio::test]
async fn oci_layer_blob_digest_mismatch_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layer = Layer::gzip(&base_layer());
    oci_layout(&layout, std::slice::from_ref(&layer), "1");
    // Replace the blob's contents, keeping its name: a valid layer whose sha256 differs.
    let blob_digest = inline_scan::digest::Digest::of(&layer.stored);
    let replaced = Layer::gzip(&layer_tar(&[Member::File("swapped", b"swapped")]));
    std::fs::write(
        layout.join("blobs/sha256").join(blob_digest.hex()),
        &replaced.stored,
    )
    .unwrap();
    let run = analyze(&format!("oci-dir:{}", layout.display()), &[]).await;
    assert_rejected(&run, 2, &[blob_digest.hex()]);
}

#[tokio::test]
async fn oci_index_missing_manifest_blob() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let manifest = oci_layout(&layout, &[Layer::gzip(&base_layer())], "1");
    std::fs::remove_file(layout.join("blobs/sha256").join(manifest.hex())).unwrap();
    let run = analyze(&format!("oci-dir:{}", layout.display()), &[]).await;
    assert_rejected(&run, 2, &[manifest.hex()]);
}

#[tokio::test]
async fn oci_index_missing_layer_blob() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layer = Layer::gzip(&base_layer());
    oci_layout(&layout, std::slice::from_ref(&layer), "1");
    let blob = inline_scan::digest::Digest::of(&layer.stored);
    std::fs::remove_file(layout.join("blobs/sha256").join(blob.hex())).unwrap();
    let run = analyze(&format!("oci-dir:{}", layout.display()), &[]).await;
    assert_rejected(&run, 2, &[blob.hex()]);
}

#[tokio::test]
async fn traversal_names_stay_in_image() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    let layer = layer_tar(&[
        Member::RawName(b"../../escaped-relative", b"outside"),
        Member::RawName(b"/escaped-absolute", b"outside"),
        Member::RawName(b"../../../etc/os-release", OS_RELEASE),
        Member::RawName(b"/../var/lib/dpkg/../dpkg/status", DPKG_STATUS),
    ]);
    let archive = nested.join("image.tar");
    std::fs::write(
        &archive,
        docker_archive(&[Layer::plain(layer)], "hostile/dots:1"),
    )
    .unwrap();

    let run = analyze(&format!("docker-archive:{}", archive.display()), &[]).await;
    assert_imported(&run);
    // The names were read as paths inside the image, so its packages and distro are found.
    assert!(!run.packages_of("deb").is_empty(), "{}", run.stderr());
    assert_eq!(run.sbom()["distro"]["id"], "debian");
    for artifact in run.sbom()["artifacts"].as_array().unwrap() {
        let path = artifact["locations"][0]["path"].as_str().unwrap();
        assert!(path.starts_with('/'), "{path}");
        assert!(!path.contains(".."), "{path}");
    }
    // Nothing was written next to, or above, the archive.
    for place in [&nested, &dir.path().join("a"), &dir.path().to_path_buf()] {
        assert!(!place.join("escaped-relative").exists());
    }
    assert!(!Path::new("/escaped-absolute").exists());
}

#[tokio::test]
async fn links_out_of_root_never_read_host() {
    // A host file the image points at. The image must never see its contents.
    let host = tempfile::tempdir().unwrap();
    let host_release = host.path().join("os-release");
    std::fs::write(&host_release, b"ID=hostleak\nVERSION_ID=\"99\"\n").unwrap();
    let absolute = host_release.display().to_string();
    let relative = format!("../../../../../../..{absolute}");
    let layer = layer_tar(&[
        Member::Dir("etc"),
        Member::Symlink("etc/os-release", &absolute),
        Member::Symlink("usr/lib/os-release", &relative),
        Member::Hardlink("etc/hard-release", &relative),
        Member::Hardlink("etc/hard-absolute", &absolute),
        Member::Dir("var/lib/dpkg"),
        Member::File("var/lib/dpkg/status", DPKG_STATUS),
    ]);
    let (_dir, arg, _) = archive_arg(&docker_archive(&[Layer::plain(layer)], "hostile/links:1"));
    let run = analyze(&arg, &[]).await;
    assert_imported(&run);
    let sbom = serde_json::to_string(run.sbom()).unwrap();
    assert!(!sbom.contains("hostleak"), "the host's file was read");
    assert_ne!(run.sbom()["distro"]["id"], "hostleak");
    assert!(!run.packages_of("deb").is_empty());
}

#[tokio::test]
async fn symlink_loops_are_not_fatal() {
    let layer = layer_tar(&[
        Member::Dir("etc"),
        Member::Symlink("etc/os-release", "os-release"),
        Member::Symlink("usr/lib/os-release", "../../usr/lib/os-release/x"),
        Member::Symlink("loop/a", "b"),
        Member::Symlink("loop/b", "/loop/a"),
        Member::Symlink("var/lib/dpkg", "../../var/lib/dpkg"),
        Member::Dir("lib/apk/db"),
        Member::File("lib/apk/db/installed", APK_INSTALLED),
    ]);
    let (_dir, arg, _) = archive_arg(&docker_archive(&[Layer::plain(layer)], "hostile/loops:1"));
    let run = analyze(&arg, &[]).await;
    assert_imported(&run);
    assert!(!run.packages_of("apk").is_empty(), "{}", run.stderr());
}

/// Builds a layer of one `size`-byte file of zeros, which gzip shrinks about a thousandfold.
fn zero_layer(size: usize) -> Layer {
    let zeros = vec![0u8; size];
    Layer::gzip(&layer_tar(&[
        Member::File("etc/os-release", OS_RELEASE),
        Member::File("zeros", &zeros),
    ]))
}

#[tokio::test]
async fn decompression_bomb_over_limit_exit_2() {
    let layer = zero_layer(64 << 20);
    assert!(layer.stored.len() < 1 << 20, "the bomb compresses well");
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/bomb:1"));
    let run = analyze(&arg, &["--max-layer-size", "8388608"]).await;
    assert_rejected(&run, 2, &["0/layer.tar", "8388608", "--max-layer-size"]);
    // A layer past the limit is rejected, not damaged: no advice to write the image again.
    assert!(
        !run.stderr().contains("truncated or corrupt"),
        "{}",
        run.stderr()
    );
}

#[tokio::test]
async fn same_layer_under_default_limit_passes() {
    let (_dir, arg, _) = archive_arg(&docker_archive(&[zero_layer(64 << 20)], "hostile/bomb:1"));
    let run = analyze(&arg, &[]).await;
    assert_imported(&run);
}

#[tokio::test]
async fn zero_max_layer_size_is_usage_error() {
    let (_dir, arg, _) = archive_arg(&docker_archive(&[zero_layer(1024)], "hostile/bomb:1"));
    let run = analyze(&arg, &["--max-layer-size", "0"]).await;
    assert_rejected(&run, 1, &["--max-layer-size"]);
}

/// Returns a path of about `length` bytes that normalizes to `target`, made of `./` steps.
fn padded_path(length: usize, target: &str) -> String {
    let mut path = "./".repeat(length / 2);
    path.push_str(target);
    path
}

/// Builds the layer of `megabyte_gnu_long_name_*`, whose dpkg database is named by a 3 MiB
/// GNU long name.
fn long_name_layer() -> Layer {
    let name = padded_path(3 << 20, "var/lib/dpkg/status");
    Layer::gzip(&layer_tar(&[
        Member::File("etc/os-release", OS_RELEASE),
        Member::GnuLongName(&name, DPKG_STATUS),
    ]))
}

/// Builds the layer of `megabyte_pax_path_*`, whose apk database is named by a 3 MiB PAX
/// `path` record.
fn pax_path_layer() -> Layer {
    let name = padded_path(3 << 20, "lib/apk/db/installed");
    Layer::gzip(&layer_tar(&[
        Member::File("etc/os-release", OS_RELEASE),
        Member::PaxPath(&name, APK_INSTALLED),
    ]))
}

#[tokio::test]
async fn megabyte_gnu_long_name_rejected() {
    let (_dir, arg, _) = archive_arg(&docker_archive(&[long_name_layer()], "hostile/long:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(
        &run,
        2,
        &[
            "0/layer.tar",
            "/etc/os-release",
            "1048576",
            "--max-tar-header-size",
        ],
    );
}

#[tokio::test]
async fn megabyte_gnu_long_name_read_when_allowed() {
    let (_dir, arg, _) = archive_arg(&docker_archive(&[long_name_layer()], "hostile/long:1"));
    let run = analyze(&arg, &["--max-tar-header-size", "8388608"]).await;
    assert_imported(&run);
    // The long name, not the short one in the header, names the file.
    assert!(!run.packages_of("deb").is_empty(), "{}", run.stderr());
}

#[tokio::test]
async fn megabyte_pax_path_rejected() {
    let (_dir, arg, _) = archive_arg(&docker_archive(&[pax_path_layer()], "hostile/pax:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(
        &run,
        2,
        &["0/layer.tar", "1048576", "--max-tar-header-size"],
    );
}

#[tokio::test]
async fn megabyte_pax_path_read_when_allowed() {
    let (_dir, arg, _) = archive_arg(&docker_archive(&[pax_path_layer()], "hostile/pax:1"));
    let run = analyze(&arg, &["--max-tar-header-size", "8388608"]).await;
    assert_imported(&run);
    assert!(!run.packages_of("apk").is_empty(), "{}", run.stderr());
}

#[tokio::test]
async fn gnu_long_name_bomb_rejected() {
    // A GNU long name entry of 256 MiB of zeros, about 256 KiB once compressed, streamed into
    // the encoder so the test never keeps it in memory whole.
    const SIZE: u64 = 256 << 20;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_size(SIZE);
    header.set_mode(0o644);
    header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    header.set_cksum();
    let mut tar = tar::Header::new_gnu();
    tar.set_path("etc/os-release").unwrap();
    tar.set_size(OS_RELEASE.len() as u64);
    tar.set_mode(0o644);
    tar.set_cksum();

    let mut diff_id = sha2::Sha256::default();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut write = |bytes: &[u8]| {
        sha2::Digest::update(&mut diff_id, bytes);
        encoder.write_all(bytes).unwrap();
    };
    write(tar.as_bytes());
    write(&pad_block(OS_RELEASE));
    write(header.as_bytes());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..SIZE / zeros.len() as u64 {
        write(&zeros);
    }
    let mut file = tar::Header::new_gnu();
    file.set_path("short").unwrap();
    file.set_size(0);
    file.set_cksum();
    write(file.as_bytes());
    write(&[0u8; 1024]);

    let layer = Layer {
        stored: encoder.finish().unwrap(),
        diff_id: inline_scan::digest::Digest::from_hasher(diff_id),
    };
    assert!(layer.stored.len() < 4 << 20, "the bomb compresses well");
    let (_dir, arg, _) = archive_arg(&docker_archive(&[layer], "hostile/namebomb:1"));
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &["0/layer.tar", "--max-tar-header-size"]);
}

/// Pads `data` with zeros to a whole number of tar blocks.
fn pad_block(data: &[u8]) -> Vec<u8> {
    let mut padded = data.to_vec();
    padded.resize(data.len().div_ceil(512) * 512, 0);
    padded
}

/// Analyzes an image whose first layer contains the databases in `damaged` and whose second
/// layer contains those in `healthy`, and the same image with `damaged` left whole.
async fn damaged_and_whole(
    damaged: &[(&str, &[u8], usize)],
    healthy: &[(&str, &[u8])],
) -> (Run, Run) {
    let second: Vec<Member<'_>> = healthy
        .iter()
        .map(|(path, data)| Member::File(path, data))
        .collect();
    let second = Layer::gzip(&layer_tar(&second));
    let mut runs = Vec::new();
    for cut in [true, false] {
        let mut first = vec![Member::File("etc/os-release", OS_RELEASE)];
        for (path, data, at) in damaged {
            let end = if cut { *at } else { data.len() };
            first.push(Member::File(path, &data[..end]));
        }
        let layers = [Layer::gzip(&layer_tar(&first)), second.clone()];
        let (_dir, arg, _) = archive_arg(&docker_archive(&layers, "hostile/db:1"));
        runs.push(analyze(&arg, &[]).await);
    }
    let whole = runs.pop().unwrap();
    let cut = runs.pop().unwrap();
    (cut, whole)
}

/// Asserts that the damaged run still exits 0, warns about `path`, keeps every `kept`
/// package of the whole run and loses some of `lost`.
fn assert_partial(cut: &Run, whole: &Run, path: &str, kept: &str, lost: &str) {
    assert_imported(cut);
    assert_imported(whole);
    let warnings = cut.warnings();
    assert!(
        warnings.iter().any(|warning| warning.contains(path)),
        "no warning names {path}: {warnings:?}"
    );
    assert!(cut.stderr().contains(path), "{}", cut.stderr());
    assert!(!whole.packages_of(kept).is_empty());
    assert_eq!(cut.packages_of(kept), whole.packages_of(kept));
    assert!(
        cut.packages_of(lost).is_subset(&whole.packages_of(lost)),
        "packages appeared from a damaged database"
    );
    assert!(cut.packages_of(lost).len() < whole.packages_of(lost).len());
}

#[tokio::test]
async fn dpkg_status_cut_mid_record_warns() {
    // Cut inside the key of the 41st stanza's Version line.
    let at = nth_offset(DPKG_STATUS, b"\nVersion:", 40) + 5;
    let (cut, whole) = damaged_and_whole(
        &[("var/lib/dpkg/status", DPKG_STATUS, at)],
        &[("lib/apk/db/installed", APK_INSTALLED)],
    )
    .await;
    assert_partial(&cut, &whole, "/var/lib/dpkg/status", "apk", "deb");
    // The stanzas before the cut are still read.
    assert!(cut.packages_of("deb").len() >= 40, "{:?}", cut.packages());
}

#[tokio::test]
async fn apk_installed_cut_mid_record_warns() {
    let at = nth_offset(APK_INSTALLED, b"\nV:", 2) + 2;
    let (cut, whole) = damaged_and_whole(
        &[("lib/apk/db/installed", APK_INSTALLED, at)],
        &[("var/lib/dpkg/status", DPKG_STATUS)],
    )
    .await;
    assert_partial(&cut, &whole, "/lib/apk/db/installed", "deb", "apk");
}

#[tokio::test]
async fn rpm_sqlite_cut_mid_page_warns() {
    let at = RPM_SQLITE.len() / 2 + 100;
    let (cut, whole) = damaged_and_whole(
        &[("var/lib/rpm/rpmdb.sqlite", RPM_SQLITE, at)],
        &[("var/lib/dpkg/status", DPKG_STATUS)],
    )
    .await;
    assert_partial(&cut, &whole, "/var/lib/rpm/rpmdb.sqlite", "deb", "rpm");
}

#[tokio::test]
async fn gnu_sparse_file_is_read() {
    // GNU tar stores a sparse file's holes in its headers. The stored data the walk skips
    // must not count as headers, and the dpkg database after it must still be read.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    let sparse = std::fs::File::create(root.join("sparse")).unwrap();
    for offset in [0u64, 8 << 20, 40 << 20] {
        std::os::unix::fs::FileExt::write_all_at(&sparse, &[7u8; 3 << 20], offset).unwrap();
    }
    sparse.set_len(64 << 20).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), DPKG_STATUS).unwrap();

    let tar_path = dir.path().join("layer.tar");
    let status = std::process::Command::new("tar")
        .args(["--sparse", "--format=gnu", "-cf"])
        .arg(&tar_path)
        .arg("-C")
        .arg(&root)
        .args(["sparse", "var"])
        .status()
        .expect("run GNU tar");
    assert!(status.success());
    let layer_bytes = std::fs::read(&tar_path).unwrap();
    assert_eq!(
        layer_bytes[156], b'S',
        "tar wrote no GNU sparse entry first"
    );

    let (_dir, arg, _) = archive_arg(&docker_archive(
        &[Layer::plain(layer_bytes)],
        "hostile/sparse:1",
    ));
    let run = analyze(&arg, &["--max-tar-header-size", "4096"]).await;
    assert_imported(&run);
    assert!(!run.packages_of("deb").is_empty(), "{}", run.stderr());
}

/// Writes a tar member header of `kind` and `size` for `name` to `out`.
fn write_header(out: &mut impl std::io::Write, name: &[u8], kind: tar::EntryType, size: u64) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    out.write_all(header.as_bytes()).unwrap();
}

#[tokio::test]
async fn archive_long_name_bomb_rejected() {
    // The outer tar of a docker save archive, not a layer: its first member has a GNU long
    // name of 64 MiB, written to disk in pieces.
    const SIZE: u64 = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write_header(
        &mut file,
        b"././@LongLink",
        tar::EntryType::GNULongName,
        SIZE,
    );
    let names = vec![b'a'; 1 << 20];
    for _ in 0..SIZE >> 20 {
        file.write_all(&names).unwrap();
    }
    write_header(&mut file, b"short", tar::EntryType::Regular, 0);
    file.write_all(&[0u8; 1024]).unwrap();
    file.flush().unwrap();
    drop(file);

    let run = analyze(&format!("docker-archive:{}", path.display()), &[]).await;
    assert_rejected(&run, 2, &["1048576", "--max-tar-header-size"]);
    // The message names the place without repeating the name.
    assert!(run.stderr().len() < 4096, "{} bytes", run.stderr().len());
}

#[tokio::test]
async fn long_member_names_are_shortened() {
    // Names of 512 KiB are within the header limit, and an archive of them alone is not an
    // image: the message that lists them must stay short.
    let name = "n/".repeat(256 << 10) + "member";
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, &name, &b"data"[..])
        .unwrap();
    let (_dir, arg, _) = archive_arg(&builder.into_inner().unwrap());
    let run = analyze(&arg, &[]).await;
    assert_rejected(&run, 2, &["no manifest.json", "bytes in all"]);
    assert!(run.stderr().len() < 4096, "{} bytes", run.stderr().len());
}
