//! The `rates` binary's commands and configuration errors.

mod common;

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
