//! Keep-alive: the layer's clock, which pings every open socket each interval and has a
//! socket dropped when its peer sends nothing within the timeout after a ping.
//!
//! One task per layer while it has sessions, not a timer in each session: an idle
//! session's task then carries no timer (tokio's `Sleep` alone is 112 bytes) and its polls
//! check none. The clock goes through the layer's [`Seats`] once per ping and once per
//! timeout check; what it keeps of a socket is the [`Watch`] in its seat.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    seats::{Seats, Watch},
    socket::{Shared, SocketConfig},
};

/// The longest wait the clock sets: a configured interval or timeout past it (up to
/// `Duration::MAX`, "never") means never. Thirty years, as tokio's own far future.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// The interval and the timeout the clock keeps, when `config` has the clock run at all.
pub(super) fn settings(config: &SocketConfig) -> Option<(Duration, Option<Duration>)> {
    let interval = config.keep_alive_interval.filter(|i| *i < FAR_FUTURE)?;
    let timeout = config.keep_alive_timeout.filter(|t| *t < FAR_FUTURE);
    Some((interval, timeout))
}

/// The ping of tick `tick` to `socket`: queued, and the session woken to write it. With a
/// timeout and no ping unanswered, the peer's silence is watched from this one: `true` then.
/// A socket whose writer is busy this very moment (a large send compressing) is pinged at
/// the next tick: the clock holds every seat and waits for no socket.
fn ping(watch: &mut Watch, tick: u32, socket: &Shared, timed: bool) -> bool {
    if !socket.write.try_ping() {
        return false;
    }
    // A receive gives the engine's read buffer back before it waits; a handler that
    // stopped receiving after a message gives it back here.
    socket.read.park_engine();
    if !timed || watch.tick != 0 {
        return false;
    }
    // A receive under way: the peer is not silent, and nothing is watched this tick.
    let Some(frames) = frames(socket) else {
        return false;
    };
    *watch = Watch { tick, frames };
    true
}

/// The timeout after the ping of tick `pinged` is up: if `socket` was watched from that
/// ping and its peer sent no frame since, its session is told to drop the connection.
fn check(watch: &mut Watch, pinged: u32, socket: &Shared) {
    if watch.tick != pinged {
        return;
    }
    // A receive under way (`None`) is a frame received.
    if frames(socket) == Some(watch.frames) {
        socket.write.lapse();
    } else {
        watch.tick = 0;
    }
}

/// The frames `socket` has received, in the 32 bits a [`Watch`] keeps (a peer would have
/// to send a multiple of 2^32 frames within one timeout to look silent); `None` while a
/// receive holds its reader, which the clock, holding every seat, never waits for.
fn frames(socket: &Shared) -> Option<u32> {
    socket.read.frames_received()
}

/// Starts the layer's clock, which runs until no seat is taken. [`Seats::take`] says when.
pub(super) fn start(seats: Arc<Seats>, interval: Duration, timeout: Option<Duration>) {
    tokio::spawn(async move {
        let running = Running(Some(&seats));
        run(&seats, interval, timeout).await;
        running.stopped();
    });
}

/// The clock: the first ping one interval after it starts, then one each interval; each
/// ping's timeout checked at its end (before a ping due at the same instant).
async fn run(seats: &Seats, interval: Duration, timeout: Option<Duration>) {
    let mut tick = 0u32;
    let mut next_ping = Instant::now() + interval;
    // For each tick whose ping started a watch: when its timeout ends. In tick order, and
    // never longer than the number of sockets watched.
    let mut checks: VecDeque<(Instant, u32)> = VecDeque::new();
    loop {
        let wake = match checks.front() {
            Some(&(deadline, _)) => deadline.min(next_ping),
            None => next_ping,
        };
        tokio::time::sleep_until(wake).await;
        let now = Instant::now();
        while let Some(&(deadline, pinged)) = checks.front() {
            if deadline > now {
                break;
            }
            checks.pop_front();
            if !seats.visit(|socket, watch| check(watch, pinged, socket)) {
                return;
            }
        }
        if now >= next_ping {
            // Never 0, which a watch takes for "no ping unanswered".
            tick = tick.checked_add(1).unwrap_or(1);
            let mut watched = false;
            let open = seats.visit(|socket, watch| {
                watched |= ping(watch, tick, socket, timeout.is_some());
            });
            if !open {
                return;
            }
            next_ping = now + interval;
            if let (Some(timeout), true) = (timeout, watched) {
                checks.push_back((now + timeout, tick));
            }
        }
    }
}

/// Marks the clock stopped if its task is dropped before it stops by itself (its runtime
/// shut down), so that the next session starts it again.
struct Running<'a>(Option<&'a Seats>);

impl Running<'_> {
    /// The clock stopped by itself: [`Seats::visit`] marked it so.
    fn stopped(mut self) {
        self.0 = None;
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(seats) = self.0 {
            seats.clock_dropped();
        }
    }
}
