//! Hostile connections cannot make the RPC unreachable: thousands of idle
//! connections (or ones sending their headers a byte at a time) never keep
//! out a new client, idle connections close after the header timeout, a
//! body sent slowly is cut off, and one address cannot hold every slot.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use parlend_contracts::dev::dev_genesis;
use parlend_node::node::NodeConfig;
use parlend_tests::TestNode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Idle connections opened against the node, more than its 1,024 slots.
const IDLE_CONNECTIONS: usize = 2_000;
/// How fast `getHead` must answer while they are open.
const GET_HEAD_LATENCY_MAX: Duration = Duration::from_secs(1);
/// File descriptors the test needs: the idle connections, the server's side
/// of as many as it holds (the node runs in this process), and some spare.
const FILE_DESCRIPTORS_NEEDED: u64 = 2 * IDLE_CONNECTIONS as u64 + 1_024 + 512;
/// A short header (idle) or body timeout for the tests that wait for one.
const SHORT_TIMEOUT: Duration = Duration::from_millis(400);
/// How long a closed connection may take beyond its timeout to be seen
/// closed (timer and scheduler slack on a busy machine).
const CLOSE_SLACK: Duration = Duration::from_millis(1_500);

const GET_HEAD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"getHead"}"#;

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Raises this process's open-file limit as far as the test needs, and
/// fails clearly if the hard limit does not allow it.
fn raise_file_limit() {
    let limit = rlimit::increase_nofile_limit(FILE_DESCRIPTORS_NEEDED).expect("reading the open-file limit");
    assert!(
        limit >= FILE_DESCRIPTORS_NEEDED,
        "this test needs {FILE_DESCRIPTORS_NEEDED} open files and the hard limit (ulimit -Hn) allows {limit}"
    );
}

/// A connection to `server` from the loopback address `from`.
async fn connect_from(from: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server).await
}

fn server_address(node: &TestNode) -> SocketAddr {
    node.handle.rpc_address
}

fn post(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one HTTP response (headers and a `content-length` body); returns
/// its status and body.
async fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_string))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let read = stream.read(&mut chunk).await?;
                if read == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            return Ok((status, String::from_utf8_lossy(&buffer[end + 4..]).to_string()));
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a response"));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// `getHead` on a new connection from `from`; its latency.
async fn get_head_from(from: IpAddr, server: SocketAddr) -> Duration {
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        let mut stream = connect_from(from, server).await?;
        stream.write_all(post(GET_HEAD).as_bytes()).await?;
        read_response(&mut stream).await
    })
    .await
    .expect("getHead did not answer within 30 s")
    .expect("getHead failed");
    let elapsed = started.elapsed();
    assert_eq!(answer.0, 200, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.1).expect("a JSON answer");
    assert!(body["result"]["height"].is_u64(), "{body}");
    elapsed
}

/// Opens `count` connections spread over the loopback addresses `from`;
/// every other one sends the start of a request line and then nothing.
async fn open_idle(server: SocketAddr, from: &[IpAddr], count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for index in 0..count {
        let mut stream = connect_from(from[index % from.len()], server).await.expect("connecting");
        if index % 2 == 1 {
            // A header sent a byte at a time: a first byte, then silence.
            let _ = stream.write_all(b"P").await;
        }
        streams.push(stream);
    }
    streams
}

/// How many of `streams` the server has closed (a read sees the end).
async fn closed_by_server(streams: &mut [TcpStream]) -> usize {
    // Closing runs in the connections' own tasks: let them finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut closed = 0;
    for stream in streams {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await {
            closed += 1;
        }
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_never_keep_get_head_out() {
    raise_file_limit();
    let node = TestNode::in_memory().await;
    let server = server_address(&node);
    let limits = parlend_rpc::ServerLimits::default();

    // From the probe's own address: beyond its share, each new connection
    // closes the oldest idle one.
    let mut same = open_idle(server, &[loopback(1)], IDLE_CONNECTIONS).await;
    let latency_same = get_head_from(loopback(1), server).await;
    let closed = closed_by_server(&mut same).await;
    assert!(
        closed >= IDLE_CONNECTIONS - limits.connections_per_ip_max as usize,
        "only {closed} of {IDLE_CONNECTIONS} idle connections from one address were closed"
    );
    drop(same);

    // From four other addresses: the server's 1,024 slots fill, and each new
    // connection closes the idle one quiet the longest.
    let others = [loopback(2), loopback(3), loopback(4), loopback(5)];
    let mut spread = open_idle(server, &others, IDLE_CONNECTIONS).await;
    let latency_spread = get_head_from(loopback(1), server).await;
    let closed = closed_by_server(&mut spread).await;
    assert!(
        closed >= IDLE_CONNECTIONS - limits.connections_max as usize,
        "only {closed} of {IDLE_CONNECTIONS} idle connections were closed"
    );
    eprintln!(
        "getHead beside {IDLE_CONNECTIONS} idle connections: {latency_same:?} (one address), {latency_spread:?} (four)"
    );
    assert!(latency_same < GET_HEAD_LATENCY_MAX, "getHead took {latency_same:?}");
    assert!(latency_spread < GET_HEAD_LATENCY_MAX, "getHead took {latency_spread:?}");
    drop(spread);
    node.stop().await;
}

async fn node_with(configure: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let mut config = NodeConfig::new(dev_genesis());
    configure(&mut config);
    TestNode::start(config).await
}

/// Waits until the server closes `stream`; how long it took.
async fn time_to_close(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 1024];
    let wait = SHORT_TIMEOUT + CLOSE_SLACK + Duration::from_secs(5);
    tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server did not close the connection");
    started.elapsed()
}

fn assert_closed_at_timeout(what: &str, elapsed: Duration, timeout: Duration) {
    eprintln!("{what}: closed after {elapsed:?} (timeout {timeout:?})");
    assert!(elapsed + Duration::from_millis(50) >= timeout, "{what}: closed after {elapsed:?}, before {timeout:?}");
    assert!(elapsed < timeout + CLOSE_SLACK, "{what}: closed after {elapsed:?}, long after {timeout:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_connections_close_at_the_header_timeout() {
    let node = node_with(|config| config.rpc_limits.header_read_timeout = SHORT_TIMEOUT).await;
    let server = server_address(&node);

    // Opened and silent.
    let mut silent = connect_from(loopback(1), server).await.unwrap();
    assert_closed_at_timeout("a silent connection", time_to_close(&mut silent).await, SHORT_TIMEOUT);

    // Kept alive after an answer, then silent: the timer starts again.
    let mut kept = connect_from(loopback(1), server).await.unwrap();
    kept.write_all(post(GET_HEAD).as_bytes()).await.unwrap();
    let (status, _) = read_response(&mut kept).await.unwrap();
    assert_eq!(status, 200);
    assert_closed_at_timeout("an idle keep-alive connection", time_to_close(&mut kept).await, SHORT_TIMEOUT);

    // Headers a byte every 50 ms: progress does not extend the deadline.
    let mut slow = connect_from(loopback(1), server).await.unwrap();
    let started = Instant::now();
    let request = post(GET_HEAD).into_bytes();
    let mut closed_after = None;
    for byte in &request {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut sink = [0u8; 1024];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut sink)).await {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("a slowly sent header was never cut off");
    assert_closed_at_timeout("a header sent a byte at a time", closed_after, SHORT_TIMEOUT);
    node.stop().await;
}

/// Sends headers declaring a 200-byte body, then the body a byte every
/// 50 ms; the answer and when it came.
async fn slow_body(server: SocketAddr) -> ((u16, String), Duration) {
    let mut stream = connect_from(loopback(1), server).await.unwrap();
    let head = "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut stream_buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut stream_buffer)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    read.expect("the slow body was never cut off").expect("reading the answer");
    let text = String::from_utf8_lossy(&stream_buffer).to_string();
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    ((status, body), elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_is_cut_off() {
    // By the body read timeout.
    let node = node_with(|config| config.rpc_limits.body_read_timeout = SHORT_TIMEOUT).await;
    let ((status, body), elapsed) = slow_body(server_address(&node)).await;
    assert_eq!(status, 408, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], parlend_rpc::error::BODY_TIMEOUT, "{body}");
    assert_closed_at_timeout("a body sent a byte at a time", elapsed, SHORT_TIMEOUT);
    node.stop().await;

    // By the request timeout, when it is the shorter.
    let request_timeout = Duration::from_millis(600);
    let node = node_with(|config| {
        config.rpc_limits.request_timeout = request_timeout;
        config.rpc_limits.wait_max = Duration::from_millis(500);
    })
    .await;
    let ((status, body), elapsed) = slow_body(server_address(&node)).await;
    assert_eq!(status, 408, "{body}");
    assert_closed_at_timeout("a body slower than the request timeout", elapsed, request_timeout);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_and_slow_bodies_are_bounded() {
    let node = node_with(|config| {
        config.rpc_limits.connections_per_ip_max = 3;
        config.rpc_limits.body_reads_in_flight_max = 4;
    })
    .await;
    let server = server_address(&node);
    // Three busy connections from 127.0.0.2: bodies that never finish.
    let head = "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from(loopback(2), server).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fourth from the same address finds none of its own idle: closed at once.
    let mut refused = connect_from(loopback(2), server).await.unwrap();
    let _ = refused.write_all(post(GET_HEAD).as_bytes()).await;
    let refused_answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut refused)).await;
    assert!(
        matches!(refused_answer, Ok(Err(_))),
        "a connection beyond the address's share was served: {refused_answer:?}"
    );
    // Another address is served.
    let latency = get_head_from(loopback(1), server).await;
    assert!(latency < GET_HEAD_LATENCY_MAX, "{latency:?}");

    // One more slow body from a third address fills the body reads (4);
    // the next body read is shed at once with 503.
    let mut fourth = connect_from(loopback(3), server).await.unwrap();
    fourth.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut shed = connect_from(loopback(4), server).await.unwrap();
    shed.write_all(post(GET_HEAD).as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut shed).await.unwrap();
    assert_eq!(status, 503, "{body}");
    drop((busy, fourth));
    node.stop().await;
}
