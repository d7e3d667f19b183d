//! Blob streams that check size and sha256 while the bytes pass through.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::digest::Digest;

use super::{RegistryError, map_client_error};

/// Chunks kept in flight between the download task and the reader. Small, so a slow layer
/// walk holds back the download instead of buffering the blob in memory.
const CHANNEL_CHUNKS: usize = 8;

/// A message from the download task to the reader.
enum Message {
    Chunk(Bytes),
    /// All bytes were sent, and their size and digest matched the descriptor.
    Verified,
    Failed(RegistryError),
}

/// The blob being fetched, for checks and messages.
#[derive(Debug, Clone)]
pub(super) struct BlobTarget {
    pub registry: String,
    pub repository: String,
    pub digest: Digest,
    pub size: u64,
    /// Description of the credential in use, for an unauthorized error.
    pub credentials: String,
}

/// A blocking reader over one registry blob.
///
/// It returns end of file only after the whole blob arrived with the declared size and
/// sha256. A mismatch, a transport error or a download task that stopped early is returned
/// as an `std::io::Error` whose inner error is a [`RegistryError`]. Call [`Read::read`] from a
/// blocking thread (`tokio::task::spawn_blocking` or a plain thread), never from async code,
/// because it waits on a channel with `blocking_recv`.
pub struct LayerReader {
    receiver: mpsc::Receiver<Message>,
    current: Bytes,
    finished: bool,
}

impl std::fmt::Debug for LayerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerReader")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl LayerReader {
    /// Starts downloading `target` on `runtime` and returns the reading end.
    pub(super) fn spawn(
        runtime: &tokio::runtime::Handle,
        client: Arc<Client>,
        reference: Reference,
        target: BlobTarget,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
        runtime.spawn(async move {
            let outcome = pump(&client, &reference, &target, |chunk| {
                let sender = sender.clone();
                async move { sender.send(Message::Chunk(chunk)).await.is_ok() }
            })
            .await;
            let last = match outcome {
                Ok(()) => Message::Verified,
                Err(error) => Message::Failed(error),
            };
            // A send error means the reader was dropped, and then the outcome has no consumer.
            let _ = sender.send(last).await;
        });
        Self {
            receiver,
            current: Bytes::new(),
            finished: false,
        }
    }
}

impl Read for LayerReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.finished {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Message::Chunk(chunk)) => self.current = chunk,
                Some(Message::Verified) => self.finished = true,
                Some(Message::Failed(error)) => return Err(std::io::Error::other(error)),
                None => {
                    return Err(std::io::Error::other(RegistryError::BlobIncomplete {
                        detail: "the download task stopped before the blob was verified".to_owned(),
                    }));
                }
            }
        }
        let count = buf.len().min(self.current.len());
        buf[..count].copy_from_slice(&self.current[..count]);
        let _ = self.current.split_to(count);
        Ok(count)
    }
}

/// Reads a whole blob into memory, checking size and digest. `max` bounds the declared size,
/// so a manifest cannot make us buffer an arbitrarily large config.
pub(super) async fn read_to_vec(
    client: &Client,
    reference: &Reference,
    target: &BlobTarget,
    max: u64,
) -> Result<Vec<u8>, RegistryError> {
    if target.size > max {
        return Err(RegistryError::TooLarge {
            what: "image config",
            digest: target.digest.clone(),
            size: target.size,
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(target.size).unwrap_or(0));
    pump(client, reference, target, |chunk| {
        bytes.extend_from_slice(&chunk);
        std::future::ready(true)
    })
    .await?;
    Ok(bytes)
}

/// Streams the blob into `deliver`, hashing and counting on the way, and checks the total at
/// the end. `deliver` returns false when the consumer went away, which stops the download.
async fn pump<F, Fut>(
    client: &Client,
    reference: &Reference,
    target: &BlobTarget,
    mut deliver: F,
) -> Result<(), RegistryError>
where
    F: FnMut(Bytes) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let digest_text = target.digest.to_string();
    let mut stream = client
        .pull_blob_stream(reference, digest_text.as_str())
        .await
        .map_err(|error| {
            map_client_error(
                error,
                &target.registry,
                &target.repository,
                &target.credentials,
            )
        })?
        .stream;

    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    while let Some(item) = stream.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(error) => {
                // oci-client checks the digest too and reports a mismatch as a stream error
                // after the last chunk. Our own check gives the clearer message, so it runs
                // first whenever every byte has arrived.
                if received == target.size {
                    check_digest(target, hasher.clone())?;
                }
                return Err(RegistryError::BlobIncomplete {
                    detail: format!(
                        "reading blob {} from {}/{} failed after {received} of {} bytes: {error}",
                        target.digest, target.registry, target.repository, target.size
                    ),
                });
            }
        };
        received += chunk.len() as u64;
        if received > target.size {
            return Err(RegistryError::BlobSizeMismatch {
                registry: target.registry.clone(),
                repository: target.repository.clone(),
                digest: target.digest.clone(),
                expected: target.size,
                actual: received,
            });
        }
        hasher.update(&chunk);
        if !deliver(chunk).await {
            return Ok(());
        }
    }
    if received != target.size {
        return Err(RegistryError::BlobSizeMismatch {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            digest: target.digest.clone(),
            expected: target.size,
            actual: received,
        });
    }
    check_digest(target, hasher)
}

fn check_digest(target: &BlobTarget, hasher: Sha256) -> Result<(), RegistryError> {
    let actual = Digest::from_hasher(hasher);
    if actual == target.digest {
        Ok(())
    } else {
        Err(RegistryError::BlobDigestMismatch {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            expected: target.digest.clone(),
            actual,
        })
    }
}
