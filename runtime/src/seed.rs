//! The deterministic synthetic demo network and prices (`rates seed --synthetic`):
//! fictional ports in regions nested up to four deep, and prices with uneven
//! lane density, used by tests, benchmarks and the local environment.

use std::io::Write;

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::PgPool;

use crate::error::{DbContext, Error, Result};

/// Default number of synthetic price rows.
pub const DEFAULT_ROWS: u64 = 60_000;
/// The first day of synthetic prices.
pub const FIRST_DAY: (i32, u32, u32) = (2024, 1, 1);
/// How many days the synthetic prices span (2024-01-01 to 2024-06-29).
pub const DAYS: u32 = 181;

/// (slug, name, parent, two-letter code prefix for its ports, number of ports).
const REGIONS: &[(&str, &str, Option<&str>, &str, u32)] = &[
    ("asia", "Asia", None, "", 0),
    ("china_main", "China Main", Some("asia"), "CN", 2),
    ("china_south", "South China", Some("china_main"), "CN", 4),
    (
        "pearl_river_delta",
        "Pearl River Delta",
        Some("china_south"),
        "CN",
        6,
    ),
    ("china_east", "East China", Some("china_main"), "CN", 6),
    ("china_north", "North China", Some("china_main"), "CN", 4),
    ("southeast_asia", "Southeast Asia", Some("asia"), "SG", 3),
    (
        "strait_of_malacca",
        "Strait of Malacca",
        Some("southeast_asia"),
        "MY",
        4,
    ),
    ("japan_korea", "Japan and Korea", Some("asia"), "JP", 5),
    ("europe", "Europe", None, "", 0),
    (
        "north_europe_main",
        "North Europe Main",
        Some("europe"),
        "NL",
        3,
    ),
    (
        "north_europe_range",
        "North Europe Range Ports",
        Some("north_europe_main"),
        "DE",
        5,
    ),
    ("baltic", "Baltic", Some("north_europe_main"), "PL", 4),
    (
        "scandinavia",
        "Scandinavia",
        Some("north_europe_main"),
        "SE",
        3,
    ),
    ("norway_coast", "Norway Coast", Some("scandinavia"), "NO", 4),
    ("uk_main", "UK Main", Some("north_europe_main"), "GB", 4),
    ("south_europe", "South Europe", Some("europe"), "", 0),
    (
        "west_med",
        "West Mediterranean",
        Some("south_europe"),
        "ES",
        5,
    ),
    (
        "east_med",
        "East Mediterranean",
        Some("south_europe"),
        "GR",
        4,
    ),
    ("americas", "Americas", None, "", 0),
    ("north_america", "North America", Some("americas"), "US", 1),
    (
        "us_west_coast",
        "US West Coast",
        Some("north_america"),
        "US",
        4,
    ),
    (
        "us_east_coast",
        "US East Coast",
        Some("north_america"),
        "US",
        5,
    ),
    (
        "gulf_of_mexico",
        "Gulf of Mexico",
        Some("north_america"),
        "MX",
        3,
    ),
    ("south_america", "South America", Some("americas"), "", 0),
    (
        "brazil_coast",
        "Brazil Coast",
        Some("south_america"),
        "BR",
        4,
    ),
    (
        "west_coast_south_america",
        "West Coast South America",
        Some("south_america"),
        "CL",
        3,
    ),
    ("africa", "Africa", None, "", 0),
    ("west_africa", "West Africa", Some("africa"), "NG", 3),
    ("east_africa", "East Africa", Some("africa"), "KE", 2),
    ("oceania", "Oceania", None, "AU", 1),
    (
        "australia_nz",
        "Australia and New Zealand",
        Some("oceania"),
        "AU",
        4,
    ),
];

const SYLLABLES: &[&str] = &[
    "var", "kel", "mor", "sa", "tun", "bri", "lo", "den", "ra", "qui", "zan", "hol", "me", "tor",
    "vin", "ash", "ul", "gar", "pe", "nor", "fen", "dal", "ri", "os", "cam", "be",
];
const SUFFIXES: &[&str] = &["", " Harbour", " Port", " Bay", " Terminal", "haven"];

/// A region of the synthetic network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub slug: String,
    pub name: String,
    pub parent_slug: Option<String>,
}

/// A port of the synthetic network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub code: String,
    pub name: String,
    pub parent_slug: String,
    /// The root region it sits under (continent): lanes between roots cost more.
    pub root: String,
}

/// One synthetic price row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticPrice {
    pub orig_code: String,
    pub dest_code: String,
    pub day: NaiveDate,
    pub price: i32,
}

/// The synthetic network: always the same regions and ports.
#[derive(Debug, Clone)]
pub struct Network {
    pub regions: Vec<Region>,
    pub ports: Vec<Port>,
}

impl Network {
    pub fn synthetic() -> Network {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5ea_f00d);
        let regions: Vec<Region> = REGIONS
            .iter()
            .map(|(slug, name, parent, _, _)| Region {
                slug: slug.to_string(),
                name: name.to_string(),
                parent_slug: parent.map(str::to_string),
            })
            .collect();
        let root_of = |slug: &str| -> String {
            let mut current = slug;
            while let Some(parent) = REGIONS.iter().find(|r| r.0 == current).and_then(|r| r.2) {
                current = parent;
            }
            current.to_string()
        };
        let mut ports = Vec::new();
        let mut codes = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for (slug, _, _, prefix, count) in REGIONS {
            for _ in 0..*count {
                let name = loop {
                    let parts = rng.gen_range(2..=3);
                    let mut base: String = (0..parts)
                        .map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())])
                        .collect();
                    base[..1].make_ascii_uppercase();
                    let name = format!("{base}{}", SUFFIXES[rng.gen_range(0..SUFFIXES.len())]);
                    if names.insert(name.clone()) {
                        break name;
                    }
                };
                let code = loop {
                    let tail: String = (0..3)
                        .map(|_| char::from(b'A' + rng.gen_range(0..26u8)))
                        .collect();
                    let code = format!("{prefix}{tail}");
                    if codes.insert(code.clone()) {
                        break code;
                    }
                };
                ports.push(Port {
                    code,
                    name,
                    parent_slug: slug.to_string(),
                    root: root_of(slug),
                });
            }
        }
        Network { regions, ports }
    }

    /// `rows` deterministic price rows, generated lazily (millions are fine).
    pub fn prices(&self, rows: u64) -> impl Iterator<Item = SyntheticPrice> + '_ {
        let mut rng = ChaCha8Rng::seed_from_u64(0x0ddba11);
        // Every ordered pair of ports is a lane; a few are busy, most are quiet
        // (Zipf-like weights over a deterministic shuffle).
        let mut lanes: Vec<(usize, usize, f64)> = Vec::new();
        for (o, orig) in self.ports.iter().enumerate() {
            for (d, dest) in self.ports.iter().enumerate() {
                if o != d {
                    let base = if orig.root == dest.root {
                        rng.gen_range(250.0..900.0)
                    } else {
                        rng.gen_range(1100.0..3600.0)
                    };
                    lanes.push((o, d, base));
                }
            }
        }
        for i in (1..lanes.len()).rev() {
            let j = rng.gen_range(0..=i);
            lanes.swap(i, j);
        }
        let mut cumulative = Vec::with_capacity(lanes.len());
        let mut total = 0.0;
        for rank in 0..lanes.len() {
            total += 1.0 / ((rank + 1) as f64).powf(1.05);
            cumulative.push(total);
        }
        let first =
            NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).expect("valid date");
        (0..rows).map(move |_| {
            let pick = rng.gen::<f64>() * total;
            let lane = cumulative
                .partition_point(|c| *c < pick)
                .min(lanes.len() - 1);
            let (o, d, base) = lanes[lane];
            // Weekends are quieter: redraw most weekend days once.
            let mut offset = rng.gen_range(0..DAYS);
            let mut day = first + chrono::Days::new(u64::from(offset));
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && rng.gen_bool(0.6) {
                offset = rng.gen_range(0..DAYS);
                day = first + chrono::Days::new(u64::from(offset));
            }
            let season =
                1.0 + 0.12 * (f64::from(offset) / f64::from(DAYS) * std::f64::consts::TAU).sin();
            let noise = rng.gen_range(0.85..1.15);
            SyntheticPrice {
                orig_code: self.ports[o].code.clone(),
                dest_code: self.ports[d].code.clone(),
                day,
                price: (base * season * noise).round().max(1.0) as i32,
            }
        })
    }
}

/// What `seed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub regions: usize,
    pub ports: usize,
    /// Prices inserted; None when skipped (network only, or prices already present).
    pub prices: Option<u64>,
}

/// Loads the network (idempotent upsert) and, unless `network_only`, `rows`
/// prices when the prices table is empty, all in one transaction.
pub async fn seed(pool: &PgPool, network_only: bool, rows: u64) -> Result<SeedReport> {
    let network = Network::synthetic();
    let mut tx = pool.begin().await.db("starting the seed transaction")?;
    // Parents come before children in REGIONS, so each insert sees its parent.
    for region in &network.regions {
        sqlx::query(
            "INSERT INTO regions (slug, name, parent_slug) VALUES ($1, $2, $3)
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name, parent_slug = excluded.parent_slug",
        )
        .bind(&region.slug)
        .bind(&region.name)
        .bind(&region.parent_slug)
        .execute(&mut *tx)
        .await
        .db(format!("upserting region {}", region.slug))?;
    }
    for port in &network.ports {
        sqlx::query(
            "INSERT INTO ports (code, name, parent_slug) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent_slug = excluded.parent_slug",
        )
        .bind(&port.code)
        .bind(&port.name)
        .bind(&port.parent_slug)
        .execute(&mut *tx)
        .await
        .db(format!("upserting port {}", port.code))?;
    }
    let mut report = SeedReport {
        regions: network.regions.len(),
        ports: network.ports.len(),
        prices: None,
    };
    if !network_only {
        let (present,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM prices)")
            .fetch_one(&mut *tx)
            .await
            .db("checking for existing prices")?;
        if present {
            tracing::info!("the prices table already has rows; not adding synthetic prices");
        } else {
            let mut copy = tx
                .copy_in_raw(
                    "COPY prices (orig_code, dest_code, day, price) FROM STDIN WITH (FORMAT csv)",
                )
                .await
                .db("starting COPY into prices")?;
            let mut buffer = Vec::with_capacity(1 << 20);
            for row in network.prices(rows) {
                write_row(&mut buffer, &row).map_err(|e| Error::io("formatting a price row", e))?;
                if buffer.len() >= 1 << 20 {
                    copy.send(std::mem::take(&mut buffer))
                        .await
                        .db("sending prices")?;
                }
            }
            if !buffer.is_empty() {
                copy.send(buffer).await.db("sending prices")?;
            }
            report.prices = Some(copy.finish().await.db("finishing COPY into prices")?);
        }
    }
    tx.commit().await.db("committing the seed")?;
    Ok(report)
}

/// Writes `rows` synthetic prices as a batch CSV (with header) to `out`.
pub fn write_prices_csv(out: &mut impl Write, rows: u64) -> std::io::Result<()> {
    let network = Network::synthetic();
    writeln!(out, "orig_code,dest_code,day,price")?;
    for row in network.prices(rows) {
        write_row(out, &row)?;
    }
    out.flush()
}

fn write_row(out: &mut impl Write, row: &SyntheticPrice) -> std::io::Result<()> {
    writeln!(
        out,
        "{},{},{},{}",
        row.orig_code,
        row.dest_code,
        row.day.format("%Y-%m-%d"),
        row.price
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn network_is_deterministic_and_well_formed() {
        let a = Network::synthetic();
        let b = Network::synthetic();
        assert_eq!(a.ports, b.ports);
        assert!((90..=110).contains(&a.ports.len()), "{}", a.ports.len());
        let codes: HashSet<_> = a.ports.iter().map(|p| &p.code).collect();
        assert_eq!(codes.len(), a.ports.len());
        for p in &a.ports {
            crate::domain::PortCode::parse(&p.code).unwrap();
        }
        // Depth of the deepest region with ports: at least 3 below the root.
        let parent: HashMap<_, _> = a
            .regions
            .iter()
            .map(|r| (r.slug.as_str(), r.parent_slug.as_deref()))
            .collect();
        let depth = |slug: &str| {
            let (mut s, mut d) = (slug, 1);
            while let Some(Some(p)) = parent.get(s) {
                s = p;
                d += 1;
            }
            d
        };
        assert!(a.ports.iter().map(|p| depth(&p.parent_slug)).max().unwrap() >= 4);
    }

    #[test]
    fn prices_are_deterministic_uneven_and_cover_sparse_days() {
        let n = Network::synthetic();
        let rows: Vec<_> = n.prices(DEFAULT_ROWS).collect();
        assert_eq!(rows, n.prices(DEFAULT_ROWS).collect::<Vec<_>>());
        assert!(rows.iter().all(|r| r.price > 0));
        let mut per_lane_day: HashMap<(&str, &str, NaiveDate), u32> = HashMap::new();
        for r in &rows {
            *per_lane_day
                .entry((&r.orig_code, &r.dest_code, r.day))
                .or_default() += 1;
        }
        let sparse = per_lane_day.values().filter(|c| **c <= 2).count();
        let dense = per_lane_day.values().filter(|c| **c >= 3).count();
        assert!(
            sparse > 1000 && dense > 100,
            "sparse {sparse}, dense {dense}"
        );
    }
}
