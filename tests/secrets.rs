//! Secrets reach only the servers they are for. The Anchore password, a GitHub token and a registry
//! password, each recognisable, are given to every command and wrapper path, at `-V` and at
//! trace level. The test then searches stdout, stderr, every file the runs wrote and the
//! command line of every child process while the runs went on.

mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/registry.rs"]
mod test_registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser as _;
use common::binary::{self, code, stderr};
use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig};
use inline_scan::cli::{Cli, Command};
use inline_scan::settings::Settings;
use tokio::io::AsyncWriteExt as _;

const ANCHORE_PASSWORD: &str = "anchore-pass-Zq81xKw";
const GITHUB_TOKEN: &str = "ghs_tokenSecret5530xVb";
const REGISTRY_PASSWORD: &str = test_registry::PASSWORD;
const SECRETS: [&str; 3] = [ANCHORE_PASSWORD, GITHUB_TOKEN, REGISTRY_PASSWORD];

/// The GitHub step command that hides a value in later log lines. Printing the password in
/// it is the point of the command, so such lines are the one allowed place.
const MASK_COMMAND: &str = "::add-mask::";

/// Serializes the tests that watch the process list, because one of them puts a password on
/// a command line on purpose.
static PROCESS_LIST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

/// Fails when any secret, or the base64 of `admin:` plus the password (a Basic
/// authorization value), is in `text`, outside GitHub mask commands.
fn assert_clean(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("admin:{ANCHORE_PASSWORD}"),
    );
    for line in text.lines().filter(|line| !line.starts_with(MASK_COMMAND)) {
        for secret in SECRETS.iter().copied().chain([basic.as_str()]) {
            assert!(
                !line.contains(secret),
                "a secret leaked into {what}: {line}"
            );
        }
    }
}

/// Checks every file under `folder`.
fn assert_folder_clean(folder: &Path) -> usize {
    let mut checked = 0;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert_clean(&path.display().to_string(), &bytes);
            checked += 1;
        }
    }
    checked
}

/// Returns whether `pid` is a descendant of this test process. Other programs on the machine,
/// such as other test binaries pushing to a registry with the same test password, are not
/// the binary's children and are not checked.
fn descends_from_this_test(pid: u32) -> bool {
    let me = std::process::id();
    let mut current = pid;
    while current > 1 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{current}/stat")) else {
            return false;
        };
        // The parent id is the second field after the command name, which ends at the last ')'.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let Some(parent) = after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
        else {
            return false;
        };
        if parent == me {
            return true;
        }
        current = parent;
    }
    false
}

/// Reads `/proc/*/cmdline` of every process in a loop until stopped, and records each
/// command line of a descendant of this test that contains a secret.
struct CommandLineWatch {
    stop: Arc<AtomicBool>,
    found: Arc<Mutex<Vec<String>>>,
    scans: Arc<Mutex<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CommandLineWatch {
    fn start() -> CommandLineWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let found = Arc::new(Mutex::new(Vec::new()));
        let scans = Arc::new(Mutex::new(0));
        let (thread_stop, thread_found, thread_scans) =
            (Arc::clone(&stop), Arc::clone(&found), Arc::clone(&scans));
        let thread = std::thread::spawn(move || {
            while !thread_stop.load(Ordering::SeqCst) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
                    let pid = entry.file_name().to_string_lossy().parse::<u32>().ok();
                    if SECRETS.iter().any(|secret| line.contains(secret))
                        && pid.is_some_and(descends_from_this_test)
                    {
                        thread_found.lock().unwrap().push(line);
                    }
                }
                *thread_scans.lock().unwrap() += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        CommandLineWatch {
            stop,
            found,
            scans,
            thread: Some(thread),
        }
    }

    /// Stops the watch and returns the offending command lines and the number of scans.
    fn finish(mut self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        let found = self.found.lock().unwrap().clone();
        let scans = *self.scans.lock().unwrap();
        (found, scans)
    }
}

/// One run to check: a program (the binary or a wrapper script), its arguments, its
/// environment and what it gets on standard input.
struct Case {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    stdin: Option<String>,
    /// Whether the run must succeed.
    succeeds: bool,
}

/// Runs `case` with only the environment it names plus PATH, HOME and the Docker variables.
async fn run_case(case: &Case, work: &Path) -> Output {
    let mut command = tokio::process::Command::new(&case.program);
    command.args(&case.args).env_clear().current_dir(work);
    for name in ["PATH", "HOME", "DOCKER_HOST"] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    command.envs(&case.env);
    command
        .stdin(if case.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start the case");
    if let Some(input) = &case.stdin {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
    }
    child.wait_with_output().await.unwrap()
}

/// Starts a stand-in for the GitHub API on 127.0.0.1 that accepts any check run, so the token
/// is really sent. Returns its URL, the authorization headers it receives and its task.
async fn fake_github() -> (String, Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let recorder = Arc::clone(&recorder);
        async move {
            if let Some(value) = headers.get("authorization") {
                let value = value.to_str().unwrap_or_default().to_owned();
                recorder.lock().unwrap().push(value);
            }
            (
                axum::http::StatusCode::CREATED,
                [("content-type", "application/json")],
                r#"{"id": 1, "html_url": "http://127.0.0.1/check/1"}"#,
            )
        }
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, seen, task)
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Packs an OCI layout directory into an OCI archive with the system tar.
fn oci_archive(layout: &Path, target: &Path) {
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(target)
        .arg("-C")
        .arg(layout)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_output() {
    let _serial = PROCESS_LIST.lock().await;
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut config = FakeConfig::new(ApiMode::V2Only);
    config.password = ANCHORE_PASSWORD.to_owned();
    config.polls_until_analyzed = 1;
    let fake = FakeAnchore::start(config).await;
    let (github_api, github_authorizations, _github) = fake_github().await;

    // Sources other than the bundled archive.
    let oci_tar = work.path().join("whiteout.oci.tar");
    oci_archive(&fixture("multilayer-whiteout.oci"), &oci_tar);
    let registry = test_registry::require_tools()
        .then(|| test_registry::Registry::start(test_registry::Mode::BasicAuth));
    if let Some(registry) = &registry {
        registry.push(
            &fixture("multilayer-whiteout.oci"),
            "1",
            "test/whiteout:1",
            false,
        );
    }
    let daemon = docker::require_daemon().await.is_some();
    if daemon {
        docker::ensure_image("sbomtest/multilayer-whiteout:1", "fixtures");
    }

    let bin = PathBuf::from(binary::BINARY);
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/wrappers/analyze.sh");
    let o = |name: &str| out.join(name).display().to_string();
    let archive = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let oci_dir = format!("oci-dir:{}", fixture("multilayer-whiteout.oci").display());
    let oci_archive_arg = format!("oci-archive:{}", oci_tar.display());
    let anchore = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["-r", &fake.url, "-u", "admin"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect()
    };
    let password_env = [("ANCHORECTL_PASSWORD", ANCHORE_PASSWORD)];

    let mut cases = Vec::new();
    for (level, log) in [("v", "inline_scan=debug"), ("trace", "trace")] {
        let verbose_env = |pairs: &[(&str, &str)]| {
            let mut map = env(pairs);
            map.insert("INLINE_SCAN_LOG".into(), log.into());
            map.insert("GITHUB_TOKEN".into(), GITHUB_TOKEN.into());
            map.insert("INLINE_SCAN_GITHUB_TOKEN".into(), GITHUB_TOKEN.into());
            map
        };
        let analyze = |image: &str, tag: &str, extra: &[&str]| -> Vec<String> {
            let mut args: Vec<String> = ["analyze", "-V", image, "--tag", tag]
                .into_iter()
                .map(str::to_owned)
                .collect();
            args.extend(anchore(extra));
            args
        };

        let github_output = o(&format!("github-output-{level}"));
        let summary = o(&format!("step-summary-{level}"));
        std::fs::write(&github_output, "").unwrap();
        std::fs::write(&summary, "").unwrap();
        cases.push(Case {
            name: format!("archive with every output, GitHub reports ({level})"),
            program: bin.clone(),
            args: analyze(
                &archive,
                &format!("secrets/archive:{level}"),
                &[
                    "--force",
                    "--sbom-out",
                    &format!("syft-json={}", o(&format!("sbom-{level}.json"))),
                    "--sbom-out",
                    &format!("cyclonedx-json={}", o(&format!("cdx-{level}.json"))),
                    "--sbom-out",
                    &format!("spdx-json={}", o(&format!("spdx-{level}.json"))),
                    "--result-json",
                    &o(&format!("result-{level}.json")),
                    "--bundle-out",
                    &o(&format!("bundle-{level}")),
                    "--report",
                    "github",
                ],
            ),
            env: verbose_env(&[
                password_env[0],
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_OUTPUT", &github_output),
                ("GITHUB_STEP_SUMMARY", &summary),
                ("GITHUB_API_URL", &github_api),
                ("GITHUB_REPOSITORY", "octo/app"),
                ("GITHUB_SHA", &"0".repeat(40)),
            ]),
            stdin: None,
            succeeds: true,
        });
        cases.push(Case {
            name: format!("OCI layout, GitLab reports, password on stdin ({level})"),
            program: bin.clone(),
            args: analyze(
                &oci_dir,
                &format!("secrets/oci-dir:{level}"),
                &[
                    "--password-stdin",
                    "--force",
                    "--report",
                    "gitlab",
                    "--report-dir",
                    &o(&format!("gitlab-{level}")),
                ],
            ),
            env: verbose_env(&[("GITLAB_CI", "true")]),
            stdin: Some(format!("{ANCHORE_PASSWORD}\n")),
            succeeds: true,
        });
        cases.push(Case {
            name: format!("OCI archive, CircleCI reports ({level})"),
            program: bin.clone(),
            args: analyze(
                &oci_archive_arg,
                &format!("secrets/oci-archive:{level}"),
                &[
                    "--force",
                    "--report",
                    "circleci",
                    "--report-dir",
                    &o(&format!("circleci-{level}")),
                ],
            ),
            env: verbose_env(&[password_env[0], ("CIRCLECI", "true")]),
            stdin: None,
            succeeds: true,
        });
        if daemon {
            cases.push(Case {
                name: format!("daemon image ({level})"),
                program: bin.clone(),
                args: analyze(
                    "sbomtest/multilayer-whiteout:1",
                    &format!("secrets/daemon:{level}"),
                    &["--force"],
                ),
                env: verbose_env(&password_env),
                stdin: None,
                succeeds: true,
            });
        }
        if let Some(registry) = &registry {
            cases.push(Case {
                name: format!("registry image with credentials ({level})"),
                program: bin.clone(),
                args: analyze(
                    &format!("registry:{}/test/whiteout:1", registry.host),
                    &format!("secrets/registry:{level}"),
                    &[
                        "--force",
                        "--registry-insecure",
                        "--registry-username",
                        test_registry::USERNAME,
                        "--registry-password-stdin",
                    ],
                ),
                env: verbose_env(&password_env),
                stdin: Some(format!("{REGISTRY_PASSWORD}\n")),
                succeeds: true,
            });
            cases.push(Case {
                name: format!("wrapper script with a registry password ({level})"),
                program: PathBuf::from("bash"),
                args: vec![wrapper.display().to_string()],
                env: verbose_env(&[
                    ("INLINE_SCAN_BIN", binary::BINARY),
                    (
                        "INLINE_SCAN_INPUT_IMAGE",
                        &format!("registry:{}/test/whiteout:1", registry.host),
                    ),
                    ("INLINE_SCAN_INPUT_URL", &fake.url),
                    ("INLINE_SCAN_INPUT_USERNAME", "admin"),
                    ("INLINE_SCAN_INPUT_VERBOSE", "true"),
                    ("INLINE_SCAN_INPUT_FORCE", "true"),
                    ("INLINE_SCAN_INPUT_REGISTRY_INSECURE", "true"),
                    (
                        "INLINE_SCAN_INPUT_REGISTRY_USERNAME",
                        test_registry::USERNAME,
                    ),
                    ("INLINE_SCAN_INPUT_REPORT", "none"),
                    ("SCAN_SECRET", ANCHORE_PASSWORD),
                    ("INLINE_SCAN_PASSWORD_VARIABLE", "SCAN_SECRET"),
                    ("INLINE_SCAN_REGISTRY_PASSWORD", REGISTRY_PASSWORD),
                ]),
                stdin: None,
                succeeds: true,
            });
        }
        let wrapper_output = o(&format!("wrapper-github-output-{level}"));
        let wrapper_summary = o(&format!("wrapper-summary-{level}"));
        std::fs::write(&wrapper_output, "").unwrap();
        std::fs::write(&wrapper_summary, "").unwrap();
        cases.push(Case {
            name: format!("wrapper script in GitHub Actions ({level})"),
            program: PathBuf::from("bash"),
            args: vec![wrapper.display().to_string()],
            env: verbose_env(&[
                ("INLINE_SCAN_BIN", binary::BINARY),
                ("INLINE_SCAN_INPUT_IMAGE", &archive),
                ("INLINE_SCAN_INPUT_URL", &fake.url),
                ("INLINE_SCAN_INPUT_USERNAME", "admin"),
                ("INLINE_SCAN_INPUT_VERBOSE", "true"),
                ("INLINE_SCAN_INPUT_FORCE", "true"),
                (
                    "INLINE_SCAN_INPUT_RESULT_JSON",
                    &o(&format!("wrapper-result-{level}.json")),
                ),
                (
                    "INLINE_SCAN_EXIT_CODE_FILE",
                    &o(&format!("wrapper-exit-{level}")),
                ),
                ("ANCHORE_CLI_PASS", ANCHORE_PASSWORD),
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_OUTPUT", &wrapper_output),
                ("GITHUB_STEP_SUMMARY", &wrapper_summary),
            ]),
            stdin: None,
            succeeds: true,
        });
        cases.push(Case {
            name: format!("wrapper script in GitLab CI ({level})"),
            program: PathBuf::from("bash"),
            args: vec![wrapper.display().to_string()],
            env: verbose_env(&[
                ("INLINE_SCAN_BIN", binary::BINARY),
                ("INLINE_SCAN_INPUT_IMAGE", &oci_dir),
                ("INLINE_SCAN_INPUT_URL", &fake.url),
                ("INLINE_SCAN_INPUT_USERNAME", "admin"),
                ("INLINE_SCAN_INPUT_VERBOSE", "true"),
                (
                    "INLINE_SCAN_INPUT_REPORT_DIR",
                    &o(&format!("wrapper-gitlab-{level}")),
                ),
                (
                    "INLINE_SCAN_INPUT_TAG",
                    &format!("secrets/wrapper-gitlab:{level}"),
                ),
                ("INLINE_SCAN_INPUT_FORCE", "true"),
                ("ANCHORE_CLI_PASS", ANCHORE_PASSWORD),
                ("GITLAB_CI", "true"),
            ]),
            stdin: None,
            succeeds: true,
        });
        cases.push(Case {
            name: format!("wrapper script in CircleCI ({level})"),
            program: PathBuf::from("bash"),
            args: vec![wrapper.display().to_string()],
            env: verbose_env(&[
                ("INLINE_SCAN_BIN", binary::BINARY),
                ("INLINE_SCAN_INPUT_IMAGE", &oci_archive_arg),
                ("INLINE_SCAN_INPUT_URL", &fake.url),
                ("INLINE_SCAN_INPUT_USERNAME", "admin"),
                ("INLINE_SCAN_INPUT_VERBOSE", "true"),
                (
                    "INLINE_SCAN_INPUT_REPORT_DIR",
                    &o(&format!("wrapper-circleci-{level}")),
                ),
                (
                    "INLINE_SCAN_INPUT_TAG",
                    &format!("secrets/wrapper-circleci:{level}"),
                ),
                ("INLINE_SCAN_INPUT_FORCE", "true"),
                ("CIRCLE_SECRET", ANCHORE_PASSWORD),
                ("INLINE_SCAN_PASSWORD_VARIABLE", "CIRCLE_SECRET"),
                ("CIRCLECI", "true"),
            ]),
            stdin: None,
            succeeds: true,
        });
        cases.push(Case {
            name: format!("wrong password ({level})"),
            program: bin.clone(),
            args: analyze(&archive, &format!("secrets/wrong:{level}"), &[]),
            env: verbose_env(&[("ANCHORECTL_PASSWORD", &format!("{ANCHORE_PASSWORD}-wrong"))]),
            stdin: None,
            succeeds: false,
        });
    }

    let watch = CommandLineWatch::start();
    let mut runs = 0;
    for case in &cases {
        let output = run_case(case, work.path()).await;
        assert_eq!(
            output.status.success(),
            case.succeeds,
            "{}: exit {}\n{}",
            case.name,
            code(&output),
            stderr(&output)
        );
        assert_clean(&format!("stdout of {}", case.name), &output.stdout);
        assert_clean(&format!("stderr of {}", case.name), &output.stderr);
        runs += 1;
    }
    // The bundles the archive runs wrote, imported again.
    for level in ["v", "trace"] {
        let case = Case {
            name: format!("import of a bundle ({level})"),
            program: bin.clone(),
            args: [
                vec![
                    "import".to_owned(),
                    "-V".to_owned(),
                    o(&format!("bundle-{level}")),
                ],
                anchore(&["--force"]),
            ]
            .concat(),
            env: env(&[
                password_env[0],
                (
                    "INLINE_SCAN_LOG",
                    if level == "v" {
                        "inline_scan=debug"
                    } else {
                        "trace"
                    },
                ),
            ]),
            stdin: None,
            succeeds: true,
        };
        let output = run_case(&case, work.path()).await;
        assert!(
            output.status.success(),
            "{}: {}",
            case.name,
            stderr(&output)
        );
        assert_clean(&case.name, &output.stdout);
        assert_clean(&case.name, &output.stderr);
        runs += 1;
    }
    let options = binary::run(&["options", "--json"], &password_env).await;
    assert_eq!(code(&options), 0);
    assert_clean("options --json", &options.stdout);
    let (command_lines, scans) = watch.finish();

    assert!(
        command_lines.is_empty(),
        "secrets on a command line: {command_lines:?}"
    );
    assert!(
        scans >= runs,
        "the process list was read {scans} times for {runs} runs"
    );
    let files = assert_folder_clean(work.path());
    // Every kind of output file was written and searched.
    for written in [
        "sbom-v.json",
        "cdx-trace.json",
        "spdx-v.json",
        "result-trace.json",
        "bundle-v/bundle.json",
        "github-output-v",
        "step-summary-trace",
        "wrapper-github-output-v",
        "wrapper-exit-trace",
    ] {
        let path = out.join(written);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "{} was not written",
            path.display()
        );
    }
    for folder in [
        "gitlab-v",
        "circleci-trace",
        "wrapper-gitlab-v",
        "wrapper-circleci-trace",
    ] {
        let entries = std::fs::read_dir(out.join(folder)).map_or(0, |dir| dir.count());
        assert!(entries > 0, "no report files in {folder}");
    }
    assert!(files >= 20, "only {files} files were searched");
    // The fake saw the password: the runs really authenticated with it.
    let basic = fake
        .requests()
        .into_iter()
        .filter_map(|request| request.authorization)
        .next()
        .expect("authorized requests");
    assert!(basic.starts_with("Basic "));
    // The GitHub runs really sent the token, to the stand-in API only.
    let authorizations = github_authorizations.lock().unwrap().clone();
    assert!(
        authorizations
            .iter()
            .any(|value| value.contains(GITHUB_TOKEN)),
        "the check run was never created with the token"
    );
    let wrapper_exit = std::fs::read_to_string(out.join("wrapper-exit-v")).unwrap();
    assert_eq!(wrapper_exit.trim(), "0");
    let registry_log = registry.as_ref().map(|r| r.log()).unwrap_or_default();
    assert_clean("registry log", registry_log.as_bytes());
}

fn parse_analyze(argv: &[&str]) -> inline_scan::cli::AnalyzeArgs {
    let mut full = vec!["inline-scan", "analyze"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Analyze(args) => args,
        Command::Import(_) | Command::Options(_) => unreachable!(),
    }
}

#[test]
fn settings_debug_hides_secrets() {
    let argv = [
        "-r",
        "http://127.0.0.1:9",
        "-u",
        "admin",
        "-p",
        ANCHORE_PASSWORD,
        "--registry-username",
        "scanner",
        "--registry-password-stdin",
        "registry:127.0.0.1:5000/app:1",
    ];
    let args = parse_analyze(&argv);
    let cli_debug = format!("{args:?} {args:#?}");
    assert!(!cli_debug.contains(ANCHORE_PASSWORD), "{cli_debug}");

    let mut stdin = format!("{REGISTRY_PASSWORD}\n");
    let settings = Settings::from_args(&args, &|_| None, &mut stdin.as_bytes()).unwrap();
    stdin.clear();
    let connection = settings.connection.as_ref().expect("a connection");
    assert_eq!(connection.password.expose(), ANCHORE_PASSWORD);
    let registry_password = settings
        .registry
        .password
        .as_ref()
        .expect("registry password");
    assert_eq!(registry_password.expose(), REGISTRY_PASSWORD);
    for text in [
        format!("{settings:?}"),
        format!("{settings:#?}"),
        format!("{connection:?}"),
        format!("{:?}", settings.registry),
        format!("{}", connection.password),
        format!("{registry_password}"),
    ] {
        for secret in [ANCHORE_PASSWORD, REGISTRY_PASSWORD] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn watch_sees_password_argument() {
    let _serial = PROCESS_LIST.lock().await;
    // The one way to put the password on a command line is -p, which the help text warns
    // about. The watch must see it there, or its empty findings above would prove nothing.
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(common::fake_anchore::Fault::Delay {
        method: axum::http::Method::GET,
        path_suffix: String::new(),
        delay: std::time::Duration::from_millis(500),
        times: 1,
    });
    let watch = CommandLineWatch::start();
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let output = binary::run(
        &[
            "analyze",
            &image,
            "-r",
            &fake.url,
            "-u",
            "admin",
            "-p",
            ANCHORE_PASSWORD,
        ],
        &[],
    )
    .await;
    let (command_lines, _) = watch.finish();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        command_lines
            .iter()
            .any(|line| line.contains(binary::BINARY) && line.contains(ANCHORE_PASSWORD)),
        "the watch missed the -p argument"
    );
}
