//! `p06 serve <service>` as containers run it: one process per service,
//! configured only through `P06_…` variables, talking over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{http_get, ok, p06};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

struct Service {
    child: Child,
    stdout: Vec<String>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `p06 serve <name>` and returns once it logs that it is serving.
fn serve(name: &str, port: u16, env: &[(&str, String)]) -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p06"))
        .args(["serve", name, "--listen", &format!("127.0.0.1:{port}")])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines = std::thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .take(1)
            .collect::<Vec<_>>()
    });
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "p06 serve {name} exited: {:?}",
            child.wait()
        );
        if line.contains("serving") && !line.contains("upstream") {
            break;
        }
    }
    std::thread::spawn(move || for _ in stderr.lines() {});
    let stdout = if name == "gateway" {
        lines.join().unwrap()
    } else {
        Vec::new()
    };
    Service { child, stdout }
}

#[test]
fn services_run_as_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let token = "serve-test-internal-token-0123456789".to_string();
    let (lp, gp, tp) = (free_port(), free_port(), free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let _localities = serve(
        "localities",
        lp,
        &[
            ("P06_INTERNAL_TOKEN", token.clone()),
            ("P06_ADMIN_LISTEN", admin.clone()),
            (
                "P06_LOCALITIES__DATABASE_URL",
                format!(
                    "sqlite:{}",
                    dir.path().join("nested").join("l.db").display()
                ),
            ),
        ],
    );
    let _tasks = serve(
        "tasks",
        tp,
        &[
            ("P06_INTERNAL_TOKEN", token.clone()),
            (
                "P06_TASKS__DATABASE_URL",
                format!("sqlite:{}", dir.path().join("t.db").display()),
            ),
            (
                "P06_TASKS__LOCALITIES_URL",
                format!("http://127.0.0.1:{lp}"),
            ),
        ],
    );
    let gateway = serve(
        "gateway",
        gp,
        &[
            ("P06_INTERNAL_TOKEN", token),
            (
                "P06_GATEWAY__DATABASE_URL",
                format!("sqlite:{}", dir.path().join("g.db").display()),
            ),
            (
                "P06_GATEWAY__LOCALITIES_URL",
                format!("http://127.0.0.1:{lp}"),
            ),
            ("P06_GATEWAY__TASKS_URL", format!("http://127.0.0.1:{tp}")),
        ],
    );
    let key = gateway.stdout[0].rsplit(' ').next().unwrap().to_string();
    assert!(key.starts_with("p06_"), "{:?}", gateway.stdout);
    let url = format!("http://127.0.0.1:{gp}");
    let unit = ok(p06(&url, &key, &["units", "get", "p15-2025"]));
    assert!(unit.contains("Tỉnh Lào Cai"), "{unit}");
    // The service's own admin listener: its metrics under its own name,
    // and readiness that names its database.
    let (code, metrics) = http_get(&admin, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("target_info{") && l.contains("service_name=\"p06-localities\"")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rpc_server_call_duration_seconds_count{")
                && l.contains("rpc_method=\"GetUnit\"")
                && l.contains("p06_component=\"localities\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    let (code, ready) = http_get(&admin, "/readyz");
    assert_eq!((code, ready.trim()), (200, "localities database: ok"));
    let health = ok(p06(
        &url,
        &key,
        &["health", "--address", &format!("http://127.0.0.1:{lp}")],
    ));
    assert_eq!(health.trim(), "SERVING");
    // Tasks answers through the gateway and checks units with localities.
    let created = ok(p06(
        &url,
        &key,
        &[
            "directives",
            "create",
            "--number",
            "06/QĐ-TTg",
            "--type",
            "decision",
            "--date",
            "2022-01-06",
            "--title",
            "Đề án 06",
        ],
    ));
    assert!(
        created.starts_with("directives/06-qd-ttg-2022"),
        "{created}"
    );
    let health = ok(p06(
        &url,
        &key,
        &["health", "--address", &format!("http://127.0.0.1:{tp}")],
    ));
    assert_eq!(health.trim(), "SERVING");
}

#[test]
fn a_service_without_the_internal_credential_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_p06"))
        .args(["serve", "localities", "--listen", "127.0.0.1:0"])
        .env(
            "P06_LOCALITIES__DATABASE_URL",
            format!("sqlite:{}", dir.path().join("l.db").display()),
        )
        .env_remove("P06_INTERNAL_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("internal_token"), "{err}");
}
