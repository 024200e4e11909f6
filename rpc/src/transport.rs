//! Connections: the accept loop, HTTP/1 on hyper with its own timers, and
//! how connection slots are shared.
//!
//! hyper bounds the time to read a request's headers
//! ([`ServerLimits::header_read_timeout`], its `header_read_timeout`), counted
//! from the moment the connection waits for a request: from its opening, and
//! again after each response, so the same bound closes an idle keep-alive
//! connection. The body's read time is bounded by the request handler
//! ([`ServerLimits::body_read_timeout`]).
//!
//! Slots: at most [`ServerLimits::connections_max`] connections, and at most
//! [`ServerLimits::connections_per_ip_max`] from one IP address. A connection
//! is *busy* while one of its requests is being handled, and *idle*
//! otherwise (waiting for or reading a request's headers, or writing an
//! answer). When a new connection finds no free slot, the idle connection
//! that has been quiet the longest makes room for it (from the same address
//! when that address is at its share), as nginx does with idle keep-alive
//! connections; idle clients that hold slots can therefore never keep out a
//! new one. Busy connections are bounded by the request lanes and the body
//! reads in flight, so while the limits keep those below the slots there is
//! always an idle connection to close. When there is none, a new connection
//! beyond the address's share is closed at once, and beyond the total it
//! waits to be accepted.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use jsonrpsee::server::StopHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::api::HttpRejection;
use crate::server::ServerLimits;

/// A `busy` value that marks a connection chosen to be closed: no request
/// may start on it any more.
const EVICTED: u32 = u32::MAX;

/// One connection's state, shared between its task and the table.
struct Slot {
    /// Requests being handled, or [`EVICTED`].
    busy: AtomicU32,
    /// When it last started or finished handling a request (or opened),
    /// milliseconds since the table was made.
    last_active_ms: AtomicU64,
    /// Wakes the connection's task to close it.
    evict: Notify,
}

/// Every open connection, by id.
struct Table {
    next_id: u64,
    entries: HashMap<u64, (IpAddr, Arc<Slot>)>,
    per_ip: HashMap<IpAddr, u32>,
}

/// The connection slots (see the module docs).
pub(crate) struct Connections {
    table: parking_lot::Mutex<Table>,
    permits: Arc<Semaphore>,
    per_ip_max: u32,
    started: Instant,
}

/// A slot held by a connection: released when its task ends.
pub(crate) struct Admitted {
    id: u64,
    slot: Arc<Slot>,
    connections: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

impl Connections {
    pub(crate) fn new(limits: &ServerLimits) -> Arc<Connections> {
        Arc::new(Connections {
            table: parking_lot::Mutex::new(Table { next_id: 0, entries: HashMap::new(), per_ip: HashMap::new() }),
            permits: Arc::new(Semaphore::new(usize::try_from(limits.connections_max).unwrap_or(usize::MAX))),
            per_ip_max: limits.connections_per_ip_max,
            started: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The number of open connections (for tests and metrics).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.table.lock().entries.len()
    }

    /// Closes the idle connection (from `ip`, if given) quiet the longest;
    /// whether there was one.
    fn evict_idle(&self, ip: Option<IpAddr>) -> bool {
        let mut table = self.table.lock();
        let mut candidates: Vec<(u64, u64)> = table
            .entries
            .iter()
            .filter(|(_, (address, slot))| ip.is_none_or(|ip| ip == *address) && slot.busy.load(Ordering::Acquire) == 0)
            .map(|(id, (_, slot))| (slot.last_active_ms.load(Ordering::Relaxed), *id))
            .collect();
        candidates.sort_unstable();
        for (_, id) in candidates {
            let slot = &table.entries[&id].1;
            // Only a connection still idle at this instant is closed: one
            // whose request has just reached the handler keeps its slot.
            if slot.busy.compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                slot.evict.notify_one();
                table.remove(id);
                return true;
            }
        }
        false
    }

    fn remove(&self, id: u64) {
        self.table.lock().remove(id);
    }

    /// Gives a new connection from `ip` a slot, making room if needed; `None`
    /// when its address is at its share and none of its connections is idle.
    async fn admit(self: &Arc<Connections>, ip: IpAddr) -> Option<(Admitted, Option<HttpRejection>)> {
        let mut evicted = None;
        let at_share = self.table.lock().per_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip_max;
        if at_share {
            if !self.evict_idle(Some(ip)) {
                return None;
            }
            evicted = Some(HttpRejection::ConnectionEvicted);
        }
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.evict_idle(None) {
                    evicted = Some(HttpRejection::ConnectionEvicted);
                }
                // The evicted connection's task frees its permit as it ends;
                // with none evicted, this waits for any connection to close.
                self.permits.clone().acquire_owned().await.expect("the semaphore is never closed")
            }
        };
        let slot = Arc::new(Slot {
            busy: AtomicU32::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            evict: Notify::new(),
        });
        let mut table = self.table.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.entries.insert(id, (ip, slot.clone()));
        *table.per_ip.entry(ip).or_default() += 1;
        drop(table);
        Some((Admitted { id, slot, connections: self.clone(), _permit: permit }, evicted))
    }
}

impl Table {
    fn remove(&mut self, id: u64) {
        let Some((ip, _)) = self.entries.remove(&id) else { return };
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// Marks its connection busy while a request is being handled.
struct Busy {
    slot: Arc<Slot>,
    connections: Arc<Connections>,
}

impl Busy {
    /// `None` when the connection is being closed.
    fn enter(slot: &Arc<Slot>, connections: &Arc<Connections>) -> Option<Busy> {
        slot.busy.fetch_update(Ordering::AcqRel, Ordering::Acquire, |busy| (busy != EVICTED).then(|| busy + 1)).ok()?;
        slot.last_active_ms.store(connections.now_ms(), Ordering::Relaxed);
        Some(Busy { slot: slot.clone(), connections: connections.clone() })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot.last_active_ms.store(self.connections.now_ms(), Ordering::Relaxed);
        self.slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the accept loop reports about connections it refused or closed.
pub(crate) type Report = Arc<dyn Fn(HttpRejection) + Send + Sync>;

/// Accepts connections until `stop`, then lets open ones finish (idle ones
/// close at once) and returns when every connection task has ended.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    stop: StopHandle,
    report: Report,
) {
    let connections = Connections::new(&limits);
    let mut tasks = JoinSet::new();
    let stopped = stop.clone().shutdown();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            (stream, peer) = accept(&listener) => {
                let admitted = tokio::select! {
                    () = &mut stopped => break,
                    admitted = connections.admit(peer.ip()) => admitted,
                };
                let Some((admitted, evicted)) = admitted else {
                    report(HttpRejection::ConnectionRefused);
                    drop(stream);
                    continue;
                };
                if let Some(evicted) = evicted {
                    report(evicted);
                }
                tasks.spawn(serve_connection(stream, peer, router.clone(), limits.header_read_timeout, stop.clone(), admitted));
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// The next connection. A failed accept (out of file descriptors and the
/// like) is the machine's trouble, not a client's: wait a little and go on.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting an RPC connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// How long the accept loop pauses after a failed accept (for example out
/// of file descriptors), so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves one connection until it closes, is evicted, or the server stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    stop: StopHandle,
    admitted: Admitted,
) {
    let _ = stream.set_nodelay(true);
    let (slot, connections) = (admitted.slot.clone(), admitted.connections.clone());
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let busy = Busy::enter(&slot, &connections);
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_read_timeout);
    // Upgrades: a WebSocket handshake hands the socket to jsonrpsee, and
    // this connection's slot is free again.
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(connection);
    let stopped = stop.shutdown();
    tokio::pin!(stopped);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "RPC connection ended");
                }
                break;
            }
            // Dropping the connection closes the socket.
            () = admitted.slot.evict.notified() => break,
            () = &mut stopped, if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    drop(admitted);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(connections_max: u32, connections_per_ip_max: u32) -> ServerLimits {
        ServerLimits { connections_max, connections_per_ip_max, ..ServerLimits::default() }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[tokio::test]
    async fn an_address_at_its_share_makes_room_from_its_own_idle_connections() {
        let connections = Connections::new(&limits(10, 2));
        let (first, _) = connections.admit(A).await.unwrap();
        let (second, _) = connections.admit(A).await.unwrap();
        let (_other, _) = connections.admit(B).await.unwrap();
        // The second is busy; the first, the oldest idle one, gives way.
        let busy = Busy::enter(&second.slot, &connections).unwrap();
        let (_third, evicted) = connections.admit(A).await.unwrap();
        assert_eq!(evicted, Some(HttpRejection::ConnectionEvicted));
        assert_eq!(first.slot.busy.load(Ordering::Acquire), EVICTED);
        assert!(Busy::enter(&first.slot, &connections).is_none(), "no request starts on an evicted connection");
        assert_eq!(connections.open(), 3);
        // Both of A's remaining connections busy: a new one is refused.
        let _busy_too = Busy::enter(&_third.slot, &connections).unwrap();
        assert!(connections.admit(A).await.is_none());
        drop((busy, first, second));
    }

    #[tokio::test]
    async fn a_full_table_makes_room_from_the_idle_connection_quiet_the_longest() {
        let connections = Connections::new(&limits(2, 2));
        let (first, _) = connections.admit(A).await.unwrap();
        let (second, _) = connections.admit(B).await.unwrap();
        // The first was active more recently than the second.
        first.slot.last_active_ms.store(100, Ordering::Relaxed);
        second.slot.last_active_ms.store(0, Ordering::Relaxed);
        let admitting = {
            let connections = connections.clone();
            tokio::spawn(async move { connections.admit(A).await.map(|(admitted, _)| admitted) })
        };
        // The new connection waits for the evicted one's slot to be freed.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(second.slot.busy.load(Ordering::Acquire), EVICTED);
        assert!(!admitting.is_finished());
        drop(second);
        let third = admitting.await.unwrap().unwrap();
        assert_eq!(connections.open(), 2);
        drop((first, third));
        assert_eq!(connections.open(), 0);
    }
}
