//! The registry source against a real registry (Debian's docker-registry) on 127.0.0.1:
//! plain HTTP, TLS with a private CA, htpasswd basic auth, Docker config credentials, a
//! credential helper, multi-platform indexes and corrupt blobs. Bearer token auth (an
//! identity token, or a user and password sent to the token endpoint) is tested against a
//! small axum stand-in, because docker-registry's token mode needs a separate token server.

#[path = "common/registry.rs"]
mod test_registry;

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use inline_scan::digest::Digest;
use inline_scan::secret::Secret;
use inline_scan::source::registry::{RegistryError, RegistryImage, RegistryOptions, fetch};
use inline_scan::source::{Limits, Platform};
use serde_json::{Value, json};
use test_registry::{
    Mode, PASSWORD, Registry, USERNAME, require_tools, write_multi_platform_layout,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn plain_options() -> RegistryOptions {
    RegistryOptions {
        insecure_http: true,
        docker_config_dir: Some(empty_config_dir()),
        ..RegistryOptions::default()
    }
}

/// Returns a Docker config directory with no config.json, so the developer's own credentials never
/// leak into a test.
fn empty_config_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("inline-scan-registry-test-empty-docker-config");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads layer `index` to the end on a blocking thread, as the layer walk does.
async fn read_layer(image: &RegistryImage, index: usize) -> std::io::Result<Vec<u8>> {
    let mut reader = image.open_layer(index).expect("layer index in range");
    tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    })
    .await
    .expect("blocking read task")
}

fn layout_blob(layout: &Path, digest: &Digest) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(digest.hex())).unwrap()
}

/// GETs a manifest directly and returns (body, Docker-Content-Digest header).
async fn registry_manifest(
    registry: &Registry,
    repository: &str,
    reference: &str,
    basic: Option<(&str, &str)>,
) -> (Vec<u8>, String) {
    let client = reqwest::Client::new();
    let mut request = client
        .get(format!(
            "{}/v2/{repository}/manifests/{reference}",
            registry.base_url()
        ))
        .header("Accept", ACCEPT);
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.expect("manifest GET");
    assert_eq!(response.status(), 200, "manifest GET status");
    let digest = response
        .headers()
        .get("Docker-Content-Digest")
        .expect("Docker-Content-Digest header")
        .to_str()
        .unwrap()
        .to_owned();
    (response.bytes().await.unwrap().to_vec(), digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_fetch_matches_registry() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    let layout = fixture("multilayer-whiteout.oci");
    registry.push(&layout, "1", "test/whiteout:1", false);

    let reference = format!("{}/test/whiteout:1", registry.host);
    let image = fetch(&reference, &plain_options()).await.expect("fetch");

    let (body, header_digest) = registry_manifest(&registry, "test/whiteout", "1", None).await;
    assert_eq!(image.manifest.bytes, body);
    assert_eq!(image.manifest.digest().to_string(), header_digest);
    assert_eq!(
        header_digest,
        "sha256:2d8ebde1038410ddb66b3062c8dcb01c0a4ea427692cfb9ca4fb20e33c33e9a8"
    );
    assert_eq!(image.manifest.media_type, OCI_MANIFEST);
    assert!(image.index.is_none());

    let manifest: Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    let config_digest: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(Digest::of(&image.config), config_digest);

    assert_eq!(image.layers.len(), 3);
    for (index, layer) in image.layers.iter().enumerate() {
        let expected = layout_blob(&layout, &layer.digest);
        assert_eq!(layer.size, expected.len() as u64, "layer {index} size");
        let streamed = read_layer(&image, index).await.expect("layer stream");
        assert_eq!(streamed, expected, "layer {index} bytes");
    }

    assert_eq!(image.repo_tags, vec![reference.clone()]);
    assert_eq!(
        image.repo_digests,
        vec![format!("{}/test/whiteout@{header_digest}", registry.host)]
    );
    assert!(matches!(
        image.open_layer(3),
        Err(RegistryError::NoSuchLayer { index: 3, count: 3 })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_by_digest_and_not_found() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    registry.push(&fixture("rpm-sqlite.oci"), "1", "test/rpm:1", false);
    let digest = "sha256:9fee2d93d22429529097361c12651ed7e7ee2b597272521ee6c6dba0bd105566";

    let by_digest = format!("{}/test/rpm@{digest}", registry.host);
    let image = fetch(&by_digest, &plain_options())
        .await
        .expect("fetch by digest");
    assert_eq!(image.manifest.digest().to_string(), digest);
    assert!(image.repo_tags.is_empty());
    assert_eq!(image.layers.len(), 2);

    let missing_tag = format!("{}/test/rpm:absent", registry.host);
    let error = fetch(&missing_tag, &plain_options()).await.unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&registry.host), "{message}");
    assert!(message.contains("test/rpm"), "{message}");
    assert!(message.contains("absent"), "{message}");

    // The manifest is 558 bytes and the config 1044.
    for (max_json, what) in [(500, "manifest"), (1000, "image config")] {
        let options = RegistryOptions {
            limits: Limits {
                max_json,
                ..Limits::default()
            },
            ..plain_options()
        };
        let error = fetch(&by_digest, &options).await.unwrap_err();
        match error {
            RegistryError::TooLarge {
                what: actual, max, ..
            } => {
                assert_eq!(actual, what);
                assert_eq!(max, max_json);
            }
            other => panic!("expected {what} too large, got {other:?}"),
        }
    }

    let missing_repository = format!("{}/test/none:1", registry.host);
    let error = fetch(&missing_repository, &plain_options())
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_needs_the_ca() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Tls);
    registry.push(&fixture("rpm-sqlite.oci"), "1", "test/rpm:1", false);
    let reference = format!("{}/test/rpm:1", registry.host);

    let untrusted = RegistryOptions {
        docker_config_dir: Some(empty_config_dir()),
        ..RegistryOptions::default()
    };
    let error = fetch(&reference, &untrusted).await.unwrap_err();
    assert!(matches!(error, RegistryError::Tls { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("--registry-cacert"), "{message}");
    assert!(message.contains(&registry.host), "{message}");

    let plain_against_tls = fetch(&reference, &plain_options()).await.unwrap_err();
    assert!(
        plain_against_tls
            .to_string()
            .contains("drop --registry-insecure"),
        "{plain_against_tls}"
    );

    let trusted = RegistryOptions {
        cacert: registry.ca_file.clone(),
        ..untrusted
    };
    let image = fetch(&reference, &trusted)
        .await
        .expect("fetch with the CA");
    assert_eq!(
        image.manifest.digest().to_string(),
        "sha256:9fee2d93d22429529097361c12651ed7e7ee2b597272521ee6c6dba0bd105566"
    );
    let layer = read_layer(&image, 1).await.expect("layer over TLS");
    assert_eq!(Digest::of(&layer), image.layers[1].digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_flags_and_config() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::BasicAuth);
    registry.push(&fixture("rpm-sqlite.oci"), "1", "test/rpm:1", false);
    let reference = format!("{}/test/rpm:1", registry.host);

    let error = fetch(&reference, &plain_options()).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("docker login"), "{message}");
    assert!(message.contains("no credentials"), "{message}");

    let wrong = RegistryOptions {
        username: Some(USERNAME.to_owned()),
        password: Some(Secret::new("wrong-password")),
        ..plain_options()
    };
    let error = fetch(&reference, &wrong).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("wrong-password"));

    let only_user = RegistryOptions {
        username: Some(USERNAME.to_owned()),
        ..plain_options()
    };
    let error = fetch(&reference, &only_user).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::IncompleteCredentials),
        "{error:?}"
    );

    let flags = RegistryOptions {
        username: Some(USERNAME.to_owned()),
        password: Some(Secret::new(PASSWORD)),
        ..plain_options()
    };
    assert!(!format!("{flags:?}").contains(PASSWORD));
    let image = fetch(&reference, &flags).await.expect("fetch with flags");
    let (body, header_digest) =
        registry_manifest(&registry, "test/rpm", "1", Some((USERNAME, PASSWORD))).await;
    assert_eq!(image.manifest.bytes, body);
    assert_eq!(image.manifest.digest().to_string(), header_digest);
    let layer = read_layer(&image, 0).await.expect("layer with basic auth");
    assert_eq!(Digest::of(&layer), image.layers[0].digest);

    // `docker login` writes base64("user:password") under the host, sometimes with a scheme.
    let config_dir = registry.scratch().join("docker-config");
    std::fs::create_dir(&config_dir).unwrap();
    let auth = base64_encode(&format!("{USERNAME}:{PASSWORD}"));
    for key in [
        registry.host.clone(),
        format!("http://{}/v2/", registry.host),
    ] {
        let config = json!({"auths": {key.clone(): {"auth": auth}}});
        std::fs::write(config_dir.join("config.json"), config.to_string()).unwrap();
        let from_config = RegistryOptions {
            docker_config_dir: Some(config_dir.clone()),
            ..plain_options()
        };
        let image = fetch(&reference, &from_config)
            .await
            .unwrap_or_else(|error| panic!("fetch with config key {key}: {error}"));
        assert_eq!(image.manifest.digest().to_string(), header_digest);
    }

    let wrong_config =
        json!({"auths": {registry.host.clone(): {"auth": base64_encode("scanner:nope")}}});
    std::fs::write(config_dir.join("config.json"), wrong_config.to_string()).unwrap();
    let from_config = RegistryOptions {
        docker_config_dir: Some(config_dir.clone()),
        ..plain_options()
    };
    let error = fetch(&reference, &from_config).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("config.json"), "{error}");
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Environment variables that turn [`credential_helper_on_path`] into its child run.
const HELPER_CHILD_HOST: &str = "INLINE_SCAN_TEST_HELPER_HOST";
const HELPER_CHILD_CONFIG: &str = "INLINE_SCAN_TEST_HELPER_CONFIG";
const HELPER_CHILD_EXPECT_FAILURE: &str = "INLINE_SCAN_TEST_HELPER_EXPECT_FAILURE";
/// The child-run host value that makes the child start the token stand-in itself.
const TOKEN_STAND_IN: &str = "token-stand-in";
/// Output of the broken helper before it fails. No error message may repeat it.
const BROKEN_HELPER_SECRET: &str = "half-written-secret-5521";

/// The helper is found on PATH, and the test process cannot change its own PATH safely, so
/// the test re-runs itself as a child with PATH extended and the registry's address passed in
/// the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_on_path() {
    if let (Ok(host), Ok(config_dir)) = (
        std::env::var(HELPER_CHILD_HOST),
        std::env::var(HELPER_CHILD_CONFIG),
    ) {
        if host == TOKEN_STAND_IN {
            fetch_with_token_helper(Path::new(&config_dir)).await;
            return;
        }
        let options = RegistryOptions {
            docker_config_dir: Some(PathBuf::from(config_dir)),
            ..plain_options()
        };
        let result = fetch(&format!("{host}/test/rpm:1"), &options).await;
        if std::env::var_os(HELPER_CHILD_EXPECT_FAILURE).is_some() {
            let error = result.unwrap_err();
            assert!(
                matches!(error, RegistryError::CredentialHelper { .. }),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains("docker-credential-inline-scan-broken"),
                "{message}"
            );
            assert!(!message.contains(BROKEN_HELPER_SECRET), "{message}");
        } else {
            let image = result.expect("fetch with the credential helper");
            assert_eq!(image.layers.len(), 2);
        }
        return;
    }
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::BasicAuth);
    registry.push(&fixture("rpm-sqlite.oci"), "1", "test/rpm:1", false);

    let bin = registry.scratch().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = registry.scratch().join("helper-input");
    let helper = bin.join("docker-credential-inline-scan-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nserver=$(cat)\nprintf '%s' \"$server\" >> '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USERNAME}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let token_helper = bin.join("docker-credential-inline-scan-token");
    std::fs::write(
        &token_helper,
        format!("#!/bin/sh\ncat >/dev/null\nprintf '{{\"Username\":\"<token>\",\"Secret\":\"{REFRESH_TOKEN}\"}}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        &token_helper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let broken = bin.join("docker-credential-inline-scan-broken");
    std::fs::write(
        &broken,
        format!(
            "#!/bin/sh\ncat >/dev/null\nprintf '{{\"Secret\":\"{BROKEN_HELPER_SECRET}\"' \nexit 1\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let helper_configs = [
        json!({"credHelpers": {registry.host.clone(): "inline-scan-test"}}),
        json!({"credsStore": "inline-scan-test"}),
        // credHelpers takes precedence over auths, as in the Docker CLI, so the broken
        // helper's error shows even though the auths entry would work.
        json!({
            "credHelpers": {registry.host.clone(): "inline-scan-broken"},
            "auths": {
                registry.host.clone(): {"auth": base64_encode(&format!("{USERNAME}:{PASSWORD}"))},
            },
        }),
    ];
    // The last round leaves config.json to the child, because only the child has the
    // stand-in's port.
    let rounds = helper_configs
        .iter()
        .map(|config| (Some(config), registry.host.as_str()))
        .chain([(None, TOKEN_STAND_IN)]);
    for (round, (config, host)) in rounds.enumerate() {
        let expect_failure =
            config.is_some_and(|config| config.to_string().contains("inline-scan-broken"));
        let config_dir = registry.scratch().join(format!("docker-config-{round}"));
        std::fs::create_dir(&config_dir).unwrap();
        if let Some(config) = config {
            std::fs::write(config_dir.join("config.json"), config.to_string()).unwrap();
        }

        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", "credential_helper_on_path", "--nocapture"])
            .env("PATH", &path)
            .env(HELPER_CHILD_HOST, host)
            .env(HELPER_CHILD_CONFIG, &config_dir);
        if expect_failure {
            child.env(HELPER_CHILD_EXPECT_FAILURE, "1");
        }
        let output = child.output().expect("run the child test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child run with {config:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
        if !expect_failure && config.is_some() {
            let seen = std::fs::read_to_string(&marker).expect("the helper ran");
            assert_eq!(seen, registry.host.repeat(round + 1));
        }
    }
}

fn platform(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: os.to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_selects_platform() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    let layout = registry.scratch().join("multi.oci");
    let built = write_multi_platform_layout(&layout);
    registry.push(&layout, "multi", "test/multi:1", true);
    let reference = format!("{}/test/multi:1", registry.host);

    let (index_body, index_header) = registry_manifest(&registry, "test/multi", "1", None).await;
    assert_eq!(index_header, built.index.to_string());

    for (requested, expected, architecture) in [
        (platform("linux", "arm64", None), &built.arm64, "arm64"),
        (
            platform("linux", "arm64", Some("v8")),
            &built.arm64,
            "arm64",
        ),
        (platform("linux", "amd64", None), &built.amd64, "amd64"),
    ] {
        let options = RegistryOptions {
            platform: Some(requested.clone()),
            ..plain_options()
        };
        let image = fetch(&reference, &options).await.expect("fetch from index");
        let index = image.index.as_ref().expect("index kept");
        assert_eq!(index.bytes, index_body);
        assert_eq!(index.digest(), built.index);
        assert_eq!(index.media_type, OCI_INDEX);
        assert_eq!(&image.manifest.digest(), expected, "{requested:?}");
        let config: Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(config["architecture"], architecture);
        let layer = read_layer(&image, 0).await.expect("layer");
        let mut archive = tar::Archive::new(&layer[..]);
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        assert_eq!(content, format!("{architecture}\n"));
        assert_eq!(
            image.repo_digests,
            vec![format!("{}/test/multi@{}", registry.host, built.index)]
        );
    }

    if std::env::consts::ARCH == "x86_64" {
        let image = fetch(&reference, &plain_options())
            .await
            .expect("default platform");
        assert_eq!(image.manifest.digest(), built.amd64);
    }

    let options = RegistryOptions {
        platform: Some(platform("linux", "s390x", None)),
        ..plain_options()
    };
    let error = fetch(&reference, &options).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::PlatformNotFound { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("linux/s390x"), "{message}");
    assert!(message.contains("linux/amd64, linux/arm64/v8"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema2_manifest_and_list() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    let layout = fixture("rpm-sqlite.oci");
    registry.push_docker_format(&layout, "1", "test/docker:1", false);
    let reference = format!("{}/test/docker:1", registry.host);

    let image = fetch(&reference, &plain_options())
        .await
        .expect("fetch schema 2");
    let (body, header_digest) = registry_manifest(&registry, "test/docker", "1", None).await;
    assert_eq!(image.manifest.bytes, body);
    assert_eq!(image.manifest.digest().to_string(), header_digest);
    assert_eq!(image.manifest.media_type, DOCKER_MANIFEST);
    assert_eq!(image.layers.len(), 2);
    for (index, layer) in image.layers.iter().enumerate() {
        assert!(
            layer
                .media_type
                .starts_with("application/vnd.docker.image.rootfs"),
            "{}",
            layer.media_type
        );
        let streamed = read_layer(&image, index).await.expect("layer stream");
        assert_eq!(Digest::of(&streamed), layer.digest, "layer {index}");
    }

    let multi = registry.scratch().join("multi.oci");
    let built = write_multi_platform_layout(&multi);
    registry.push_docker_format(&multi, "multi", "test/docker-multi:1", true);
    let options = RegistryOptions {
        platform: Some(platform("linux", "arm64", Some("v8"))),
        ..plain_options()
    };
    let reference = format!("{}/test/docker-multi:1", registry.host);
    let image = fetch(&reference, &options).await.expect("fetch from list");
    let (list_body, list_digest) =
        registry_manifest(&registry, "test/docker-multi", "1", None).await;
    let list = image.index.as_ref().expect("manifest list kept");
    assert_eq!(list.media_type, DOCKER_MANIFEST_LIST);
    assert_eq!(list.bytes, list_body);
    assert_eq!(list.digest().to_string(), list_digest);
    assert_ne!(list.digest(), built.index, "skopeo converted the list");
    assert_eq!(image.manifest.media_type, DOCKER_MANIFEST);
    let config: Value = serde_json::from_slice(&image.config).unwrap();
    assert_eq!(config["architecture"], "arm64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_is_rejected() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    registry.push(&fixture("rpm-sqlite.oci"), "1", "test/rpm:1", false);
    let reference = format!("{}/test/rpm:1", registry.host);
    let image = fetch(&reference, &plain_options()).await.expect("fetch");

    // Same length, one byte changed: only the digest check can notice.
    let flipped = registry.blob_file(&image.layers[0].digest.to_string());
    let mut bytes = std::fs::read(&flipped).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&flipped, &bytes).unwrap();

    let error = read_layer(&image, 0).await.unwrap_err();
    let inner = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<RegistryError>())
        .unwrap_or_else(|| panic!("not a RegistryError: {error:?}"));
    match inner {
        RegistryError::BlobDigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &image.layers[0].digest);
            assert_eq!(actual, &Digest::of(&bytes));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(error.to_string().contains(&registry.host), "{error}");

    // A truncated blob fails on its size.
    let truncated = registry.blob_file(&image.layers[1].digest.to_string());
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let error = read_layer(&image, 1).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("bytes") && message.contains(&image.layers[1].digest.to_string()),
        "{message}"
    );

    // A corrupt config fails the fetch itself.
    let manifest: Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    let config_file = registry.blob_file(manifest["config"]["digest"].as_str().unwrap());
    let mut config = std::fs::read(&config_file).unwrap();
    config[0] = b' ';
    std::fs::write(&config_file, &config).unwrap();
    let error = fetch(&reference, &plain_options()).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::BlobDigestMismatch { .. }),
        "{error:?}"
    );
}

/// A registry stand-in that only takes Bearer tokens, with a token endpoint that accepts a
/// refresh token (POST, OAuth2 grant) or a user and password (GET with basic auth).
struct TokenRegistry {
    host: String,
    manifest_digest: Digest,
    config: Vec<u8>,
    layer: Vec<u8>,
    /// Form fields of every POST to the token endpoint.
    token_posts: Arc<Mutex<Vec<HashMap<String, String>>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const REFRESH_TOKEN: &str = "refresh-token-7f3a";
const ACCESS_TOKEN: &str = "access-token-91c2";
const TOKEN_USER: &str = "robot";
const TOKEN_PASSWORD: &str = "robot-pass-62";

#[derive(Clone)]
struct TokenState {
    base: String,
    content: Arc<HashMap<String, (Vec<u8>, &'static str)>>,
    token_posts: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

mod token_handlers {
    use std::collections::HashMap;

    use axum::extract::{Form, Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use base64::Engine as _;
    use inline_scan::digest::Digest;
    use serde_json::json;

    use super::{ACCESS_TOKEN, REFRESH_TOKEN, TOKEN_PASSWORD, TOKEN_USER, TokenState};

    fn challenge(state: &TokenState) -> Response {
        let value = format!(
            "Bearer realm=\"{}/token\",service=\"token-test\"",
            state.base
        );
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, value)],
        )
            .into_response()
    }

    pub async fn probe(State(state): State<TokenState>) -> Response {
        challenge(&state)
    }

    pub async fn refresh_grant(
        State(state): State<TokenState>,
        Form(form): Form<HashMap<String, String>>,
    ) -> Response {
        state.token_posts.lock().unwrap().push(form.clone());
        let valid = form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN);
        if valid {
            axum::Json(json!({"access_token": ACCESS_TOKEN})).into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    }

    pub async fn password_grant(headers: HeaderMap) -> Response {
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{TOKEN_USER}:{TOKEN_PASSWORD}"));
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if sent == Some(format!("Basic {expected}").as_str()) {
            axum::Json(json!({"token": ACCESS_TOKEN})).into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    }

    pub async fn content(
        State(state): State<TokenState>,
        UrlPath(rest): UrlPath<String>,
        headers: HeaderMap,
    ) -> Response {
        let bearer = format!("Bearer {ACCESS_TOKEN}");
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if sent != Some(bearer.as_str()) {
            return challenge(&state);
        }
        let Some((bytes, media_type)) = rest
            .strip_prefix("tok/")
            .and_then(|key| state.content.get(key))
        else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let headers = [
            (header::CONTENT_TYPE, media_type.to_string()),
            (
                header::HeaderName::from_static("docker-content-digest"),
                Digest::of(bytes).to_string(),
            ),
        ];
        (headers, bytes.clone()).into_response()
    }
}

/// Starts the stand-in on a free 127.0.0.1 port, serving a one-layer image as `tok:1`.
async fn start_token_registry() -> TokenRegistry {
    use axum::Router;
    use axum::routing::get;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();

    let layer = b"layer bytes; the source streams them without looking inside".to_vec();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer).to_string()]},
    })
    .to_string()
    .into_bytes();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": Digest::of(&config).to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": Digest::of(&layer).to_string(),
            "size": layer.len(),
        }],
    })
    .to_string()
    .into_bytes();

    let mut content = HashMap::new();
    content.insert("manifests/1".to_owned(), (manifest.clone(), OCI_MANIFEST));
    for blob in [&layer, &config] {
        content.insert(
            format!("blobs/{}", Digest::of(blob)),
            (blob.clone(), "application/octet-stream"),
        );
    }
    let token_posts = Arc::new(Mutex::new(Vec::new()));
    let state = TokenState {
        base: format!("http://{host}"),
        content: Arc::new(content),
        token_posts: Arc::clone(&token_posts),
    };
    let app = Router::new()
        .route("/v2/", get(token_handlers::probe))
        .route(
            "/token",
            get(token_handlers::password_grant).post(token_handlers::refresh_grant),
        )
        .route("/v2/{*rest}", get(token_handlers::content))
        .with_state(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    TokenRegistry {
        host,
        manifest_digest: Digest::of(&manifest),
        config,
        layer,
        token_posts,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_token_is_exchanged() {
    let registry = start_token_registry().await;
    let config_dir = tempfile::tempdir().unwrap();
    let docker_config =
        json!({"auths": {registry.host.clone(): {"auth": "", "identitytoken": REFRESH_TOKEN}}});
    std::fs::write(
        config_dir.path().join("config.json"),
        docker_config.to_string(),
    )
    .unwrap();
    let options = RegistryOptions {
        insecure_http: true,
        docker_config_dir: Some(config_dir.path().to_path_buf()),
        ..RegistryOptions::default()
    };
    let reference = format!("{}/tok:1", registry.host);

    let image = fetch(&reference, &options)
        .await
        .expect("fetch with an identity token");
    assert_eq!(image.manifest.digest(), registry.manifest_digest);
    assert_eq!(image.config, registry.config);
    assert_eq!(read_layer(&image, 0).await.unwrap(), registry.layer);

    let posts = registry.token_posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["scope"], "repository:tok:pull");
    assert_eq!(posts[0]["service"], "token-test");
    assert_eq!(posts[0]["client_id"], "inline-scan");

    let stale = json!({"auths": {registry.host.clone(): {"identitytoken": "stale-refresh-token"}}});
    std::fs::write(config_dir.path().join("config.json"), stale.to_string()).unwrap();
    let error = fetch(&reference, &options).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(
        !format!("{error} {error:?}").contains("stale-refresh-token"),
        "{error}"
    );
    assert!(error.to_string().contains("config.json"), "{error}");
}

/// Child half of [`credential_helper_on_path`]: a helper that returns the `<token>` user
/// name hands over an identity token, which is exchanged at the stand-in's token endpoint.
async fn fetch_with_token_helper(config_dir: &Path) {
    let registry = start_token_registry().await;
    let config = json!({"credHelpers": {registry.host.clone(): "inline-scan-token"}});
    std::fs::write(config_dir.join("config.json"), config.to_string()).unwrap();
    let options = RegistryOptions {
        insecure_http: true,
        docker_config_dir: Some(config_dir.to_path_buf()),
        ..RegistryOptions::default()
    };
    let image = fetch(&format!("{}/tok:1", registry.host), &options)
        .await
        .expect("fetch with a token from the helper");
    assert_eq!(image.manifest.digest(), registry.manifest_digest);
    let posts = registry.token_posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["refresh_token"], REFRESH_TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_challenge_with_password() {
    let registry = start_token_registry().await;
    let reference = format!("{}/tok:1", registry.host);

    let options = RegistryOptions {
        username: Some(TOKEN_USER.to_owned()),
        password: Some(Secret::new(TOKEN_PASSWORD)),
        ..plain_options()
    };
    let image = fetch(&reference, &options).await.expect("fetch via token");
    assert_eq!(image.manifest.digest(), registry.manifest_digest);
    assert_eq!(read_layer(&image, 0).await.unwrap(), registry.layer);

    let wrong = RegistryOptions {
        password: Some(Secret::new("not-the-password")),
        ..options
    };
    let error = fetch(&reference, &wrong).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(TOKEN_USER), "{error}");

    let error = fetch(&reference, &plain_options()).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
}

/// The binary analyzes `registry:REF` with no daemon reachable, finds exactly what it finds in
/// the OCI layout that was pushed, and names the image by the registry's own digest.
#[tokio::test]
async fn binary_analyzes_registry_like_layout() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    let layout = fixture("multilayer-whiteout.oci");
    registry.push(&layout, "1", "test/whiteout:1", false);
    let reference = format!("registry:{}/test/whiteout:1", registry.host);
    let work = tempfile::tempdir().unwrap();
    let from_registry = work.path().join("registry.json");
    let from_layout = work.path().join("layout.json");

    let binary = env!("CARGO_BIN_EXE_inline-scan");
    let run = |args: Vec<String>| {
        std::process::Command::new(binary)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // No daemon: a registry image must not need one.
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("DOCKER_CONFIG", empty_config_dir())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run inline-scan")
    };
    let output = run(vec![
        "analyze".into(),
        "--no-import".into(),
        "--registry-insecure".into(),
        "--sbom-out".into(),
        from_registry.display().to_string(),
        reference.clone(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "sha256:2d8ebde1038410ddb66b3062c8dcb01c0a4ea427692cfb9ca4fb20e33c33e9a8"
    );
    let output = run(vec![
        "analyze".into(),
        "--no-import".into(),
        "--sbom-out".into(),
        from_layout.display().to_string(),
        format!("oci-dir:{}", layout.display()),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let rows = |path: &Path| -> Vec<(String, String, String, String, String)> {
        let sbom: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut rows: Vec<_> = sbom["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["type"].as_str().unwrap().to_owned(),
                    a["name"].as_str().unwrap().to_owned(),
                    a["version"].as_str().unwrap().to_owned(),
                    a["purl"].as_str().unwrap().to_owned(),
                    a["locations"][0]["layerID"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let registry_rows = rows(&from_registry);
    assert_eq!(registry_rows.len(), 6);
    assert_eq!(registry_rows, rows(&from_layout));
}
