//! Keep-alive: a ping every interval, and the check that the peer still sends something.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::socket::{Shared, SocketConfig};

/// The longest wait the timer sets: a configured interval or timeout past it (up to
/// `Duration::MAX`, "never") waits this long, so that no deadline overflows the clock.
/// Thirty years, as tokio's own far future.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// `now` plus `wait`, at most [`FAR_FUTURE`] ahead.
fn after(now: Instant, wait: Duration) -> Instant {
    now + wait.min(FAR_FUTURE)
}

/// What the timer asks of the session.
pub(super) enum Tick {
    /// A ping was queued: write it.
    Pinged,
    /// The peer sent nothing (no pong, no other frame) within the timeout after a ping.
    Silent,
}

pin_project! {
    /// A session's keep-alive timer. The interval and the timeout are read from the
    /// configuration, not kept in every session.
    ///
    /// The timer is polled once to register it, and then only once it has fired
    /// (`Sleep::is_elapsed`): a message costs the session one load, not a timer-wheel visit.
    pub(super) struct KeepAlive {
        #[pin]
        timer: Sleep,
        // Whether `timer` was polled since it was last set.
        armed: bool,
        next_ping: Instant,
        // After a ping: when the peer must have sent a frame by, and the count then.
        waiting: Option<(Instant, u64)>,
    }
}

impl KeepAlive {
    pub(super) fn new(interval: Duration) -> Self {
        let next_ping = after(Instant::now(), interval);
        KeepAlive {
            timer: tokio::time::sleep_until(next_ping),
            armed: false,
            next_ping,
            waiting: None,
        }
    }

    /// `Ready` when the timer fired and did something; call again until `Pending`. Inline
    /// for what nearly every call finds, an armed timer that has not fired.
    #[inline(always)]
    pub(super) fn poll_tick(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        shared: &Shared,
        config: &SocketConfig,
    ) -> Poll<Tick> {
        if self.armed && !self.timer.is_elapsed() {
            return Poll::Pending;
        }
        self.poll_timer(cx, shared, config)
    }

    #[inline(never)]
    fn poll_timer(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        shared: &Shared,
        config: &SocketConfig,
    ) -> Poll<Tick> {
        let mut this = self.project();
        loop {
            if *this.armed && !this.timer.is_elapsed() {
                return Poll::Pending;
            }
            *this.armed = true;
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if let Some((deadline, frames)) = *this.waiting {
                if now >= deadline {
                    if shared.read.frames_received() == frames {
                        return Poll::Ready(Tick::Silent);
                    }
                    *this.waiting = None;
                }
            }
            let pinged = now >= *this.next_ping;
            if pinged {
                shared.write.push_ping_deferred();
                *this.next_ping = after(now, config.keep_alive_interval.unwrap_or_default());
                if let (Some(timeout), None) = (config.keep_alive_timeout, *this.waiting) {
                    *this.waiting = Some((after(now, timeout), shared.read.frames_received()));
                }
            }
            let next = match *this.waiting {
                Some((deadline, _)) => deadline.min(*this.next_ping),
                None => *this.next_ping,
            };
            this.timer.as_mut().reset(next);
            // The next poll registers the new deadline.
            *this.armed = false;
            if pinged {
                return Poll::Ready(Tick::Pinged);
            }
        }
    }
}
