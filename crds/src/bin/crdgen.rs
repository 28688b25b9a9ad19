//! Writes the CRD YAML. `crdgen` prints every CRD; `crdgen --write` updates the committed
//! copies; `crdgen --check` exits 1 when a committed copy differs from a fresh generation.
use std::{fs, path::PathBuf, process::ExitCode};

/// Folders holding the committed copies, relative to the workspace root.
const DIRS: [&str; 2] = ["crds", "charts/pgvip/crds"];

fn main() -> ExitCode {
    let crds = match pgvip_api::crd_yamls() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crdgen: cannot render the CRDs: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let targets = || {
        DIRS.iter()
            .flat_map(|d| crds.iter().map(move |(f, y)| (format!("{d}/{f}"), y)))
    };
    match std::env::args().nth(1).as_deref() {
        None => {
            for (_, yaml) in &crds {
                print!("---\n{yaml}");
            }
            ExitCode::SUCCESS
        }
        Some("--write") => {
            for (t, yaml) in targets() {
                let path = root.join(&t);
                if let Some(dir) = path.parent() {
                    let _ = fs::create_dir_all(dir);
                }
                if let Err(e) = fs::write(&path, yaml) {
                    eprintln!("crdgen: cannot write {t}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Some("--check") => {
            let mut ok = true;
            for (t, yaml) in targets() {
                if fs::read_to_string(root.join(&t)).ok().as_deref() != Some(yaml.as_str()) {
                    eprintln!("crdgen: {t} is stale; run `cargo run -p pgvip-api --bin crdgen -- --write`");
                    ok = false;
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some(other) => {
            eprintln!("crdgen: unknown argument {other}; use --write or --check");
            ExitCode::FAILURE
        }
    }
}
