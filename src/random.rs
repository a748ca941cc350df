//! Random ids for things that must not collide across servers and restarts: a Redis
//! backplane's server id, a topic stream's epoch. Not for secrets.

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hash, Hasher},
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

/// 64 random bits: the standard library's randomly keyed hasher (a fresh key each call)
/// over the process id, the time and a counter.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    SystemTime::now().hash(&mut hasher);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn ids_do_not_repeat() {
        let ids: HashSet<u64> = (0..10_000).map(|_| super::random_u64()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
