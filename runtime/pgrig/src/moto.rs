//! A private moto server (the AWS API emulator) on a free loopback port, for
//! tests that drive the real aws-sdk-rust clients without a cloud account.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, Error, Result};

/// A running `moto_server`, killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts `moto_server` (from `MOTO_SERVER`, else PATH) on 127.0.0.1 and waits
    /// until it answers.
    pub fn start() -> Result<MotoServer> {
        let program = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .or_else(|| find_on_path("moto_server"))
            .ok_or_else(|| Error::Command {
                step: "finding moto_server".into(),
                status: "not found".into(),
                stderr: "moto_server is not on PATH; run the tests through `bash .ci/test.sh` \
                         (it installs moto into .ci/venv) or `pip install 'moto[server]'`"
                    .into(),
            })?;
        let port = free_port()?;
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Io {
                context: format!("starting {}", program.display()),
                source,
            })?;
        let mut server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = server.child.try_wait().ok().flatten() {
                let mut stderr = String::new();
                if let Some(mut pipe) = server.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(Error::Command {
                    step: "moto_server".into(),
                    status: status.to_string(),
                    stderr,
                });
            }
            if http_post(port, "/moto-api/reset").is_ok() {
                // Nothing reads stderr from here on; don't let a full pipe block moto.
                drop(server.child.stderr.take());
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Command {
            step: "moto_server".into(),
            status: "timeout".into(),
            stderr: format!("no answer on 127.0.0.1:{port} within 30 s"),
        })
    }

    /// The endpoint URL to give the AWS SDK (`endpoint_url`, `AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<()> {
        http_post(self.port, "/moto-api/reset")
    }

    /// Environment variables that point an AWS SDK or CLI at this server with
    /// dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint_url()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_SESSION_TOKEN", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

// A bare HTTP/1.0 POST: enough for moto's control API, no client crate needed here.
fn http_post(port: u16, path: &str) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io {
        context: format!("POST {path} to moto on port {port}"),
        source,
    };
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(Error::Command {
            step: format!("POST {path}"),
            status: response.lines().next().unwrap_or("no response").into(),
            stderr: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_resets_and_stops() {
        let server = MotoServer::start().expect("moto_server on PATH (run through .ci/test.sh)");
        assert!(server.endpoint_url().starts_with("http://127.0.0.1:"));
        server.reset().expect("reset answers 200");
        let port = server.port();
        drop(server);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "killed on drop"
        );
    }
}
