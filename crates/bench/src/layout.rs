//! A workload's layout: who is whose friend and who is in which group, by
//! connection index, and from that each connection's [`Plan`].
//!
//! Pure data: no I/O. Setup makes the friendships and groups the layout
//! names; the runner then starts one connection per plan.

use crate::cli::{Mix, Opts, Workload};
use crate::setup::UserRec;
use crate::traffic::Plan;

/// Who is whose friend and who is in which group, by connection index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub users: usize,
    pub pairs: Vec<(usize, usize)>,
    pub groups: Vec<Vec<usize>>,
}

impl Layout {
    pub fn of(opts: &Opts) -> Layout {
        let pairs_of = |n: usize| (0..n).map(|k| (2 * k, 2 * k + 1)).collect::<Vec<_>>();
        match opts.workload {
            Workload::OneToOne | Workload::CrossNode => {
                let n = opts.pair_count();
                Layout {
                    users: 2 * n,
                    pairs: pairs_of(n),
                    groups: Vec::new(),
                }
            }
            Workload::Group => {
                let g = opts.group_size();
                Layout {
                    users: opts.groups * g,
                    pairs: Vec::new(),
                    groups: (0..opts.groups)
                        .map(|k| (k * g..(k + 1) * g).collect())
                        .collect(),
                }
            }
            Workload::Mixed => {
                let n = opts.pair_count();
                let mut groups: Vec<Vec<usize>> = (0..2 * n)
                    .collect::<Vec<_>>()
                    .chunks(opts.group_size())
                    .map(<[usize]>::to_vec)
                    .collect();
                // A group of one would have nobody to deliver to.
                if groups.len() > 1 && groups.last().is_some_and(|g| g.len() < 2) {
                    let last = groups.pop().unwrap_or_default();
                    if let Some(prev) = groups.last_mut() {
                        prev.extend(last);
                    }
                }
                Layout {
                    users: 2 * n,
                    pairs: pairs_of(n),
                    groups,
                }
            }
            Workload::Idle | Workload::Login | Workload::Storm | Workload::Relay => Layout {
                users: opts.login_users().unwrap_or(opts.connection_count()),
                pairs: Vec::new(),
                groups: Vec::new(),
            },
        }
    }

    /// Each connection's plan, given the users and the created groups' ids.
    pub fn plans(&self, opts: &Opts, users: &[UserRec], group_ids: &[u64]) -> Vec<Plan> {
        let mut plans: Vec<Plan> = users
            .iter()
            .enumerate()
            .map(|(i, u)| Plan {
                index: i as u32,
                user: u.clone(),
                server: 0,
                friend: None,
                group: None,
                mix: Mix {
                    chat: 0,
                    group: 0,
                    history: 0,
                    sync: 0,
                },
                offset: 0.0,
            })
            .collect();
        for &(a, b) in &self.pairs {
            match opts.workload {
                Workload::CrossNode => {
                    // One way: the sender on --addr, its receiver on --addr2.
                    plans[a].friend = Some((users[b].id, b as u32));
                    plans[a].mix = Mix::CHAT_ONLY;
                    plans[b].server = 1;
                }
                Workload::Mixed => {
                    plans[a].friend = Some((users[b].id, b as u32));
                    plans[b].friend = Some((users[a].id, a as u32));
                }
                _ => {
                    plans[a].friend = Some((users[b].id, b as u32));
                    plans[b].friend = Some((users[a].id, a as u32));
                    plans[a].mix = Mix::CHAT_ONLY;
                    plans[b].mix = Mix::CHAT_ONLY;
                }
            }
        }
        let senders_per_group = opts.senders.unwrap_or(usize::MAX);
        for (members, &gid) in self.groups.iter().zip(group_ids) {
            for (k, &m) in members.iter().enumerate() {
                let others = members
                    .iter()
                    .filter(|&&o| o != m)
                    .map(|&o| o as u32)
                    .collect();
                plans[m].group = Some((gid, others));
                if opts.workload == Workload::Group && k < senders_per_group {
                    plans[m].mix = Mix::GROUP_ONLY;
                }
            }
        }
        if opts.workload == Workload::Mixed {
            for p in &mut plans {
                p.mix = opts.mix;
            }
        }
        let senders = plans.iter().filter(|p| p.sends()).count().max(1);
        for (k, p) in plans.iter_mut().filter(|p| p.sends()).enumerate() {
            p.offset = k as f64 / senders as f64;
        }
        plans
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn opts(args: &[&str]) -> Opts {
        let mut all = vec!["chatbench"];
        all.extend_from_slice(args);
        Opts::parse_from(all)
    }

    fn users(n: usize) -> Vec<UserRec> {
        (0..n)
            .map(|i| UserRec {
                id: 100 + i as u64,
                name: format!("u{i}"),
                token: "t".into(),
            })
            .collect()
    }

    #[test]
    fn one_to_one_pairs_chat_both_ways() {
        let o = opts(&["one-to-one", "--pairs", "3"]);
        let l = Layout::of(&o);
        assert_eq!(l.users, 6);
        assert_eq!(l.pairs, vec![(0, 1), (2, 3), (4, 5)]);
        let plans = l.plans(&o, &users(6), &[]);
        assert!(plans.iter().all(|p| p.sends()));
        assert_eq!(plans[1].friend, Some((100, 0)));
        assert_eq!(plans[4].friend, Some((105, 5)));
        let offsets: Vec<f64> = plans.iter().map(|p| p.offset).collect();
        assert_eq!(offsets[0], 0.0);
        assert!(offsets[5] < 1.0);
    }

    #[test]
    fn cross_node_sends_one_way_across_servers() {
        let o = opts(&["cross-node", "--pairs", "2", "--addr2", "127.0.0.1:1"]);
        let plans = Layout::of(&o).plans(&o, &users(4), &[]);
        assert!(plans[0].sends() && !plans[1].sends());
        assert_eq!((plans[0].server, plans[1].server), (0, 1));
        assert_eq!(plans[0].friend, Some((101, 1)));
        assert_eq!(plans[1].friend, None);
    }

    #[test]
    fn groups_fan_out_to_the_other_members() {
        let o = opts(&[
            "group",
            "--groups",
            "2",
            "--group-size",
            "3",
            "--senders",
            "1",
        ]);
        let l = Layout::of(&o);
        assert_eq!(l.groups, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        let plans = l.plans(&o, &users(6), &[7, 8]);
        assert_eq!(plans[4].group, Some((8, vec![3, 5])));
        let senders: Vec<u32> = plans
            .iter()
            .filter(|p| p.sends())
            .map(|p| p.index)
            .collect();
        assert_eq!(senders, vec![0, 3]);
    }

    #[test]
    fn mixed_never_leaves_a_group_of_one() {
        let o = opts(&["mixed", "--pairs", "3", "--group-size", "5"]);
        let l = Layout::of(&o);
        assert_eq!(l.groups, vec![vec![0, 1, 2, 3, 4, 5]]);
        let plans = l.plans(&o, &users(6), &[9]);
        assert!(
            plans
                .iter()
                .all(|p| p.friend.is_some() && p.group.is_some())
        );
        assert!(plans.iter().all(|p| p.mix == o.mix));
    }
}
