//! Blob garbage collection through the service layer: unreferenced blobs go,
//! referenced ones stay, orphans of a crashed ingest go after the grace time.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use isengard::index::Level;
use isengard::service::Origin;
use isengard_test_support::synth::Spec;

#[tokio::test]
async fn unreferenced_blobs_are_collected_and_referenced_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(common::config_in(dir.path()));
    let opened = isengard::open_archive(config).await.unwrap();
    let archive = &opened.archive;
    let origin = Origin::rest("127.0.0.1".into(), String::new());
    let a = Spec::simple("P", "1.2.1", "1.2.1.1", "1.2.1.1.1").to_bytes();
    let b = Spec::simple("P", "1.2.1", "1.2.1.1", "1.2.1.1.2").to_bytes();
    let ia = archive
        .ingest(Bytes::from(a.clone()), &origin)
        .await
        .unwrap();
    let ib = archive
        .ingest(Bytes::from(b.clone()), &origin)
        .await
        .unwrap();
    let ha = isengard::blob::content_hash(&a);
    let hb = isengard::blob::content_hash(&b);

    // An orphan: a blob written by an ingest that never reached the index.
    let orphan = opened
        .blobs
        .put(Bytes::from_static(b"orphan bytes"))
        .await
        .unwrap();

    // Nothing is unreferenced yet; the orphan is younger than the grace time.
    let report = archive
        .collect_garbage(Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(report.deleted.is_empty());

    archive
        .delete(Level::Instance, &ia.ids.instance)
        .await
        .unwrap();
    let report = archive
        .collect_garbage(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.deleted, vec![ha.clone()]);
    assert!(!opened.blobs.exists(&ha).await.unwrap());
    assert!(
        opened.blobs.exists(&hb).await.unwrap(),
        "a referenced blob stays"
    );
    assert!(opened.blobs.exists(&orphan.hash).await.unwrap());

    let report = archive.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!(report.deleted, vec![orphan.hash.clone()]);
    assert!(opened.blobs.exists(&hb).await.unwrap());
    assert_eq!(
        archive.instance_file(&ib.ids.instance).await.unwrap(),
        Bytes::from(b.clone())
    );

    // Re-ingesting deleted bytes writes the blob again.
    let again = archive
        .ingest(Bytes::from(a.clone()), &origin)
        .await
        .unwrap();
    assert_eq!(
        archive.instance_file(&again.ids.instance).await.unwrap(),
        Bytes::from(a)
    );
    opened.node.shutdown().await;
}
