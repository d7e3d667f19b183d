//! The HTTP client every Anchore request goes through: TLS, authentication, the account
//! header, timeouts, retries and request logging.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use url::Url;

use super::error::ImportError;
use super::{ApiVersion, ApiVersionChoice, Connection};

/// How often and how long idempotent requests are retried after a 5xx, a 429 or a network
/// error.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total tries including the first; 1 disables retries.
    pub attempts: u32,
    /// Delay before the first retry; it doubles for each later one.
    pub base_delay: Duration,
    /// Cap on any single delay, including one asked for by `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// A request body with its media type. It is sent from memory, so reqwest always sets
/// `Content-Length` and never uses chunked transfer encoding.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// A response whose body has been read in full.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// Parses the body as JSON, naming the request when that fails.
    pub fn json(&self, method: &Method, path: &str) -> Result<serde_json::Value, ImportError> {
        serde_json::from_slice(&self.body).map_err(|error| ImportError::InvalidResponse {
            method: method.to_string(),
            path: path.to_owned(),
            reason: format!("the body is not JSON: {error}"),
        })
    }
}

/// A connection to one Anchore server. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Scheme, host, port and any path prefix, without a trailing `/`, `/v1` or `/v2`.
    base: String,
    version_hint: Option<ApiVersion>,
    username: String,
    request_timeout: Duration,
    retry: RetryPolicy,
}

impl Client {
    /// Builds a client for `connection`. Nothing is sent until the first request.
    pub fn new(connection: &Connection) -> Result<Client, ImportError> {
        let (base, url_version) = parse_base_url(&connection.url)?;
        let chosen = match connection.api_version {
            ApiVersionChoice::Auto => None,
            ApiVersionChoice::V1 => Some(ApiVersion::V1),
            ApiVersionChoice::V2 => Some(ApiVersion::V2),
        };
        if let (Some(from_url), Some(chosen)) = (url_version, chosen) {
            if from_url != chosen {
                return Err(ImportError::InvalidUrl {
                    url: connection.url.clone(),
                    reason: format!(
                        "the URL ends in /{from_url} but the API version {chosen} was requested; \
                         drop one of the two"
                    ),
                });
            }
        }
        let version_hint = url_version.or(chosen);

        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, basic_auth_header(connection)?);
        if let Some(account) = &connection.account {
            let value =
                HeaderValue::from_str(account).map_err(|_| ImportError::InvalidRequest {
                    reason: format!("account name {account:?} is not a valid HTTP header value"),
                })?;
            headers.insert("x-anchore-account", value);
        }

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("inline-scan/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(connection.request_timeout)
            .connect_timeout(connection.request_timeout)
            .redirect(same_host_redirects());
        if let Some(path) = &connection.cacert {
            for certificate in read_ca_bundle(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if connection.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|error| ImportError::ClientSetup {
            reason: error_chain(&error),
        })?;

        Ok(Client {
            http,
            base,
            version_hint,
            username: connection.username.clone(),
            request_timeout: connection.request_timeout,
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy, e.g. to shorten delays in tests.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The base URL without the API version suffix.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The API version fixed by the URL suffix or the `--api-version` option, if any.
    pub fn version_hint(&self) -> Option<ApiVersion> {
        self.version_hint
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// Sends one request once. `path` starts with `/` and may carry a query string.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Body>,
    ) -> Result<Response, ImportError> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, &body.content_type)
                .body(body.bytes.clone());
        }

        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Response {
                status,
                headers,
                body,
            })
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;

        match result {
            Ok(response) => {
                tracing::debug!(%method, path, status = response.status.as_u16(), elapsed_ms, "Anchore request");
                Ok(response)
            }
            Err(error) => {
                tracing::debug!(%method, path, elapsed_ms, error = %error_chain(&error), "Anchore request failed");
                Err(self.map_transport_error(&method, path, &error))
            }
        }
    }

    /// Sends an idempotent request, retrying 5xx, 429 and network errors up to the retry
    /// policy's limit. The last response or error is returned as is.
    pub(crate) async fn send_idempotent(
        &self,
        method: Method,
        path: &str,
        body: Option<&Body>,
    ) -> Result<Response, ImportError> {
        let mut attempt = 1;
        loop {
            let result = self.send(method.clone(), path, body).await;
            let retry_delay = match &result {
                Ok(response) if is_retryable_status(response.status) => {
                    Some(self.retry_delay(attempt, retry_after(&response.headers)))
                }
                Err(ImportError::Unreachable { .. } | ImportError::RequestTimedOut { .. }) => {
                    Some(self.retry_delay(attempt, None))
                }
                _ => None,
            };
            match retry_delay {
                Some(delay) if attempt < self.retry.attempts => {
                    let cause = match &result {
                        Ok(response) => format!("HTTP {}", response.status.as_u16()),
                        Err(error) => error.to_string(),
                    };
                    tracing::warn!(%method, path, attempt, delay_ms = delay.as_millis() as u64, cause, "retrying Anchore request");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return result,
            }
        }
    }

    /// Returns the response when its status is 2xx, and the matching error otherwise.
    pub(crate) fn check(
        &self,
        method: &Method,
        path: &str,
        response: Response,
    ) -> Result<Response, ImportError> {
        let status = response.status;
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImportError::AuthenticationFailed {
                username: self.username.clone(),
                url: self.base.clone(),
                status: status.as_u16(),
            });
        }
        let message = if status.is_redirection() {
            let location = response
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("(no Location header)");
            format!(
                "redirect to {location} was not followed because it leaves the host; pass the \
                 final URL with -r"
            )
        } else {
            server_message(&response.body)
        };
        Err(ImportError::Http {
            method: method.to_string(),
            path: path.to_owned(),
            status: status.as_u16(),
            message,
        })
    }

    fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .retry
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt - 1));
        retry_after.unwrap_or(backoff).min(self.retry.max_delay)
    }

    fn map_transport_error(
        &self,
        method: &Method,
        path: &str,
        error: &reqwest::Error,
    ) -> ImportError {
        let reason = error_chain(error);
        if error.is_timeout() {
            return ImportError::RequestTimedOut {
                method: method.to_string(),
                path: path.to_owned(),
                timeout: self.request_timeout,
            };
        }
        // rustls reports a plain-HTTP reply to its handshake as a corrupt message of type
        // InvalidContentType, which no CA bundle fixes.
        if self.base.starts_with("https://") && reason.contains("InvalidContentType") {
            return ImportError::PlainHttpServer {
                url: self.base.clone(),
                reason,
            };
        }
        if looks_like_tls_failure(&reason) {
            return ImportError::Tls {
                url: self.base.clone(),
                reason,
            };
        }
        ImportError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }
}

/// Splits the user's URL into the base and the API version its last path segment names.
fn parse_base_url(input: &str) -> Result<(String, Option<ApiVersion>), ImportError> {
    let invalid = |reason: &str| ImportError::InvalidUrl {
        url: input.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(input).map_err(|error| ImportError::InvalidUrl {
        url: input.to_owned(),
        reason: error.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("the URL has no host"));
    }
    if url.password().is_some() || !url.username().is_empty() {
        // The URL ends up in messages and logs, so credentials must not travel inside it.
        return Err(ImportError::InvalidUrl {
            url: "(URL with credentials, not shown)".to_owned(),
            reason: "pass the username and password with -u and -p, not in the URL".to_owned(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }

    let mut base = url.as_str().trim_end_matches('/').to_owned();
    let mut version = None;
    for (suffix, suffix_version) in [("/v1", ApiVersion::V1), ("/v2", ApiVersion::V2)] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped.to_owned();
            version = Some(suffix_version);
            break;
        }
    }
    Ok((base, version))
}

fn basic_auth_header(connection: &Connection) -> Result<HeaderValue, ImportError> {
    use base64::Engine as _;
    let credentials = format!("{}:{}", connection.username, connection.password.expose());
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
        ImportError::InvalidRequest {
            reason: "the username cannot be sent in an HTTP header".to_owned(),
        }
    })?;
    // Marks the header so that reqwest and hyper keep it out of Debug output.
    value.set_sensitive(true);
    Ok(value)
}

fn read_ca_bundle(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ImportError> {
    let failed = |reason: String| ImportError::CaCertificate {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|error| failed(error.to_string()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|error| failed(format!("invalid PEM: {}", error_chain(&error))))?;
    if certificates.is_empty() {
        return Err(failed("the file contains no PEM certificate".to_owned()));
    }
    Ok(certificates)
}

/// Follows redirects only within the same scheme, host and port, so that the Basic
/// credentials never go to another server.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let same_origin = first.scheme() == attempt.url().scheme()
            && first.host_str() == attempt.url().host_str()
            && first.port_or_known_default() == attempt.url().port_or_known_default();
        if !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else {
            attempt.follow()
        }
    })
}

fn is_retryable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// Reads `Retry-After` in its delay-seconds form; the HTTP-date form is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// Joins an error and its sources into one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Recognizes a TLS failure in reqwest's error chain. reqwest exposes no error kind for it,
/// so this matches the words rustls and hyper-rustls use in their messages.
fn looks_like_tls_failure(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    ["certificate", "tls", "handshake", "unknownissuer"]
        .iter()
        .any(|word| lower.contains(word))
}

/// Extracts the server's error message from any of the error bodies Anchore returns: the
/// Engine's `{message, httpcode, detail}`, connexion's problem+json `{title, detail}`, and
/// the v2 `ApiErrorResponse` `{code, error_type, message, detail}`.
pub(crate) fn server_message(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) {
        let text = |key: &str| {
            object
                .get(key)
                .and_then(|value| value.as_str())
                .filter(|value| !value.is_empty())
        };
        if let Some(message) = text("message") {
            return message.to_owned();
        }
        match (text("title"), text("detail")) {
            (Some(title), Some(detail)) => return format!("{title}: {detail}"),
            (Some(only), None) | (None, Some(only)) => return only.to_owned(),
            (None, None) => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        "(empty response body)".to_owned()
    } else {
        trimmed.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_strips_version_suffix() {
        let cases = [
            ("http://127.0.0.1:8228", "http://127.0.0.1:8228", None),
            ("http://127.0.0.1:8228/", "http://127.0.0.1:8228", None),
            (
                "http://127.0.0.1:8228/v1",
                "http://127.0.0.1:8228",
                Some(ApiVersion::V1),
            ),
            (
                "http://127.0.0.1:8228/v2/",
                "http://127.0.0.1:8228",
                Some(ApiVersion::V2),
            ),
            (
                "https://127.0.0.1/anchore/v2",
                "https://127.0.0.1/anchore",
                Some(ApiVersion::V2),
            ),
        ];
        for (input, base, version) in cases {
            let parsed = parse_base_url(input).unwrap();
            assert_eq!(parsed.0, base, "base of {input}");
            assert_eq!(parsed.1, version, "version of {input}");
        }
    }

    #[test]
    fn base_url_rejects_credentials_without_echoing() {
        let error = parse_base_url("http://admin:hunter2@127.0.0.1:8228").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn server_message_reads_each_error_shape() {
        let engine = br#"{"message":"image not found in DB","httpcode":404,"detail":{}}"#;
        assert_eq!(server_message(engine), "image not found in DB");
        let problem = br#"{"detail":"'target' is a required property - 'source'","status":400,"title":"Bad Request","type":"about:blank"}"#;
        assert_eq!(
            server_message(problem),
            "Bad Request: 'target' is a required property - 'source'"
        );
        let v2 = br#"{"code":415,"error_type":"bad_request","message":"unsupported media type","detail":{}}"#;
        assert_eq!(server_message(v2), "unsupported media type");
        assert_eq!(server_message(b""), "(empty response body)");
    }

    #[test]
    fn retry_after_seconds_parsed() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
