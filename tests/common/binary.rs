//! Runs the built `inline-scan` binary with a controlled environment, and checks what a run
//! left on the fake Anchore.
#![allow(dead_code)]

use std::process::Output;

use super::fake_anchore::FakeAnchore;

pub const BINARY: &str = env!("CARGO_BIN_EXE_inline-scan");

/// The password the fake accepts by default.
pub const PASSWORD: &str = "fake-password-4711";

/// Returns a command for the binary with only PATH, HOME, the Docker variables and `env`, so
/// no developer variable reaches a test run.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BINARY);
    command.args(args).env_clear();
    for name in [
        "PATH",
        "HOME",
        "DOCKER_HOST",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    command.envs(env.iter().copied());
    command.stdin(std::process::Stdio::null());
    command.kill_on_drop(true);
    command
}

pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().await.expect("run inline-scan")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Returns `text` without ANSI color sequences, which the log lines on stderr carry.
pub fn without_colors(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip the control sequence up to and including its final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

/// Asserts that no import operation on `fake` is still `pending`, that is, created but
/// neither finalized nor deleted.
pub fn assert_no_open_operation(fake: &FakeAnchore) {
    let open: Vec<(String, String)> = fake
        .operations()
        .into_iter()
        .filter(|(_, status)| status == "pending")
        .collect();
    assert!(open.is_empty(), "operations left open: {open:?}");
}
