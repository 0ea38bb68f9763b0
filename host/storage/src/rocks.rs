use crate::{Backend, Cf, Error, Result, WriteOp};
use rocksdb::{
    BlockBasedOptions, Cache, DBWithThreadMode, MultiThreaded, Options, WriteBatch, WriteBufferManager, WriteOptions,
};
use std::path::Path;

type Db = DBWithThreadMode<MultiThreaded>;

/// Memory budget shared by every channel of the node.
#[derive(Debug, Clone, Copy)]
pub struct StorageConfig {
    /// Shared LRU block cache, bytes.
    pub block_cache_bytes: usize,
    /// Shared budget of all memtables (write buffers), bytes; charged to the block cache.
    pub write_buffer_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { block_cache_bytes: 256 << 20, write_buffer_bytes: 128 << 20 }
    }
}

/// The node's RocksDB database: one per node, column families per channel.
pub struct RocksDb {
    db: Db,
    cf_opts: Options,
    // Kept alive for the database's lifetime (RocksDB holds references).
    _cache: Cache,
    _wbm: WriteBufferManager,
}

impl std::fmt::Debug for RocksDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDb").field("path", &self.db.path()).finish_non_exhaustive()
    }
}

impl RocksDb {
    /// Opens (or creates) the database at `path` with all its existing channels.
    pub fn open(path: &Path, cfg: StorageConfig) -> Result<Self> {
        let cache = Cache::new_lru_cache(cfg.block_cache_bytes);
        let wbm = WriteBufferManager::new_write_buffer_manager_with_cache(cfg.write_buffer_bytes, false, cache.clone());

        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_write_buffer_manager(&wbm);
        db_opts.set_max_background_jobs(2);
        db_opts.set_keep_log_file_num(4);

        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        let mut cf_opts = Options::default();
        cf_opts.set_block_based_table_factory(&table);
        cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        cf_opts.set_write_buffer_size(16 << 20);

        let existing = match Db::list_cf(&db_opts, path) {
            Ok(names) => names,
            Err(_) => vec!["default".to_owned()], // new database
        };
        let descriptors = existing.iter().map(|n| rocksdb::ColumnFamilyDescriptor::new(n, cf_opts.clone()));
        let db = Db::open_cf_descriptors(&db_opts, path, descriptors)?;
        Ok(Self { db, cf_opts, _cache: cache, _wbm: wbm })
    }

    fn cf(&self, channel: &str, cf: Cf) -> Result<std::sync::Arc<rocksdb::BoundColumnFamily<'_>>> {
        self.db.cf_handle(&cf.name(channel)).ok_or_else(|| Error::UnknownChannel(channel.to_owned()))
    }

    /// Flushes memtables and the WAL to disk (clean shutdown).
    pub fn flush(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        for name in self.channels()?.iter().flat_map(|c| Cf::ALL.map(|cf| cf.name(c))) {
            if let Some(cf) = self.db.cf_handle(&name) {
                self.db.flush_cf(&cf)?;
            }
        }
        Ok(())
    }
}

impl Backend for RocksDb {
    fn ensure_channel(&self, channel: &str) -> Result<()> {
        lc_types::validate_channel_name(channel)?;
        for cf in Cf::ALL {
            let name = cf.name(channel);
            if self.db.cf_handle(&name).is_none() {
                self.db.create_cf(&name, &self.cf_opts)?;
            }
        }
        Ok(())
    }

    fn channels(&self) -> Result<Vec<String>> {
        let names = Db::list_cf(&Options::default(), self.db.path())?;
        let suffix = format!("#{}", Cf::Meta.suffix());
        let mut out: Vec<String> = names.iter().filter_map(|n| n.strip_suffix(&suffix)).map(str::to_owned).collect();
        out.sort();
        Ok(out)
    }

    fn get(&self, channel: &str, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let handle = self.cf(channel, cf)?;
        Ok(self.db.get_cf(&handle, key)?)
    }

    fn write(&self, channel: &str, ops: Vec<WriteOp>, sync: bool) -> Result<()> {
        let mut batch = WriteBatch::default();
        let handles: Vec<_> = Cf::ALL.iter().map(|cf| self.cf(channel, *cf)).collect::<Result<_>>()?;
        for (cf, key, value) in ops {
            let handle = &handles[cf as usize];
            match value {
                Some(v) => batch.put_cf(handle, key, v),
                None => batch.delete_cf(handle, key),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }
}
