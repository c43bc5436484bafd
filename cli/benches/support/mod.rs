//! What the benchmarks share: `p06 up` (the real binary) on a free port
//! with limits lifted and logs quiet, and its stop.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

/// A running `p06 up`.
pub struct Up {
    pub child: Child,
    pub gateway: String,
    pub key: Option<String>,
}

/// Starts `p06 up` on data in `dir` with `env` and returns once its banner
/// is printed (the gateway answers).
pub fn up(dir: &Path, env: &[(&str, &str)]) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p06"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("P06_GATEWAY__RATE_LIMIT_PER_SECOND", "1000000")
        .env("P06_GATEWAY__RATE_LIMIT_BURST", "1000000")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("p06 starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut gateway, mut key) = (String::new(), None);
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).expect("banner") > 0,
            "p06 up exited early"
        );
        let line = line.trim();
        if let Some(g) = line.strip_prefix("gateway: ") {
            gateway = g.to_string();
        }
        if let Some(k) = line.strip_prefix("export P06_API_KEY=") {
            key = Some(k.to_string());
        }
        if line.contains("stop with Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in out.lines() {});
    Up {
        child,
        gateway,
        key,
    }
}

/// Stops it with SIGTERM and waits.
pub fn stop(mut up: Up) {
    let _ = Command::new("kill")
        .args(["-TERM", &up.child.id().to_string()])
        .status();
    let _ = up.child.wait();
}
