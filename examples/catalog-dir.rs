//! Catalogs a directory as if it were an image with one layer and prints the packages and
//! their dependencies as JSON, with syft JSON's key names. scripts/parity.sh runs it on the
//! fixture cases, which are directories and not images.
//!
//! Usage: `cargo run --example catalog-dir -- DIR`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use inline_scan::catalog::registry::{default_catalogers, run, wants_any};
use inline_scan::dir_tree;
use serde_json::json;

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: catalog-dir DIR");
        return ExitCode::from(2);
    };
    let catalogers = default_catalogers();
    let tree = match dir_tree::load(&root, |path| wants_any(&catalogers, path)) {
        Ok(tree) => tree,
        Err(error) => {
            eprintln!("catalog-dir: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (catalog, warnings) = run(&tree, &catalogers);
    for warning in &warnings {
        eprintln!("catalog-dir: warning: {warning}");
    }
    let label = |index: usize| {
        let package = &catalog.packages[index];
        json!({"type": package.kind.as_str(), "name": package.name, "version": package.version})
    };
    let artifacts: Vec<_> = catalog
        .packages
        .iter()
        .map(|package| {
            json!({
                "name": package.name,
                "version": package.version,
                "type": package.kind.as_str(),
                "foundBy": package.found_by,
                "purl": package.purl,
                "cpes": package.cpes.iter().map(|cpe| json!({"cpe": cpe.cpe})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let dependencies: Vec<_> = catalog
        .relationships
        .dependency_of
        .iter()
        .map(|(dependency, dependent)| json!({"parent": label(*dependency), "child": label(*dependent)}))
        .collect();
    let names: Vec<&str> = catalogers
        .iter()
        .map(|cataloger| cataloger.name())
        .collect();
    let document = json!({
        "artifacts": artifacts,
        "dependencies": dependencies,
        "catalogers": names,
    });
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut stdout, &document)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(error) = written {
        eprintln!("catalog-dir: could not write to standard output: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
