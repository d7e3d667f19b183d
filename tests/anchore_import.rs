//! The Anchore import client against the strict fake Anchore, and the fake's own checks.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use inline_scan::anchore::client::RetryPolicy;
use inline_scan::anchore::import::{self, ImportStep};
use inline_scan::anchore::{ApiVersion, ApiVersionChoice, Client, ImportError, WaitPolicy};
use inline_scan::digest::Digest;
use inline_scan::exit::ExitCode;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig, Fault, RecordedRequest};
use common::{SampleImage, connection};

const ACCOUNT: &str = "ci-team";

fn fast_wait(timeout: Duration) -> WaitPolicy {
    WaitPolicy {
        wait: true,
        timeout,
        poll_interval: Duration::from_millis(50),
        max_poll_interval: Duration::from_millis(200),
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
    }
}

async fn start(mode: ApiMode) -> (FakeAnchore, FakeConfig) {
    let config = FakeConfig::new(mode);
    (FakeAnchore::start(config.clone()).await, config)
}

fn client_for(fake: &FakeAnchore, config: &FakeConfig) -> Client {
    let mut connection = connection(&fake.url, &config.username, &config.password);
    connection.account = config.required_account.clone();
    Client::new(&connection)
        .expect("client")
        .with_retry_policy(fast_retries())
}

async fn import_sample(
    client: &Client,
    image: &SampleImage,
) -> Result<import::ImportOutcome, ImportError> {
    import::run(
        client,
        &image.request(),
        &fast_wait(Duration::from_secs(20)),
        &|_| {},
    )
    .await
}

/// Replaces the 32-hex operation id in a path with `{id}` so that sequences compare.
fn path_shape(request: &RecordedRequest) -> String {
    let path = request
        .path
        .split('/')
        .map(|segment| {
            if segment.len() == 32 && segment.bytes().all(|b| b.is_ascii_hexdigit()) {
                "{id}"
            } else if segment.starts_with("sha256:") {
                "{digest}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    match &request.query {
        Some(query) => format!("{} {path}?{query}", request.method),
        None => format!("{} {path}", request.method),
    }
}

fn find<'a>(
    requests: &'a [RecordedRequest],
    method: &str,
    suffix: &str,
) -> Vec<&'a RecordedRequest> {
    requests
        .iter()
        .filter(|request| request.method == method && request.path.ends_with(suffix))
        .collect()
}

#[tokio::test]
async fn v2_import_reaches_analyzed() {
    let mut config = FakeConfig::new(ApiMode::V2Only);
    config.required_account = Some(ACCOUNT.to_owned());
    let fake = FakeAnchore::start(config.clone()).await;
    let client = client_for(&fake, &config);
    let image = SampleImage::build();

    let steps = Mutex::new(Vec::new());
    let outcome = import::run(
        &client,
        &image.request(),
        &fast_wait(Duration::from_secs(20)),
        &|step| steps.lock().unwrap().push(step),
    )
    .await
    .expect("import");

    assert_eq!(outcome.api_version, ApiVersion::V2);
    assert_eq!(outcome.analysis_status, "analyzed");
    assert_eq!(outcome.digest, image.digest());
    assert_eq!(
        outcome.image["image_digest"],
        json!(image.digest().to_string())
    );
    assert_eq!(
        outcome.image_url,
        format!("{}/v2/images/{}", fake.url, image.digest())
    );
    assert_eq!(
        outcome.image["annotations"]["anchore.system/import_operation_id"],
        json!(outcome.operation_uuid)
    );
    assert_eq!(outcome.image["annotations"]["ci.job"], json!("42"));

    let requests = fake.requests();
    let shapes: Vec<String> = requests.iter().map(path_shape).collect();
    assert_eq!(
        shapes,
        [
            "GET /v2/",
            "GET /v2/account",
            "POST /v2/imports/images",
            "POST /v2/imports/images/{id}/packages",
            "POST /v2/imports/images/{id}/manifest",
            "POST /v2/imports/images/{id}/image-config",
            "POST /v2/imports/images/{id}/dockerfile",
            "POST /v2/images?force=false",
            "GET /v2/images/{digest}",
            "GET /v2/images/{digest}",
        ]
    );
    let user_agent = format!("inline-scan/{}", env!("CARGO_PKG_VERSION"));
    for request in &requests {
        assert_eq!(
            request.account.as_deref(),
            Some(ACCOUNT),
            "{}",
            path_shape(request)
        );
        assert_eq!(request.user_agent.as_deref(), Some(user_agent.as_str()));
        assert!(
            request.status < 300,
            "{} returned {}",
            path_shape(request),
            request.status
        );
    }

    let content_types: Vec<Option<&str>> = requests[3..8]
        .iter()
        .map(|request| request.content_type.as_deref())
        .collect();
    assert_eq!(
        content_types,
        [
            Some("application/json"),
            Some(common::DOCKER_MANIFEST_V2),
            Some("application/json"),
            Some("text/plain"),
            Some("application/json"),
        ]
    );
    for request in &requests[3..8] {
        assert_eq!(request.content_length, Some(request.body.len() as u64));
    }

    let manifest = find(&requests, "POST", "/manifest")[0];
    assert_eq!(Digest::of(&manifest.body), image.digest());
    assert_eq!(manifest.body, image.manifest.bytes);
    let packages: Value =
        serde_json::from_slice(&find(&requests, "POST", "/packages")[0].body).unwrap();
    assert_eq!(packages, image.sbom(), "v2 uploads the SBOM unchanged");

    let finalize: Value =
        serde_json::from_slice(&find(&requests, "POST", "/v2/images")[0].body).unwrap();
    let import = &finalize["source"]["import"];
    assert_eq!(import["digest"], json!(image.digest().to_string()));
    assert_eq!(import["tags"], json!([common::SAMPLE_TAG]));
    assert_eq!(import["operation_uuid"], json!(outcome.operation_uuid));
    assert_eq!(
        import["local_image_id"],
        json!(Digest::of(&image.config).hex())
    );
    assert_eq!(import["contents"]["manifest"], json!(image.digest().hex()));
    assert!(import.get("parent_digest").is_none());
    assert_eq!(fake.operations()[&outcome.operation_uuid], "complete");

    let steps = steps.into_inner().unwrap();
    assert!(matches!(
        steps[0],
        ImportStep::Connected {
            version: ApiVersion::V2,
            ..
        }
    ));
    let uploaded = steps
        .iter()
        .filter(|step| matches!(step, ImportStep::Uploaded { .. }))
        .count();
    assert_eq!(uploaded, 4);
    assert_eq!(
        steps.last(),
        Some(&ImportStep::Polled {
            analysis_status: "analyzed".to_owned()
        })
    );
}

#[tokio::test]
async fn v1_import_reaches_analyzed() {
    let mut config = FakeConfig::new(ApiMode::V1Only);
    config.required_account = Some(ACCOUNT.to_owned());
    let fake = FakeAnchore::start(config.clone()).await;
    let client = client_for(&fake, &config);
    let image = SampleImage::build();
    let mut request = image.request();
    request.parent = Some(common::sample_index(&image));

    let outcome = import::run(
        &client,
        &request,
        &fast_wait(Duration::from_secs(20)),
        &|_| {},
    )
    .await
    .expect("import");

    assert_eq!(outcome.api_version, ApiVersion::V1);
    assert_eq!(outcome.analysis_status, "analyzed");
    assert_eq!(
        outcome.image["imageDigest"],
        json!(image.digest().to_string())
    );

    let requests = fake.requests();
    let shapes: Vec<String> = requests.iter().map(path_shape).collect();
    assert_eq!(
        shapes,
        [
            "GET /v2/",
            "GET /v1/",
            "GET /v1/account",
            "GET /v1/imports/images",
            "POST /v1/imports/images",
            "POST /v1/imports/images/{id}/packages",
            "POST /v1/imports/images/{id}/manifest",
            "POST /v1/imports/images/{id}/image_config",
            "POST /v1/imports/images/{id}/parent_manifest",
            "POST /v1/imports/images/{id}/dockerfile",
            "POST /v1/images?force=false",
            "GET /v1/images/{digest}",
            "GET /v1/images/{digest}",
        ]
    );
    for request in &requests {
        assert_eq!(
            request.account.as_deref(),
            Some(ACCOUNT),
            "{}",
            path_shape(request)
        );
    }
    assert_eq!(
        find(&requests, "POST", "/parent_manifest")[0]
            .content_type
            .as_deref(),
        Some("application/vnd.oci.image.index.v1+json")
    );

    let packages: Value =
        serde_json::from_slice(&find(&requests, "POST", "/packages")[0].body).unwrap();
    assert_eq!(
        packages["distro"],
        json!({"name": "debian", "version": "12", "idLike": ""})
    );
    assert_eq!(
        packages["artifacts"][0]["licenses"],
        json!(["GPL-2.0-or-later"])
    );
    assert!(packages["source"]["target"].is_object());

    let finalize: Value =
        serde_json::from_slice(&find(&requests, "POST", "/v1/images")[0].body).unwrap();
    let parent = common::sample_index(&image);
    assert_eq!(
        finalize["source"]["import"]["parent_digest"],
        json!(parent.digest().to_string())
    );
    assert_eq!(
        finalize["source"]["import"]["contents"]["parent_manifest"],
        json!(parent.digest().hex())
    );
    let manifest = find(&requests, "POST", "/manifest")[0];
    assert_eq!(Digest::of(&manifest.body), image.digest());
}

#[tokio::test]
async fn detection_prefers_v2_on_dual_server() {
    let (fake, config) = start(ApiMode::Both).await;
    let outcome = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .expect("import");
    assert_eq!(outcome.api_version, ApiVersion::V2);
    let on_v1 = fake
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/v1"))
        .count();
    assert_eq!(on_v1, 0);
}

#[tokio::test]
async fn url_suffix_selects_v1_on_dual_server() {
    let (fake, config) = start(ApiMode::Both).await;
    let connection = connection(
        &format!("{}/v1", fake.url),
        &config.username,
        &config.password,
    );
    let client = Client::new(&connection).unwrap();
    let outcome = import_sample(&client, &SampleImage::build())
        .await
        .expect("import");
    assert_eq!(outcome.api_version, ApiVersion::V1);
    assert_eq!(outcome.base_url, fake.url);
    assert!(
        fake.requests()
            .iter()
            .all(|request| request.path.starts_with("/v1/"))
    );
}

#[tokio::test]
async fn api_version_option_selects_v2() {
    let (fake, config) = start(ApiMode::Both).await;
    let mut connection = connection(&fake.url, &config.username, &config.password);
    connection.api_version = ApiVersionChoice::V2;
    let client = Client::new(&connection).unwrap();
    let outcome = import_sample(&client, &SampleImage::build())
        .await
        .expect("import");
    assert_eq!(outcome.api_version, ApiVersion::V2);
    assert_eq!(path_shape(&fake.requests()[0]), "GET /v2/account");
}

#[test]
fn url_suffix_conflicting_with_option_rejected() {
    let mut connection = connection("http://127.0.0.1:8228/v2", "admin", "pw");
    connection.api_version = ApiVersionChoice::V1;
    let error = Client::new(&connection).unwrap_err();
    assert!(matches!(error, ImportError::InvalidUrl { .. }), "{error}");
    assert!(error.to_string().contains("/v2"), "{error}");
}

#[tokio::test]
async fn v1_without_import_routes_is_rejected() {
    let mut config = FakeConfig::new(ApiMode::V1Only);
    config.has_import_api = false;
    let fake = FakeAnchore::start(config.clone()).await;
    let error = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .unwrap_err();
    assert!(matches!(error, ImportError::NoImportApi { .. }), "{error}");
    assert_eq!(error.exit_code(), ExitCode::Failure);
    assert!(find(&fake.requests(), "POST", "/imports/images").is_empty());
}

#[tokio::test]
async fn wrong_password_fails_authentication() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let password = "not-the-password-913";
    let client = Client::new(&connection(&fake.url, &config.username, password)).unwrap();

    let error = import_sample(&client, &SampleImage::build())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImportError::AuthenticationFailed { status: 401, .. }),
        "{message}"
    );
    assert_eq!(error.exit_code(), ExitCode::Failure);
    assert!(
        message.contains("authentication failed for user admin"),
        "{message}"
    );
    assert!(message.contains(&fake.url), "{message}");
    assert!(!message.contains(password), "{message}");
    assert!(!format!("{error:?}").contains(password));
    assert!(!format!("{client:?}").contains(password));
    assert!(find(&fake.requests(), "POST", "/imports/images").is_empty());
}

#[tokio::test]
async fn unreachable_server_names_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&connection(&url, "admin", "secret-pw-77"))
        .unwrap()
        .with_retry_policy(fast_retries());

    let error = import_sample(&client, &SampleImage::build())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImportError::Unreachable { .. }),
        "{message}"
    );
    assert_eq!(error.exit_code(), ExitCode::Failure);
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("check the -r URL"), "{message}");
    assert!(!message.contains("secret-pw-77"), "{message}");
}

#[tokio::test]
async fn analysis_failed_exits_2() {
    let mut config = FakeConfig::new(ApiMode::V2Only);
    config.fail_analysis = true;
    let fake = FakeAnchore::start(config.clone()).await;
    let image = SampleImage::build();

    let error = import_sample(&client_for(&fake, &config), &image)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ImportError::AnalysisFailed { .. }),
        "{error}"
    );
    assert_eq!(error.exit_code(), ExitCode::AnalysisFailed);
    assert!(error.to_string().contains(&image.digest().to_string()));
    assert_eq!(
        fake.image_status(&image.digest().to_string()).as_deref(),
        Some("analysis_failed")
    );
}

#[tokio::test]
async fn analysis_never_finishing_times_out() {
    let mut config = FakeConfig::new(ApiMode::V1Only);
    config.polls_until_analyzed = u32::MAX;
    let fake = FakeAnchore::start(config.clone()).await;
    let image = SampleImage::build();

    let error = import::run(
        &client_for(&fake, &config),
        &image.request(),
        &fast_wait(Duration::from_millis(600)),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ImportError::TimedOut { .. }), "{error}");
    assert_eq!(error.exit_code(), ExitCode::TimedOut);
    assert!(error.to_string().contains("analyzing"), "{error}");
    assert!(!find(&fake.requests(), "GET", &image.digest().to_string()).is_empty());
}

#[tokio::test]
async fn no_wait_returns_after_finalize() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let image = SampleImage::build();
    let outcome = import::run(
        &client_for(&fake, &config),
        &image.request(),
        &WaitPolicy::new(false, Duration::from_secs(1)),
        &|_| {},
    )
    .await
    .expect("import");
    assert_eq!(outcome.analysis_status, "not_analyzed");
    assert!(find(&fake.requests(), "GET", &image.digest().to_string()).is_empty());
}

#[tokio::test]
async fn failed_upload_deletes_operation() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Status {
        method: Method::POST,
        path_suffix: "/manifest".to_owned(),
        status: 400,
        retry_after: None,
        times: 1,
    });

    let error = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImportError::Http { status: 400, .. }),
        "{message}"
    );
    assert!(message.contains("/manifest"), "{message}");
    assert!(message.contains("injected fault"), "{message}");

    let requests = fake.requests();
    assert_eq!(find(&requests, "DELETE", "").len(), 1);
    assert!(
        find(&requests, "POST", "/v2/images").is_empty(),
        "finalize must not be sent"
    );
    let operations = fake.operations();
    assert_eq!(operations.len(), 1);
    assert!(
        operations.values().all(|status| status == "invalidated"),
        "{operations:?}"
    );
}

#[tokio::test]
async fn upload_503_then_success_is_retried() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Status {
        method: Method::POST,
        path_suffix: "/packages".to_owned(),
        status: 503,
        retry_after: None,
        times: 1,
    });

    let outcome = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .expect("import after retry");
    assert_eq!(outcome.analysis_status, "analyzed");
    let statuses: Vec<u16> = find(&fake.requests(), "POST", "/packages")
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [503, 200]);
}

#[tokio::test]
async fn upload_429_honours_retry_after() {
    let (fake, config) = start(ApiMode::V1Only).await;
    fake.inject(Fault::Status {
        method: Method::POST,
        path_suffix: "/image_config".to_owned(),
        status: 429,
        retry_after: Some(1),
        times: 1,
    });

    let outcome = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .expect("import after retry");
    assert_eq!(outcome.analysis_status, "analyzed");
    let statuses: Vec<u16> = find(&fake.requests(), "POST", "/image_config")
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn closed_connection_on_upload_is_retried() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::CloseConnection {
        method: Method::POST,
        path_suffix: "/image-config".to_owned(),
        times: 1,
    });

    let outcome = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .expect("import after retry");
    assert_eq!(outcome.analysis_status, "analyzed");
    assert_eq!(find(&fake.requests(), "POST", "/image-config").len(), 2);
}

#[tokio::test]
async fn persistent_5xx_gives_up_and_deletes() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Status {
        method: Method::POST,
        path_suffix: "/packages".to_owned(),
        status: 500,
        retry_after: None,
        times: 10,
    });

    let error = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ImportError::Http { status: 500, .. }),
        "{error}"
    );
    let requests = fake.requests();
    assert_eq!(
        find(&requests, "POST", "/packages").len(),
        3,
        "one try plus two retries"
    );
    assert_eq!(find(&requests, "DELETE", "").len(), 1);
}

#[tokio::test]
async fn finalize_5xx_is_not_retried() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Status {
        method: Method::POST,
        path_suffix: "/v2/images".to_owned(),
        status: 503,
        retry_after: None,
        times: 1,
    });

    let error = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ImportError::Http { status: 503, .. }),
        "{error}"
    );
    assert_eq!(find(&fake.requests(), "POST", "/v2/images").len(), 1);
}

#[tokio::test]
async fn redirect_to_other_host_not_followed() {
    let (fake, config) = start(ApiMode::V2Only).await;
    // Same server under another host name: a followed redirect would show up as a request.
    let port = fake.url.rsplit(':').next().unwrap();
    fake.inject(Fault::Redirect {
        method: Method::GET,
        path_suffix: "/v2/account".to_owned(),
        location: format!("http://localhost:{port}/v2/account"),
        times: 1,
    });

    let error = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImportError::Http { status: 307, .. }),
        "{message}"
    );
    assert!(message.contains("localhost"), "{message}");
    assert_eq!(find(&fake.requests(), "GET", "/v2/account").len(), 1);
}

#[tokio::test]
async fn redirect_on_same_host_followed() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Redirect {
        method: Method::GET,
        path_suffix: "/v2/account".to_owned(),
        location: format!("{}/v2/account", fake.url),
        times: 1,
    });

    let outcome = import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .expect("import after a same-host redirect");
    assert_eq!(outcome.analysis_status, "analyzed");
    let statuses: Vec<u16> = find(&fake.requests(), "GET", "/v2/account")
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [307, 200]);
}

#[tokio::test]
async fn cancellation_during_upload_deletes_operation() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Delay {
        method: Method::POST,
        path_suffix: "/packages".to_owned(),
        delay: Duration::from_secs(5),
        times: 1,
    });
    let cancel = CancellationToken::new();

    let error = import::run_until_cancelled(
        &client_for(&fake, &config),
        &SampleImage::build().request(),
        &fast_wait(Duration::from_secs(20)),
        &|step| {
            if matches!(step, ImportStep::OperationCreated { .. }) {
                cancel.cancel();
            }
        },
        &cancel,
    )
    .await
    .unwrap_err();

    assert!(matches!(error, ImportError::Interrupted { .. }), "{error}");
    assert_eq!(error.exit_code(), ExitCode::Interrupted);
    assert_eq!(find(&fake.requests(), "DELETE", "").len(), 1);
    assert!(
        fake.operations()
            .values()
            .all(|status| status == "invalidated")
    );
}

#[tokio::test]
async fn dropped_import_deletes_operation() {
    let (fake, config) = start(ApiMode::V2Only).await;
    fake.inject(Fault::Delay {
        method: Method::POST,
        path_suffix: "/manifest".to_owned(),
        delay: Duration::from_secs(30),
        times: 1,
    });
    let client = client_for(&fake, &config);
    let request = SampleImage::build().request();
    let wait = fast_wait(Duration::from_secs(20));
    let (created_tx, created_rx) = tokio::sync::oneshot::channel();
    let created_tx = Mutex::new(Some(created_tx));

    let on_step = |step| {
        if let ImportStep::OperationCreated { uuid } = step {
            if let Some(sender) = created_tx.lock().unwrap().take() {
                let _ = sender.send(uuid);
            }
        }
    };
    let import = import::run(&client, &request, &wait, &on_step);
    let uuid = tokio::select! {
        _ = import => panic!("the import finished despite the delayed upload"),
        uuid = async {
            let uuid = created_rx.await.expect("operation created");
            // Let the packages upload finish so the manifest upload is in flight.
            while find(&fake.requests(), "POST", "/manifest").is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            uuid
        } => uuid,
    };

    for _ in 0..250 {
        if fake.operations()[&uuid] == "invalidated" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.operations()[&uuid], "invalidated");
}

#[tokio::test]
async fn too_large_v1_body_rejected_before_upload() {
    let (fake, config) = start(ApiMode::V1Only).await;
    let image = SampleImage::build();
    let mut request = image.request();
    request.dockerfile = Some(vec![b'#'; import::V1_MAX_BODY_BYTES + 1]);

    let error = import::run(
        &client_for(&fake, &config),
        &request,
        &fast_wait(Duration::from_secs(5)),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ImportError::BodyTooLarge { .. }), "{error}");
    assert!(error.to_string().contains("dockerfile"), "{error}");
    assert!(find(&fake.requests(), "POST", "/imports/images").is_empty());
}

#[tokio::test]
async fn empty_tags_rejected_locally() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let mut request = SampleImage::build().request();
    request.tags.clear();
    let error = import::run(
        &client_for(&fake, &config),
        &request,
        &fast_wait(Duration::from_secs(5)),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ImportError::InvalidRequest { .. }),
        "{error}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn reimport_without_force_returns_existing() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let client = client_for(&fake, &config);
    let image = SampleImage::build();
    let first = import_sample(&client, &image).await.expect("first import");
    let second = import_sample(&client, &image).await.expect("second import");

    assert_eq!(second.analysis_status, "analyzed");
    assert_ne!(first.operation_uuid, second.operation_uuid);
    assert_eq!(
        second.image["annotations"]["anchore.system/import_operation_id"],
        json!(first.operation_uuid)
    );
}

// ---------------------------------------------------------------------------------------
// The fake on its own: it must reject what a real server rejects.

struct Raw {
    http: reqwest::Client,
    base: String,
    username: String,
    password: String,
}

impl Raw {
    fn new(fake: &FakeAnchore, config: &FakeConfig) -> Raw {
        Raw {
            http: reqwest::Client::new(),
            base: fake.url.clone(),
            username: config.username.clone(),
            password: config.password.clone(),
        }
    }

    async fn post(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.username, Some(&self.password))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn create(&self, prefix: &str) -> String {
        let (status, body) = self
            .post(&format!("{prefix}/imports/images"), None, Vec::new())
            .await;
        assert_eq!(status, 200, "{body}");
        body["uuid"].as_str().expect("uuid").to_owned()
    }

    /// Uploads the sample's contents (v1-converted SBOM for v1) and returns the finalize body.
    async fn upload_sample(&self, prefix: &str, uuid: &str, image: &SampleImage) -> Value {
        let sbom = if prefix == "/v1" {
            inline_scan::anchore::v1::downconvert_sbom(&image.sbom())
        } else {
            image.sbom()
        };
        let config_segment = if prefix == "/v1" {
            "image_config"
        } else {
            "image-config"
        };
        let uploads = [
            (
                "packages",
                "application/json",
                serde_json::to_vec(&sbom).unwrap(),
            ),
            (
                "manifest",
                common::DOCKER_MANIFEST_V2,
                image.manifest.bytes.clone(),
            ),
            (config_segment, "application/json", image.config.clone()),
        ];
        let mut contents = serde_json::Map::new();
        for (segment, content_type, body) in uploads {
            let (status, response) = self
                .post(
                    &format!("{prefix}/imports/images/{uuid}/{segment}"),
                    Some(content_type),
                    body,
                )
                .await;
            assert_eq!(status, 200, "{segment}: {response}");
            contents.insert(segment.replace('-', "_"), response["digest"].clone());
        }
        json!({"source": {"import": {
            "digest": image.digest().to_string(),
            "tags": [common::SAMPLE_TAG],
            "operation_uuid": uuid,
            "contents": contents,
        }}})
    }
}

#[tokio::test]
async fn fake_rejects_raw_syft_json_on_v1() {
    let (fake, config) = start(ApiMode::V1Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v1").await;
    let sbom = serde_json::to_vec(&SampleImage::build().sbom()).unwrap();

    let (status, body) = raw
        .post(
            &format!("/v1/imports/images/{uuid}/packages"),
            Some("application/json"),
            sbom,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("'target' is a required property"), "{body}");
    assert!(detail.ends_with("- 'source'"), "{body}");
}

#[tokio::test]
async fn fake_accepts_raw_syft_json_on_v2() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v2").await;
    let sbom = serde_json::to_vec(&SampleImage::build().sbom()).unwrap();
    let (status, body) = raw
        .post(
            &format!("/v2/imports/images/{uuid}/packages"),
            Some("application/json"),
            sbom.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["digest"], json!(Digest::of(&sbom).hex()));
}

#[tokio::test]
async fn fake_rejects_schema_violation_on_v2() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v2").await;
    let mut sbom = SampleImage::build().sbom();
    sbom["artifacts"][0]["cpes"] = json!([42]);
    let (status, body) = raw
        .post(
            &format!("/v2/imports/images/{uuid}/packages"),
            Some("application/json"),
            serde_json::to_vec(&sbom).unwrap(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("artifacts.0.cpes.0"),
        "{body}"
    );
}

#[tokio::test]
async fn fake_rejects_wrong_content_type_on_v2() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v2").await;
    let image = SampleImage::build();

    for (segment, content_type) in [
        ("manifest", Some("text/plain")),
        ("manifest", Some("application/json")),
        ("image-config", Some("application/octet-stream")),
        ("dockerfile", Some("application/json")),
        ("packages", None),
    ] {
        let (status, body) = raw
            .post(
                &format!("/v2/imports/images/{uuid}/{segment}"),
                content_type,
                image.manifest.bytes.clone(),
            )
            .await;
        assert_eq!(status, 415, "{segment} as {content_type:?}: {body}");
        assert_eq!(body["code"], json!(415));
    }
}

#[tokio::test]
async fn fake_rejects_empty_content_type_on_v1() {
    let (fake, config) = start(ApiMode::V1Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v1").await;
    let (status, body) = raw
        .post(
            &format!("/v1/imports/images/{uuid}/image_config"),
            None,
            SampleImage::build().config,
        )
        .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(
        body["title"],
        json!("Invalid Content-type (), expected JSON data")
    );
}

#[tokio::test]
async fn fake_rejects_hyphen_paths_on_v1() {
    let (fake, config) = start(ApiMode::V1Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v1").await;
    let (status, _) = raw
        .post(
            &format!("/v1/imports/images/{uuid}/image-config"),
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn fake_rejects_unknown_content_digest() {
    for prefix in ["/v1", "/v2"] {
        let (fake, config) = start(ApiMode::Both).await;
        let raw = Raw::new(&fake, &config);
        let image = SampleImage::build();
        let uuid = raw.create(prefix).await;
        let mut finalize = raw.upload_sample(prefix, &uuid, &image).await;
        finalize["source"]["import"]["contents"]["packages"] = json!("aaaa");

        let (status, body) = raw
            .post(
                &format!("{prefix}/images"),
                Some("application/json"),
                finalize.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, 400, "{prefix}: {body}");
        assert_eq!(
            body["message"],
            json!("One or more referenced content digests not found for the operation id")
        );
        assert_eq!(body["detail"]["digest"], json!("aaaa"));
    }
}

#[tokio::test]
async fn fake_rejects_content_from_other_operation() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let raw = Raw::new(&fake, &config);
    let image = SampleImage::build();
    let first = raw.create("/v2").await;
    let finalize_first = raw.upload_sample("/v2", &first, &image).await;
    let second = raw.create("/v2").await;
    let mut finalize = finalize_first.clone();
    finalize["source"]["import"]["operation_uuid"] = json!(second);

    let (status, body) = raw
        .post(
            "/v2/images",
            Some("application/json"),
            finalize.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn fake_rejects_second_finalize() {
    let (fake, config) = start(ApiMode::V1Only).await;
    let raw = Raw::new(&fake, &config);
    let image = SampleImage::build();
    let uuid = raw.create("/v1").await;
    let finalize = raw.upload_sample("/v1", &uuid, &image).await;
    let body = finalize.to_string().into_bytes();

    let (status, first) = raw
        .post("/v1/images", Some("application/json"), body.clone())
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first[0]["analysis_status"], json!("not_analyzed"));
    let (status, second) = raw.post("/v1/images", Some("application/json"), body).await;
    assert_eq!(status, 409, "{second}");
    assert_eq!(
        second["message"],
        json!("Invalid operation status. Must be in pending state to finalize")
    );
    assert_eq!(second["detail"]["status"], json!("processing"));
}

#[tokio::test]
async fn fake_rejects_bad_tags_and_digests() {
    let image = SampleImage::build();
    let other_digest = Digest::of(b"another manifest").to_string();
    let cases: [(&str, Value, Value, u16); 5] = [
        ("/v1", json!([]), json!(image.digest().to_string()), 500),
        ("/v2", json!([]), json!(image.digest().to_string()), 400),
        (
            "/v2",
            json!(["sample:1.0"]),
            json!(image.digest().to_string()),
            400,
        ),
        (
            "/v2",
            json!([common::SAMPLE_TAG]),
            json!(image.digest().hex()),
            400,
        ),
        ("/v1", json!([common::SAMPLE_TAG]), json!(other_digest), 400),
    ];
    for (prefix, tags, digest, expected) in cases {
        let (fake, config) = start(ApiMode::Both).await;
        let raw = Raw::new(&fake, &config);
        let uuid = raw.create(prefix).await;
        let mut finalize = raw.upload_sample(prefix, &uuid, &image).await;
        finalize["source"]["import"]["tags"] = tags.clone();
        finalize["source"]["import"]["digest"] = digest.clone();

        let (status, body) = raw
            .post(
                &format!("{prefix}/images"),
                Some("application/json"),
                finalize.to_string().into_bytes(),
            )
            .await;
        assert_eq!(
            status, expected,
            "{prefix} tags {tags} digest {digest}: {body}"
        );
        assert_eq!(
            fake.operations()[&uuid],
            "pending",
            "a rejected finalize leaves it pending"
        );
    }
}

#[tokio::test]
async fn fake_fails_analysis_of_empty_packages() {
    let (fake, config) = start(ApiMode::V1Only).await;
    let raw = Raw::new(&fake, &config);
    let image = SampleImage::build();
    let uuid = raw.create("/v1").await;
    let mut finalize = raw.upload_sample("/v1", &uuid, &image).await;
    finalize["source"]["import"]["contents"]["packages"] = json!("");

    let (status, body) = raw
        .post(
            "/v1/images",
            Some("application/json"),
            finalize.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let poll = format!("{}/v1/images/{}", fake.url, image.digest());
    let mut last = Value::Null;
    for _ in 0..3 {
        last = raw
            .http
            .get(&poll)
            .basic_auth(&raw.username, Some(&raw.password))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!(last[0]["analysis_status"], json!("analysis_failed"));
    assert_eq!(fake.operations()[&uuid], "failed");
}

#[tokio::test]
async fn fake_upload_after_delete_rejected() {
    let (fake, config) = start(ApiMode::V2Only).await;
    let raw = Raw::new(&fake, &config);
    let uuid = raw.create("/v2").await;
    let response = raw
        .http
        .delete(format!("{}/v2/imports/images/{uuid}", fake.url))
        .basic_auth(&raw.username, Some(&raw.password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, body) = raw
        .post(
            &format!("/v2/imports/images/{uuid}/image-config"),
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(fake.operations()[&uuid], "invalidated");
}

#[tokio::test]
async fn fake_requires_basic_auth() {
    let (fake, _) = start(ApiMode::Both).await;
    for path in ["/v1/account", "/v2/imports/images"] {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", fake.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
    }
    let version: Value = reqwest::get(format!("{}/v2/", fake.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version, json!("v2"));
}

// ---------------------------------------------------------------------------------------
// TLS.

#[tokio::test]
async fn tls_with_cacert_succeeds() {
    let config = FakeConfig::new(ApiMode::V2Only);
    let (fake, ca_pem) = FakeAnchore::start_tls(config.clone()).await;
    let directory = tempfile::tempdir().unwrap();
    let ca_path = directory.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let mut connection = connection(&fake.url, &config.username, &config.password);
    connection.cacert = Some(ca_path);

    let outcome = import_sample(&Client::new(&connection).unwrap(), &SampleImage::build())
        .await
        .expect("import over TLS");
    assert_eq!(outcome.analysis_status, "analyzed");
    assert!(outcome.image_url.starts_with("https://127.0.0.1:"));
}

#[tokio::test]
async fn tls_untrusted_certificate_fails() {
    let config = FakeConfig::new(ApiMode::V2Only);
    let (fake, _) = FakeAnchore::start_tls(config.clone()).await;
    let client = Client::new(&connection(&fake.url, &config.username, &config.password))
        .unwrap()
        .with_retry_policy(fast_retries());

    let error = import_sample(&client, &SampleImage::build())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ImportError::Tls { .. }), "{message}");
    assert_eq!(error.exit_code(), ExitCode::Failure);
    assert!(message.contains("--cacert"), "{message}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn tls_insecure_accepts_any_certificate() {
    let config = FakeConfig::new(ApiMode::V1Only);
    let (fake, _) = FakeAnchore::start_tls(config.clone()).await;
    let mut connection = connection(&fake.url, &config.username, &config.password);
    connection.insecure = true;

    let outcome = import_sample(&Client::new(&connection).unwrap(), &SampleImage::build())
        .await
        .expect("import with --insecure");
    assert_eq!(outcome.api_version, ApiVersion::V1);
}

#[tokio::test]
async fn missing_cacert_file_rejected() {
    let mut connection = connection("https://127.0.0.1:9", "admin", "pw");
    connection.cacert = Some("/nonexistent/ca.pem".into());
    let error = Client::new(&connection).unwrap_err();
    assert!(
        matches!(error, ImportError::CaCertificate { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Verbose logging.

#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_log_shows_requests_without_credentials() {
    let (fake, config) = start(ApiMode::V2Only).await;
    // A global subscriber, because a thread-local one misses events when another test thread
    // caches a callsite's interest first. Other tests' lines land in the same buffer, so the
    // checks below only look for this test's requests.
    static LOG: std::sync::OnceLock<CapturedLog> = std::sync::OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        log
    });

    import_sample(&client_for(&fake, &config), &SampleImage::build())
        .await
        .expect("import");

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let request_lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("Anchore request"))
        .collect();
    // Every request this test's server received is in the log.
    for request in fake.requests() {
        let method = format!("method={}", request.method);
        let exact = format!("path=\"{}\"", request.path);
        let with_query = format!("path=\"{}?", request.path);
        assert!(
            request_lines.iter().any(|line| line.contains(&method)
                && (line.contains(&exact) || line.contains(&with_query))),
            "{} {} is not in the log: {text}",
            request.method,
            request.path
        );
    }
    assert!(
        request_lines.iter().any(|line| line.contains("method=POST")
            && line.contains("path=\"/v2/imports/images\"")
            && line.contains("status=200")),
        "{text}"
    );
    assert!(
        request_lines
            .iter()
            .all(|line| line.contains("elapsed_ms=")),
        "{text}"
    );
    let header = fake.requests()[1]
        .authorization
        .clone()
        .expect("authorization header");
    let encoded = header.trim_start_matches("Basic ");
    assert!(!text.contains(&config.password), "{text}");
    assert!(!text.contains(encoded), "{text}");
}
