//! Raft snapshots of the state machine: a consistent RocksDB snapshot of the
//! state-machine column families, streamed into a file.
//!
//! File format: the magic line `ISENGARD-SNAPSHOT-1\n`, then records
//! `[family u8][key len u32 BE][key][value len u32 BE][value]`, then one `0xff`.
//! The family byte indexes [`SM_FAMILIES`]. Installing a snapshot replaces every
//! state-machine family in one atomic write batch.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use rocksdb::{IteratorMode, WriteBatch, WriteOptions, DB};

use super::store::{cf, SM_FAMILIES};

const MAGIC: &[u8] = b"ISENGARD-SNAPSHOT-1\n";
const END: u8 = 0xff;

/// Writes the state-machine families as of one RocksDB snapshot into `path`.
/// Returns what `read` gives on the same snapshot, for the caller's metadata.
pub fn write<T>(
    db: &DB,
    path: &Path,
    read_meta: impl FnOnce(&rocksdb::Snapshot<'_>) -> io::Result<T>,
) -> io::Result<T> {
    let snap = db.snapshot();
    let meta = read_meta(&snap)?;
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(MAGIC)?;
    for (i, name) in SM_FAMILIES.iter().enumerate() {
        for item in snap.iterator_cf(cf(db, name), IteratorMode::Start) {
            let (key, value) = item.map_err(io::Error::other)?;
            out.write_all(&[i as u8])?;
            write_chunk(&mut out, &key)?;
            write_chunk(&mut out, &value)?;
        }
    }
    out.write_all(&[END])?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(meta)
}

fn write_chunk(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

fn read_chunk(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    input.read_exact(&mut buf)?;
    Ok(buf)
}

/// Replaces the state-machine families with the snapshot read from `input`.
pub fn install(db: &DB, input: impl Read) -> io::Result<()> {
    let mut input = BufReader::new(input);
    let mut magic = vec![0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an isengard snapshot",
        ));
    }
    let mut batch = WriteBatch::default();
    for name in SM_FAMILIES {
        let family = cf(db, name);
        for item in db.iterator_cf(family, IteratorMode::Start) {
            let (key, _) = item.map_err(io::Error::other)?;
            batch.delete_cf(family, key);
        }
    }
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag)?;
        if tag[0] == END {
            break;
        }
        let name = SM_FAMILIES.get(tag[0] as usize).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "unknown family in snapshot")
        })?;
        let key = read_chunk(&mut input)?;
        let value = read_chunk(&mut input)?;
        batch.put_cf(cf(db, name), key, value);
    }
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    db.write_opt(batch, &opts).map_err(io::Error::other)
}
