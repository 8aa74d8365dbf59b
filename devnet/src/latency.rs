//! `--latency-ms` / `--jitter-ms`: the devnet answers as a remote node would, so that catch-up
//! and benchmarks see a network between client and node. Every RPC answer is held back by the
//! round trip (plus jitter), every subscription message by half of it (one way). Calls on one
//! connection are delayed independently, as a node answers them concurrently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::types::Request;

/// Added delay: `round_trip` plus a uniform share of `jitter`.
#[derive(Debug, Default)]
pub struct Latency {
    pub round_trip: Duration,
    pub jitter: Duration,
    /// Draws of the jitter (a counter hashed: no RNG dependency, different on every call).
    draws: AtomicU64,
}

impl Latency {
    pub fn new(round_trip_ms: u64, jitter_ms: u64) -> Self {
        Latency {
            round_trip: Duration::from_millis(round_trip_ms),
            jitter: Duration::from_millis(jitter_ms),
            draws: AtomicU64::new(0),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.round_trip.is_zero() && self.jitter.is_zero()
    }

    /// One answer's delay.
    pub fn answer(&self) -> Duration {
        self.round_trip + self.jitter_draw()
    }

    /// One subscription message's delay (one way).
    pub fn one_way(&self) -> Duration {
        self.round_trip / 2 + self.jitter_draw() / 2
    }

    fn jitter_draw(&self) -> Duration {
        if self.jitter.is_zero() {
            return Duration::ZERO;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        // splitmix64: a well-spread value in [0, 1) from the counter.
        let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        self.jitter.mul_f64((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// The RPC middleware that applies [`Latency`] to every call.
#[derive(Clone)]
pub struct Delayed<S> {
    pub service: S,
    pub latency: std::sync::Arc<Latency>,
}

impl<S> RpcServiceT for Delayed<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let (service, wait) = (self.service.clone(), self.latency.answer());
        async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            service.call(req).await
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let (service, wait) = (self.service.clone(), self.latency.answer());
        async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            service.batch(batch).await
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}
