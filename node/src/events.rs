//! Receipts as clients see them: outcomes with the contracts' reason names
//! and values, typed events, and `getEvents` answered from the store's
//! event index.

use parlend_contracts::failure::reason_name;
use parlend_contracts::{Event, Failure};
use parlend_ledger::{Hash, TxStatus};
use parlend_rpc::ApiError;
use parlend_rpc::types::{EVENTS_LIMIT_DEFAULT, EventCursor, EventView, EventsParams, EventsView, OutcomeView};
use parlend_store::{EventPosition, EventQuery, Store};

/// A receipt's outcome with the contracts' reason name and, when the
/// reason has any, the values that explain it.
pub fn outcome_view(status: &TxStatus) -> OutcomeView {
    match status {
        TxStatus::Success => OutcomeView::Success,
        TxStatus::AccessViolation { key } => OutcomeView::AccessViolation { key: *key },
        TxStatus::Failed { instruction, code, detail } => OutcomeView::Failed {
            reason: reason_name(*code).map_or_else(|| format!("Unknown({code})"), str::to_string),
            code: *code,
            instruction: *instruction,
            detail: Failure::decode(*code, detail).filter(|failure| !failure.detail().is_empty()),
        },
    }
}

/// A receipt's events, typed.
pub fn typed_events(records: &[parlend_ledger::Event]) -> Result<Vec<Event>, ApiError> {
    records.iter().map(typed_event).collect()
}

fn typed_event(record: &parlend_ledger::Event) -> Result<Event, ApiError> {
    Event::from_record(record)
        .ok_or_else(|| ApiError::Unavailable(format!("an event of kind {} does not decode", record.kind)))
}

/// `getEvents` (params already checked by the server: range, limit, kind,
/// cursor).
pub fn events(store: &dyn Store, params: &EventsParams) -> Result<EventsView, ApiError> {
    let head = store.head().map_or(0, |head| head.height);
    let kind = match &params.kind {
        Some(name) => {
            Some(Event::kind_of(name).ok_or_else(|| ApiError::InvalidParams(format!("unknown event kind {name:?}")))?)
        }
        None => None,
    };
    let from = match params.cursor {
        Some(cursor) => {
            EventPosition { height: cursor.height, tx_index: cursor.tx_index, event_index: cursor.event_index }
        }
        None => EventPosition::block_start(params.from_height),
    };
    let limit = params.limit.unwrap_or(EVENTS_LIMIT_DEFAULT);
    let query = EventQuery {
        address: params.address,
        kind,
        from,
        to_height: params.to_height.min(head),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    };
    let page = store.events(&query).map_err(|error| ApiError::Unavailable(error.to_string()))?;
    let events = page
        .events
        .iter()
        .map(|indexed| {
            Ok(EventView {
                position: cursor(indexed.position),
                tx_hash: indexed.tx_hash,
                event: typed_event(&indexed.event)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(EventsView { events, next: page.next.map(cursor) })
}

fn cursor(position: EventPosition) -> EventCursor {
    EventCursor { height: position.height, tx_index: position.tx_index, event_index: position.event_index }
}

/// What the node log says about one transaction of a block: its signer and
/// instructions, known before the block is committed.
#[derive(Debug, Clone)]
pub struct TxLogEntry {
    hash: Hash,
    signer: parlend_ledger::Address,
    instructions: String,
}

/// Blocks of more transactions than this log one line for the block only:
/// under load a line per transaction costs the committer more CPU than
/// writing the block, and nobody reads thousands of lines a second
/// (`parlend watch txs` and the dashboard follow every transaction).
pub const TX_LINES_MAX: usize = 64;

/// The log entries of a block's transactions (`hashes` are theirs, in
/// order), or none when the node log does not show them: below `info`, or a
/// block of more than [`TX_LINES_MAX`] transactions.
pub fn tx_log_entries(transactions: &[parlend_contracts::SignedTransaction], hashes: &[Hash]) -> Vec<TxLogEntry> {
    if transactions.len() > TX_LINES_MAX || !tracing::enabled!(target: "parlend::tx", tracing::Level::INFO) {
        return Vec::new();
    }
    transactions
        .iter()
        .zip(hashes)
        .map(|(signed, hash)| TxLogEntry {
            hash: *hash,
            signer: signed.transaction.signer,
            instructions: signed.transaction.instructions.iter().map(instruction_name).collect::<Vec<_>>().join("+"),
        })
        .collect()
}

fn instruction_name(instruction: &parlend_contracts::Instruction) -> String {
    serde_json::to_value(instruction)
        .ok()
        .and_then(|json| json["type"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// One line per transaction (hash, signer, instructions, outcome) when
/// `entries` has them (see [`tx_log_entries`]), then one for the block
/// (height, transactions, parallel share, time).
pub fn log_block(
    head: &parlend_store::ChainHead,
    entries: &[TxLogEntry],
    receipts: &[parlend_ledger::Receipt],
    stats: &parlend_ledger::exec::ExecutionStats,
    took: std::time::Duration,
) {
    for (entry, receipt) in entries.iter().zip(receipts) {
        let outcome = match outcome_view(&receipt.status) {
            OutcomeView::Success => "ok".to_string(),
            OutcomeView::Failed { reason, instruction, detail, .. } => match detail {
                Some(detail) => format!("failed at {instruction}: {detail}"),
                None => format!("failed at {instruction}: {reason}"),
            },
            OutcomeView::AccessViolation { key } => format!("access violation on {key}"),
        };
        tracing::info!(
            target: "parlend::tx",
            height = head.height,
            hash = %entry.hash,
            signer = %entry.signer,
            instructions = %entry.instructions,
            outcome = %outcome,
            "transaction"
        );
    }
    let count = receipts.len();
    // Transactions that ran once, speculatively in parallel, and were kept.
    let parallel = if stats.serial_fallback || count == 0 { 0 } else { count.saturating_sub(stats.reexecutions) };
    tracing::info!(
        target: "parlend::block",
        height = head.height,
        hash = %head.hash,
        transactions = count,
        parallel = %format_args!("{parallel}/{count}"),
        millis = took.as_millis(),
        "block committed"
    );
}
