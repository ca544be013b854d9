//! Where the copies of a blob go in the replicated blob mode: pure decisions,
//! no I/O, so that they are unit-tested on literal inputs.
//!
//! Candidates are ranked by rendezvous hashing (the SHA-256 of the blob's hash
//! and the node id, highest first): every node computes the same order for a
//! blob, blobs spread evenly over the nodes, and a membership change moves only
//! the copies it must.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// A node's Raft id.
pub type NodeId = u64;

/// `nodes` in the order in which they should receive copies of `hash`.
pub fn ranked(hash: &str, nodes: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut scored: Vec<(u64, NodeId)> = nodes
        .into_iter()
        .map(|node| {
            let mut h = Sha256::new();
            h.update(hash.as_bytes());
            h.update(node.to_be_bytes());
            let digest = h.finalize();
            let score = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
            (score, node)
        })
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored.dedup_by_key(|(_, node)| *node);
    scored.into_iter().map(|(_, node)| node).collect()
}

/// How many copies a blob should have: `replicas`, capped by the number of
/// members (a cluster scaled down below `Replicas` keeps one copy per member).
pub fn wanted_copies(replicas: u64, members: usize) -> usize {
    (replicas as usize).min(members).max(1)
}

/// Where an ingest on node `me` copies a new blob: the other members, best
/// first. The first `wanted - 1` that accept are the copies; the rest are
/// fallbacks for members that do not answer.
pub fn ingest_targets(hash: &str, me: NodeId, members: &BTreeSet<NodeId>) -> Vec<NodeId> {
    ranked(hash, members.iter().copied().filter(|n| *n != me))
}

/// What a repair must do for one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPlan {
    /// Members that hold a copy: where to read the blob from.
    pub sources: Vec<NodeId>,
    /// Members without a copy, best first: `needed` of them must get one.
    pub candidates: Vec<NodeId>,
    /// How many new copies restore the wanted number.
    pub needed: usize,
    /// Recorded holders that are no longer members: forget them.
    pub remove: Vec<NodeId>,
}

impl RepairPlan {
    /// No member holds a copy any more: the blob cannot be repaired.
    pub fn is_lost(&self) -> bool {
        self.sources.is_empty() && self.needed > 0
    }
}

/// Compares a blob's recorded `holders` with the current `members`: `None`
/// when the blob has its `replicas` copies on members and no stale holder.
pub fn plan_repair(
    hash: &str,
    holders: &[NodeId],
    members: &BTreeSet<NodeId>,
    replicas: u64,
) -> Option<RepairPlan> {
    let live: Vec<NodeId> = holders
        .iter()
        .copied()
        .filter(|h| members.contains(h))
        .collect();
    let remove: Vec<NodeId> = holders
        .iter()
        .copied()
        .filter(|h| !members.contains(h))
        .collect();
    let needed = wanted_copies(replicas, members.len()).saturating_sub(live.len());
    if needed == 0 && remove.is_empty() {
        return None;
    }
    let candidates = ranked(hash, members.iter().copied().filter(|m| !live.contains(m)));
    let sources = ranked(hash, live);
    Some(RepairPlan {
        sources,
        candidates,
        needed,
        remove,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    fn hash(n: u32) -> String {
        crate::content_hash(&n.to_be_bytes())
    }

    #[test]
    fn ranking_is_a_deterministic_permutation() {
        let h = hash(1);
        let a = ranked(&h, [1, 2, 3, 4, 5]);
        assert_eq!(
            a,
            ranked(&h, [5, 4, 3, 2, 1]),
            "order of the input does not matter"
        );
        assert_eq!(set(&a), set(&[1, 2, 3, 4, 5]));
        assert_eq!(ranked(&h, [2, 2, 3]).len(), 2);
        // Removing a node keeps the relative order of the others.
        let without_3: Vec<_> = a.iter().copied().filter(|n| *n != 3).collect();
        assert_eq!(ranked(&h, [1, 2, 4, 5]), without_3);
    }

    #[test]
    fn copies_spread_over_the_nodes() {
        let mut firsts = [0usize; 3];
        for n in 0..3000 {
            firsts[ranked(&hash(n), [1, 2, 3])[0] as usize - 1] += 1;
        }
        assert!(firsts.iter().all(|c| (800..1200).contains(c)), "{firsts:?}");
    }

    #[test]
    fn ingest_copies_go_to_the_other_members() {
        let targets = ingest_targets(&hash(7), 2, &set(&[1, 2, 3]));
        assert_eq!(set(&targets), set(&[1, 3]));
        assert!(ingest_targets(&hash(7), 1, &set(&[1])).is_empty());
        assert_eq!(wanted_copies(3, 5), 3);
        assert_eq!(wanted_copies(3, 2), 2, "capped by the members");
        assert_eq!(wanted_copies(2, 0), 1);
    }

    #[test]
    fn enough_copies_on_members_need_nothing() {
        assert_eq!(plan_repair(&hash(1), &[1, 2], &set(&[1, 2, 3]), 2), None);
        assert_eq!(
            plan_repair(&hash(1), &[1, 2, 3], &set(&[1, 2, 3]), 2),
            None,
            "extra copies are kept"
        );
    }

    #[test]
    fn a_lost_copy_is_restored_elsewhere() {
        let plan = plan_repair(&hash(1), &[2], &set(&[1, 2, 3]), 2).unwrap();
        assert_eq!(plan.sources, vec![2]);
        assert_eq!(plan.needed, 1);
        assert_eq!(set(&plan.candidates), set(&[1, 3]));
        assert!(plan.remove.is_empty());
        assert!(!plan.is_lost());
    }

    #[test]
    fn a_removed_member_is_forgotten_and_replaced() {
        // Node 3 left the cluster: its copy no longer counts.
        let plan = plan_repair(&hash(1), &[1, 3], &set(&[1, 2, 4]), 2).unwrap();
        assert_eq!(plan.sources, vec![1]);
        assert_eq!(plan.remove, vec![3]);
        assert_eq!(plan.needed, 1);
        assert_eq!(set(&plan.candidates), set(&[2, 4]));
        // Enough copies remain: only the stale holder goes.
        let plan = plan_repair(&hash(1), &[1, 2, 3], &set(&[1, 2]), 2).unwrap();
        assert_eq!((plan.needed, plan.remove.clone()), (0, vec![3]));
    }

    #[test]
    fn scaled_below_replicas_keeps_one_copy_per_member() {
        let plan = plan_repair(&hash(1), &[1], &set(&[1, 2]), 3).unwrap();
        assert_eq!(plan.needed, 1);
        assert_eq!(plan_repair(&hash(1), &[1, 2], &set(&[1, 2]), 3), None);
    }

    #[test]
    fn no_copy_on_any_member_is_lost() {
        let plan = plan_repair(&hash(1), &[9], &set(&[1, 2]), 2).unwrap();
        assert!(plan.is_lost());
        assert!(plan_repair(&hash(1), &[], &set(&[1, 2]), 2)
            .unwrap()
            .is_lost());
    }
}
