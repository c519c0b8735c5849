//! What a rollback relies on (docs/operations.md, "Migrations go forward only"): the
//! runtime of release N-1 starts against schema N as envctl runs it (`serve` without
//! `--migrate`, RATES_MIGRATE_ON_START=false), while one that migrates by itself refuses a
//! database with a migration it does not know. The real rates binary against a private
//! PostgreSQL; "schema N" is this binary's migrations plus one recorded by a newer release.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::local::rates_bin;

fn psql(url: &str, sql: &str) {
    let psql = pgrig::find_bin_dir().unwrap().join("psql");
    let out = Command::new(psql)
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GET /readyz's status code (0: no answer).
fn readyz(port: u16) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.write_all(b"GET /readyz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_older_runtime_starts_against_a_newer_schema_unless_it_migrates_itself() {
    let url = pgrig::test_database().unwrap();
    let migrate = Command::new(rates_bin())
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    // A newer release's migration, applied by its Job before the rollback.
    psql(
        &url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer release', true, '\\x00', 1)",
    );

    // As envctl deploys it: serves, and answers ready.
    let port = pgrig::free_port().unwrap();
    let mut serve = Command::new(rates_bin())
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("RATES_BIND", format!("127.0.0.1:{port}"))
        .env("RATES_MIGRATE_ON_START", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let status = readyz(port);
        if status == 200 || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(ready, 200, "the N-1 runtime serves against schema N");

    // Migrating by itself, the same runtime refuses the newer schema.
    let out = Command::new(rates_bin())
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("RATES_BIND", "127.0.0.1:0")
        .env("RATES_MIGRATE_ON_START", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("migration 99990101000000 was previously applied but is missing"),
        "{stderr}"
    );
}
