//! The Docker daemon as an image source: connection from the docker CLI's environment, image
//! inspection, the `-P` pull, and a streamed `docker save` of one image.
//!
//! The same code talks to podman through its Docker-compatible socket
//! (`podman system service unix:///run/podman/podman.sock`, then
//! `DOCKER_HOST=unix:///run/podman/podman.sock`), because podman serves the same Engine API
//! endpoints used here (`/version`, `/images/{name}/json`, `/images/create`, `/images/{name}/get`).
//! Tested with Docker Engine 20.10 and podman 4.3 (Debian bookworm). podman differs in two ways
//! callers see: local images are tagged `localhost/NAME:TAG`, and its `docker save` stream stores
//! each `DIFFID/layer.tar` as a symlink to a top-level `DIFFID.tar`.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::digest::Digest;
use crate::source::Platform;

/// `DOCKER_HOST` when the variable is unset or empty, as in the docker CLI on Linux.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Time allowed for the daemon to send the response headers of an API call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest pause allowed between two chunks of a `docker save` stream, before the first one, and
/// between two progress messages of a pull.
/// Docker 20.10 writes the whole image to a temporary folder before it sends the first byte, so
/// the first chunk of a multi-gigabyte image can take minutes.
pub const DEFAULT_EXPORT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Errors of the daemon source. Each message names the daemon address (`DOCKER_HOST`) or the
/// image, and the next step.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "invalid DOCKER_HOST {host:?}: {reason}; set it to unix:///path/to/docker.sock or tcp://HOST:PORT"
    )]
    InvalidHost { host: String, reason: String },

    #[error(
        "TLS is on (DOCKER_TLS_VERIFY is set) but {file} is missing or unreadable: {detail}; \
         set DOCKER_CERT_PATH to the folder that contains ca.pem, cert.pem and key.pem for DOCKER_HOST={host}"
    )]
    CertificateFile {
        host: String,
        file: PathBuf,
        detail: String,
    },

    #[error(
        "the Docker daemon at DOCKER_HOST={host} does not respond: {detail}; start the daemon \
         (or podman system service), or set DOCKER_HOST to the address where it listens"
    )]
    Unreachable { host: String, detail: String },

    #[error(
        "the TLS connection to the Docker daemon at DOCKER_HOST={host} failed: {detail}; check that \
         DOCKER_CERT_PATH={cert_path} contains the CA (ca.pem) that signed the daemon's certificate \
         and a client certificate (cert.pem, key.pem) that the daemon accepts"
    )]
    Tls {
        host: String,
        cert_path: PathBuf,
        detail: String,
    },

    #[error(
        "the Docker daemon at DOCKER_HOST={host} requires TLS: set DOCKER_TLS_VERIFY=1 and \
         DOCKER_CERT_PATH to the folder that contains ca.pem, cert.pem and key.pem"
    )]
    TlsRequired { host: String },

    #[error("the Docker daemon at DOCKER_HOST={host} returned an error: {detail}")]
    Daemon { host: String, detail: String },

    #[error(
        "the server at DOCKER_HOST={host} answered, but not as the Docker Engine API does: \
         {detail}; check that DOCKER_HOST points at the socket or port of a Docker daemon (or \
         podman system service)"
    )]
    NotDockerApi { host: String, detail: String },

    #[error(
        "the request to the Docker daemon at DOCKER_HOST={host} timed out after {seconds} s; \
         check that the daemon is healthy (docker info) and not overloaded"
    )]
    TimedOut { host: String, seconds: u64 },

    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error(
        "image {reference} not found in the local daemon: build it, or pass -P to pull it first"
    )]
    ImageNotFound { reference: String },

    #[error(
        "pulling {reference} through the Docker daemon at DOCKER_HOST={host} failed: {detail}; \
         check that the daemon can reach the registry (proxy, DNS, firewall) and is logged in \
         to it (docker login), or build the image locally and run without -P"
    )]
    Pull {
        reference: String,
        host: String,
        detail: String,
    },

    #[error(
        "the Docker daemon at DOCKER_HOST={host} rejected {operation} of {reference}: {detail}"
    )]
    Api {
        host: String,
        operation: &'static str,
        reference: String,
        detail: String,
    },

    #[error(
        "exporting image {image_id} from the Docker daemon at DOCKER_HOST={host} failed: {detail}; \
         the daemon may have stopped or restarted, so check it (docker info) and run again"
    )]
    Export {
        host: String,
        image_id: String,
        detail: String,
    },

    #[error(
        "exporting image {image_id} from the Docker daemon at DOCKER_HOST={host} stalled: no data \
         for {seconds} s; check that the daemon is healthy (docker info) and has free disk space"
    )]
    ExportStalled {
        host: String,
        image_id: String,
        seconds: u64,
    },
}

/// A connected daemon client together with the address it was made for, so errors can name it.
#[derive(Debug, Clone)]
pub struct Daemon {
    client: Docker,
    host: String,
    /// The folder of ca.pem, cert.pem and key.pem, when TLS is on.
    cert_path: Option<PathBuf>,
    /// Set once [`negotiate`] has succeeded, and shared between clones like the client's
    /// version, so a run requests the daemon's version once.
    negotiated: Arc<AtomicBool>,
}

impl Daemon {
    /// Returns the bollard client, for API calls this module does not wrap.
    pub fn client(&self) -> &Docker {
        &self.client
    }

    /// Returns the `DOCKER_HOST` value this client connects to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Returns whether the connection uses TLS with verification (`DOCKER_TLS_VERIFY`).
    pub fn uses_tls(&self) -> bool {
        self.cert_path.is_some()
    }
}

/// The fields of `docker image inspect` that callers of [`inspect`] need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonImage {
    /// The image id: the digest of its config.
    pub id: Digest,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub platform: Platform,
}

/// Connects to the daemon that the docker CLI would use, from the process environment.
///
/// Reads `DOCKER_HOST` (`unix://` or `tcp://`, default [`DEFAULT_HOST`]) and `DOCKER_TLS_VERIFY`,
/// where any non-empty value turns on TLS with verification of the daemon's certificate. With
/// TLS, `DOCKER_CERT_PATH` names the folder of ca.pem, cert.pem and key.pem (default
/// `$DOCKER_CONFIG`, then `~/.docker`). GitLab's docker:dind service and CircleCI's remote Docker set exactly these.
/// No request is sent yet: a daemon that is down shows up on the first call, except that a
/// missing unix socket is reported here.
/// NOTE: docker CLI contexts (`DOCKER_CONTEXT`, `currentContext` in config.json) and
/// `DOCKER_TLS` without verification are not read, so such setups need `DOCKER_HOST` set.
pub fn connect() -> Result<Daemon, DaemonError> {
    connect_with_env(&|name| std::env::var(name).ok())
}

/// Connects like [`connect`], with variables read through `env` instead of the process
/// environment, so callers and tests can supply their own.
pub fn connect_with_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Daemon, DaemonError> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let host = var("DOCKER_HOST").unwrap_or_else(|| DEFAULT_HOST.to_owned());
    let tls_verify = var("DOCKER_TLS_VERIFY").is_some();
    let timeout = DEFAULT_REQUEST_TIMEOUT.as_secs();

    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(invalid_host(&host, "the socket path is empty"));
        }
        // The docker CLI ignores the TLS variables for a unix socket, and so does this.
        let client = Docker::connect_with_unix(&host, timeout, bollard::API_DEFAULT_VERSION)
            .map_err(|err| unreachable_error(&host, &err))?;
        return Ok(Daemon {
            client,
            host,
            cert_path: None,
            negotiated: Arc::default(),
        });
    }

    let Some(address) = host.strip_prefix("tcp://") else {
        let reason = match host.split_once("://") {
            Some((scheme, _)) => format!("the scheme {scheme}:// is not supported"),
            None => "the scheme is missing".to_owned(),
        };
        return Err(invalid_host(&host, &reason));
    };
    let address = tcp_address(&host, address, tls_verify)?;

    if !tls_verify {
        let client = Docker::connect_with_http(&address, timeout, bollard::API_DEFAULT_VERSION)
            .map_err(|err| unreachable_error(&host, &err))?;
        return Ok(Daemon {
            client,
            host,
            cert_path: None,
            negotiated: Arc::default(),
        });
    }

    let cert_path = cert_path(&var);
    let ca = cert_path.join("ca.pem");
    let cert = cert_path.join("cert.pem");
    let key = cert_path.join("key.pem");
    // bollard reads cert.pem and key.pem only during the handshake and drops read errors there,
    // so a missing file is reported here instead of as an opaque handshake failure.
    for file in [&ca, &cert, &key] {
        check_readable(&host, file)?;
    }
    // NOTE: bollard 0.19 trusts the system's CA store in addition to ca.pem, whereas the docker
    // CLI trusts ca.pem alone.
    let client = Docker::connect_with_ssl(
        &address,
        &key,
        &cert,
        &ca,
        timeout,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|err| tls_error(&host, &cert_path, &err))?;
    Ok(Daemon {
        client,
        host,
        cert_path: Some(cert_path),
        negotiated: Arc::default(),
    })
}

/// Pings the daemon and lowers the client's API version to the daemon's when the daemon is older
/// than bollard's default, as the docker CLI negotiates it. Every call below starts with this.
pub async fn negotiate(daemon: &Daemon) -> Result<(), DaemonError> {
    if daemon.negotiated.load(Ordering::Acquire) {
        return Ok(());
    }
    // The version numbers are shared between clones, so the negotiated value sticks.
    within_request_timeout(daemon, daemon.client.clone().negotiate_version())
        .await?
        .map_err(|err| connection_error(daemon, &err))?;
    daemon.negotiated.store(true, Ordering::Release);
    Ok(())
}

/// Runs a call whose whole response (headers and body) must arrive within the client's request
/// timeout. bollard's own timeout covers the headers only, so a daemon that stops sending in
/// the middle of a JSON body would otherwise block the caller forever.
async fn within_request_timeout<T>(
    daemon: &Daemon,
    call: impl Future<Output = T>,
) -> Result<T, DaemonError> {
    let timeout = daemon.client.timeout();
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_elapsed| DaemonError::TimedOut {
            host: daemon.host.clone(),
            seconds: timeout.as_secs(),
        })
}

/// Inspects `reference` (a name, `name:tag`, `name@digest` or an image id) in the daemon.
pub async fn inspect(daemon: &Daemon, reference: &str) -> Result<DaemonImage, DaemonError> {
    check_reference(reference)?;
    negotiate(daemon).await?;

    let inspected = within_request_timeout(daemon, daemon.client.inspect_image(reference))
        .await?
        .map_err(|err| match err {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => DaemonError::ImageNotFound {
                reference: reference.to_owned(),
            },
            other => api_error(daemon, "inspection", reference, &other),
        })?;

    let missing = |field: &str| DaemonError::Api {
        host: daemon.host.clone(),
        operation: "inspection",
        reference: reference.to_owned(),
        detail: format!("the response has no {field}"),
    };
    let id = inspected.id.ok_or_else(|| missing("Id"))?;
    let id = parse_image_id(&id).ok_or_else(|| DaemonError::Api {
        host: daemon.host.clone(),
        operation: "inspection",
        reference: reference.to_owned(),
        detail: format!("the image id {id:?} is not a sha256 digest"),
    })?;
    let os = inspected.os.filter(|os| !os.is_empty());
    let architecture = inspected.architecture.filter(|arch| !arch.is_empty());
    Ok(DaemonImage {
        id,
        repo_tags: inspected.repo_tags.unwrap_or_default(),
        repo_digests: inspected.repo_digests.unwrap_or_default(),
        platform: Platform {
            os: os.ok_or_else(|| missing("Os"))?,
            architecture: architecture.ok_or_else(|| missing("Architecture"))?,
            variant: inspected.variant.filter(|variant| !variant.is_empty()),
        },
    })
}

/// Pulls `reference` into the daemon (`-P`), for `platform` when given, and waits until the
/// daemon has finished. A reference without a tag or digest pulls `:latest`, like `docker pull`,
/// instead of every tag of the repository.
/// NOTE: Docker 20.10 pulls a single-platform image of another platform without an error, so
/// callers compare the platform that [`inspect`] returns with the one they requested.
pub async fn pull(
    daemon: &Daemon,
    reference: &str,
    platform: Option<&Platform>,
) -> Result<(), DaemonError> {
    check_reference(reference)?;
    negotiate(daemon).await?;

    let mut options = CreateImageOptionsBuilder::new().from_image(reference);
    if !has_tag_or_digest(reference) {
        options = options.tag("latest");
    }
    if let Some(platform) = platform {
        options = options.platform(&platform_string(platform));
    }

    let pull_error = |err: bollard::errors::Error| match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => DaemonError::Pull {
            reference: reference.to_owned(),
            host: daemon.host.clone(),
            detail: message,
        },
        bollard::errors::Error::DockerStreamError { error } => DaemonError::Pull {
            reference: reference.to_owned(),
            host: daemon.host.clone(),
            detail: error,
        },
        other => connection_error(daemon, &other),
    };

    let mut progress = daemon
        .client
        .create_image(Some(options.build()), None, None);
    loop {
        let next = tokio::time::timeout(DEFAULT_EXPORT_IDLE_TIMEOUT, progress.next()).await;
        let update = match next {
            Ok(Some(update)) => update.map_err(pull_error)?,
            Ok(None) => break,
            Err(_elapsed) => {
                return Err(DaemonError::Pull {
                    reference: reference.to_owned(),
                    host: daemon.host.clone(),
                    detail: format!(
                        "the daemon reported no progress for {} s",
                        DEFAULT_EXPORT_IDLE_TIMEOUT.as_secs()
                    ),
                });
            }
        };
        if let Some(status) = update.status {
            tracing::debug!(reference, status, id = update.id, "pull progress");
        }
    }
    Ok(())
}

/// Streams `docker save` of one image, by id so that the stream contains that image alone (its
/// `manifest.json` then has no `RepoTags`). Nothing is written to disk. The stream ends with an
/// error when the daemon stops mid-export or sends nothing for [`DEFAULT_EXPORT_IDLE_TIMEOUT`].
pub fn export(
    daemon: &Daemon,
    image_id: &Digest,
) -> impl Stream<Item = Result<Bytes, DaemonError>> + Send + Unpin + 'static {
    export_with_idle_timeout(daemon, image_id, DEFAULT_EXPORT_IDLE_TIMEOUT)
}

/// Streams like [`export`], failing when the daemon sends nothing for `idle_timeout` (whole
/// seconds, at least 1).
pub fn export_with_idle_timeout(
    daemon: &Daemon,
    image_id: &Digest,
    idle_timeout: Duration,
) -> impl Stream<Item = Result<Bytes, DaemonError>> + Send + Unpin + 'static {
    export_stream(daemon, image_id, idle_timeout, true)
}

/// Streams the export of `image_id`. With `inspect_first`, the id is inspected before the
/// export request: Docker 20.10 responds to the export of an unknown id with a 500 and a
/// file-system message, and the inspection reports a missing image as such.
fn export_stream(
    daemon: &Daemon,
    image_id: &Digest,
    idle_timeout: Duration,
    inspect_first: bool,
) -> impl Stream<Item = Result<Bytes, DaemonError>> + Send + Unpin + 'static {
    let idle_timeout = idle_timeout.max(Duration::from_secs(1));
    let daemon = daemon.clone();
    let image_id = image_id.to_string();

    let setup: Option<BoxedSetup> = inspect_first.then(|| {
        let daemon = daemon.clone();
        let image_id = image_id.clone();
        Box::pin(async move { inspect(&daemon, &image_id).await.map(drop) }) as BoxedSetup
    });
    // The response headers come only once the daemon has started writing the tar, so the
    // request timeout has to be as long as the idle timeout.
    let client = daemon.client.clone().with_timeout(idle_timeout);
    let body = client.export_image(&image_id);

    let state = ExportState {
        setup,
        body: Box::pin(body),
        daemon,
        image_id,
        idle_timeout,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(state, next_export_chunk))
}

/// Adapts [`export`] to a blocking [`Read`], for readers that are not async. Call it inside a
/// Tokio runtime and read from the result inside `tokio::task::spawn_blocking`, because each read
/// may wait for the runtime. Errors come out as [`io::Error`]s that wrap the [`DaemonError`].
///
/// The caller has inspected `image_id` just before, so the export request goes out at once.
/// A second inspection would add a round trip before the daemon starts the export, and the
/// export is the slowest part of a daemon run.
///
/// Docker sends the export in HTTP chunks of 32 KiB. Handing each chunk to the reading thread
/// on its own costs two wake-ups between threads per chunk, which limited a daemon run more
/// than the reading did. So a task on the runtime gathers the chunks into batches. It sends
/// a batch once it contains [`EXPORT_BATCH_BYTES`], or at once while the reader waits.
pub fn export_reader(daemon: &Daemon, image_id: &Digest) -> impl Read + Send + 'static {
    export_reader_from(export_stream(
        daemon,
        image_id,
        DEFAULT_EXPORT_IDLE_TIMEOUT,
        false,
    ))
}

/// Bytes of export chunks gathered before a batch goes to the reading thread.
const EXPORT_BATCH_BYTES: usize = 1 << 20;

/// Batches queued for the reading thread, so at most about this many MiB wait in memory.
const EXPORT_BATCHES_QUEUED: usize = 4;

type ExportBatch = Result<Vec<Bytes>, DaemonError>;

/// Runs the batching task for `stream` on the current runtime and returns the reading end.
fn export_reader_from(
    mut stream: impl Stream<Item = Result<Bytes, DaemonError>> + Send + Unpin + 'static,
) -> BatchReader {
    let (sender, receiver) = tokio::sync::mpsc::channel::<ExportBatch>(EXPORT_BATCHES_QUEUED);
    let reader_waits = Arc::new(tokio::sync::Notify::new());
    let waits = Arc::clone(&reader_waits);
    tokio::spawn(async move {
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0usize;
        loop {
            let next = tokio::select! {
                biased;
                () = waits.notified(), if !batch.is_empty() => None,
                next = stream.next() => Some(next),
            };
            let send = match next {
                // The reader is waiting, so it gets the chunks gathered so far.
                None => Ok(std::mem::take(&mut batch)),
                Some(Some(Ok(chunk))) => {
                    batched += chunk.len();
                    batch.push(chunk);
                    if batched < EXPORT_BATCH_BYTES {
                        continue;
                    }
                    Ok(std::mem::take(&mut batch))
                }
                Some(Some(Err(err))) => {
                    if !batch.is_empty()
                        && sender.send(Ok(std::mem::take(&mut batch))).await.is_err()
                    {
                        return;
                    }
                    let _ = sender.send(Err(err)).await;
                    return;
                }
                Some(None) => {
                    if !batch.is_empty() {
                        let _ = sender.send(Ok(batch)).await;
                    }
                    return;
                }
            };
            batched = 0;
            // A closed channel means the reader is gone, and dropping the stream ends the
            // request.
            if sender.send(send).await.is_err() {
                return;
            }
        }
    });
    BatchReader {
        batches: receiver,
        reader_waits,
        chunks: std::collections::VecDeque::new(),
        ended: false,
    }
}

/// The reading end of [`export_reader`].
struct BatchReader {
    batches: tokio::sync::mpsc::Receiver<ExportBatch>,
    reader_waits: Arc<tokio::sync::Notify>,
    chunks: std::collections::VecDeque<Bytes>,
    ended: bool,
}

impl Read for BatchReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(chunk) = self.chunks.front_mut() {
                let n = chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&chunk[..n]);
                bytes::Buf::advance(chunk, n);
                if chunk.is_empty() {
                    self.chunks.pop_front();
                }
                if n > 0 {
                    return Ok(n);
                }
                continue;
            }
            if self.ended {
                return Ok(0);
            }
            let batch = match self.batches.try_recv() {
                Ok(batch) => Some(batch),
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    // Tell the task to send the chunks it has gathered, then wait for them.
                    self.reader_waits.notify_one();
                    self.batches.blocking_recv()
                }
            };
            match batch {
                Some(Ok(chunks)) => self.chunks.extend(chunks),
                Some(Err(err)) => {
                    self.ended = true;
                    return Err(io::Error::other(err));
                }
                None => self.ended = true,
            }
        }
    }
}

type BoxedSetup = std::pin::Pin<Box<dyn Future<Output = Result<(), DaemonError>> + Send>>;
type BoxedBody =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, bollard::errors::Error>> + Send>>;

struct ExportState {
    setup: Option<BoxedSetup>,
    body: BoxedBody,
    daemon: Daemon,
    image_id: String,
    idle_timeout: Duration,
    finished: bool,
}

async fn next_export_chunk(
    mut state: ExportState,
) -> Option<(Result<Bytes, DaemonError>, ExportState)> {
    if state.finished {
        return None;
    }
    if let Some(setup) = state.setup.take() {
        if let Err(err) = setup.await {
            state.finished = true;
            return Some((Err(err), state));
        }
    }

    let next = tokio::time::timeout(state.idle_timeout, state.body.next()).await;
    let result = match next {
        Ok(None) => return None,
        Ok(Some(Ok(chunk))) => Ok(chunk),
        Ok(Some(Err(err))) => Err(export_error(
            &state.daemon,
            &state.image_id,
            state.idle_timeout,
            err,
        )),
        Err(_elapsed) => Err(DaemonError::ExportStalled {
            host: state.daemon.host.clone(),
            image_id: state.image_id.clone(),
            seconds: state.idle_timeout.as_secs(),
        }),
    };
    if result.is_err() {
        state.finished = true;
    }
    Some((result, state))
}

fn export_error(
    daemon: &Daemon,
    image_id: &str,
    idle_timeout: Duration,
    err: bollard::errors::Error,
) -> DaemonError {
    match err {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => DaemonError::ImageNotFound {
            reference: image_id.to_owned(),
        },
        bollard::errors::Error::RequestTimeoutError => DaemonError::ExportStalled {
            host: daemon.host.clone(),
            image_id: image_id.to_owned(),
            seconds: idle_timeout.as_secs(),
        },
        bollard::errors::Error::DockerResponseServerError { message, .. } => DaemonError::Export {
            host: daemon.host.clone(),
            image_id: image_id.to_owned(),
            detail: message,
        },
        other if is_connect_failure(&other) => connection_error(daemon, &other),
        other => DaemonError::Export {
            host: daemon.host.clone(),
            image_id: image_id.to_owned(),
            detail: error_chain(&other),
        },
    }
}

fn invalid_host(host: &str, reason: &str) -> DaemonError {
    DaemonError::InvalidHost {
        host: host.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Checks `host:port` after `tcp://` and adds the docker CLI's default port when it is missing:
/// 2376 with TLS, 2375 without.
fn tcp_address(host: &str, address: &str, tls_verify: bool) -> Result<String, DaemonError> {
    let address = address.trim_end_matches('/');
    if address.is_empty() {
        return Err(invalid_host(host, "the host name is empty"));
    }
    if address.contains('/') {
        return Err(invalid_host(
            host,
            "a path after the address is not supported",
        ));
    }
    let has_port = match address.rsplit_once(':') {
        // A bracketed IPv6 address has colons of its own.
        Some((name, port)) => !port.contains(']') && !name.is_empty(),
        None => false,
    };
    if has_port {
        return Ok(address.to_owned());
    }
    let port = if tls_verify { 2376 } else { 2375 };
    Ok(format!("{address}:{port}"))
}

/// Returns `DOCKER_CERT_PATH`, else `$DOCKER_CONFIG`, else `$HOME/.docker`, the order the docker
/// CLI uses.
fn cert_path(var: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(path) = var("DOCKER_CERT_PATH").or_else(|| var("DOCKER_CONFIG")) {
        return PathBuf::from(path);
    }
    let home = var("HOME").unwrap_or_else(|| "/root".to_owned());
    Path::new(&home).join(".docker")
}

fn check_readable(host: &str, file: &Path) -> Result<(), DaemonError> {
    std::fs::File::open(file)
        .map(drop)
        .map_err(|err| DaemonError::CertificateFile {
            host: host.to_owned(),
            file: file.to_owned(),
            detail: err.to_string(),
        })
}

/// Rejects references with characters that cannot appear in an image name, tag, digest or id,
/// because the reference becomes part of the request path.
fn check_reference(reference: &str) -> Result<(), DaemonError> {
    let invalid = |reason: &str| DaemonError::InvalidReference {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    if reference.is_empty() {
        return Err(invalid("the reference is empty"));
    }
    if reference.starts_with(['-', '/', '.', ':', '@']) {
        return Err(invalid("it must start with a letter or digit"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    if let Some(bad) = reference.chars().find(|&c| !allowed(c)) {
        return Err(invalid(&format!(
            "the character {bad:?} is not allowed; use NAME[:TAG][@DIGEST] or an image id"
        )));
    }
    Ok(())
}

/// Returns whether the last path component of `reference` carries a tag (`:tag`) or the reference a
/// digest (`@sha256:...`). The registry's `host:port` prefix is not a tag.
fn has_tag_or_digest(reference: &str) -> bool {
    if reference.contains('@') {
        return true;
    }
    let last_component = reference.rsplit('/').next().unwrap_or(reference);
    last_component.contains(':')
}

fn platform_string(platform: &Platform) -> String {
    match &platform.variant {
        Some(variant) => format!("{}/{}/{variant}", platform.os, platform.architecture),
        None => format!("{}/{}", platform.os, platform.architecture),
    }
}

/// Parses an image id as Docker (`sha256:<hex>`) or some podman versions (bare hex) send it.
fn parse_image_id(id: &str) -> Option<Digest> {
    id.parse().ok().or_else(|| Digest::from_hex(id).ok())
}

/// Joins an error with all its sources, because bollard's top-level messages ("client error
/// (Connect)") hide the cause, such as a refused connection or an unknown certificate issuer.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Returns whether the error happened before the daemon sent a response: no socket, a refused or reset
/// connection, a failed TLS handshake or a timeout.
fn is_connect_failure(err: &bollard::errors::Error) -> bool {
    use bollard::errors::Error;
    match err {
        Error::SocketNotFoundError(_) | Error::RequestTimeoutError | Error::IOError { .. } => true,
        Error::HyperLegacyError { err } => err.is_connect(),
        _ => false,
    }
}

fn unreachable_error(host: &str, err: &bollard::errors::Error) -> DaemonError {
    let detail = match err {
        bollard::errors::Error::SocketNotFoundError(path) => {
            format!("the socket {path} does not exist")
        }
        other => error_chain(other),
    };
    DaemonError::Unreachable {
        host: host.to_owned(),
        detail,
    }
}

fn tls_error(host: &str, cert_path: &Path, err: &bollard::errors::Error) -> DaemonError {
    DaemonError::Tls {
        host: host.to_owned(),
        cert_path: cert_path.to_owned(),
        detail: error_chain(err),
    }
}

/// Maps an error of a call that should have reached the daemon.
fn connection_error(daemon: &Daemon, err: &bollard::errors::Error) -> DaemonError {
    if let bollard::errors::Error::RequestTimeoutError = err {
        return DaemonError::TimedOut {
            host: daemon.host.clone(),
            seconds: daemon.client.timeout().as_secs(),
        };
    }
    if let bollard::errors::Error::DockerResponseServerError {
        status_code,
        message,
    } = err
    {
        // Go's TLS server sends this 400 to a client that speaks plain HTTP.
        if *status_code == 400 && message.contains("HTTPS") {
            return DaemonError::TlsRequired {
                host: daemon.host.clone(),
            };
        }
        return DaemonError::Daemon {
            host: daemon.host.clone(),
            detail: message.trim().to_owned(),
        };
    }
    let detail = error_chain(err);
    if let bollard::errors::Error::JsonDataError { .. }
    | bollard::errors::Error::JsonSerdeError { .. } = err
    {
        return DaemonError::NotDockerApi {
            host: daemon.host.clone(),
            detail,
        };
    }
    match &daemon.cert_path {
        Some(cert_path) if looks_like_tls_failure(&detail) => DaemonError::Tls {
            host: daemon.host.clone(),
            cert_path: cert_path.clone(),
            detail,
        },
        _ => DaemonError::Unreachable {
            host: daemon.host.clone(),
            detail,
        },
    }
}

/// Returns whether an error text comes from the TLS layer. rustls is not a direct dependency, so its
/// error types cannot be matched and the text is checked instead.
fn looks_like_tls_failure(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    ["certificate", "tls", "handshake", "alert"]
        .iter()
        .any(|word| lower.contains(word))
}

fn api_error(
    daemon: &Daemon,
    operation: &'static str,
    reference: &str,
    err: &bollard::errors::Error,
) -> DaemonError {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => DaemonError::Api {
            host: daemon.host.clone(),
            operation,
            reference: reference.to_owned(),
            detail: message.clone(),
        },
        other => connection_error(daemon, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        }
    }

    #[test]
    fn tcp_address_adds_default_port() {
        assert_eq!(tcp_address("h", "docker", false).unwrap(), "docker:2375");
        assert_eq!(tcp_address("h", "docker", true).unwrap(), "docker:2376");
        assert_eq!(
            tcp_address("h", "docker:1234", true).unwrap(),
            "docker:1234"
        );
        assert_eq!(
            tcp_address("h", "127.0.0.1:2376/", true).unwrap(),
            "127.0.0.1:2376"
        );
        assert_eq!(tcp_address("h", "[::1]", false).unwrap(), "[::1]:2375");
        assert_eq!(tcp_address("h", "[::1]:99", false).unwrap(), "[::1]:99");
    }

    #[test]
    fn tcp_address_rejects_path_and_empty() {
        assert!(matches!(
            tcp_address("tcp://", "", false),
            Err(DaemonError::InvalidHost { .. })
        ));
        assert!(matches!(
            tcp_address("tcp://docker/x", "docker/x", false),
            Err(DaemonError::InvalidHost { .. })
        ));
    }

    #[test]
    fn connect_rejects_unsupported_scheme() {
        for host in [
            "ssh://user@example",
            "npipe:////./pipe/docker_engine",
            "docker:2375",
        ] {
            let err = connect_with_env(&env_of(&[("DOCKER_HOST", host)])).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, DaemonError::InvalidHost { .. }), "{message}");
            assert!(message.contains(host), "{message}");
        }
    }

    #[test]
    fn connect_tls_reports_missing_cert_file() {
        let folder = tempfile::tempdir().unwrap();
        let cert_path = folder.path().to_str().unwrap();
        let env = env_of(&[
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", cert_path),
        ]);
        let err = connect_with_env(&env).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, DaemonError::CertificateFile { .. }),
            "{message}"
        );
        assert!(message.contains("ca.pem"), "{message}");
        assert!(message.contains("DOCKER_CERT_PATH"), "{message}");
    }

    #[test]
    fn empty_tls_verify_means_plain_tcp() {
        let env = env_of(&[
            ("DOCKER_HOST", "tcp://127.0.0.1:2375"),
            ("DOCKER_TLS_VERIFY", ""),
            ("DOCKER_CERT_PATH", "/nonexistent"),
        ]);
        let daemon = connect_with_env(&env).unwrap();
        assert!(!daemon.uses_tls());
        assert_eq!(daemon.host(), "tcp://127.0.0.1:2375");
    }

    #[test]
    fn cert_path_follows_docker_cli_order() {
        let var = env_of(&[("DOCKER_CONFIG", "/cfg"), ("HOME", "/home/u")]);
        assert_eq!(cert_path(&var), PathBuf::from("/cfg"));
        let var = env_of(&[("DOCKER_CERT_PATH", "/certs"), ("DOCKER_CONFIG", "/cfg")]);
        assert_eq!(cert_path(&var), PathBuf::from("/certs"));
        let var = env_of(&[("HOME", "/home/u")]);
        assert_eq!(cert_path(&var), PathBuf::from("/home/u/.docker"));
    }

    #[test]
    fn reference_check_rejects_path_tricks() {
        for bad in ["", "../x", "a?b", "a b", "a#b", "-x", "a%2f"] {
            assert!(check_reference(bad).is_err(), "{bad:?} was accepted");
        }
        for good in [
            "alpine",
            "localhost:5000/team/app:1.2",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "e7fbe91ff32b",
        ] {
            assert!(check_reference(good).is_ok(), "{good:?} was rejected");
        }
    }

    #[test]
    fn tag_detection_ignores_registry_port() {
        assert!(!has_tag_or_digest("alpine"));
        assert!(!has_tag_or_digest("localhost:5000/app"));
        assert!(has_tag_or_digest("localhost:5000/app:1"));
        assert!(has_tag_or_digest("alpine:3.20"));
        assert!(has_tag_or_digest("app@sha256:abc"));
    }

    #[test]
    fn image_id_accepts_both_forms() {
        let hex = "e7fbe91ff32b2f11f51da5bfe81c047328d9045172409deeaa035907f1b24019";
        let prefixed = parse_image_id(&format!("sha256:{hex}")).unwrap();
        let bare = parse_image_id(hex).unwrap();
        assert_eq!(prefixed, bare);
        assert_eq!(prefixed.hex(), hex);
        assert!(parse_image_id("sha512:00").is_none());
    }

    #[test]
    fn platform_string_includes_variant() {
        let mut platform = Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        };
        assert_eq!(platform_string(&platform), "linux/arm/v7");
        platform.variant = None;
        assert_eq!(platform_string(&platform), "linux/arm");
    }

    /// Reads all of `reader` on a blocking thread, as `analyze` does.
    async fn read_all(mut reader: BatchReader) -> (Vec<u8>, Option<io::Error>) {
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut buf = vec![0u8; 70_000];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return (out, None),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(err) => return (out, Some(err)),
                }
            }
        })
        .await
        .unwrap()
    }

    fn numbered_chunks(count: usize, size: usize) -> Vec<Bytes> {
        (0..count)
            .map(|index| Bytes::from(vec![(index % 251) as u8; size]))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_reader_keeps_chunk_order() {
        // 300 chunks of 32 KiB make more than one full batch and a partial one at the end.
        let chunks = numbered_chunks(300, 32 * 1024);
        let expected: Vec<u8> = chunks.iter().flat_map(|chunk| chunk.to_vec()).collect();
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok));
        let (bytes, error) = read_all(export_reader_from(stream)).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(bytes.len(), expected.len());
        assert!(bytes == expected, "the bytes differ from the chunks sent");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_reader_sends_partial_batch() {
        // One small chunk comes before a stream that never ends. The reader must still get the
        // chunk instead of waiting for a full batch.
        let stream = futures_util::stream::iter([Ok(Bytes::from_static(b"first"))])
            .chain(futures_util::stream::pending());
        let mut reader = export_reader_from(stream);
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 16];
            let n = reader.read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        let bytes = tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("the reader got the held chunk")
            .unwrap();
        assert_eq!(bytes, b"first");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_reader_error_after_bytes() {
        let mut items: Vec<Result<Bytes, DaemonError>> =
            numbered_chunks(5, 1000).into_iter().map(Ok).collect();
        items.push(Err(DaemonError::ExportStalled {
            host: "unix:///test.sock".to_owned(),
            image_id: "sha256:abc".to_owned(),
            seconds: 7,
        }));
        items.push(Ok(Bytes::from_static(b"never read")));
        let (bytes, error) = read_all(export_reader_from(futures_util::stream::iter(items))).await;
        assert_eq!(bytes.len(), 5000);
        let error = error.expect("the stream's error reaches the reader");
        let inner = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DaemonError>());
        assert!(
            matches!(inner, Some(DaemonError::ExportStalled { seconds: 7, .. })),
            "{error:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_reader_drop_stops_stream() {
        // The task must stop pulling from the export once the reader is gone, so the request
        // is dropped rather than read to its end.
        let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&pulled);
        let stream = futures_util::stream::iter(0..).map(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(Bytes::from(vec![0u8; 64 * 1024]))
        });
        let mut reader = export_reader_from(stream);
        tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 10];
            reader.read_exact(&mut buf).unwrap();
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after_drop = pulled.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pulled.load(Ordering::Relaxed), after_drop);
        // At most the queued batches and the one being gathered were pulled.
        let bound = (EXPORT_BATCHES_QUEUED + 2) * EXPORT_BATCH_BYTES / (64 * 1024);
        assert!(
            after_drop <= bound,
            "pulled {after_drop} chunks, bound {bound}"
        );
    }
}
