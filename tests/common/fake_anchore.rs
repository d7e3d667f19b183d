//! A strict in-process fake of the Anchore import API, v1 (Engine 1.1, Enterprise 4.x) and v2
//! (Enterprise 5.x), listening on 127.0.0.1.
//!
//! It validates every request body against the API documents in `tests/api/`, enforces the
//! import operation's state machine and the finalize checks of a real Engine, and returns the
//! error bodies a real Engine 1.1.0 returned. Tests read back the recorded requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// Which API generations the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMode {
    /// Like Anchore Engine 1.1 or Enterprise up to 4.8.
    V1Only,
    /// Like Anchore Enterprise 5.x.
    V2Only,
    /// Like Anchore Enterprise 4.9.
    Both,
}

impl ApiMode {
    fn serves(self, version: Version) -> bool {
        matches!(
            (self, version),
            (ApiMode::Both, _) | (ApiMode::V1Only, Version::V1) | (ApiMode::V2Only, Version::V2)
        )
    }
}

#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub mode: ApiMode,
    pub username: String,
    pub password: String,
    /// When set, every authenticated request must carry this `x-anchore-account`, else 403.
    pub required_account: Option<String>,
    /// The image is `analyzing` on earlier polls and final on this poll (1-based).
    pub polls_until_analyzed: u32,
    /// Ends every analysis in `analysis_failed`.
    pub fail_analysis: bool,
    /// False simulates Engine before 0.9, which has no `/v1/imports` routes.
    pub has_import_api: bool,
    /// The `status` of every policy evaluation, `pass` or `fail`. `None` makes the check
    /// route return 404, as a server without an active policy does.
    pub policy_status: Option<String>,
    /// (vulnerability id, severity) pairs that `vuln/{vtype}` returns for an analyzed image.
    /// `None` makes the route return 404.
    pub vulnerabilities: Option<Vec<(String, String)>>,
}

impl FakeConfig {
    pub fn new(mode: ApiMode) -> Self {
        Self {
            mode,
            username: "admin".to_owned(),
            password: "fake-password-4711".to_owned(),
            required_account: None,
            polls_until_analyzed: 2,
            fail_analysis: false,
            has_import_api: true,
            policy_status: Some("pass".to_owned()),
            vulnerabilities: Some(Vec::new()),
        }
    }
}

/// One request as the fake received it, with the status it returned.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    pub account: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub body: Vec<u8>,
    pub status: u16,
}

/// A fault applied to the next `times` requests whose method matches and whose path ends
/// with `path_suffix`.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Returns `status` (with `Retry-After` when given) without handling the request.
    Status {
        method: Method,
        path_suffix: String,
        status: u16,
        retry_after: Option<u64>,
        times: u32,
    },
    /// Waits `delay`, then handles the request normally.
    Delay {
        method: Method,
        path_suffix: String,
        delay: Duration,
        times: u32,
    },
    /// Sends the status line and headers, then aborts the connection mid-body.
    CloseConnection {
        method: Method,
        path_suffix: String,
        times: u32,
    },
    /// Returns 307 Temporary Redirect to `location`.
    Redirect {
        method: Method,
        path_suffix: String,
        location: String,
        times: u32,
    },
    /// Handles the request normally, then sends the response body `chunk` bytes at a time,
    /// one piece every `interval`, as a slow or stalling link would.
    Trickle {
        method: Method,
        path_suffix: String,
        chunk: usize,
        interval: Duration,
        times: u32,
    },
}

impl Fault {
    fn matches(&self, method: &Method, path: &str) -> bool {
        let (fault_method, suffix, times) = match self {
            Fault::Status {
                method,
                path_suffix,
                times,
                ..
            }
            | Fault::Delay {
                method,
                path_suffix,
                times,
                ..
            }
            | Fault::CloseConnection {
                method,
                path_suffix,
                times,
            }
            | Fault::Redirect {
                method,
                path_suffix,
                times,
                ..
            }
            | Fault::Trickle {
                method,
                path_suffix,
                times,
                ..
            } => (method, path_suffix, *times),
        };
        times > 0 && fault_method == method && path.ends_with(suffix.as_str())
    }

    fn consume(&mut self) {
        match self {
            Fault::Status { times, .. }
            | Fault::Delay { times, .. }
            | Fault::CloseConnection { times, .. }
            | Fault::Redirect { times, .. }
            | Fault::Trickle { times, .. } => *times -= 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Version {
    V1,
    V2,
}

impl Version {
    fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

#[derive(Debug)]
struct Operation {
    account: String,
    status: String,
    created_at: String,
    /// Content kind (the `contents` key, e.g. `image_config`) → sha256 hex → body.
    uploads: HashMap<String, BTreeMap<String, Vec<u8>>>,
}

#[derive(Debug)]
struct Image {
    digest: String,
    parent_digest: String,
    account: String,
    tags: Vec<String>,
    image_id: String,
    annotations: Map<String, Value>,
    dockerfile: Option<String>,
    status: String,
    polls: u32,
    will_fail: bool,
    operation_uuid: String,
    created_at: String,
    analyzed_at: Option<String>,
}

#[derive(Debug)]
struct Inner {
    config: FakeConfig,
    requests: Vec<RecordedRequest>,
    operations: HashMap<String, Operation>,
    images: BTreeMap<String, Image>,
    faults: Vec<Fault>,
    next_id: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake server. Dropping it stops the server.
pub struct FakeAnchore {
    /// `http://127.0.0.1:<port>`, without a version suffix.
    pub url: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FakeAnchore {
    /// Starts the fake on an ephemeral 127.0.0.1 port.
    pub async fn start(config: FakeConfig) -> FakeAnchore {
        Self::start_on_port(config, 0).await
    }

    /// Starts the fake on 127.0.0.1:`port` (0 picks a free port).
    pub async fn start_on_port(config: FakeConfig, port: u16) -> FakeAnchore {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind a 127.0.0.1 port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Self::state(config);
        let app = Self::router(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Anchore server");
        });
        FakeAnchore { url, state, task }
    }

    /// Starts the fake behind TLS with a certificate for 127.0.0.1 issued by a fresh test CA.
    /// Returns the server and the CA certificate in PEM form.
    pub async fn start_tls(config: FakeConfig) -> (FakeAnchore, String) {
        let (server_config, ca_pem) = test_tls_config();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("https://{}", tcp.local_addr().expect("local address"));
        let listener = TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server_config)),
        };
        let state = Self::state(config);
        let app = Self::router(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Anchore TLS server");
        });
        (FakeAnchore { url, state, task }, ca_pem)
    }

    fn state(config: FakeConfig) -> Shared {
        Arc::new(Mutex::new(Inner {
            config,
            requests: Vec::new(),
            operations: HashMap::new(),
            images: BTreeMap::new(),
            faults: Vec::new(),
            next_id: 0,
        }))
    }

    fn router(state: Shared) -> Router {
        Router::new().fallback(handle).with_state(state)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Returns the status of every operation, by uuid.
    pub fn operations(&self) -> BTreeMap<String, String> {
        self.lock()
            .operations
            .iter()
            .map(|(uuid, operation)| (uuid.clone(), operation.status.clone()))
            .collect()
    }

    pub fn image_status(&self, digest: &str) -> Option<String> {
        self.lock()
            .images
            .get(digest)
            .map(|image| image.status.clone())
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().expect("fake Anchore state lock")
    }
}

impl Drop for FakeAnchore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts TCP connections and completes the TLS handshake; a failed handshake (e.g. a
/// client that does not trust the CA) drops that connection and waits for the next.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Issues a CA and a 127.0.0.1 server certificate signed by it.
fn test_tls_config() -> (rustls::ServerConfig, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA parameters");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "inline-scan test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

    let server_key = rcgen::KeyPair::generate().expect("server key");
    let server_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server parameters");
    let server = server_params
        .signed_by(&server_key, &ca, &ca_key)
        .expect("server certificate");

    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![server.der().clone()], key)
        .expect("server TLS config");
    (config, ca.pem())
}

/// The request fields the routes read.
struct Incoming {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Incoming {
    fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
    }
}

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 128 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let header_text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let path = parts.uri.path().to_owned();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        content_type: header_text("content-type"),
        content_length: header_text("content-length").and_then(|value| value.parse().ok()),
        account: header_text("x-anchore-account"),
        authorization: header_text("authorization"),
        user_agent: header_text("user-agent"),
        body: body.to_vec(),
        status: 0,
    };
    let index = {
        let mut inner = state.lock().unwrap();
        inner.requests.push(recorded);
        inner.requests.len() - 1
    };

    let fault = {
        let mut inner = state.lock().unwrap();
        let found = inner
            .faults
            .iter_mut()
            .find(|fault| fault.matches(&parts.method, &path));
        found.map(|fault| {
            fault.consume();
            fault.clone()
        })
    };
    let response = match fault.clone() {
        Some(Fault::Status {
            status,
            retry_after,
            ..
        }) => Some(fault_response(status, retry_after)),
        Some(Fault::CloseConnection { .. }) => Some(aborted_response()),
        Some(Fault::Redirect { location, .. }) => Some(
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .expect("redirect response"),
        ),
        Some(Fault::Delay { delay, .. }) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(Fault::Trickle { .. }) | None => None,
    };

    let response = response.unwrap_or_else(|| {
        let incoming = Incoming {
            method: parts.method.clone(),
            path,
            query: parse_query(parts.uri.query()),
            headers: parts.headers.clone(),
            body,
        };
        let mut inner = state.lock().unwrap();
        route(&mut inner, &incoming)
    });
    state.lock().unwrap().requests[index].status = response.status().as_u16();
    match fault {
        Some(Fault::Trickle {
            chunk, interval, ..
        }) => trickled(response, chunk, interval).await,
        _ => response,
    }
}

/// Re-sends `response` with its body split into `chunk`-byte pieces, each sent after
/// `interval`. The `Content-Length` header stays, so the client waits for every piece.
async fn trickled(response: Response, chunk: usize, interval: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("buffer the fake's own response");
    let pieces: Vec<Bytes> = bytes
        .chunks(chunk.max(1))
        .map(Bytes::copy_from_slice)
        .collect();
    let stream = futures_util::stream::unfold(pieces.into_iter(), move |mut rest| async move {
        let piece = rest.next()?;
        tokio::time::sleep(interval).await;
        Some((Ok::<Bytes, std::io::Error>(piece), rest))
    });
    let mut parts = parts;
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Response::from_parts(parts, Body::from_stream(stream))
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn route(inner: &mut Inner, request: &Incoming) -> Response {
    let (version, rest) = if let Some(rest) = request.path.strip_prefix("/v1") {
        (Version::V1, rest.to_owned())
    } else if let Some(rest) = request.path.strip_prefix("/v2") {
        (Version::V2, rest.to_owned())
    } else if inner.config.mode.serves(Version::V1) {
        // Engine mounts its API at /v1 and rewrites unversioned paths to it.
        (Version::V1, request.path.clone())
    } else {
        return not_found_route(Version::V2);
    };
    if !inner.config.mode.serves(version) || !(rest.is_empty() || rest.starts_with('/')) {
        return not_found_route(version);
    }

    if rest.is_empty() || rest == "/" {
        return match request.method {
            Method::GET => json_response(StatusCode::OK, &json!(version.name())),
            _ => method_not_allowed(version),
        };
    }
    if !authorized(&inner.config, &request.headers) {
        let mut response =
            error_response(version, StatusCode::UNAUTHORIZED, "Unauthorized", json!({}));
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Authentication required\""),
        );
        return response;
    }
    let account = request
        .headers
        .get("x-anchore-account")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if let Some(required) = &inner.config.required_account {
        if account.as_deref() != Some(required.as_str()) {
            return error_response(
                version,
                StatusCode::FORBIDDEN,
                "Not authorized. Requires permissions: domain=account",
                json!({}),
            );
        }
    }
    let account = account.unwrap_or_else(|| inner.config.username.clone());

    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (request.method.clone(), segments.as_slice()) {
        (Method::GET, ["version"]) => json_response(
            StatusCode::OK,
            &json!({"service": {"version": "fake"}, "api": {"version": version.name()}, "db": {"schema_version": "fake"}}),
        ),
        (Method::GET, ["status"]) => json_response(
            StatusCode::OK,
            &json!({"busy": false, "up": true, "message": "all good", "db_version": "fake"}),
        ),
        (Method::GET, ["account"]) => json_response(
            StatusCode::OK,
            &json!({"name": account, "email": "admin@example.invalid", "type": "admin", "state": "enabled"}),
        ),
        (_, ["imports", ..]) if version == Version::V1 && !inner.config.has_import_api => {
            not_found_route(version)
        }
        (Method::GET, ["imports", "images"]) => {
            let list: Vec<Value> = inner
                .operations
                .iter()
                .map(|(uuid, operation)| operation_json(uuid, operation))
                .collect();
            json_response(StatusCode::OK, &Value::Array(list))
        }
        (Method::POST, ["imports", "images"]) => create_operation(inner, &account),
        (Method::GET, ["imports", "images", uuid]) => match inner.operations.get(*uuid) {
            Some(operation) => json_response(StatusCode::OK, &operation_json(uuid, operation)),
            None => unknown_operation(version, uuid),
        },
        (Method::DELETE, ["imports", "images", uuid]) => delete_operation(inner, version, uuid),
        (method, ["imports", "images", uuid, segment]) => {
            let Some(kind) = content_kind(version, segment) else {
                return not_found_route(version);
            };
            match method {
                Method::POST => upload(inner, version, uuid, kind, request),
                Method::GET => list_uploads(inner, version, uuid, kind),
                _ => method_not_allowed(version),
            }
        }
        (Method::POST, ["images"]) => finalize(inner, version, &account, request),
        (Method::GET, ["images"]) => {
            let records: Vec<Value> = inner
                .images
                .values()
                .map(|image| image_json(version, image))
                .collect();
            match version {
                Version::V1 => json_response(StatusCode::OK, &Value::Array(records)),
                Version::V2 => json_response(StatusCode::OK, &json!({"items": records})),
            }
        }
        (Method::GET, ["images", digest]) => poll_image(inner, version, digest),
        (Method::GET, ["images", digest, "check"]) => {
            policy_check(inner, version, &account, digest, request)
        }
        (Method::GET, ["images", digest, "vuln", vtype]) => {
            vulnerabilities(inner, version, &account, digest, vtype, request)
        }
        _ => not_found_route(version),
    }
}

fn authorized(config: &FakeConfig, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    decoded == format!("{}:{}", config.username, config.password).as_bytes()
}

/// Maps an upload path segment to its `contents` key; v2 spells two-word kinds with hyphens.
fn content_kind(version: Version, segment: &str) -> Option<&'static str> {
    match (version, segment) {
        (_, "packages") => Some("packages"),
        (_, "manifest") => Some("manifest"),
        (_, "dockerfile") => Some("dockerfile"),
        (Version::V1, "image_config") | (Version::V2, "image-config") => Some("image_config"),
        (Version::V1, "parent_manifest") | (Version::V2, "parent-manifest") => {
            Some("parent_manifest")
        }
        _ => None,
    }
}

/// Returns the path template of an upload route in the API documents.
fn upload_template(version: Version, kind: &str) -> String {
    let segment = match version {
        Version::V1 => kind.to_owned(),
        Version::V2 => kind.replace('_', "-"),
    };
    format!("/imports/images/{{operation_id}}/{segment}")
}

fn create_operation(inner: &mut Inner, account: &str) -> Response {
    inner.next_id += 1;
    let uuid = hex::encode(Sha256::digest(format!("operation-{}", inner.next_id)))[..32].to_owned();
    let operation = Operation {
        account: account.to_owned(),
        status: "pending".to_owned(),
        created_at: now(),
        uploads: HashMap::new(),
    };
    let body = operation_json(&uuid, &operation);
    inner.operations.insert(uuid, operation);
    json_response(StatusCode::OK, &body)
}

fn delete_operation(inner: &mut Inner, version: Version, uuid: &str) -> Response {
    let Some(operation) = inner.operations.get_mut(uuid) else {
        return unknown_operation(version, uuid);
    };
    if !matches!(
        operation.status.as_str(),
        "complete" | "processing" | "invalidated"
    ) {
        operation.status = "invalidated".to_owned();
    }
    json_response(StatusCode::OK, &operation_json(uuid, operation))
}

fn upload(
    inner: &mut Inner,
    version: Version,
    uuid: &str,
    kind: &'static str,
    request: &Incoming,
) -> Response {
    let Some(status) = inner
        .operations
        .get(uuid)
        .map(|operation| operation.status.clone())
    else {
        return error_response(
            version,
            StatusCode::NOT_FOUND,
            &format!("Resource {uuid} not found"),
            json!({"error_codes": []}),
        );
    };
    if status != "pending" && status != "processing" {
        // Engine 1.1.0 means to return 409 here but fails to serialize it and returns 500.
        return match version {
            Version::V1 => engine_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                json!({"error_codes": []}),
            ),
            Version::V2 => error_response(
                version,
                StatusCode::CONFLICT,
                "import operation status does not allow uploads",
                json!({"status": status}),
            ),
        };
    }
    if version == Version::V1 {
        let Some(length) = request.headers.get(header::CONTENT_LENGTH) else {
            return engine_error(
                StatusCode::BAD_REQUEST,
                "Request must contain content-length header",
                json!({"error_codes": []}),
            );
        };
        let length: usize = length
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX);
        if length > 100 * 1024 * 1024 || request.body.len() > 100 * 1024 * 1024 {
            return engine_error(
                StatusCode::BAD_REQUEST,
                "too large. Max size of 100MB supported for content",
                json!({"content-length": length, "error_codes": []}),
            );
        }
    }
    let template = upload_template(version, kind);
    if let Err(response) = validate_body(version, &template, request) {
        return response;
    }

    let digest = hex::encode(Sha256::digest(&request.body));
    let operation = inner
        .operations
        .get_mut(uuid)
        .expect("operation checked above");
    operation
        .uploads
        .entry(kind.to_owned())
        .or_default()
        .insert(digest.clone(), request.body.to_vec());
    json_response(
        StatusCode::OK,
        &json!({"created_at": now(), "digest": digest}),
    )
}

fn list_uploads(inner: &Inner, version: Version, uuid: &str, kind: &str) -> Response {
    let Some(operation) = inner.operations.get(uuid) else {
        return unknown_operation(version, uuid);
    };
    let list: Vec<Value> = operation
        .uploads
        .get(kind)
        .map(|uploads| {
            uploads
                .keys()
                .map(|digest| json!({"created_at": operation.created_at, "digest": digest}))
                .collect()
        })
        .unwrap_or_default();
    json_response(StatusCode::OK, &Value::Array(list))
}

fn finalize(inner: &mut Inner, version: Version, account: &str, request: &Incoming) -> Response {
    let payload = match validate_body(version, "/images", request) {
        Ok(payload) => payload,
        Err(response) => return response,
    };
    let bad_request = |message: &str| {
        error_response(
            version,
            StatusCode::BAD_REQUEST,
            message,
            json!({"error_codes": []}),
        )
    };
    let Some(import) = payload.pointer("/source/import").and_then(Value::as_object) else {
        return bad_request("the fake supports only source.import image requests");
    };
    let text = |key: &str| {
        import
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let digest = text("digest");
    let uuid = text("operation_uuid");
    if digest.is_empty() || uuid.is_empty() {
        return bad_request("invalid import manifest: digest and operation_uuid are required");
    }

    let Some(operation) = inner.operations.get(&uuid) else {
        return error_response(
            version,
            StatusCode::NOT_FOUND,
            &format!("Resource {uuid} not found"),
            json!({"error_codes": []}),
        );
    };
    if operation.status != "pending" {
        return error_response(
            version,
            StatusCode::CONFLICT,
            "Invalid operation status. Must be in pending state to finalize",
            json!({"error_codes": [], "status": operation.status}),
        );
    }

    let contents = import
        .get("contents")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    let mut empty_packages = false;
    for (kind, value) in &contents {
        let content_digest = value.as_str().unwrap_or("");
        if kind == "packages" && content_digest.is_empty() {
            // Engine accepts an empty packages digest here; the analysis then fails.
            empty_packages = true;
            continue;
        }
        match operation
            .uploads
            .get(kind)
            .and_then(|uploads| uploads.get(content_digest))
        {
            Some(body) => {
                bodies.insert(kind.clone(), body.clone());
            }
            None => {
                return error_response(
                    version,
                    StatusCode::BAD_REQUEST,
                    "One or more referenced content digests not found for the operation id",
                    json!({"digest": content_digest, "error_codes": []}),
                );
            }
        }
    }

    let tags = match import.get("tags") {
        Some(Value::Array(tags)) if !tags.is_empty() => tags,
        // Engine 1.1.0 fails on these inside the catalog, so the user sees a 500.
        Some(Value::Array(_)) => {
            return tag_error(version, "Must have image digest in image reference");
        }
        _ => return tag_error(version, "'NoneType' object is not iterable"),
    };
    let mut tag_list = Vec::new();
    for tag in tags {
        let tag = tag.as_str().unwrap_or("");
        if !is_full_reference(tag) {
            return tag_error(
                version,
                &format!("invalid tag {tag:?}: expected a full registry/repository:tag reference"),
            );
        }
        tag_list.push(tag.to_owned());
    }

    if !is_sha256_digest(&digest) {
        return bad_request(&format!(
            "invalid digest {digest:?}: expected sha256:<64 hex>"
        ));
    }
    let manifest_digest = bodies
        .get("manifest")
        .map(|body| format!("sha256:{}", hex::encode(Sha256::digest(body))));
    if manifest_digest.as_deref() != Some(digest.as_str()) {
        return bad_request(&format!(
            "digest {digest} is not the sha256 of the uploaded manifest"
        ));
    }
    let parent_digest = text("parent_digest");
    if !parent_digest.is_empty() {
        let uploaded = bodies
            .get("parent_manifest")
            .map(|body| format!("sha256:{}", hex::encode(Sha256::digest(body))));
        if uploaded.as_deref() != Some(parent_digest.as_str()) {
            return bad_request(&format!(
                "parent_digest {parent_digest} is not the sha256 of the uploaded parent manifest"
            ));
        }
    }

    let force = request
        .query
        .get("force")
        .is_some_and(|value| value == "true");
    if let Some(existing) = inner.images.get(&digest) {
        if existing.status != "analysis_failed" && !force {
            // Engine 1.1.0 returns the existing record and leaves the new operation processing.
            inner.operations.get_mut(&uuid).expect("operation").status = "processing".to_owned();
            let record = image_json(version, existing);
            return finalize_response(version, record);
        }
    }

    let packages_usable = bodies
        .get("packages")
        .and_then(|body| serde_json::from_slice::<Value>(body).ok())
        .is_some_and(|value| value.get("artifacts").is_some_and(Value::is_array));
    let mut annotations = payload
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.insert("anchore.system/import_operation_id".to_owned(), json!(uuid));
    let image = Image {
        digest: digest.clone(),
        parent_digest: if parent_digest.is_empty() {
            digest.clone()
        } else {
            parent_digest
        },
        account: account.to_owned(),
        tags: tag_list,
        image_id: text("local_image_id"),
        annotations,
        dockerfile: bodies
            .get("dockerfile")
            .map(|body| String::from_utf8_lossy(body).into_owned()),
        status: "not_analyzed".to_owned(),
        polls: 0,
        will_fail: inner.config.fail_analysis || empty_packages || !packages_usable,
        operation_uuid: uuid.clone(),
        created_at: now(),
        analyzed_at: None,
    };
    let record = image_json(version, &image);
    inner.images.insert(digest, image);
    inner.operations.get_mut(&uuid).expect("operation").status = "processing".to_owned();
    finalize_response(version, record)
}

fn finalize_response(version: Version, record: Value) -> Response {
    match version {
        Version::V1 => json_response(StatusCode::OK, &json!([record])),
        Version::V2 => json_response(StatusCode::OK, &record),
    }
}

fn tag_error(version: Version, message: &str) -> Response {
    match version {
        Version::V1 => engine_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
            json!({"error_codes": []}),
        ),
        Version::V2 => error_response(version, StatusCode::BAD_REQUEST, message, json!({})),
    }
}

fn poll_image(inner: &mut Inner, version: Version, digest: &str) -> Response {
    if version == Version::V2 && !is_sha256_digest_any_case(digest) {
        return error_response(
            version,
            StatusCode::BAD_REQUEST,
            &format!("'{digest}' does not match '^sha256:[a-fA-F0-9]{{64}}$'"),
            json!({}),
        );
    }
    let polls_until_analyzed = inner.config.polls_until_analyzed;
    let Some(image) = inner.images.get_mut(digest) else {
        return error_response(
            version,
            StatusCode::NOT_FOUND,
            "image not found in DB",
            json!({"error_codes": []}),
        );
    };
    if image.status == "not_analyzed" || image.status == "analyzing" {
        image.polls += 1;
        if image.polls >= polls_until_analyzed {
            let (image_status, operation_status) = if image.will_fail {
                ("analysis_failed", "failed")
            } else {
                ("analyzed", "complete")
            };
            image.status = image_status.to_owned();
            image.analyzed_at = Some(now());
            if let Some(operation) = inner.operations.get_mut(&image.operation_uuid) {
                operation.status = operation_status.to_owned();
            }
        } else {
            image.status = "analyzing".to_owned();
        }
    }
    let image = &inner.images[digest];
    let record = image_json(version, image);
    match version {
        Version::V1 => json_response(StatusCode::OK, &json!([record])),
        Version::V2 => json_response(StatusCode::OK, &record),
    }
}

/// Finds the analyzed image `digest` of `account` for the evaluation routes, or the error
/// response a real server returns.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response, returned to axum at once"
)]
fn analyzed_image<'a>(
    inner: &'a Inner,
    version: Version,
    account: &str,
    digest: &str,
) -> Result<&'a Image, Response> {
    if !is_sha256_digest(digest) {
        return Err(error_response(
            version,
            StatusCode::BAD_REQUEST,
            &format!("'{digest}' does not match '^sha256:[a-fA-F0-9]{{64}}$'"),
            json!({}),
        ));
    }
    let image = inner
        .images
        .get(digest)
        .filter(|image| image.account == account)
        .ok_or_else(|| {
            error_response(
                version,
                StatusCode::NOT_FOUND,
                "image not found in DB",
                json!({"error_codes": []}),
            )
        })?;
    if image.status != "analyzed" {
        return Err(error_response(
            version,
            StatusCode::NOT_FOUND,
            &format!("image is not analyzed - analysis_status: {}", image.status),
            json!({"error_codes": []}),
        ));
    }
    Ok(image)
}

/// Rejects query parameters the route does not document and boolean parameters that are not
/// `true` or `false`.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response, returned to axum at once"
)]
fn check_query(
    version: Version,
    request: &Incoming,
    allowed: &[&str],
    booleans: &[&str],
) -> Result<(), Response> {
    for (name, value) in &request.query {
        if !allowed.contains(&name.as_str()) {
            return Err(error_response(
                version,
                StatusCode::BAD_REQUEST,
                &format!("unknown query parameter {name:?}"),
                json!({}),
            ));
        }
        if booleans.contains(&name.as_str()) && value != "true" && value != "false" {
            return Err(error_response(
                version,
                StatusCode::BAD_REQUEST,
                &format!("'{value}' is not of type 'boolean' - '{name}'"),
                json!({}),
            ));
        }
    }
    Ok(())
}

/// `GET /v{n}/images/{digest}/check`: v1 returns `[{digest: {tag: [result]}}]`, v2 one
/// `PolicyEvaluation` object.
fn policy_check(
    inner: &Inner,
    version: Version,
    account: &str,
    digest: &str,
    request: &Incoming,
) -> Response {
    let (allowed, policy_key): (&[&str], &str) = match version {
        Version::V1 => (
            &["policyId", "tag", "detail", "history", "interactive"],
            "policyId",
        ),
        Version::V2 => (
            &[
                "policy_id",
                "tag",
                "detail",
                "history",
                "interactive",
                "base_digest",
            ],
            "policy_id",
        ),
    };
    if let Err(response) = check_query(
        version,
        request,
        allowed,
        &["detail", "history", "interactive"],
    ) {
        return response;
    }
    let Some(tag) = request.query.get("tag") else {
        return error_response(
            version,
            StatusCode::BAD_REQUEST,
            "Missing query parameter 'tag'",
            json!({}),
        );
    };
    let image = match analyzed_image(inner, version, account, digest) {
        Ok(image) => image,
        Err(response) => return response,
    };
    if !image.tags.contains(tag) {
        return error_response(
            version,
            StatusCode::NOT_FOUND,
            &format!("tag {tag} is not a tag of image {digest}"),
            json!({"error_codes": []}),
        );
    }
    let Some(status) = &inner.config.policy_status else {
        return error_response(
            version,
            StatusCode::NOT_FOUND,
            "no active policy bundle found",
            json!({"error_codes": []}),
        );
    };
    let policy_id = request
        .query
        .get(policy_key)
        .cloned()
        .unwrap_or_else(|| "fake-default-policy".to_owned());
    let final_action = if status == "fail" { "stop" } else { "go" };
    let evaluated_at = image.analyzed_at.clone().unwrap_or_else(now);
    match version {
        Version::V1 => {
            let result = json!({
                "detail": {},
                "last_evaluation": evaluated_at,
                "policyId": policy_id,
                "status": status,
            });
            json_response(
                StatusCode::OK,
                &json!([{ digest: { tag.as_str(): [result] } }]),
            )
        }
        Version::V2 => json_response(
            StatusCode::OK,
            &json!({
                "policy_id": policy_id,
                "image_digest": digest,
                "evaluated_tag": tag,
                "evaluations": [{
                    "evaluation_problems": [],
                    "evaluation_time": evaluated_at,
                    "final_action": final_action,
                    "final_action_reason": "policy_evaluation",
                    "image_allowlisted": false,
                    "image_denylisted": false,
                    "image_mapped_to_rule": true,
                    "number_of_findings": inner.config.vulnerabilities.as_ref().map_or(0, Vec::len),
                    "status": status,
                }],
            }),
        ),
    }
}

/// `GET /v{n}/images/{digest}/vuln/{vtype}`: the v1 `VulnerabilityResponse` or the v2
/// `ImagePackageVulnerabilityResponse`.
fn vulnerabilities(
    inner: &Inner,
    version: Version,
    account: &str,
    digest: &str,
    vtype: &str,
    request: &Incoming,
) -> Response {
    if !matches!(vtype, "all" | "os" | "non-os") {
        return error_response(
            version,
            StatusCode::BAD_REQUEST,
            &format!("'{vtype}' is not one of ['os', 'non-os', 'all'] - 'vtype'"),
            json!({}),
        );
    }
    let (allowed, booleans): (&[&str], &[&str]) = match version {
        Version::V1 => (
            &["force_refresh", "vendor_only"],
            &["force_refresh", "vendor_only"],
        ),
        Version::V2 => (
            &[
                "force_refresh",
                "include_vuln_description",
                "vendor_only",
                "base_digest",
            ],
            &["force_refresh", "include_vuln_description", "vendor_only"],
        ),
    };
    if let Err(response) = check_query(version, request, allowed, booleans) {
        return response;
    }
    if let Err(response) = analyzed_image(inner, version, account, digest) {
        return response;
    }
    let Some(list) = &inner.config.vulnerabilities else {
        return error_response(
            version,
            StatusCode::NOT_FOUND,
            "no vulnerability data available: the feeds are not synced",
            json!({"error_codes": []}),
        );
    };
    let entries: Vec<Value> = list
        .iter()
        .map(|(id, severity)| {
            json!({
                "vuln": id, "severity": severity, "fix": "None",
                "package": "zlib-1.2.13", "package_name": "zlib", "package_version": "1.2.13",
                "package_type": "dpkg", "package_path": "pkgdb", "package_cpe": "None",
                "feed": "vulnerabilities", "feed_group": "debian:12",
                "url": format!("https://security-tracker.debian.org/tracker/{id}"),
                "will_not_fix": false, "nvd_data": [], "vendor_data": [],
            })
        })
        .collect();
    let body = match version {
        Version::V1 => {
            json!({"imageDigest": digest, "vulnerability_type": vtype, "vulnerabilities": entries})
        }
        Version::V2 => {
            json!({"image_digest": digest, "vulnerability_type": vtype, "vulnerabilities": entries})
        }
    };
    json_response(StatusCode::OK, &body)
}

fn operation_json(uuid: &str, operation: &Operation) -> Value {
    json!({
        "account": operation.account,
        "created_at": operation.created_at,
        "expires_at": expiry_of(&operation.created_at),
        "last_update": operation.created_at,
        "last_updated": operation.created_at,
        "status": operation.status,
        "uuid": uuid,
    })
}

fn image_json(version: Version, image: &Image) -> Value {
    let details: Vec<(String, String, String)> =
        image.tags.iter().map(|tag| split_reference(tag)).collect();
    let dockerfile_mode = if image.dockerfile.is_some() {
        "Actual"
    } else {
        "Guessed"
    };
    match version {
        Version::V1 => {
            let image_detail: Vec<Value> = details
                .iter()
                .map(|(registry, repo, tag)| {
                    json!({
                        "created_at": image.created_at, "digest": image.digest, "dockerfile": image.dockerfile,
                        "fulldigest": format!("{registry}/{repo}@{}", image.digest),
                        "fulltag": format!("{registry}/{repo}:{tag}"), "imageDigest": image.digest,
                        "imageId": image.image_id, "last_updated": image.created_at, "registry": registry,
                        "repo": repo, "tag": tag, "tag_detected_at": image.created_at, "userId": image.account,
                    })
                })
                .collect();
            json!({
                "analysis_status": image.status, "analyzed_at": image.analyzed_at,
                "annotations": image.annotations, "created_at": image.created_at,
                "imageDigest": image.digest,
                "image_content": {"metadata": {"arch": null, "distro": null, "distro_version": null, "dockerfile_mode": dockerfile_mode, "image_size": null, "layer_count": null}},
                "image_detail": image_detail, "image_status": "active", "image_type": "docker",
                "last_updated": image.created_at, "parentDigest": image.parent_digest, "userId": image.account,
            })
        }
        Version::V2 => {
            let image_detail: Vec<Value> = details
                .iter()
                .map(|(registry, repo, tag)| {
                    json!({
                        "created_at": image.created_at, "dockerfile": image.dockerfile,
                        "full_digest": format!("{registry}/{repo}@{}", image.digest),
                        "full_tag": format!("{registry}/{repo}:{tag}"), "image_digest": image.digest,
                        "image_id": image.image_id, "last_updated": image.created_at, "registry": registry,
                        "repo": repo, "tag": tag, "tag_detected_at": image.created_at,
                    })
                })
                .collect();
            json!({
                "account_name": image.account, "analysis_status": image.status,
                "analysis_status_detail": [], "analyzed_at": image.analyzed_at,
                "annotations": image.annotations, "created_at": image.created_at,
                "image_content": {"metadata": {"arch": null, "distro": null, "distro_version": null, "dockerfile_mode": dockerfile_mode, "image_size": null, "layer_count": null}},
                "image_detail": image_detail, "image_digest": image.digest, "image_status": "active",
                "last_updated": image.created_at, "parent_digest": image.parent_digest, "record_version": "1",
            })
        }
    }
}

/// Splits `registry/repo:tag` (or `registry/repo@digest`) into its three parts.
fn split_reference(reference: &str) -> (String, String, String) {
    let (registry, rest) = reference
        .split_once('/')
        .unwrap_or(("docker.io", reference));
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (rest, "latest"),
    };
    (registry.to_owned(), repo.to_owned(), tag.to_owned())
}

/// Checks the strict charset Engine applies, plus an explicit registry and tag. Engine itself
/// reads a missing registry as `docker.io`; the fake requires it because the client must
/// always send full references.
fn is_full_reference(tag: &str) -> bool {
    let charset = !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@:/_.-".contains(c));
    let Some((registry, rest)) = tag.split_once('/') else {
        return false;
    };
    let registry_ok = registry.contains('.') || registry.contains(':') || registry == "localhost";
    let tag_ok = rest
        .rsplit_once(':')
        .is_some_and(|(repo, tag)| !repo.is_empty() && !tag.is_empty() && !tag.contains('/'));
    charset && registry_ok && tag_ok
}

fn is_sha256_digest(value: &str) -> bool {
    value.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn is_sha256_digest_any_case(value: &str) -> bool {
    value
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------
// Request body validation against the API documents.

/// Checks the Content-Type and the body of a POST against the documented request body of
/// `template` (a path under `/v1` or `/v2`). Returns the parsed JSON body, or `Value::Null`
/// for a text body.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response, returned to axum at once"
)]
fn validate_body(version: Version, template: &str, request: &Incoming) -> Result<Value, Response> {
    let spec = body_spec(version, template);
    let content_type = request.content_type().unwrap_or("").trim().to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let documented: Vec<String> = spec
        .content_types
        .iter()
        .map(|documented| {
            documented
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let is_text = spec.schema.get("type").and_then(Value::as_str) == Some("string");

    match version {
        Version::V2 => {
            if !documented.contains(&essence) {
                return Err(error_response(
                    version,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!(
                        "Invalid Content-type ({content_type}), expected one of {}",
                        spec.content_types.join(", ")
                    ),
                    json!({}),
                ));
            }
        }
        Version::V1 => {
            // Engine does not enforce the listed types, but its validator needs a JSON type
            // for a JSON body, and any type at all.
            let json_like = essence == "application/json"
                || essence.ends_with("+json")
                || essence.ends_with("+prettyjws");
            let accepted =
                documented.contains(&essence) || json_like || (is_text && essence == "text/plain");
            if essence.is_empty() || !accepted {
                return Err(problem(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!("Invalid Content-type ({content_type}), expected JSON data"),
                    Value::Null,
                ));
            }
        }
    }

    let instance = if is_text {
        match std::str::from_utf8(&request.body) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => return Err(schema_error(version, "the body is not UTF-8 text")),
        }
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(value) => value,
            Err(error) => {
                return Err(schema_error(
                    version,
                    &format!("Request body is not valid JSON: {error}"),
                ));
            }
        }
    };

    let mut errors: Vec<(usize, String, String)> = spec
        .validator
        .iter_errors(&instance)
        .map(|error| {
            let segments: Vec<String> = error
                .instance_path
                .as_str()
                .split('/')
                .skip(1)
                .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
                .collect();
            let message = match &error.kind {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    format!("'{name}' is a required property")
                }
                _ => error.to_string(),
            };
            (segments.len(), segments.join("."), message)
        })
        .collect();
    // Engine reports one error, picked like Python jsonschema's `best_match`: the shallowest
    // instance path wins, ties keep validation order.
    errors.sort_by_key(|(depth, _, _)| *depth);
    if let Some((_, path, message)) = errors.first() {
        let detail = if path.is_empty() {
            message.clone()
        } else {
            format!("{message} - '{path}'")
        };
        return Err(schema_error(version, &detail));
    }
    Ok(if is_text { Value::Null } else { instance })
}

fn schema_error(version: Version, detail: &str) -> Response {
    match version {
        Version::V1 => problem(StatusCode::BAD_REQUEST, "Bad Request", json!(detail)),
        Version::V2 => error_response(version, StatusCode::BAD_REQUEST, detail, json!({})),
    }
}

struct BodySpec {
    content_types: Vec<String>,
    schema: Value,
    validator: jsonschema::Validator,
}

/// Returns the documented request body of `POST {template}`, compiled once per process.
fn body_spec(version: Version, template: &str) -> Arc<BodySpec> {
    type SpecCache = Mutex<HashMap<(Version, String), Arc<BodySpec>>>;
    static CACHE: OnceLock<SpecCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(spec) = cache.lock().unwrap().get(&(version, template.to_owned())) {
        return spec.clone();
    }
    let spec = Arc::new(load_body_spec(version, template));
    cache
        .lock()
        .unwrap()
        .insert((version, template.to_owned()), spec.clone());
    spec
}

fn api_document(version: Version) -> &'static Value {
    static V1: OnceLock<Value> = OnceLock::new();
    static V2: OnceLock<Value> = OnceLock::new();
    let (cell, file) = match version {
        Version::V1 => (&V1, "engine-v1-swagger.yaml"),
        Version::V2 => (&V2, "enterprise-v2-openapi.yaml"),
    };
    cell.get_or_init(|| {
        let path = format!("{}/tests/api/{file}", env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|error| panic!("parse {path}: {error}"));
        yaml_to_json(&yaml)
    })
}

fn load_body_spec(version: Version, template: &str) -> BodySpec {
    let document = api_document(version);
    let operation = &document["paths"][template]["post"];
    assert!(
        operation.is_object(),
        "{} documents no POST {template}",
        version.name()
    );

    let (content_types, schema, definitions) = match version {
        Version::V1 => {
            let consumes = operation
                .get("consumes")
                .or_else(|| document.get("consumes"))
                .and_then(Value::as_array)
                .map(|types| {
                    types
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let schema = operation["parameters"]
                .as_array()
                .and_then(|parameters| {
                    parameters
                        .iter()
                        .find(|parameter| parameter["in"] == "body")
                })
                .map(|parameter| parameter["schema"].clone())
                .unwrap_or_else(|| panic!("v1 POST {template} has no body parameter"));
            (consumes, schema, document["definitions"].clone())
        }
        Version::V2 => {
            let content = operation["requestBody"]["content"]
                .as_object()
                .unwrap_or_else(|| panic!("v2 POST {template} has no requestBody"));
            let content_types: Vec<String> = content.keys().cloned().collect();
            let schema = content
                .values()
                .next()
                .map(|media| media["schema"].clone())
                .unwrap_or(json!({}));
            (
                content_types,
                schema,
                document["components"]["schemas"].clone(),
            )
        }
    };

    let mut root = match to_json_schema(&schema) {
        Value::Object(map) => map,
        other => panic!("schema of POST {template} is not an object: {other}"),
    };
    let definitions: Map<String, Value> = definitions
        .as_object()
        .map(|all| {
            all.iter()
                .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
                .collect()
        })
        .unwrap_or_default();
    root.insert("definitions".to_owned(), Value::Object(definitions));
    let root = Value::Object(root);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&root)
        .unwrap_or_else(|error| panic!("compile the schema of POST {template}: {error}"));
    BodySpec {
        content_types,
        schema,
        validator,
    }
}

/// Converts a Swagger 2.0 or OpenAPI 3.0 schema object to draft-04 JSON Schema: `$ref`s point
/// into one `definitions` table, `nullable`/`x-nullable` admit null, and keywords that are
/// documentation only are dropped.
fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    let mut converted = Map::new();
    let mut nullable = false;
    for (key, value) in object {
        match key.as_str() {
            "nullable" | "x-nullable" => nullable = value.as_bool().unwrap_or(false),
            "$ref" => {
                let target = value
                    .as_str()
                    .unwrap_or("")
                    .replace("#/components/schemas/", "#/definitions/");
                converted.insert(key.clone(), Value::String(target));
            }
            "$schema" | "example" | "examples" | "discriminator" | "xml" | "externalDocs"
            | "readOnly" | "writeOnly" | "deprecated" => {}
            key if key.starts_with("x-") => {}
            "properties" | "patternProperties" | "definitions" => {
                let children = value
                    .as_object()
                    .map(|children| {
                        children
                            .iter()
                            .map(|(name, child)| (name.clone(), to_json_schema(child)))
                            .collect()
                    })
                    .unwrap_or_default();
                converted.insert(key.to_owned(), Value::Object(children));
            }
            "enum" | "default" | "required" => {
                converted.insert(key.to_owned(), value.clone());
            }
            "items" | "additionalProperties" | "not" => {
                converted.insert(key.to_owned(), to_json_schema(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let list = value
                    .as_array()
                    .map(|list| list.iter().map(to_json_schema).collect())
                    .unwrap_or_default();
                converted.insert(key.to_owned(), Value::Array(list));
            }
            _ => {
                converted.insert(key.clone(), value.clone());
            }
        }
    }
    // Swagger 2.0 has `type: file`, which JSON Schema lacks; any body is accepted for it.
    if converted.get("type") == Some(&json!("file")) {
        converted.remove("type");
    }
    if !nullable {
        return Value::Object(converted);
    }
    match converted.get("type").cloned() {
        Some(Value::String(kind)) => {
            converted.insert("type".to_owned(), json!([kind, "null"]));
            if let Some(Value::Array(values)) = converted.get_mut("enum") {
                values.push(Value::Null);
            }
            Value::Object(converted)
        }
        _ => json!({"anyOf": [{"type": "null"}, Value::Object(converted)]}),
    }
}

/// Converts YAML to JSON, turning non-string keys such as response codes into strings.
fn yaml_to_json(yaml: &serde_yaml::Value) -> Value {
    match yaml {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(value) => Value::Bool(*value),
        serde_yaml::Value::Number(number) => {
            if let Some(value) = number.as_i64() {
                json!(value)
            } else if let Some(value) = number.as_u64() {
                json!(value)
            } else {
                json!(number.as_f64().unwrap_or_default())
            }
        }
        serde_yaml::Value::String(text) => Value::String(text.clone()),
        serde_yaml::Value::Sequence(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect())
        }
        serde_yaml::Value::Mapping(mapping) => {
            let object = mapping
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        serde_yaml::Value::String(text) => text.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_json(value))
                })
                .collect();
            Value::Object(object)
        }
        serde_yaml::Value::Tagged(tagged) => yaml_to_json(&tagged.value),
    }
}

// ---------------------------------------------------------------------------------------
// Responses.

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// Builds the Engine's own error shape, `{message, httpcode, detail}`.
fn engine_error(status: StatusCode, message: &str, detail: Value) -> Response {
    json_response(
        status,
        &json!({"detail": detail, "httpcode": status.as_u16(), "message": message}),
    )
}

/// connexion's RFC 7807 shape, used by Engine for request validation failures.
fn problem(status: StatusCode, title: &str, detail: Value) -> Response {
    let body =
        json!({"detail": detail, "status": status.as_u16(), "title": title, "type": "about:blank"});
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/problem+json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// Builds the version's usual error: the Engine shape for v1, `ApiErrorResponse` for v2.
fn error_response(version: Version, status: StatusCode, message: &str, detail: Value) -> Response {
    match version {
        Version::V1 => engine_error(status, message, detail),
        Version::V2 => json_response(
            status,
            &json!({"code": status.as_u16(), "error_type": error_type(status), "message": message, "detail": detail}),
        ),
    }
}

fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 415 => "bad_request",
        401 | 403 => "unauthorized",
        404 => "not_found",
        409 => "conflict",
        _ => "internal_error",
    }
}

fn not_found_route(version: Version) -> Response {
    match version {
        Version::V1 => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            json!("The requested URL was not found on the server."),
        ),
        Version::V2 => error_response(version, StatusCode::NOT_FOUND, "Not Found", json!({})),
    }
}

fn unknown_operation(version: Version, uuid: &str) -> Response {
    match version {
        // Engine 1.1.0 wraps the catalog's 404 in a 500.
        Version::V1 => engine_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"message": format!("Resource {uuid} not found"), "detail": "{}", "httpcode": 404}).to_string(),
            json!({"error_codes": []}),
        ),
        Version::V2 => error_response(version, StatusCode::NOT_FOUND, &format!("Resource {uuid} not found"), json!({})),
    }
}

fn method_not_allowed(version: Version) -> Response {
    error_response(
        version,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        json!({}),
    )
}

fn fault_response(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).expect("fault status code");
    let mut response = json_response(
        status,
        &json!({"message": "injected fault", "httpcode": status.as_u16(), "detail": {}}),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Builds a 200 whose body stream fails, so hyper aborts the connection after the headers.
fn aborted_response() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("injected connection close"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("response")
}

fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// Returns the expiry time of an operation: 24 hours after it was created, as on a real Engine.
fn expiry_of(created_at: &str) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(created_at, &format)
        .map(|created| rfc3339(created.assume_utc() + time::Duration::hours(24)))
        .unwrap_or_else(|_| created_at.to_owned())
}

fn rfc3339(moment: time::OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    moment.format(&format).unwrap_or_default()
}
