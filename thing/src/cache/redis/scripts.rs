//! The Lua scripts of [`RedisCache`](super::RedisCache), one `.lua` file each
//! under `scripts/` (each with the layout of its `KEYS` and `ARGV` at its
//! top), all prefixed with `scripts/helpers.lua`; and how a script is sent:
//! `EVALSHA`, else `EVAL`.

use super::connection::{Link, SendError, Server};
use crate::hash::sha1_hex;
use deadpool_redis::redis::{self, ErrorKind, ServerErrorKind, Value};
use std::sync::LazyLock;
use std::sync::atomic::Ordering;

/// One of the scripts. Each runs atomically in Redis, in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    /// Stores fetched rows unless a write invalidated or locked them since
    /// their lookup (`fill.lua`).
    Fill,
    /// Stores a list unless one of its stamps moved or is locked
    /// (`fill_stamped.lua`).
    FillStamped,
    /// Locks a write's keys before its commit, which moves its stamps off
    /// every value a list was stored under (`begin_write.lua`).
    BeginWrite,
    /// Invalidates a write's rows, moves its stamps on and gives back its
    /// locks, after its commit or its failure (`end_write.lua`).
    EndWrite,
    /// Bumps stamps (`bump.lua`).
    Bump,
}

/// The helpers every script starts with.
macro_rules! with_helpers {
    ($file:literal) => {
        concat!(
            include_str!("scripts/helpers.lua"),
            include_str!(concat!("scripts/", $file))
        )
    };
}

impl Script {
    /// Every script, in the order of their [bits](Script::bit).
    const ALL: [Script; 5] = [
        Script::Fill,
        Script::FillStamped,
        Script::BeginWrite,
        Script::EndWrite,
        Script::Bump,
    ];

    /// The script's Lua, helpers included.
    pub(super) fn source(self) -> &'static str {
        match self {
            Script::Fill => with_helpers!("fill.lua"),
            Script::FillStamped => with_helpers!("fill_stamped.lua"),
            Script::BeginWrite => with_helpers!("begin_write.lua"),
            Script::EndWrite => with_helpers!("end_write.lua"),
            Script::Bump => with_helpers!("bump.lua"),
        }
    }

    /// The SHA-1 of [`Script::source`], as `EVALSHA` names it.
    pub(super) fn sha(self) -> &'static str {
        static SHAS: LazyLock<[String; 5]> =
            LazyLock::new(|| Script::ALL.map(|script| sha1_hex(script.source().as_bytes())));
        &SHAS[self as usize]
    }

    /// The script's bit in [`Link::loaded`]: set once it was sent with `EVAL`
    /// on that connection.
    pub(super) fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl Server {
    /// Runs `script` with `keys` and `args`: `EVALSHA`, or `EVAL` when the
    /// script was not sent on this connection yet or the server lost it
    /// (`NOSCRIPT`, which costs a second round trip).
    pub(super) async fn eval(
        &self,
        link: &mut Link,
        script: Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<Value, SendError> {
        if link.loaded.load(Ordering::Relaxed) & script.bit() != 0 {
            let by_sha = script_command("EVALSHA", script.sha(), keys, args);
            match self.send(link, &by_sha).await {
                Err(SendError::Redis(err))
                    if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {}
                other => return other,
            }
        }
        let by_source = script_command("EVAL", script.source(), keys, args);
        let value = self.send(link, &by_source).await?;
        link.loaded.fetch_or(script.bit(), Ordering::Relaxed);
        Ok(value)
    }
}

/// `name` (`EVAL` or `EVALSHA`) of `body` with `keys` and `args`.
fn script_command(name: &str, body: &str, keys: &[&str], args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(body).arg(keys.len());
    for key in keys {
        cmd.arg(*key);
    }
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_has_its_own_bit_and_sha() {
        let bits = Script::ALL.map(Script::bit);
        assert_eq!(bits.iter().fold(0, |all, bit| all | bit).count_ones(), 5);
        for script in Script::ALL {
            assert!(
                script
                    .source()
                    .starts_with("-- Helpers shared by every script")
            );
            assert_eq!(script.sha(), sha1_hex(script.source().as_bytes()));
        }
        let shas: std::collections::HashSet<_> = Script::ALL.map(Script::sha).into();
        assert_eq!(shas.len(), 5);
    }
}
