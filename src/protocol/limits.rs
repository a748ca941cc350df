//! [`Limits`]: what one client of the topics protocol may do; [`Account`]: what it has
//! done, counted against them.

use std::collections::HashSet;

use tokio::time::Instant;

/// What each client may do, as [`TopicsProtocol`](super::TopicsProtocol) sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// The most topics a client is subscribed to at once.
    pub(super) subscriptions: usize,
    /// The most distinct topics a client publishes to over its connection's life.
    pub(super) topics: usize,
    /// The most bytes of one publication's payload.
    pub(super) publication_size: usize,
    /// Publications per second, over time; as many may come at once.
    pub(super) publish_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            subscriptions: 256,
            topics: 64,
            publication_size: 64 * 1024,
            publish_rate: 50,
        }
    }
}

/// Why a publish goes over a client's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Over {
    /// The payload is larger than a publication may be.
    Size,
    /// A new topic, past the most a client may publish to.
    Topics,
    /// Faster than the rate allows.
    Rate,
}

/// One client's use of its limits: the topics it published to and its publish allowance.
#[derive(Debug)]
pub(super) struct Account {
    /// Made at the first publish: a client that only subscribes keeps 8 bytes for it.
    #[allow(clippy::box_collection)]
    published_to: Option<Box<HashSet<Box<str>>>>,
    /// Publications it may make now (a token bucket of `publish_rate` tokens).
    allowance: f64,
    refilled: Instant,
}

impl Account {
    pub(super) fn new(limits: &Limits) -> Self {
        Account {
            published_to: None,
            allowance: f64::from(limits.publish_rate),
            refilled: Instant::now(),
        }
    }

    /// Counts a publish of `size` bytes to `topic`, unless it goes over a limit; then
    /// nothing is counted and the limit is named.
    pub(super) fn publish(
        &mut self,
        limits: &Limits,
        topic: &str,
        size: usize,
    ) -> Result<(), Over> {
        if size > limits.publication_size {
            return Err(Over::Size);
        }
        let published_to = self.published_to.as_deref();
        let new_topic = !published_to.is_some_and(|known| known.contains(topic));
        if new_topic && published_to.map_or(0, HashSet::len) >= limits.topics {
            return Err(Over::Topics);
        }
        let now = Instant::now();
        let rate = f64::from(limits.publish_rate);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.allowance = (self.allowance + elapsed * rate).min(rate);
        self.refilled = now;
        if self.allowance < 1.0 {
            return Err(Over::Rate);
        }
        self.allowance -= 1.0;
        if new_topic {
            let known = self.published_to.get_or_insert_with(Box::default);
            known.insert(topic.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_limit_refuses_and_counts_nothing() {
        let limits = Limits {
            subscriptions: 1,
            topics: 2,
            publication_size: 10,
            publish_rate: 4,
        };
        let mut account = Account::new(&limits);
        assert_eq!(account.publish(&limits, "a", 11), Err(Over::Size));
        assert_eq!(account.publish(&limits, "a", 10), Ok(()));
        assert_eq!(account.publish(&limits, "b", 1), Ok(()));
        assert_eq!(account.publish(&limits, "c", 1), Err(Over::Topics));
        // Two more of the four at once, then the rate.
        assert_eq!(account.publish(&limits, "a", 1), Ok(()));
        assert_eq!(account.publish(&limits, "b", 1), Ok(()));
        assert_eq!(account.publish(&limits, "a", 1), Err(Over::Rate));
        // A quarter of a second later, one more.
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(account.publish(&limits, "a", 1), Ok(()));
        assert_eq!(account.publish(&limits, "a", 1), Err(Over::Rate));
        // However long it waits, no more than four at once.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..4 {
            assert_eq!(account.publish(&limits, "b", 1), Ok(()));
        }
        assert_eq!(account.publish(&limits, "b", 1), Err(Over::Rate));
    }
}
