use lc_types::{Event, WriteSet};
use loopchain_plugin_api::abi_stable::std_types::{ROption, RSlice, RStr, RString, RVec};
use loopchain_plugin_api::HostContext;

/// State key of `key` in SCORE `score`'s namespace: `score/<name>/<key>`.
pub fn namespaced_key(score: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(7 + score.len() + key.len());
    k.extend_from_slice(b"score/");
    k.extend_from_slice(score.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key);
    k
}

/// Facts about the call a SCORE may read.
#[derive(Debug, Clone, Default)]
pub struct CallEnv {
    /// Signer's `hx` address (empty for queries).
    pub sender: String,
    /// Transaction hash, hex (empty for queries).
    pub tx_hash: String,
    /// Block height.
    pub block_height: u64,
    /// Block timestamp, µs.
    pub block_timestamp: u64,
}

/// The host side of one SCORE call: reads go through the buffer, then `read` (the caller's view
/// of state, already namespaced keys); writes are buffered in [`CallContext::writes`] and kept by
/// the caller only when the call succeeds. Never panics.
pub struct CallContext<'a> {
    score: String,
    read: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>,
    env: CallEnv,
    read_only: bool,
    /// Buffered writes, namespaced keys.
    pub writes: WriteSet,
    /// Emitted events.
    pub events: Vec<Event>,
    /// Set when a read-only call tried to write.
    pub write_attempted: bool,
}

impl std::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext").field("score", &self.score).field("env", &self.env).finish_non_exhaustive()
    }
}

impl<'a> CallContext<'a> {
    /// A context for a state-changing call of `score`.
    pub fn new(score: &str, read: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>, env: CallEnv) -> Self {
        Self {
            score: score.to_owned(),
            read,
            env,
            read_only: false,
            writes: WriteSet::new(),
            events: Vec::new(),
            write_attempted: false,
        }
    }

    /// A read-only context (queries): writes are dropped and flagged.
    pub fn read_only(score: &str, read: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>, env: CallEnv) -> Self {
        Self { read_only: true, ..Self::new(score, read, env) }
    }

    fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        if self.read_only {
            self.write_attempted = true;
            return;
        }
        self.writes.insert(namespaced_key(&self.score, key), value);
    }
}

impl HostContext for CallContext<'_> {
    fn get(&self, key: RSlice<'_, u8>) -> ROption<RVec<u8>> {
        let k = namespaced_key(&self.score, key.as_slice());
        let v = match self.writes.get(&k) {
            Some(buffered) => buffered.clone(),
            None => (self.read)(&k),
        };
        v.map(RVec::from).into()
    }

    fn set(&mut self, key: RSlice<'_, u8>, value: RSlice<'_, u8>) {
        self.write(key.as_slice(), Some(value.to_vec()));
    }

    fn delete(&mut self, key: RSlice<'_, u8>) {
        self.write(key.as_slice(), None);
    }

    fn emit_event(&mut self, name: RStr<'_>, data_json: RStr<'_>) {
        if self.read_only {
            return;
        }
        self.events.push(Event {
            score: self.score.clone(),
            name: name.as_str().to_owned(),
            data_json: data_json.as_str().to_owned(),
        });
    }

    fn sender(&self) -> RString {
        self.env.sender.as_str().into()
    }

    fn tx_hash(&self) -> RString {
        self.env.tx_hash.as_str().into()
    }

    fn block_height(&self) -> u64 {
        self.env.block_height
    }

    fn block_timestamp(&self) -> u64 {
        self.env.block_timestamp
    }
}
