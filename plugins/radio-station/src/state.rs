//! The radio station's registry: per channel the registered peers (addresses and liveness only,
//! never voting power), their join/leave broadcast, and the bounded event log the host drains.
use crate::config::{normalize_target, Settings};
use crate::proto::{peer_event, PeerEvent, PeerInfo};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Largest accepted request string (peer id, target, channel, group id).
pub(crate) const MAX_FIELD_BYTES: usize = 256;
/// Most entries in a heartbeat's `heights`.
pub(crate) const MAX_HEIGHTS: usize = 1024;
/// Most registered peers per channel.
pub(crate) const MAX_PEERS_PER_CHANNEL: usize = 1024;
/// Capacity of each channel's join/leave broadcast (a subscriber that lags skips events).
const EVENT_CAPACITY: usize = 256;
/// Capacity of the host's event-line buffer (oldest dropped when full).
const LOG_CAPACITY: usize = 4096;

/// Response codes shared with the original loopchain (`message_code.py`).
pub(crate) mod code {
    /// Success.
    pub(crate) const SUCCESS: i32 = 0;
    /// Generic failure.
    pub(crate) const FAIL: i32 = -1;
    /// No leader peer.
    pub(crate) const FAIL_NO_LEADER_PEER: i32 = -5;
    /// Malformed parameters.
    pub(crate) const FAIL_VALIDATE_PARAMS: i32 = -6;
    /// The caller is not listed for the channel.
    pub(crate) const FAIL_INVALID_PEER_TARGET: i32 = -12;
    /// The peer is unknown to the radio station.
    pub(crate) const FAIL_NO_PEER_INFO_IN_RS: i32 = -800;
}

/// The message of [`code::FAIL_INVALID_PEER_TARGET`].
pub(crate) const INVALID_PEER_TARGET: &str = "fail invalid peer target for channel";

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// A string for messages, cut to a readable length.
pub(crate) fn shown(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_owned();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Bounded buffer of lines for the host (oldest dropped when full).
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    inner: Mutex<(VecDeque<String>, u64)>,
}

impl EventLog {
    /// Appends a line.
    pub(crate) fn push(&self, line: String) {
        let mut g = self.inner.lock();
        if g.0.len() >= LOG_CAPACITY {
            g.0.pop_front();
            g.1 += 1;
        }
        g.0.push_back(line);
    }

    /// Takes every buffered line, oldest first (with a note when lines were dropped).
    pub(crate) fn drain(&self) -> Vec<String> {
        let mut g = self.inner.lock();
        let mut out = Vec::with_capacity(g.0.len() + 1);
        if g.1 > 0 {
            out.push(format!("warn: {} radio-station event lines were dropped (buffer full)", g.1));
            g.1 = 0;
        }
        out.extend(g.0.drain(..));
        out
    }
}

#[derive(Debug, Clone)]
struct Peer {
    peer_id: String,
    group_id: String,
    target: String,
    order: u32,
    connected: bool,
    last_seen: Instant,
    status_update_time_us: u64,
    block_height: u64,
}

impl Peer {
    fn info(&self, channel: &str) -> PeerInfo {
        PeerInfo {
            peer_id: self.peer_id.clone(),
            channel: channel.to_owned(),
            peer_target: self.target.clone(),
            group_id: self.group_id.clone(),
            order: self.order,
            status: i32::from(self.connected),
            status_update_time_us: self.status_update_time_us,
            block_height: self.block_height,
        }
    }
}

#[derive(Debug)]
struct ChannelState {
    peers: BTreeMap<String, Peer>,
    next_order: u32,
    events: broadcast::Sender<PeerEvent>,
    /// Peer id whose last reported status (status-list fan-out) said it leads.
    leader_hint: Option<String>,
}

impl ChannelState {
    fn new() -> Self {
        Self { peers: BTreeMap::new(), next_order: 1, events: broadcast::channel(EVENT_CAPACITY).0, leader_hint: None }
    }

    fn sorted(&self) -> Vec<&Peer> {
        let mut v: Vec<&Peer> = self.peers.values().collect();
        v.sort_by_key(|p| p.order);
        v
    }

    fn leader(&self) -> Option<&Peer> {
        if let Some(p) = self.leader_hint.as_ref().and_then(|id| self.peers.get(id)).filter(|p| p.connected) {
            return Some(p);
        }
        self.peers.values().filter(|p| p.connected).min_by_key(|p| p.order)
    }

    fn publish(&self, kind: peer_event::Kind, peer: &Peer, channel: &str) {
        // No subscriber is not an error.
        let _ = self.events.send(PeerEvent { kind: kind as i32, peer: Some(peer.info(channel)) });
    }
}

/// Outcome of a registration.
#[derive(Debug)]
pub(crate) enum Connect {
    /// Registered: the channel's peers (registration order) and the peer's channels.
    Ok { peers: Vec<PeerInfo>, channels: Vec<String> },
    /// Refused with a response code and message.
    Refused { status: i32, message: String },
}

/// A peer as the REST status list needs it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) peer_id: String,
    pub(crate) order: u32,
    pub(crate) target: String,
}

/// The registry shared by the gRPC and REST servers.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) settings: Settings,
    channels: Mutex<BTreeMap<String, ChannelState>>,
    pub(crate) log: EventLog,
    /// Refused requests and connections by reason (`tls_handshake`, `cert_peer_mismatch`,
    /// `invalid_peer_target`, `malformed`).
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Registry {
    /// An empty registry over the configured channels.
    pub(crate) fn new(settings: Settings) -> Self {
        let channels = settings.channels.keys().map(|c| (c.clone(), ChannelState::new())).collect();
        Self {
            settings,
            channels: Mutex::new(channels),
            log: EventLog::default(),
            refused: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one refusal.
    pub(crate) fn count_refusal(&self, reason: &'static str) {
        *self.refused.lock().entry(reason).or_insert(0) += 1;
    }

    /// Refusals so far, by reason.
    pub(crate) fn refusals(&self) -> BTreeMap<&'static str, u64> {
        self.refused.lock().clone()
    }

    /// The channel a request means: its own name, or the default one when empty.
    pub(crate) fn channel_name<'a>(&'a self, requested: &'a str) -> &'a str {
        if requested.is_empty() {
            &self.settings.default_channel
        } else {
            requested
        }
    }

    /// Whether `target` may join `channel` (always with channel auth off).
    pub(crate) fn admitted(&self, channel: &str, target: &str) -> bool {
        if !self.settings.enable_channel_auth {
            return true;
        }
        let t = normalize_target(target);
        self.settings.channels.get(channel).is_some_and(|c| !t.is_empty() && c.targets.contains(&t))
    }

    /// The channel entries `target` may run: `(response_code, channel_infos JSON, more_info)`.
    pub(crate) fn channel_infos(&self, target: &str) -> (i32, String, String) {
        let admitted: serde_json::Map<String, Value> = self
            .settings
            .channels
            .iter()
            .filter(|(name, _)| self.admitted(name, target))
            .map(|(name, def)| (name.clone(), def.entry.clone()))
            .collect();
        if admitted.is_empty() && self.settings.enable_channel_auth {
            return (code::FAIL_INVALID_PEER_TARGET, "{}".to_owned(), INVALID_PEER_TARGET.to_owned());
        }
        (code::SUCCESS, Value::Object(admitted).to_string(), String::new())
    }

    /// Registers (or re-registers) a peer for a channel. The caller has bounded the fields.
    pub(crate) fn connect(&self, channel: &str, peer_id: &str, target: &str, group_id: &str) -> Connect {
        let mut channels = self.channels.lock();
        let Some(ch) = channels.get_mut(channel) else {
            return Connect::Refused { status: code::FAIL, message: format!("unknown channel: {}", shown(channel)) };
        };
        if !self.admitted(channel, target) {
            return Connect::Refused {
                status: code::FAIL_INVALID_PEER_TARGET,
                message: INVALID_PEER_TARGET.to_owned(),
            };
        }
        let now_us = now_us();
        let line = match ch.peers.get_mut(peer_id) {
            Some(p) => {
                let moved = p.target != target;
                let was_connected = p.connected;
                p.target = target.to_owned();
                p.group_id = group_id.to_owned();
                p.connected = true;
                p.last_seen = Instant::now();
                p.status_update_time_us = now_us;
                let p = p.clone();
                if moved || !was_connected {
                    ch.publish(peer_event::Kind::Join, &p, channel);
                }
                format!("peer {peer_id} re-registered on channel {channel} as #{} at {target}", p.order)
            }
            None => {
                if ch.peers.len() >= MAX_PEERS_PER_CHANNEL {
                    return Connect::Refused {
                        status: code::FAIL,
                        message: format!("channel {channel} already has {MAX_PEERS_PER_CHANNEL} registered peers"),
                    };
                }
                let p = Peer {
                    peer_id: peer_id.to_owned(),
                    group_id: group_id.to_owned(),
                    target: target.to_owned(),
                    order: ch.next_order,
                    connected: true,
                    last_seen: Instant::now(),
                    status_update_time_us: now_us,
                    block_height: 0,
                };
                ch.next_order = ch.next_order.saturating_add(1);
                ch.publish(peer_event::Kind::Join, &p, channel);
                let line = format!("peer {peer_id} joined channel {channel} as #{} at {target}", p.order);
                ch.peers.insert(peer_id.to_owned(), p);
                line
            }
        };
        let peers = ch.sorted().into_iter().map(|p| p.info(channel)).collect();
        let mine = channels.iter().filter(|(_, c)| c.peers.contains_key(peer_id)).map(|(n, _)| n.clone()).collect();
        drop(channels);
        self.log.push(line);
        Connect::Ok { peers, channels: mine }
    }

    /// The registered peers of a channel in registration order; `None` for an unknown channel.
    pub(crate) fn peers(&self, channel: &str) -> Option<Vec<PeerInfo>> {
        let channels = self.channels.lock();
        channels.get(channel).map(|ch| ch.sorted().into_iter().map(|p| p.info(channel)).collect())
    }

    /// Subscribes to a channel's events: the current peers (as joins) and the live receiver, taken
    /// atomically so nothing is missed or doubled. `None` for an unknown channel.
    pub(crate) fn subscribe(&self, channel: &str) -> Option<(Vec<PeerEvent>, broadcast::Receiver<PeerEvent>)> {
        let channels = self.channels.lock();
        let ch = channels.get(channel)?;
        let rx = ch.events.subscribe();
        let current = ch
            .sorted()
            .into_iter()
            .map(|p| PeerEvent { kind: peer_event::Kind::Join as i32, peer: Some(p.info(channel)) })
            .collect();
        Some((current, rx))
    }

    /// A heartbeat: marks the peer connected in every channel it is registered in and records the
    /// heights it reports. `false` when the peer is registered nowhere.
    pub(crate) fn heartbeat(&self, peer_id: &str, heights: impl Fn(&str) -> Option<u64>) -> bool {
        let mut channels = self.channels.lock();
        let now_us = now_us();
        let mut known = false;
        let mut lines = Vec::new();
        for (name, ch) in channels.iter_mut() {
            let Some(p) = ch.peers.get_mut(peer_id) else { continue };
            known = true;
            let back = !p.connected;
            p.connected = true;
            p.last_seen = Instant::now();
            p.status_update_time_us = now_us;
            if let Some(h) = heights(name) {
                p.block_height = h;
            }
            if back {
                let p = p.clone();
                ch.publish(peer_event::Kind::Join, &p, name);
                lines.push(format!("peer {peer_id} is back on channel {name}"));
            }
        }
        drop(channels);
        for l in lines {
            self.log.push(l);
        }
        known
    }

    /// Marks peers without a heartbeat for the timeout disconnected and publishes their LEAVE.
    pub(crate) fn expire(&self, now: Instant) {
        let timeout = self.settings.heartbeat_timeout;
        let mut lines = Vec::new();
        let mut channels = self.channels.lock();
        for (name, ch) in channels.iter_mut() {
            let mut left = Vec::new();
            for p in ch.peers.values_mut() {
                if p.connected && now.saturating_duration_since(p.last_seen) >= timeout {
                    p.connected = false;
                    p.status_update_time_us = now_us();
                    left.push(p.clone());
                }
            }
            for p in left {
                ch.publish(peer_event::Kind::Leave, &p, name);
                lines.push(format!(
                    "warn: peer {} left channel {name} (no heartbeat for {} ms)",
                    p.peer_id,
                    timeout.as_millis()
                ));
            }
        }
        drop(channels);
        for l in lines {
            self.log.push(l);
        }
    }

    /// REST peer JSON.
    fn peer_json(p: &Peer, leader: Option<&str>) -> Value {
        json!({
            "order": p.order,
            "peer_id": p.peer_id,
            "group_id": p.group_id,
            "target": p.target,
            "cert": "",
            "status_update_time": p.status_update_time_us,
            "status": i32::from(p.connected),
            "peer_type": i32::from(leader == Some(p.peer_id.as_str())),
            "block_height": p.block_height,
        })
    }

    /// `data` of `/api/v1/peer/list`; `None` for an unknown channel.
    pub(crate) fn peer_list_json(&self, channel: &str) -> Option<Value> {
        let channels = self.channels.lock();
        let ch = channels.get(channel)?;
        let leader = ch.leader().map(|p| p.peer_id.as_str());
        let all = ch.sorted();
        let registered: Vec<Value> = all.iter().map(|p| Self::peer_json(p, leader)).collect();
        let connected: Vec<Value> = all.iter().filter(|p| p.connected).map(|p| Self::peer_json(p, leader)).collect();
        Some(json!({
            "registered_peer_count": registered.len(),
            "connected_peer_count": connected.len(),
            "registered_peer_list": registered,
            "connected_peer_list": connected,
        }))
    }

    /// The leader's peer JSON: `Some(None)` when the channel has no connected peer, `None` for an
    /// unknown channel.
    pub(crate) fn leader_json(&self, channel: &str) -> Option<Option<Value>> {
        let channels = self.channels.lock();
        let ch = channels.get(channel)?;
        Some(ch.leader().map(|p| Self::peer_json(p, Some(p.peer_id.as_str()))))
    }

    /// Registered peers to ask for their status, plus the connected count; `None` for an
    /// unknown channel.
    pub(crate) fn targets(&self, channel: &str) -> Option<(Vec<Target>, usize)> {
        let channels = self.channels.lock();
        let ch = channels.get(channel)?;
        let targets = ch
            .sorted()
            .into_iter()
            .map(|p| Target { peer_id: p.peer_id.clone(), order: p.order, target: p.target.clone() })
            .collect();
        Some((targets, ch.peers.values().filter(|p| p.connected).count()))
    }

    /// Records which peer last said it leads (the lowest-order claimant), or none.
    pub(crate) fn set_leader_hint(&self, channel: &str, leader: Option<String>) {
        let mut channels = self.channels.lock();
        if let Some(ch) = channels.get_mut(channel) {
            ch.leader_hint = leader;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn registry(auth: bool) -> Registry {
        let cfg = json!({
            "port": 1, "rest_port": 2, "enable_channel_auth": auth, "heartbeat_timeout_ms": 50,
            "channel_manage_data": {
                "a": {"peers": [{"peer_target": "[local_ip]:7100"}, {"peer_target": "127.0.0.1:7200"}]},
                "b": {"peers": [{"peer_target": "localhost:7200"}]},
            }
        });
        Registry::new(Settings::parse(&cfg.to_string()).expect("config"))
    }

    #[test]
    fn channel_auth_filters_channels_and_registrations() {
        let r = registry(true);
        let (code, infos, _) = r.channel_infos("127.0.0.1:7100");
        assert_eq!(code, code::SUCCESS);
        let v: Value = serde_json::from_str(&infos).expect("json");
        assert_eq!(v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), Some(vec!["a".to_owned()]));
        assert_eq!(r.channel_infos("127.0.0.1:9999").0, code::FAIL_INVALID_PEER_TARGET);
        match r.connect("b", "p1", "127.0.0.1:7100", "") {
            Connect::Refused { status, message } => {
                assert_eq!(status, code::FAIL_INVALID_PEER_TARGET);
                assert_eq!(message, INVALID_PEER_TARGET);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r.connect("zz", "p1", "127.0.0.1:7100", ""), Connect::Refused { status: code::FAIL, .. }));
        let open = registry(false);
        assert_eq!(open.channel_infos("1.2.3.4:1").0, code::SUCCESS);
        assert!(matches!(open.connect("b", "p1", "1.2.3.4:1", ""), Connect::Ok { .. }));
    }

    #[test]
    fn orders_are_stable_and_events_flow() {
        let r = registry(true);
        let (current, mut rx) = r.subscribe("a").expect("channel");
        assert!(current.is_empty());
        assert!(matches!(r.connect("a", "p1", "127.0.0.1:7100", ""), Connect::Ok { .. }));
        let Connect::Ok { peers, channels } = r.connect("a", "p2", "127.0.0.1:7200", "g") else { panic!() };
        assert_eq!(peers.iter().map(|p| (p.peer_id.as_str(), p.order)).collect::<Vec<_>>(), [("p1", 1), ("p2", 2)]);
        assert_eq!(channels, ["a"]);
        let Connect::Ok { peers, .. } = r.connect("a", "p1", "localhost:7100", "") else { panic!() };
        assert_eq!(peers[0].order, 1);
        assert_eq!(peers[0].peer_target, "localhost:7100");
        let kinds: Vec<(i32, String)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| (e.kind, e.peer.map(|p| p.peer_id).unwrap_or_default()))
            .collect();
        let join = peer_event::Kind::Join as i32;
        assert_eq!(kinds, [(join, "p1".to_owned()), (join, "p2".to_owned()), (join, "p1".to_owned())]);
        assert_eq!(r.subscribe("a").expect("channel").0.len(), 2);
    }

    #[test]
    fn heartbeats_and_expiry() {
        let r = registry(false);
        assert!(!r.heartbeat("p1", |_| None));
        assert!(matches!(r.connect("a", "p1", "127.0.0.1:7100", ""), Connect::Ok { .. }));
        assert!(matches!(r.connect("a", "p2", "127.0.0.1:7200", ""), Connect::Ok { .. }));
        assert!(r.heartbeat("p1", |c| (c == "a").then_some(7)));
        let (_, mut rx) = r.subscribe("a").expect("channel");
        r.expire(Instant::now() + Duration::from_millis(10));
        assert!(rx.try_recv().is_err(), "nobody expired yet");
        let list = r.peer_list_json("a").expect("channel");
        assert_eq!(list["connected_peer_count"], 2);
        assert_eq!(list["registered_peer_list"][0]["block_height"], 7);
        assert_eq!(list["registered_peer_list"][0]["peer_type"], 1, "lowest order leads by default");
        r.expire(Instant::now() + Duration::from_millis(60));
        let left: Vec<i32> = std::iter::from_fn(|| rx.try_recv().ok()).map(|e| e.kind).collect();
        assert_eq!(left, [peer_event::Kind::Leave as i32; 2]);
        let list = r.peer_list_json("a").expect("channel");
        assert_eq!(list["connected_peer_count"], 0);
        assert_eq!(list["registered_peer_count"], 2);
        assert_eq!(r.leader_json("a"), Some(None));
        assert!(r.heartbeat("p2", |_| None));
        assert_eq!(rx.try_recv().map(|e| e.kind).ok(), Some(peer_event::Kind::Join as i32));
        assert_eq!(r.leader_json("a").flatten().map(|p| p["peer_id"].clone()), Some(json!("p2")));
        assert!(r.log.drain().iter().any(|l| l.contains("left channel a")));
    }

    #[test]
    fn leader_hint_wins_while_connected() {
        let r = registry(false);
        assert!(matches!(r.connect("a", "p1", "127.0.0.1:7100", ""), Connect::Ok { .. }));
        assert!(matches!(r.connect("a", "p2", "127.0.0.1:7200", ""), Connect::Ok { .. }));
        r.set_leader_hint("a", Some("p2".to_owned()));
        assert_eq!(r.leader_json("a").flatten().map(|p| p["peer_id"].clone()), Some(json!("p2")));
        r.set_leader_hint("a", Some("gone".to_owned()));
        assert_eq!(r.leader_json("a").flatten().map(|p| p["peer_id"].clone()), Some(json!("p1")));
    }

    #[test]
    fn event_log_is_bounded() {
        let log = EventLog::default();
        for i in 0..LOG_CAPACITY + 3 {
            log.push(i.to_string());
        }
        let lines = log.drain();
        assert!(lines[0].contains("3 radio-station event lines were dropped"));
        assert_eq!(lines[1], "3");
        assert_eq!(lines.len(), LOG_CAPACITY + 1);
        assert!(log.drain().is_empty());
    }
}
