//! `Reader::find`: resources of one level matching [`TagConstraint`]s on main
//! tags of that level and of the levels around it (a study by `PatientName`,
//! a study by its series' `Modality`).
//!
//! The most selective constraint seeds the search from the secondary tag
//! index; the search then walks down to the deepest constrained level and up
//! to the requested one, checking each constraint on the resources of its
//! level. Every resource is read from RocksDB at most once per find (a
//! [`Loaded`] memo, filled by batched `MultiGet`s): a study reached again
//! from each of its series, or a patient shared by many studies, costs one
//! read and one decode.

use std::collections::{HashMap, HashSet};

use rocksdb::{Direction, IteratorMode, DB};

use super::apply::child_ids;
use super::model::*;
use super::normalize::Constraint;
use super::read::Reader;
use super::store::{cf, split_tag_suffix, tag_prefix, CF_CHILDREN, CF_RESOURCES, CF_TAGS};
use super::IndexError;

type Result<T> = std::result::Result<T, IndexError>;

/// One constraint of a find: a main tag of some level and how to match it.
#[derive(Debug, Clone)]
pub struct TagConstraint {
    pub level: Level,
    pub tag: String,
    pub constraint: Constraint,
    pub case_sensitive: bool,
}

/// Counting caps of [`Reader::most_selective`]: each constraint is counted no
/// further than the cap, the cap growing only while no constraint fits under
/// it, so a broad constraint (every MR series) is not counted in full when a
/// narrow one (a month of studies) will seed the search.
const COUNT_CAPS: [usize; 3] = [256, 8192, usize::MAX];

/// The resources read so far by one find.
struct Loaded<'a> {
    db: &'a DB,
    map: HashMap<String, Resource>,
}

impl<'a> Loaded<'a> {
    fn new(db: &'a DB) -> Self {
        Loaded {
            db,
            map: HashMap::new(),
        }
    }

    /// Reads the resources of `ids` not read yet, in one batch; keeps the ids
    /// that exist (in order).
    fn load(&mut self, ids: Vec<String>) -> Result<Vec<String>> {
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !self.map.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            let values = self.db.batched_multi_get_cf(
                cf(self.db, CF_RESOURCES),
                missing.iter().map(|id| id.as_bytes()),
                false,
            );
            let mut read = Vec::with_capacity(missing.len());
            for (id, value) in missing.iter().zip(values) {
                if let Some(bytes) = value? {
                    read.push(((*id).clone(), serde_json::from_slice::<Resource>(&bytes)?));
                }
            }
            self.map.extend(read);
        }
        Ok(ids
            .into_iter()
            .filter(|id| self.map.contains_key(id))
            .collect())
    }

    fn get(&mut self, id: &str) -> Result<Option<&Resource>> {
        self.load(vec![id.to_owned()])?;
        Ok(self.map.get(id))
    }

    fn matches(&self, id: &str, queries: &[&TagConstraint]) -> bool {
        self.map.get(id).is_some_and(|r| matches_all(r, queries))
    }

    /// The children of `ids`, read (one iterator for all of them).
    fn children(&mut self, ids: &[String]) -> Result<Vec<String>> {
        let mut kids = Vec::new();
        let mut iter = self.db.raw_iterator_cf(cf(self.db, CF_CHILDREN));
        for id in ids {
            child_ids(&mut iter, id, &mut kids)?;
        }
        self.load(kids)
    }

    /// Whether every ancestor of `id` satisfies the constraints of its level.
    fn ancestors_match(&mut self, id: &str, queries: &[&TagConstraint]) -> Result<bool> {
        let mut parent = self.map.get(id).and_then(|r| r.parent.clone());
        while let Some(p) = parent {
            let Some(pr) = self.get(&p)? else {
                return Ok(false);
            };
            if !matches_all(pr, queries) {
                return Ok(false);
            }
            parent = pr.parent.clone();
        }
        Ok(true)
    }
}

impl Reader<'_> {
    /// How many resources of `level` lie below `id` (itself when at that
    /// level): child keys only, no resource read.
    pub fn count_below(&self, id: &str, from: Level, level: Level) -> Result<usize> {
        let mut current = vec![id.to_owned()];
        let mut at = from;
        let mut iter = self.db().raw_iterator_cf(cf(self.db(), CF_CHILDREN));
        while at < level {
            let mut next = Vec::new();
            for id in &current {
                child_ids(&mut iter, id, &mut next)?;
            }
            current = next;
            at = at.child().unwrap_or(level);
        }
        Ok(current.len())
    }

    /// Children ids in creation order (their resources read in one batch,
    /// for their creation sequence).
    pub fn children(&self, id: &str) -> Result<Vec<String>> {
        let mut loaded = Loaded::new(self.db());
        let kids = loaded.children(&[id.to_owned()])?;
        Ok(take(loaded, kids).into_iter().map(|r| r.id).collect())
    }

    /// The distinct non-empty values of main tag `tag` among the children of
    /// `id` (e.g. a study's modalities), children read in one batch.
    pub fn children_tag_values(
        &self,
        id: &str,
        tag: &str,
    ) -> Result<std::collections::BTreeSet<String>> {
        let mut loaded = Loaded::new(self.db());
        let kids = loaded.children(&[id.to_owned()])?;
        Ok(kids
            .iter()
            .filter_map(|k| loaded.map.get(k).and_then(|r| r.main_tags.get(tag)))
            .filter(|v| !v.is_empty())
            .cloned()
            .collect())
    }

    /// Ids at `level` whose main tag `tag` (of that same level) may satisfy `q`:
    /// a scan of the secondary index over the narrowest key range the constraint
    /// allows. Candidates are then checked exactly by [`Reader::find`].
    fn candidates(&self, q: &TagConstraint) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.scan(q, usize::MAX, |id| out.push(id.to_owned()))?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// How many index entries [`Reader::candidates`] would read for `q`,
    /// counting no further than `cap`.
    fn count_candidates(&self, q: &TagConstraint, cap: usize) -> Result<usize> {
        self.scan(q, cap, |_| ())
    }

    /// Calls `f` with the id of each index entry in `q`'s key ranges, at most
    /// `limit` of them; returns how many it saw.
    fn scan(&self, q: &TagConstraint, limit: usize, mut f: impl FnMut(&str)) -> Result<usize> {
        let prefix = tag_prefix(q.level, &q.tag);
        let ranges = q
            .constraint
            .scan_bounds()
            .unwrap_or_else(|| vec![(Vec::new(), vec![0xff])]);
        let mut seen = 0;
        for (start, end) in ranges {
            let mut from = prefix.clone();
            from.extend_from_slice(&start);
            let mut to = prefix.clone();
            to.extend_from_slice(&end);
            let iter = self.db().iterator_cf(
                cf(self.db(), CF_TAGS),
                IteratorMode::From(&from, Direction::Forward),
            );
            for item in iter {
                if seen >= limit {
                    return Ok(seen);
                }
                let (key, _) = item?;
                if key.as_ref() >= to.as_slice() || !key.starts_with(&prefix) {
                    break;
                }
                if let Some((_, id)) = split_tag_suffix(&key[prefix.len()..]) {
                    f(id);
                    seen += 1;
                }
            }
        }
        Ok(seen)
    }

    /// The constraint whose key ranges hold the fewest index entries.
    fn most_selective<'q>(
        &self,
        queries: &[&'q TagConstraint],
    ) -> Result<Option<&'q TagConstraint>> {
        for cap in COUNT_CAPS {
            let mut best: Option<(&TagConstraint, usize)> = None;
            for q in queries {
                let n = self.count_candidates(q, best.map_or(cap, |(_, n)| n))?;
                if n < best.map_or(cap, |(_, m)| m) || (best.is_none() && cap == usize::MAX) {
                    best = Some((q, n));
                }
            }
            if best.is_some() {
                return Ok(best.map(|(q, _)| q));
            }
        }
        Ok(queries.first().copied())
    }

    /// Resources at `level` matching every constraint; constraints may name
    /// tags of `level` or of its ancestors and descendants. Results in
    /// creation order.
    pub fn find(&self, level: Level, queries: &[TagConstraint]) -> Result<Vec<Resource>> {
        let restrictive: Vec<&TagConstraint> = queries
            .iter()
            .filter(|q| q.constraint != Constraint::Any)
            .collect();
        let mut loaded = Loaded::new(self.db());
        // Work from the most specific constrained level, or list the target level.
        let Some(deepest) = restrictive.iter().map(|q| q.level).max() else {
            let ids = loaded.load(self.list(level, 0, None)?)?;
            return Ok(take(loaded, ids));
        };
        // Seed with the most selective constraint; from a higher level, go
        // down to the deepest constrained one (a resource whose ancestor fails
        // a constraint would be dropped below anyway).
        let seed = self
            .most_selective(&restrictive)?
            .expect("at least one restrictive constraint");
        let mut current = loaded.load(self.candidates(seed)?)?;
        let mut at = seed.level;
        while at < deepest {
            current.retain(|id| loaded.matches(id, &restrictive));
            current = loaded.children(&current)?;
            at = at.child().unwrap_or(deepest);
        }
        current.retain(|id| loaded.matches(id, &restrictive));
        if at > level {
            // Climb: each level's constraints on the parents, once each.
            while at > level {
                let mut seen = HashSet::new();
                let parents: Vec<String> = current
                    .iter()
                    .filter_map(|id| loaded.map.get(id).and_then(|r| r.parent.clone()))
                    .filter(|p| seen.insert(p.clone()))
                    .collect();
                current = loaded.load(parents)?;
                current.retain(|id| loaded.matches(id, &restrictive));
                at = at.parent().unwrap_or(level);
            }
        }
        let mut keep = Vec::with_capacity(current.len());
        for id in current {
            if loaded.ancestors_match(&id, &restrictive)? {
                keep.push(id);
            }
        }
        current = keep;
        // Descend to the target level.
        while at < level {
            current = loaded.children(&current)?;
            current.retain(|id| loaded.matches(id, &restrictive));
            at = at.child().unwrap_or(level);
        }
        Ok(take(loaded, current))
    }
}

/// The resources of `ids` out of the memo, in creation order.
fn take(mut loaded: Loaded<'_>, ids: Vec<String>) -> Vec<Resource> {
    let mut out: Vec<Resource> = ids.iter().filter_map(|id| loaded.map.remove(id)).collect();
    out.sort_by_key(|r| r.created_seq);
    out
}

/// Checks the constraints that apply to the resource's own level.
fn matches_all(r: &Resource, queries: &[&TagConstraint]) -> bool {
    queries.iter().filter(|q| q.level == r.level).all(|q| {
        let value = r.main_tags.get(&q.tag).map(String::as_str);
        match value {
            Some(v) => q.constraint.matches(v, q.case_sensitive),
            None => false,
        }
    })
}
