//! `parlend dev ...`: a dev node's controls (faucet, mining, time, snapshots).

use clap::{Args, Subcommand};
use parlend_ledger::{Address, AssetId};
use parlend_rpc::Client;
use parlend_rpc::types::ClockView;

use super::RpcArgs;

/// `parlend dev` arguments.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The control.
    #[command(subcommand)]
    pub command: DevCommand,
    /// RPC options.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// Dev controls (the node must run with --dev).
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Mint tokens to an account with the dev minter key; returns once committed.
    Faucet {
        /// The recipient: an address, a key file's address, or dev:N.
        #[arg(long, value_parser = super::keys::parse_address)]
        to: Address,
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens, as a decimal.
        #[arg(long)]
        amount: String,
    },
    /// Produce blocks now (empty ones if nothing is pending).
    Mine {
        /// How many.
        #[arg(long, default_value_t = 1)]
        blocks: u32,
    },
    /// Move the node's clock forward: 90, 15m, 12h, 30d, 1y. Takes effect
    /// at once for queries and from the next block for execution.
    IncreaseTime {
        /// The duration.
        #[arg(value_parser = parse_duration)]
        duration: u64,
    },
    /// Set the node's clock to a time: Unix seconds, or a UTC date (2027-01-01, 2027-01-01T12:00:00Z).
    /// Never back: only later than the node's clock.
    SetTime {
        /// The time.
        #[arg(value_parser = parse_time)]
        time: u64,
    },
    /// Remember the chain's current state; prints the snapshot id.
    Snapshot,
    /// Go back to a snapshot (it and later snapshots are used up; pending transactions are dropped).
    Revert {
        /// The snapshot id.
        id: u64,
    },
}

/// `parlend dev`.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let client = super::client(&args.rpc)?;
    let json = args.rpc.json;
    match args.command {
        DevCommand::Faucet { to, asset, amount } => {
            let amount = super::tx::base_units(&client, asset, &amount).await?;
            let status = client.faucet(to, asset, amount).await?;
            if json {
                return super::print_json(&status);
            }
            println!("minted {} {asset} to {to}", super::format::tokens(amount, decimals(&client, asset).await?));
            super::describe::print_status(&status, &super::describe::Units::fetch(&client).await?);
        }
        DevCommand::Mine { blocks } => {
            let mined = client.mine(blocks).await?;
            if json {
                return super::print_json(&mined);
            }
            println!("mined {} block(s); head is now {}", mined.blocks, mined.height);
        }
        DevCommand::IncreaseTime { duration } => {
            let clock = client.increase_time(duration).await?;
            if json {
                return super::print_json(&clock);
            }
            println!("clock moved {} forward", super::format::duration(duration));
            print_clock(&clock);
        }
        DevCommand::SetTime { time } => {
            let clock = client.set_time(time).await?;
            if json {
                return super::print_json(&clock);
            }
            print_clock(&clock);
        }
        DevCommand::Snapshot => {
            let snapshot = client.snapshot().await?;
            if json {
                return super::print_json(&snapshot);
            }
            println!("snapshot {} at height {}", snapshot.id, snapshot.height);
        }
        DevCommand::Revert { id } => {
            let reverted = client.revert(id).await?;
            if json {
                return super::print_json(&reverted);
            }
            println!(
                "reverted to snapshot {} at height {} ({} pending transactions dropped)",
                reverted.id, reverted.height, reverted.dropped_transactions
            );
        }
    }
    Ok(())
}

fn print_clock(clock: &ClockView) {
    println!(
        "clock: {} ({} ahead of the wall clock)",
        super::format::timestamp(clock.clock),
        super::format::duration(clock.offset_seconds)
    );
    if clock.prices_refreshed > 0 {
        println!(
            "re-posted {} at their last value, so they stay fresh (run the node with --keep-stale-prices to opt out)",
            super::describe::plural(
                usize::try_from(clock.prices_refreshed).unwrap_or(usize::MAX),
                "stale oracle price"
            )
        );
    }
}

/// Unix seconds, or an RFC 3339 UTC date (`2027-01-01`, `2027-01-01T12:00:00Z`).
fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_string() };
    let time = humantime::parse_rfc3339(&full)
        .map_err(|error| format!("{text:?}: not Unix seconds nor a UTC date ({error})"))?;
    time.duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).map_err(|error| error.to_string())
}

async fn decimals(client: &Client, asset: AssetId) -> anyhow::Result<u8> {
    super::tx::decimals(client, asset).await
}

/// A duration in the shared units (`90`, `15m`, `1d12h`, `1y`).
fn parse_duration(text: &str) -> Result<u64, String> {
    Ok(parlend_contracts::units::duration(text)?)
}
