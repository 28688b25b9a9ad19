//! Running host commands: one-shot commands (checked), commands inside a network namespace, and
//! detached long-running processes in their own process group with a pid file and a log file,
//! so `down` can stop them even after the harness that started them died.

use std::{
    fs,
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{killpg, Signal},
    unistd::Pid,
};

use crate::error::{Context, Error, Result};

/// Runs a command to completion; fails with its stderr on a non-zero exit. Returns stdout.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    run_input(program, args, None)
}

/// Like [`run`], feeding `input` on stdin.
pub fn run_input(program: &str, args: &[&str], input: Option<&[u8]>) -> Result<String> {
    use std::io::Write;
    let line = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(format!("starting `{line}`"))?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(data)
            .ctx(format!("writing stdin of `{line}`"))?;
    }
    let out = child
        .wait_with_output()
        .ctx(format!("waiting for `{line}`"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::Command {
            cmd: line,
            status: out.status,
            stderr: tail.trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args` inside network namespace `netns`.
pub fn run_in(netns: &str, program: &str, args: &[&str]) -> Result<String> {
    let mut full = vec!["netns", "exec", netns, program];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// Runs an `ip` command inside `netns` (`ip -n <netns> ...`).
pub fn ip_in(netns: &str, args: &[&str]) -> Result<String> {
    let mut full = vec!["-n", netns];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// Starts a detached process in its own process group, logging to `log` and recording its pid
/// in `pidfile`. The process outlives the harness; [`stop_pidfile`] ends it.
pub fn spawn_detached(cmd: &mut Command, pidfile: &Path, log: &Path) -> Result<u32> {
    let out = fs::File::create(log).ctx(format!("creating {}", log.display()))?;
    let err = out.try_clone().ctx("cloning log handle")?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .ctx(format!("starting {:?}", cmd.get_program()))?;
    let pid = child.id();
    fs::write(pidfile, pid.to_string()).ctx(format!("writing {}", pidfile.display()))?;
    Ok(pid)
}

/// Stops the process group recorded in `pidfile`: SIGTERM, then SIGKILL after `grace`.
/// A missing pid file or an already-gone process is success.
pub fn stop_pidfile(pidfile: &Path, grace: Duration) -> Result<()> {
    let Ok(text) = fs::read_to_string(pidfile) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(());
    };
    stop_group(pid, grace);
    let _ = fs::remove_file(pidfile);
    Ok(())
}

/// SIGKILLs the process group recorded in `pidfile` at once, as a crash would end it.
pub fn kill_pidfile(pidfile: &Path) {
    if let Some(pid) = fs::read_to_string(pidfile)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = fs::remove_file(pidfile);
    }
}

/// SIGTERM to process group `pgid`, SIGKILL if it is still there after `grace`.
pub fn stop_group(pgid: i32, grace: Duration) {
    let pg = Pid::from_raw(pgid);
    if killpg(pg, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if killpg(pg, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(pg, Signal::SIGKILL);
}

/// Whether the process recorded in `pidfile` is alive.
pub fn alive(pidfile: &Path) -> bool {
    fs::read_to_string(pidfile)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .is_some_and(|pid| nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok())
}
