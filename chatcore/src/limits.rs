//! Abuse limits as plain data: a token bucket for request rates, a sliding
//! window of attempts (failed logins, registrations, friend requests), and a
//! count of live holders per key (connections per address). The first two take
//! `now` from the caller (sans-IO).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        TokenBucket {
            rate,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens whether or not there are that many, and says how long
    /// the caller must wait before going on: zero while tokens last, else until
    /// the debt is paid off. For work that must be slowed, never refused.
    pub fn take_waiting(&mut self, n: u32, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= f64::from(n);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }
}

/// Counts failures (or any attempts) per key over a sliding window; refuses a
/// key at `max` of them.
///
/// Keys whose failures have all expired are swept once per window, so memory
/// holds only the keys that failed within the last window.
#[derive(Debug)]
pub struct FailureWindow<K> {
    max: usize,
    window: Duration,
    inner: Mutex<Failures<K>>,
}

#[derive(Debug)]
struct Failures<K> {
    by_key: HashMap<K, VecDeque<Instant>>,
    last_sweep: Option<Instant>,
}

impl<K: Eq + Hash + Clone> FailureWindow<K> {
    /// At most `max` failures per key within `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        FailureWindow {
            max,
            window,
            inner: Mutex::new(Failures {
                by_key: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Whether `key` may try now (fewer than `max` failures in the window).
    pub fn allows(&self, key: &K, now: Instant) -> bool {
        let mut inner = self.inner.lock().expect("failure window lock");
        match inner.by_key.get_mut(key) {
            Some(times) => {
                self.expire(times, now);
                times.len() < self.max
            }
            None => true,
        }
    }

    /// Records a failure of `key`.
    pub fn fail(&self, key: K, now: Instant) {
        let mut inner = self.inner.lock().expect("failure window lock");
        let due = inner
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= self.window);
        if due {
            let window = self.window;
            inner.by_key.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
            inner.last_sweep = Some(now);
        }
        let times = inner.by_key.entry(key).or_default();
        self.expire(times, now);
        times.push_back(now);
        // Only the newest `max` matter.
        while times.len() > self.max {
            times.pop_front();
        }
    }

    /// Forgets `key`'s failures (after a success).
    pub fn clear(&self, key: &K) {
        self.inner
            .lock()
            .expect("failure window lock")
            .by_key
            .remove(key);
    }

    /// How many keys are tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.inner.lock().expect("failure window lock").by_key.len()
    }

    fn expire(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
    }
}

/// How many holders each key has at once; refuses a key at `max` of them.
#[derive(Debug)]
pub struct Occupancy<K: Eq + Hash> {
    max: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

/// One holder's place in an [`Occupancy`]; leaving is dropping it.
#[derive(Debug)]
pub struct Place<K: Eq + Hash> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone> Occupancy<K> {
    /// At most `max` holders per key.
    pub fn new(max: usize) -> Self {
        Occupancy {
            max,
            held: Arc::default(),
        }
    }

    /// A place for `key`, unless it has `max` holders already.
    pub fn enter(&self, key: K) -> Option<Place<K>> {
        let mut held = self.held.lock().expect("occupancy lock");
        let count = held.entry(key.clone()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Place {
            key,
            held: Arc::clone(&self.held),
        })
    }

    /// How many keys have holders.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.held.lock().expect("occupancy lock").len()
    }
}

impl<K: Eq + Hash> Drop for Place<K> {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("occupancy lock");
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_whose_failures_expired_are_swept_once_per_window() {
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let window = FailureWindow::new(5, minute);
        for n in 0..100 {
            window.fail(format!("spray{n}"), t0);
        }
        assert_eq!(window.tracked(), 100);
        // Within the window nothing is swept; after it, the next failure sweeps.
        window.fail("fresh".to_string(), t0 + minute / 2);
        assert_eq!(window.tracked(), 101);
        window.fail("later".to_string(), t0 + minute * 2);
        assert_eq!(window.tracked(), 1, "only the newest failure's key is left");
        assert!(window.allows(&"spray0".to_string(), t0 + minute * 2));
    }

    #[test]
    fn take_waiting_never_refuses_and_charges_the_debt_as_time() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 10, t0);
        assert_eq!(bucket.take_waiting(10, t0), Duration::ZERO, "the burst");
        // 50 more than there are: half a second at 100/s.
        let wait = bucket.take_waiting(50, t0);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        // Once that time has passed, the debt is paid and one more costs 10 ms.
        let wait = bucket.take_waiting(1, t0 + Duration::from_millis(500));
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        assert!((0..3).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_millis(50)));
        assert!(b.try_take(t0 + Duration::from_millis(150)));
        // Refills cap at the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.try_take(later)).count(), 3);
    }

    #[test]
    fn window_refuses_at_max_and_forgets_old_failures() {
        let t0 = Instant::now();
        let w = FailureWindow::new(2, Duration::from_secs(60));
        assert!(w.allows(&"ann", t0));
        w.fail("ann", t0);
        w.fail("ann", t0 + Duration::from_secs(1));
        assert!(!w.allows(&"ann", t0 + Duration::from_secs(2)));
        assert!(w.allows(&"bob", t0 + Duration::from_secs(2)));
        assert!(w.allows(&"ann", t0 + Duration::from_secs(61)));
        w.fail("ann", t0 + Duration::from_secs(62));
        w.clear(&"ann");
        assert!(w.allows(&"ann", t0 + Duration::from_secs(62)));
    }

    #[test]
    fn occupancy_refuses_at_max_and_frees_a_place_when_dropped() {
        let occupancy = Occupancy::new(2);
        let first = occupancy.enter("a").unwrap();
        let second = occupancy.enter("a").unwrap();
        assert!(occupancy.enter("a").is_none());
        assert!(occupancy.enter("b").is_some(), "other keys are apart");
        drop(first);
        let third = occupancy.enter("a").unwrap();
        drop((second, third));
        assert_eq!(occupancy.keys(), 0, "a key without holders is forgotten");
    }
}
