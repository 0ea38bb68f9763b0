//! Record and replay of consensus decisions.
//!
//! With `ChannelParams::consensus_log` set, the driver writes one JSON line per step of the LFT
//! core: a `create` line whenever a core is made (epoch, validators, weights, groups, this node's
//! index, the state it resumed from), `restore` lines for the uncommitted blocks fed back after a
//! restart, a `start` line, then for every input the input itself, the proposers the core looked
//! up while handling it, the outputs and the refusal. `loopchain replay FILE` feeds the
//! same inputs to a fresh core and checks that every decision is identical. The core is pure, so
//! any difference is a bug (or a tampered log). The log is written without fsync (a crash may
//! lose its tail) and stops at [`MAX_LOG_BYTES`].
use lc_lft::{EpochInfo, Group, Input, Lft, Output, ProposerSchedule, Resume, Validator};
use lc_types::{Epoch, PublicKey, Round};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Largest consensus log; recording stops (with a warning) beyond it.
pub const MAX_LOG_BYTES: u64 = 256 << 20;

/// The epoch as the core saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRecordLine {
    /// Epoch number.
    pub epoch: Epoch,
    /// Validators: identity key and weight, bitmap order.
    pub validators: Vec<(PublicKey, u64)>,
    /// Trusted groups: member indices and votes.
    pub groups: Vec<(Vec<usize>, u64)>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLine {
    /// A core was created.
    Create {
        /// Its epoch.
        epoch: EpochRecordLine,
        /// This node's validator index.
        me: Option<usize>,
        /// The persisted state it resumed from.
        resume: Resume,
    },
    /// The core was started.
    Start {
        /// Proposers looked up while starting.
        proposers: BTreeMap<Round, usize>,
        /// What `start()` returned.
        outputs: Vec<Output>,
    },
    /// Uncommitted blocks fed back after a restart, before `start()` (their outputs are not acted
    /// upon).
    Restore {
        /// The input.
        input: Input,
        /// Proposers looked up while handling it.
        proposers: BTreeMap<Round, usize>,
    },
    /// One input and the core's answer.
    Step {
        /// The input.
        input: Input,
        /// Proposers looked up while handling it.
        proposers: BTreeMap<Round, usize>,
        /// The outputs.
        outputs: Vec<Output>,
        /// The refusal, if any (its message).
        rejected: Option<String>,
    },
}

/// A proposer schedule that remembers every answer (recording side).
#[derive(Debug)]
struct Recording {
    inner: EpochInfo,
    seen: Mutex<BTreeMap<Round, usize>>,
}

impl ProposerSchedule for Recording {
    fn proposer(&self, round: Round) -> usize {
        let p = self.inner.proposer(round);
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(round, p);
        }
        p
    }
}

/// A proposer schedule answering from a log (replay side). A round the log never asked about
/// answers `usize::MAX` (reduced modulo the validator count by the core), which makes the
/// replayed decisions differ and the mismatch visible.
#[derive(Debug, Default)]
struct Recorded {
    known: Mutex<BTreeMap<Round, usize>>,
}

impl ProposerSchedule for Recorded {
    fn proposer(&self, round: Round) -> usize {
        self.known.lock().ok().and_then(|k| k.get(&round).copied()).unwrap_or(usize::MAX)
    }
}

/// Writes the log of one channel.
#[derive(Debug)]
pub(crate) struct Recorder {
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    schedule: Option<Arc<Recording>>,
    stopped: bool,
}

impl Recorder {
    /// Appends to `path` (created if missing).
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Self { file: std::io::BufWriter::new(file), written, schedule: None, stopped: false })
    }

    /// The epoch to hand to the core: the same, with a proposer schedule that records lookups.
    pub(crate) fn wrap(&mut self, info: &EpochInfo) -> EpochInfo {
        let rec = Arc::new(Recording { inner: info.clone(), seen: Mutex::new(BTreeMap::new()) });
        self.schedule = Some(Arc::clone(&rec));
        info.clone().with_schedule(rec)
    }

    fn take_proposers(&self) -> BTreeMap<Round, usize> {
        self.schedule.as_ref().and_then(|s| s.seen.lock().ok().map(|mut m| std::mem::take(&mut *m))).unwrap_or_default()
    }

    /// Clears lookups made outside a recorded step.
    pub(crate) fn clear(&self) {
        let _ = self.take_proposers();
    }

    pub(crate) fn create(&mut self, info: &EpochInfo, me: Option<usize>, resume: Resume) {
        let epoch = EpochRecordLine {
            epoch: info.epoch,
            validators: info.validators.iter().map(|v| (v.id, v.weight)).collect(),
            groups: info.groups().iter().map(|g| (g.members.clone(), g.votes)).collect(),
        };
        self.clear();
        self.write(&LogLine::Create { epoch, me, resume });
    }

    pub(crate) fn start(&mut self, outputs: &[Output]) {
        let proposers = self.take_proposers();
        self.write(&LogLine::Start { proposers, outputs: outputs.to_vec() });
    }

    pub(crate) fn step(&mut self, input: &Input, step: &lc_lft::Step) {
        let proposers = self.take_proposers();
        self.write(&LogLine::Step {
            input: input.clone(),
            proposers,
            outputs: step.outputs.clone(),
            rejected: step.rejected.as_ref().map(ToString::to_string),
        });
    }

    fn write(&mut self, line: &LogLine) {
        if self.stopped {
            return;
        }
        let Ok(mut text) = serde_json::to_string(line) else { return };
        text.push('\n');
        if self.written + text.len() as u64 > MAX_LOG_BYTES {
            tracing::warn!(limit = MAX_LOG_BYTES, "consensus log is full; recording stops");
            self.stopped = true;
            return;
        }
        let ok = self.file.write_all(text.as_bytes()).and_then(|()| self.file.flush());
        match ok {
            Ok(()) => self.written += text.len() as u64,
            Err(e) => {
                tracing::warn!(error = %e, "writing the consensus log failed; recording stops");
                self.stopped = true;
            }
        }
    }
}

/// What a replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Cores started (one per start line: node starts and epoch switches).
    pub starts: usize,
    /// Inputs replayed.
    pub steps: usize,
    /// Blocks committed in the replayed decisions.
    pub committed_blocks: usize,
    /// Votes cast (yes and timeout).
    pub votes: usize,
    /// Highest round reached.
    pub last_round: Round,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("reading the log: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a log record.
    #[error("line {line}: not a consensus log record: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// Parser message.
        reason: String,
    },
    /// The log does not begin with a start record.
    #[error("line {0}: an input before any start record")]
    NoStart(usize),
    /// The replayed core decided differently.
    #[error("line {line}: the replayed core decided differently\n  recorded: {recorded}\n  replayed: {replayed}")]
    Diverged {
        /// 1-based line number.
        line: usize,
        /// What the log says.
        recorded: String,
        /// What the core did now.
        replayed: String,
    },
    /// The epoch in a start record is invalid.
    #[error("line {0}: the start record's validator set is invalid")]
    BadEpoch(usize),
}

/// Replays a consensus log through fresh cores; `Ok` only if every decision is identical.
pub fn replay_file(path: &Path) -> Result<ReplayReport, ReplayError> {
    let reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut report = ReplayReport::default();
    let mut core: Option<(Lft, Arc<Recorded>)> = None;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: LogLine =
            serde_json::from_str(&line).map_err(|e| ReplayError::Malformed { line: n, reason: e.to_string() })?;
        let learn = |sched: &Recorded, proposers: &BTreeMap<Round, usize>| {
            if let Ok(mut k) = sched.known.lock() {
                k.extend(proposers.iter().map(|(r, p)| (*r, *p)));
            }
        };
        match record {
            LogLine::Create { epoch, me, resume } => {
                let vs = epoch.validators.iter().map(|(id, w)| Validator { id: *id, weight: *w }).collect();
                let groups = epoch.groups.iter().map(|(m, v)| Group { members: m.clone(), votes: *v }).collect();
                let sched = Arc::new(Recorded::default());
                let info = EpochInfo::with_groups(epoch.epoch, vs, groups)
                    .ok_or(ReplayError::BadEpoch(n))?
                    .with_schedule(Arc::clone(&sched) as Arc<dyn ProposerSchedule>);
                core = Some((Lft::new(info, me, resume), sched));
            }
            LogLine::Start { proposers, outputs } => {
                let Some((lft, sched)) = core.as_mut() else { return Err(ReplayError::NoStart(n)) };
                learn(sched, &proposers);
                let got = lft.start();
                compare(n, &outputs, &got, &None, &None)?;
                count(&mut report, &got, lft.round());
                report.starts += 1;
            }
            LogLine::Restore { input, proposers } => {
                let Some((lft, sched)) = core.as_mut() else { return Err(ReplayError::NoStart(n)) };
                learn(sched, &proposers);
                let _ = lft.handle(input);
            }
            LogLine::Step { input, proposers, outputs, rejected } => {
                let Some((lft, sched)) = core.as_mut() else { return Err(ReplayError::NoStart(n)) };
                learn(sched, &proposers);
                let step = lft.handle(input);
                compare(n, &outputs, &step.outputs, &rejected, &step.rejected.as_ref().map(ToString::to_string))?;
                count(&mut report, &step.outputs, lft.round());
                report.steps += 1;
            }
        }
    }
    Ok(report)
}

fn compare(
    line: usize,
    want: &[Output],
    got: &[Output],
    want_err: &Option<String>,
    got_err: &Option<String>,
) -> Result<(), ReplayError> {
    if want != got || want_err != got_err {
        return Err(ReplayError::Diverged {
            line,
            recorded: format!("{want:?} {want_err:?}"),
            replayed: format!("{got:?} {got_err:?}"),
        });
    }
    Ok(())
}

fn count(report: &mut ReplayReport, outputs: &[Output], round: Round) {
    for o in outputs {
        match o {
            Output::Commit { blocks, .. } => report.committed_blocks += blocks.len(),
            Output::CastVote { .. } | Output::CastTimeout { .. } => report.votes += 1,
            _ => {}
        }
    }
    report.last_round = report.last_round.max(round);
}
