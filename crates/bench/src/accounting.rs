//! Accounting for the chat workloads: what each sender owed to whom (from
//! the plans, so a connection that died early still owes what it got `ok`
//! for), what each recipient reported, the lost and unconfirmed messages
//! that follow, and the [`Summary`] of the counters and histograms.

use std::collections::HashMap;

use crate::cli::{Opts, Workload};
use crate::ledger::{Outbound, Received, Settled, settle};
use crate::pacing::{Drained, Window};
use crate::report::Summary;
use crate::stats::{Percentiles, Phase, Shared};
use crate::traffic::{Pace, Plan, Report};

/// For each sending connection: the connections its one-to-one messages
/// go to, and those its group messages go to.
#[derive(Debug, Default)]
pub struct Owed(HashMap<u32, (Vec<u32>, Vec<u32>)>);

impl Owed {
    pub fn of(plans: &[Plan]) -> Owed {
        Owed(
            plans
                .iter()
                .filter(|p| p.sends())
                .map(|p| {
                    (
                        p.index,
                        (
                            p.friend.map(|(_, c)| vec![c]).unwrap_or_default(),
                            p.group.as_ref().map(|(_, r)| r.clone()).unwrap_or_default(),
                        ),
                    )
                })
                .collect(),
        )
    }

    /// Compares what the senders got `ok` for with what the recipients got.
    pub fn settle(&self, reports: Vec<Report>) -> Settled {
        let mut outbound: HashMap<u32, Vec<Outbound>> = HashMap::new();
        let mut received: HashMap<u32, Received> = HashMap::new();
        for r in reports {
            let mut ts = r.targets;
            if let Some((chat_to, group_to)) = self.0.get(&r.index) {
                // A connection that died early still owes what it got ok for.
                if let Some(t) = ts.get_mut(0) {
                    t.recipients = chat_to.clone();
                }
                if let Some(t) = ts.get_mut(1) {
                    t.recipients = group_to.clone();
                }
                outbound.insert(r.index, ts);
            }
            received.insert(r.index, r.received);
        }
        settle(&outbound, &received)
    }
}

/// The figures of one chat workload's run.
pub struct Sessions {
    pub connections: usize,
    pub senders: usize,
    pub pace: Pace,
    pub window: Window,
    pub drained: Drained,
    pub settled: Settled,
    /// `idle` with `--server-pid`: the server's VmRSS before the sessions
    /// logged in, and the highest reading while they were held.
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
}

/// Sums up a chat workload's run (idle included).
pub fn summary(opts: &Opts, shared: &Shared, run: &Sessions) -> Summary {
    let m = shared.counts(Phase::Measure);
    let total = shared.total();
    // One lock at a time: a guard in the struct literal below would live
    // to the end of the statement.
    let (latency, send_lag) = {
        let h = shared.hists(Phase::Measure);
        (Percentiles::of(&h.delivery), Percentiles::of(&h.lag))
    };
    let (mode, window, rate) = match (run.senders, run.pace) {
        (0, _) => ("none", None, None),
        (_, Pace::Closed { window }) => ("closed", Some(window), None),
        (_, Pace::Open { .. }) => ("open", None, opts.rate),
    };
    let measured = run.window.measured_s;
    let idle = opts.workload == Workload::Idle;
    let per_session = match (run.rss_before, run.rss_after) {
        (Some(b), Some(a)) if idle => {
            Some(a.saturating_sub(b) * 1024 / run.connections.max(1) as u64)
        }
        _ => None,
    };
    Summary {
        addr2: opts.addr2.clone(),
        connections: run.connections,
        senders: run.senders,
        mode,
        window,
        rate,
        group_size: matches!(opts.workload, Workload::Group | Workload::Mixed)
            .then(|| opts.group_size()),
        sent: m.sent,
        sent_per_s: m.sent as f64 / measured,
        delivered: m.delivered,
        delivered_per_s: m.delivered as f64 / measured,
        latency_us: latency,
        send_lag_us: send_lag,
        lost: run.settled.lost,
        duplicates: total.duplicates,
        unconfirmed: run.settled.unconfirmed,
        stale: total.stale,
        total_sent: total.sent,
        total_ok: total.ok,
        total_delivered: total.delivered,
        drain_s: run.drained.seconds,
        drain_complete: run.drained.complete,
        server_rss_before_kib: idle.then_some(run.rss_before).flatten(),
        server_rss_after_kib: idle.then_some(run.rss_after).flatten(),
        server_rss_per_session_bytes: per_session,
        ..Summary::new(opts, shared, &run.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Mix;
    use crate::setup::UserRec;

    fn plan(index: u32, friend: Option<u32>, sends: bool) -> Plan {
        Plan {
            index,
            user: UserRec {
                id: 100 + u64::from(index),
                name: format!("u{index}"),
                token: "t".into(),
            },
            server: 0,
            friend: friend.map(|f| (100 + u64::from(f), f)),
            group: None,
            mix: if sends {
                Mix::CHAT_ONLY
            } else {
                Mix {
                    chat: 0,
                    group: 0,
                    history: 0,
                    sync: 0,
                }
            },
            offset: 0.0,
        }
    }

    fn report(index: u32, ok: &[u64], got_from: &[(u32, u64)]) -> Report {
        let mut chat = Outbound::default();
        for &s in ok {
            chat.ok.insert(s);
        }
        let mut received = Received::default();
        for &(sender, seq) in got_from {
            received.note(sender, seq);
        }
        Report {
            index,
            // As a connection that died early hands it back: no recipients.
            targets: vec![chat, Outbound::default()],
            received,
        }
    }

    #[test]
    fn what_was_ok_is_owed_to_the_planned_recipients() {
        // 0 chats to 1; 1 chats to 0; 2 only receives.
        let plans = [
            plan(0, Some(1), true),
            plan(1, Some(0), true),
            plan(2, None, false),
        ];
        let owed = Owed::of(&plans);
        assert_eq!(owed.0.len(), 2);
        assert_eq!(owed.0[&0], (vec![1], vec![]));

        // 0 got ok for 0..3, 1 received 0 and 2: one lost. 1 got ok for
        // nothing, yet 0 received its message 7: unconfirmed.
        let settled = owed.settle(vec![
            report(0, &[0, 1, 2], &[(1, 7)]),
            report(1, &[], &[(0, 0), (0, 2)]),
            report(2, &[], &[]),
        ]);
        assert_eq!(
            settled,
            Settled {
                lost: 1,
                unconfirmed: 1
            }
        );
    }

    #[test]
    fn a_recipient_that_never_reported_lost_everything() {
        let owed = Owed::of(&[plan(0, Some(1), true)]);
        let settled = owed.settle(vec![report(0, &[0, 1], &[])]);
        assert_eq!(settled.lost, 2);
    }
}
