//! PortOne look-ups of one payment, collapsed: however many notices for the
//! same imp_uid arrive at once, at most one look-up of it is in flight, and
//! each notice is answered by a look-up that *started after it arrived* (so
//! a refund made at PortOne just before its notice is never hidden by an
//! older answer; a cache with a lifetime would hide it). Notices that
//! arrive while a look-up is in flight share the next one. A burst of N
//! notices costs two look-ups, not N; notices spread out cost one each.
//!
//! Only answers are shared; a failed look-up (PortOne down) is not, each
//! waiting notice tries its own (failures are rare and answered 502, and
//! the gateway's per-source limit bounds them).
//!
//! In-process, per task: instances do not share look-ups (a flood split
//! over N tasks costs at most 2N). moka's `get_with` coalesces concurrent
//! loads too, but hands a notice the answer of a load that started before
//! it arrived, which this must not.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One key's turn-taking: notices take numbers as they arrive; the last
/// answer remembers the first number it did not serve.
struct Slot<V> {
    arrived: AtomicU64,
    last: tokio::sync::Mutex<Option<(u64, V)>>,
}

/// Collapsed look-ups by key.
pub(crate) struct Lookups<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Lookups<K, V> {
    pub(crate) fn new() -> Lookups<K, V> {
        Lookups {
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: &K) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    arrived: AtomicU64::new(0),
                    last: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    /// Forgets `key`'s slot once no notice holds it.
    fn release(&self, key: &K, slot: Arc<Slot<V>>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Two holders: the map and this notice's `slot`.
        if Arc::strong_count(&slot) <= 2 {
            slots.remove(key);
        }
    }

    /// `key`'s answer from a look-up (`look`) that started after this call.
    pub(crate) async fn get<E, F, Fut>(&self, key: &K, look: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let ticket = slot.arrived.fetch_add(1, Ordering::SeqCst);
        let answer = {
            let mut last = slot.last.lock().await;
            match last.as_ref() {
                // The last look-up started after this notice arrived.
                Some((first_unserved, value)) if ticket < *first_unserved => Ok(value.clone()),
                _ => {
                    // Every notice numbered below this arrived before it starts.
                    let starts = slot.arrived.load(Ordering::SeqCst);
                    let looked = look().await;
                    if let Ok(value) = &looked {
                        *last = Some((starts, value.clone()));
                    }
                    looked
                }
            }
        };
        self.release(key, slot);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A look-up that takes a while and counts itself (in process: this
    /// tests the turn-taking, not PortOne; the webhook test in
    /// app/ticketing/tests/testsuite/booking.rs counts the sandbox's look-ups).
    async fn slow(count: Arc<AtomicU64>, state: Arc<AtomicU64>) -> Result<u64, ()> {
        count.fetch_add(1, Ordering::SeqCst);
        let seen = state.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(seen)
    }

    #[tokio::test]
    async fn a_burst_costs_two_lookups_and_none_is_answered_from_before_it_arrived() {
        let lookups = Arc::new(Lookups::<String, u64>::new());
        let count = Arc::new(AtomicU64::new(0));
        let state = Arc::new(AtomicU64::new(1));
        let mut burst = Vec::new();
        for _ in 0..30 {
            let (lookups, count, state) = (lookups.clone(), count.clone(), state.clone());
            burst.push(tokio::spawn(async move {
                lookups
                    .get(&"imp_1".to_owned(), || slow(count, state))
                    .await
            }));
        }
        for answer in burst {
            assert_eq!(answer.await.expect("joined"), Ok(1));
        }
        let burst_lookups = count.load(Ordering::SeqCst);
        assert!((1..=2).contains(&burst_lookups), "{burst_lookups} look-ups");

        // The world changes (a refund at PortOne), then a notice comes: it
        // is answered by a look-up of its own, never the earlier answer.
        state.store(2, Ordering::SeqCst);
        let later = lookups
            .get(&"imp_1".to_owned(), || slow(count.clone(), state.clone()))
            .await;
        assert_eq!(later, Ok(2));
        assert_eq!(count.load(Ordering::SeqCst), burst_lookups + 1);
        // Nothing is kept once no notice waits.
        assert!(lookups.slots.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn failures_are_not_shared() {
        let lookups = Lookups::<String, u64>::new();
        let failed: Result<u64, &str> = lookups
            .get(&"imp_2".to_owned(), || async { Err("down") })
            .await;
        assert_eq!(failed, Err("down"));
        let next: Result<u64, &str> = lookups.get(&"imp_2".to_owned(), || async { Ok(7) }).await;
        assert_eq!(next, Ok(7));
    }
}
