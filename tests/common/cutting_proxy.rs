//! A unix socket proxy in front of the Docker daemon that cuts a connection mid-response, as a
//! daemon that dies during `docker save` would, without touching the shared daemon itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// A running proxy. Dropping it stops accepting connections.
pub struct CuttingProxy {
    /// The proxy's socket, for `DOCKER_HOST=unix://...`.
    pub socket: PathBuf,
    /// Connections cut so far.
    pub cuts: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// Forwards every connection to `upstream`. Once a request on a connection contains
    /// `trigger`, the proxy passes on `cut_after` more response bytes and then closes both
    /// sides of that connection.
    pub fn start(upstream: &Path, trigger: &'static str, cut_after: u64) -> CuttingProxy {
        let dir = tempfile::tempdir().expect("proxy folder");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("bind the proxy socket");
        let cuts = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_path_buf();
        let counter = Arc::clone(&cuts);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    if let Ok(daemon) = UnixStream::connect(&upstream).await {
                        forward(client, daemon, trigger, cut_after, counter).await;
                    }
                });
            }
        });
        CuttingProxy {
            socket,
            cuts,
            _dir: dir,
            task,
        }
    }

    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    client: UnixStream,
    daemon: UnixStream,
    trigger: &'static str,
    cut_after: u64,
    cuts: Arc<AtomicUsize>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut daemon_read, mut daemon_write) = daemon.into_split();
    let triggered = Arc::new(AtomicBool::new(false));
    let passed = Arc::new(AtomicU64::new(0));

    let seen = Arc::clone(&triggered);
    let requests = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let count = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            // A request line is short and arrives whole in the first read of a request.
            if String::from_utf8_lossy(&buffer[..count]).contains(trigger) {
                seen.store(true, Ordering::SeqCst);
            }
            if daemon_write.write_all(&buffer[..count]).await.is_err() {
                break;
            }
        }
    });

    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let count = match daemon_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(count) => count,
        };
        let mut allowed = count;
        if triggered.load(Ordering::SeqCst) {
            let before = passed.fetch_add(count as u64, Ordering::SeqCst);
            allowed = cut_after.saturating_sub(before).min(count as u64) as usize;
        }
        if client_write.write_all(&buffer[..allowed]).await.is_err() {
            break;
        }
        if allowed < count {
            cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    requests.abort();
    let _ = client_write.shutdown().await;
}
