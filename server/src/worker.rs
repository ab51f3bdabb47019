//! What the background workers share: the loop that runs a step at an interval, and the retry
//! backoff of the outboxes (logout deliveries, email).

use chrono::Duration;
use std::time::Duration as StdDuration;

/// Runs `step` at once and then every `every` (a step that runs late delays the next one rather
/// than bunching them up), for as long as the task running it lives. Each step takes the
/// worker's `state` (the service, and what it keeps between steps) and hands it back to the
/// next. There is no stop signal of its own: the worker stops where its task is dropped
/// (aborted, or the runtime shut down when `serve` returns), which is at an await, dropping the
/// state with it.
pub async fn run_every<S, F, Fut>(every: StdDuration, mut state: S, mut step: F)
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = S>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        state = step(state).await;
    }
}

/// Exponential backoff with jitter and a cap: the delay before retry number `attempt`
/// (1-based) is `base_secs`·2^(attempt-1), at most `max_secs` (and at least a second), plus up
/// to 25 % jitter so a recovering peer is not hit by every node at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base_secs: i64,
    pub max_secs: i64,
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let base = self
            .base_secs
            .saturating_mul(1_i64 << exp)
            .min(self.max_secs)
            .max(1);
        let jitter_ms = base * 250 * i64::from(rand_u8()) / 255;
        Duration::seconds(base) + Duration::milliseconds(jitter_ms)
    }
}

fn rand_u8() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    b[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let b = Backoff {
            base_secs: 2,
            max_secs: 60,
        };
        for (attempt, base) in [(1, 2), (2, 4), (3, 8), (6, 60), (20, 60)] {
            let d = b.delay(attempt);
            assert!(d >= Duration::seconds(base), "{attempt}: {d}");
            assert!(d <= Duration::milliseconds(base * 1250), "{attempt}: {d}");
        }
    }

    #[tokio::test]
    async fn run_every_repeats_the_step_until_its_task_is_dropped() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let worker = tokio::spawn(run_every(
            StdDuration::from_millis(50),
            tx,
            |tx| async move {
                let _ = tx.send(tokio::time::Instant::now());
                tx
            },
        ));
        let mut at = Vec::new();
        for _ in 0..3 {
            at.push(rx.recv().await.unwrap());
        }
        worker.abort();
        assert!(worker.await.unwrap_err().is_cancelled());
        assert!(at[2] - at[0] >= StdDuration::from_millis(100), "{at:?}");
        assert!(rx.recv().await.is_none(), "no step after the stop");
    }
}
