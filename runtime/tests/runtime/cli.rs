//! The `rates` binary's commands and configuration errors.

use std::process::{Command, Output};

fn rates(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rates"));
    cmd.args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rates")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let out = rates(&["--help"], &[]);
    assert!(out.status.success());
    insta::assert_snapshot!("help", String::from_utf8(out.stdout).unwrap());
    let out = rates(&["seed", "--help"], &[]);
    assert!(out.status.success());
    insta::assert_snapshot!("seed_help", String::from_utf8(out.stdout).unwrap());
}

#[test]
fn bad_configuration_fails_naming_the_variable() {
    let db = "postgres://postgres@127.0.0.1:1/x";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "DATABASE_URL"),
        (&[("DATABASE_URL", "localhost:5432")], "DATABASE_URL"),
        (
            &[
                ("DATABASE_URL", db),
                ("DATABASE_READ_URL", "http://replica"),
            ],
            "DATABASE_READ_URL",
        ),
        (
            &[("DATABASE_URL", db), ("RATES_BIND", "8080")],
            "RATES_BIND",
        ),
        (
            &[("DATABASE_URL", db), ("RATES_DB_POOL_SIZE", "ten")],
            "RATES_DB_POOL_SIZE",
        ),
        (
            &[("DATABASE_URL", db), ("RATES_READ_POOL_SIZE", "0")],
            "RATES_READ_POOL_SIZE",
        ),
        (
            &[("DATABASE_URL", db), ("RATES_DRAIN_TIMEOUT_SECS", "1m")],
            "RATES_DRAIN_TIMEOUT_SECS",
        ),
        (
            &[("DATABASE_URL", db), ("RATES_MAX_RANGE_DAYS", "0")],
            "RATES_MAX_RANGE_DAYS",
        ),
        (
            &[
                ("DATABASE_URL", db),
                ("RATES_MIGRATE_ON_START", "sometimes"),
            ],
            "RATES_MIGRATE_ON_START",
        ),
        (&[("DATABASE_URL", db), ("RATES_LOG", "=")], "RATES_LOG"),
    ];
    for (env, variable) in cases {
        for command in [&["serve"][..], &["migrate"], &["seed", "--synthetic"]] {
            let out = rates(command, env);
            assert!(!out.status.success(), "{command:?} {env:?}");
            let err = stderr(&out);
            assert!(err.starts_with("error: configuration: "), "{err}");
            assert!(err.contains(variable), "{command:?} {env:?}: {err}");
        }
    }
}

#[test]
fn openapi_prints_the_repository_document() {
    let out = rates(&["openapi"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let repo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), repo);
}

#[test]
fn synthetic_prices_csv_is_deterministic_and_needs_no_database() {
    let a = rates(
        &["seed", "--synthetic", "--prices-csv", "-", "--rows", "500"],
        &[],
    );
    assert!(a.status.success(), "{}", stderr(&a));
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("orig_code,dest_code,day,price"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 500);
    for row in &rows {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 4, "{row}");
        assert_eq!(f[0].len(), 5);
        assert!(
            chrono::NaiveDate::parse_from_str(f[2], "%Y-%m-%d").is_ok(),
            "{row}"
        );
        assert!(f[3].parse::<i32>().unwrap() > 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    let b = rates(
        &[
            "seed",
            "--synthetic",
            "--prices-csv",
            path.to_str().unwrap(),
            "--rows",
            "500",
        ],
        &[],
    );
    assert!(b.status.success(), "{}", stderr(&b));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        a.stdout,
        "same rows every time"
    );
    // A path that cannot be written is a clear error.
    let c = rates(
        &[
            "seed",
            "--synthetic",
            "--prices-csv",
            "/nonexistent/dir/p.csv",
        ],
        &[],
    );
    assert!(!c.status.success());
    assert!(
        stderr(&c).contains("/nonexistent/dir/p.csv"),
        "{}",
        stderr(&c)
    );
}

#[tokio::test]
async fn migrate_then_seed_loads_the_synthetic_network_once() {
    let db_url = tokio::task::spawn_blocking(|| pgrig::test_database().unwrap())
        .await
        .unwrap();
    let env = [("DATABASE_URL", db_url.as_str())];
    let out = rates(&["migrate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rates(&["migrate"], &env);
    assert!(
        out.status.success(),
        "migrate is idempotent: {}",
        stderr(&out)
    );

    let out = rates(&["seed", "--synthetic", "--network-only"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            n
        }
    };
    let ports = count("SELECT count(*) FROM ports").await;
    assert!((90..=110).contains(&ports), "{ports} ports");
    assert_eq!(count("SELECT count(*) FROM prices").await, 0);
    // Regions nest at least three deep below a root, with ports at the bottom.
    let depth = count(
        "WITH RECURSIVE t(slug, depth) AS (
           SELECT slug, 1 FROM regions WHERE parent_slug IS NULL
           UNION ALL SELECT r.slug, t.depth + 1 FROM regions r JOIN t ON r.parent_slug = t.slug)
         SELECT max(t.depth)::bigint FROM t JOIN ports p ON p.parent_slug = t.slug",
    )
    .await;
    assert!(depth >= 4, "deepest port region depth {depth}");

    for _ in 0..2 {
        let out = rates(&["seed", "--synthetic"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            count("SELECT count(*) FROM prices").await,
            60_000,
            "seeding twice adds nothing"
        );
    }
    assert_eq!(count("SELECT count(*) FROM ports").await, ports);
    // The aggregates agree with the prices.
    let mismatches = count(
        "SELECT count(*) FROM (
           SELECT orig_code, dest_code, day, sum(price)::bigint AS s, count(*)::int AS n FROM prices GROUP BY 1, 2, 3
         ) p FULL JOIN lane_daily l USING (orig_code, dest_code, day)
         WHERE p.s IS DISTINCT FROM l.price_sum OR p.n IS DISTINCT FROM l.price_count",
    )
    .await;
    assert_eq!(mismatches, 0);
    // Days with 1-2 prices and days with 3 or more on the same lane both occur.
    assert!(count("SELECT count(*) FROM lane_daily WHERE price_count <= 2").await > 1000);
    assert!(count("SELECT count(*) FROM lane_daily WHERE price_count >= 3").await > 100);
    // Prices span several months.
    assert!(count("SELECT (max(day) - min(day))::bigint FROM prices").await >= 150);
}

/// A test CA, a server certificate it signs for 127.0.0.1, one it signs for another
/// name, and an unrelated CA; made with openssl at test time.
struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(dir.path())
                .output()
                .expect("run openssl");
            assert!(out.status.success(), "{script}: {}", stderr(&out));
        };
        for ca in ["ca", "other-ca"] {
            sh(&format!(
                "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={ca} \
                 -keyout {ca}.key -out {ca}.pem 2>/dev/null"
            ));
        }
        for (name, san) in [("server", "IP:127.0.0.1"), ("wrong-name", "DNS:db.invalid")] {
            sh(&format!(
                "openssl req -newkey rsa:2048 -nodes -subj /CN={name} \
                   -keyout {name}.key -out {name}.csr 2>/dev/null
                 printf 'subjectAltName={san}\\n' > {name}.ext
                 openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                   -days 2 -extfile {name}.ext -out {name}.pem 2>/dev/null"
            ));
        }
        TestPki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Turns TLS on in a running cluster with certificate `cert` (`server` or
/// `wrong-name`): its key and certificate go into the data directory (owned like it, as
/// PostgreSQL requires), then a reload.
fn enable_server_tls(cluster: &pgrig::Cluster, pki: &TestPki, cert: &str) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let data = cluster.data_dir();
    let owner = std::fs::metadata(data).unwrap();
    for (name, mode) in [("server.pem", 0o644), ("server.key", 0o600)] {
        let target = data.join(name);
        let source = name.replacen("server", cert, 1);
        std::fs::copy(pki.path(&source), &target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&target, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    let psql = cluster.bin_dir().join("psql");
    for sql in [
        "ALTER SYSTEM SET ssl = on",
        "ALTER SYSTEM SET ssl_cert_file = 'server.pem'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        "SELECT pg_reload_conf()",
    ] {
        let out = Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(cluster.url("postgres"))
            .args(["-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
    }
}

#[test]
fn database_tls_is_verified_against_the_configured_ca() {
    let pki = TestPki::new();
    let cluster = pgrig::Cluster::start_temporary().unwrap();
    enable_server_tls(&cluster, &pki, "server");
    let port = cluster.port();
    let ca = pki.path("ca.pem");
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");

    // The right CA: migrations run over verified TLS (sslmode is verify-full because a
    // CA file is set and the URL names none).
    let out = rates(
        &["migrate"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("RATES_DATABASE_CA_FILE", ca.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The server saw TLS: ask it about a connection made the same way.
    let out = Command::new(cluster.bin_dir().join("psql"))
        .args(["-X", "-At", "-d"])
        .arg(format!(
            "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={ca}"
        ))
        .args([
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "t",
        "{}",
        stderr(&out)
    );

    // A CA that did not sign the server's certificate: refused, and the error names
    // the setting to look at.
    let other = pki.path("other-ca.pem");
    let out = rates(
        &["migrate"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("RATES_DATABASE_CA_FILE", other.as_str()),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("TLS connection failed"), "{err}");
    assert!(err.contains("RATES_DATABASE_CA_FILE"), "{err}");

    // A certificate from the right CA for another name: verify-full refuses.
    enable_server_tls(&cluster, &pki, "wrong-name");
    let out = rates(
        &["migrate"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("RATES_DATABASE_CA_FILE", ca.as_str()),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("TLS connection failed"),
        "{}",
        stderr(&out)
    );

    // A file that is not a CA bundle is a configuration error before any connection.
    let out = rates(
        &["migrate"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("RATES_DATABASE_CA_FILE", pki.path("server.ext").as_str()),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: configuration: RATES_DATABASE_CA_FILE"),
        "{err}"
    );
}

#[test]
fn database_without_tls_is_refused_when_a_ca_is_configured() {
    let pki = TestPki::new();
    let cluster = pgrig::Cluster::start_temporary().unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    let ca = pki.path("ca.pem");
    let out = rates(
        &["migrate"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("RATES_DATABASE_CA_FILE", ca.as_str()),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("TLS connection failed"), "{err}");
    assert!(err.contains("does not support TLS"), "{err}");
    // Without the CA setting (`envctl up local`), the same server is fine.
    let out = rates(&["migrate"], &[("DATABASE_URL", url.as_str())]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The RDS IAM token is the one AWS's own signer makes: botocore's
/// `generate_db_auth_token` for the same credentials, endpoint, user and time.
#[test]
fn database_iam_token_matches_botocore() {
    use aws_credential_types::Credentials;
    use rates::db_iam::{presign, TokenTarget};
    let target = TokenTarget {
        host: "rates-staging.abc123.eu-west-1.rds.amazonaws.com".into(),
        port: 5432,
        user: "rates_app".into(),
        region: "eu-west-1".into(),
    };
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_597_600);
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session/token+x=".into()),
        None,
        "test",
    );
    let ours = presign(credentials.into(), &target, time).unwrap();

    let script = r#"
import datetime, sys, types
import botocore.auth, botocore.session
fixed = datetime.datetime.fromtimestamp(int(sys.argv[1]), datetime.timezone.utc).replace(tzinfo=None)
# botocore reads the clock through compat.get_current_datetime (1.36+) or
# datetime.datetime.utcnow (older releases): freeze both.
class Frozen(datetime.datetime):
    @classmethod
    def utcnow(cls): return fixed
    @classmethod
    def now(cls, tz=None): return fixed.replace(tzinfo=tz) if tz else fixed
botocore.auth.get_current_datetime = lambda *a, **k: fixed
botocore.auth.datetime = types.SimpleNamespace(datetime=Frozen, timezone=datetime.timezone, timedelta=datetime.timedelta)
client = botocore.session.get_session().create_client(
    "rds", region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    aws_session_token="session/token+x=")
print(client.generate_db_auth_token(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            "1764597600",
            &target.host,
            "5432",
            &target.user,
        ])
        .output()
        .expect("python3 with botocore (.ci/venv has it)");
    assert!(out.status.success(), "botocore: {}", stderr(&out));
    let theirs = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let split = |token: &str| {
        let (authority, query) = token.split_once("/?").expect("authority/?query");
        let mut params: Vec<String> = query.split('&').map(str::to_string).collect();
        params.sort();
        (authority.to_string(), params)
    };
    assert_eq!(
        split(&ours),
        split(&theirs),
        "ours: {ours}\nbotocore: {theirs}"
    );
    // The check can fail: another user gives another signature.
    let other = TokenTarget {
        user: "postgres".into(),
        ..target
    };
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session/token+x=".into()),
        None,
        "test",
    );
    assert_ne!(
        split(&presign(credentials.into(), &other, time).unwrap()),
        split(&theirs)
    );
}
