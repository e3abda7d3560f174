//! A connection that stops reading what the service writes is closed.
//!
//! hyper's timers cover reading a request's head; nothing covers writing. A client that pipelines
//! requests (or floods a push stream with pings) and never reads its answers would otherwise hold
//! its connection, its task and the kernel's send buffer for ever. [`StallGuard`] wraps each
//! accepted socket: a write (or flush) that makes no progress for the configured time fails with
//! `TimedOut`, which ends the connection, upgraded push streams included.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// An I/O stream whose writes must make progress within `limit`.
#[derive(Debug)]
pub struct StallGuard<T> {
    inner: T,
    limit: Duration,
    stalled_since: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, limit: Duration) -> Self {
        StallGuard {
            inner,
            limit,
            stalled_since: None,
        }
    }

    /// Called when a write is pending: starts the clock, or fails once it ran out.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let limit = self.limit;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer stopped reading",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future as _;

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.pending(cx).map(Err),
            ready => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.pending(cx).map(Err),
            ready => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.pending(cx).map(Err),
            ready => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_never_progresses_fails_after_the_limit() {
        // A duplex pipe with a tiny buffer that nobody reads.
        let (client, _server) = tokio::io::duplex(8);
        let mut guarded = StallGuard::new(client, Duration::from_secs(10));
        let error = guarded
            .write_all(&[0u8; 64])
            .await
            .expect_err("a write nobody reads must fail");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_reader_keeps_the_connection() {
        let (client, mut server) = tokio::io::duplex(8);
        let mut guarded = StallGuard::new(client, Duration::from_secs(10));
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut got = Vec::new();
            let mut chunk = [0u8; 4];
            while got.len() < 64 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let n = server.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got.len()
        });
        guarded
            .write_all(&[1u8; 64])
            .await
            .expect("progress resets the clock");
        assert_eq!(reader.await.unwrap(), 64);
    }
}
