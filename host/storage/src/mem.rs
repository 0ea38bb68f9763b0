use crate::{Backend, Cf, Error, Result, WriteOp};
use parking_lot::RwLock;
use std::collections::BTreeMap;

type Maps = BTreeMap<(String, Cf), BTreeMap<Vec<u8>, Vec<u8>>>;

/// In-memory backend (tests and the deterministic simulator). Same semantics as [`crate::RocksDb`]
/// except durability.
#[derive(Debug, Default)]
pub struct MemDb {
    maps: RwLock<Maps>,
}

impl MemDb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for MemDb {
    fn ensure_channel(&self, channel: &str) -> Result<()> {
        lc_types::validate_channel_name(channel)?;
        let mut maps = self.maps.write();
        for cf in Cf::ALL {
            maps.entry((channel.to_owned(), cf)).or_default();
        }
        Ok(())
    }

    fn channels(&self) -> Result<Vec<String>> {
        let maps = self.maps.read();
        let mut out: Vec<String> = maps.keys().filter(|(_, cf)| *cf == Cf::Meta).map(|(c, _)| c.clone()).collect();
        out.dedup();
        Ok(out)
    }

    fn get(&self, channel: &str, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let maps = self.maps.read();
        let map = maps.get(&(channel.to_owned(), cf)).ok_or_else(|| Error::UnknownChannel(channel.to_owned()))?;
        Ok(map.get(key).cloned())
    }

    fn write(&self, channel: &str, ops: Vec<WriteOp>, _sync: bool) -> Result<()> {
        let mut maps = self.maps.write();
        // Check first so the batch is all-or-nothing.
        for cf in Cf::ALL {
            if !maps.contains_key(&(channel.to_owned(), cf)) {
                return Err(Error::UnknownChannel(channel.to_owned()));
            }
        }
        for (cf, key, value) in ops {
            let map = maps.entry((channel.to_owned(), cf)).or_default();
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        Ok(())
    }
}
