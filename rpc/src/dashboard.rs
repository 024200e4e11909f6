//! The dashboard served at `GET /` of the RPC address: plain HTML, CSS and
//! JavaScript embedded in the binary (no CDN, nothing fetched at run time).
//! It reads with JSON-RPC over `POST /` and stays live through the
//! WebSocket subscriptions on the same address.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");

/// What the page may load: its own files, its own RPC and WebSocket.
const POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The page.
pub(crate) fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// `/dashboard/app.js`.
pub(crate) fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `/dashboard/style.css`.
pub(crate) fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
