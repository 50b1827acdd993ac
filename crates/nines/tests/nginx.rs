//! Real nginx writes a real access log (with `$request_time`); nines ingests it and must
//! count exactly what was served. Needs Debian's `nginx` (scripts/test installs it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OK: usize = 200;
const MISSING: usize = 50;
const FAILING: usize = 30;
const SLOW: usize = 20;

fn nginx_binary() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("nginx not found: install Debian's nginx (scripts/test does this when run as root)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Kills nginx when the test ends, pass or fail.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A deliberately slow upstream: answers every request after 400 ms.
fn slow_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                std::thread::sleep(Duration::from_millis(400));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow",
                );
            });
        }
    });
    port
}

fn get(port: u16, path: &str) -> u16 {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("send: {e}"));
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn nginx_access_log_is_counted_exactly() {
    let nginx = nginx_binary();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    let port = free_port();
    let upstream = slow_upstream();
    let log = root.join("access.log");
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
    access_log {log} timed;
    server {{
        listen 127.0.0.1:{port};
        location = /api/ok      {{ return 200 "ok\n"; }}
        location = /api/missing {{ return 404; }}
        location = /api/fail    {{ return 500; }}
        location = /api/slow    {{ proxy_pass http://127.0.0.1:{upstream}; }}
    }}
}}
"#,
        root = root.display(),
        log = log.display(),
    );
    let conf_path = root.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(&nginx)
        .arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(root)
        // One process (master_process off) and no inherited pipes: killing it leaves no
        // worker behind to hold the test harness's output open.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting nginx: {e}"));
    let _guard = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {:?}",
            std::fs::read_to_string(root.join("error.log"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut served = Vec::new();
    for _ in 0..OK {
        served.push(get(port, "/api/ok?user=1"));
    }
    for _ in 0..MISSING {
        served.push(get(port, "/api/missing"));
    }
    for _ in 0..FAILING {
        served.push(get(port, "/api/fail"));
    }
    let slow: Vec<_> = (0..SLOW)
        .map(|_| std::thread::spawn(move || get(port, "/api/slow")))
        .collect();
    for handle in slow {
        served.push(handle.join().unwrap_or(0));
    }
    assert_eq!(served.iter().filter(|&&s| s == 200).count(), OK + SLOW);
    assert_eq!(served.iter().filter(|&&s| s == 404).count(), MISSING);
    assert_eq!(served.iter().filter(|&&s| s == 500).count(), FAILING);

    // nginx writes the log line after the response; wait until every request is logged.
    let total = OK + MISSING + FAILING + SLOW;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < total
    {
        assert!(Instant::now() < deadline, "nginx did not log every request");
        std::thread::sleep(Duration::from_millis(50));
    }

    let config = root.join("nines.yaml");
    std::fs::write(
        &config,
        r#"apiVersion: nines/v1
services:
  - name: shop
    slos:
      - name: availability
        sli: { kind: availability, source: access_log, total: { path: "^/api/" }, good: { status: "<500" } }
        objective: 99
        window: 30d
      - name: latency
        sli: { kind: latency, source: access_log, total: { path: "^/api/" }, good: { latency: "<=300ms" } }
        objective: 99
        window: 30d
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["ingest", "access-log"])
        .arg(&log)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary["lines"], total);
    assert_eq!(summary["rejected"], 0);
    let availability = &summary["slos"]["shop/availability"];
    assert_eq!(availability["total"], total);
    assert_eq!(availability["good"], total - FAILING);
    let latency = &summary["slos"]["shop/latency"];
    assert_eq!(latency["total"], total);
    assert_eq!(
        latency["good"],
        total - SLOW,
        "the proxied requests took 400 ms each"
    );
}
