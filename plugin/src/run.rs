//! Dispatch: connects, fetches, renders, writes, and returns the exit code.
//!
//! Data flow: [`Cli`] → [`cluster::connect`] → [`cluster::list`] / [`cluster::get`] → the pure
//! renderers ([`table`], [`why`], [`raw`]) → stdout. Only this module and [`cluster`] have side
//! effects.

use std::io::Write;
use std::process::ExitCode;

use kube::api::DynamicObject;
use serde_json::{json, Value};

use crate::{
    cli::{Cli, Command, Output},
    cluster,
    doc::Doc,
    drill, table, why, Error, Result,
};

/// Runs one command. `Ok` carries the exit code of a command that ran (`why` returns 1 when a
/// condition is not True); errors are printed by `main` with [`Error::exit_code`].
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let conn = cli.conn;
    match cli.command {
        Command::Drill(args) => {
            if conn.all_namespaces {
                return Err(Error::NameWithAllNamespaces);
            }
            let target = cluster::connect(&conn).await?;
            // The VIP must exist: a typo fails here, not as a Refused drill.
            cluster::get(&target.client, &target.namespace, &args.name).await?;
            let created =
                drill::start(&target.client, &target.namespace, drill::spec_of(&args)).await?;
            let name = created.metadata.name.clone().unwrap_or_default();
            if args.no_wait {
                write_out(&format!("postgresvipdrill.pgvip.dev/{name} created\n"))?;
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("postgresvipdrill.pgvip.dev/{name} created; waiting for its result");
            let done = drill::wait(
                &target.client,
                &target.namespace,
                &name,
                drill::wait_limit(args.timeout_seconds),
            )
            .await?;
            write_out(&drill::render(&done))?;
            Ok(ExitCode::from(drill::exit_code(&done)))
        }
        Command::Status { name, output } => {
            if name.is_some() && conn.all_namespaces {
                return Err(Error::NameWithAllNamespaces);
            }
            let target = cluster::connect(&conn).await?;
            let now = chrono::Utc::now();
            let text = match name {
                Some(name) => {
                    let obj = cluster::get(&target.client, &target.namespace, &name).await?;
                    match output {
                        Some(fmt) => raw(&[obj], true, fmt)?,
                        None => table::detail(&cluster::typed(&obj)?, now),
                    }
                }
                None => {
                    let scope = (!conn.all_namespaces).then_some(target.namespace.as_str());
                    let objs = cluster::list(&target.client, scope).await?;
                    match output {
                        Some(fmt) => raw(&objs, false, fmt)?,
                        None if objs.is_empty() => {
                            eprintln!("{}", no_resources(scope));
                            String::new()
                        }
                        None => {
                            let vips = objs
                                .iter()
                                .map(cluster::typed)
                                .collect::<Result<Vec<_>>>()?;
                            table::status_table(&vips, conn.all_namespaces, now)
                        }
                    }
                }
            };
            write_out(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Why { name } => {
            if conn.all_namespaces {
                return Err(Error::NameWithAllNamespaces);
            }
            let target = cluster::connect(&conn).await?;
            let obj = cluster::get(&target.client, &target.namespace, &name).await?;
            let d = why::diagnose(&cluster::typed(&obj)?, Doc::embedded());
            write_out(&d.text)?;
            Ok(if d.all_true {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// kubectl's message for an empty list.
pub fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

/// The objects as `kubectl get -o json|yaml` prints them: one object for a get, a `List` for a
/// list.
pub fn raw(objs: &[DynamicObject], single: bool, fmt: Output) -> Result<String> {
    let value: Value = match (single, objs) {
        (true, [one]) => serde_json::to_value(one)?,
        _ => json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": objs,
        }),
    };
    Ok(match fmt {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(&value)?),
        Output::Yaml => serde_yaml::to_string(&value)?,
    })
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(Error::from),
    }
}
