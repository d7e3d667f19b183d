//! A real Docker distribution registry (Debian's `docker-registry`) on 127.0.0.1 with a
//! temporary storage directory, in plain HTTP, TLS or htpasswd mode, and skopeo to push OCI
//! layouts into it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use inline_scan::digest::Digest;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::json;

/// The programs the registry tests run.
const TOOLS: [&str; 3] = ["docker-registry", "skopeo", "htpasswd"];

/// Attempts, 100 ms apart, to connect to a starting registry before giving up.
const READY_ATTEMPTS: u32 = 100;

pub const USERNAME: &str = "scanner";
pub const PASSWORD: &str = "registry-pass-31";

/// Returns true when the registry tools are installed. Without them the tests fail when
/// `CI=true`, and are skipped with a message otherwise.
pub fn require_tools() -> bool {
    let missing: Vec<&str> = TOOLS.into_iter().filter(|tool| !on_path(tool)).collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "registry tests need {}; scripts/setup.sh installs them (as root)",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    false
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, anonymous.
    Plain,
    /// HTTPS with a server certificate for 127.0.0.1 signed by a CA made for the test.
    Tls,
    /// Plain HTTP with htpasswd basic auth for [`USERNAME`] / [`PASSWORD`].
    BasicAuth,
}

/// A running registry. Dropping it stops the process and deletes the temporary directory.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub mode: Mode,
    /// The CA certificate (PEM) that signed the server certificate, in TLS mode.
    pub ca_file: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(mode: Mode) -> Registry {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();

        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        let mut ca_file = None;
        if mode == Mode::Tls {
            let (ca, cert, key) = write_tls_files(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            ca_file = Some(ca);
        }
        if mode == Mode::BasicAuth {
            let htpasswd = dir.path().join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbn", USERNAME, PASSWORD])
                .output()
                .expect("run htpasswd");
            assert!(output.status.success(), "htpasswd failed: {output:?}");
            std::fs::write(&htpasswd, &output.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: inline-scan-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();

        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry {
            child,
            host,
            mode,
            ca_file,
            dir,
        };
        registry.wait_until_listening(port);
        registry
    }

    fn wait_until_listening(&mut self, port: u16) {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..READY_ATTEMPTS {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "docker-registry exited with {status} before listening:\n{}",
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "docker-registry did not listen on {address}:\n{}",
            self.log()
        );
    }

    /// Returns the registry's log output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Returns `scheme://host:port` for the scheme the registry speaks.
    pub fn base_url(&self) -> String {
        match self.mode {
            Mode::Tls => format!("https://{}", self.host),
            Mode::Plain | Mode::BasicAuth => format!("http://{}", self.host),
        }
    }

    /// Pushes `oci:LAYOUT:LAYOUT_REF` to `REPOSITORY:TAG` with skopeo, keeping every digest.
    /// `all` copies every image of an index instead of one platform.
    pub fn push(&self, layout: &Path, layout_ref: &str, target: &str, all: bool) {
        self.push_with(layout, layout_ref, target, all, None);
    }

    /// Pushes like [`Registry::push`], but converts the manifests to Docker schema 2
    /// (skopeo `--format v2s2`), which changes their digests.
    pub fn push_docker_format(&self, layout: &Path, layout_ref: &str, target: &str, all: bool) {
        self.push_with(layout, layout_ref, target, all, Some("v2s2"));
    }

    fn push_with(
        &self,
        layout: &Path,
        layout_ref: &str,
        target: &str,
        all: bool,
        format: Option<&str>,
    ) {
        let mut command = Command::new("skopeo");
        command
            .args(["--insecure-policy", "copy", "--quiet"])
            .arg("--dest-tls-verify=false");
        match format {
            Some(format) => command.arg(format!("--format={format}")),
            None => command.arg("--preserve-digests"),
        };
        if all {
            command.arg("--all");
        }
        if self.mode == Mode::BasicAuth {
            command.arg(format!("--dest-creds={USERNAME}:{PASSWORD}"));
        }
        let output = command
            .arg(format!("oci:{}:{layout_ref}", layout.display()))
            .arg(format!("docker://{}/{target}", self.host))
            .env(
                "REGISTRY_AUTH_FILE",
                self.dir.path().join("skopeo-auth.json"),
            )
            .output()
            .expect("run skopeo");
        assert!(
            output.status.success(),
            "skopeo copy to {target} failed: {}\nregistry log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    /// Returns the file in the registry's storage that contains blob `digest` (`sha256:<hex>`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Returns a scratch directory that lives as long as the registry.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port on 127.0.0.1")
        .port()
}

/// Writes a CA certificate and a server certificate and key for 127.0.0.1 signed by it.
/// Returns (CA file, server certificate file, server key file).
fn write_tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "inline-scan test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();

    let server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params
        .signed_by(&server_key, &ca_cert, &ca_key)
        .unwrap();

    let ca = dir.join("ca.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&cert, server_cert.pem()).unwrap();
    std::fs::write(&key, server_key.serialize_pem()).unwrap();
    (ca, cert, key)
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The two single-platform images and the index that lists them.
pub struct MultiPlatform {
    pub amd64: Digest,
    pub arm64: Digest,
    pub index: Digest,
}

/// Writes an OCI layout whose `multi` reference is an index of two one-layer images, one
/// for linux/amd64 and one for linux/arm64/v8. Each layer contains `etc/platform` naming its
/// architecture, then a dpkg status database with one package, `platform-marker`, whose version
/// and architecture name the platform.
pub fn write_multi_platform_layout(dir: &Path) -> MultiPlatform {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (Digest, usize) {
        let digest = Digest::of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest, bytes.len())
    };

    let mut entries = Vec::new();
    let mut digests = HashMap::new();
    for (architecture, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let mut builder = tar::Builder::new(Vec::new());
        let content = format!("{architecture}\n");
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, "etc/platform", content.as_bytes())
            .unwrap();
        let status = format!(
            "Package: platform-marker\nStatus: install ok installed\nArchitecture: {architecture}\n\
             Version: 1.0-{architecture}\nMaintainer: Tests <tests@example.invalid>\n\
             Description: names the platform of its image\n\n"
        );
        let mut header = tar::Header::new_gnu();
        header.set_size(status.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, "var/lib/dpkg/status", status.as_bytes())
            .unwrap();
        let layer = builder.into_inner().unwrap();
        let (layer_digest, layer_size) = put(&layer);

        let config = json!({
            "architecture": architecture,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        });
        let (config_digest, config_size) = put(config.to_string().as_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest.to_string(),
                "size": config_size,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest.to_string(),
                "size": layer_size,
            }],
        });
        let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
        let mut platform = json!({"architecture": architecture, "os": "linux"});
        if let Some(variant) = variant {
            platform["variant"] = json!(variant);
        }
        entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest.to_string(),
            "size": manifest_size,
            "platform": platform,
        }));
        digests.insert(architecture, manifest_digest);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    let (index_digest, index_size) = put(index.to_string().as_bytes());
    let layout_index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_INDEX,
            "digest": index_digest.to_string(),
            "size": index_size,
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }],
    });
    std::fs::write(dir.join("index.json"), layout_index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    MultiPlatform {
        amd64: digests.remove("amd64").unwrap(),
        arm64: digests.remove("arm64").unwrap(),
        index: index_digest,
    }
}
