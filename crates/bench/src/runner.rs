//! One run: set the workload up, start its connections, step through
//! warmup, measurement and drain, and sum up.
//!
//! The pieces live beside this file, one concern each: [`crate::layout`]
//! (who befriends whom), [`crate::fleet`] (the connections),
//! [`crate::pacing`] (open or closed loop, and the run's clock) and
//! [`crate::accounting`] (what was owed, what arrived, the summary).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use crate::accounting::{self, Owed, Sessions};
use crate::cli::{Opts, Workload};
use crate::conn::Dialer;
use crate::fleet::Fleet;
use crate::layout::Layout;
use crate::login::Logins;
use crate::pacing::{self, pace};
use crate::report::{Show, Summary};
use crate::setup::{self, UserRec};
use crate::stats::{Kind, Phase, Shared};
use crate::sys::{self, ServerMark};
use crate::traffic::{Plan, Settings};

/// Runs the workload `opts` describes and returns what it measured.
pub async fn run(opts: Opts) -> anyhow::Result<Summary> {
    opts.check()?;
    anyhow::ensure!(
        opts.workload != Workload::Relay,
        "`relay` is a server, not a workload: run it with `chatbench relay`"
    );
    let addr = opts.addr();
    let dialer = Arc::new(Dialer::with(addr, opts.source_ips, opts.layers(addr)?).await?);
    let dialer2 = match &opts.addr2 {
        Some(a) => Some(Arc::new(
            Dialer::with(a, opts.source_ips, opts.layers(a)?).await?,
        )),
        None => None,
    };
    if opts.workload == Workload::Storm {
        let need = opts.connection_count() as u64 + opts.setup_connections as u64 + 512;
        let limit = sys::raise_fd_limit(need);
        if limit < need {
            eprintln!("chatbench: the open-file limit is {limit}, below the {need} this run needs");
        }
        return crate::storm::run(&opts, dialer).await;
    }
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
        &opts.user_password,
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
    let idle = opts.workload == Workload::Idle;
    let settings = Arc::new(Settings {
        pace: pace(opts, senders),
        text: "x".repeat(opts.text_bytes),
        lean: idle,
    });
    let owed = Owed::of(&plans);
    let rss_before = opts.server_pid.and_then(sys::rss_kib);
    let mut fleet = Fleet::start(
        plans,
        &settings,
        &dialer,
        dialer2.as_ref(),
        &shared,
        opts.login_concurrency,
    );
    fleet.logged_in(&shared, opts.quiet).await?;

    let idle_pid = opts.server_pid.filter(|_| idle);
    let mut rss_after = None;
    if let Some(pid) = idle_pid {
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
    // Idle: sample while holding the sessions; keep the highest reading.
    let mut sample_rss = || {
        if let Some(r) = idle_pid.and_then(sys::rss_kib) {
            rss_after = Some(rss_after.map_or(r, |a: u64| a.max(r)));
        }
    };
    let sampler: Option<&mut dyn FnMut()> = match idle_pid {
        Some(_) => Some(&mut sample_rss),
        None => None,
    };
    let server = opts.server_pid.map(ServerMark::now);
    let window = pacing::warmup_and_measure(&shared, opts, sampler).await;
    let drained = pacing::drain(&shared, opts.drain()).await;
    let server = server.map(|m| m.until_now(shared.total().delivered));
    let reports = fleet.finish().await;
    if let Some(p) = progress {
        let _ = p.send(());
    }
    let settled = owed.settle(reports);
    let run = Sessions {
        connections,
        senders,
        pace: settings.pace,
        window,
        drained,
        settled,
        rss_before,
        rss_after,
    };
    Ok(Summary {
        server,
        ..accounting::summary(opts, &shared, &run)
    })
}

async fn run_login(
    opts: &Opts,
    dialer: Arc<Dialer>,
    users: Vec<UserRec>,
) -> anyhow::Result<Summary> {
    let shared = Arc::new(Shared::new());
    let server = opts.server_pid.map(ServerMark::now);
    let progress = start_progress(opts, &shared, Show::Logins);
    let ran = Logins {
        opts,
        dialer,
        users,
        shared: &shared,
    }
    .run()
    .await;
    let window = ran.window;
    let mut server = server.map(|m| m.until_now(0));
    if let (true, Some(u), Some(pid)) = (opts.password, server.as_mut(), opts.server_pid) {
        // What the server keeps, or gives back, once the hashing is over.
        tokio::time::sleep(Duration::from_secs_f64(opts.settle)).await;
        u.rss_after_kib = sys::rss_kib(pid);
        u.rss_after_s = Some(opts.settle);
        u.rss_peak_kib = sys::highest(&[sys::peak_rss_kib(pid), u.rss_peak_kib, u.rss_after_kib]);
    }
    shared.set_phase(Phase::Done);
    if let Some(p) = progress {
        let _ = p.send(());
    }
    let m = shared.counts(Phase::Measure);
    let mut summary = Summary::new(opts, &shared, &window);
    summary
        .reply_latency_us
        .retain(|k, _| *k == Kind::Login.name());
    Ok(Summary {
        connections: ran.workers,
        warmup_s: if opts.password { 0.0 } else { opts.warmup },
        drain_s: ran.drain_s,
        logins: Some(m.logins),
        logins_per_s: Some(m.logins as f64 / window.measured_s),
        login_by: Some(if opts.password { "password" } else { "token" }),
        server,
        ..summary
    })
}
