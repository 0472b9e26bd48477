//! Faults on demand, never touching the shared servers: a TCP [`Proxy`] that
//! hangs or resets the connections through it (one handle cut off from Redis,
//! a database that restarts or stops answering), and a [`PrivateRedis`] of our
//! own that can be paused (SIGSTOP) or killed, by its pid.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream as AsyncStream};
use tokio::sync::watch;

/// What a [`Proxy`] does with the bytes of its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards them both ways.
    Forward,
    /// Holds them: connections (new ones too) stay open and nothing arrives.
    Hang,
}

/// A TCP proxy on a free local port in front of one upstream address.
/// Dropping it closes every connection through it.
pub struct Proxy {
    port: u16,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped to close every open connection.
    resets: watch::Sender<u64>,
    cut: Arc<Cut>,
    accept: tokio::task::JoinHandle<()>,
}

/// A cut armed by [`Proxy::reset_after`]: how many more bytes the server may
/// send (`None`: no cut armed), and how many cuts were made.
#[derive(Default)]
struct Cut {
    budget: Mutex<Option<usize>>,
    made: AtomicUsize,
}

impl Cut {
    /// How many of `read` bytes from the server to forward, and whether the
    /// cut falls after them (every connection is then closed).
    fn take(&self, read: usize) -> (usize, bool) {
        let mut budget = self.budget.lock().unwrap();
        match *budget {
            Some(left) if read >= left => {
                *budget = None;
                self.made.fetch_add(1, Ordering::SeqCst);
                (left, true)
            }
            Some(left) => {
                *budget = Some(left - read);
                (read, false)
            }
            None => (read, false),
        }
    }
}

impl Proxy {
    /// A proxy in front of `upstream` (`host:port`), forwarding.
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream.parse().expect("upstream is host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let port = listener.local_addr().unwrap().port();
        let (mode, _) = watch::channel(Mode::Forward);
        let (resets, _) = watch::channel(0);
        let cut = Arc::new(Cut::default());
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream,
            mode.clone(),
            resets.clone(),
            cut.clone(),
        ));
        Self {
            port,
            upstream,
            mode,
            resets,
            cut,
            accept,
        }
    }

    /// A proxy in front of the server of `url` (`scheme://[user@]host:port/...`).
    pub async fn in_front_of(url: &str) -> Self {
        Self::start(&authority(url).1).await
    }

    /// `url` with its `host:port` pointing at this proxy.
    pub fn url_for(&self, url: &str) -> String {
        let (at, host_port) = authority(url);
        assert_eq!(host_port.parse::<SocketAddr>().ok(), Some(self.upstream));
        let mut out = url.to_owned();
        out.replace_range(
            at..at + host_port.len(),
            &format!("127.0.0.1:{}", self.port),
        );
        out
    }

    /// Stops forwarding: every connection, and every new one, stays open and
    /// silent, as with a server that stopped answering or a cut-off network.
    pub fn hang(&self) {
        self.mode.send_replace(Mode::Hang);
    }

    /// Forwards again, including what was held.
    pub fn resume(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// Closes every open connection, as a server restart does; new ones work.
    pub fn reset(&self) {
        self.resets.send_modify(|n| *n += 1);
    }

    /// Forwards `bytes` more from the server (over every connection), then
    /// closes every open connection: a server that dies in the middle of a
    /// reply. New connections work.
    pub fn reset_after(&self, bytes: usize) {
        *self.cut.budget.lock().unwrap() = Some(bytes);
    }

    /// How many cuts armed by [`Proxy::reset_after`] were made.
    pub fn cuts(&self) -> usize {
        self.cut.made.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.reset();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    resets: watch::Sender<u64>,
    cut: Arc<Cut>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let mode = mode.subscribe();
        let mut reset = resets.subscribe();
        reset.borrow_and_update();
        let (resets, cut) = (resets.clone(), cut.clone());
        tokio::spawn(async move {
            let Ok(server) = AsyncStream::connect(upstream).await else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            // Either direction ending, or a reset, closes both sockets.
            let from_server = Some((cut.as_ref(), &resets));
            tokio::select! {
                () = pipe(client_read, server_write, mode.clone(), None) => {}
                () = pipe(server_read, client_write, mode, from_server) => {}
                _ = reset.changed() => {}
            }
        });
    }
}

/// Copies `from` to `to`, holding the bytes while the mode is [`Mode::Hang`];
/// from the server, `cut` and the resets it sends when it falls.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    cut: Option<(&Cut, &watch::Sender<u64>)>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if mode.wait_for(|mode| *mode == Mode::Forward).await.is_err() {
            return;
        }
        let (forward, falls) = cut.map_or((read, false), |(cut, _)| cut.take(read));
        if to.write_all(&buf[..forward]).await.is_err() {
            return;
        }
        if let (true, Some((_, resets))) = (falls, cut) {
            let _ = to.flush().await;
            resets.send_modify(|n| *n += 1);
            return;
        }
    }
}

/// Where the `host:port` of `url` starts, and what it is.
fn authority(url: &str) -> (usize, String) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@').map_or(0, |i| i + 1);
    (start + at, rest[at..end].to_owned())
}

/// A port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `redis-server` of our own, killed when dropped (even on panic).
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts `redis-server` on `port` and waits until it answers; `Err` when
    /// it cannot be run or does not come up.
    pub fn start(port: u16) -> Result<Self, String> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot run redis-server: {err}"))?;
        let mut server = Self {
            port,
            child: Some(child),
        };
        server.wait_until_up()?;
        Ok(server)
    }

    /// A server on a free port, or `None` after a loud skip (a failure in CI).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match Self::start(free_port()) {
            Ok(server) => Some(server),
            Err(reason) => {
                crate::skip(test, &reason);
                None
            }
        }
    }

    fn wait_until_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port))
                && command(&mut stream, &["PING"]).is_ok_and(|reply| reply.starts_with("+PONG"))
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {} did not come up",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a command on a connection of its own.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        command(&mut stream, args).unwrap()
    }

    /// Sends a command on a connection of its own and reads its whole reply.
    pub fn query(&self, args: &[&str]) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        query(&mut stream, args).unwrap()
    }

    /// Sends a signal to this server (by its pid, never by name).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = Self::start(self.port).expect("redis-server restarts on the same port");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `args` as one RESP command, with a read timeout for its reply.
fn send(stream: &mut TcpStream, args: &[&str]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = format!("*{}\r\n", args.len());
    for arg in args {
        out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(out.as_bytes())
}

/// Sends one RESP command, returns the first reply chunk.
pub fn command(stream: &mut TcpStream, args: &[&str]) -> std::io::Result<String> {
    send(stream, args)?;
    let mut reply = [0u8; 512];
    let read = stream.read(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply[..read]).into_owned())
}

/// One RESP reply, read whole (see [`query`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and the like.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n` (`None`: the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*n` (`None`: the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The items of an array reply (none for anything else).
    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(items)) => items,
            _ => &[],
        }
    }

    /// A bulk string's text (empty for anything else).
    pub fn text(&self) -> String {
        match self {
            Reply::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        }
    }
}

/// Sends one RESP command and reads its whole reply, however long (where
/// [`command`] reads only its first chunk).
pub fn query(stream: &mut TcpStream, args: &[&str]) -> std::io::Result<Reply> {
    send(stream, args)?;
    read_reply(&mut std::io::BufReader::new(stream))
}

fn read_reply(reader: &mut impl std::io::BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, line.to_owned());
    let (kind, rest) = (line.get(..1).ok_or_else(bad)?, &line[1..]);
    let count = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(count()?),
        "$" if count()? < 0 => Reply::Bulk(None),
        "$" => {
            let mut bytes = vec![0; count()? as usize + 2];
            reader.read_exact(&mut bytes)?;
            bytes.truncate(bytes.len() - 2);
            Reply::Bulk(Some(bytes))
        }
        "*" if count()? < 0 => Reply::Array(None),
        "*" => Reply::Array(Some(
            (0..count()?)
                .map(|_| read_reply(reader))
                .collect::<std::io::Result<_>>()?,
        )),
        _ => return Err(bad()),
    })
}

/// Runs `f` when dropped (so a stopped server is resumed even on panic).
pub fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn authority_is_found_with_and_without_a_user() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(authority(url), (20, "127.0.0.1:5432".to_owned()));
        assert_eq!(authority("redis://127.0.0.1:6379").1, "127.0.0.1:6379");
        assert_eq!(
            authority("mysql://root@127.0.0.1:3306?x=1").1,
            "127.0.0.1:3306"
        );
    }
}
