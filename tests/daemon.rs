//! Tests of the daemon source against the real Docker daemons that `.ci/start-dockerd.sh` and
//! `.ci/start-tls-dockerd.sh` start, and against small mock daemons on unix sockets for the
//! failures a real daemon cannot be made to produce on cue.

#[path = "common/docker.rs"]
mod docker;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use inline_scan::digest::Digest;
use inline_scan::source::daemon::{self, DaemonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use docker::{SCRATCH_DPKG_IMAGE, docker_cli, ensure_image};

/// Reads a whole `docker save` stream and returns each regular file's path and contents.
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(bytes);
    let mut entries = BTreeMap::new();
    for entry in archive.entries().expect("export is a tar stream") {
        let mut entry = entry.expect("tar entry is readable");
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        entries.insert(path, contents);
    }
    entries
}

fn file_names_in_layer(layer: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(layer);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[tokio::test]
async fn unix_socket_inspect_matches_cli() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    ensure_image(SCRATCH_DPKG_IMAGE, "scratch-dpkg");

    let image = daemon::inspect(&daemon, SCRATCH_DPKG_IMAGE).await.unwrap();

    let cli_id = docker_cli(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        SCRATCH_DPKG_IMAGE,
    ])
    .unwrap();
    let cli_platform = docker_cli(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}",
        SCRATCH_DPKG_IMAGE,
    ])
    .unwrap();
    assert_eq!(image.id.to_string(), cli_id);
    assert!(
        image.repo_tags.iter().any(|tag| tag == SCRATCH_DPKG_IMAGE),
        "RepoTags {:?} lack {SCRATCH_DPKG_IMAGE}",
        image.repo_tags
    );
    assert!(
        image.repo_digests.is_empty(),
        "a locally built image has no RepoDigests"
    );
    assert_eq!(
        format!("{}/{}", image.platform.os, image.platform.architecture),
        cli_platform
    );
}

#[tokio::test]
async fn inspect_by_id_finds_same_image() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    ensure_image(SCRATCH_DPKG_IMAGE, "scratch-dpkg");
    let by_tag = daemon::inspect(&daemon, SCRATCH_DPKG_IMAGE).await.unwrap();

    let by_id = daemon::inspect(&daemon, &by_tag.id.to_string())
        .await
        .unwrap();
    let by_short_id = daemon::inspect(&daemon, by_tag.id.short()).await.unwrap();

    assert_eq!(by_id, by_tag);
    assert_eq!(by_short_id, by_tag);
}

#[tokio::test]
async fn inspect_missing_image_names_reference() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    let reference = "inline-scan-test/does-not-exist:0";

    let err = daemon::inspect(&daemon, reference).await.unwrap_err();

    assert!(matches!(err, DaemonError::ImageNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "image inline-scan-test/does-not-exist:0 not found in the local daemon: \
         build it, or pass -P to pull it first"
    );
}

#[tokio::test]
async fn inspect_rejects_reference_with_query() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };

    let err = daemon::inspect(&daemon, "alpine?x=1").await.unwrap_err();

    assert!(
        matches!(err, DaemonError::InvalidReference { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("alpine?x=1"), "{err}");
}

#[tokio::test]
async fn export_scratch_image_is_docker_save() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    ensure_image(SCRATCH_DPKG_IMAGE, "scratch-dpkg");
    let image = daemon::inspect(&daemon, SCRATCH_DPKG_IMAGE).await.unwrap();

    let mut stream = daemon::export(&daemon, &image.id);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let entries = tar_entries(&bytes);

    let manifest: serde_json::Value =
        serde_json::from_slice(entries.get("manifest.json").expect("manifest.json")).unwrap();
    let manifest = manifest.as_array().expect("manifest.json is an array");
    assert_eq!(
        manifest.len(),
        1,
        "export by id contains one image: {manifest:?}"
    );
    let config_name = manifest[0]["Config"].as_str().unwrap();
    let config = entries
        .get(config_name)
        .expect("the config file is in the stream");
    assert_eq!(
        Digest::of(config),
        image.id,
        "config bytes hash to the image id"
    );

    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "the scratch image has one COPY layer");
    let layer_name = layers[0].as_str().unwrap();
    let layer = entries.get(layer_name).expect("the layer is in the stream");
    let names = file_names_in_layer(layer);
    assert!(
        names.iter().any(|name| name == "var/lib/dpkg/status"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|name| name == "etc/os-release"),
        "{names:?}"
    );

    let config: serde_json::Value = serde_json::from_slice(config).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids[0].as_str().unwrap(), Digest::of(layer).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reader_matches_stream() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    ensure_image(SCRATCH_DPKG_IMAGE, "scratch-dpkg");
    let image = daemon::inspect(&daemon, SCRATCH_DPKG_IMAGE).await.unwrap();

    let reader = daemon::export_reader(&daemon, &image.id);
    let from_reader = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    })
    .await
    .unwrap()
    .unwrap();
    let entries = tar_entries(&from_reader);

    assert!(
        entries.contains_key("manifest.json"),
        "{:?}",
        entries.keys()
    );
    assert!(
        entries.contains_key(&format!("{}.json", image.id.hex())),
        "{:?}",
        entries.keys()
    );
}

#[tokio::test]
async fn export_missing_id_is_not_found() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    let absent = Digest::of(b"no image has this config");

    let mut stream = daemon::export(&daemon, &absent);
    let first = stream.next().await.expect("an error item");

    let err = first.unwrap_err();
    assert!(matches!(err, DaemonError::ImageNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(absent.hex()), "{err}");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
}

/// Returns a loopback `host:port` that had a listener a moment ago and now has none, so a
/// connection to it is refused.
fn closed_loopback_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn pull_unreachable_registry_is_clear() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    let address = closed_loopback_address();
    let reference = format!("{address}/inline-scan-test/absent:1");

    let err = daemon::pull(&daemon, &reference, None).await.unwrap_err();

    let message = err.to_string();
    assert!(matches!(err, DaemonError::Pull { .. }), "{err:?}");
    assert!(message.contains(&reference), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains("without -P"), "{message}");
}

#[tokio::test]
async fn tls_daemon_connects_with_cert_path() {
    let Some(cert_path) = docker::require_tls_daemon().await else {
        return;
    };
    let daemon = daemon::connect_with_env(&docker::tls_env(&cert_path)).unwrap();
    assert!(daemon.uses_tls());
    assert_eq!(daemon.host(), docker::TLS_HOST);

    let err = daemon::inspect(&daemon, "inline-scan-test/not-on-tls-daemon:1")
        .await
        .unwrap_err();

    // A 404 from the daemon proves the request went through the TLS connection.
    assert!(matches!(err, DaemonError::ImageNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_daemon_without_tls_says_so() {
    let Some(_cert_path) = docker::require_tls_daemon().await else {
        return;
    };
    let env = |name: &str| (name == "DOCKER_HOST").then(|| docker::TLS_HOST.to_owned());
    let daemon = daemon::connect_with_env(&env).unwrap();

    let err = daemon::negotiate(&daemon).await.unwrap_err();

    let message = err.to_string();
    assert!(matches!(err, DaemonError::TlsRequired { .. }), "{err:?}");
    assert!(message.contains("DOCKER_TLS_VERIFY=1"), "{message}");
}

/// Writes a new self-signed CA to `folder/ca.pem` and returns it with its key.
fn write_other_ca(folder: &Path) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "unrelated test CA");
    let ca = params.self_signed(&key).unwrap();
    std::fs::write(folder.join("ca.pem"), ca.pem()).unwrap();
    (ca, key)
}

#[tokio::test]
async fn tls_wrong_ca_is_rejected() {
    let Some(cert_path) = docker::require_tls_daemon().await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    write_other_ca(folder.path());
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(cert_path.join(file), folder.path().join(file)).unwrap();
    }
    let daemon = daemon::connect_with_env(&docker::tls_env(folder.path())).unwrap();

    let err = daemon::negotiate(&daemon).await.unwrap_err();

    let message = err.to_string();
    assert!(matches!(err, DaemonError::Tls { .. }), "{err:?}");
    assert!(
        message.contains("DOCKER_HOST=tcp://127.0.0.1:2376"),
        "{message}"
    );
    assert!(
        message.contains(&folder.path().display().to_string()),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
}

#[tokio::test]
async fn tls_unknown_client_cert_is_rejected() {
    let Some(cert_path) = docker::require_tls_daemon().await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    // The real CA, so the client trusts the daemon, but a client certificate the daemon's CA
    // did not sign.
    let (other_ca, other_key) = write_other_ca(folder.path());
    std::fs::copy(cert_path.join("ca.pem"), folder.path().join("ca.pem")).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = params
        .signed_by(&client_key, &other_ca, &other_key)
        .unwrap();
    std::fs::write(folder.path().join("cert.pem"), client.pem()).unwrap();
    std::fs::write(folder.path().join("key.pem"), client_key.serialize_pem()).unwrap();
    let daemon = daemon::connect_with_env(&docker::tls_env(folder.path())).unwrap();

    let err = daemon::negotiate(&daemon).await.unwrap_err();

    assert!(matches!(err, DaemonError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("DOCKER_CERT_PATH"), "{err}");
}

#[tokio::test]
async fn missing_socket_names_docker_host() {
    let env = |name: &str| (name == "DOCKER_HOST").then(|| "unix:///nonexistent.sock".to_owned());

    let err = daemon::connect_with_env(&env).unwrap_err();

    let message = err.to_string();
    assert!(matches!(err, DaemonError::Unreachable { .. }), "{err:?}");
    assert!(
        message.contains("DOCKER_HOST=unix:///nonexistent.sock"),
        "{message}"
    );
    assert!(
        message.contains("/nonexistent.sock does not exist"),
        "{message}"
    );
    assert!(message.contains("start the daemon"), "{message}");
}

#[tokio::test]
async fn closed_tcp_port_names_docker_host() {
    let host = format!("tcp://{}", closed_loopback_address());
    let env = |name: &str| (name == "DOCKER_HOST").then(|| host.clone());
    let daemon = daemon::connect_with_env(&env).unwrap();

    let err = daemon::inspect(&daemon, "alpine:3").await.unwrap_err();

    let message = err.to_string();
    assert!(matches!(err, DaemonError::Unreachable { .. }), "{err:?}");
    assert!(
        message.contains(&format!("DOCKER_HOST={host}")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

/// How the mock daemon responds to `GET /images/{id}/get`.
#[derive(Clone, Copy)]
enum ExportBehavior {
    /// Sends one chunk of the tar, then closes the connection without the final chunk, as a
    /// daemon that stops mid-export does.
    DropMidStream,
    /// Sends one chunk, then keeps the connection open without sending more.
    Stall,
    /// Sends no response at all, as Docker 20.10 does while it writes a large image to its
    /// temporary folder.
    NoHeaders,
    /// Sends a complete response with an empty body.
    EmptyBody,
    /// Sends the header of a tar member and part of its data, then closes the connection
    /// without the final chunk.
    PartialMember,
}

const MOCK_VERSION: &str = r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#;

/// Returns the image id that the mock daemon reports for every image.
fn mock_image_id() -> Digest {
    Digest::of(b"mock image config")
}

/// Starts a mock Engine API on a unix socket in `folder`. It serves `/version`, image inspection
/// and the export endpoint, one request per connection, until the test's runtime stops.
/// Inspection always succeeds with [`mock_image_id`], so the export request is sent.
async fn start_mock_daemon(folder: &Path, behavior: ExportBehavior) -> String {
    let socket = folder.join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mock_image = format!(
                r#"{{"Id":"{}","RepoTags":["mock:1"],"RepoDigests":[],"Os":"linux","Architecture":"amd64"}}"#,
                mock_image_id()
            );
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                }
                let request_line = String::from_utf8_lossy(&request);
                let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                if path.ends_with("/version") {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{MOCK_VERSION}",
                        MOCK_VERSION.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    return;
                }
                if path.ends_with("/json") {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        mock_image.len(),
                        mock_image
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    return;
                }
                if let ExportBehavior::NoHeaders = behavior {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n";
                let chunk = vec![0u8; 512];
                let _ = stream.write_all(head.as_bytes()).await;
                if let ExportBehavior::EmptyBody = behavior {
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                    return;
                }
                if let ExportBehavior::PartialMember = behavior {
                    let mut header = tar::Header::new_ustar();
                    header.set_path("0123abcd/layer.tar").unwrap();
                    header.set_size(4096);
                    header.set_cksum();
                    let mut body = header.as_bytes().to_vec();
                    body.extend_from_slice(&[7u8; 512]);
                    let _ = stream
                        .write_all(format!("{:x}\r\n", body.len()).as_bytes())
                        .await;
                    let _ = stream.write_all(&body).await;
                    let _ = stream.write_all(b"\r\n").await;
                    return;
                }
                let _ = stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await;
                let _ = stream.write_all(&chunk).await;
                let _ = stream.write_all(b"\r\n").await;
                let _ = stream.flush().await;
                match behavior {
                    ExportBehavior::DropMidStream => drop(stream),
                    ExportBehavior::NoHeaders
                    | ExportBehavior::EmptyBody
                    | ExportBehavior::PartialMember => {}
                    ExportBehavior::Stall => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(stream);
                    }
                }
            });
        }
    });
    format!("unix://{}", socket.display())
}

#[tokio::test]
async fn export_daemon_stop_midstream_is_error() {
    let folder = tempfile::tempdir().unwrap();
    let host = start_mock_daemon(folder.path(), ExportBehavior::DropMidStream).await;
    let env = move |name: &str| (name == "DOCKER_HOST").then(|| host.clone());
    let daemon = daemon::connect_with_env(&env).unwrap();
    let image_id = mock_image_id();

    let mut stream = daemon::export(&daemon, &image_id);
    let mut received = 0;
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => received += chunk.len(),
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }

    assert_eq!(received, 512, "the chunk sent before the drop arrives");
    let err = error.expect("a dropped connection ends the stream with an error");
    let message = err.to_string();
    assert!(matches!(err, DaemonError::Export { .. }), "{err:?}");
    assert!(message.contains(&image_id.to_string()), "{message}");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn export_stalled_daemon_times_out() {
    let folder = tempfile::tempdir().unwrap();
    let host = start_mock_daemon(folder.path(), ExportBehavior::Stall).await;
    let env = move |name: &str| (name == "DOCKER_HOST").then(|| host.clone());
    let daemon = daemon::connect_with_env(&env).unwrap();
    let image_id = mock_image_id();

    let mut stream = daemon::export_with_idle_timeout(&daemon, &image_id, Duration::from_secs(1));
    let first = stream.next().await.expect("first chunk");
    let second = stream.next().await.expect("an error after the stall");

    assert_eq!(first.unwrap().len(), 512);
    let err = second.unwrap_err();
    assert!(
        matches!(err, DaemonError::ExportStalled { seconds: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("stalled"), "{err}");
}

#[tokio::test]
async fn podman_inspect_and_export() {
    let Some(daemon) = docker::require_podman().await else {
        return;
    };

    let image = daemon::inspect(&daemon, SCRATCH_DPKG_IMAGE).await.unwrap();
    let missing = daemon::inspect(&daemon, "inline-scan-test/not-in-podman:1")
        .await
        .unwrap_err();
    let mut stream = daemon::export(&daemon, &image.id);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let entries = tar_entries(&bytes);

    // podman names local images under localhost/.
    let podman_tag = format!("localhost/{SCRATCH_DPKG_IMAGE}");
    assert!(
        image.repo_tags.contains(&podman_tag),
        "{:?}",
        image.repo_tags
    );
    assert_eq!(image.platform.os, "linux");
    assert!(
        matches!(missing, DaemonError::ImageNotFound { .. }),
        "{missing:?}"
    );
    assert!(
        entries.contains_key("manifest.json"),
        "{:?}",
        entries.keys()
    );
    let config = entries
        .get(&format!("{}.json", image.id.hex()))
        .expect("the config file is in podman's export");
    assert_eq!(Digest::of(config), image.id);
}

/// A one-image registry for `docker pull`: the manifest, config and gzip layer it serves.
struct RegistryImage {
    manifest: Vec<u8>,
    manifest_digest: Digest,
    config_digest: Digest,
    blobs: BTreeMap<String, Vec<u8>>,
}

fn registry_image() -> RegistryImage {
    let mut layer = tar::Builder::new(Vec::new());
    let contents = b"pulled from the test registry\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    layer
        .append_data(&mut header, "pulled.txt", &contents[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &layer).unwrap();
    let compressed = gzip.finish().unwrap();

    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = serde_json::json!({
        "architecture": architecture,
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [Digest::of(&layer).to_string()] },
    });
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.len(),
            "digest": Digest::of(&config).to_string(),
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": compressed.len(),
            "digest": Digest::of(&compressed).to_string(),
        }],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();

    let mut blobs = BTreeMap::new();
    blobs.insert(Digest::of(&config).to_string(), config.clone());
    blobs.insert(Digest::of(&compressed).to_string(), compressed);
    RegistryImage {
        manifest_digest: Digest::of(&manifest),
        config_digest: Digest::of(&config),
        manifest,
        blobs,
    }
}

/// Serves `image` as every repository and tag on 127.0.0.1 and returns the `host:port`.
async fn start_registry(image: RegistryImage) -> String {
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};

    let image = std::sync::Arc::new(image);
    let handler = move |uri: axum::http::Uri| {
        let image = image.clone();
        async move {
            let path = uri.path();
            if path == "/v2/" {
                return (StatusCode::OK, "{}").into_response();
            }
            if path.contains("/manifests/") {
                return Response::builder()
                    .header(
                        header::CONTENT_TYPE,
                        "application/vnd.docker.distribution.manifest.v2+json",
                    )
                    .header("Docker-Content-Digest", image.manifest_digest.to_string())
                    .body(axum::body::Body::from(image.manifest.clone()))
                    .unwrap();
            }
            if let Some((_, digest)) = path.split_once("/blobs/") {
                if let Some(blob) = image.blobs.get(digest) {
                    return Response::builder()
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header("Docker-Content-Digest", digest)
                        .body(axum::body::Body::from(blob.clone()))
                        .unwrap();
                }
            }
            StatusCode::NOT_FOUND.into_response()
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_from_local_registry() {
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    let image = registry_image();
    let manifest_digest = image.manifest_digest.clone();
    let config_digest = image.config_digest.clone();
    let registry = start_registry(image).await;
    // No tag: pull must ask for :latest rather than every tag of the repository.
    let repository = format!("{registry}/inline-scan-test/pulled");

    daemon::pull(&daemon, &repository, None).await.unwrap();
    let pulled = daemon::inspect(&daemon, &format!("{repository}:latest")).await;
    let same_platform = daemon::pull(
        &daemon,
        &repository,
        Some(&pulled.as_ref().unwrap().platform),
    )
    .await;
    let _ = docker_cli(&["rmi", "--force", &format!("{repository}:latest")]);

    let pulled = pulled.unwrap();
    same_platform.unwrap();
    assert_eq!(pulled.id, config_digest);
    assert_eq!(
        pulled.repo_digests,
        vec![format!("{repository}@{manifest_digest}")]
    );
    assert_eq!(pulled.repo_tags, vec![format!("{repository}:latest")]);
}

#[tokio::test]
async fn export_without_response_times_out() {
    let folder = tempfile::tempdir().unwrap();
    let host = start_mock_daemon(folder.path(), ExportBehavior::NoHeaders).await;
    let env = move |name: &str| (name == "DOCKER_HOST").then(|| host.clone());
    let daemon = daemon::connect_with_env(&env).unwrap();

    let mut stream =
        daemon::export_with_idle_timeout(&daemon, &mock_image_id(), Duration::from_secs(1));
    let first = stream.next().await.expect("an error item");

    let err = first.unwrap_err();
    assert!(
        matches!(err, DaemonError::ExportStalled { seconds: 1, .. }),
        "{err:?}"
    );
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
}

/// Runs the binary's `analyze --no-import mock:1` against the daemon at `host`, with only PATH
/// and DOCKER_HOST set.
async fn analyze_mock_image(host: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_inline-scan"))
        .args(["analyze", "--no-import", "mock:1"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", host)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

/// A damaged export comes from the daemon, not from a file the user wrote: the error names the
/// daemon's image and advises checking the daemon, with no advice to write an archive again.
#[tokio::test]
async fn damaged_export_advises_checking_the_daemon() {
    for behavior in [ExportBehavior::EmptyBody, ExportBehavior::PartialMember] {
        let folder = tempfile::tempdir().unwrap();
        let host = start_mock_daemon(folder.path(), behavior).await;
        let output = analyze_mock_image(&host).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("docker daemon image mock:1"), "{stderr}");
        assert!(stderr.contains("docker info"), "{stderr}");
        for file_advice in ["write the", "docker save IMAGE -o", "copy the image again"] {
            assert!(!stderr.contains(file_advice), "{file_advice:?} in {stderr}");
        }
    }
}

/// A server on DOCKER_HOST whose response is not the Engine API's JSON is reported as such, not
/// as a daemon that does not respond.
#[tokio::test]
async fn non_docker_server_is_named_as_such() {
    let folder = tempfile::tempdir().unwrap();
    let socket = folder.path().join("web.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                    )
                    .await;
            });
        }
    });
    let host = format!("unix://{}", socket.display());
    let output = analyze_mock_image(&host).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("answered, but not as the Docker Engine API does"),
        "{stderr}"
    );
    assert!(stderr.contains(&host), "{stderr}");
    assert!(!stderr.contains("does not respond"), "{stderr}");
}
