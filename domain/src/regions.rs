//! The region tree (SPEC S4): regions with their sub-areas. A reader of a
//! region reads its sub-areas too.
use std::collections::{HashMap, HashSet};

/// A region as the tree needs it: its id and its parent's.
pub trait RegionNode {
    fn id(&self) -> i64;
    fn parent_id(&self) -> Option<i64>;
}

/// Expands region ids to include every descendant sub-area.
pub fn expand<R: RegionNode>(all: &[R], roots: &[i64]) -> HashSet<i64> {
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in all {
        if let Some(p) = r.parent_id() {
            children.entry(p).or_default().push(r.id());
        }
    }
    let mut out = HashSet::new();
    let mut stack: Vec<i64> = roots.to_vec();
    while let Some(id) = stack.pop() {
        if out.insert(id) {
            if let Some(c) = children.get(&id) {
                stack.extend(c);
            }
        }
    }
    out
}

/// The ids of a region and all its ancestors, nearest first.
pub fn with_ancestors<R: RegionNode>(all: &[R], region_id: i64) -> Vec<i64> {
    let parents: HashMap<i64, Option<i64>> = all.iter().map(|r| (r.id(), r.parent_id())).collect();
    chain_up(&parents, region_id)
}

/// The region and its ancestors by a region → parent map (the walk ends on
/// a cycle).
pub fn chain_up(parents: &HashMap<i64, Option<i64>>, region_id: i64) -> Vec<i64> {
    let mut out = vec![];
    let mut cur = Some(region_id);
    while let Some(id) = cur {
        if out.contains(&id) {
            break;
        }
        out.push(id);
        cur = parents.get(&id).copied().flatten();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(i64, Option<i64>);
    impl RegionNode for R {
        fn id(&self) -> i64 {
            self.0
        }
        fn parent_id(&self) -> Option<i64> {
            self.1
        }
    }

    #[test]
    fn a_region_expands_to_its_sub_areas_and_climbs_to_its_ancestors() {
        let all = [R(1, None), R(2, Some(1)), R(3, Some(2)), R(4, None)];
        let mut down: Vec<i64> = expand(&all, &[2]).into_iter().collect();
        down.sort_unstable();
        assert_eq!(down, vec![2, 3]);
        assert_eq!(with_ancestors(&all, 3), vec![3, 2, 1]);
        let cycle: HashMap<i64, Option<i64>> = [(5, Some(6)), (6, Some(5))].into();
        assert_eq!(chain_up(&cycle, 5), vec![5, 6]);
    }
}
