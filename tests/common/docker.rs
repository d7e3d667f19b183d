//! Helpers for tests that need a Docker daemon: the gate that fails under CI and skips
//! elsewhere, the TLS daemon's settings, and the test images built by
//! `scripts/build-test-images.sh`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use inline_scan::source::daemon::{self, Daemon};

/// The tag of the FROM scratch image with a two-package dpkg status.
pub const SCRATCH_DPKG_IMAGE: &str = "inline-scan-test/scratch-dpkg:1";

/// The tag of the debootstrap'd Debian bookworm minbase image.
pub const DEBIAN_MINBASE_IMAGE: &str = "inline-scan-test/debian-bookworm-minbase:12";

/// Address of the TLS daemon that `.ci/start-tls-dockerd.sh` starts.
pub const TLS_HOST: &str = "tcp://127.0.0.1:2376";

/// Returns whether the tests run under CI (`CI=true`), where a missing daemon is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Fails the test under CI, or prints why it is skipped and returns `None` elsewhere.
pub fn fail_or_skip<T>(requirement: &str, reason: &str) -> Option<T> {
    if under_ci() {
        panic!("{requirement} is required when CI=true: {reason}");
    }
    // Written to stderr directly, because libtest captures eprintln! output of passing tests.
    let note = format!(
        "SKIPPED: {requirement} is not available ({reason}); scripts/test.sh starts it, and CI=true makes this a failure\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
    None
}

/// Connects to the daemon from the process environment and checks that it responds.
pub async fn require_daemon() -> Option<Daemon> {
    let daemon = match daemon::connect() {
        Ok(daemon) => daemon,
        Err(err) => return fail_or_skip("a Docker daemon", &err.to_string()),
    };
    match daemon::negotiate(&daemon).await {
        Ok(()) => Some(daemon),
        Err(err) => fail_or_skip("a Docker daemon", &err.to_string()),
    }
}

/// Returns the folder of ca.pem, cert.pem and key.pem for the TLS daemon.
pub fn tls_cert_path() -> PathBuf {
    let root = std::env::var("INLINE_SCAN_TLS_DOCKERD_ROOT")
        .unwrap_or_else(|_| "/tmp/inline-scan-tls-dockerd".to_owned());
    Path::new(&root).join("client")
}

/// Returns the environment a docker CLI user would set for the TLS daemon, with `cert_path` as
/// `DOCKER_CERT_PATH`.
pub fn tls_env(cert_path: &Path) -> impl Fn(&str) -> Option<String> + use<> {
    let cert_path = cert_path.to_string_lossy().into_owned();
    move |name| match name {
        "DOCKER_HOST" => Some(TLS_HOST.to_owned()),
        "DOCKER_TLS_VERIFY" => Some("1".to_owned()),
        "DOCKER_CERT_PATH" => Some(cert_path.clone()),
        _ => None,
    }
}

/// Checks that the TLS daemon is up with its client certificates, else fails under CI or skips.
pub async fn require_tls_daemon() -> Option<PathBuf> {
    let cert_path = tls_cert_path();
    let daemon = match daemon::connect_with_env(&tls_env(&cert_path)) {
        Ok(daemon) => daemon,
        Err(err) => return fail_or_skip("the TLS Docker daemon", &err.to_string()),
    };
    match daemon::negotiate(&daemon).await {
        Ok(()) => Some(cert_path),
        Err(err) => fail_or_skip(
            "the TLS Docker daemon (.ci/start-tls-dockerd.sh)",
            &err.to_string(),
        ),
    }
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Makes sure `image` is in the daemon at `DOCKER_HOST`, running the image builder for `target`
/// (one of its arguments) when it is missing. Panics when the build fails.
pub fn ensure_image(image: &str, target: &str) {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if docker_cli(&["image", "inspect", "--format", "{{.Id}}", image]).is_ok() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-images.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(target)
        .status()
        .unwrap_or_else(|err| panic!("failed to run {}: {err}", script.display()));
    assert!(
        status.success(),
        "{} {target} failed: {status}",
        script.display()
    );
}

/// Runs the docker CLI and returns its trimmed stdout, as an independent view of the daemon.
pub fn docker_cli(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|err| format!("failed to run docker: {err}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Returns the `DOCKER_HOST` of the podman service that `.ci/start-podman.sh` starts.
pub fn podman_host() -> String {
    let root = std::env::var("INLINE_SCAN_PODMAN_ROOT")
        .unwrap_or_else(|_| "/tmp/inline-scan-podman".to_owned());
    format!("unix://{root}/podman.sock")
}

/// Connects to the podman service and checks that it responds, else fails under CI or skips.
pub async fn require_podman() -> Option<Daemon> {
    let host = podman_host();
    let env = move |name: &str| (name == "DOCKER_HOST").then(|| host.clone());
    let daemon = match daemon::connect_with_env(&env) {
        Ok(daemon) => daemon,
        Err(err) => {
            return fail_or_skip("the podman service (.ci/start-podman.sh)", &err.to_string());
        }
    };
    match daemon::negotiate(&daemon).await {
        Ok(()) => Some(daemon),
        Err(err) => fail_or_skip("the podman service (.ci/start-podman.sh)", &err.to_string()),
    }
}
