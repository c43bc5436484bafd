//! Runs the real `p06` binary as a user would: `p06 up` in a child process,
//! reading the banner it prints, and client subcommands against it.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, ChildStdout, Command, Output, Stdio},
};

/// A running `p06 up`.
pub struct Up {
    pub child: Child,
    pub gateway: String,
    pub key: Option<String>,
    pub banner: Vec<String>,
    _stdout: BufReader<ChildStdout>,
}

/// Starts `p06 up` on a free loopback port with data in `dir`; returns once
/// the banner (printed when the gateway answers) is complete.
pub fn up(dir: &Path, env: &[(&str, &str)]) -> Up {
    up_with(dir, env, &[])
}

/// [`up`] with extra arguments (e.g. `--demo`).
pub fn up_with(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Up {
    up_logging(dir, env, extra, Stdio::inherit())
}

/// [`up_with`] writing its log (stderr) to `log`.
pub fn up_logging(dir: &Path, env: &[(&str, &str)], extra: &[&str], log: Stdio) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p06"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("P06_API_KEY")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("p06 starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = Vec::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read banner") == 0 {
            panic!("p06 up exited before it was ready: {:?}", child.wait());
        }
        let line = line.trim_end().to_string();
        let done = line.contains("stop with Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let find = |prefix: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
    };
    let gateway = find("gateway: ").expect("gateway address printed");
    let key = find("export P06_API_KEY=");
    Up {
        child,
        gateway,
        key,
        banner,
        _stdout: stdout,
    }
}

impl Up {
    /// Sends SIGTERM and waits; true when p06 exited successfully.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        self.child.wait().expect("wait").success()
    }
}

/// The body of `GET http://{addr}{path}` (HTTP/1.0, so the server closes),
/// with the status code.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    (code, body.to_string())
}

/// Runs a `p06` client subcommand against `gateway` with `key`.
pub fn p06(gateway: &str, key: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p06"))
        .args(args)
        .env("P06_GATEWAY_URL", gateway)
        .env("P06_API_KEY", key)
        .output()
        .expect("p06 runs")
}

/// Stdout of a successful command.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
