//! Tests of the CI wrappers: every manifest against the option registry, the offline
//! validators, each wrapper's shell run the way its platform runs it, the release download,
//! the container image, and the report files the binary writes.
//!
//! The argv-mapping tests run a stand-in binary (tests/wrappers/stand-in.sh) that records its
//! argv and environment names. The import tests run the real binary (the one cargo built, or
//! INLINE_SCAN_WRAPPER_BINARY) behind tests/wrappers/record-argv.sh against the fake Anchore.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::{ArgAction, CommandFactory};
use serde::Deserialize as _;
use serde_yaml::{Mapping, Value};
use sha2::{Digest as _, Sha256};

#[allow(dead_code)]
#[path = "common/fake_anchore.rs"]
mod fake_anchore;

/// Options that are never wrapper inputs, because a platform secret serves them: the Anchore
/// password reaches the binary as ANCHORE_CLI_PASS in the environment, and the registry
/// password through the registry password variable, piped to --registry-password-stdin.
/// docs/WRAPPERS.md lists each one with its reason.
const SECRET_OPTIONS: [&str; 3] = ["password", "password-stdin", "registry-password-stdin"];

/// The inputs that become the positional argument: IMAGE of `analyze`, or the bundle folder of
/// `import` (the wrappers run `inline-scan import BUNDLE` when it is set).
const POSITIONAL_INPUTS: [&str; 2] = ["image", "bundle"];

/// A password that must never show up in any argv, output, report or log.
const PASSWORD: &str = "s3cret-Pass.word~42";
/// The registry password the stand-in runs pass, held to the same rule.
const STAND_IN_REGISTRY_PASSWORD: &str = "r3gistry-Pass.word~17";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_yaml::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn yaml_documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| serde_yaml::Value::deserialize(document).unwrap())
        .collect()
}

fn map<'a>(value: &'a Value, key: &str) -> &'a Mapping {
    value
        .get(key)
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("missing mapping {key}"))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn keys(mapping: &Mapping) -> BTreeSet<String> {
    mapping.keys().map(text).collect()
}

// ---------------------------------------------------------------------------------------------
// The option registry

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flag,
    List,
    Value,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::List => "list",
            Self::Value => "value",
        }
    }
}

#[derive(Debug, Clone)]
struct RegistryOption {
    long: String,
    kind: Kind,
    default: Option<String>,
    /// The help text, with line breaks and repeated spaces collapsed.
    help: String,
}

/// Reads the options of `inline-scan analyze` from the clap definition, the same data that
/// `inline-scan options --json` prints.
fn registry() -> Vec<RegistryOption> {
    let command = inline_scan::cli::Cli::command();
    let analyze = command
        .find_subcommand("analyze")
        .expect("the CLI has an analyze subcommand");
    let mut options = Vec::new();
    for argument in analyze.get_arguments() {
        let Some(long) = argument.get_long() else {
            assert!(
                argument.is_positional(),
                "{:?} has no long name",
                argument.get_id()
            );
            continue;
        };
        if long == "help" {
            continue;
        }
        let kind = match argument.get_action() {
            ArgAction::SetTrue => Kind::Flag,
            ArgAction::Append => Kind::List,
            ArgAction::Set => Kind::Value,
            other => panic!("--{long} has an action the wrappers do not map: {other:?}"),
        };
        let default = argument
            .get_default_values()
            .first()
            .map(|value| value.to_string_lossy().into_owned());
        let help = argument
            .get_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        options.push(RegistryOption {
            long: long.to_owned(),
            kind,
            default,
            help: collapse_whitespace(&help),
        });
    }
    options
}

/// Returns the long options that `inline-scan import` accepts.
fn import_options() -> BTreeSet<String> {
    let command = inline_scan::cli::Cli::command();
    let import = command
        .find_subcommand("import")
        .expect("the CLI has an import subcommand");
    import
        .get_arguments()
        .filter_map(|argument| argument.get_long().map(str::to_owned))
        .collect()
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The options every wrapper must expose as inputs.
fn wrapped_options() -> Vec<RegistryOption> {
    registry()
        .into_iter()
        .filter(|o| !SECRET_OPTIONS.contains(&o.long.as_str()))
        .collect()
}

fn snake(long: &str) -> String {
    long.replace('-', "_")
}

fn registry_default(long: &str) -> String {
    registry()
        .into_iter()
        .find(|o| o.long == long)
        .and_then(|o| o.default)
        .unwrap_or_else(|| panic!("--{long} has no default"))
}

#[test]
fn registry_has_secret_options() {
    let longs: Vec<String> = registry().into_iter().map(|o| o.long).collect();
    for secret in SECRET_OPTIONS {
        assert!(
            longs.iter().any(|l| l == secret),
            "--{secret} missing from the registry"
        );
    }
    assert!(longs.iter().any(|l| l == "report"));
    assert!(longs.iter().any(|l| l == "report-dir"));
}

#[test]
fn script_table_matches_registry() {
    let script = read("scripts/wrappers/analyze.sh");
    let table = script
        .split("option_table='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("analyze.sh has an option_table");
    let listed: Vec<(String, String, String)> = table
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "line is `option kind scope`: {line}");
            (
                fields[0].to_owned(),
                fields[1].to_owned(),
                fields[2].to_owned(),
            )
        })
        .collect();
    let import = import_options();
    let expected: Vec<(String, String, String)> = wrapped_options()
        .into_iter()
        .map(|o| {
            let scope = if import.contains(&o.long) {
                "both"
            } else {
                "analyze"
            };
            (o.long, o.kind.name().to_owned(), scope.to_owned())
        })
        .collect();
    assert_eq!(
        listed, expected,
        "option_table in analyze.sh differs from cli.rs"
    );
}

/// The variable analyze.sh reads the registry password from when no other name is given.
const REGISTRY_PASSWORD_VARIABLE: &str = "INLINE_SCAN_REGISTRY_PASSWORD";

/// Returns the section of docs/WRAPPERS.md that explains why some options are not inputs.
fn documented_exceptions() -> String {
    let doc = read("docs/WRAPPERS.md");
    let start = doc
        .find("## Options that are not inputs")
        .expect("docs/WRAPPERS.md has a section `## Options that are not inputs`");
    let rest = &doc[start + 3..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[test]
fn secret_options_are_documented() {
    let section = documented_exceptions();
    for option in SECRET_OPTIONS {
        assert!(
            section.contains(&format!("`--{option}`")),
            "docs/WRAPPERS.md does not say why --{option} is not a wrapper input"
        );
    }
    let script = read("scripts/wrappers/analyze.sh");
    assert!(
        script.contains("arguments+=(--registry-password-stdin)"),
        "analyze.sh never passes --registry-password-stdin"
    );
    assert!(
        script.contains(&format!("registry_variable={REGISTRY_PASSWORD_VARIABLE}")),
        "analyze.sh does not default to {REGISTRY_PASSWORD_VARIABLE}"
    );
    assert!(section.contains(REGISTRY_PASSWORD_VARIABLE));
}

#[test]
fn descriptions_start_with_help() {
    let action = yaml("action.yml");
    let component = gitlab_documents();
    let orb = orb();
    let manifests = [
        ("action.yml", map(&action, "inputs"), false),
        (
            "the GitLab component",
            component[0]["spec"]["inputs"].as_mapping().unwrap(),
            true,
        ),
        (
            "the orb command",
            map(&orb["commands"]["analyze"], "parameters"),
            true,
        ),
        (
            "the orb job",
            map(&orb["jobs"]["analyze"], "parameters"),
            true,
        ),
    ];
    for option in wrapped_options() {
        // The first sentence of the help text, which every description repeats before adding
        // wrapper details such as "One value per line."
        let first_sentence = option
            .help
            .split(". ")
            .next()
            .unwrap()
            .trim_end_matches('.');
        assert!(!first_sentence.is_empty(), "--{} has no help", option.long);
        for (manifest, inputs, snake_case) in &manifests {
            let name = if *snake_case {
                snake(&option.long)
            } else {
                option.long.clone()
            };
            let description = collapse_whitespace(&text(&inputs[name.as_str()]["description"]));
            assert!(
                description.starts_with(first_sentence),
                "{manifest}: the description of {name} does not start with the help of --{}: {first_sentence}",
                option.long
            );
        }
    }
}

#[test]
fn script_copies_are_identical() {
    let shared = read("scripts/wrappers/analyze.sh");
    assert_eq!(
        read("circleci-orb/src/scripts/analyze.sh"),
        shared,
        "the orb's analyze.sh is not a copy of scripts/wrappers/analyze.sh"
    );
    for template in [
        "gitlab/templates/inline-scan.yml",
        "gitlab/inline-scan.gitlab-ci.yml",
    ] {
        let script = gitlab_job_script(template);
        assert_eq!(
            script, shared,
            "the script of {template} differs from analyze.sh"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// GitHub Action manifest

const GITHUB_WRAPPER_INPUTS: [&str; 3] = ["version", "release-url", "binary"];

fn action_steps() -> Vec<Value> {
    yaml("action.yml")["runs"]["steps"]
        .as_sequence()
        .expect("composite steps")
        .clone()
}

fn step_by_id(id: &str) -> Value {
    action_steps()
        .into_iter()
        .find(|step| step.get("id").map(text).as_deref() == Some(id))
        .unwrap_or_else(|| panic!("action.yml has no step {id}"))
}

#[test]
fn github_inputs_cover_registry() {
    let action = yaml("action.yml");
    let inputs = map(&action, "inputs");
    let mut expected: BTreeSet<String> = wrapped_options().into_iter().map(|o| o.long).collect();
    expected.extend(POSITIONAL_INPUTS.map(String::from));
    expected.extend(GITHUB_WRAPPER_INPUTS.map(String::from));
    assert_eq!(keys(inputs), expected);

    let env = map(&step_by_id("analyze"), "env").clone();
    let mut mapped = BTreeSet::new();
    for (variable, value) in &env {
        let variable = text(variable);
        let Some(long) = variable.strip_prefix("INLINE_SCAN_INPUT_") else {
            continue;
        };
        let input = long.to_lowercase().replace('_', "-");
        assert_eq!(
            text(value),
            format!("${{{{ inputs.{input} }}}}"),
            "{variable}"
        );
        assert!(
            inputs.contains_key(input.as_str()),
            "{variable} reads unknown input {input}"
        );
        mapped.insert(input);
    }
    let mut options: BTreeSet<String> = wrapped_options().into_iter().map(|o| o.long).collect();
    options.extend(POSITIONAL_INPUTS.map(String::from));
    assert_eq!(
        mapped, options,
        "some analyze options are unreachable from action.yml"
    );
}

#[test]
fn github_inputs_have_empty_defaults() {
    let action = yaml("action.yml");
    for (name, spec) in map(&action, "inputs") {
        let name = text(name);
        let default = spec.get("default").map(text).unwrap_or_default();
        assert_eq!(
            default, "",
            "input {name} sets a default; the binary owns defaults"
        );
        assert!(
            spec.get("description").is_some(),
            "input {name} has no description"
        );
        for word in ["password", "secret", "token"] {
            assert!(!name.contains(word), "input {name} looks like a secret");
        }
    }
}

#[test]
fn github_run_steps_never_interpolate() {
    for step in action_steps() {
        let run = step.get("run").map(text).unwrap_or_default();
        assert!(
            !run.contains("${{"),
            "a run step interpolates an expression: {run}"
        );
        let env = step.get("env").and_then(Value::as_mapping);
        for variable in env.into_iter().flat_map(|e| e.keys()) {
            for secret in ["ANCHORE_CLI_PASS", REGISTRY_PASSWORD_VARIABLE] {
                assert_ne!(text(variable), secret, "a step overrides the secret");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GitLab manifests

const GITLAB_WRAPPER_INPUTS: [&str; 5] = [
    "stage",
    "job_name",
    "scanner_image",
    "password_variable",
    "registry_password_variable",
];

fn gitlab_documents() -> Vec<Value> {
    let documents = yaml_documents(&read("gitlab/templates/inline-scan.yml"));
    assert_eq!(
        documents.len(),
        2,
        "the component has a spec header and one job document"
    );
    documents
}

fn gitlab_job(template: &str) -> Value {
    let documents = yaml_documents(&read(template));
    let jobs = documents.last().unwrap().as_mapping().unwrap().clone();
    assert_eq!(jobs.len(), 1, "{template} defines one job");
    jobs.into_iter().next().unwrap().1
}

fn gitlab_job_script(template: &str) -> String {
    let script = gitlab_job(template)["script"]
        .as_sequence()
        .unwrap()
        .clone();
    assert_eq!(script.len(), 1, "{template} runs one script block");
    text(&script[0])
}

#[test]
fn gitlab_inputs_cover_registry() {
    let documents = gitlab_documents();
    let inputs = documents[0]["spec"]["inputs"].as_mapping().unwrap().clone();
    let mut expected: BTreeSet<String> = wrapped_options()
        .into_iter()
        .map(|o| snake(&o.long))
        .collect();
    expected.extend(POSITIONAL_INPUTS.map(String::from));
    expected.extend(GITLAB_WRAPPER_INPUTS.map(String::from));
    assert_eq!(keys(&inputs), expected);

    for option in wrapped_options() {
        let spec = &inputs[snake(&option.long).as_str()];
        let default = spec
            .get("default")
            .unwrap_or_else(|| panic!("{} is mandatory", option.long));
        match option.kind {
            Kind::Flag => {
                assert_eq!(spec["type"], "boolean", "{}", option.long);
                assert_eq!(default, &Value::Bool(false), "{}", option.long);
            }
            _ if option.long == "report-dir" => {
                assert_eq!(text(default), registry_default("report-dir"));
            }
            _ => assert_eq!(text(default), "", "{} sets a default", option.long),
        }
    }
    for positional in POSITIONAL_INPUTS {
        assert_eq!(
            inputs[positional].get("default").map(text).as_deref(),
            Some(""),
            "{positional} must be optional: one of image and bundle is set"
        );
    }
    assert!(
        inputs["scanner_image"].get("default").is_none(),
        "scanner_image must be mandatory"
    );

    let job = gitlab_job("gitlab/templates/inline-scan.yml");
    let variables = map(&job, "variables");
    for (variable, input) in [
        ("INLINE_SCAN_PASSWORD_VARIABLE", "password_variable"),
        (
            "INLINE_SCAN_REGISTRY_PASSWORD_VARIABLE",
            "registry_password_variable",
        ),
    ] {
        assert_eq!(
            text(&variables[variable]),
            format!("$[[ inputs.{input} ]]"),
            "{variable}"
        );
    }
    let mut mapped = BTreeSet::new();
    for (variable, value) in variables {
        let variable = text(variable);
        if let Some(long) = variable.strip_prefix("INLINE_SCAN_INPUT_") {
            let input = long.to_lowercase();
            assert_eq!(text(value), format!("$[[ inputs.{input} ]]"), "{variable}");
            mapped.insert(input);
        }
    }
    let mut options: BTreeSet<String> = wrapped_options()
        .into_iter()
        .map(|o| snake(&o.long))
        .collect();
    options.extend(POSITIONAL_INPUTS.map(String::from));
    assert_eq!(
        mapped, options,
        "some analyze options are unreachable from the component"
    );
}

#[test]
fn gitlab_script_never_interpolates() {
    for template in [
        "gitlab/templates/inline-scan.yml",
        "gitlab/inline-scan.gitlab-ci.yml",
    ] {
        let script = gitlab_job_script(template);
        assert!(
            !script.contains("$[["),
            "{template} interpolates an input into shell text"
        );
        let job = gitlab_job(template);
        let paths = &job["artifacts"]["paths"];
        assert!(
            paths.as_sequence().is_some_and(|p| !p.is_empty()),
            "{template}"
        );
        assert_eq!(job["artifacts"]["when"], "always", "{template}");
    }
}

// ---------------------------------------------------------------------------------------------
// CircleCI orb

/// Packs circleci-orb/src the way `circleci orb pack` does: the four component folders keyed
/// by file stem (subfolders and non-YAML files ignored), and every string that is exactly
/// `<<include(dir/file)>>` replaced by that file's text.
fn pack_orb(source: &Path) -> Value {
    let mut orb: Value =
        serde_yaml::from_str(&std::fs::read_to_string(source.join("@orb.yml")).unwrap()).unwrap();
    for folder in ["commands", "jobs", "executors", "examples"] {
        let mut components = Mapping::new();
        let Ok(entries) = std::fs::read_dir(source.join(folder)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let is_yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
            if !path.is_file() || !is_yaml {
                continue;
            }
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut component: Value =
                serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            resolve_includes(&mut component, source);
            components.insert(Value::String(stem), component);
        }
        if !components.is_empty() {
            orb.as_mapping_mut()
                .unwrap()
                .insert(Value::String(folder.into()), Value::Mapping(components));
        }
    }
    orb
}

fn resolve_includes(value: &mut Value, source: &Path) {
    match value {
        Value::String(s) => {
            let trimmed = s.trim();
            if let Some(path) = trimmed
                .strip_prefix("<<include(")
                .and_then(|rest| rest.strip_suffix(")>>"))
            {
                assert!(path.contains('/'), "include path {path} needs a folder");
                *s = std::fs::read_to_string(source.join(path))
                    .unwrap_or_else(|e| panic!("include {path}: {e}"));
            }
        }
        Value::Sequence(items) => items
            .iter_mut()
            .for_each(|item| resolve_includes(item, source)),
        Value::Mapping(mapping) => mapping
            .iter_mut()
            .for_each(|(_, item)| resolve_includes(item, source)),
        _ => {}
    }
}

fn orb() -> Value {
    pack_orb(&repo().join("circleci-orb/src"))
}

const CIRCLECI_COMMAND_WRAPPER_PARAMETERS: [&str; 3] =
    ["password_variable", "registry_password_variable", "binary"];
const CIRCLECI_JOB_WRAPPER_PARAMETERS: [&str; 3] = ["scanner_image", "remote_docker", "pre_steps"];

fn check_orb_parameters(parameters: &Mapping, extra: &[&str], component: &str) {
    let mut expected: BTreeSet<String> = wrapped_options()
        .into_iter()
        .map(|o| snake(&o.long))
        .collect();
    expected.extend(POSITIONAL_INPUTS.map(String::from));
    expected.extend(extra.iter().map(|s| (*s).to_owned()));
    assert_eq!(keys(parameters), expected, "{component}");
    for option in wrapped_options() {
        let spec = &parameters[snake(&option.long).as_str()];
        match option.kind {
            Kind::Flag => {
                assert_eq!(spec["type"], "boolean", "{component} {}", option.long);
                assert_eq!(
                    spec["default"],
                    Value::Bool(false),
                    "{component} {}",
                    option.long
                );
            }
            _ if option.long == "report-dir" => {
                assert_eq!(text(&spec["default"]), registry_default("report-dir"));
            }
            _ => {
                assert_eq!(spec["type"], "string", "{component} {}", option.long);
                assert_eq!(
                    text(&spec["default"]),
                    "",
                    "{component} {} sets a default",
                    option.long
                );
            }
        }
    }
    for positional in POSITIONAL_INPUTS {
        assert_eq!(
            parameters[positional].get("default").map(text).as_deref(),
            Some(""),
            "{component}: {positional} must be optional: one of image and bundle is set"
        );
    }
}

#[test]
fn circleci_parameters_cover_registry() {
    let orb = orb();
    let command = &orb["commands"]["analyze"];
    check_orb_parameters(
        map(command, "parameters"),
        &CIRCLECI_COMMAND_WRAPPER_PARAMETERS,
        "command",
    );
    let password = &command["parameters"]["password_variable"];
    assert_eq!(password["type"], "env_var_name");
    let registry_password = &command["parameters"]["registry_password_variable"];
    assert_eq!(registry_password["type"], "env_var_name");
    assert_eq!(
        text(&registry_password["default"]),
        REGISTRY_PASSWORD_VARIABLE
    );

    let run = &command["steps"][0]["run"];
    let environment = map(run, "environment");
    for (variable, parameter) in [
        ("INLINE_SCAN_PASSWORD_VARIABLE", "password_variable"),
        (
            "INLINE_SCAN_REGISTRY_PASSWORD_VARIABLE",
            "registry_password_variable",
        ),
    ] {
        assert_eq!(
            text(&environment[variable]),
            format!("<< parameters.{parameter} >>"),
            "{variable}"
        );
    }
    let mut mapped = BTreeSet::new();
    for (variable, value) in environment {
        let variable = text(variable);
        if let Some(long) = variable.strip_prefix("INLINE_SCAN_INPUT_") {
            let parameter = long.to_lowercase();
            assert_eq!(
                text(value),
                format!("<< parameters.{parameter} >>"),
                "{variable}"
            );
            mapped.insert(parameter);
        }
    }
    let mut options: BTreeSet<String> = wrapped_options()
        .into_iter()
        .map(|o| snake(&o.long))
        .collect();
    options.extend(POSITIONAL_INPUTS.map(String::from));
    assert_eq!(
        mapped, options,
        "some analyze options are unreachable from the command"
    );

    let job = &orb["jobs"]["analyze"];
    check_orb_parameters(
        map(job, "parameters"),
        &[
            &CIRCLECI_COMMAND_WRAPPER_PARAMETERS[..],
            &CIRCLECI_JOB_WRAPPER_PARAMETERS[..],
        ]
        .concat(),
        "job",
    );
    let call = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|step| step.get("analyze"))
        .expect("the job calls the analyze command");
    for (name, _) in map(command, "parameters") {
        let name = text(name);
        assert_eq!(
            text(&call[name.as_str()]),
            format!("<< parameters.{name} >>"),
            "job passes {name}"
        );
    }
}

#[test]
fn circleci_orb_follows_review_rules() {
    let orb = orb();
    assert!(
        orb.get("description").is_some(),
        "the orb has no description"
    );
    for folder in ["commands", "jobs", "executors", "examples"] {
        for (name, component) in map(&orb, folder) {
            let name = text(name);
            let snake_case = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            assert!(snake_case, "{folder}/{name} is not snake_case");
            assert!(
                component.get("description").is_some(),
                "{folder}/{name} has no description"
            );
            for (parameter, spec) in component
                .get("parameters")
                .and_then(Value::as_mapping)
                .into_iter()
                .flatten()
            {
                assert!(
                    spec.get("description").is_some(),
                    "{folder}/{name} {parameter:?} has no description"
                );
            }
        }
    }
    let steps = orb["commands"]["analyze"]["steps"].as_sequence().unwrap();
    for step in steps {
        if let Some(run) = step.get("run") {
            assert!(run.get("name").is_some(), "a run step has no name");
            let command = text(&run["command"]);
            assert!(
                !command.contains("<< parameters"),
                "a script interpolates a parameter"
            );
        }
    }
    assert!(
        !map(&orb, "examples").is_empty(),
        "the orb has no usage example"
    );
}

#[test]
fn docs_tables_are_fresh() {
    let output = Command::new("python3")
        .arg(repo().join("scripts/gen-wrapper-docs.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Offline validators

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Finds a validator installed by scripts/install-validators.sh or on PATH. A missing one
/// fails the test under CI=true and skips it otherwise.
fn validator(name: &str) -> Option<PathBuf> {
    let folder = std::env::var_os("INLINE_SCAN_VALIDATORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/validators"));
    let mut candidates = vec![
        folder.join("venv/bin").join(name),
        folder.join("node/node_modules/.bin").join(name),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
        return Some(found);
    }
    assert!(
        !is_ci(),
        "validator {name} is missing; run scripts/install-validators.sh"
    );
    eprintln!("skipped: validator {name} is not installed (run scripts/install-validators.sh)");
    None
}

fn run_tool(program: &Path, arguments: &[&str], directory: &Path) -> Output {
    Command::new(program)
        .args(arguments)
        .current_dir(directory)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn check_schema(tool: &Path, schema: &str, file: &Path) -> Output {
    run_tool(
        tool,
        &["--builtin-schema", schema, file.to_str().unwrap()],
        &repo(),
    )
}

#[test]
fn action_schema_accepts_action() {
    let Some(tool) = validator("check-jsonschema") else {
        return;
    };
    let good = check_schema(&tool, "vendor.github-actions", &repo().join("action.yml"));
    assert!(good.status.success(), "{}", describe(&good));
    let bad = check_schema(
        &tool,
        "vendor.github-actions",
        &repo().join("tests/wrappers/broken/action.yml"),
    );
    assert!(
        !bad.status.success(),
        "the broken action passed: {}",
        describe(&bad)
    );
}

/// Writes each YAML document of `text` to its own file, because check-jsonschema reads one
/// document per file.
fn split_documents(text: &str, directory: &Path, stem: &str) -> Vec<PathBuf> {
    yaml_documents(text)
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            let path = directory.join(format!("{stem}-{index}.yml"));
            std::fs::write(&path, serde_yaml::to_string(&document).unwrap()).unwrap();
            path
        })
        .collect()
}

#[test]
fn gitlab_schema_accepts_templates() {
    let Some(tool) = validator("check-jsonschema") else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let mut files = split_documents(
        &read("gitlab/templates/inline-scan.yml"),
        directory.path(),
        "component",
    );
    files.push(repo().join("gitlab/inline-scan.gitlab-ci.yml"));
    for file in &files {
        let output = check_schema(&tool, "vendor.gitlab-ci", file);
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            describe(&output)
        );
    }
    let broken = split_documents(
        &read("tests/wrappers/broken/gitlab-template.yml"),
        directory.path(),
        "broken",
    );
    let output = check_schema(&tool, "vendor.gitlab-ci", &broken[0]);
    assert!(
        !output.status.success(),
        "the broken spec passed: {}",
        describe(&output)
    );
}

#[test]
fn circleci_schema_accepts_packed_orb() {
    let Some(tool) = validator("check-jsonschema") else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let packed = directory.path().join("orb.yml");
    std::fs::write(&packed, serde_yaml::to_string(&orb()).unwrap()).unwrap();
    let output = check_schema(&tool, "vendor.circle-ci", &packed);
    assert!(output.status.success(), "{}", describe(&output));

    let source = directory.path().join("src");
    std::fs::create_dir_all(source.join("commands")).unwrap();
    std::fs::copy(
        repo().join("circleci-orb/src/@orb.yml"),
        source.join("@orb.yml"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("tests/wrappers/broken/orb-command.yml"),
        source.join("commands/broken.yml"),
    )
    .unwrap();
    let broken = directory.path().join("broken-orb.yml");
    std::fs::write(&broken, serde_yaml::to_string(&pack_orb(&source)).unwrap()).unwrap();
    let output = check_schema(&tool, "vendor.circle-ci", &broken);
    assert!(
        !output.status.success(),
        "the broken orb passed: {}",
        describe(&output)
    );
}

#[test]
fn zizmor_accepts_action() {
    let Some(tool) = validator("zizmor") else {
        return;
    };
    let good = run_tool(&tool, &["--offline", "action.yml"], &repo());
    assert!(good.status.success(), "{}", describe(&good));
    let directory = tempfile::tempdir().unwrap();
    let action = directory.path().join("action.yml");
    std::fs::copy(
        repo().join("tests/wrappers/broken/injection-action.yml"),
        &action,
    )
    .unwrap();
    let bad = run_tool(
        &tool,
        &["--offline", action.to_str().unwrap()],
        directory.path(),
    );
    assert!(
        !bad.status.success(),
        "zizmor missed the injection: {}",
        describe(&bad)
    );
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("template-injection"),
        "{}",
        describe(&bad)
    );
}

/// Copies the action into a new git repository with `workflow` as its only workflow.
fn workflow_repository(workflow: &str) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
    std::fs::copy(repo().join("action.yml"), root.join("action.yml")).unwrap();
    std::fs::copy(
        repo().join(workflow),
        root.join(".github/workflows/scan.yml"),
    )
    .unwrap();
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", describe(&init));
    directory
}

#[test]
fn actionlint_accepts_workflow() {
    let Some(tool) = validator("actionlint") else {
        return;
    };
    let good = workflow_repository("tests/wrappers/workflow.yml");
    let output = run_tool(&tool, &[], good.path());
    assert!(output.status.success(), "{}", describe(&output));
    let bad = workflow_repository("tests/wrappers/broken/workflow.yml");
    let output = run_tool(&tool, &[], bad.path());
    assert!(
        !output.status.success(),
        "actionlint passed the broken workflow: {}",
        describe(&output)
    );
}

#[test]
fn shellcheck_accepts_every_script() {
    let Some(tool) = validator("shellcheck") else {
        return;
    };
    let mut scripts: Vec<PathBuf> = Vec::new();
    for folder in [
        "scripts",
        "scripts/wrappers",
        "circleci-orb/src/scripts",
        "tests/wrappers",
    ] {
        for entry in std::fs::read_dir(repo().join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sh") {
                scripts.push(path);
            }
        }
    }
    let directory = tempfile::tempdir().unwrap();
    for template in [
        "gitlab/templates/inline-scan.yml",
        "gitlab/inline-scan.gitlab-ci.yml",
    ] {
        let path = directory
            .path()
            .join(format!("{}.sh", template.replace('/', "_")));
        std::fs::write(&path, gitlab_job_script(template)).unwrap();
        scripts.push(path);
    }
    assert!(scripts.len() >= 6, "found only {scripts:?}");
    let mut arguments = vec!["--shell=bash"];
    arguments.extend(scripts.iter().map(|p| p.to_str().unwrap()));
    let output = run_tool(&tool, &arguments, &repo());
    assert!(output.status.success(), "{}", describe(&output));

    let bad = directory.path().join("bad.sh");
    std::fs::write(&bad, "#!/usr/bin/env bash\necho $1\n").unwrap();
    let output = run_tool(&tool, &[bad.to_str().unwrap()], &repo());
    assert!(
        !output.status.success(),
        "shellcheck passed an unquoted variable"
    );
}

/// Sets up a git repository that includes the component with `inputs` (YAML text under
/// `inputs:`) and returns gitlab-ci-local's rendered configuration.
fn gitlab_ci_local_preview(tool: &Path, inputs: &str) -> Output {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::copy(
        repo().join("gitlab/templates/inline-scan.yml"),
        root.join("templates/inline-scan.yml"),
    )
    .unwrap();
    let config = format!("include:\n  - local: templates/inline-scan.yml\n    inputs:\n{inputs}\n");
    std::fs::write(root.join(".gitlab-ci.yml"), config).unwrap();
    for arguments in [
        &["init", "-q"][..],
        &[
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@127.0.0.1",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ][..],
    ] {
        let output = Command::new("git")
            .args(arguments)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
    }
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new(tool)
        .arg("--preview")
        .current_dir(root)
        .env("HOME", &home)
        .output()
        .unwrap()
}

#[test]
fn gitlab_ci_local_renders_inputs() {
    let Some(tool) = validator("gitlab-ci-local") else {
        return;
    };
    let digest = format!("sha256:{}", "0".repeat(64));
    let inputs = format!(
        "      scanner_image: 127.0.0.1:5000/inline-scan@{digest}\n      image: docker-archive:app.tar\n      tag: \"app:1\\napp:2\"\n      pull: true\n      job_name: scan-app"
    );
    let output = gitlab_ci_local_preview(&tool, &inputs);
    assert!(output.status.success(), "{}", describe(&output));
    let rendered = String::from_utf8_lossy(&output.stdout);
    let documents = yaml_documents(&rendered);
    let job = documents
        .iter()
        .find_map(|d| d.get("scan-app"))
        .unwrap_or_else(|| panic!("no scan-app job in:\n{rendered}"));
    let variables = &job["variables"];
    assert_eq!(
        variables["INLINE_SCAN_INPUT_IMAGE"],
        "docker-archive:app.tar"
    );
    assert_eq!(variables["INLINE_SCAN_INPUT_TAG"], "app:1\napp:2");
    assert_eq!(text(&variables["INLINE_SCAN_INPUT_PULL"]), "true");
    assert_eq!(text(&variables["INLINE_SCAN_INPUT_INSECURE"]), "false");
    assert_eq!(text(&variables["INLINE_SCAN_INPUT_URL"]), "");
    assert_eq!(
        job["image"]["name"],
        format!("127.0.0.1:5000/inline-scan@{digest}")
    );

    let missing = gitlab_ci_local_preview(&tool, "      image: app:1");
    assert!(
        !missing.status.success(),
        "scanner_image was not required: {}",
        describe(&missing)
    );
}

// ---------------------------------------------------------------------------------------------
// Running the wrappers

/// Returns the stand-in binary that records its argv, environment names and passwords.
fn stand_in() -> PathBuf {
    repo().join("tests/wrappers/stand-in.sh")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Environment every wrapper run starts from: a clean PATH, HOME inside the test folder, and
/// the stand-in's log and password check.
fn base_environment(work: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    env.insert("HOME".into(), work.join("home").display().to_string());
    env.insert(
        "STAND_IN_LOG".into(),
        work.join("stand-in").display().to_string(),
    );
    env.insert(
        "STAND_IN_PASSWORD_SHA256".into(),
        sha256_hex(PASSWORD.as_bytes()),
    );
    env.insert(
        "STAND_IN_REGISTRY_PASSWORD_SHA256".into(),
        sha256_hex(STAND_IN_REGISTRY_PASSWORD.as_bytes()),
    );
    env
}

fn run_bash(script: &str, env: &BTreeMap<String, String>, directory: &Path) -> Output {
    Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .env_clear()
        .envs(env)
        .current_dir(directory)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

struct Recorded {
    argv: Vec<String>,
    environment_names: BTreeSet<String>,
    password: String,
    /// `match` or `mismatch` when the stand-in got --registry-password-stdin, else empty.
    registry_password: String,
}

fn recorded(work: &Path) -> Recorded {
    let read = |suffix: &str| {
        std::fs::read_to_string(work.join(format!("stand-in.{suffix}"))).unwrap_or_default()
    };
    Recorded {
        argv: read("argv").lines().map(str::to_owned).collect(),
        environment_names: read("env").lines().map(str::to_owned).collect(),
        password: read("password").trim().to_owned(),
        registry_password: read("registry-password").trim().to_owned(),
    }
}

/// Fails when either stand-in password appears in any file under `folder` or in `texts`.
fn assert_no_secret(folder: &Path, texts: &[&[u8]]) {
    for text in texts {
        for secret in [PASSWORD, STAND_IN_REGISTRY_PASSWORD] {
            assert!(
                !String::from_utf8_lossy(text).contains(secret),
                "a password leaked into output"
            );
        }
    }
    let mut pending = vec![folder.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            let content = String::from_utf8_lossy(&bytes);
            assert!(
                !content.contains(PASSWORD) && !content.contains(STAND_IN_REGISTRY_PASSWORD),
                "a password leaked into {}",
                path.display()
            );
        }
    }
}

/// Replaces each `${{ ... }}` expression the way the runner does for the expressions the
/// action uses: `inputs.NAME` (empty when not given) and `steps.ID.outputs.NAME`.
fn expand_github(
    template: &str,
    inputs: &BTreeMap<&str, &str>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut result = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${{") {
        result.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("expression is closed") + start;
        let expression = rest[start + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs
                .get(name)
                .map(|v| (*v).to_owned())
                .unwrap_or_default()
        } else if let Some(path) = expression.strip_prefix("steps.") {
            let (id, name) = path.split_once(".outputs.").expect("steps.ID.outputs.NAME");
            outputs
                .get(id)
                .and_then(|o| o.get(name))
                .cloned()
                .unwrap_or_default()
        } else {
            panic!("the test runner does not know the expression {expression}");
        };
        result.push_str(&value);
        rest = &rest[end + 2..];
    }
    result.push_str(rest);
    result
}

/// Parses a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIMITER` blocks.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    outputs
}

struct GithubRun {
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    logs: Vec<Output>,
    summary: String,
    /// The script text of every step, which is the argv of its bash.
    scripts: String,
}

/// Runs the composite action's steps in order with the runner's environment and the
/// caller's step `env` (which is where the secret comes from). Stops at the first failing step.
fn run_action(
    action_root: &Path,
    work: &Path,
    inputs: &BTreeMap<&str, &str>,
    caller_env: &[(&str, &str)],
) -> GithubRun {
    let action: Value =
        serde_yaml::from_str(&std::fs::read_to_string(action_root.join("action.yml")).unwrap())
            .unwrap();
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut logs = Vec::new();
    let mut scripts = String::new();
    let summary_path = work.join("step-summary.md");
    std::fs::write(&summary_path, "").unwrap();
    for (index, step) in action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(step["shell"], "bash");
        let output_path = work.join(format!("github-output-{index}"));
        std::fs::write(&output_path, "").unwrap();
        let mut env = base_environment(work);
        env.insert("GITHUB_ACTIONS".into(), "true".into());
        env.insert("CI".into(), "true".into());
        env.insert(
            "GITHUB_ACTION_PATH".into(),
            action_root.display().to_string(),
        );
        env.insert("GITHUB_OUTPUT".into(), output_path.display().to_string());
        env.insert(
            "GITHUB_STEP_SUMMARY".into(),
            summary_path.display().to_string(),
        );
        env.insert(
            "RUNNER_TEMP".into(),
            work.join("runner-temp").display().to_string(),
        );
        env.insert("GITHUB_WORKSPACE".into(), work.display().to_string());
        env.insert("GITHUB_REPOSITORY".into(), "octo/app".into());
        env.insert("GITHUB_SHA".into(), "0".repeat(40));
        for (name, value) in caller_env {
            env.insert((*name).into(), (*value).into());
        }
        for (name, value) in step
            .get("env")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            env.insert(text(name), expand_github(&text(value), inputs, &outputs));
        }
        std::fs::create_dir_all(work.join("runner-temp")).unwrap();
        let script = expand_github(&text(&step["run"]), inputs, &outputs);
        let output = run_bash(&script, &env, work);
        scripts.push_str(&script);
        let failed = !output.status.success();
        logs.push(output);
        if let Some(id) = step.get("id").map(text) {
            outputs.insert(
                id,
                parse_github_output(&std::fs::read_to_string(&output_path).unwrap()),
            );
        }
        if failed {
            break;
        }
    }
    let summary = std::fs::read_to_string(&summary_path).unwrap();
    GithubRun {
        outputs,
        logs,
        summary,
        scripts,
    }
}

fn new_work() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("home")).unwrap();
    work
}

#[test]
fn github_action_maps_inputs_to_argv() {
    let work = new_work();
    let binary = stand_in();
    let binary = binary.display().to_string();
    let inputs = BTreeMap::from([
        ("binary", binary.as_str()),
        ("image", "docker-archive:/tmp/app.tar"),
        ("url", "http://127.0.0.1:1/"),
        ("username", "ci-bot"),
        ("tag", "app:1\napp:2\n"),
        ("insecure", "true"),
        ("force", "false"),
        ("timeout", "30"),
        ("no-import", "true"),
        ("registry-insecure", "true"),
        ("registry-cacert", "/tmp/registry-ca.pem"),
        ("registry-username", "puller"),
        (
            "sbom-out",
            "syft-json=sbom.json\r\nspdx-json=sbom.spdx.json\n",
        ),
    ]);

    let run = run_action(
        &repo(),
        work.path(),
        &inputs,
        &[
            ("ANCHORE_CLI_PASS", PASSWORD),
            ("INLINE_SCAN_REGISTRY_PASSWORD", STAND_IN_REGISTRY_PASSWORD),
        ],
    );
    for log in &run.logs {
        assert!(log.status.success(), "{}", describe(log));
    }
    assert_eq!(run.outputs["install"]["path"], binary);

    let texts: Vec<&[u8]> = run
        .logs
        .iter()
        .flat_map(|l| [&l.stdout[..], &l.stderr[..]])
        .collect();
    assert_no_secret(work.path(), &texts);

    let recorded = recorded(work.path());
    assert_eq!(
        recorded.argv,
        [
            "analyze",
            "--url=http://127.0.0.1:1/",
            "--username=ci-bot",
            "--insecure",
            "--no-import",
            "--timeout=30",
            "--tag=app:1",
            "--tag=app:2",
            "--registry-insecure",
            "--registry-cacert=/tmp/registry-ca.pem",
            "--registry-username=puller",
            "--sbom-out=syft-json=sbom.json",
            "--sbom-out=spdx-json=sbom.spdx.json",
            "--registry-password-stdin",
            "--",
            "docker-archive:/tmp/app.tar",
        ]
    );
    assert_eq!(
        recorded.password, "match",
        "the binary did not get ANCHORE_CLI_PASS"
    );
    assert_eq!(
        recorded.registry_password, "match",
        "the binary did not get the registry password on standard input"
    );
    assert!(
        !recorded
            .environment_names
            .contains("INLINE_SCAN_REGISTRY_PASSWORD"),
        "the registry password stayed in the binary's environment"
    );
    assert!(recorded.environment_names.contains("GITHUB_OUTPUT"));
    assert_eq!(run.outputs["analyze"]["status"], "ok");
}

#[test]
fn github_action_keeps_values_literal() {
    let work = new_work();
    let binary = stand_in();
    let marker = work.path().join("injected");
    let hostile = format!(
        "$(touch {}) `touch {}`; touch {}",
        marker.display(),
        marker.display(),
        marker.display()
    );
    let binary = binary.display().to_string();
    let inputs = BTreeMap::from([
        ("binary", binary.as_str()),
        ("image", hostile.as_str()),
        ("account", hostile.as_str()),
        ("annotation", hostile.as_str()),
    ]);
    let run = run_action(&repo(), work.path(), &inputs, &[]);
    assert!(!marker.exists(), "an input was executed as shell");
    for log in &run.logs {
        assert!(log.status.success(), "{}", describe(log));
    }
    let argv = recorded(work.path()).argv;
    assert_eq!(argv.last().unwrap(), &hostile);
    assert!(argv.contains(&format!("--account={hostile}")));
    assert!(argv.contains(&format!("--annotation={hostile}")));
}

#[test]
fn github_action_rejects_bad_boolean() {
    let work = new_work();
    let binary = stand_in();
    let binary = binary.display().to_string();
    let inputs = BTreeMap::from([
        ("binary", binary.as_str()),
        ("image", "app:1"),
        ("pull", "yes"),
    ]);
    let run = run_action(&repo(), work.path(), &inputs, &[]);
    let last = run.logs.last().unwrap();
    assert!(!last.status.success());
    assert!(
        String::from_utf8_lossy(&last.stderr)
            .contains("INLINE_SCAN_INPUT_PULL must be true or false")
    );
}

/// Serves `files` (URL path to bytes) over HTTP on 127.0.0.1 for `requests` requests, and
/// returns the base URL.
fn serve_files(files: BTreeMap<String, Vec<u8>>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let count = stream.read(&mut buffer).unwrap();
                if count == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..count]);
            }
            let head = String::from_utf8_lossy(&request).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let response = match files.get(&path) {
                Some(body) => {
                    let mut response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    response.extend_from_slice(body);
                    response
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://{address}")
}

/// Builds a release archive that holds the stand-in binary as `inline-scan`.
fn release_archive() -> Vec<u8> {
    let binary = stand_in();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    builder
        .append_path_with_name(&binary, "inline-scan")
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// Copies the action (manifest and scripts) into `root` with `checksums` as its
/// checksums.sha256.
fn action_copy(root: &Path, checksums: &str) {
    std::fs::create_dir_all(root.join("scripts/wrappers")).unwrap();
    std::fs::copy(repo().join("action.yml"), root.join("action.yml")).unwrap();
    for script in ["analyze.sh", "install.sh"] {
        std::fs::copy(
            repo().join("scripts/wrappers").join(script),
            root.join("scripts/wrappers").join(script),
        )
        .unwrap();
    }
    std::fs::write(root.join("scripts/wrappers/checksums.sha256"), checksums).unwrap();
}

fn release_target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        other => panic!("no release target for {other}"),
    }
}

#[test]
fn github_install_verifies_checksum() {
    let archive = release_archive();
    let name = format!("inline-scan-1.2.3-{}.tar.gz", release_target());
    let base = serve_files(
        BTreeMap::from([(format!("/v1.2.3/{name}"), archive.clone())]),
        2,
    );
    let inputs = BTreeMap::from([
        ("version", "1.2.3"),
        ("release-url", base.as_str()),
        ("image", "app:1"),
    ]);

    let work = new_work();
    let action_root = work.path().join("action");
    action_copy(&action_root, &format!("{}  {name}\n", sha256_hex(&archive)));
    let run = run_action(&action_root, work.path(), &inputs, &[]);
    assert!(run.logs[0].status.success(), "{}", describe(&run.logs[0]));
    let installed = PathBuf::from(&run.outputs["install"]["path"]);
    assert!(
        installed.starts_with(work.path().join("runner-temp")),
        "{}",
        installed.display()
    );
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(stand_in()).unwrap()
    );
    assert!(run.logs[1].status.success(), "{}", describe(&run.logs[1]));

    let work = new_work();
    let action_root = work.path().join("action");
    action_copy(&action_root, &format!("{}  {name}\n", "0".repeat(64)));
    let run = run_action(&action_root, work.path(), &inputs, &[]);
    assert_eq!(
        run.logs.len(),
        1,
        "the action went on after a checksum mismatch"
    );
    let stderr = String::from_utf8_lossy(&run.logs[0].stderr);
    assert!(stderr.contains("SHA-256 of"), "{stderr}");
    assert!(
        !work.path().join("stand-in.argv").exists(),
        "the unverified binary ran"
    );
}

#[test]
fn github_install_requires_listed_version() {
    let work = new_work();
    let action_root = work.path().join("action");
    action_copy(&action_root, "# no releases yet\n");
    let inputs = BTreeMap::from([
        ("version", "9.9.9"),
        ("release-url", "http://127.0.0.1:1"),
        ("image", "app:1"),
    ]);
    let run = run_action(&action_root, work.path(), &inputs, &[]);
    assert!(!run.logs[0].status.success());
    assert!(String::from_utf8_lossy(&run.logs[0].stderr).contains("has no SHA-256"));

    let inputs = BTreeMap::from([
        ("version", "main"),
        ("release-url", "http://127.0.0.1:1"),
        ("image", "app:1"),
    ]);
    let run = run_action(&action_root, work.path(), &inputs, &[]);
    assert!(String::from_utf8_lossy(&run.logs[0].stderr).contains("exact release"));
}

/// Replaces `$[[ inputs.NAME ]]` in every key and string of the job. A string that is only
/// the expression takes the input's type, as GitLab does.
fn interpolate_gitlab(value: &mut Value, inputs: &BTreeMap<String, Value>) {
    match value {
        Value::String(s) => {
            let trimmed = s.trim();
            if let Some(name) = trimmed
                .strip_prefix("$[[ inputs.")
                .and_then(|r| r.strip_suffix(" ]]"))
            {
                if !name.contains("$[[") {
                    *value = inputs
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| panic!("no input {name}"));
                    return;
                }
            }
            let mut text_value = s.clone();
            for (name, input) in inputs {
                text_value = text_value.replace(&format!("$[[ inputs.{name} ]]"), &text(input));
            }
            assert!(!text_value.contains("$[["), "unknown input in {text_value}");
            *s = text_value;
        }
        Value::Sequence(items) => items
            .iter_mut()
            .for_each(|item| interpolate_gitlab(item, inputs)),
        Value::Mapping(mapping) => {
            let mut interpolated = Mapping::new();
            for (key, item) in std::mem::take(mapping) {
                let mut key = key;
                let mut item = item;
                interpolate_gitlab(&mut key, inputs);
                interpolate_gitlab(&mut item, inputs);
                interpolated.insert(key, item);
            }
            *mapping = interpolated;
        }
        _ => {}
    }
}

fn gitlab_inputs(given: &[(&str, Value)]) -> BTreeMap<String, Value> {
    let documents = gitlab_documents();
    let mut inputs = BTreeMap::new();
    for (name, spec) in documents[0]["spec"]["inputs"].as_mapping().unwrap() {
        if let Some(default) = spec.get("default") {
            inputs.insert(text(name), default.clone());
        }
    }
    for (name, value) in given {
        inputs.insert((*name).to_owned(), value.clone());
    }
    inputs
}

/// Runs the component's job script with its variables and GitLab's predefined variables.
fn run_gitlab_job(
    work: &Path,
    given: &[(&str, Value)],
    masked: &[(&str, &str)],
) -> (Value, Output) {
    let inputs = gitlab_inputs(given);
    let documents = gitlab_documents();
    let mut jobs = documents[1].clone();
    interpolate_gitlab(&mut jobs, &inputs);
    let (name, job) = jobs.as_mapping().unwrap().iter().next().unwrap();
    assert_eq!(text(name), text(&inputs["job_name"]));
    let mut env = base_environment(work);
    env.insert("CI".into(), "true".into());
    env.insert("GITLAB_CI".into(), "true".into());
    env.insert("CI_PROJECT_DIR".into(), work.display().to_string());
    env.insert("CI_JOB_ID".into(), "7".into());
    env.insert("CI_COMMIT_SHA".into(), "0".repeat(40));
    env.insert("CI_SERVER_URL".into(), "http://127.0.0.1:1".into());
    for (name, value) in masked {
        env.insert((*name).into(), (*value).into());
    }
    for (variable, value) in map(job, "variables") {
        env.insert(text(variable), text(value));
    }
    let script = text(&job["script"][0]);
    (job.clone(), run_bash(&script, &env, work))
}

#[test]
fn gitlab_job_maps_inputs_to_argv() {
    let work = new_work();
    let binary = stand_in();
    let digest = format!("sha256:{}", "1".repeat(64));
    let given = [
        (
            "scanner_image",
            Value::String(format!("127.0.0.1:5000/inline-scan@{digest}")),
        ),
        ("image", Value::String("oci-dir:/tmp/layout".into())),
        (
            "annotation",
            Value::String("team=payments\nstage=ci".into()),
        ),
        ("no_wait", Value::Bool(true)),
        ("api_version", Value::String("v2".into())),
    ];
    let (job, output) = run_gitlab_job(
        work.path(),
        &given,
        &[
            ("ANCHORE_CLI_PASS", PASSWORD),
            ("INLINE_SCAN_BIN", &binary.display().to_string()),
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        job["image"]["name"],
        format!("127.0.0.1:5000/inline-scan@{digest}")
    );
    assert_eq!(
        job["artifacts"]["reports"]["dotenv"],
        "inline-scan-report/inline-scan.env"
    );
    assert_no_secret(work.path(), &[&output.stdout, &output.stderr]);
    let recorded = recorded(work.path());
    assert_eq!(
        recorded.argv,
        [
            "analyze",
            "--api-version=v2",
            "--no-wait",
            "--annotation=team=payments",
            "--annotation=stage=ci",
            "--report-dir=inline-scan-report",
            "--",
            "oci-dir:/tmp/layout",
        ]
    );
    assert_eq!(recorded.password, "match");
    assert!(recorded.environment_names.contains("GITLAB_CI"));
}

#[test]
fn gitlab_password_variable_names_secret() {
    let work = new_work();
    let binary = stand_in();
    let given = [
        (
            "scanner_image",
            Value::String(format!("local@sha256:{}", "1".repeat(64))),
        ),
        ("image", Value::String("app:1".into())),
        ("password_variable", Value::String("SCAN_PASSWORD".into())),
    ];
    let binary = binary.display().to_string();
    let (_, output) = run_gitlab_job(
        work.path(),
        &given,
        &[("SCAN_PASSWORD", PASSWORD), ("INLINE_SCAN_BIN", &binary)],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(recorded(work.path()).password, "match");
    let work = new_work();
    let (_, output) = run_gitlab_job(work.path(), &given, &[("INLINE_SCAN_BIN", &binary)]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SCAN_PASSWORD is empty or not set"));
}

#[test]
fn gitlab_registry_password_needs_username() {
    let binary = stand_in().display().to_string();
    let scanner = (
        "scanner_image",
        Value::String(format!("local@sha256:{}", "1".repeat(64))),
    );
    let image = (
        "image",
        Value::String("registry:127.0.0.1:5000/app:1".into()),
    );
    let renamed = (
        "registry_password_variable",
        Value::String("PULL_PASSWORD".into()),
    );
    let username = ("registry_username", Value::String("puller".into()));

    let work = new_work();
    let given = [scanner.clone(), image.clone(), renamed.clone(), username];
    let (_, output) = run_gitlab_job(
        work.path(),
        &given,
        &[
            ("PULL_PASSWORD", STAND_IN_REGISTRY_PASSWORD),
            ("INLINE_SCAN_BIN", &binary),
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let recorded = recorded(work.path());
    assert_eq!(recorded.registry_password, "match");
    assert!(!recorded.environment_names.contains("PULL_PASSWORD"));
    assert_no_secret(work.path(), &[&output.stdout, &output.stderr]);

    let work = new_work();
    let (_, output) = run_gitlab_job(work.path(), &given, &[("INLINE_SCAN_BIN", &binary)]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("PULL_PASSWORD is empty or not set"),
        "{}",
        describe(&output)
    );

    let work = new_work();
    let given = [scanner, image, renamed];
    let (_, output) = run_gitlab_job(
        work.path(),
        &given,
        &[
            ("PULL_PASSWORD", STAND_IN_REGISTRY_PASSWORD),
            ("INLINE_SCAN_BIN", &binary),
        ],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("registry user name is empty"),
        "{}",
        describe(&output)
    );
    assert!(
        !work.path().join("stand-in.argv").exists(),
        "the binary ran without a registry user name"
    );
}

/// Replaces `<< parameters.NAME >>` in every string, as CircleCI expands parameters.
fn expand_circleci(value: &mut Value, parameters: &BTreeMap<String, String>) {
    match value {
        Value::String(s) => {
            let mut expanded = s.clone();
            for (name, parameter) in parameters {
                expanded = expanded.replace(&format!("<< parameters.{name} >>"), parameter);
            }
            assert!(
                !expanded.contains("<< parameters."),
                "unknown parameter in {expanded}"
            );
            *s = expanded;
        }
        Value::Sequence(items) => items
            .iter_mut()
            .for_each(|item| expand_circleci(item, parameters)),
        Value::Mapping(mapping) => mapping
            .iter_mut()
            .for_each(|(_, item)| expand_circleci(item, parameters)),
        _ => {}
    }
}

struct CircleRun {
    runs: Vec<Output>,
    stored: Vec<(String, String)>,
    /// The command of every run step, which is the argv of its bash.
    scripts: String,
}

/// Runs the orb's analyze command steps the way CircleCI does: parameters expanded, every step
/// in order, each `run` step in `bash -eo pipefail` with its environment, and the store steps
/// recorded. CircleCI skips later steps once one fails.
fn run_circleci_command(
    work: &Path,
    given: &[(&str, &str)],
    project_env: &[(&str, &str)],
) -> CircleRun {
    let orb = orb();
    let command = &orb["commands"]["analyze"];
    let mut parameters = BTreeMap::new();
    for (name, spec) in map(command, "parameters") {
        if let Some(default) = spec.get("default") {
            parameters.insert(text(name), text(default));
        }
    }
    for (name, value) in given {
        parameters.insert((*name).to_owned(), (*value).to_owned());
    }
    let mut steps = command["steps"].clone();
    expand_circleci(&mut steps, &parameters);
    let mut result = CircleRun {
        runs: Vec::new(),
        stored: Vec::new(),
        scripts: String::new(),
    };
    for step in steps.as_sequence().unwrap() {
        let (kind, body) = step.as_mapping().unwrap().iter().next().unwrap();
        match text(kind).as_str() {
            "run" => {
                let mut env = base_environment(work);
                env.insert("CI".into(), "true".into());
                env.insert("CIRCLECI".into(), "true".into());
                env.insert("CIRCLE_JOB".into(), "analyze".into());
                env.insert(
                    "CIRCLE_WORKING_DIRECTORY".into(),
                    work.display().to_string(),
                );
                for (name, value) in project_env {
                    env.insert((*name).into(), (*value).into());
                }
                for (name, value) in body
                    .get("environment")
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flatten()
                {
                    env.insert(text(name), text(value));
                }
                // Both run steps name the same exit-code file under /tmp, private to a CircleCI
                // job. The test moves it into its own folder so parallel runs cannot collide.
                if let Some(file) = env.get_mut("INLINE_SCAN_EXIT_CODE_FILE") {
                    assert_eq!(file, "/tmp/inline-scan-exit-code");
                    *file = work.join("exit-code").display().to_string();
                }
                let command = text(&body["command"]);
                let output = run_bash(&command, &env, work);
                result.scripts.push_str(&command);
                let failed = !output.status.success();
                result.runs.push(output);
                if failed {
                    break;
                }
            }
            other => result.stored.push((other.to_owned(), text(&body["path"]))),
        }
    }
    result
}

#[test]
fn circleci_command_stores_then_fails() {
    let work = new_work();
    let binary = stand_in();
    let binary = binary.display().to_string();
    let given = [
        ("binary", binary.as_str()),
        ("image", "docker-archive:/tmp/app.tar"),
        ("password_variable", "MY_ANCHORE_PASS"),
        ("all_tags", "true"),
        ("sbom_out", "sbom.json"),
    ];

    let run = run_circleci_command(
        work.path(),
        &given,
        &[("MY_ANCHORE_PASS", PASSWORD), ("STAND_IN_EXIT_CODE", "2")],
    );
    assert_eq!(run.runs.len(), 2, "both run steps ran");
    assert!(run.runs[0].status.success(), "{}", describe(&run.runs[0]));
    assert_eq!(
        run.runs[1].status.code(),
        Some(2),
        "{}",
        describe(&run.runs[1])
    );

    assert_eq!(
        run.stored,
        [
            (
                "store_artifacts".to_owned(),
                "inline-scan-report/artifacts".to_owned()
            ),
            (
                "store_test_results".to_owned(),
                "inline-scan-report/junit".to_owned()
            ),
        ]
    );

    let texts: Vec<&[u8]> = run
        .runs
        .iter()
        .flat_map(|l| [&l.stdout[..], &l.stderr[..]])
        .collect();
    assert_no_secret(work.path(), &texts);

    let recorded = recorded(work.path());
    assert_eq!(
        recorded.argv,
        [
            "analyze",
            "--all-tags",
            "--sbom-out=sbom.json",
            "--report-dir=inline-scan-report",
            "--",
            "docker-archive:/tmp/app.tar",
        ]
    );
    assert_eq!(
        recorded.password, "match",
        "password_variable was not followed"
    );
    assert!(recorded.environment_names.contains("CIRCLECI"));
}

// ---------------------------------------------------------------------------------------------
// Running the wrappers with the real binary against the fake Anchore

/// The Anchore password the fake accepts. Neither it nor the registry password may show up in
/// any argv, output, report, log or file.
const ANCHORE_SECRET: &str = "Anchore-s3cret-7f2c9e";
/// The registry password the wrappers pipe to --registry-password-stdin. The image comes from
/// an archive, so the binary reads it but never sends it.
const REGISTRY_SECRET: &str = "Registry-s3cret-41d0b8";
const WHITEOUT_DIGEST: &str =
    "sha256:59d7d435b9c329a3641b69d8d9d48d893a427adb71e0c7e335e3f0f93f06db20";

/// Returns the binary the real runs use: INLINE_SCAN_WRAPPER_BINARY (e.g. a release build), or
/// the one cargo built for this test.
fn real_binary() -> PathBuf {
    std::env::var_os("INLINE_SCAN_WRAPPER_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_inline-scan")),
        PathBuf::from,
    )
}

fn whiteout_image() -> String {
    format!(
        "docker-archive:{}",
        repo()
            .join("tests/fixtures/images/multilayer-whiteout.docker.tar")
            .display()
    )
}

/// A fake Anchore (API v2) that accepts `admin` with [`ANCHORE_SECRET`], and the runtime that
/// serves it while the wrapper runs as a blocking child process.
struct FakeServer {
    fake: fake_anchore::FakeAnchore,
    _runtime: tokio::runtime::Runtime,
}

fn start_fake() -> FakeServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut config = fake_anchore::FakeConfig::new(fake_anchore::ApiMode::V2Only);
    config.password = ANCHORE_SECRET.to_owned();
    let fake = runtime.block_on(fake_anchore::FakeAnchore::start(config));
    FakeServer {
        fake,
        _runtime: runtime,
    }
}

/// Environment that puts tests/wrappers/record-argv.sh in front of the real binary.
fn recorder_environment(work: &Path) -> Vec<(String, String)> {
    vec![
        (
            "RECORD_ARGV_LOG".into(),
            work.join("argv.log").display().to_string(),
        ),
        (
            "RECORD_ARGV_BINARY".into(),
            real_binary().display().to_string(),
        ),
    ]
}

fn recorder() -> String {
    repo()
        .join("tests/wrappers/record-argv.sh")
        .display()
        .to_string()
}

/// Returns the argv of every binary run, as record-argv.sh logged them.
fn recorded_argvs(work: &Path) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(work.join("argv.log")).unwrap_or_default();
    log.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| block.lines().map(str::to_owned).collect())
        .collect()
}

/// Fails when either secret appears in `texts` (outputs, logs, the scripts and argv given to
/// bash) or in any file under `folder`. GitHub's `::add-mask::` lines are left out, because
/// the runner consumes them and hides their values in every later line instead of printing
/// them.
fn assert_no_secrets(folder: &Path, texts: &[&[u8]]) {
    for (name, secret) in [("Anchore", ANCHORE_SECRET), ("registry", REGISTRY_SECRET)] {
        for (index, text) in texts.iter().enumerate() {
            let leaked = String::from_utf8_lossy(text)
                .lines()
                .filter(|line| !line.starts_with("::add-mask::"))
                .any(|line| line.contains(secret));
            assert!(
                !leaked,
                "the {name} password leaked into output or argv number {index}"
            );
        }
        let mut pending = vec![folder.to_path_buf()];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(secret),
                    "a secret leaked into {}",
                    path.display()
                );
            }
        }
    }
}

/// Checks the one binary run record-argv.sh logged: the registry password went to standard
/// input (the flag is there, no password is), and no argument contains a secret.
fn assert_binary_argv(work: &Path) -> Vec<String> {
    let argvs = recorded_argvs(work);
    assert_eq!(argvs.len(), 1, "the binary ran {} times", argvs.len());
    let argv = argvs[0].clone();
    assert_eq!(argv[1], "analyze");
    assert!(argv.contains(&"--registry-username=ci-bot".to_owned()));
    assert!(argv.contains(&"--registry-password-stdin".to_owned()));
    assert_eq!(argv.last().unwrap(), &whiteout_image());
    for argument in &argv {
        assert!(!argument.contains(ANCHORE_SECRET), "{argument}");
        assert!(!argument.contains(REGISTRY_SECRET), "{argument}");
    }
    argv
}

fn assert_fake_analyzed(server: &FakeServer) {
    assert_eq!(
        server.fake.image_status(WHITEOUT_DIGEST).as_deref(),
        Some("analyzed"),
        "the fake Anchore did not finish analyzing the import"
    );
}

fn expected_packages_by_type() -> serde_json::Value {
    serde_json::json!({ "npm": 3, "python": 3 })
}

#[test]
fn github_action_imports_with_real_binary() {
    let server = start_fake();
    let work = new_work();
    let sbom_out = format!(
        "syft-json={}\ncyclonedx-json={}\n",
        work.path().join("sbom.syft.json").display(),
        work.path().join("sbom.cdx.json").display()
    );
    let binary = recorder();
    let image = whiteout_image();
    let inputs = BTreeMap::from([
        ("binary", binary.as_str()),
        ("image", image.as_str()),
        ("url", server.fake.url.as_str()),
        ("username", "admin"),
        ("registry-username", "ci-bot"),
        ("sbom-out", sbom_out.as_str()),
        ("timeout", "60"),
    ]);
    let mut caller_env = recorder_environment(work.path());
    caller_env.push(("ANCHORE_CLI_PASS".into(), ANCHORE_SECRET.into()));
    caller_env.push((
        "INLINE_SCAN_REGISTRY_PASSWORD".into(),
        REGISTRY_SECRET.into(),
    ));
    let caller_env: Vec<(&str, &str)> = caller_env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let run = run_action(&repo(), work.path(), &inputs, &caller_env);
    for log in &run.logs {
        assert!(log.status.success(), "{}", describe(log));
    }
    let outputs = &run.outputs["analyze"];
    assert_eq!(outputs["status"], "ok");
    assert_eq!(outputs["exit-code"], "0");
    assert_eq!(outputs["digest"], WHITEOUT_DIGEST);
    assert_eq!(outputs["package-count"], "6");
    let by_type: serde_json::Value = serde_json::from_str(&outputs["packages-by-type"]).unwrap();
    assert_eq!(by_type, expected_packages_by_type());
    assert_eq!(outputs["analysis-status"], "analyzed");
    assert_eq!(outputs["policy-status"], "pass");
    assert!(run.summary.contains(WHITEOUT_DIGEST), "{}", run.summary);
    assert!(work.path().join("sbom.syft.json").is_file());
    assert!(work.path().join("sbom.cdx.json").is_file());
    assert_fake_analyzed(&server);

    let argv = assert_binary_argv(work.path());
    assert!(argv.contains(&format!(
        "--sbom-out=cyclonedx-json={}",
        work.path().join("sbom.cdx.json").display()
    )));
    let mut texts: Vec<&[u8]> = run
        .logs
        .iter()
        .flat_map(|l| [&l.stdout[..], &l.stderr[..]])
        .collect();
    texts.push(run.scripts.as_bytes());
    assert_no_secrets(work.path(), &texts);
    let stdout = String::from_utf8_lossy(&run.logs[1].stdout);
    assert!(
        stdout
            .lines()
            .any(|line| line == format!("::add-mask::{ANCHORE_SECRET}")),
        "the binary did not mask the Anchore password"
    );
}

#[test]
fn gitlab_job_imports_with_real_binary() {
    let server = start_fake();
    let work = new_work();
    let given = [
        (
            "scanner_image",
            Value::String(format!(
                "127.0.0.1:5000/inline-scan@sha256:{}",
                "1".repeat(64)
            )),
        ),
        ("image", Value::String(whiteout_image())),
        ("url", Value::String(server.fake.url.clone())),
        ("username", Value::String("admin".into())),
        ("registry_username", Value::String("ci-bot".into())),
        (
            "registry_password_variable",
            Value::String("SCAN_REGISTRY_PASSWORD".into()),
        ),
        ("sbom_out", Value::String("sbom.syft.json".into())),
        ("timeout", Value::String("60".into())),
    ];
    let mut masked = recorder_environment(work.path());
    masked.push(("INLINE_SCAN_BIN".into(), recorder()));
    masked.push(("ANCHORE_CLI_PASS".into(), ANCHORE_SECRET.into()));
    masked.push(("SCAN_REGISTRY_PASSWORD".into(), REGISTRY_SECRET.into()));
    let masked: Vec<(&str, &str)> = masked
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let (job, output) = run_gitlab_job(work.path(), &given, &masked);
    assert!(output.status.success(), "{}", describe(&output));
    let report_dir = work.path().join("inline-scan-report");
    let dotenv = std::fs::read_to_string(report_dir.join("inline-scan.env")).unwrap();
    let values: BTreeMap<&str, &str> = dotenv
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    assert_eq!(values["INLINE_SCAN_STATUS"], "ok");
    assert_eq!(values["INLINE_SCAN_DIGEST"], WHITEOUT_DIGEST);
    assert_eq!(values["INLINE_SCAN_PACKAGE_COUNT"], "6");
    let by_type: serde_json::Value =
        serde_json::from_str(values["INLINE_SCAN_PACKAGES_BY_TYPE"]).unwrap();
    assert_eq!(by_type, expected_packages_by_type());
    assert_eq!(values["INLINE_SCAN_ANALYSIS_STATUS"], "analyzed");
    assert_eq!(values["INLINE_SCAN_POLICY_STATUS"], "pass");
    let annotations: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("gitlab-annotations.json")).unwrap())
            .unwrap();
    let link = annotations["inline-scan"][0]["external_link"]["url"]
        .as_str()
        .unwrap_or_default();
    assert!(link.contains(WHITEOUT_DIGEST), "{annotations}");
    assert!(work.path().join("sbom.syft.json").is_file());
    assert_fake_analyzed(&server);

    // The CycloneDX report under the name artifacts:reports:cyclonedx matches.
    let cyclonedx_pattern = text(&job["artifacts"]["reports"]["cyclonedx"]);
    let cyclonedx = report_dir.join("gl-sbom-inline-scan.cdx.json");
    assert!(
        cyclonedx_pattern.ends_with("/gl-sbom-*.cdx.json"),
        "{cyclonedx_pattern}"
    );
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cyclonedx).expect("the CycloneDX report")).unwrap();
    assert_eq!(document["bomFormat"], "CycloneDX");
    assert_eq!(document["components"].as_array().map(Vec::len), Some(6));

    // The steps are folded into a collapsed section and the summary has its own section.
    let log = String::from_utf8_lossy(&output.stderr);
    let steps_start = log
        .find(":inline_scan_steps[collapsed=true]\r\x1b[0Kinline-scan steps")
        .unwrap_or_else(|| panic!("no collapsed steps section in {log:?}"));
    let steps_end = log
        .find(":inline_scan_steps\r\x1b[0K")
        .filter(|end| *end > steps_start)
        .expect("the steps section is closed");
    assert!(
        log[steps_start..steps_end].contains("cataloging packages"),
        "{log:?}"
    );
    let summary = log
        .find(":inline_scan_summary\r\x1b[0Kinline-scan summary")
        .expect("a summary section");
    assert!(
        summary > steps_end && log[summary..].contains(WHITEOUT_DIGEST),
        "{log:?}"
    );
    assert!(log.contains("section_end:"), "{log:?}");
    assert_eq!(log.matches("section_start:").count(), 2, "{log:?}");

    assert_binary_argv(work.path());
    let script = text(&job["script"][0]);
    assert_no_secrets(
        work.path(),
        &[&output.stdout, &output.stderr, script.as_bytes()],
    );
}

#[test]
fn circleci_command_imports_with_real_binary() {
    let server = start_fake();
    let work = new_work();
    let binary = recorder();
    let image = whiteout_image();
    let given = [
        ("binary", binary.as_str()),
        ("image", image.as_str()),
        ("url", server.fake.url.as_str()),
        ("username", "admin"),
        ("registry_username", "ci-bot"),
        ("sbom_out", "sbom.syft.json"),
        ("timeout", "60"),
    ];
    let mut project_env = recorder_environment(work.path());
    project_env.push(("ANCHORE_CLI_PASS".into(), ANCHORE_SECRET.into()));
    project_env.push((
        "INLINE_SCAN_REGISTRY_PASSWORD".into(),
        REGISTRY_SECRET.into(),
    ));
    let project_env: Vec<(&str, &str)> = project_env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let run = run_circleci_command(work.path(), &given, &project_env);
    assert_eq!(run.runs.len(), 2, "both run steps ran");
    for step in &run.runs {
        assert!(step.status.success(), "{}", describe(step));
    }
    let report_dir = work.path().join("inline-scan-report");
    let junit = std::fs::read_to_string(report_dir.join("junit/inline-scan.xml")).unwrap();
    assert!(junit.contains("<testcase"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("artifacts/result.json")).unwrap())
            .unwrap();
    let result = &saved["result"];
    assert_eq!(result["status"], "ok");
    assert_eq!(result["identity"]["digest"], WHITEOUT_DIGEST);
    assert_eq!(result["packages"]["total"], 6);
    assert_eq!(result["packages"]["byType"], expected_packages_by_type());
    assert_eq!(result["evaluation"]["policyStatus"], "pass");
    assert_eq!(result["import"]["analysisStatus"], "analyzed");
    assert!(report_dir.join("artifacts/sbom.syft.json").is_file());
    assert_fake_analyzed(&server);

    assert_binary_argv(work.path());
    let mut texts: Vec<&[u8]> = run
        .runs
        .iter()
        .flat_map(|l| [&l.stdout[..], &l.stderr[..]])
        .collect();
    texts.push(run.scripts.as_bytes());
    assert_no_secrets(work.path(), &texts);
}

/// Writes a bundle of the whiteout image with the real binary and no Anchore, as the build job of
/// a pipeline that imports later would.
fn write_whiteout_bundle(work: &Path) -> PathBuf {
    let bundle = work.join("bundle");
    let output = Command::new(real_binary())
        .args(["analyze", "--no-import", "--bundle-out"])
        .arg(&bundle)
        .arg(whiteout_image())
        .env_remove("ANCHORE_CLI_URL")
        .env_remove("ANCHORE_CLI_PASS")
        .output()
        .expect("run inline-scan");
    assert!(output.status.success(), "{}", describe(&output));
    bundle
}

/// Checks that the binary ran once, as `inline-scan import -- BUNDLE`.
fn assert_import_argv(work: &Path, bundle: &Path) {
    let argvs = recorded_argvs(work);
    assert_eq!(argvs.len(), 1, "the binary ran {} times", argvs.len());
    let argv = &argvs[0];
    assert_eq!(argv[1], "import", "{argv:?}");
    assert_eq!(argv.last().unwrap(), &bundle.display().to_string());
    assert!(
        argv.iter()
            .all(|argument| !argument.contains(ANCHORE_SECRET)),
        "{argv:?}"
    );
}

#[test]
fn github_action_imports_bundle() {
    let server = start_fake();
    let work = new_work();
    let bundle = write_whiteout_bundle(work.path());
    let binary = recorder();
    let bundle_text = bundle.display().to_string();
    let inputs = BTreeMap::from([
        ("binary", binary.as_str()),
        ("bundle", bundle_text.as_str()),
        ("url", server.fake.url.as_str()),
        ("username", "admin"),
        ("timeout", "60"),
    ]);
    let mut caller_env = recorder_environment(work.path());
    caller_env.push(("ANCHORE_CLI_PASS".into(), ANCHORE_SECRET.into()));
    let caller_env: Vec<(&str, &str)> = caller_env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let run = run_action(&repo(), work.path(), &inputs, &caller_env);
    for log in &run.logs {
        assert!(log.status.success(), "{}", describe(log));
    }
    let outputs = &run.outputs["analyze"];
    assert_eq!(outputs["status"], "ok");
    assert_eq!(outputs["digest"], WHITEOUT_DIGEST);
    assert_eq!(outputs["analysis-status"], "analyzed");
    assert_eq!(outputs["policy-status"], "pass");
    assert!(run.summary.contains(WHITEOUT_DIGEST), "{}", run.summary);
    assert_fake_analyzed(&server);
    assert_import_argv(work.path(), &bundle);
    let mut texts: Vec<&[u8]> = run
        .logs
        .iter()
        .flat_map(|l| [&l.stdout[..], &l.stderr[..]])
        .collect();
    texts.push(run.scripts.as_bytes());
    assert_no_secrets(work.path(), &texts);
}

#[test]
fn github_action_rejects_analyze_inputs_with_bundle() {
    let work = new_work();
    let binary = recorder();
    for (name, value) in [
        ("image", "app:1"),
        ("platform", "linux/arm64"),
        ("pull", "true"),
    ] {
        let inputs = BTreeMap::from([
            ("binary", binary.as_str()),
            ("bundle", "/tmp/bundle"),
            (name, value),
        ]);
        let env = recorder_environment(work.path());
        let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let run = run_action(&repo(), work.path(), &inputs, &env);
        let analyze = run.logs.last().expect("the analyze step ran");
        assert!(!analyze.status.success(), "{name} was accepted with bundle");
        let message = String::from_utf8_lossy(&analyze.stderr);
        let expected = if name == "image" {
            "both the image and the bundle"
        } else {
            "applies to analyzing an image"
        };
        assert!(message.contains(expected), "{name}: {message}");
        assert!(recorded_argvs(work.path()).is_empty(), "the binary ran");
    }
}

#[test]
fn gitlab_job_imports_bundle() {
    let server = start_fake();
    let work = new_work();
    let bundle = write_whiteout_bundle(work.path());
    let given = [
        (
            "scanner_image",
            Value::String(format!(
                "127.0.0.1:5000/inline-scan@sha256:{}",
                "1".repeat(64)
            )),
        ),
        ("bundle", Value::String(bundle.display().to_string())),
        ("url", Value::String(server.fake.url.clone())),
        ("username", Value::String("admin".into())),
        ("timeout", Value::String("60".into())),
    ];
    let mut masked = recorder_environment(work.path());
    masked.push(("INLINE_SCAN_BIN".into(), recorder()));
    masked.push(("ANCHORE_CLI_PASS".into(), ANCHORE_SECRET.into()));
    let masked: Vec<(&str, &str)> = masked
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let (job, output) = run_gitlab_job(work.path(), &given, &masked);
    assert!(output.status.success(), "{}", describe(&output));
    let report_dir = work.path().join("inline-scan-report");
    let dotenv = std::fs::read_to_string(report_dir.join("inline-scan.env")).unwrap();
    let values: BTreeMap<&str, &str> = dotenv
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    assert_eq!(values["INLINE_SCAN_STATUS"], "ok");
    assert_eq!(values["INLINE_SCAN_DIGEST"], WHITEOUT_DIGEST);
    assert_eq!(values["INLINE_SCAN_ANALYSIS_STATUS"], "analyzed");
    assert_fake_analyzed(&server);
    assert_import_argv(work.path(), &bundle);
    let script = text(&job["script"][0]);
    assert_no_secrets(
        work.path(),
        &[&output.stdout, &output.stderr, script.as_bytes()],
    );
}

#[test]
fn circleci_command_imports_bundle() {
    let server = start_fake();
    let work = new_work();
    let bundle = write_whiteout_bundle(work.path());
    let binary = recorder();
    let bundle_text = bundle.display().to_string();
    let given = [
        ("binary", binary.as_str()),
        ("bundle", bundle_text.as_str()),
        ("url", server.fake.url.as_str()),
        ("username", "admin"),
        ("timeout", "60"),
    ];
    let mut project_env = recorder_environment(work.path());
    project_env.push(("ANCHORE_CLI_PASS".into(), ANCHORE_SECRET.into()));
    let project_env: Vec<(&str, &str)> = project_env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let run = run_circleci_command(work.path(), &given, &project_env);
    for step in &run.runs {
        assert!(step.status.success(), "{}", describe(step));
    }
    let report_dir = work.path().join("inline-scan-report");
    let junit = std::fs::read_to_string(report_dir.join("junit/inline-scan.xml")).unwrap();
    assert!(junit.contains("<testcase"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("artifacts/result.json")).unwrap())
            .unwrap();
    assert_eq!(saved["result"]["identity"]["digest"], WHITEOUT_DIGEST);
    assert_eq!(saved["result"]["import"]["analysisStatus"], "analyzed");
    assert_fake_analyzed(&server);
    assert_import_argv(work.path(), &bundle);
    let mut texts: Vec<&[u8]> = run
        .runs
        .iter()
        .flat_map(|l| [&l.stdout[..], &l.stderr[..]])
        .collect();
    texts.push(run.scripts.as_bytes());
    assert_no_secrets(work.path(), &texts);
}

// ---------------------------------------------------------------------------------------------
// Report files written by the binary's report layer

fn sample_result() -> inline_scan::report::RunResult {
    use inline_scan::report::{IdentitySummary, ImportSummary, PackageCounts, RunResult};
    RunResult {
        image: "app:1".into(),
        status: "ok",
        identity: Some(IdentitySummary {
            digest: format!("sha256:{}", "a".repeat(64)),
            image_id: format!("sha256:{}", "b".repeat(64)),
            local_image_id: "b".repeat(64),
            manifest_origin: inline_scan::image::identity::ManifestOrigin::Source,
            manifest_media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            parent_digest: None,
            tags: vec![
                "127.0.0.1:5000/app:1".into(),
                "127.0.0.1:5000/app:latest".into(),
            ],
        }),
        packages: Some(PackageCounts {
            total: 2,
            by_type: BTreeMap::from([("deb".to_owned(), 2)]),
        }),
        import: Some(ImportSummary {
            api_version: "v2".into(),
            url: "http://127.0.0.1:8228".into(),
            operation_id: "op-1".into(),
            analysis_status: "analyzed".into(),
            image_url: format!("http://127.0.0.1:8228/v2/images/sha256:{}", "a".repeat(64)),
        }),
        warnings: vec!["dpkg status entry without Package: line 4".into()],
        ..RunResult::default()
    }
}

#[test]
fn reports_write_platform_files() {
    use inline_scan::report::platform::{Platform, ReportContext, write_reports};

    let work = new_work();
    let result = sample_result();
    let sbom = work.path().join("sbom.json");
    std::fs::write(&sbom, "{}").unwrap();
    let result = inline_scan::report::RunResult {
        sbom_path: Some(sbom.display().to_string()),
        ..result
    };
    let output_file = work.path().join("github-output");
    let summary_file = work.path().join("summary.md");
    std::fs::write(&output_file, "earlier=1\n").unwrap();
    let env_values = BTreeMap::from([
        ("GITHUB_OUTPUT", output_file.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary_file.display().to_string()),
    ]);
    let env = |name: &str| env_values.get(name).cloned();
    let report_dir = work.path().join("reports");
    let context = ReportContext {
        result: &result,
        evaluation: None,
        report_dir: &report_dir,
        env: &env,
    };

    let github = write_reports(Platform::Github, &context).unwrap();
    let outputs = parse_github_output(&std::fs::read_to_string(&output_file).unwrap());
    assert_eq!(outputs["earlier"], "1", "earlier outputs were overwritten");
    assert_eq!(outputs["digest"], format!("sha256:{}", "a".repeat(64)));
    assert_eq!(
        outputs["tags"],
        "127.0.0.1:5000/app:1\n127.0.0.1:5000/app:latest"
    );
    assert_eq!(outputs["package-count"], "2");
    assert!(!outputs.contains_key("policy-status"));
    assert!(
        std::fs::read_to_string(&summary_file)
            .unwrap()
            .contains("| Status | ok |")
    );
    assert!(
        github
            .stdout
            .contains("::warning title=inline-scan%3A app%3A1::dpkg status entry")
    );

    let gitlab = write_reports(Platform::Gitlab, &context).unwrap();
    assert_eq!(gitlab.files.len(), 2);
    let annotations: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("gitlab-annotations.json")).unwrap())
            .unwrap();
    let url = &annotations["inline-scan"][0]["external_link"]["url"];
    assert_eq!(
        url,
        &serde_json::Value::String(result.import.as_ref().unwrap().image_url.clone())
    );
    let dotenv = std::fs::read_to_string(report_dir.join("inline-scan.env")).unwrap();
    assert!(dotenv.contains("INLINE_SCAN_STATUS=ok\n"), "{dotenv}");

    write_reports(Platform::Circleci, &context).unwrap();
    let junit = std::fs::read_to_string(report_dir.join("junit/inline-scan.xml")).unwrap();
    assert!(junit.contains("<testcase classname=\"inline-scan\" name=\"app:1\""));
    assert!(!junit.contains("<failure"));
    assert_eq!(
        std::fs::read_to_string(report_dir.join("artifacts/sbom.syft.json")).unwrap(),
        "{}"
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("artifacts/result.json")).unwrap())
            .unwrap();
    assert_eq!(saved["result"]["status"], "ok");
}

#[test]
fn github_report_requires_runner_files() {
    use inline_scan::report::platform::{Platform, ReportContext, write_reports};
    let result = sample_result();
    let env = |_: &str| None;
    let context = ReportContext {
        result: &result,
        evaluation: None,
        report_dir: Path::new("unused"),
        env: &env,
    };
    let error = write_reports(Platform::Github, &context).unwrap_err();
    assert!(
        error.to_string().contains("GITHUB_OUTPUT is not set"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Container image

fn docker_available() -> bool {
    let available = Command::new(docker_client())
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        available || !is_ci(),
        "the Docker daemon is not reachable; start it with .ci/start-dockerd.sh"
    );
    if !available {
        eprintln!("skipped: no Docker daemon");
    }
    available
}

/// Picks the Docker client: INLINE_SCAN_DOCKER, else Debian's docker.io client, whose built-in
/// BuildKit needs no buildx plugin, else `docker` on PATH.
fn docker_client() -> PathBuf {
    if let Some(client) = std::env::var_os("INLINE_SCAN_DOCKER") {
        return PathBuf::from(client);
    }
    let debian = PathBuf::from("/usr/bin/docker");
    if debian.is_file() {
        debian
    } else {
        PathBuf::from("docker")
    }
}

fn docker(arguments: &[&str]) -> Output {
    Command::new(docker_client())
        .args(arguments)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .unwrap()
}

/// Builds a root file system from the host's bash, coreutils and their shared libraries,
/// enough for CI job shells, and imports it as an image.
fn import_base_image(tag: &str, work: &Path) {
    import_base_image_for(tag, work, None);
}

/// Like [`import_base_image`], and also copies the shared libraries `binary` links against, so
/// a dynamically linked binary can run in the image.
fn import_base_image_for(tag: &str, work: &Path, binary: Option<&Path>) {
    let rootfs = work.join("rootfs");
    if let Some(binary) = binary {
        let libraries = Command::new("ldd").arg(binary).output().unwrap();
        for line in String::from_utf8_lossy(&libraries.stdout).lines() {
            let Some(library) = line.split_whitespace().find(|w| w.starts_with('/')) else {
                continue;
            };
            let target = rootfs.join(library.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(std::fs::canonicalize(library).unwrap(), &target).unwrap();
        }
    }
    let programs = [
        "bash",
        "sh",
        "mkdir",
        "chown",
        "id",
        "tr",
        "cat",
        "sort",
        "cut",
        "sha256sum",
        "ls",
        "env",
    ];
    for program in programs {
        let found = Command::new("bash")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .unwrap();
        let path = PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
        assert!(path.is_absolute(), "{program} not found on the host");

        let real = std::fs::canonicalize(&path).unwrap();
        let mut files = vec![real.clone()];
        let libraries = Command::new("ldd").arg(&real).output().unwrap();
        for line in String::from_utf8_lossy(&libraries.stdout).lines() {
            let candidate = line.split_whitespace().find(|w| w.starts_with('/'));
            if let Some(library) = candidate {
                files.push(PathBuf::from(library));
            }
        }

        for file in files {
            let target = rootfs.join(file.strip_prefix("/").unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(std::fs::canonicalize(&file).unwrap(), &target).unwrap();
        }

        let link = rootfs.join("bin").join(program);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        if !link.exists() {
            std::os::unix::fs::symlink(&real, &link).unwrap();
        }
    }

    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    std::fs::set_permissions(
        rootfs.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    std::fs::create_dir_all(rootfs.join("usr/local/bin")).unwrap();

    let archive = work.join("rootfs.tar");
    let tar = Command::new("tar")
        .args([
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            archive.to_str().unwrap(),
            ".",
        ])
        .output()
        .unwrap();
    assert!(tar.status.success(), "{}", describe(&tar));

    let imported = docker(&[
        "import",
        "--change",
        "ENV PATH=/usr/local/bin:/usr/bin:/bin",
        archive.to_str().unwrap(),
        tag,
    ]);
    assert!(imported.status.success(), "{}", describe(&imported));
}

#[test]
fn docker_image_runs_binary_as_non_root() {
    if !docker_available() {
        return;
    }
    let work = new_work();
    let suffix = std::process::id();
    let base = format!("inline-scan-wrappers-test/base:{suffix}");
    let image = format!("inline-scan-wrappers-test/scanner:{suffix}");
    import_base_image(&base, work.path());

    let context = work.path().join("context");
    std::fs::create_dir_all(context.join("target/release")).unwrap();
    std::fs::copy(repo().join("Dockerfile"), context.join("Dockerfile")).unwrap();
    std::fs::copy(repo().join(".dockerignore"), context.join(".dockerignore")).unwrap();
    std::fs::copy(stand_in(), context.join("target/release/inline-scan")).unwrap();
    let build = docker(&[
        "build",
        "--network",
        "none",
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "--build-arg",
        &format!("BUILDER_IMAGE={base}"),
        "--build-arg",
        "BINARY_STAGE=prebuilt",
        "-t",
        &image,
        context.to_str().unwrap(),
    ]);
    let cleanup = || {
        docker(&["rmi", "-f", &image]);
        docker(&["rmi", "-f", &base]);
    };
    if !build.status.success() {
        cleanup();
        panic!("{}", describe(&build));
    }

    let user = docker(&["run", "--rm", "--network", "none", &image, "id", "-u"]);
    let inspect = docker(&["image", "inspect", "--format", "{{.Config.User}}", &image]);
    let scripts = repo().join("scripts/wrappers");
    let mount = format!("{}:/wrappers:ro", scripts.display());
    let analyze = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &mount,
        "-e",
        "STAND_IN_LOG=/tmp/stand-in",
        "-e",
        "INLINE_SCAN_INPUT_IMAGE=docker-archive:/tmp/app.tar",
        "-e",
        "INLINE_SCAN_INPUT_PULL=true",
        &image,
        "bash",
        "-c",
        "bash /wrappers/analyze.sh && cat /tmp/stand-in.argv",
    ]);
    let added = files_added_by_image(&base, &image, work.path());
    cleanup();
    assert_eq!(
        added,
        BTreeSet::from([
            "home".to_owned(),
            "home/inline-scan".to_owned(),
            "usr/local/bin/inline-scan".to_owned()
        ]),
        "the image adds more than the binary and the home folder"
    );
    assert!(user.status.success(), "{}", describe(&user));
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "10001");
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        "10001:10001"
    );
    assert!(analyze.status.success(), "{}", describe(&analyze));
    let argv = String::from_utf8_lossy(&analyze.stdout);
    assert!(
        argv.contains("analyze\n--pull\n--\ndocker-archive:/tmp/app.tar\n"),
        "{argv}"
    );
}

#[test]
fn manifest_paths_match_report_files() {
    use inline_scan::report::{circleci, gitlab};

    let report_dir = registry_default("report-dir");
    let component = gitlab_job("gitlab/templates/inline-scan.yml");
    let classic = gitlab_job("gitlab/inline-scan.gitlab-ci.yml");
    let component_reports = &component["artifacts"]["reports"];
    let classic_reports = &classic["artifacts"]["reports"];
    assert_eq!(
        text(&component_reports["annotations"]),
        format!("$[[ inputs.report_dir ]]/{}", gitlab::ANNOTATIONS_FILE)
    );
    assert_eq!(
        text(&component_reports["dotenv"]),
        format!("$[[ inputs.report_dir ]]/{}", gitlab::DOTENV_FILE)
    );
    assert_eq!(
        text(&classic_reports["annotations"]),
        format!("{report_dir}/{}", gitlab::ANNOTATIONS_FILE)
    );
    assert_eq!(
        text(&classic_reports["dotenv"]),
        format!("{report_dir}/{}", gitlab::DOTENV_FILE)
    );

    let orb = orb();
    let steps = orb["commands"]["analyze"]["steps"].as_sequence().unwrap();
    let stored: BTreeMap<String, String> = steps
        .iter()
        .filter_map(|step| {
            let (kind, body) = step.as_mapping()?.iter().next()?;
            let path = body.get("path")?;
            Some((text(kind), text(path)))
        })
        .collect();
    assert_eq!(
        stored["store_artifacts"],
        format!("<< parameters.report_dir >>/{}", circleci::ARTIFACTS_DIR)
    );
    assert_eq!(
        stored["store_test_results"],
        format!("<< parameters.report_dir >>/{}", circleci::JUNIT_DIR)
    );
}

#[test]
fn action_outputs_match_report_outputs() {
    use inline_scan::report::platform::{Evaluation, outputs};

    let evaluation = Evaluation {
        policy_status: Some("pass".into()),
        vulnerabilities: Some(BTreeMap::new()),
    };
    let names: BTreeSet<String> = outputs(&sample_result(), Some(&evaluation))
        .into_iter()
        .map(|output| output.name.to_owned())
        .collect();
    let action = yaml("action.yml");
    let declared = map(&action, "outputs");
    assert_eq!(keys(declared), names);
    for (name, spec) in declared {
        let name = text(name);
        assert_eq!(
            text(&spec["value"]),
            format!("${{{{ steps.analyze.outputs.{name} }}}}"),
            "output {name}"
        );
        assert!(spec.get("description").is_some(), "output {name}");
    }
}

/// Lists the files and folders of `image` that `base` does not have, from `docker export` of a
/// container of each. Entries Docker itself creates in every container are left out.
fn files_added_by_image(base: &str, image: &str, work: &Path) -> BTreeSet<String> {
    let runtime_entries = [
        ".dockerenv",
        "dev",
        "proc",
        "sys",
        "etc",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "etc/mtab",
    ];
    let list = |reference: &str, name: &str| -> BTreeSet<String> {
        let created = docker(&["create", "--network", "none", reference, "true"]);
        assert!(created.status.success(), "{}", describe(&created));
        let container = String::from_utf8_lossy(&created.stdout).trim().to_owned();
        let archive = work.join(format!("{name}.tar"));
        let exported = docker(&["export", "--output", archive.to_str().unwrap(), &container]);
        docker(&["rm", "-f", &container]);
        assert!(exported.status.success(), "{}", describe(&exported));
        let mut entries = BTreeSet::new();
        let mut reader = tar::Archive::new(std::fs::File::open(&archive).unwrap());
        for entry in reader.entries().unwrap() {
            let path = entry.unwrap().path().unwrap().display().to_string();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            let is_runtime = runtime_entries.contains(&path.as_str()) || path.starts_with("dev/");
            if !path.is_empty() && !is_runtime {
                entries.insert(path);
            }
        }
        entries
    };
    let before = list(base, "base");
    let after = list(image, "image");
    after.difference(&before).cloned().collect()
}

/// The scanner image, built with the real binary, analyzes an image in the host's daemon through
/// a mounted socket, as the GitLab and CircleCI wrappers run it.
#[test]
fn docker_image_analyzes_through_socket() {
    if !docker_available() {
        return;
    }
    let loaded = docker(&["image", "inspect", "sbomtest/multilayer-whiteout:1"]);
    if !loaded.status.success() {
        let tarball = repo().join("tests/fixtures/images/multilayer-whiteout.docker.tar");
        let load = docker(&["load", "-i", tarball.to_str().unwrap()]);
        assert!(load.status.success(), "{}", describe(&load));
    }
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_inline-scan"));
    let work = new_work();
    let suffix = std::process::id();
    let base = format!("inline-scan-wrappers-test/socket-base:{suffix}");
    let image = format!("inline-scan-wrappers-test/socket-scanner:{suffix}");
    import_base_image_for(&base, work.path(), Some(&binary));

    let context = work.path().join("context");
    std::fs::create_dir_all(context.join("target/release")).unwrap();
    std::fs::copy(repo().join("Dockerfile"), context.join("Dockerfile")).unwrap();
    std::fs::copy(repo().join(".dockerignore"), context.join(".dockerignore")).unwrap();
    std::fs::copy(&binary, context.join("target/release/inline-scan")).unwrap();
    let build = docker(&[
        "build",
        "--network",
        "none",
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "--build-arg",
        &format!("BUILDER_IMAGE={base}"),
        "--build-arg",
        "BINARY_STAGE=prebuilt",
        "-t",
        &image,
        context.to_str().unwrap(),
    ]);
    let cleanup = || {
        docker(&["rmi", "-f", &image]);
        docker(&["rmi", "-f", &base]);
    };
    if !build.status.success() {
        cleanup();
        panic!("{}", describe(&build));
    }

    let socket = "/var/run/docker.sock";
    let group = Command::new("stat")
        .args(["-c", "%g", socket])
        .output()
        .unwrap();
    let group = String::from_utf8_lossy(&group.stdout).trim().to_owned();
    let mount = format!("{socket}:{socket}");
    let analyze = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--group-add",
        &group,
        "-v",
        &mount,
        &image,
        "inline-scan",
        "analyze",
        "--no-import",
        "--report",
        "none",
        "sbomtest/multilayer-whiteout:1",
    ]);
    cleanup();
    assert!(analyze.status.success(), "{}", describe(&analyze));
    assert_eq!(
        String::from_utf8_lossy(&analyze.stdout).trim(),
        "sha256:59d7d435b9c329a3641b69d8d9d48d893a427adb71e0c7e335e3f0f93f06db20"
    );
    let summary = String::from_utf8_lossy(&analyze.stderr);
    assert!(
        summary.contains("packages  6 (npm 3, python 3)"),
        "{summary}"
    );
}
