//! Blob transfer between nodes (`proto/blobs.proto`), for the replicated blob
//! mode: the tonic `Blobs` service over this node's own [`BlobStore`], and the
//! client calls the service layer makes to other nodes.
//!
//! Blobs travel in chunks of [`CHUNK`] bytes. A `Put` is answered only after
//! the receiver has checked that the bytes hash to the announced name and made
//! the blob durable; a `Get` streams the receiver's verified copy, and the
//! caller checks the hash again (the network is not trusted either). A `Put`'s
//! deadline grows with the blob's size ([`transfer_timeout`]); a `Get` may take
//! as long as it needs while every chunk arrives within [`CALL_TIMEOUT`].

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use isengard_proto::blobs::blobs_client::BlobsClient;
use isengard_proto::blobs::blobs_server::{Blobs as BlobsRpc, BlobsServer};
use isengard_proto::blobs::{
    Chunk, DeleteReply, GetRequest, HasReply, HashList, PutChunk, PutReply,
};
use tonic::{Request, Response, Status, Streaming};

use super::network::Peers;
use super::TransportError;
use crate::blob::{content_hash, BlobError, BlobStore};

/// Size of one chunk of a streamed blob.
pub const CHUNK: usize = 1 << 20;

/// Deadline of small calls (`Has`, `Delete`), and of each chunk of a `Get`.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Deadline of moving `size` bytes: 10 s plus 1 s per 8 MiB.
pub fn transfer_timeout(size: usize) -> Duration {
    Duration::from_secs(10 + (size / (8 << 20)) as u64)
}

/// The `Blobs` gRPC service of one node: its own store, seen by the others.
#[derive(Clone)]
pub struct BlobService {
    store: BlobStore,
}

impl BlobService {
    pub fn new(store: BlobStore) -> BlobService {
        BlobService { store }
    }

    /// The tonic service, ready for `Server::add_service`.
    pub fn into_server(self) -> BlobsServer<BlobService> {
        BlobsServer::new(self)
            .max_decoding_message_size(2 * CHUNK)
            .max_encoding_message_size(2 * CHUNK)
    }
}

fn status(e: BlobError) -> Status {
    match &e {
        BlobError::NotFound(_) => Status::not_found(e.to_string()),
        BlobError::Corrupt { .. } => Status::data_loss(e.to_string()),
        BlobError::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            Status::resource_exhausted(e.to_string())
        }
        _ => Status::internal(e.to_string()),
    }
}

fn chunks(bytes: Bytes) -> impl Iterator<Item = Bytes> {
    let count = bytes.len().div_ceil(CHUNK).max(1);
    (0..count).map(move |i| bytes.slice(i * CHUNK..((i + 1) * CHUNK).min(bytes.len())))
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, Status>> + Send>>;

#[tonic::async_trait]
impl BlobsRpc for BlobService {
    async fn put(
        &self,
        request: Request<Streaming<PutChunk>>,
    ) -> Result<Response<PutReply>, Status> {
        let mut stream = request.into_inner();
        let mut hash: Option<String> = None;
        let mut data = BytesMut::new();
        while let Some(chunk) = stream.message().await? {
            if hash.is_none() {
                hash = Some(chunk.hash);
            }
            data.extend_from_slice(&chunk.data);
        }
        let hash = hash.ok_or_else(|| Status::invalid_argument("an empty Put names no blob"))?;
        let data = data.freeze();
        let actual = content_hash(&data);
        if actual != hash {
            return Err(Status::data_loss(format!(
                "blob {hash} arrived as bytes hashing to {actual}"
            )));
        }
        let stored = self.store.put_repairing(data).await.map_err(status)?;
        tracing::debug!(hash = %stored.hash, size = stored.size, "stored a copy for another node");
        Ok(Response::new(PutReply { size: stored.size }))
    }

    type GetStream = ChunkStream;

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<ChunkStream>, Status> {
        let bytes = self
            .store
            .get_verified(&request.into_inner().hash)
            .await
            .map_err(status)?;
        let stream = futures::stream::iter(chunks(bytes).map(|data| Ok(Chunk { data })));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn has(&self, request: Request<HashList>) -> Result<Response<HasReply>, Status> {
        let mut present = Vec::new();
        for hash in request.into_inner().hashes {
            present.push(self.store.exists(&hash).await.map_err(status)?);
        }
        Ok(Response::new(HasReply { present }))
    }

    async fn delete(&self, request: Request<HashList>) -> Result<Response<DeleteReply>, Status> {
        for hash in request.into_inner().hashes {
            self.store.delete(&hash).await.map_err(status)?;
        }
        Ok(Response::new(DeleteReply {}))
    }
}

fn rpc_error(addr: &str) -> impl Fn(Status) -> TransportError + '_ {
    move |status| TransportError::Rpc {
        addr: addr.to_owned(),
        status,
    }
}

impl Peers {
    fn blobs(&self, addr: &str) -> Result<BlobsClient<tonic::transport::Channel>, TransportError> {
        Ok(BlobsClient::new(self.channel(addr)?)
            .max_decoding_message_size(2 * CHUNK)
            .max_encoding_message_size(2 * CHUNK))
    }

    /// Copies blob `hash` (`bytes`) to the node at `addr`; returns once that
    /// node holds it durably.
    pub async fn put_blob(
        &self,
        addr: &str,
        hash: &str,
        bytes: Bytes,
    ) -> Result<(), TransportError> {
        let timeout = transfer_timeout(bytes.len());
        let hash = hash.to_owned();
        let stream =
            futures::stream::iter(chunks(bytes).enumerate().map(move |(i, data)| PutChunk {
                hash: if i == 0 { hash.clone() } else { String::new() },
                data,
            }));
        let mut request = Request::new(stream);
        request.set_timeout(timeout);
        self.blobs(addr)?
            .put(request)
            .await
            .map_err(rpc_error(addr))?;
        Ok(())
    }

    /// Blob `hash` as the node at `addr` holds it (not verified here).
    pub async fn get_blob(&self, addr: &str, hash: &str) -> Result<Bytes, TransportError> {
        let silent = || TransportError::Rpc {
            addr: addr.to_owned(),
            status: Status::deadline_exceeded(format!("no data for {CALL_TIMEOUT:?}")),
        };
        let mut client = self.blobs(addr)?;
        let call = client.get(GetRequest {
            hash: hash.to_owned(),
        });
        let response = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| silent())?;
        let mut stream = response.map_err(rpc_error(addr))?.into_inner();
        let mut data = BytesMut::new();
        while let Some(chunk) = tokio::time::timeout(CALL_TIMEOUT, stream.next())
            .await
            .map_err(|_| silent())?
        {
            data.extend_from_slice(&chunk.map_err(rpc_error(addr))?.data);
        }
        Ok(data.freeze())
    }

    /// Which of `hashes` the node at `addr` holds.
    pub async fn has_blobs(
        &self,
        addr: &str,
        hashes: Vec<String>,
    ) -> Result<Vec<bool>, TransportError> {
        let mut request = Request::new(HashList { hashes });
        request.set_timeout(CALL_TIMEOUT);
        Ok(self
            .blobs(addr)?
            .has(request)
            .await
            .map_err(rpc_error(addr))?
            .into_inner()
            .present)
    }

    /// Deletes `hashes` from the node at `addr`'s own store.
    pub async fn delete_blobs(
        &self,
        addr: &str,
        hashes: Vec<String>,
    ) -> Result<(), TransportError> {
        let mut request = Request::new(HashList { hashes });
        request.set_timeout(CALL_TIMEOUT);
        self.blobs(addr)?
            .delete(request)
            .await
            .map_err(rpc_error(addr))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_blob() {
        let bytes = Bytes::from(vec![7u8; 2 * CHUNK + 5]);
        let parts: Vec<Bytes> = chunks(bytes.clone()).collect();
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            vec![CHUNK, CHUNK, 5]
        );
        assert_eq!(parts.concat(), bytes.to_vec());
        // The empty blob is one empty chunk, so that its Put carries its name.
        assert_eq!(chunks(Bytes::new()).count(), 1);
        assert_eq!(transfer_timeout(0), Duration::from_secs(10));
    }
}
