//! `/series/{id}/ordered-slices`: the instances of a series in the order of
//! their slices, as Orthanc's `SliceOrdering` does it: along the normal of
//! the image plane (`ImageOrientationPatient`) when every instance has a
//! position (`ImagePositionPatient`) in that plane ("Volume"), else by
//! `IndexInSeries` ("Sequence"); a multi-frame instance gives one slice per frame.

use super::{Archive, Result, ServiceError};
use crate::index::{Level, Resource};

/// The ordered slices of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedSlices {
    /// `Volume` or `Sequence`.
    pub kind: &'static str,
    /// `(instance, frame count)` in slice order.
    pub instances: Vec<(String, u32)>,
}

fn numbers(r: &Resource, tag: &str) -> Option<Vec<f64>> {
    let v = r.main_tags.get(tag)?;
    v.split('\\')
        .map(|x| x.trim().parse::<f64>().ok())
        .collect()
}

fn normal(r: &Resource) -> Option<[f64; 3]> {
    let o = numbers(r, "ImageOrientationPatient").filter(|o| o.len() == 6)?;
    let n = [
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ];
    Some(n)
}

impl Archive {
    pub fn ordered_slices(&self, series: &str) -> Result<OrderedSlices> {
        self.resource_at(Level::Series, series)?;
        let reader = self.node.reader();
        let mut instances = Vec::new();
        for id in reader.children(series)? {
            if let Some(r) = reader.resource(&id)? {
                instances.push(r);
            }
        }
        let frames = |r: &Resource| {
            r.main_tags
                .get("NumberOfFrames")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(1)
        };
        let plane = instances.iter().find_map(normal);
        let positions: Option<Vec<f64>> = plane.and_then(|n| {
            instances
                .iter()
                .map(|r| {
                    let p = numbers(r, "ImagePositionPatient").filter(|p| p.len() == 3)?;
                    Some(p[0] * n[0] + p[1] * n[1] + p[2] * n[2])
                })
                .collect()
        });
        let distinct = |keys: &[f64]| {
            let mut sorted = keys.to_vec();
            sorted.sort_by(f64::total_cmp);
            sorted.windows(2).all(|w| w[0] != w[1])
        };
        let mut order: Vec<usize> = (0..instances.len()).collect();
        let kind = match positions.filter(|p| distinct(p)) {
            Some(p) => {
                order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
                "Volume"
            }
            None => {
                let indexes: Option<Vec<i64>> = instances
                    .iter()
                    .map(|r| r.metadata.get("IndexInSeries")?.parse::<i64>().ok())
                    .collect();
                let indexes = indexes.ok_or_else(|| {
                    ServiceError::BadQuery(
                        "Unable to order the slices of the series (no position, no index)".into(),
                    )
                })?;
                order.sort_by_key(|i| indexes[*i]);
                "Sequence"
            }
        };
        Ok(OrderedSlices {
            kind,
            instances: order
                .into_iter()
                .map(|i| (instances[i].id.clone(), frames(&instances[i])))
                .collect(),
        })
    }
}
