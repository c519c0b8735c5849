//! Per-lane daily aggregates of one data version, in memory, loaded per origin port on
//! first use: a query sums the lanes between its two port sets without a round trip
//! for the aggregates once its origins are loaded.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use super::network::PortIx;

/// One lane's days with prices, ascending: (day number, sum, count).
#[derive(Debug, Default)]
pub struct Lane {
    days: Vec<i32>,
    sums: Vec<i64>,
    counts: Vec<i64>,
}

impl Lane {
    pub fn push(&mut self, day: NaiveDate, sum: i64, count: i64) {
        self.days.push(day.num_days_from_ce());
        self.sums.push(sum);
        self.counts.push(count);
    }

    fn len(&self) -> usize {
        self.days.len()
    }
}

/// Every lane from one origin port: lanes by destination port.
#[derive(Debug, Default)]
pub struct OriginLanes {
    /// Destinations with prices, ascending, and their lanes in the same order.
    dests: Vec<PortIx>,
    lanes: Vec<Lane>,
}

impl OriginLanes {
    /// Adds the next destination's lane; destinations must come in ascending order.
    pub fn push(&mut self, dest: PortIx, lane: Lane) {
        debug_assert!(self.dests.last().is_none_or(|&d| d < dest));
        self.dests.push(dest);
        self.lanes.push(lane);
    }

    /// Lane-days held.
    pub fn size(&self) -> usize {
        self.lanes.iter().map(Lane::len).sum::<usize>() + 1
    }
}

/// Sums and counts per day of a range, added up lane by lane.
pub struct DayTotals {
    first: i32,
    pub sums: Vec<i64>,
    pub counts: Vec<i64>,
}

impl DayTotals {
    pub fn new(from: NaiveDate, days: usize) -> DayTotals {
        DayTotals {
            first: from.num_days_from_ce(),
            sums: vec![0; days],
            counts: vec![0; days],
        }
    }

    /// Adds the lanes from `origin` to every port of `dests` (ascending).
    pub fn add(&mut self, origin: &OriginLanes, dests: &[PortIx]) {
        let last = self.first + self.sums.len() as i32 - 1;
        // Both lists ascending: one merge instead of a search per destination.
        let (mut i, mut j) = (0, 0);
        while i < origin.dests.len() && j < dests.len() {
            match origin.dests[i].cmp(&dests[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let lane = &origin.lanes[i];
                    let start = lane.days.partition_point(|&d| d < self.first);
                    for k in start..lane.len() {
                        let day = lane.days[k];
                        if day > last {
                            break;
                        }
                        let at = (day - self.first) as usize;
                        self.sums[at] += lane.sums[k];
                        self.counts[at] += lane.counts[k];
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
}

/// The origins loaded so far for one data version.
#[derive(Debug)]
pub struct LaneStore {
    origins: Vec<Option<Arc<OriginLanes>>>,
    held: usize,
    limit: usize,
}

impl LaneStore {
    /// A store for `ports` ports that holds at most about `limit` lane-days.
    pub fn new(ports: usize, limit: usize) -> LaneStore {
        LaneStore {
            origins: vec![None; ports],
            held: 0,
            limit,
        }
    }

    pub fn get(&self, origin: PortIx) -> Option<Arc<OriginLanes>> {
        self.origins.get(usize::from(origin)).cloned().flatten()
    }

    /// Keeps `lanes`; when the store would pass its limit it starts over (the origins
    /// a query needs are held by the query itself while it answers).
    pub fn put(&mut self, origin: PortIx, lanes: Arc<OriginLanes>) {
        let size = lanes.size();
        if self.held + size > self.limit {
            self.origins.iter_mut().for_each(|o| *o = None);
            self.held = 0;
        }
        if let Some(slot) = self.origins.get_mut(usize::from(origin)) {
            if slot.is_none() {
                self.held += size;
            }
            *slot = Some(lanes);
        }
    }

    /// Lane-days held.
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, d).unwrap()
    }

    #[test]
    fn totals_add_the_lanes_to_the_wanted_destinations_within_the_range() {
        let mut origin = OriginLanes::default();
        let mut a = Lane::default();
        a.push(day(1), 10, 1);
        a.push(day(3), 20, 2);
        a.push(day(9), 99, 9);
        origin.push(1, a);
        let mut b = Lane::default();
        b.push(day(3), 5, 1);
        origin.push(4, b);
        let mut c = Lane::default();
        c.push(day(2), 1000, 1);
        origin.push(7, c);
        let mut totals = DayTotals::new(day(2), 3); // 2, 3, 4 January
        totals.add(&origin, &[0, 1, 4, 5]);
        assert_eq!(totals.sums, vec![0, 25, 0]);
        assert_eq!(totals.counts, vec![0, 3, 0]);
    }

    #[test]
    fn the_store_is_bounded() {
        let mut store = LaneStore::new(3, 4);
        let mut lanes = OriginLanes::default();
        let mut lane = Lane::default();
        lane.push(day(1), 1, 1);
        lane.push(day(2), 1, 1);
        lanes.push(0, lane);
        let lanes = Arc::new(lanes);
        store.put(0, lanes.clone());
        store.put(1, lanes.clone());
        assert!(store.held() <= 4);
        assert!(store.get(1).is_some() && store.get(0).is_none());
    }
}
