//! `parlend keygen` and key loading (`--key FILE` or `--key dev:N`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parlend_ledger::primitives::parse_hex_array;
use parlend_ledger::{Address, Keypair};
use serde::{Deserialize, Serialize};

use parlend_contracts::dev::{DEV_ACCOUNTS, dev_keypair};

/// `parlend keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the key to this file (mode 0600) instead of printing the secret.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A key file: JSON with the address and the 32-byte secret seed in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyFile {
    /// The address (public key).
    pub address: Address,
    /// The secret seed, hex.
    pub secret_key: String,
}

impl KeyFile {
    /// The key file of a key pair.
    pub fn new(key: &Keypair) -> KeyFile {
        KeyFile { address: key.address(), secret_key: hex::encode(key.seed()) }
    }

    /// The key pair, checked against the recorded address.
    pub fn keypair(&self) -> anyhow::Result<Keypair> {
        let seed = parse_hex_array::<32>(&self.secret_key).context("secretKey must be 64 hex digits")?;
        let key = Keypair::from_seed(&seed);
        if key.address() != self.address {
            bail!("the key file's address does not match its secret key");
        }
        Ok(key)
    }
}

/// Loads `--key`: `dev:N` for the N-th dev account, otherwise a key file.
pub fn load_key(spec: &str) -> anyhow::Result<Keypair> {
    if let Some(index) = spec.strip_prefix("dev:") {
        let index: u32 = index.parse().with_context(|| format!("{spec}: expected dev:N with N a number"))?;
        if index >= DEV_ACCOUNTS {
            bail!("{spec}: there are {DEV_ACCOUNTS} dev accounts (dev:0 to dev:{})", DEV_ACCOUNTS - 1);
        }
        return Ok(dev_keypair(index));
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("cannot read key file {spec}"))?;
    let file: KeyFile = serde_json::from_str(&text).with_context(|| format!("{spec} is not a parlend key file"))?;
    file.keypair()
}

/// Parses an address argument: 64 hex digits, or `dev:N` for the N-th dev account.
pub fn parse_address(text: &str) -> Result<Address, String> {
    if text.starts_with("dev:") {
        return load_key(text).map(|key| key.address()).map_err(|error| error.to_string());
    }
    text.parse().map_err(|error| format!("{text:?} is not an address (64 hex digits or dev:N): {error}"))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file =
        options.open(path).with_context(|| format!("cannot create {} (does it exist already?)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// `parlend keygen`.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let key = Keypair::generate().context("the operating system's random source failed")?;
    let file = KeyFile::new(&key);
    let text = serde_json::to_string_pretty(&file)?;
    match &args.out {
        Some(path) => {
            write_private(path, &text)?;
            if args.json {
                crate::cli::print_json(&serde_json::json!({ "address": file.address, "path": path }))?;
            } else {
                println!("address: {}", file.address);
                println!("key written to {}", path.display());
            }
        }
        None if args.json => println!("{text}"),
        None => {
            println!("address:    {}", file.address);
            println!("secret key: {}", file.secret_key);
            println!("Keep the secret key private; save it with --out FILE to use it with --key FILE.");
        }
    }
    Ok(())
}
