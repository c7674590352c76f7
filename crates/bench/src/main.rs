//! `chatbench [OPTIONS] <WORKLOAD>`: runs one workload against a chat
//! server and prints what it measured (see `chatbench --help`).

use anyhow::Context;
use chatbench::Opts;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    opts.check()?;
    let runtime = if opts.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    let json = opts.json;
    let summary = runtime.block_on(chatbench::run(opts))?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.human());
    }
    Ok(())
}
