//! Writes the PostgresVip CRD YAML. `crdgen` prints it; `crdgen --write` updates the committed
//! copies; `crdgen --check` exits 1 when a committed copy differs from a fresh generation.
use std::{fs, path::PathBuf, process::ExitCode};

/// Committed copies, relative to the workspace root.
const TARGETS: [&str; 2] = [
    "crds/pgvip.dev_postgresvips.yaml",
    "charts/pgvip/crds/pgvip.dev_postgresvips.yaml",
];

fn main() -> ExitCode {
    let yaml = match pgvip_api::crd_yaml() {
        Ok(y) => y,
        Err(e) => {
            eprintln!("crdgen: cannot render the CRD: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::args().nth(1).as_deref() {
        None => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Some("--write") => {
            for t in TARGETS {
                let path = root.join(t);
                if let Some(dir) = path.parent() {
                    let _ = fs::create_dir_all(dir);
                }
                if let Err(e) = fs::write(&path, &yaml) {
                    eprintln!("crdgen: cannot write {t}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Some("--check") => {
            let mut ok = true;
            for t in TARGETS {
                if fs::read_to_string(root.join(t)).ok().as_deref() != Some(yaml.as_str()) {
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
