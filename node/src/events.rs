//! Receipts as clients see them: outcomes with the contracts' reason names
//! and values, typed events, and `getEvents` answered from the store's
//! event index.

use parlend_contracts::failure::reason_name;
use parlend_contracts::{Event, Failure};
use parlend_ledger::TxStatus;
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
