//! The port's connections: hyper's server (HTTP/1.1 and HTTP/2 on one port, as `axum::serve`)
//! with the bounds `axum::serve` does not set, so a slow or stalled client cannot hold a
//! connection's resources forever:
//!
//! - a connection that sends no byte within `header_timeout` is closed (hyper's version detection
//!   would wait forever);
//! - HTTP/1.1: a request's headers must arrive within `header_timeout` (hyper's
//!   `header_read_timeout`);
//! - HTTP/2: the server pings an idle connection every `keep_alive` and closes it when a ping is
//!   not answered within `keep_alive / 2`, so a vanished peer's streams end;
//! - a request body that stalls (no data for `body_timeout`) ends the request with an error
//!   (`tower_http`'s body timeout, a layer on the router: see `server`).
//!
//! Graceful shutdown as `axum::serve`: stop accepting, let each connection finish its requests.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceExt as _;

/// The bounds on clients (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    pub header_timeout: Duration,
    pub keep_alive: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open connections to
/// finish their requests.
pub async fn serve<L: Listener>(
    mut listener: L,
    router: Router,
    timeouts: ClientTimeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let seen = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(FirstByte { inner: io, seen: seen.clone() });
        let service =
            TowerToHyperService::new(router.clone().map_request(|r: axum::http::Request<Incoming>| r.map(Body::new)));
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .enable_connect_protocol()
            .keep_alive_interval(Some(timeouts.keep_alive))
            .keep_alive_timeout(timeouts.keep_alive / 2);
        let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        let header_timeout = timeouts.header_timeout;
        tokio::spawn(async move {
            let silent = async {
                tokio::time::sleep(header_timeout).await;
                if seen.load(Ordering::Acquire) {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                served = connection => {
                    if let Err(err) = served {
                        tracing::trace!(error = %err, "connection ended with an error");
                    }
                }
                () = silent => tracing::debug!("closed a connection that sent nothing"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An IO that notes its first byte read.
struct FirstByte<T> {
    inner: T,
    seen: Arc<AtomicBool>,
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstByte<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.seen.store(true, Ordering::Release);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstByte<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
