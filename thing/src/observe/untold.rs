//! Writes that committed but whose invalidations no process applied to the
//! shared cache in time ([`Error::CacheNotTold`]).
//!
//! The commit that finds this out is deep inside the write, and the write is
//! in the database: the public operation around it still finishes what a
//! committed write does (the value keeps what it saved, the listeners and the
//! after-hooks run), and only then fails. So the commit [`report`]s it into a
//! slot that each public write opens with [`scope`] (the `op!` of every
//! write does), and the write turns its `Ok` into the error at its end.

use crate::error::{Error, Result};
use std::cell::Cell;
use std::time::Duration;

tokio::task_local! {
    /// The outbox timeout of a commit in the current public write whose
    /// invalidations no process applied in time.
    static UNTOLD: Cell<Option<Duration>>;
}

/// Runs the public write `work`; if a commit inside it [`report`]ed that no
/// process applied its invalidations, its `Ok` becomes
/// [`Error::CacheNotTold`] (an error stays what it is).
pub(crate) async fn scope<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    UNTOLD
        .scope(Cell::new(None), async {
            let result = work.await;
            match (result, UNTOLD.with(Cell::get)) {
                (Ok(_), Some(after)) => Err(Error::CacheNotTold { after }),
                (result, _) => result,
            }
        })
        .await
}

/// Reports that a commit's invalidations were not applied within `after`:
/// kept for the end of the current public write (`Ok`), or, outside one, the
/// error itself.
pub(crate) fn report(after: Duration) -> Result<()> {
    UNTOLD
        .try_with(|slot| slot.set(Some(after)))
        .map_err(|_| Error::CacheNotTold { after })
}

#[cfg(test)]
mod tests {
    use super::{report, scope};
    use crate::error::Error;
    use std::time::Duration;

    #[tokio::test]
    async fn a_report_fails_the_write_around_it_at_its_end() {
        let after = Duration::from_secs(2);
        let done = scope(async {
            report(after)?;
            Ok::<_, Error>("the rest of the write ran")
        })
        .await;
        assert!(matches!(done, Err(Error::CacheNotTold { .. })), "{done:?}");
        assert!(
            matches!(report(after), Err(Error::CacheNotTold { .. })),
            "no scope"
        );
        let untouched = scope(async { Ok::<_, Error>(1) }).await;
        assert_eq!(untouched.ok(), Some(1));
    }
}
