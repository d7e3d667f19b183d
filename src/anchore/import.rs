//! The import sequence: create an operation, upload each content, finalize, then wait.

use std::time::Instant;

use reqwest::Method;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::client::{Body, Client};
use super::detect;
use super::error::ImportError;
use super::wait::{analysis_status, image_record, wait_for_analysis};
use super::{ApiVersion, ContentKind, ImportRequest, WaitPolicy, v1};
use crate::digest::Digest;

/// The v1 catalog rejects any content body over 100 MiB.
pub const V1_MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

const DEFAULT_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DEFAULT_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// A milestone of the import, reported to the caller's progress callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportStep {
    Connected {
        version: ApiVersion,
        account: Option<String>,
    },
    OperationCreated {
        uuid: String,
    },
    Uploaded {
        kind: ContentKind,
        /// Bare hex sha256 of the body, as the server returned it.
        digest: String,
        bytes: usize,
    },
    Finalized {
        analysis_status: String,
    },
    Polled {
        analysis_status: String,
    },
}

/// The result of a finished import.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub api_version: ApiVersion,
    pub base_url: String,
    pub operation_uuid: String,
    pub digest: Digest,
    /// `analyzed` after a successful wait; the status returned by finalize otherwise.
    pub analysis_status: String,
    /// The image record as the server last returned it.
    pub image: Value,
    /// The API URL of the image record, `{base}/v{n}/images/{digest}`.
    pub image_url: String,
}

/// Imports `request` and, when `wait.wait` is set, waits for Anchore's analysis.
pub async fn run(
    client: &Client,
    request: &ImportRequest,
    wait: &WaitPolicy,
    progress: &(dyn Fn(ImportStep) + Sync),
) -> Result<ImportOutcome, ImportError> {
    run_until_cancelled(client, request, wait, progress, &CancellationToken::new()).await
}

/// Same as [`run`], but stops with [`ImportError::Interrupted`] when `cancel` fires (e.g. on
/// Ctrl-C). A pending operation is deleted first, so it does not linger on the server.
/// Dropping the future before finalize also deletes the operation, from a spawned task.
pub async fn run_until_cancelled(
    client: &Client,
    request: &ImportRequest,
    wait: &WaitPolicy,
    progress: &(dyn Fn(ImportStep) + Sync),
    cancel: &CancellationToken,
) -> Result<ImportOutcome, ImportError> {
    validate_request(request)?;

    let server = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(interrupted("connecting to Anchore")),
        server = detect::connect(client) => server?,
    };
    let version = server.version;
    progress(ImportStep::Connected {
        version,
        account: server.account.clone(),
    });

    let contents = prepare_contents(request, version)?;

    let uuid = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(interrupted("creating the import operation")),
        uuid = create_operation(client, version) => uuid?,
    };
    progress(ImportStep::OperationCreated { uuid: uuid.clone() });
    let mut guard = OperationGuard::new(client, version, &uuid);

    let uploaded = tokio::select! {
        biased;
        () = cancel.cancelled() => Err(interrupted("uploading the analysis")),
        uploaded = upload_all(client, version, &uuid, &contents, progress) => uploaded,
    };
    let digests = match uploaded {
        Ok(digests) => digests,
        Err(error) => {
            guard.delete_now().await;
            return Err(error);
        }
    };

    // Finalize is neither retried nor raced against cancellation: once sent, the server
    // may have accepted it, and only a fresh status read can tell.
    let finalize_started = Instant::now();
    let finalized = finalize(client, version, &uuid, request, &digests).await;
    let record = match finalized {
        Ok(record) => record,
        Err(error) => {
            guard.delete_now().await;
            return Err(error);
        }
    };
    guard.disarm();

    let mut status = analysis_status(&record).to_owned();
    progress(ImportStep::Finalized {
        analysis_status: status.clone(),
    });
    let mut image = record;

    if wait.wait && status != "analyzed" {
        let on_status = |status: &str| {
            progress(ImportStep::Polled {
                analysis_status: status.to_owned(),
            })
        };
        image = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(interrupted("waiting for the analysis")),
            record = wait_for_analysis(client, version, &request.digest, wait, finalize_started, &on_status) => record?,
        };
        status = analysis_status(&image).to_owned();
    }

    Ok(ImportOutcome {
        api_version: version,
        base_url: client.base_url().to_owned(),
        operation_uuid: uuid,
        digest: request.digest.clone(),
        analysis_status: status,
        image,
        image_url: format!(
            "{}{}/images/{}",
            client.base_url(),
            version.prefix(),
            request.digest
        ),
    })
}

fn interrupted(stage: &str) -> ImportError {
    ImportError::Interrupted {
        stage: stage.to_owned(),
    }
}

/// Checks locally what the server would reject later with a less helpful message.
fn validate_request(request: &ImportRequest) -> Result<(), ImportError> {
    let invalid = |reason: String| Err(ImportError::InvalidRequest { reason });
    if request.tags.is_empty() {
        return invalid("at least one tag is required; name the image with a tag".to_owned());
    }
    for tag in &request.tags {
        let valid_chars = tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | ':' | '/' | '_' | '.' | '-'));
        if tag.is_empty() || !valid_chars {
            return invalid(format!(
                "tag {tag:?} has characters Anchore rejects; only A-Z, a-z, 0-9 and @:/_.- are allowed"
            ));
        }
    }
    let manifest_digest = request.manifest.digest();
    if manifest_digest != request.digest {
        return invalid(format!(
            "the image digest {} does not match the manifest's sha256 {manifest_digest}",
            request.digest
        ));
    }
    if !is_json_object(&request.sbom) {
        return invalid("the SBOM is not a JSON object".to_owned());
    }
    Ok(())
}

/// Returns whether `bytes` is one JSON object (whitespace around it allowed).
pub fn is_json_object(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// Builds the bodies to upload, in upload order.
fn prepare_contents(
    request: &ImportRequest,
    version: ApiVersion,
) -> Result<Vec<(ContentKind, Body)>, ImportError> {
    let converted;
    let packages: &[u8] = match version {
        ApiVersion::V1 => {
            let sbom: serde_json::Value =
                serde_json::from_slice(&request.sbom).map_err(|error| {
                    ImportError::InvalidRequest {
                        reason: format!("the SBOM is not valid JSON: {error}"),
                    }
                })?;
            converted = serde_json::to_vec(&v1::downconvert_sbom(&sbom)).map_err(|error| {
                ImportError::InvalidRequest {
                    reason: format!("cannot serialize the SBOM: {error}"),
                }
            })?;
            &converted
        }
        ApiVersion::V2 => &request.sbom,
    };

    let body = |bytes: &[u8], content_type: &str| Body {
        bytes: bytes.to_vec(),
        content_type: content_type.to_owned(),
    };
    let media_type = |declared: &str, fallback: &'static str| {
        if declared.is_empty() {
            fallback.to_owned()
        } else {
            declared.to_owned()
        }
    };

    let mut contents = vec![
        (ContentKind::Packages, body(packages, "application/json")),
        (
            ContentKind::Manifest,
            body(
                &request.manifest.bytes,
                &media_type(&request.manifest.media_type, DEFAULT_MANIFEST_MEDIA_TYPE),
            ),
        ),
        (
            ContentKind::ImageConfig,
            body(&request.config, "application/json"),
        ),
    ];
    if let Some(parent) = &request.parent {
        contents.push((
            ContentKind::ParentManifest,
            body(
                &parent.bytes,
                &media_type(&parent.media_type, DEFAULT_INDEX_MEDIA_TYPE),
            ),
        ));
    }
    if let Some(dockerfile) = &request.dockerfile {
        contents.push((ContentKind::Dockerfile, body(dockerfile, "text/plain")));
    }

    for (kind, body) in &contents {
        let size = body.bytes.len();
        if size <= V1_MAX_BODY_BYTES {
            continue;
        }
        match version {
            ApiVersion::V1 => {
                return Err(ImportError::BodyTooLarge {
                    kind: *kind,
                    size,
                    limit: V1_MAX_BODY_BYTES,
                });
            }
            ApiVersion::V2 => tracing::warn!(
                %kind,
                size,
                "upload body is over 100 MiB; a proxy or the server may reject it"
            ),
        }
    }
    Ok(contents)
}

async fn create_operation(client: &Client, version: ApiVersion) -> Result<String, ImportError> {
    let path = format!("{}/imports/images", version.prefix());
    let response = client.send(Method::POST, &path, None).await?;
    let response = client.check(&Method::POST, &path, response)?;
    let body = response.json(&Method::POST, &path)?;
    match body.get("uuid").and_then(Value::as_str) {
        Some(uuid) if !uuid.is_empty() => Ok(uuid.to_owned()),
        _ => Err(ImportError::InvalidResponse {
            method: "POST".to_owned(),
            path,
            reason: "the operation has no uuid".to_owned(),
        }),
    }
}

/// Uploads every content and returns the `contents` object of the finalize request.
async fn upload_all(
    client: &Client,
    version: ApiVersion,
    uuid: &str,
    contents: &[(ContentKind, Body)],
    progress: &(dyn Fn(ImportStep) + Sync),
) -> Result<Map<String, Value>, ImportError> {
    let mut digests = Map::new();
    for (kind, body) in contents {
        let digest = upload(client, version, uuid, *kind, body).await?;
        progress(ImportStep::Uploaded {
            kind: *kind,
            digest: digest.clone(),
            bytes: body.bytes.len(),
        });
        digests.insert(kind.contents_key().to_owned(), Value::String(digest));
    }
    Ok(digests)
}

/// Uploads one body and checks that the server stored exactly these bytes.
async fn upload(
    client: &Client,
    version: ApiVersion,
    uuid: &str,
    kind: ContentKind,
    body: &Body,
) -> Result<String, ImportError> {
    let path = format!(
        "{}/imports/images/{uuid}/{}",
        version.prefix(),
        kind.path_segment(version)
    );
    // Uploads are idempotent: the server stores content by its sha256.
    let response = client
        .send_idempotent(Method::POST, &path, Some(body))
        .await?;
    let response = client.check(&Method::POST, &path, response)?;
    let returned = response.json(&Method::POST, &path)?;
    let got = returned
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let expected = Digest::of(&body.bytes).hex().to_owned();
    if got != expected {
        return Err(ImportError::DigestMismatch {
            kind,
            expected,
            got,
        });
    }
    Ok(got)
}

async fn finalize(
    client: &Client,
    version: ApiVersion,
    uuid: &str,
    request: &ImportRequest,
    contents: &Map<String, Value>,
) -> Result<Value, ImportError> {
    let mut import = json!({
        "digest": request.digest.to_string(),
        "tags": request.tags,
        "operation_uuid": uuid,
        "contents": contents,
    });
    if let Some(parent) = &request.parent {
        import["parent_digest"] = json!(parent.digest().to_string());
    }
    if !request.local_image_id.is_empty() {
        import["local_image_id"] = json!(request.local_image_id);
    }
    let payload = json!({
        "source": {"import": import},
        "annotations": request.annotations,
    });

    let path = format!("{}/images?force={}", version.prefix(), request.force);
    let body = Body {
        bytes: serde_json::to_vec(&payload).map_err(|error| ImportError::InvalidRequest {
            reason: format!("cannot serialize the finalize request: {error}"),
        })?,
        content_type: "application/json".to_owned(),
    };
    let response = client.send(Method::POST, &path, Some(&body)).await?;
    let response = client.check(&Method::POST, &path, response)?;
    let returned = response.json(&Method::POST, &path)?;
    image_record(version, returned, &Method::POST, &path)
}

/// Deletes the import operation unless it was finalized, either explicitly on an error
/// path or, when the import future is dropped, from a task spawned on the current runtime.
struct OperationGuard {
    client: Client,
    version: ApiVersion,
    uuid: String,
    armed: bool,
}

impl OperationGuard {
    fn new(client: &Client, version: ApiVersion, uuid: &str) -> Self {
        Self {
            client: client.clone(),
            version,
            uuid: uuid.to_owned(),
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    async fn delete_now(&mut self) {
        self.armed = false;
        delete_operation(&self.client, self.version, &self.uuid).await;
    }
}

impl Drop for OperationGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                uuid = self.uuid,
                "cannot delete the import operation: no runtime"
            );
            return;
        };
        let client = self.client.clone();
        let version = self.version;
        let uuid = std::mem::take(&mut self.uuid);
        runtime.spawn(async move { delete_operation(&client, version, &uuid).await });
    }
}

/// Sends `DELETE /v{n}/imports/images/{uuid}` once; a failure is only logged, because the
/// caller is already reporting the error that made the import stop.
async fn delete_operation(client: &Client, version: ApiVersion, uuid: &str) {
    let path = format!("{}/imports/images/{uuid}", version.prefix());
    let result = client
        .send(Method::DELETE, &path, None)
        .await
        .and_then(|response| client.check(&Method::DELETE, &path, response));
    match result {
        Ok(_) => tracing::debug!(uuid, "deleted the unfinished import operation"),
        Err(error) => {
            tracing::warn!(uuid, %error, "cannot delete the unfinished import operation")
        }
    }
}
