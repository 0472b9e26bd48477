//! Tracing of Thing's public operations: one span per operation, with what it
//! did (the cache outcome, statements, cache round trips, the counters of
//! [`Stats`]), and a warning for a slow one.
//!
//! Spans are at `DEBUG` level, under the target `thing`; the slow-operation
//! warning is a `WARN` event under `thing::slow`. When no subscriber wants
//! either, an operation runs as it would without them: one check of each
//! callsite's interest, no clock read, no task-local.

pub(crate) mod stats;
pub(crate) mod untold;

use crate::observe::stats::{Counter, Operation, Stats};
use futures_util::FutureExt;
use std::fmt::Display;
use std::time::{Duration, Instant};
use tracing::{Instrument, Span};

/// What an operation's `cache` field sums up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Rows by id: `hit`, `negative`, `miss`, `joined` or `bypassed`.
    Rows,
    /// A list query: `hit`, `miss`, `joined` or `bypassed`.
    List,
    /// A write: no `cache` field.
    Write,
}

/// A `DEBUG` span named `$name` with the given fields, plus the empty fields
/// [`operation`] records.
macro_rules! span {
    ($name:expr, $($field:tt)*) => {
        tracing::debug_span!(
            target: "thing",
            $name,
            $($field)*,
            cache = tracing::field::Empty,
            statements = tracing::field::Empty,
            cache_round_trips = tracing::field::Empty,
            cache_hits = tracing::field::Empty,
            negative_hits = tracing::field::Empty,
            cache_misses = tracing::field::Empty,
            cache_fills = tracing::field::Empty,
            joins = tracing::field::Empty,
            query_hits = tracing::field::Empty,
            query_misses = tracing::field::Empty,
            invalidations = tracing::field::Empty,
            cache_errors = tracing::field::Empty,
            near_hits = tracing::field::Empty,
            near_write_waits = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    };
}

pub(crate) use span;

/// The counters recorded in a span when they are not zero.
const RECORDED: &[Counter] = &[
    Counter::cache_round_trips,
    Counter::cache_hits,
    Counter::negative_hits,
    Counter::cache_misses,
    Counter::cache_fills,
    Counter::joins,
    Counter::query_hits,
    Counter::query_misses,
    Counter::invalidations,
    Counter::cache_errors,
    Counter::near_hits,
    Counter::near_write_waits,
];

/// The future of operation `$name` doing `$work` inside `$span`: `$work`
/// itself when nothing listens (the span is disabled and no slow-operation
/// warning could be seen), else [`observed`]. A macro, so that `$work` is
/// built in place: operations' futures are kilobytes, and passing one through
/// a function's arguments would copy it on every call.
macro_rules! operation {
    ($name:literal, $reads:expr, $span:expr, $slow:expr, $work:expr $(,)?) => {{
        let span: tracing::Span = $span;
        let slow: Option<std::time::Duration> = $slow;
        if $crate::observe::is_observed(&span, slow) {
            futures_util::future::Either::Right(Box::pin($crate::observe::observed(
                $name, $reads, span, slow, $work,
            )))
        } else {
            futures_util::future::Either::Left($work)
        }
    }};
}

pub(crate) use operation;

/// [`operation!`] with its span: `thing.$name`, with the fields `$fields`.
/// A write (`Reads::Write`, matched as written, so a caller needs no import of
/// `Reads` for it) runs in an [`untold::scope`](crate::observe::untold::scope), so that
/// a commit inside it that could not tell the cache fails it at its end. The
/// scope is boxed: inline, its one more level of nesting took a test's
/// `async fn` calling `save_many` and `delete` past the compiler's layout
/// depth; a box costs a write one allocation.
macro_rules! op {
    ($name:literal, Reads::Write, $slow:expr, ($($field:tt)*), $work:expr $(,)?) => {
        $crate::observe::operation!(
            $name,
            $crate::observe::Reads::Write,
            $crate::observe::span!(concat!("thing.", $name), $($field)*),
            $slow,
            Box::pin($crate::observe::untold::scope($work)),
        )
    };
    ($name:literal, $reads:expr, $slow:expr, ($($field:tt)*), $work:expr $(,)?) => {
        $crate::observe::operation!(
            $name,
            $reads,
            $crate::observe::span!(concat!("thing.", $name), $($field)*),
            $slow,
            $work,
        )
    };
}

pub(crate) use op;

/// Whether anything listens to an operation's span or its slow warning.
pub(crate) fn is_observed(span: &Span, slow: Option<Duration>) -> bool {
    !span.is_disabled()
        || (slow.is_some() && tracing::enabled!(target: "thing::slow", tracing::Level::WARN))
}

/// Runs `work`, the operation `name`, inside `span`, and records in the span
/// what it did; warns under `thing::slow` when it took `slow` or longer.
///
/// Built from combinators rather than as an `async fn`, so that the returned
/// future holds `work` once: operations nest (a transaction runs saves), and
/// a wrapper holding its inner future twice would double the size at every
/// level.
pub(crate) fn observed<F, T, E>(
    name: &'static str,
    reads: Reads,
    span: Span,
    slow: Option<Duration>,
    work: F,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: Display,
{
    let started = Instant::now();
    Operation::scope(work.instrument(span.clone())).map(move |(result, stats)| {
        finish(name, reads, &span, slow, started.elapsed(), &stats, &result);
        result
    })
}

/// Records what the operation did in its span, and warns when it was slow.
fn finish<T, E: Display>(
    name: &'static str,
    reads: Reads,
    span: &Span,
    slow: Option<Duration>,
    elapsed: Duration,
    stats: &Stats,
    result: &Result<T, E>,
) {
    record(span, reads, stats);
    if let Err(err) = result {
        span.record("error", tracing::field::display(err));
    }
    if let Some(slow) = slow
        && elapsed >= slow
    {
        tracing::warn!(
            target: "thing::slow",
            parent: span,
            operation = name,
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            statements = stats.statements(),
            cache_round_trips = stats.cache_round_trips,
            "slow operation"
        );
    }
}

fn record(span: &Span, reads: Reads, stats: &Stats) {
    span.record("statements", stats.statements());
    let fields = stats.fields();
    for &counter in RECORDED {
        let n = fields[counter as usize];
        if n > 0 {
            span.record(counter.name(), n);
        }
    }
    if let Some(outcome) = outcome(reads, stats) {
        span.record("cache", outcome);
    }
}

/// The `cache` field: how the operation's reads were served.
fn outcome(reads: Reads, stats: &Stats) -> Option<&'static str> {
    Some(match reads {
        Reads::Write => return None,
        _ if stats.joins > 0 => "joined",
        Reads::Rows if stats.cache_misses > 0 => "miss",
        Reads::Rows if stats.cache_hits > 0 => "hit",
        Reads::Rows if stats.negative_hits > 0 => "negative",
        Reads::List if stats.query_misses > 0 => "miss",
        Reads::List if stats.query_hits > 0 => "hit",
        _ => "bypassed",
    })
}

#[cfg(test)]
mod tests {
    use super::{Reads, outcome};
    use crate::observe::stats::Stats;

    #[test]
    fn the_outcome_names_how_reads_were_served() {
        let stats = |f: fn(&mut Stats)| {
            let mut stats = Stats::default();
            f(&mut stats);
            stats
        };
        assert_eq!(
            outcome(Reads::Rows, &stats(|s| s.cache_hits = 1)),
            Some("hit")
        );
        assert_eq!(
            outcome(Reads::Rows, &stats(|s| s.negative_hits = 1)),
            Some("negative")
        );
        assert_eq!(
            outcome(Reads::Rows, &stats(|s| s.cache_misses = 1)),
            Some("miss")
        );
        assert_eq!(
            outcome(Reads::Rows, &stats(|s| (s.cache_hits, s.joins) = (1, 1))),
            Some("joined")
        );
        assert_eq!(
            outcome(Reads::List, &stats(|s| s.cache_hits = 3)),
            Some("bypassed")
        );
        assert_eq!(
            outcome(Reads::List, &stats(|s| s.query_hits = 1)),
            Some("hit")
        );
        assert_eq!(outcome(Reads::Write, &Stats::default()), None);
    }
}
