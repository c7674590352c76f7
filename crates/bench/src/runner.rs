//! One run: lay the workload out, set it up, start its connections, step
//! through warmup, measurement and drain, and sum up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cli::{Mix, Opts, Workload};
use crate::conn::Dialer;
use crate::ledger::{Outbound, Received, settle};
use crate::report::{Show, Summary, reply_percentiles};
use crate::setup::{self, UserRec};
use crate::stats::{Kind, Percentiles, Phase, Shared};
use crate::sys;
use crate::traffic::{self, Pace, Plan, Settings};

/// How long tasks get to finish after the drain before they are dropped.
const FINISH_GRACE: Duration = Duration::from_secs(10);

/// Runs the workload `opts` describes and returns what it measured.
pub async fn run(opts: Opts) -> anyhow::Result<Summary> {
    opts.check()?;
    let dialer = Arc::new(Dialer::new(&opts.addr, opts.source_ips).await?);
    let dialer2 = match &opts.addr2 {
        Some(a) => Some(Arc::new(Dialer::new(a, opts.source_ips).await?)),
        None => None,
    };
    let layout = Layout::of(&opts);
    let need_fds = layout.users as u64 + opts.setup_connections as u64 + 512;
    let limit = sys::raise_fd_limit(need_fds);
    if limit < need_fds {
        eprintln!(
            "chatbench: the open-file limit is {limit}, below the {need_fds} this run needs; \
             raise it (ulimit -n) or run as root"
        );
    }
    let users = setup::users(
        &dialer,
        opts.users_file.as_deref(),
        layout.users,
        &opts.password,
        opts.setup_connections,
        opts.quiet,
    )
    .await
    .context("setting up users")?;
    match opts.workload {
        Workload::Login => run_login(&opts, dialer, users).await,
        _ => run_sessions(&opts, layout, dialer, dialer2, users).await,
    }
}

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
            Workload::Idle | Workload::Login => Layout {
                users: opts.connection_count(),
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

fn pace(opts: &Opts, senders: usize) -> Pace {
    match opts.rate {
        Some(rate) => Pace::Open {
            interval: Duration::from_secs_f64(senders.max(1) as f64 / rate),
        },
        None => Pace::Closed {
            window: opts.window,
        },
    }
}

/// CPU seconds of the bench and of the server at one moment.
struct CpuMark {
    at: Instant,
    bench: Option<f64>,
    server: Option<f64>,
}

impl CpuMark {
    fn now(server_pid: Option<u32>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            bench: sys::cpu_seconds(None),
            server: server_pid.and_then(|p| sys::cpu_seconds(Some(p))),
        }
    }

    /// Cores used since `self`: (bench, server).
    fn cores_until(&self, end: &CpuMark) -> (f64, Option<f64>) {
        let wall = end.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let rate = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / wall);
        (
            rate(self.bench, end.bench).unwrap_or(0.0),
            rate(self.server, end.server),
        )
    }
}

fn start_progress(opts: &Opts, shared: &Arc<Shared>, show: Show) -> Option<oneshot::Sender<()>> {
    if opts.quiet {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    tokio::spawn(crate::report::progress(
        shared.clone(),
        show,
        opts.server_pid,
        rx,
    ));
    Some(tx)
}

async fn run_sessions(
    opts: &Opts,
    layout: Layout,
    dialer: Arc<Dialer>,
    dialer2: Option<Arc<Dialer>>,
    users: Vec<UserRec>,
) -> anyhow::Result<Summary> {
    let pairs: Vec<(UserRec, UserRec)> = layout
        .pairs
        .iter()
        .map(|&(a, b)| (users[a].clone(), users[b].clone()))
        .collect();
    setup::befriend(&dialer, &pairs, opts.setup_connections)
        .await
        .context("making friends")?;
    let member_lists: Vec<Vec<UserRec>> = layout
        .groups
        .iter()
        .map(|g| g.iter().map(|&i| users[i].clone()).collect())
        .collect();
    let group_ids = setup::make_groups(&dialer, &member_lists, opts.setup_connections)
        .await
        .context("making groups")?;
    let plans = layout.plans(opts, &users, &group_ids);
    let result = drive_sessions(opts, plans, dialer.clone(), dialer2).await;
    if !group_ids.is_empty() {
        let made: Vec<(UserRec, u64)> = member_lists
            .iter()
            .zip(&group_ids)
            .map(|(m, &g)| (m[0].clone(), g))
            .collect();
        if let Err(e) = setup::delete_groups(&dialer, &made, opts.setup_connections).await {
            eprintln!("chatbench: could not delete the bench's groups: {e:#}");
        }
    }
    result
}

async fn drive_sessions(
    opts: &Opts,
    plans: Vec<Plan>,
    dialer: Arc<Dialer>,
    dialer2: Option<Arc<Dialer>>,
) -> anyhow::Result<Summary> {
    let shared = Arc::new(Shared::new());
    let connections = plans.len();
    let senders = plans.iter().filter(|p| p.sends()).count();
    let settings = Arc::new(Settings {
        pace: pace(opts, senders),
        text: "x".repeat(opts.text_bytes),
        lean: opts.workload == Workload::Idle,
    });
    // Which connections should get what, for the loss accounting.
    let targets: HashMap<u32, (Vec<u32>, Vec<u32>)> = plans
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
        .collect();
    let rss_before = opts.server_pid.and_then(sys::rss_kib);
    let logins = Arc::new(Semaphore::new(opts.login_concurrency));
    let (ready_tx, mut ready_rx) = mpsc::channel(1024);
    let mut tasks: Vec<JoinHandle<Option<traffic::Report>>> = Vec::with_capacity(connections);
    for plan in plans {
        let d = match (plan.server, &dialer2) {
            (1, Some(d2)) => d2.clone(),
            _ => dialer.clone(),
        };
        tasks.push(tokio::spawn(traffic::run(
            plan,
            settings.clone(),
            d,
            shared.clone(),
            logins.clone(),
            ready_tx.clone(),
        )));
    }
    drop(ready_tx);
    let mut ready = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while ready < connections {
        tokio::select! {
            got = ready_rx.recv() => match got {
                Some(Ok(())) => ready += 1,
                Some(Err(e)) => {
                    shared.set_phase(Phase::Done);
                    for t in &tasks {
                        t.abort();
                    }
                    return Err(e.context("logging in the workload's sessions"));
                }
                None => break,
            },
            _ = tick.tick() => {
                if !opts.quiet {
                    eprintln!("chatbench: {ready}/{connections} sessions logged in");
                }
            }
        }
    }
    let idle = opts.workload == Workload::Idle;
    let mut rss_after = None;
    if idle && let Some(pid) = opts.server_pid {
        // Let the server settle (login replies, presence) before reading.
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_after = sys::rss_kib(pid);
    }
    let show = if idle {
        Show::Sessions(connections)
    } else {
        Show::Messages
    };
    let progress = start_progress(opts, &shared, show);
    shared.set_phase(Phase::Warmup);
    tokio::time::sleep(opts.warmup()).await;
    shared.set_phase(Phase::Measure);
    let mark = CpuMark::now(opts.server_pid);
    let measure_end = mark.at + opts.duration();
    if idle && let Some(pid) = opts.server_pid {
        // Sample while holding the sessions; keep the highest reading.
        while Instant::now() < measure_end {
            let step = measure_end
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            tokio::time::sleep(step).await;
            if let Some(r) = sys::rss_kib(pid) {
                rss_after = Some(rss_after.map_or(r, |a: u64| a.max(r)));
            }
        }
    } else {
        tokio::time::sleep_until(measure_end.into()).await;
    }
    shared.set_phase(Phase::Drain);
    let end = CpuMark::now(opts.server_pid);
    let measured = end.at.duration_since(mark.at).as_secs_f64();
    let (bench_cpu, server_cpu) = mark.cores_until(&end);

    // Drain: wait for every reply and every delivery owed, or the timeout.
    let drain_start = Instant::now();
    let drain_complete = loop {
        let t = shared.total();
        let outstanding = shared
            .outstanding
            .load(std::sync::atomic::Ordering::Relaxed);
        if outstanding <= 0 && t.delivered >= t.expected {
            break true;
        }
        if drain_start.elapsed() >= opts.drain() {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let drain_s = drain_start.elapsed().as_secs_f64();
    shared.set_phase(Phase::Done);

    let mut reports = Vec::with_capacity(connections);
    let deadline = tokio::time::Instant::now() + FINISH_GRACE;
    let mut unfinished = 0;
    for t in tasks {
        let abort = t.abort_handle();
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(Some(r))) => reports.push(r),
            Ok(_) => unfinished += 1,
            Err(_) => {
                abort.abort();
                unfinished += 1;
            }
        }
    }
    if unfinished > 0 {
        eprintln!(
            "chatbench: {unfinished} connections did not finish; their deliveries count as lost"
        );
    }
    if let Some(p) = progress {
        let _ = p.send(());
    }

    let mut outbound: HashMap<u32, Vec<Outbound>> = HashMap::new();
    let mut received: HashMap<u32, Received> = HashMap::new();
    for r in reports {
        let mut ts = r.targets;
        if let Some((chat_to, group_to)) = targets.get(&r.index) {
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
    let settled = settle(&outbound, &received);

    let m = shared.counts(Phase::Measure);
    let total = shared.total();
    // One lock at a time: a guard in the struct literal below would live
    // to the end of the statement.
    let (latency, send_lag) = {
        let h = shared.hists(Phase::Measure);
        (Percentiles::of(&h.delivery), Percentiles::of(&h.lag))
    };
    let (mode, window, rate) = match (senders, settings.pace) {
        (0, _) => ("none", None, None),
        (_, Pace::Closed { window }) => ("closed", Some(window), None),
        (_, Pace::Open { .. }) => ("open", None, opts.rate),
    };
    let per_session = match (rss_before, rss_after) {
        (Some(b), Some(a)) if idle => Some(a.saturating_sub(b) * 1024 / connections.max(1) as u64),
        _ => None,
    };
    Ok(Summary {
        workload: opts.workload.name(),
        addr: opts.addr.clone(),
        addr2: opts.addr2.clone(),
        connections,
        senders,
        mode,
        window,
        rate,
        text_bytes: opts.text_bytes,
        group_size: matches!(opts.workload, Workload::Group | Workload::Mixed)
            .then(|| opts.group_size()),
        warmup_s: opts.warmup,
        measured_s: measured,
        sent: m.sent,
        sent_per_s: m.sent as f64 / measured,
        delivered: m.delivered,
        delivered_per_s: m.delivered as f64 / measured,
        latency_us: latency,
        send_lag_us: send_lag,
        reply_latency_us: reply_percentiles(&shared, Phase::Measure),
        errors: shared.failures().into_iter().collect(),
        error_samples: shared.error_samples(),
        lost: settled.lost,
        duplicates: total.duplicates,
        unconfirmed: settled.unconfirmed,
        stale: total.stale,
        total_sent: total.sent,
        total_ok: total.ok,
        total_delivered: total.delivered,
        drain_s,
        drain_complete,
        logins: None,
        logins_per_s: None,
        server_rss_before_kib: idle.then_some(rss_before).flatten(),
        server_rss_after_kib: idle.then_some(rss_after).flatten(),
        server_rss_per_session_bytes: per_session,
        bench_cpu_cores: bench_cpu,
        server_cpu_cores: server_cpu,
        bench_peak_rss_kib: sys::own_peak_rss_kib(),
    })
}

async fn run_login(
    opts: &Opts,
    dialer: Arc<Dialer>,
    users: Vec<UserRec>,
) -> anyhow::Result<Summary> {
    let shared = Arc::new(Shared::new());
    let workers = users.len();
    let tasks: Vec<JoinHandle<()>> = users
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            tokio::spawn(crate::login::worker(
                i,
                workers,
                u,
                dialer.clone(),
                shared.clone(),
            ))
        })
        .collect();
    let progress = start_progress(opts, &shared, Show::Logins);
    shared.set_phase(Phase::Warmup);
    tokio::time::sleep(opts.warmup()).await;
    shared.set_phase(Phase::Measure);
    let mark = CpuMark::now(opts.server_pid);
    tokio::time::sleep(opts.duration()).await;
    shared.set_phase(Phase::Drain);
    let end = CpuMark::now(opts.server_pid);
    let measured = end.at.duration_since(mark.at).as_secs_f64();
    let (bench_cpu, server_cpu) = mark.cores_until(&end);
    let drain_start = Instant::now();
    let deadline = tokio::time::Instant::now() + FINISH_GRACE;
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            abort.abort();
        }
    }
    shared.set_phase(Phase::Done);
    if let Some(p) = progress {
        let _ = p.send(());
    }
    let m = shared.counts(Phase::Measure);
    let mut replies = reply_percentiles(&shared, Phase::Measure);
    replies.retain(|k, _| *k == Kind::Login.name());
    Ok(Summary {
        workload: opts.workload.name(),
        addr: opts.addr.clone(),
        addr2: None,
        connections: workers,
        senders: 0,
        mode: "none",
        window: None,
        rate: None,
        text_bytes: opts.text_bytes,
        group_size: None,
        warmup_s: opts.warmup,
        measured_s: measured,
        sent: 0,
        sent_per_s: 0.0,
        delivered: 0,
        delivered_per_s: 0.0,
        latency_us: None,
        send_lag_us: None,
        reply_latency_us: replies,
        errors: shared.failures().into_iter().collect(),
        error_samples: shared.error_samples(),
        lost: 0,
        duplicates: 0,
        unconfirmed: 0,
        stale: 0,
        total_sent: 0,
        total_ok: 0,
        total_delivered: 0,
        drain_s: drain_start.elapsed().as_secs_f64(),
        drain_complete: true,
        logins: Some(m.logins),
        logins_per_s: Some(m.logins as f64 / measured),
        server_rss_before_kib: None,
        server_rss_after_kib: None,
        server_rss_per_session_bytes: None,
        bench_cpu_cores: bench_cpu,
        server_cpu_cores: server_cpu,
        bench_peak_rss_kib: sys::own_peak_rss_kib(),
    })
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

    #[test]
    fn open_loop_spreads_the_rate_over_senders() {
        let o = opts(&["one-to-one", "--rate", "1000"]);
        assert_eq!(
            pace(&o, 100),
            Pace::Open {
                interval: Duration::from_millis(100)
            }
        );
        assert_eq!(
            pace(&opts(&["one-to-one"]), 100),
            Pace::Closed { window: 8 }
        );
    }
}
