//! The RocksDB database behind the index: column families and the key codec.
//!
//! One database holds both the Raft log (`raft_log`, `raft_meta`) and the state
//! machine (every other family). Keys are byte strings built here only:
//!
//! | family      | key                                         | value                 |
//! |-------------|---------------------------------------------|-----------------------|
//! | raft_log    | index (u64 BE)                              | JSON `Entry`          |
//! | raft_meta   | `vote`, `committed`, `purged`               | JSON                  |
//! | sm_meta     | `applied`, `membership`, `counters`, `seq`, `snapshot` | JSON       |
//! | sm_meta     | `lua_cursor`                                | u64 BE                |
//! | resources   | public id                                   | JSON `Resource`       |
//! | by_level    | level, creation seq (u64 BE), id            | empty                 |
//! | children    | parent id, 0, child id                      | empty                 |
//! | changes     | seq (u64 BE)                                | JSON `Change`         |
//! | res_changes | id, 0, seq (u64 BE)                         | empty                 |
//! | tags        | level, tag name, 0, normalized value, 0, id | empty                 |
//! | unstable    | id                                          | last_instance_ms (BE) |
//! | blob_refs   | hash                                        | count (u64 BE)        |
//! | blob_state  | hash                                        | `garbage`/`deleting`  |
//! | modalities  | name                                        | JSON `Modality`       |
//! | blob_holders| hash                                        | JSON node ids (sorted)|
//!
//! `blob_holders` exists only in the replicated blob mode: the nodes whose own
//! store holds the blob (an empty list: every known copy is lost). It is the
//! last family so that snapshots written before it existed still install.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, DB};

use super::model::Level;

pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_RAFT_META: &str = "raft_meta";
pub const CF_SM_META: &str = "sm_meta";
pub const CF_RESOURCES: &str = "resources";
pub const CF_BY_LEVEL: &str = "by_level";
pub const CF_CHILDREN: &str = "children";
pub const CF_CHANGES: &str = "changes";
pub const CF_RESOURCE_CHANGES: &str = "res_changes";
pub const CF_TAGS: &str = "tags";
pub const CF_UNSTABLE: &str = "unstable";
pub const CF_BLOB_REFS: &str = "blob_refs";
pub const CF_BLOB_STATE: &str = "blob_state";
pub const CF_MODALITIES: &str = "modalities";
pub const CF_BLOB_HOLDERS: &str = "blob_holders";
pub const CF_PEERS: &str = "peers";
pub const CF_SETTINGS: &str = "settings";

/// The state machine's families: what a snapshot carries and an install replaces.
pub const SM_FAMILIES: &[&str] = &[
    CF_SM_META,
    CF_RESOURCES,
    CF_BY_LEVEL,
    CF_CHILDREN,
    CF_CHANGES,
    CF_RESOURCE_CHANGES,
    CF_TAGS,
    CF_UNSTABLE,
    CF_BLOB_REFS,
    CF_BLOB_STATE,
    CF_MODALITIES,
    CF_BLOB_HOLDERS,
    // Appended, never inserted: a snapshot names a family by its position.
    CF_PEERS,
    CF_SETTINGS,
];

/// Memory of all memtables together (RocksDB flushes the largest beyond it).
/// Left to its default (64 MiB per family, 13 families), an index of 100,000
/// instances kept hundreds of MiB of unflushed memtables resident.
const MEMTABLES_BYTES: usize = 16 << 20;
/// Unit in which a memtable grows (RocksDB's default: 1/8 of the write
/// buffer, 512 KiB here): every family written to since its last flush holds
/// at least one, 13 families held 6 MiB of mostly empty blocks.
const MEMTABLE_BLOCK_BYTES: usize = 64 << 10;
/// One block cache shared by every family (the default is one per family).
const BLOCK_CACHE_BYTES: usize = 8 << 20;

/// Opens (or creates) the index database with every column family.
pub fn open(path: &Path) -> Result<Arc<DB>, rocksdb::Error> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.increase_parallelism(2);
    opts.set_db_write_buffer_size(MEMTABLES_BYTES);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES));
    let family_options = || {
        let mut family = Options::default();
        family.set_compression_type(rocksdb::DBCompressionType::Lz4);
        family.set_write_buffer_size(MEMTABLES_BYTES / 4);
        family.set_arena_block_size(MEMTABLE_BLOCK_BYTES);
        family.set_block_based_table_factory(&table);
        family
    };
    let families = [CF_RAFT_LOG, CF_RAFT_META]
        .iter()
        .chain(SM_FAMILIES.iter())
        .map(|name| ColumnFamilyDescriptor::new(*name, family_options()));
    Ok(Arc::new(DB::open_cf_descriptors(&opts, path, families)?))
}

/// Memtable size above which a family is flushed when the node goes idle.
const IDLE_FLUSH_BYTES: u64 = 256 << 10;

/// Flushes the memtables of the families holding more than
/// [`IDLE_FLUSH_BYTES`] to their tables on disk, freeing their memory: called
/// when the process goes quiet (the node's idle hook). Memtables are
/// otherwise flushed only once they reach their size, so whatever the last
/// burst of writes left in them (8 MiB after storing 10,000 instances) stayed
/// resident while the node sat idle. A small threshold keeps a trickle of
/// writes from producing a table file per family at every pause.
pub fn flush_idle(db: &DB) -> Result<(), rocksdb::Error> {
    let mut full = Vec::new();
    for name in [CF_RAFT_LOG, CF_RAFT_META].iter().chain(SM_FAMILIES.iter()) {
        let family = cf(db, name);
        let size = db
            .property_int_value_cf(family, "rocksdb.cur-size-active-mem-table")?
            .unwrap_or(0);
        if size > IDLE_FLUSH_BYTES {
            full.push(family);
        }
    }
    if full.is_empty() {
        return Ok(());
    }
    db.flush_cfs_opt(&full, &rocksdb::FlushOptions::default())
}

/// The handle of a column family that [`open`] always creates.
pub fn cf<'a>(db: &'a DB, name: &str) -> &'a ColumnFamily {
    db.cf_handle(name)
        .unwrap_or_else(|| panic!("column family {name} is created by store::open"))
}

pub fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub fn by_level_key(level: Level, seq: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(level.code());
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn child_key(parent: &str, child: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(parent.len() + 1 + child.len());
    k.extend_from_slice(parent.as_bytes());
    k.push(0);
    k.extend_from_slice(child.as_bytes());
    k
}

pub fn children_prefix(parent: &str) -> Vec<u8> {
    let mut k = parent.as_bytes().to_vec();
    k.push(0);
    k
}

pub fn resource_change_key(id: &str, seq: u64) -> Vec<u8> {
    let mut k = children_prefix(id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Prefix of every `tags` key of one tag at one level.
pub fn tag_prefix(level: Level, tag: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + tag.len());
    k.push(level.code());
    k.extend_from_slice(tag.as_bytes());
    k.push(0);
    k
}

pub fn tag_key(level: Level, tag: &str, normalized: &str, id: &str) -> Vec<u8> {
    let mut k = tag_prefix(level, tag);
    k.extend_from_slice(normalized.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Splits a `tags` key (after its [`tag_prefix`]) into normalized value and id.
pub fn split_tag_suffix(suffix: &[u8]) -> Option<(&[u8], &str)> {
    let pos = suffix.iter().rposition(|b| *b == 0)?;
    let id = std::str::from_utf8(&suffix[pos + 1..]).ok()?;
    Some((&suffix[..pos], id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_split_back() {
        let key = tag_key(Level::Study, "StudyDate", "20240101", "abc");
        let prefix = tag_prefix(Level::Study, "StudyDate");
        assert!(key.starts_with(&prefix));
        let (value, id) = split_tag_suffix(&key[prefix.len()..]).unwrap();
        assert_eq!(value, b"20240101");
        assert_eq!(id, "abc");
    }

    #[test]
    fn idle_flush_empties_the_written_memtables() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path()).unwrap();
        let size = |name| {
            db.property_int_value_cf(cf(&db, name), "rocksdb.cur-size-active-mem-table")
                .unwrap()
                .unwrap()
        };
        let before = size(CF_RESOURCES);
        for i in 0..2_000_u64 {
            db.put_cf(cf(&db, CF_RESOURCES), u64_key(i), [7u8; 200])
                .unwrap();
        }
        db.put_cf(cf(&db, CF_TAGS), b"small", b"").unwrap();
        assert!(size(CF_RESOURCES) > IDLE_FLUSH_BYTES);
        let tags = size(CF_TAGS);
        flush_idle(&db).unwrap();
        assert!(
            size(CF_RESOURCES) <= before,
            "resources memtable not flushed"
        );
        assert_eq!(size(CF_TAGS), tags, "a small memtable is left alone");
        assert_eq!(
            db.get_cf(cf(&db, CF_RESOURCES), u64_key(1_999))
                .unwrap()
                .unwrap(),
            [7u8; 200]
        );
    }

    #[test]
    fn by_level_keys_sort_by_creation() {
        let a = by_level_key(Level::Patient, 2, "zzz");
        let b = by_level_key(Level::Patient, 10, "aaa");
        assert!(a < b);
        assert!(by_level_key(Level::Instance, 0, "a") > b);
    }
}
