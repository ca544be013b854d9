//! The `Blobs` gRPC service between two stores, in-process on a port-0
//! listener: a copy is stored only if its bytes hash to its name, streamed in
//! chunks both ways (a blob of several chunks), and `Has`/`Delete` act on the
//! receiver's own store; a node that does not answer is an unreachable error.

use bytes::Bytes;
use isengard::blob::{content_hash, BlobStore};
use isengard::cluster::blobs::CHUNK;
use isengard::cluster::{BlobService, Peers, TransportError};
use tokio::net::TcpListener;

async fn serve(store: BlobStore) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let service = BlobService::new(store).into_server();
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    addr
}

fn code(e: &TransportError) -> Option<tonic::Code> {
    match e {
        TransportError::Rpc { status, .. } => Some(status.code()),
        _ => None,
    }
}

#[tokio::test]
async fn copies_are_checked_streamed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let remote = BlobStore::local(dir.path(), true).unwrap();
    let addr = serve(remote.clone()).await;
    let peers = Peers::default();

    // Two and a half chunks, not compressible.
    let big: Bytes = (0..(2 * CHUNK + CHUNK / 2))
        .map(|i| (i * 7919 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let hash = content_hash(&big);
    peers.put_blob(&addr, &hash, big.clone()).await.unwrap();
    assert_eq!(
        remote.get_verified(&hash).await.unwrap(),
        big,
        "stored durably before the answer"
    );
    assert_eq!(peers.get_blob(&addr, &hash).await.unwrap(), big);
    // Again: idempotent.
    peers.put_blob(&addr, &hash, big.clone()).await.unwrap();

    // Bytes that do not match their name are refused and not stored.
    let wrong = content_hash(b"something else");
    let e = peers
        .put_blob(&addr, &wrong, Bytes::from_static(b"payload"))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(tonic::Code::DataLoss), "{e}");
    assert!(!remote.exists(&wrong).await.unwrap());
    assert!(!remote.exists(&content_hash(b"payload")).await.unwrap());

    // A missing blob is NOT_FOUND; a damaged one DATA_LOSS (never served).
    let absent = content_hash(b"absent");
    assert_eq!(
        code(&peers.get_blob(&addr, &absent).await.unwrap_err()),
        Some(tonic::Code::NotFound)
    );
    let small = remote.put(Bytes::from_static(b"hello")).await.unwrap();
    std::fs::write(
        dir.path()
            .join(&small.hash[0..2])
            .join(&small.hash[2..4])
            .join(&small.hash),
        b"jello",
    )
    .unwrap();
    assert_eq!(
        code(&peers.get_blob(&addr, &small.hash).await.unwrap_err()),
        Some(tonic::Code::DataLoss)
    );
    // A put repairs the damaged copy.
    peers
        .put_blob(&addr, &small.hash, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(
        remote.get_verified(&small.hash).await.unwrap(),
        Bytes::from_static(b"hello")
    );

    let present = peers
        .has_blobs(&addr, vec![hash.clone(), absent.clone()])
        .await
        .unwrap();
    assert_eq!(present, vec![true, false]);
    peers
        .delete_blobs(&addr, vec![hash.clone(), absent])
        .await
        .unwrap();
    assert!(!remote.exists(&hash).await.unwrap());

    // The empty blob is a blob too.
    let empty = content_hash(b"");
    peers.put_blob(&addr, &empty, Bytes::new()).await.unwrap();
    assert_eq!(peers.get_blob(&addr, &empty).await.unwrap(), Bytes::new());
}

#[tokio::test]
async fn a_node_that_does_not_answer_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peers = Peers::default();
    let e = peers
        .put_blob(
            &format!("127.0.0.1:{port}"),
            &content_hash(b"x"),
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap_err();
    assert!(e.is_unreachable(), "{e}");
}
