//! Serving a router over TCP with hyper-util, with the connection-level bounds axum's
//! `serve` does not offer:
//! - **header read timeout** (hyper): a request head must arrive in full within it. hyper
//!   starts the clock whenever a connection waits for a head — on accept and again after
//!   each response — so it also closes an HTTP/1 keep-alive connection left idle that long;
//! - **request timeout** (tower-http, in the router, see `observe`): reading the body and
//!   answering must finish within it, else a JSON 408 and the connection closes (an unread
//!   body is never drained);
//! - **idle timeout** (`tokio-io-timeout`, on the socket): a connection that neither reads
//!   nor writes a byte for that long is closed in any state (HTTP/2 included, where hyper's
//!   header timeout does not apply);
//! - **header size**: hyper's buffer is raised to [`HYPER_MAX_BUF`] so oversized headers
//!   reach the router's check and get a JSON 431 at [`HttpOptions::max_header_bytes`]; a
//!   head over hyper's buffer is refused by hyper itself (bare 431) and the connection closed.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// hyper's per-connection read buffer: room for a head well over the header limit, so a
/// 1 MiB header is answered by the router's JSON 431, not dropped by hyper.
pub const HYPER_MAX_BUF: usize = 2 << 20;

/// HTTP bounds of a node. The server's `--header-timeout`, `--request-timeout` and
/// `--idle-timeout` flags set them.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// A request head must arrive within this (also bounds an idle HTTP/1 keep-alive
    /// connection, see the module docs). Default 10 s.
    pub header_read_timeout: Duration,
    /// Reading the request body and answering must finish within this. Default 30 s.
    pub request_timeout: Duration,
    /// A connection with no byte read or written for this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// Request headers over this many bytes are a JSON 431. Default 64 KiB.
    pub max_header_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: crate::MAX_HEADER_BYTES,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish
/// (for at most the request timeout). Build the router with [`crate::router_with`] and the
/// same options, so its request timeout and header limit match.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .max_buf_size(HYPER_MAX_BUF)
        .max_headers(1_000);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(HYPER_MAX_BUF as u32);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_read_timeout(Some(opts.idle_timeout));
        io.set_write_timeout(Some(opts.idle_timeout));
        let io = TokioIo::new(Box::pin(io));
        let service = TowerToHyperService::new(
            router
                .clone()
                .map_request(|req: Request<Incoming>| req.map(Body::new)),
        );
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(opts.request_timeout, graceful.shutdown()).await;
    Ok(())
}
