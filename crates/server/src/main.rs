//! `chatserver [HOST] [PORT] [--db URL] ...`: runs one node until SIGTERM
//! or Ctrl-C, then stops gracefully and exits 0.

use chatserver::{Config, Server};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// `chatserver backup DIR`: copies a running node's embedded store.
#[derive(Parser)]
#[command(
    name = "chatserver backup",
    about = "Copies the embedded store (SQLite file and message log) of a running node into DIR"
)]
struct Backup {
    /// An empty (or new) folder for the copy.
    dir: std::path::PathBuf,
    /// The store to copy, as given to the node.
    #[arg(long, env = "CHAT_DB", default_value = "sqlite://data/chat.db")]
    db: String,
}

fn backup(args: Backup) -> std::process::ExitCode {
    match chatserver::backup::run(&args.db, &args.dir) {
        Ok(c) => {
            println!(
                "copied {} and {} log segment(s) ({} bytes) into {}",
                c.db.display(),
                c.segments,
                c.log_bytes,
                args.dir.display()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "backup") {
        args.remove(1);
        return backup(Backup::parse_from(args));
    }
    let config = Config::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain in one line, never a backtrace: start-up
            // errors are for operators (and never carry a password).
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let server = Server::bind(config).await?;
    let web = server.web_url().unwrap_or_else(|| "off".into());
    let admin = server
        .http_addr()
        .map_or_else(|| "off".into(), |a| a.to_string());
    tracing::info!(
        addr = %server.local_addr()?,
        web = %web,
        admin = %admin,
        tls = server.tls().is_some(),
        store = server.store_description(),
        routing = server.routing(),
        "chatserver listening"
    );
    if let Some(url) = server.web_url() {
        eprintln!("web client: {url}");
    }
    if let Some(tls) = server.tls() {
        tokio::spawn(reload_on_hangup(tls));
    }
    server.run(shutdown_signal()).await
}

/// Reads the certificate again on each SIGHUP.
async fn reload_on_hangup(tls: std::sync::Arc<chatserver::tls::Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!("TLS certificate not reloaded, keeping the old one: {e:#}")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted"),
        _ = term => tracing::info!("terminated"),
    }
}
