//! Where the members of a cell or an address class run, for the own-node rule: which pairs of
//! members of two remotes are on the same node (in each state), found and counted per node,
//! without pairing every member with every other (a class of node addresses can hold thousands).

use std::hash::Hash;

use rustc_hash::FxHashMap;

use crate::cluster::NodeId;

/// Where an end runs in the before and after states: what the own-node rule compares.
pub(crate) type Place = (Option<NodeId>, Option<NodeId>);

/// Whether the two ends of a pair split by the own-node rule are on the same node, before and
/// after; `None` for a pair the rule cannot split.
pub(crate) type Relation = Option<(bool, bool)>;

/// Whether two ends are on the same node, in each state.
pub(crate) fn relation_of(a: Place, b: Place) -> (bool, bool) {
    let same = |x: Option<NodeId>, y: Option<NodeId>| x.is_some() && x == y;
    (same(a.0, b.0), same(a.1, b.1))
}

/// The places of one remote's members, indexed by node.
#[derive(Debug)]
pub(crate) struct Places {
    /// Each distinct place, with the first member there.
    distinct: Vec<(Place, usize)>,
    /// Indexes into `distinct`, by the node before and by the node after.
    by_before: FxHashMap<NodeId, Vec<usize>>,
    by_after: FxHashMap<NodeId, Vec<usize>>,
}

impl Places {
    pub fn new(places: impl Iterator<Item = Place>) -> Self {
        let mut seen: FxHashMap<Place, ()> = FxHashMap::default();
        let mut index = Self {
            distinct: Vec::new(),
            by_before: FxHashMap::default(),
            by_after: FxHashMap::default(),
        };
        for (member, place) in places.enumerate() {
            if seen.insert(place, ()).is_some() {
                continue;
            }
            let at = index.distinct.len();
            index.distinct.push((place, member));
            if let Some(n) = place.0 {
                index.by_before.entry(n).or_default().push(at);
            }
            if let Some(n) = place.1 {
                index.by_after.entry(n).or_default().push(at);
            }
        }
        index
    }
}

/// The relations between members of two remotes, each with a member of each (by index) that
/// has it. From the side with fewer places: the places of the other side that share a node give
/// the "same node" relations, and a scan that stops at its first find gives "different nodes".
pub(crate) fn relations(src: &Places, dst: &Places) -> Vec<((bool, bool), usize, usize)> {
    // The relation is symmetric: walk the smaller side, then put the indices back in order.
    let flip = src.distinct.len() > dst.distinct.len();
    let (a, b) = if flip { (dst, src) } else { (src, dst) };
    let slot = |r: (bool, bool)| usize::from(r.0) * 2 + usize::from(r.1);
    let mut found: [Option<(usize, usize)>; 4] = [None; 4];
    for (p, i) in &a.distinct {
        let before = p.0.and_then(|n| b.by_before.get(&n));
        let after = p.1.and_then(|n| b.by_after.get(&n));
        for k in before.into_iter().chain(after).flatten() {
            let (q, j) = b.distinct[*k];
            found[slot(relation_of(*p, q))].get_or_insert((*i, j));
        }
        if found[0].is_none()
            && let Some((_, j)) = b
                .distinct
                .iter()
                .find(|(q, _)| relation_of(*p, *q) == (false, false))
        {
            found[0] = Some((*i, *j));
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    let all = [(false, false), (false, true), (true, false), (true, true)];
    all.into_iter()
        .filter_map(|r| {
            let (i, j) = found[slot(r)]?;
            Some(if flip { (r, j, i) } else { (r, i, j) })
        })
        .collect()
}

/// The members of one remote counted per label, and per label and node.
#[derive(Debug)]
pub(crate) struct Tally<L> {
    pub total: Vec<(L, u64)>,
    before: FxHashMap<NodeId, Vec<(L, u64)>>,
    after: FxHashMap<NodeId, Vec<(L, u64)>>,
    both: FxHashMap<(NodeId, NodeId), Vec<(L, u64)>>,
}

impl<L: Clone + Eq + Hash + Ord> Tally<L> {
    /// Counts members per label, and per label and node only `by_node` (for split pairs).
    pub fn new(members: impl Iterator<Item = (L, Place)>, by_node: bool) -> Self {
        let mut total: FxHashMap<L, u64> = FxHashMap::default();
        let mut before: FxHashMap<NodeId, FxHashMap<L, u64>> = FxHashMap::default();
        let mut after: FxHashMap<NodeId, FxHashMap<L, u64>> = FxHashMap::default();
        let mut both: FxHashMap<(NodeId, NodeId), FxHashMap<L, u64>> = FxHashMap::default();
        for (label, place) in members {
            *total.entry(label.clone()).or_default() += 1;
            if !by_node {
                continue;
            }
            if let Some(n) = place.0 {
                *before
                    .entry(n)
                    .or_default()
                    .entry(label.clone())
                    .or_default() += 1;
            }
            if let Some(n) = place.1 {
                *after
                    .entry(n)
                    .or_default()
                    .entry(label.clone())
                    .or_default() += 1;
            }
            if let (Some(b), Some(a)) = place {
                *both.entry((b, a)).or_default().entry(label).or_default() += 1;
            }
        }
        fn sorted<L: Ord>(counts: FxHashMap<L, u64>) -> Vec<(L, u64)> {
            let mut list: Vec<(L, u64)> = counts.into_iter().collect();
            list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            list
        }
        fn lists<K: Hash + Eq, L: Ord>(
            map: FxHashMap<K, FxHashMap<L, u64>>,
        ) -> FxHashMap<K, Vec<(L, u64)>> {
            map.into_iter().map(|(k, v)| (k, sorted(v))).collect()
        }
        Self {
            total: sorted(total),
            before: lists(before),
            after: lists(after),
            both: lists(both),
        }
    }
}

/// Pairs per (source label, destination label) whose two members share a key (a node): the
/// sum over keys of the products of both sides' counts, from the side with fewer keys.
fn products<K: Hash + Eq, L: Clone + Eq + Hash>(
    src: &FxHashMap<K, Vec<(L, u64)>>,
    dst: &FxHashMap<K, Vec<(L, u64)>>,
) -> FxHashMap<(L, L), u64> {
    let mut out: FxHashMap<(L, L), u64> = FxHashMap::default();
    let (small, large, flip) = if src.len() <= dst.len() {
        (src, dst, false)
    } else {
        (dst, src, true)
    };
    for (key, mine) in small {
        let Some(theirs) = large.get(key) else {
            continue;
        };
        let (sources, destinations) = if flip { (theirs, mine) } else { (mine, theirs) };
        for (from, m) in sources {
            for (to, n) in destinations {
                *out.entry((from.clone(), to.clone())).or_default() += m * n;
            }
        }
    }
    out
}

/// Pairs per (source label, destination label) that have one own-node relation: those on the
/// same node before, after, and in both states are counted per node; the rest by difference.
pub(crate) fn split_counts<L: Clone + Eq + Hash>(
    src: &Tally<L>,
    dst: &Tally<L>,
    relation: (bool, bool),
) -> Vec<(L, L, u64)> {
    let (before, after, both) = (
        products(&src.before, &dst.before),
        products(&src.after, &dst.after),
        products(&src.both, &dst.both),
    );
    let mut out = Vec::new();
    for (from, m) in &src.total {
        for (to, n) in &dst.total {
            let key = (from.clone(), to.clone());
            let get = |counts: &FxHashMap<(L, L), u64>| counts.get(&key).copied().unwrap_or(0);
            let (b, a, tt) = (get(&before), get(&after), get(&both));
            let count = match relation {
                (true, true) => tt,
                (true, false) => b - tt,
                (false, true) => a - tt,
                (false, false) => m * n + tt - b - a,
            };
            out.push((from.clone(), to.clone(), count));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn relations_and_counts_agree_with_pairing_every_member() {
        // Members on nodes 0..3 (and one nowhere), some moved between the states.
        let src: Vec<(char, Place)> = vec![
            ('a', (Some(0), Some(0))),
            ('a', (Some(1), Some(1))),
            ('b', (Some(1), Some(2))),
            ('b', (None, None)),
        ];
        let dst: Vec<(char, Place)> = vec![
            ('x', (Some(0), Some(0))),
            ('x', (Some(1), Some(1))),
            ('y', (Some(1), Some(1))),
            ('y', (Some(2), Some(2))),
            ('x', (Some(3), Some(2))),
        ];
        let index = |m: &[(char, Place)]| Places::new(m.iter().map(|(_, p)| *p));
        let found = relations(&index(&src), &index(&dst));
        let mut want: Vec<(bool, bool)> = src
            .iter()
            .flat_map(|(_, p)| dst.iter().map(|(_, q)| relation_of(*p, *q)))
            .collect();
        want.sort_unstable();
        want.dedup();
        let got: Vec<(bool, bool)> = found.iter().map(|(r, _, _)| *r).collect();
        assert_eq!(got, want);
        for (r, i, j) in &found {
            assert_eq!(relation_of(src[*i].1, dst[*j].1), *r);
        }
        let tally = |m: &[(char, Place)]| Tally::new(m.iter().copied(), true);
        for r in want {
            let mut counted = split_counts(&tally(&src), &tally(&dst), r);
            counted.retain(|c| c.2 > 0);
            counted.sort_unstable();
            let mut paired: BTreeMap<(char, char), u64> = BTreeMap::new();
            for (l, p) in &src {
                for (k, q) in &dst {
                    if relation_of(*p, *q) == r {
                        *paired.entry((*l, *k)).or_default() += 1;
                    }
                }
            }
            let paired: Vec<(char, char, u64)> =
                paired.into_iter().map(|((l, k), n)| (l, k, n)).collect();
            assert_eq!(counted, paired, "relation {r:?}");
        }
    }
}
