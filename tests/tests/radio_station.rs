//! `loopchain radiostation` with the radio-station plugin: channel auth on `GetChannelInfos` and
//! `ConnectPeer`, registration visible over REST, the join/leave stream, heartbeat expiry, the
//! leader fallback, `/conf`, unknown paths, and a clean exit on SIGTERM.
use lc_network::proto::peer_event::Kind;
use lc_network::proto::radio_station_client::RadioStationClient;
use lc_network::proto::{
    ConnectPeerRequest, GetChannelInfosRequest, HeartbeatRequest, PeerEvent, PeerListRequest, SubscribeRequest,
};
use lc_system_tests::{binary, free_port};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Streaming;

const HEARTBEAT_TIMEOUT_MS: u64 = 1500;

/// Builds the plugin next to the binary (whether or not `binary()` builds it too).
fn build_plugin() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "radio-station", "--offline", "--quiet"])
        .current_dir(&root)
        .status()
        .expect("running cargo build -p radio-station");
    assert!(status.success(), "cargo build -p radio-station failed");
}

/// A running `loopchain radiostation`, killed on drop.
struct Station {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Station {
    fn start(dir: &Path, port: u16, channel_data: &Path) -> Self {
        let log = dir.join("radiostation.log");
        let out = std::fs::File::create(&log).expect("log file");
        let user_config = dir.join("user-config.json");
        std::fs::write(&user_config, "{}").expect("user config");
        let child = Command::new(binary())
            .arg("radiostation")
            .args(["-p", &port.to_string()])
            .arg("--set")
            .arg(format!("CHANNEL_MANAGE_DATA_PATH={}", channel_data.display()))
            .args(["--set", "ENABLE_CHANNEL_AUTH=true"])
            .args(["--heartbeat-timeout-ms", &HEARTBEAT_TIMEOUT_MS.to_string()])
            .current_dir(dir)
            .env("LOOPCHAIN_USER_CONFIG", &user_config)
            .env_remove("RUST_LOG")
            .env_remove("RADIO_STATION_PLUGIN")
            .env_remove("CHANNEL_MANAGE_DATA_PATH")
            .env_remove("LOOPCHAIN_DEFAULT_CHANNEL")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("spawn loopchain radiostation");
        let mut station = Self { child: Some(child), port, log };
        station.wait_ready();
        station
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_get(&self, path: &str) -> Result<(u16, Value), String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port + 1900);
        let resp = match ureq::get(&url).timeout(Duration::from_secs(10)).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = resp.status();
        let text = resp.into_string().map_err(|e| e.to_string())?;
        let v = serde_json::from_str(&text).map_err(|e| format!("HTTP {status}: not JSON ({e}): {text:?}"))?;
        Ok((status, v))
    }

    /// GET over REST: the body of an HTTP 200 answer.
    fn get(&self, path: &str) -> Value {
        match self.try_get(path) {
            Ok((200, v)) => v,
            Ok((status, v)) => panic!("GET {path}: HTTP {status} {v}; log:\n{}", self.logs()),
            Err(e) => panic!("GET {path}: {e}; log:\n{}", self.logs()),
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("radio station exited during start ({status}); log:\n{}", self.logs());
            }
            if let Ok((200, _)) = self.try_get("/api/v1/peer/list") {
                return;
            }
            assert!(Instant::now() < deadline, "radio station not ready after 60 s; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until `pred` holds on `path`'s body.
    fn wait_for(&self, what: &str, path: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.get(path);
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: last {v}; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigterm_and_wait(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().to_string();
        let rc = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(rc.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("radio station did not exit within 30 s of SIGTERM; log:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn peer_entry<'a>(list: &'a Value, key: &str, peer_id: &str) -> Option<&'a Value> {
    list["data"][key].as_array()?.iter().find(|p| p["peer_id"] == peer_id)
}

async fn next_event(stream: &mut Streaming<PeerEvent>, what: &str) -> (Kind, String) {
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap_or_else(|_| panic!("no event within 10 s while waiting for {what}"))
        .unwrap_or_else(|e| panic!("stream failed while waiting for {what}: {e}"))
        .unwrap_or_else(|| panic!("stream ended while waiting for {what}"));
    let kind = Kind::try_from(ev.kind).expect("event kind");
    (kind, ev.peer.map(|p| p.peer_id).unwrap_or_default())
}

fn connect_req(peer_id: &str, channel: &str, target: &str) -> ConnectPeerRequest {
    ConnectPeerRequest {
        peer_id: peer_id.into(),
        channel: channel.into(),
        peer_target: target.into(),
        group_id: String::new(),
    }
}

#[test]
fn radio_station_serves_discovery_with_channel_auth() {
    build_plugin();
    let dir = tempfile::tempdir().expect("tempdir");
    let channel_data = dir.path().join("channel_manage_data.json");
    std::fs::write(
        &channel_data,
        serde_json::json!({
            "alpha": {"score_package": "hello", "peers": [{"peer_target": "127.0.0.1:7100"}, {"peer_target": "[local_ip]:7200"}]},
            "beta": {"score_package": "token", "peers": [{"peer_target": "127.0.0.1:7200"}]},
        })
        .to_string(),
    )
    .expect("write channel data");
    let port = free_port();
    let mut station = Station::start(dir.path(), port, &channel_data);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut client: RadioStationClient<Channel> = rt
        .block_on(RadioStationClient::connect(format!("http://127.0.0.1:{port}")))
        .expect("connect to the radio station");

    // GetChannelInfos: only the channels that list the caller.
    let infos = |client: &mut RadioStationClient<Channel>, target: &str| {
        let req = GetChannelInfosRequest { peer_target: target.into(), ..Default::default() };
        rt.block_on(client.get_channel_infos(req)).expect("GetChannelInfos").into_inner()
    };
    let r = infos(&mut client, "127.0.0.1:7100");
    assert_eq!(r.response_code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.channel_infos).expect("channel_infos JSON");
    assert_eq!(v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), Some(vec!["alpha".to_owned()]), "{v}");
    assert_eq!(v["alpha"]["score_package"], "hello", "entries are returned verbatim: {v}");
    let r = infos(&mut client, "localhost:7200");
    let v: Value = serde_json::from_str(&r.channel_infos).expect("channel_infos JSON");
    assert!(v.get("alpha").is_some() && v.get("beta").is_some(), "7200 is listed in both: {v}");
    let r = infos(&mut client, "127.0.0.1:7999");
    assert_eq!((r.response_code, r.more_info.as_str()), (-12, "fail invalid peer target for channel"));

    // ConnectPeer to a channel that does not list the caller: refused, nothing registered.
    let r = rt.block_on(client.connect_peer(connect_req("hxaaa", "beta", "127.0.0.1:7100"))).expect("ConnectPeer");
    let r = r.into_inner();
    assert_eq!(r.status, -12, "{r:?}");
    assert!(r.peer_list.is_empty(), "{r:?}");
    assert_eq!(r.more_info, "fail invalid peer target for channel");
    let list = station.get("/api/v1/peer/list?channel=beta");
    assert_eq!(list["data"]["registered_peer_count"], 0, "{list}");
    let r = rt.block_on(client.connect_peer(connect_req("hxaaa", "gamma", "127.0.0.1:7100"))).expect("ConnectPeer");
    assert_eq!(r.into_inner().status, -1, "unknown channel");

    // ConnectPeer OK: visible over gRPC and REST.
    let r = rt.block_on(client.connect_peer(connect_req("hxaaa", "alpha", "127.0.0.1:7100"))).expect("ConnectPeer");
    let r = r.into_inner();
    assert_eq!(r.status, 0, "{r:?}");
    assert_eq!(r.peer_list.iter().map(|p| (p.peer_id.as_str(), p.order)).collect::<Vec<_>>(), [("hxaaa", 1)]);
    let list = station.get("/api/v1/peer/list?channel=alpha");
    assert_eq!(list["response_code"], 0, "{list}");
    let a = peer_entry(&list, "registered_peer_list", "hxaaa").unwrap_or_else(|| panic!("hxaaa not listed: {list}"));
    assert_eq!(
        (a["order"].as_u64(), a["target"].as_str(), a["status"].as_i64()),
        (Some(1), Some("127.0.0.1:7100"), Some(1))
    );
    assert!(peer_entry(&list, "connected_peer_list", "hxaaa").is_some(), "{list}");
    assert_eq!(station.get("/api/v1/peer/list")["data"]["registered_peer_count"], 1, "no channel = the first one");

    // Subscribe: the current members first, then the JOIN of a second peer.
    let sub =
        SubscribeRequest { channel: "alpha".into(), peer_id: "hxaaa".into(), peer_target: "127.0.0.1:7100".into() };
    let mut stream = rt.block_on(client.subscribe(sub)).expect("Subscribe").into_inner();
    assert_eq!(rt.block_on(next_event(&mut stream, "the current member")), (Kind::Join, "hxaaa".to_owned()));
    let r = rt.block_on(client.connect_peer(connect_req("hxbbb", "alpha", "127.0.0.1:7200"))).expect("ConnectPeer");
    assert_eq!(r.into_inner().peer_list.len(), 2);
    assert_eq!(rt.block_on(next_event(&mut stream, "the second peer's JOIN")), (Kind::Join, "hxbbb".to_owned()));
    let peers = rt.block_on(client.get_peer_list(PeerListRequest { channel: "alpha".into() })).expect("GetPeerList");
    let peers = peers.into_inner();
    assert_eq!(
        peers.peers.iter().map(|p| (p.peer_id.as_str(), p.order)).collect::<Vec<_>>(),
        [("hxaaa", 1), ("hxbbb", 2)]
    );
    let denied =
        SubscribeRequest { channel: "beta".into(), peer_id: "hxaaa".into(), peer_target: "127.0.0.1:7100".into() };
    assert!(rt.block_on(client.subscribe(denied)).is_err(), "an unlisted target may not follow beta");

    // Heartbeats: an unknown peer is told to register; bounds are enforced.
    let hb = |peer_id: &str| HeartbeatRequest {
        peer_id: peer_id.into(),
        peer_target: String::new(),
        heights: HashMap::from([("alpha".to_owned(), 5)]),
    };
    let r = rt.block_on(client.heartbeat(hb("hxzzz"))).expect("Heartbeat").into_inner();
    assert_eq!(r.response_code, -800, "{r:?}");
    let err = rt.block_on(client.heartbeat(hb(&"x".repeat(300)))).expect_err("an oversized peer id is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    assert!(err.message().contains("peer_id"), "{err}");
    let mut many = hb("hxbbb");
    many.heights = (0..2000).map(|i| (format!("c{i}"), 1)).collect();
    let err = rt.block_on(client.heartbeat(many)).expect_err("too many heights are refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");

    // The leader is the lowest-order connected peer while no status says otherwise.
    let leader = station.get("/api/v1/peer/leader?channel=alpha");
    assert_eq!(
        (leader["response_code"].as_i64(), leader["data"]["peer_id"].as_str()),
        (Some(0), Some("hxaaa")),
        "{leader}"
    );

    // hxbbb keeps heartbeating, hxaaa stops: hxaaa is disconnected within the timeout (+ the check period).
    let beats = {
        let mut c = client.clone();
        rt.spawn(async move {
            loop {
                let r = c.heartbeat(hb("hxbbb")).await;
                assert!(matches!(&r, Ok(r) if r.get_ref().response_code == 0), "heartbeat of hxbbb: {r:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let since = Instant::now();
    let list = station.wait_for(
        "hxaaa disconnected",
        "/api/v1/peer/list?channel=alpha",
        Duration::from_millis(HEARTBEAT_TIMEOUT_MS + 3000),
        |v| peer_entry(v, "registered_peer_list", "hxaaa").is_some_and(|p| p["status"] == 0),
    );
    assert!(since.elapsed() >= Duration::from_millis(HEARTBEAT_TIMEOUT_MS / 2), "expired too early");
    assert_eq!(list["data"]["registered_peer_count"], 2, "{list}");
    assert_eq!(list["data"]["connected_peer_count"], 1, "{list}");
    let b = peer_entry(&list, "connected_peer_list", "hxbbb").unwrap_or_else(|| panic!("hxbbb connected: {list}"));
    assert_eq!((b["block_height"].as_u64(), b["peer_type"].as_i64()), (Some(5), Some(1)), "{list}");
    assert_eq!(rt.block_on(next_event(&mut stream, "hxaaa's LEAVE")), (Kind::Leave, "hxaaa".to_owned()));
    let leader = station.get("/api/v1/peer/leader?channel=alpha");
    assert_eq!(leader["data"]["peer_id"], "hxbbb", "{leader}");
    assert_eq!(station.get("/api/v1/peer/leader?channel=beta")["response_code"], -5);
    beats.abort();

    // Status fan-out: one entry per registered peer, in order (whatever answers at those ports).
    let sl = station.get("/api/v1/peer/status-list?channel=alpha");
    assert_eq!(sl["response_code"], 0, "{sl}");
    let entries = sl["data"]["peer_status_list"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries.iter().map(|e| e["peer_id"].clone()).collect::<Vec<_>>(),
        [Value::from("hxaaa"), Value::from("hxbbb")],
        "{sl}"
    );
    assert!(entries.iter().all(|e| e["status"].is_string() && e["order"].is_u64()), "{sl}");
    assert_eq!(sl["data"]["registered_peer_count"], 2, "{sl}");

    // /conf, unknown resources and channels.
    let c = station.get("/api/v1/conf?name=PORT_RADIOSTATION");
    assert_eq!(
        (c["response_code"].as_i64(), c["data"]["value"].as_str(), c["data"]["type"].as_i64()),
        (Some(0), Some(port.to_string().as_str()), Some(1)),
        "{c}"
    );
    assert_eq!(station.get("/api/v1/conf?name=ENABLE_CHANNEL_AUTH")["data"]["value"], "true");
    assert_eq!(station.get("/api/v1/conf?name=NO_SUCH_KEY")["response_code"], -1);
    assert!(station.get("/api/v1/conf")["data"].as_array().is_some_and(|a| a.len() > 10));
    let other = station.get("/api/v1/peer/whatever");
    assert_eq!(
        (other["response_code"].as_i64(), other["message"].as_str()),
        (Some(-1), Some("The resource doesn't exist")),
        "{other}"
    );
    let unknown = station.get("/api/v1/peer/list?channel=gamma");
    assert_eq!(unknown["response_code"], -1, "{unknown}");
    assert!(unknown["message"].as_str().is_some_and(|m| m.contains("unknown channel")), "{unknown}");

    // SIGTERM: exit 0, and the open Subscribe stream ends.
    let status = station.sigterm_and_wait();
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{}", station.logs());
    let end = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), stream.message()).await });
    assert!(matches!(end, Ok(Ok(None)) | Ok(Err(_))), "the stream ends with the station: {end:?}");
    let logs = station.logs();
    assert!(logs.contains("peer hxaaa joined channel alpha"), "event lines reach the host's log:\n{logs}");
    assert!(logs.contains("radio station stopped"), "{logs}");
}
