//! Runs the strict fake Anchore from the test suite as a standalone server on 127.0.0.1, for
//! trying the CI wrappers and the command line without a real Anchore.
//!
//! `cargo run --example fake-anchore -- [--mode v1|v2|both] [--port N]` prints the URL on the
//! first line of standard output and serves until it is killed. The user is `admin` and the
//! password is read from `FAKE_ANCHORE_PASSWORD` (default `fake-password-4711`).

#[path = "../tests/common/fake_anchore.rs"]
#[allow(dead_code)]
mod fake_anchore;

use std::io::Write as _;

use fake_anchore::{ApiMode, FakeAnchore, FakeConfig};

#[tokio::main]
async fn main() {
    let mut mode = ApiMode::Both;
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("v1") => ApiMode::V1Only,
                    Some("v2") => ApiMode::V2Only,
                    Some("both") => ApiMode::Both,
                    other => exit_usage(&format!(
                        "invalid --mode {other:?}: expected v1, v2 or both"
                    )),
                }
            }
            "--port" => {
                port = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .unwrap_or_else(|| exit_usage("--port needs a number"));
            }
            other => exit_usage(&format!("unknown argument {other:?}")),
        }
    }
    let mut config = FakeConfig::new(mode);
    if let Ok(password) = std::env::var("FAKE_ANCHORE_PASSWORD") {
        config.password = password;
    }
    let server = FakeAnchore::start_on_port(config, port).await;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", server.url);
    let _ = stdout.flush();
    drop(stdout);
    let _ = tokio::signal::ctrl_c().await;
}

fn exit_usage(message: &str) -> ! {
    eprintln!("fake-anchore: {message}");
    std::process::exit(1);
}
