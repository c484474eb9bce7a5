//! A request body that must keep arriving: after a grace period its average rate may not fall
//! under a minimum, so a client that trickles an upload (one byte a second, to hold a
//! connection and a temporary file) is cut off instead of holding them for hours. Time counts
//! only while the server waits for bytes: data already buffered is never refused, however late
//! the handler reads it.

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The error a cut body ends with (its message reaches the client in a 408).
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived slower than {min_rate} bytes/s ({received} bytes in {secs:.0} s)"
)]
pub struct TooSlow {
    pub min_rate: u64,
    pub received: u64,
    pub secs: f64,
}

/// Whether `e` (or what caused it) is a [`TooSlow`].
pub fn is_too_slow<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a TooSlow> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<TooSlow>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// See the module's doc.
pub struct RateBody<B> {
    inner: B,
    started: Instant,
    grace: Duration,
    min_rate: u64,
    received: u64,
    /// Fires at the moment the bytes so far stop being enough.
    deadline: Pin<Box<Sleep>>,
}

impl<B> RateBody<B> {
    pub fn new(inner: B, min_rate: u64, grace: Duration) -> Self {
        let started = Instant::now();
        Self {
            inner,
            started,
            grace,
            min_rate: min_rate.max(1),
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + grace)),
        }
    }

    /// When the bytes received so far stop meeting the minimum rate.
    fn due(&self) -> Instant {
        self.started
            + self.grace
            + Duration::from_secs_f64(self.received as f64 / self.min_rate as f64)
    }
}

impl<B> Body for RateBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let due = this.due();
                    this.deadline.as_mut().reset(due);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(TooSlow {
                    min_rate: this.min_rate,
                    received: this.received,
                    secs: this.started.elapsed().as_secs_f64(),
                })))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::future::Future;

    fn stream_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> axum::body::Body {
        let s = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
        });
        axum::body::Body::from_stream(s)
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_after_the_grace_period_and_a_steady_body_is_not() {
        // 1 byte per second against a minimum of 100 B/s and 5 s of grace: cut once the grace
        // and the few bytes' allowance are spent.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut body = RateBody::new(stream_body(rx), 100, Duration::from_secs(5));
        let feeder = tokio::spawn(async move {
            for _ in 0..60 {
                if tx.send(Bytes::from_static(b"x")).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = Instant::now();
        let err = loop {
            match body.frame().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break e,
                None => panic!("the trickle ended without being cut"),
            }
        };
        let slow = is_too_slow(err.as_ref()).expect("a TooSlow error");
        assert!(slow.received <= 6, "{slow}");
        assert!(started.elapsed() < Duration::from_secs(7));
        feeder.abort();

        // 1000 B/s against the same minimum: read to its end.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let body = RateBody::new(stream_body(rx), 100, Duration::from_secs(5));
        tokio::spawn(async move {
            for _ in 0..30 {
                let _ = tx.send(Bytes::from(vec![0u8; 1000])).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let all = body.collect().await.expect("a steady body is read whole");
        assert_eq!(all.to_bytes().len(), 30_000);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_already_buffered_are_never_refused() {
        // The handler reads a minute late: the body (all there) is still read whole.
        let body = RateBody::new(
            axum::body::Body::from(vec![1u8; 10]),
            1000,
            Duration::from_secs(1),
        );
        tokio::time::sleep(Duration::from_secs(60)).await;
        let fut = body.collect();
        tokio::pin!(fut);
        let all = std::future::poll_fn(|cx| fut.as_mut().poll(cx)).await;
        assert_eq!(all.expect("read").to_bytes().len(), 10);
    }
}
