//! The rates network in memory: every port code and region slug mapped to the ports it
//! stands for (a region: every port in it and in every region below it), computed once
//! per data version instead of by two recursive queries per request.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::error::{DbContext, Result};

/// Index of a port in [`Network::codes`].
pub type PortIx = u16;

/// The places of one data version and the ports each stands for.
#[derive(Debug, Default)]
pub struct Network {
    /// Port codes by index, sorted (so an index order is a code order).
    codes: Vec<String>,
    /// Port code or region slug -> the ports it covers, ascending.
    places: HashMap<String, Box<[PortIx]>>,
}

impl Network {
    /// Builds the closure from `(slug, parent)` regions and `(code, parent)` ports.
    /// A region's ports are the ports whose chain of parents reaches it; a parent chain
    /// that loops (the schema forbids only a region being its own parent) stops after
    /// as many steps as there are regions.
    pub fn build(regions: &[(String, Option<String>)], ports: &[(String, String)]) -> Network {
        let mut codes: Vec<String> = ports.iter().map(|(code, _)| code.clone()).collect();
        codes.sort_unstable();
        codes.dedup();
        let parent: HashMap<&str, Option<&str>> = regions
            .iter()
            .map(|(slug, parent)| (slug.as_str(), parent.as_deref()))
            .collect();
        let mut covered: HashMap<&str, Vec<PortIx>> = regions
            .iter()
            .map(|(slug, _)| (slug.as_str(), Vec::new()))
            .collect();
        let mut places: HashMap<String, Box<[PortIx]>> = HashMap::new();
        for (code, region) in ports {
            let Ok(ix) = codes.binary_search(code) else {
                continue;
            };
            let ix = ix as PortIx;
            places.insert(code.clone(), Box::new([ix]));
            let mut at = Some(region.as_str());
            for _ in 0..=regions.len() {
                let Some(slug) = at else { break };
                if let Some(list) = covered.get_mut(slug) {
                    list.push(ix);
                }
                at = parent.get(slug).copied().flatten();
            }
        }
        for (slug, mut list) in covered {
            list.sort_unstable();
            list.dedup();
            places.insert(slug.to_string(), list.into_boxed_slice());
        }
        Network { codes, places }
    }

    /// Reads the network on `conn` (inside the caller's snapshot).
    pub async fn load(conn: &mut PgConnection) -> Result<Network> {
        let regions: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT slug, parent_slug FROM regions")
                .fetch_all(&mut *conn)
                .await
                .db("reading the regions")?;
        let ports: Vec<(String, String)> =
            sqlx::query_as("SELECT code::text, parent_slug FROM ports")
                .fetch_all(&mut *conn)
                .await
                .db("reading the ports")?;
        Ok(Network::build(&regions, &ports))
    }

    /// The ports `place` (a port code or region slug) stands for; None when unknown.
    /// A known region without ports covers none.
    pub fn ports(&self, place: &str) -> Option<&[PortIx]> {
        self.places.get(place).map(|p| &**p)
    }

    /// The index of port `code`.
    pub fn index(&self, code: &str) -> Option<PortIx> {
        self.codes
            .binary_search_by(|c| c.as_str().cmp(code))
            .ok()
            .map(|i| i as PortIx)
    }

    /// The code of port `ix`.
    pub fn code(&self, ix: PortIx) -> &str {
        &self.codes[usize::from(ix)]
    }

    /// Number of ports.
    pub fn port_count(&self) -> usize {
        self.codes.len()
    }

    /// The codes of `ports`, as a query parameter.
    pub fn codes_of(&self, ports: &[PortIx]) -> Vec<&str> {
        ports.iter().map(|&p| self.code(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn a_region_covers_every_port_below_it() {
        let regions = [
            (s("asia"), None),
            (s("china"), Some(s("asia"))),
            (s("south"), Some(s("china"))),
            (s("empty"), Some(s("asia"))),
            (s("europe"), None),
        ];
        let ports = [
            (s("CNSHA"), s("china")),
            (s("CNYTN"), s("south")),
            (s("NOOSL"), s("europe")),
        ];
        let n = Network::build(&regions, &ports);
        let codes = |place: &str| n.ports(place).map(|p| n.codes_of(p));
        assert_eq!(codes("asia"), Some(vec!["CNSHA", "CNYTN"]));
        assert_eq!(codes("china"), Some(vec!["CNSHA", "CNYTN"]));
        assert_eq!(codes("south"), Some(vec!["CNYTN"]));
        assert_eq!(codes("empty"), Some(vec![]));
        assert_eq!(codes("CNYTN"), Some(vec!["CNYTN"]));
        assert_eq!(codes("europe"), Some(vec!["NOOSL"]));
        assert_eq!(codes("nowhere"), None);
        assert_eq!(codes("cnsha"), None, "codes are case-sensitive, as in SQL");
    }

    #[test]
    fn a_loop_of_parents_ends() {
        let regions = [(s("a"), Some(s("b"))), (s("b"), Some(s("a")))];
        let n = Network::build(&regions, &[(s("CNSHA"), s("a"))]);
        assert_eq!(n.ports("b").map(<[_]>::len), Some(1));
    }
}
