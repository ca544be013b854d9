//! Condition waits with deadlines: a test waits for what it needs to see,
//! never for a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it holds, panicking after `deadline` with `what` (the
/// condition, as in "timed out ... waiting until {what}"). The pause between
/// polls grows from 5 ms to 100 ms.
pub async fn wait_until<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let polls = Cell::new(0);
        wait_until(Duration::from_secs(5), "the third poll", || {
            polls.set(polls.get() + 1);
            let done = polls.get() >= 3;
            async move { done }
        })
        .await;
        assert_eq!(polls.get(), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting until never")]
    async fn panics_after_the_deadline() {
        wait_until(Duration::from_millis(30), "never", || async { false }).await;
    }
}
