//! An order to land slots in that makes the fewest of them conflict when their turn comes.
//!
//! A slot conflicts at its turn when it conflicts with its base now, or with a slot landed
//! before it (pairwise, from in-memory merges). Slots that conflict with the base pay that
//! anyway, so they go last, where they cannot make others conflict. Among the rest, the slots
//! that land cleanly are exactly those with no conflicting slot before them; the most that can
//! is a maximum independent set of the conflict graph, and it goes first. The others follow,
//! each time the one with the fewest conflicting files against what already landed. Landing
//! one slot changes the base the next is merged into, so pairwise conflicts are a forecast,
//! not a promise.

/// Slot indices in landing order, with what each is expected to conflict with at its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub order: Vec<usize>,
    /// For each position: the earlier slots it conflicts with (indices).
    pub against: Vec<Vec<usize>>,
    /// Whether the slot at each position conflicts with the base itself.
    pub with_base: Vec<bool>,
}

impl Proposal {
    /// How many slots are expected to conflict at their turn.
    pub fn conflicts(&self) -> usize {
        (0..self.order.len())
            .filter(|&i| self.with_base[i] || !self.against[i].is_empty())
            .count()
    }
}

/// `n` slots; `with_base[i]`: slot i conflicts with its base; `pairs`: (i, j, conflicting
/// files) for every conflicting pair.
pub fn propose(n: usize, with_base: &[bool], pairs: &[(usize, usize, usize)]) -> Proposal {
    let mut files = vec![vec![0usize; n]; n];
    for &(a, b, count) in pairs {
        if a < n && b < n && a != b {
            files[a][b] = count.max(1);
            files[b][a] = count.max(1);
        }
    }
    let conflicts = |a: usize, b: usize| files[a][b] > 0;
    let clean: Vec<usize> = (0..n).filter(|&i| !with_base[i]).collect();
    let first = independent_set(&clean, &conflicts);
    let mut order: Vec<usize> = first.clone();
    let mut rest: Vec<usize> = clean
        .iter()
        .copied()
        .filter(|i| !first.contains(i))
        .collect();
    rest.extend((0..n).filter(|&i| with_base[i]));
    while !rest.is_empty() {
        let cost = |i: usize| -> (bool, usize, usize) {
            let against: usize = order.iter().map(|&j| files[i][j]).sum();
            (with_base[i], against, i)
        };
        let (pos, _) = rest
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| cost(**i))
            .expect("rest is not empty");
        order.push(rest.remove(pos));
    }
    let against = order
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            order[..pos]
                .iter()
                .copied()
                .filter(|&j| conflicts(i, j))
                .collect()
        })
        .collect();
    let with_base = order.iter().map(|&i| with_base[i]).collect();
    Proposal {
        order,
        against,
        with_base,
    }
}

/// A largest set of `nodes` of which no two conflict, in ascending order: exact (branch and
/// bound over bit sets) up to 64 nodes, greedy by fewest conflicts beyond.
fn independent_set(nodes: &[usize], conflicts: &dyn Fn(usize, usize) -> bool) -> Vec<usize> {
    if nodes.len() > 64 {
        return greedy(nodes, conflicts);
    }
    let k = nodes.len();
    let neighbours: Vec<u64> = (0..k)
        .map(|a| {
            (0..k)
                .filter(|&b| b != a && conflicts(nodes[a], nodes[b]))
                .fold(0u64, |m, b| m | (1 << b))
        })
        .collect();
    let all = if k == 64 { u64::MAX } else { (1u64 << k) - 1 };
    let best = search(all, &neighbours);
    (0..k)
        .filter(|&b| best & (1 << b) != 0)
        .map(|b| nodes[b])
        .collect()
}

/// The largest independent subset of `candidates`.
fn search(candidates: u64, neighbours: &[u64]) -> u64 {
    if candidates == 0 {
        return 0;
    }
    let bits = || (0..neighbours.len()).filter(move |&b| candidates & (1 << b) != 0);
    let degree = |b: usize| (neighbours[b] & candidates).count_ones();
    // A node with at most one neighbour left is in some largest set: take it.
    if let Some(v) = bits().find(|&b| degree(b) <= 1) {
        return (1 << v) | search(candidates & !(1 << v) & !neighbours[v], neighbours);
    }
    let v = bits()
        .max_by_key(|&b| (degree(b), std::cmp::Reverse(b)))
        .unwrap_or(0);
    let with = (1 << v) | search(candidates & !(1 << v) & !neighbours[v], neighbours);
    let without = search(candidates & !(1 << v), neighbours);
    if without.count_ones() > with.count_ones() {
        without
    } else {
        with
    }
}

fn greedy(nodes: &[usize], conflicts: &dyn Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut left: Vec<usize> = nodes.to_vec();
    let mut chosen = Vec::new();
    while !left.is_empty() {
        let degree = |i: usize| left.iter().filter(|&&j| j != i && conflicts(i, j)).count();
        let (pos, _) = left
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| (degree(**i), **i))
            .expect("left is not empty");
        let v = left.remove(pos);
        left.retain(|&j| !conflicts(v, j));
        chosen.push(v);
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_of_three_lands_the_ends_first() {
        // 0 and 1 conflict, 1 and 2 conflict: 0 and 2 land cleanly, then 1.
        let p = propose(3, &[false; 3], &[(0, 1, 1), (1, 2, 2)]);
        assert_eq!(p.order, [0, 2, 1]);
        assert_eq!(p.against, [vec![], vec![], vec![0, 2]]);
        assert_eq!(p.conflicts(), 1);
    }

    #[test]
    fn slots_that_conflict_with_the_base_go_last() {
        // 0 conflicts with the base and with 1 and 2: landing it first would make both conflict.
        let p = propose(3, &[true, false, false], &[(0, 1, 1), (0, 2, 1)]);
        assert_eq!(p.order, [1, 2, 0]);
        assert_eq!(p.conflicts(), 1);
    }

    #[test]
    fn no_conflicts_keeps_the_given_order() {
        let p = propose(4, &[false; 4], &[]);
        assert_eq!(p.order, [0, 1, 2, 3]);
        assert_eq!(p.conflicts(), 0);
    }

    #[test]
    fn exact_beats_greedy_on_a_known_graph() {
        // A star with centre 0 and leaves 1..=4, plus a triangle 5-6-7 hanging off 1: the
        // largest clean set is the four leaves and one corner of the triangle.
        let pairs = [
            (0, 1, 1),
            (0, 2, 1),
            (0, 3, 1),
            (0, 4, 1),
            (5, 6, 1),
            (6, 7, 1),
            (5, 7, 1),
            (1, 5, 1),
        ];
        let p = propose(8, &[false; 8], &pairs);
        assert_eq!(p.conflicts(), 3);
        let clean: Vec<usize> = (0..8)
            .filter(|&i| p.against[i].is_empty())
            .map(|i| p.order[i])
            .collect();
        assert_eq!(clean.len(), 5, "{p:?}");
        for (a, b, _) in pairs {
            assert!(!(clean.contains(&a) && clean.contains(&b)), "{p:?}");
        }
    }

    #[test]
    fn the_fewest_conflicting_files_come_first_among_the_rest() {
        // 0 and 1 and 2 all conflict with each other; 0 lands first, then the one with fewer
        // files against 0.
        let p = propose(3, &[false; 3], &[(0, 1, 5), (0, 2, 1), (1, 2, 1)]);
        assert_eq!(p.order[0], 0);
        assert_eq!(p.order[1], 2);
    }
}
