//! Faults of the network and of the Docker daemon, injected by servers on 127.0.0.1 and a
//! unix socket proxy, with the real binary. Each ends in a clear failure or a recovery, and
//! none leaves an import operation open on the fake.

mod common;
#[path = "common/docker.rs"]
mod docker;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use axum::http::Method;
use common::binary::{self, PASSWORD, assert_no_open_operation, code, stderr};
use common::cutting_proxy::CuttingProxy;
use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig, Fault};

/// The manifest digest the binary synthesizes for `rpm-sqlite.docker.tar`.
const RPM_SQLITE_DIGEST: &str =
    "sha256:db7f146a5f0d7799ddeaf8b6a3fd65584c37435e984b3296fa337c6c1479fa30";
const WHITEOUT_DAEMON_IMAGE: &str = "sbomtest/multilayer-whiteout:1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn archive_image() -> String {
    format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    )
}

/// Analyzes the rpm-sqlite archive and imports it into `url`, with `extra` options appended.
async fn import_archive(url: &str, extra: &[&str]) -> Output {
    let image = archive_image();
    let mut args = vec![
        "analyze", &image, "-r", url, "-u", "admin", "--report", "none",
    ];
    args.extend_from_slice(extra);
    binary::run(&args, &[("ANCHORECTL_PASSWORD", PASSWORD)]).await
}

fn requests_to(fake: &FakeAnchore, method: &str, suffix: &str) -> Vec<u16> {
    fake.requests()
        .iter()
        .filter(|request| request.method == method && request.path.ends_with(suffix))
        .map(|request| request.status)
        .collect()
}

/// Returns `status` (with `Retry-After` when given) for the next `times` packages uploads.
fn upload_status(status: u16, retry_after: Option<u64>, times: u32) -> Fault {
    Fault::Status {
        method: Method::POST,
        path_suffix: "/packages".to_owned(),
        status,
        retry_after,
        times,
    }
}

/// Asserts that a persistent `status` on the packages upload is tried four times (the
/// binary's retry policy), then fails with exit 1 naming the status, and that the operation
/// was deleted.
async fn check_persistent_status(status: u16) {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(upload_status(status, None, 100));
    let output = import_archive(&fake.url, &[]).await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains(&status.to_string()), "{stderr}");
    assert!(stderr.contains("packages"), "{stderr}");
    assert_eq!(requests_to(&fake, "POST", "/packages"), [status; 4]);
    assert_eq!(requests_to(&fake, "DELETE", "").len(), 1);
    assert_no_open_operation(&fake);
    assert!(fake.image_status(RPM_SQLITE_DIGEST).is_none());
}

#[tokio::test]
async fn persistent_500_fails_after_retries() {
    check_persistent_status(500).await;
}

#[tokio::test]
async fn persistent_502_fails_after_retries() {
    check_persistent_status(502).await;
}

#[tokio::test]
async fn persistent_503_fails_after_retries() {
    check_persistent_status(503).await;
}

#[tokio::test]
async fn persistent_429_fails_after_retries() {
    check_persistent_status(429).await;
}

#[tokio::test]
async fn transient_503_then_import_succeeds() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(upload_status(503, None, 2));
    let output = import_archive(&fake.url, &[]).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(requests_to(&fake, "POST", "/packages"), [503, 503, 200]);
    assert_eq!(
        fake.image_status(RPM_SQLITE_DIGEST).as_deref(),
        Some("analyzed")
    );
    assert_no_open_operation(&fake);
}

#[tokio::test]
async fn retry_after_hour_is_capped() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(upload_status(429, Some(3600), 1));
    let output = import_archive(&fake.url, &["-V"]).await;
    let stderr = binary::without_colors(&stderr(&output));
    assert_eq!(code(&output), 0, "{stderr}");
    // The logged delay shows the 30 s cap applied to the hour the server asked for.
    let retry_line = stderr
        .lines()
        .find(|line| line.contains("retrying Anchore request"))
        .unwrap_or_else(|| panic!("no retry logged: {stderr}"));
    assert!(retry_line.contains("delay_ms=30000"), "{retry_line}");
    assert_eq!(requests_to(&fake, "POST", "/packages"), [429, 200]);
    assert_no_open_operation(&fake);
}

/// Accepts TCP connections on 127.0.0.1 and never reads from or writes to them.
struct SilentServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    async fn start() -> SilentServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentServer { url, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = SilentServer::start().await;
    let output = import_archive(&server.url, &["--request-timeout", "1"]).await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains("timed out after 1 s"), "{stderr}");
}

#[tokio::test]
async fn hung_upload_times_out_and_deletes() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(Fault::Delay {
        method: Method::POST,
        path_suffix: "/packages".to_owned(),
        delay: Duration::from_secs(600),
        times: 100,
    });
    let output = import_archive(&fake.url, &["--request-timeout", "2"]).await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains("timed out after 2 s"), "{stderr}");
    assert!(stderr.contains("packages"), "{stderr}");
    assert_eq!(requests_to(&fake, "POST", "/packages").len(), 4);
    assert_eq!(requests_to(&fake, "DELETE", "").len(), 1);
    assert_no_open_operation(&fake);
}

#[tokio::test]
async fn trickling_poll_body_times_out() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    // One byte every 200 ms: a poll response of a few hundred bytes takes about a minute, far
    // past the 2 s request timeout, although bytes keep arriving.
    fake.inject(Fault::Trickle {
        method: Method::GET,
        path_suffix: RPM_SQLITE_DIGEST.to_owned(),
        chunk: 1,
        interval: Duration::from_millis(200),
        times: 100,
    });
    let output = import_archive(&fake.url, &["--request-timeout", "2"]).await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains("timed out after 2 s"), "{stderr}");
    assert!(stderr.contains(RPM_SQLITE_DIGEST), "{stderr}");
    // The import itself was finalized before the wait, so nothing is left open.
    assert_no_open_operation(&fake);
    assert_eq!(fake.operations().len(), 1);
}

#[tokio::test]
async fn slow_but_steady_body_succeeds() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(Fault::Trickle {
        method: Method::GET,
        path_suffix: RPM_SQLITE_DIGEST.to_owned(),
        chunk: 64,
        interval: Duration::from_millis(5),
        times: 100,
    });
    let output = import_archive(&fake.url, &["--request-timeout", "30"]).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        fake.image_status(RPM_SQLITE_DIGEST).as_deref(),
        Some("analyzed")
    );
    assert_no_open_operation(&fake);
}

#[tokio::test]
async fn redirect_to_other_port_not_followed() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let elsewhere = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let location = format!("{}/v2/imports/images/stolen/packages", elsewhere.url);
    fake.inject(Fault::Redirect {
        method: Method::POST,
        path_suffix: "/packages".to_owned(),
        location: location.clone(),
        times: 100,
    });
    let output = import_archive(&fake.url, &[]).await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains(&location), "{stderr}");
    assert!(stderr.contains("not followed"), "{stderr}");
    // Neither the request nor its credentials reached the other server.
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert_eq!(requests_to(&fake, "DELETE", "").len(), 1);
    assert_no_open_operation(&fake);
}

/// Starts the TLS fake and writes its CA certificate to a file. Returns both.
async fn tls_fake() -> (FakeAnchore, tempfile::TempDir, String) {
    let (fake, ca_pem) = FakeAnchore::start_tls(FakeConfig::new(ApiMode::V2Only)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let ca = ca_path.display().to_string();
    (fake, dir, ca)
}

#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let (fake, _dir, _ca) = tls_fake().await;
    let output = import_archive(&fake.url, &[]).await;
    let stderr = stderr(&output);
    assert_eq!(code(&output), 1, "{stderr}");
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    assert!(stderr.contains("--cacert"), "{stderr}");
    assert!(fake.operations().is_empty());
}

#[tokio::test]
async fn cacert_makes_certificate_trusted() {
    let (fake, _dir, ca) = tls_fake().await;
    let output = import_archive(&fake.url, &["--cacert", &ca]).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        fake.image_status(RPM_SQLITE_DIGEST).as_deref(),
        Some("analyzed")
    );
    assert_no_open_operation(&fake);
}

#[tokio::test]
async fn insecure_accepts_untrusted_certificate() {
    let (fake, _dir, _ca) = tls_fake().await;
    let output = import_archive(&fake.url, &["--insecure"]).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_no_open_operation(&fake);
}

/// Returns the unix socket of the daemon the tests use, or `None` when the daemon is not
/// reachable over a unix socket (the test then fails under CI and is skipped elsewhere).
async fn daemon_socket() -> Option<PathBuf> {
    docker::require_daemon().await?;
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let path = match host.strip_prefix("unix://") {
        Some(path) => PathBuf::from(path),
        None if host.is_empty() => PathBuf::from("/var/run/docker.sock"),
        None => return docker::fail_or_skip("a unix socket DOCKER_HOST", &host),
    };
    Some(path)
}

/// Analyzes the whiteout image from the daemon through `proxy` and imports it into a fake.
async fn import_through(proxy: &CuttingProxy) -> (Output, FakeAnchore) {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let host = proxy.docker_host();
    let args = [
        "analyze",
        WHITEOUT_DAEMON_IMAGE,
        "-r",
        &fake.url,
        "-u",
        "admin",
        "--report",
        "none",
    ];
    let output = binary::run(
        &args,
        &[("ANCHORECTL_PASSWORD", PASSWORD), ("DOCKER_HOST", &host)],
    )
    .await;
    (output, fake)
}

#[tokio::test]
async fn daemon_dying_mid_export_fails() {
    let Some(socket) = daemon_socket().await else {
        return;
    };
    docker::ensure_image(WHITEOUT_DAEMON_IMAGE, "fixtures");
    // The export request is `GET /v1.xx/images/<id>/get`. Cut it 20 KiB in, inside the
    // first layer.
    let proxy = CuttingProxy::start(&socket, "/get", 20 * 1024);
    let (output, fake) = import_through(&proxy).await;
    let stderr = stderr(&output);
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(code(&output), 2, "{stderr}");
    assert!(stderr.contains(&proxy.docker_host()), "{stderr}");
    assert!(stderr.contains(WHITEOUT_DAEMON_IMAGE), "{stderr}");
    assert!(stderr.contains("docker info"), "{stderr}");
    assert!(!stderr.contains("write the"), "{stderr}");
    assert!(fake.operations().is_empty(), "{:?}", fake.operations());
}

#[tokio::test]
async fn daemon_through_whole_proxy_succeeds() {
    let Some(socket) = daemon_socket().await else {
        return;
    };
    docker::ensure_image(WHITEOUT_DAEMON_IMAGE, "fixtures");
    let proxy = CuttingProxy::start(&socket, "/get", u64::MAX);
    let (output, fake) = import_through(&proxy).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(fake.operations().len(), 1);
    assert_no_open_operation(&fake);
}
