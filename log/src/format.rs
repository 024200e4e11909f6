//! The transaction log file: committed blocks, streamed, versioned and
//! (by default) zstd-compressed. [docs/log-format.md] is the specification;
//! this module is its one implementation.
//!
//! ```text
//! file    = magic "PARLENDL" | version u16 LE | compression u8 | body
//! body    = record*            (compressed as one zstd stream when compression = 1)
//! record  = kind u8 | length u32 LE | payload[length]
//! records = genesis, accounts*, then one block per height from 1, then end
//! ```
//!
//! A log is self-contained: its first record is the genesis (as the JSON
//! genesis file, without its accounts) with the hash of block 0 and the
//! number of funded accounts, which follow in account records of at most
//! [`GENESIS_ACCOUNTS_PER_RECORD`] each, so a genesis of any size streams in
//! bounded records and a replay needs nothing else. Version 3 has version
//! 2's layout; its headers' state roots are Jellyfish Merkle roots, so logs
//! of versions 1 and 2 (bucket-tree roots, which this build does not
//! compute) are refused rather than replayed into a mismatch.
//! Each block record carries the block hash the node committed next to the
//! canonical block bytes, and the end record the totals and the head's hash,
//! so a log cut short anywhere is recognised as truncated rather than taken
//! for a shorter chain.
//!
//! Reading is streaming: one record in memory at a time, each at most
//! [`RECORD_BYTES_MAX`], allocated only as its bytes arrive. Every malformed
//! input is a [`LogError`], never a panic.
//!
//! [docs/log-format.md]: https://github.com/parlend/parlend/blob/main/docs/log-format.md

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parlend_contracts::Block;
use parlend_contracts::genesis::{Genesis, GenesisAccount};
use parlend_ledger::Hash;
use parlend_ledger::limits::{TRANSACTION_BYTES_MAX, TRANSACTIONS_PER_BLOCK_MAX};
use parlend_store::{MemoryStore, Store};

use parlend_app::{App, AppError};

/// The first 8 bytes of every log file.
pub const MAGIC: [u8; 8] = *b"PARLENDL";

/// The format version this build writes.
pub const VERSION: u16 = 3;

/// The versions this build reads: 3 only (the genesis's accounts in account
/// records, the state root a Jellyfish Merkle root). Versions 1 and 2
/// commit to the state with the bucket tree this build no longer computes.
pub const VERSIONS_READ: [u16; 1] = [VERSION];

/// Largest genesis record: the genesis without its accounts (assets,
/// markets, keys).
pub const GENESIS_RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Funded accounts per account record, as written: about 2 MB of JSON for
/// the dev assets, so a reader holds one small record at a time.
pub const GENESIS_ACCOUNTS_PER_RECORD: usize = 10_000;

/// Largest block record: a full block of the largest transactions, its
/// header and the block hash, with room for the encoding's length prefixes.
pub const RECORD_BYTES_MAX: usize = TRANSACTIONS_PER_BLOCK_MAX * TRANSACTION_BYTES_MAX + 64 * 1024;

/// zstd level used when writing: fast, and logs of signed transactions
/// compress about 2x at any level (signatures and keys are random).
pub const ZSTD_LEVEL: i32 = 3;

const KIND_GENESIS: u8 = 1;
const KIND_BLOCK: u8 = 2;
const KIND_END: u8 = 3;
const KIND_ACCOUNTS: u8 = 4;
const END_PAYLOAD_BYTES: usize = 8 + 8 + 32;

/// How the body of a log is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Records as they are.
    None,
    /// Records in one zstd stream (the default).
    #[default]
    Zstd,
}

impl Compression {
    fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
        }
    }
}

/// Why a log cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file could not be read or written.
    #[error("log I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with [`MAGIC`].
    #[error("not a parlend log (the file does not start with PARLENDL)")]
    NotALog,
    /// The file was written by another version of the format.
    #[error(
        "log format version {0} is not supported (this build reads version {VERSION} only: versions 1 and 2 hold \
         bucket-tree state roots, which this build does not compute)"
    )]
    UnsupportedVersion(u16),
    /// The compression byte is unknown.
    #[error("unknown log compression {0}")]
    UnknownCompression(u8),
    /// The log ends before its end record.
    #[error("the log is truncated: it ends after {blocks} complete blocks, without its end record")]
    Truncated {
        /// Complete block records read before the end of the data.
        blocks: u64,
    },
    /// A record cannot be decoded.
    #[error("the log is corrupt after {blocks} blocks: {reason}")]
    Corrupt {
        /// Complete block records read before the corrupt one.
        blocks: u64,
        /// What is wrong.
        reason: String,
    },
    /// The log was written in the wrong order (a bug in the writer's caller).
    #[error("log writer misuse: {0}")]
    Misuse(String),
}

/// What the first record of a log says.
#[derive(Debug, Clone)]
pub struct LogHeader {
    /// The format version.
    pub version: u16,
    /// The body's compression.
    pub compression: Compression,
    /// The chain's genesis.
    pub genesis: Genesis,
    /// The hash of block 0 built from `genesis`.
    pub genesis_hash: Hash,
}

/// One block as the log holds it.
#[derive(Debug, Clone)]
pub struct LogBlock {
    /// The block hash the node committed.
    pub hash: Hash,
    /// The block.
    pub block: Block,
    /// Size of the canonical block encoding, bytes.
    pub encoded_bytes: usize,
}

/// The end record: what the whole log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTrailer {
    /// Blocks after genesis.
    pub blocks: u64,
    /// Transactions in those blocks.
    pub transactions: u64,
    /// The hash of the last block (of block 0 when there is none).
    pub head_hash: Hash,
}

/// A reader that counts the bytes it passes on (progress on long logs).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// Streams the records of a log, one at a time.
pub struct LogReader {
    body: Box<dyn Read + Send>,
    header: LogHeader,
    bytes_read: Arc<AtomicU64>,
    blocks: u64,
    transactions: u64,
    last_hash: Hash,
    trailer: Option<LogTrailer>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").field("blocks", &self.blocks).field("trailer", &self.trailer).finish()
    }
}

/// Reads exactly `buffer.len()` bytes; `Ok(false)` if the data ends before
/// the first byte, `UnexpectedEof` if it ends after it.
fn read_exact_or_end(input: &mut dyn Read, buffer: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

impl LogReader {
    /// Opens a log: checks the magic, version and compression, and reads
    /// the genesis record.
    pub fn open<R: Read + Send + 'static>(input: R) -> Result<LogReader, LogError> {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let mut input = BufReader::new(Counting { inner: input, count: bytes_read.clone() });
        let mut preamble = [0u8; 11];
        match read_exact_or_end(&mut input, &mut preamble) {
            Ok(true) => {}
            Ok(false) => return Err(LogError::NotALog),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Err(LogError::NotALog),
            Err(error) => return Err(LogError::Io(error)),
        }
        if preamble[..8] != MAGIC {
            return Err(LogError::NotALog);
        }
        let version = u16::from_le_bytes([preamble[8], preamble[9]]);
        if !VERSIONS_READ.contains(&version) {
            return Err(LogError::UnsupportedVersion(version));
        }
        let (compression, body): (Compression, Box<dyn Read + Send>) = match preamble[10] {
            0 => (Compression::None, Box::new(input)),
            1 => (Compression::Zstd, Box::new(zstd::stream::read::Decoder::with_buffer(input)?)),
            other => return Err(LogError::UnknownCompression(other)),
        };
        let mut reader = LogReader {
            body,
            header: LogHeader { version, compression, genesis: placeholder_genesis(), genesis_hash: Hash::ZERO },
            bytes_read,
            blocks: 0,
            transactions: 0,
            last_hash: Hash::ZERO,
            trailer: None,
        };
        let (genesis_hash, genesis) = reader.genesis()?;
        reader.header.genesis = genesis;
        reader.header.genesis_hash = genesis_hash;
        reader.last_hash = genesis_hash;
        Ok(reader)
    }

    /// Reads the genesis record and the account records after it.
    fn genesis(&mut self) -> Result<(Hash, Genesis), LogError> {
        let (kind, payload) = self.record(GENESIS_RECORD_BYTES_MAX)?.ok_or(LogError::Truncated { blocks: 0 })?;
        if kind != KIND_GENESIS {
            return Err(self.corrupt(format!("the first record is of kind {kind}, not the genesis")));
        }
        let counted = 40;
        if payload.len() < counted {
            return Err(self.corrupt("the genesis record is too short".to_string()));
        }
        let mut genesis_hash = [0u8; 32];
        genesis_hash.copy_from_slice(&payload[..32]);
        let mut genesis: Genesis = serde_json::from_slice(&payload[counted..])
            .map_err(|error| self.corrupt(format!("the genesis does not decode: {error}")))?;
        let mut count = [0u8; 8];
        count.copy_from_slice(&payload[32..40]);
        let accounts = u64::from_le_bytes(count);
        if !genesis.accounts.is_empty() {
            return Err(self.corrupt("the genesis record lists accounts; they belong in account records".to_string()));
        }
        while (genesis.accounts.len() as u64) < accounts {
            let (kind, payload) = self.record(RECORD_BYTES_MAX)?.ok_or(LogError::Truncated { blocks: 0 })?;
            if kind != KIND_ACCOUNTS {
                let read = genesis.accounts.len();
                return Err(self.corrupt(format!("record of kind {kind} after {read} of {accounts} genesis accounts")));
            }
            let chunk: Vec<GenesisAccount> = serde_json::from_slice(&payload)
                .map_err(|error| self.corrupt(format!("an account record does not decode: {error}")))?;
            if chunk.is_empty() || genesis.accounts.len() as u64 + chunk.len() as u64 > accounts {
                return Err(self.corrupt(format!("the account records do not hold the {accounts} accounts announced")));
            }
            genesis.accounts.extend(chunk);
        }
        Ok((Hash(genesis_hash), genesis))
    }

    /// Opens the log file at `path`.
    pub fn open_file(path: &std::path::Path) -> Result<LogReader, LogError> {
        LogReader::open(std::fs::File::open(path)?)
    }

    /// The genesis and format details.
    pub fn header(&self) -> &LogHeader {
        &self.header
    }

    /// Bytes of the underlying input consumed so far (compressed bytes for
    /// a compressed log): with the file size, the progress of a replay.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Frees the genesis's funded accounts (a large genesis holds millions):
    /// once a chain is opened from the genesis they are in its state, and
    /// [`LogReader::header`] then shows the genesis without them.
    pub fn release_genesis_accounts(&mut self) {
        self.header.genesis.accounts = Vec::new();
    }

    /// The end record, once [`LogReader::next_block`] has returned `None`.
    pub fn trailer(&self) -> Option<LogTrailer> {
        self.trailer
    }

    fn corrupt(&self, reason: String) -> LogError {
        LogError::Corrupt { blocks: self.blocks, reason }
    }

    fn read_error(&self, error: io::Error) -> LogError {
        match error.kind() {
            io::ErrorKind::UnexpectedEof => LogError::Truncated { blocks: self.blocks },
            // zstd reports damaged compressed data as `Other`.
            io::ErrorKind::Other | io::ErrorKind::InvalidData => {
                self.corrupt(format!("the compressed data is damaged: {error}"))
            }
            _ => LogError::Io(error),
        }
    }

    /// The next record, or `None` at the clean end of the data.
    fn record(&mut self, limit: usize) -> Result<Option<(u8, Vec<u8>)>, LogError> {
        let mut prefix = [0u8; 5];
        match read_exact_or_end(&mut self.body, &mut prefix) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(error) => return Err(self.read_error(error)),
        }
        let kind = prefix[0];
        let length = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if length > limit {
            return Err(self.corrupt(format!("a record of {length} bytes is over the limit of {limit}")));
        }
        // Grow the buffer as bytes arrive: a corrupt length never allocates
        // more than the data that is really there.
        let mut payload = Vec::with_capacity(length.min(1 << 20));
        let read = (&mut self.body).take(length as u64).read_to_end(&mut payload);
        if let Err(error) = read {
            return Err(self.read_error(error));
        }
        if payload.len() < length {
            return Err(LogError::Truncated { blocks: self.blocks });
        }
        Ok(Some((kind, payload)))
    }

    /// The next block, or `None` after the end record. The end record is
    /// checked against what was read, and nothing may follow it.
    pub fn next_block(&mut self) -> Result<Option<LogBlock>, LogError> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        let Some((kind, payload)) = self.record(RECORD_BYTES_MAX)? else {
            return Err(LogError::Truncated { blocks: self.blocks });
        };
        match kind {
            KIND_BLOCK => self.block(&payload).map(Some),
            KIND_END => {
                self.end(&payload)?;
                Ok(None)
            }
            other => Err(self.corrupt(format!("unexpected record kind {other}"))),
        }
    }

    fn block(&mut self, payload: &[u8]) -> Result<LogBlock, LogError> {
        if payload.len() < 32 {
            return Err(self.corrupt("a block record is too short".to_string()));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&payload[..32]);
        let bytes = &payload[32..];
        let block: Block = borsh::from_slice(bytes)
            .map_err(|error| self.corrupt(format!("block record {} does not decode: {error}", self.blocks + 1)))?;
        if block.encode() != bytes {
            return Err(self.corrupt(format!("block record {} is not the canonical encoding", self.blocks + 1)));
        }
        self.blocks += 1;
        self.transactions += block.transactions.len() as u64;
        self.last_hash = Hash(hash);
        Ok(LogBlock { hash: Hash(hash), block, encoded_bytes: bytes.len() })
    }

    fn end(&mut self, payload: &[u8]) -> Result<(), LogError> {
        if payload.len() != END_PAYLOAD_BYTES {
            return Err(self.corrupt("the end record has the wrong size".to_string()));
        }
        let u64_at = |offset: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&payload[offset..offset + 8]);
            u64::from_le_bytes(bytes)
        };
        let mut head_hash = [0u8; 32];
        head_hash.copy_from_slice(&payload[16..48]);
        let trailer = LogTrailer { blocks: u64_at(0), transactions: u64_at(8), head_hash: Hash(head_hash) };
        let read = LogTrailer { blocks: self.blocks, transactions: self.transactions, head_hash: self.last_hash };
        if trailer != read {
            return Err(self.corrupt(format!(
                "the end record says {} blocks, {} transactions, head {}; the log holds {} blocks, {} transactions, \
                 head {}",
                trailer.blocks, trailer.transactions, trailer.head_hash, read.blocks, read.transactions, read.head_hash
            )));
        }
        let mut extra = [0u8; 1];
        match read_exact_or_end(&mut self.body, &mut extra) {
            Ok(false) => {}
            Ok(true) => return Err(self.corrupt("data follows the end record".to_string())),
            Err(error) => return Err(self.read_error(error)),
        }
        self.trailer = Some(trailer);
        Ok(())
    }
}

/// A genesis that is never used: the reader's header before the genesis
/// record is read.
fn placeholder_genesis() -> Genesis {
    Genesis {
        chain_id: 0,
        timestamp: 0,
        admin: parlend_ledger::Address([0; 32]),
        oracle: parlend_ledger::Address([0; 32]),
        minter: None,
        assets: Vec::new(),
        accounts: Vec::new(),
        markets: Vec::new(),
        liquidation: Default::default(),
        emode_categories: Vec::new(),
        validators: Vec::new(),
    }
}

/// `genesis` without its funded accounts: the genesis record's JSON. Every
/// field is named, so a field added to [`Genesis`] must be placed here too.
fn without_accounts(genesis: &Genesis) -> Genesis {
    let Genesis {
        chain_id,
        timestamp,
        admin,
        oracle,
        minter,
        assets,
        accounts: _,
        markets,
        liquidation,
        emode_categories,
        validators,
    } = genesis;
    Genesis {
        chain_id: *chain_id,
        timestamp: *timestamp,
        admin: *admin,
        oracle: *oracle,
        minter: *minter,
        assets: assets.clone(),
        accounts: Vec::new(),
        markets: markets.clone(),
        liquidation: *liquidation,
        emode_categories: emode_categories.clone(),
        validators: validators.clone(),
    }
}

enum Sink<W: Write> {
    Plain(BufWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<W>>),
}

impl<W: Write> Sink<W> {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(out) => out,
            Sink::Zstd(out) => out,
        }
    }
}

/// Writes a log, one block at a time.
pub struct LogWriter<W: Write> {
    sink: Sink<W>,
    blocks: u64,
    transactions: u64,
    next_height: u64,
    last_hash: Hash,
}

impl<W: Write> LogWriter<W> {
    /// Starts a log of the chain that `genesis` creates, whose block 0 has
    /// hash `genesis_hash`.
    pub fn new(
        out: W,
        genesis: &Genesis,
        genesis_hash: Hash,
        compression: Compression,
    ) -> Result<LogWriter<W>, LogError> {
        let mut out = BufWriter::new(out);
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&[compression.code()])?;
        let sink = match compression {
            Compression::None => Sink::Plain(out),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                encoder.include_checksum(true)?;
                Sink::Zstd(encoder)
            }
        };
        let mut writer = LogWriter { sink, blocks: 0, transactions: 0, next_height: 1, last_hash: genesis_hash };
        let json =
            serde_json::to_vec(&without_accounts(genesis)).map_err(|error| LogError::Misuse(error.to_string()))?;
        let accounts = genesis.accounts.len() as u64;
        writer.record(KIND_GENESIS, &[&genesis_hash.0, &accounts.to_le_bytes(), &json])?;
        for chunk in genesis.accounts.chunks(GENESIS_ACCOUNTS_PER_RECORD) {
            let json = serde_json::to_vec(chunk).map_err(|error| LogError::Misuse(error.to_string()))?;
            if json.len() > RECORD_BYTES_MAX {
                return Err(LogError::Misuse("a genesis account record is over the record limit".to_string()));
            }
            writer.record(KIND_ACCOUNTS, &[&json])?;
        }
        Ok(writer)
    }

    fn record(&mut self, kind: u8, parts: &[&[u8]]) -> Result<(), LogError> {
        let length: usize = parts.iter().map(|part| part.len()).sum();
        let length = u32::try_from(length).map_err(|_| LogError::Misuse("record over 4 GiB".to_string()))?;
        let out = self.sink.writer();
        out.write_all(&[kind])?;
        out.write_all(&length.to_le_bytes())?;
        for part in parts {
            out.write_all(part)?;
        }
        Ok(())
    }

    /// Appends the next block: its hash and its canonical bytes (as the
    /// store holds them). Heights must follow each other from 1.
    pub fn write_block(
        &mut self,
        hash: Hash,
        height: u64,
        block_bytes: &[u8],
        transactions: u64,
    ) -> Result<(), LogError> {
        if height != self.next_height {
            return Err(LogError::Misuse(format!("block {height} written where {} was due", self.next_height)));
        }
        if block_bytes.len() + 32 > RECORD_BYTES_MAX {
            return Err(LogError::Misuse(format!("block {height} is over the record limit")));
        }
        self.record(KIND_BLOCK, &[&hash.0, block_bytes])?;
        self.next_height += 1;
        self.blocks += 1;
        self.transactions += transactions;
        self.last_hash = hash;
        Ok(())
    }

    /// Writes the end record and flushes; returns what the log holds.
    pub fn finish(mut self) -> Result<LogTrailer, LogError> {
        let trailer = LogTrailer { blocks: self.blocks, transactions: self.transactions, head_hash: self.last_hash };
        let mut payload = Vec::with_capacity(END_PAYLOAD_BYTES);
        payload.extend_from_slice(&trailer.blocks.to_le_bytes());
        payload.extend_from_slice(&trailer.transactions.to_le_bytes());
        payload.extend_from_slice(&trailer.head_hash.0);
        self.record(KIND_END, &[&payload])?;
        let mut out = match self.sink {
            Sink::Plain(out) => out,
            Sink::Zstd(encoder) => encoder.finish()?,
        };
        out.flush()?;
        Ok(trailer)
    }
}

/// Writes every committed block of `store` (heights 1 to the head, or to
/// `up_to`) as a log of the chain created by `genesis`. The store's block 0
/// must be that genesis' block. Streams: one block in memory at a time.
pub fn export_store<W: Write>(
    store: &dyn Store,
    genesis: &Genesis,
    out: W,
    compression: Compression,
    up_to: Option<u64>,
) -> Result<LogTrailer, ExportError> {
    let head = store.head().ok_or(ExportError::Empty)?;
    let genesis_header = store.header(0)?.ok_or(ExportError::Empty)?;
    let expected = genesis_hash(genesis)?;
    if expected != genesis_header.hash() {
        return Err(ExportError::WrongGenesis { stored: genesis_header.hash(), given: expected });
    }
    let last = up_to.map_or(head.height, |height| height.min(head.height));
    let mut writer = LogWriter::new(out, genesis, genesis_header.hash(), compression)?;
    for height in 1..=last {
        let header = store.header(height)?.ok_or(ExportError::Missing(height))?;
        let bytes = store.block_bytes(height)?.ok_or(ExportError::Missing(height))?;
        writer.write_block(header.hash(), height, &bytes, u64::from(header.transaction_count))?;
    }
    Ok(writer.finish()?)
}

/// The hash of block 0 of the chain `genesis` creates, computed the way
/// [`App::open`] commits it (on a scratch in-memory store).
pub fn genesis_hash(genesis: &Genesis) -> Result<Hash, AppError> {
    let app = App::open(Arc::new(MemoryStore::new()), genesis, 1)?;
    Ok(app.store().header(0)?.map(|header| header.hash()).unwrap_or(Hash::ZERO))
}

/// Why a store cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store holds no chain.
    #[error("the store holds no chain (no genesis block)")]
    Empty,
    /// The genesis given is not the store's.
    #[error("the store's block 0 is {stored}, but the genesis given builds {given}; pass the chain's genesis")]
    WrongGenesis {
        /// Block 0 in the store.
        stored: Hash,
        /// Block 0 of the genesis given.
        given: Hash,
    },
    /// A committed block is missing from the store.
    #[error("block {0} is missing from the store")]
    Missing(u64),
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] parlend_app::AppError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] parlend_ledger::state::StoreError),
    /// The log could not be written.
    #[error(transparent)]
    Log(#[from] LogError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use parlend_contracts::dev::dev_genesis;

    #[test]
    fn an_empty_chain_round_trips_in_both_compressions() {
        let genesis = dev_genesis();
        let hash = genesis_hash(&genesis).unwrap();
        for compression in [Compression::None, Compression::Zstd] {
            let mut bytes = Vec::new();
            let trailer = LogWriter::new(&mut bytes, &genesis, hash, compression).unwrap().finish().unwrap();
            assert_eq!(trailer, LogTrailer { blocks: 0, transactions: 0, head_hash: hash });
            assert_eq!(bytes[..8], MAGIC);
            let mut reader = LogReader::open(std::io::Cursor::new(bytes.clone())).unwrap();
            assert_eq!(reader.header().genesis, genesis);
            assert_eq!(reader.header().compression, compression);
            assert!(reader.next_block().unwrap().is_none());
            assert_eq!(reader.trailer(), Some(trailer));
            assert_eq!(reader.bytes_read(), bytes.len() as u64);
        }
    }

    /// A genesis with `extra` more funded accounts than the dev genesis.
    fn large_genesis(extra: u32) -> Genesis {
        let mut genesis = dev_genesis();
        let usdc = parlend_ledger::AssetId::from_static("USDC");
        for index in 0..extra {
            let mut address = [0xaau8; 32];
            address[..4].copy_from_slice(&index.to_le_bytes());
            let balances = [(usdc, parlend_ledger::Amount(u128::from(index) + 1))].into_iter().collect();
            genesis.accounts.push(GenesisAccount { address: parlend_ledger::Address(address), balances });
        }
        genesis
    }

    /// The records of an uncompressed log: (kind, payload length).
    fn records(bytes: &[u8]) -> Vec<(u8, usize)> {
        let mut at = 11;
        let mut out = Vec::new();
        while at < bytes.len() {
            let length = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
            out.push((bytes[at], length));
            at += 5 + length;
        }
        out
    }

    #[test]
    fn a_large_genesis_streams_in_bounded_account_records() {
        let genesis = large_genesis(u32::try_from(2 * GENESIS_ACCOUNTS_PER_RECORD + 1).unwrap());
        let hash = Hash([7; 32]);
        let mut bytes = Vec::new();
        LogWriter::new(&mut bytes, &genesis, hash, Compression::None).unwrap().finish().unwrap();
        let kinds: Vec<u8> = records(&bytes).iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, [KIND_GENESIS, KIND_ACCOUNTS, KIND_ACCOUNTS, KIND_ACCOUNTS, KIND_END]);
        let largest = records(&bytes).iter().map(|(_, length)| *length).max().unwrap();
        assert!(largest < 4 * 1024 * 1024, "a record of {largest} bytes");
        let mut reader = LogReader::open(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(reader.header().genesis, genesis);
        assert_eq!(reader.header().genesis_hash, hash);
        assert!(reader.next_block().unwrap().is_none());
        reader.release_genesis_accounts();
        assert!(reader.header().genesis.accounts.is_empty());
    }

    /// A log of `genesis` in the version 1 layout: the whole genesis in one record.
    fn version_1_log(genesis: &Genesis, hash: Hash) -> Vec<u8> {
        let mut bytes = [&MAGIC[..], &1u16.to_le_bytes(), &[0]].concat();
        let mut record = |kind: u8, payload: &[u8]| {
            bytes.push(kind);
            bytes.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
            bytes.extend_from_slice(payload);
        };
        record(KIND_GENESIS, &[&hash.0[..], &serde_json::to_vec(genesis).unwrap()].concat());
        record(KIND_END, &[&0u64.to_le_bytes()[..], &0u64.to_le_bytes(), &hash.0].concat());
        bytes
    }

    #[test]
    fn logs_of_the_bucket_root_versions_are_refused() {
        let genesis = large_genesis(3);
        let version_1 = version_1_log(&genesis, Hash([3; 32]));
        assert!(matches!(LogReader::open(std::io::Cursor::new(version_1)), Err(LogError::UnsupportedVersion(1))));
        let version_2 = [&MAGIC[..], &2u16.to_le_bytes(), &[0]].concat();
        let error = LogReader::open(std::io::Cursor::new(version_2)).err().unwrap();
        assert!(matches!(error, LogError::UnsupportedVersion(2)));
        assert!(error.to_string().contains("bucket-tree state roots"), "{error}");
        let version_4 = [&MAGIC[..], &4u16.to_le_bytes(), &[0]].concat();
        assert!(matches!(LogReader::open(std::io::Cursor::new(version_4)), Err(LogError::UnsupportedVersion(4))));
    }

    /// A log of the dev genesis (this version) whose genesis record announces
    /// `announced` accounts and whose account records are `chunks`.
    fn accounts_log(announced: u64, chunks: &[&[GenesisAccount]], genesis_lists: bool) -> Vec<u8> {
        let genesis = dev_genesis();
        let mut bytes = [&MAGIC[..], &VERSION.to_le_bytes(), &[0]].concat();
        let mut record = |kind: u8, payload: &[u8]| {
            bytes.push(kind);
            bytes.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
            bytes.extend_from_slice(payload);
        };
        let header = if genesis_lists { genesis.clone() } else { without_accounts(&genesis) };
        record(
            KIND_GENESIS,
            &[&[0u8; 32][..], &announced.to_le_bytes(), &serde_json::to_vec(&header).unwrap()].concat(),
        );
        for chunk in chunks {
            record(KIND_ACCOUNTS, &serde_json::to_vec(chunk).unwrap());
        }
        record(KIND_END, &[&0u64.to_le_bytes()[..], &0u64.to_le_bytes(), &[0u8; 32]].concat());
        bytes
    }

    #[test]
    fn account_records_must_hold_exactly_the_accounts_announced() {
        let accounts = dev_genesis().accounts;
        let open = |bytes: Vec<u8>| {
            let mut reader = LogReader::open(std::io::Cursor::new(bytes))?;
            while reader.next_block()?.is_some() {}
            Ok::<_, LogError>(reader.header().clone())
        };
        let all = accounts.len() as u64;
        assert_eq!(open(accounts_log(all, &[&accounts[..4], &accounts[4..]], false)).unwrap().genesis, dev_genesis());
        let cases: [(&str, Vec<u8>); 5] = [
            ("too few records", accounts_log(all, &[&accounts[..4]], false)),
            ("more than announced", accounts_log(2, &[&accounts[..3]], false)),
            ("an empty record", accounts_log(all, &[&[], &accounts[..]], false)),
            ("accounts in the genesis record", accounts_log(0, &[], true)),
            ("none announced, one sent", accounts_log(0, &[&accounts[..1]], false)),
        ];
        for (what, bytes) in cases {
            let error = open(bytes).map(|_| ()).expect_err(what);
            assert!(matches!(error, LogError::Corrupt { .. }), "{what}: {error}");
        }
    }

    #[test]
    fn not_a_log() {
        for bytes in [&b""[..], b"PARLEND", b"PARLENDX\x01\x00\x00", b"hello world, not a log"] {
            assert!(matches!(LogReader::open(std::io::Cursor::new(bytes.to_vec())), Err(LogError::NotALog)));
        }
        let unknown = [&MAGIC[..], &VERSION.to_le_bytes(), &[7]].concat();
        assert!(matches!(LogReader::open(std::io::Cursor::new(unknown)), Err(LogError::UnknownCompression(7))));
    }

    #[test]
    fn a_record_over_the_limit_is_corrupt_without_allocating_it() {
        let mut bytes = [&MAGIC[..], &VERSION.to_le_bytes(), &[0]].concat();
        bytes.push(KIND_GENESIS);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let error = LogReader::open(std::io::Cursor::new(bytes)).unwrap_err();
        assert!(error.to_string().contains("over the limit"), "{error}");
    }
}
