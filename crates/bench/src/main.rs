//! `chatbench [OPTIONS] <WORKLOAD>`: runs one workload against a chat
//! server and prints what it measured (see `chatbench --help`); with
//! `--baseline`, against the relay first and the ratio; `chatbench relay`
//! serves the relay.

use anyhow::Context;
use chatbench::{Opts, Workload};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    opts.check()?;
    let relay = opts.workload == Workload::Relay;
    let threads = opts.threads.unwrap_or_else(|| {
        if relay {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        }
    });
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    if relay {
        return runtime.block_on(chatbench::relay::main(&opts.host, opts.port));
    }
    let json = opts.json;
    if opts.baseline.is_some() {
        let both = runtime.block_on(chatbench::compare::compare(opts))?;
        if json {
            println!("{}", serde_json::to_string(&both)?);
        } else {
            print!("{}", both.human());
        }
        return Ok(());
    }
    let summary = runtime.block_on(chatbench::run(opts))?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.human());
    }
    Ok(())
}
