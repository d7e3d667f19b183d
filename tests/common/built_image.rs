//! Images built byte by byte inside a test: layer tars with any entry a hostile image could
//! carry, classic `docker save` tarballs and OCI layout directories around them.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;

use inline_scan::digest::Digest;
use serde_json::json;

/// One entry of a layer tar.
pub enum Member<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A regular file whose name bytes are written into the header unchecked, so names such as
    /// `../x` or `/x`, which `tar::Builder` rejects, reach the reader.
    RawName(&'a [u8], &'a [u8]),
    /// A regular file whose name is sent as a GNU long name (`L`) entry.
    GnuLongName(&'a str, &'a [u8]),
    /// A regular file whose name is sent as a PAX `path` record.
    PaxPath(&'a str, &'a [u8]),
}

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_mtime(1_700_000_000);
    header
}

/// Encodes one PAX extended header record: `"<length> <key>=<value>\n"`, where the length
/// counts the whole record, its own digits included.
pub fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut length = body.len() + 1;
    while format!("{length}{body}").len() != length {
        length += 1;
    }
    format!("{length}{body}").into_bytes()
}

/// Builds an uncompressed layer tar of `members`, ending with the two zero blocks.
pub fn layer_tar(members: &[Member<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        match member {
            Member::File(path, data) => {
                let mut h = header(tar::EntryType::Regular, data.len() as u64);
                builder
                    .append_data(&mut h, path, *data)
                    .expect("append file");
            }
            Member::Dir(path) => {
                let mut h = header(tar::EntryType::Directory, 0);
                builder
                    .append_data(&mut h, path, std::io::empty())
                    .expect("append directory");
            }
            Member::Symlink(path, target) => {
                let mut h = header(tar::EntryType::Symlink, 0);
                builder.append_link(&mut h, path, target).expect("symlink");
            }
            Member::Hardlink(path, target) => {
                let mut h = header(tar::EntryType::Link, 0);
                set_raw(&mut h.as_old_mut().linkname, target.as_bytes());
                set_raw(&mut h.as_old_mut().name, path.as_bytes());
                h.set_cksum();
                builder.append(&h, std::io::empty()).expect("hardlink");
            }
            Member::RawName(name, data) => {
                let mut h = header(tar::EntryType::Regular, data.len() as u64);
                set_raw(&mut h.as_old_mut().name, name);
                h.set_cksum();
                builder.append(&h, *data).expect("append raw name");
            }
            Member::GnuLongName(path, data) => {
                let mut name = path.as_bytes().to_vec();
                name.push(0);
                let mut long = header(tar::EntryType::GNULongName, name.len() as u64);
                set_raw(&mut long.as_old_mut().name, b"././@LongLink");
                long.set_cksum();
                builder.append(&long, &name[..]).expect("long name entry");
                let mut h = header(tar::EntryType::Regular, data.len() as u64);
                set_raw(&mut h.as_old_mut().name, b"truncated-short-name");
                h.set_cksum();
                builder.append(&h, *data).expect("long-named file");
            }
            Member::PaxPath(path, data) => {
                let records = pax_record("path", path);
                let mut pax = tar::Header::new_ustar();
                pax.set_entry_type(tar::EntryType::XHeader);
                pax.set_size(records.len() as u64);
                pax.set_mode(0o644);
                set_raw(&mut pax.as_old_mut().name, b"PaxHeaders/x");
                pax.set_cksum();
                builder.append(&pax, &records[..]).expect("pax entry");
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                set_raw(&mut h.as_old_mut().name, b"pax-short-name");
                h.set_cksum();
                builder.append(&h, *data).expect("pax-named file");
            }
        }
    }
    builder.into_inner().expect("finish layer tar")
}

/// Copies `value` into a NUL-padded header field. Panics when it does not fit.
fn set_raw(field: &mut [u8], value: &[u8]) {
    assert!(value.len() <= field.len(), "header field too small");
    field.fill(0);
    field[..value.len()].copy_from_slice(value);
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("finish gzip")
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// One layer: the blob as stored and the diffID the config declares for it.
#[derive(Clone)]
pub struct Layer {
    pub stored: Vec<u8>,
    pub diff_id: Digest,
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: Digest::of(&tar),
            stored: tar,
        }
    }

    pub fn gzip(tar: &[u8]) -> Layer {
        Layer {
            diff_id: Digest::of(tar),
            stored: gzip(tar),
        }
    }

    pub fn zstd(tar: &[u8]) -> Layer {
        Layer {
            diff_id: Digest::of(tar),
            stored: zstd(tar),
        }
    }

    fn media_type(&self) -> &'static str {
        match self.stored.get(..2) {
            Some([0x1f, 0x8b]) => "application/vnd.oci.image.layer.v1.tar+gzip",
            Some([0x28, 0xb5]) => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// Builds an image config that lists the diffIDs of `layers`.
pub fn config(layers: &[Layer]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| json!({"created_by": "ADD layer /"})).collect::<Vec<_>>()
    }))
    .expect("serialize config")
}

fn append_member(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, data.len() as u64);
    builder.append_data(&mut h, path, data).expect("member");
}

/// Builds a classic `docker save` tarball of one image tagged `tag`: the config, one
/// `<n>/layer.tar` per layer and `manifest.json` last, as `docker save` writes them.
pub fn docker_archive(layers: &[Layer], tag: &str) -> Vec<u8> {
    let config = config(layers);
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let mut builder = tar::Builder::new(Vec::new());
    append_member(&mut builder, &config_name, &config);
    let mut layer_names = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let name = format!("{index}/layer.tar");
        append_member(&mut builder, &name, &layer.stored);
        layer_names.push(name);
    }
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": layer_names
    }]))
    .expect("serialize manifest.json");
    append_member(&mut builder, "manifest.json", &manifest);
    builder.into_inner().expect("finish archive")
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).expect("write blob");
    digest
}

/// Writes an OCI image layout of one image named `reference` into `layout` and returns the
/// manifest digest. Each layer blob is stored under the sha256 of its bytes.
pub fn oci_layout(layout: &Path, layers: &[Layer], reference: &str) -> Digest {
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("create blobs");
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let config = config(layers);
    let config_digest = write_blob(layout, &config);

    let layer_descriptors: Vec<_> = layers
        .iter()
        .map(|layer| {
            json!({
                "mediaType": layer.media_type(),
                "digest": write_blob(layout, &layer.stored).to_string(),
                "size": layer.stored.len()
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len()
        },
        "layers": layer_descriptors
    }))
    .expect("serialize manifest");
    let manifest_digest = write_blob(layout, &manifest);

    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest.to_string(),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": reference}
        }]
    }))
    .expect("serialize index");
    std::fs::write(layout.join("index.json"), index).expect("write index.json");
    manifest_digest
}
