//! The loopchain radio station as a plugin (`libradio_station.so`, loaded by
//! `loopchain radiostation`).
//!
//! `start(config_json)` binds both ports (so a port in use is an error right away), then runs the
//! servers on the plugin's **own thread and multi-thread tokio runtime**; `stop()` shuts them down
//! gracefully (open `Subscribe` streams end) and joins the thread. Nothing tokio crosses the
//! boundary: the host only drains event lines with `poll_events()`.
//!
//! Configuration JSON (every key but `channel_manage_data` optional):
//! `{"port":7102, "rest_port":9002, "bind_ip":"0.0.0.0", "enable_channel_auth":false,
//!   "channel_manage_data":{<channel>:{"score_package":..,"peers":[{"peer_target":"ip:port"}]}},
//!   "heartbeat_timeout_ms":6000, "default_channel":"<channel>", "conf":[{"name","value","type"}],
//!   "tls":{"ca_pem","cert_pem","key_pem","crl_pem"}}`
//!
//! With `tls` (PEM text; `loopchain radiostation` reads the `GRPC_SSL_*` files), gRPC requires a
//! client certificate of the channel CA (not revoked), a request's `peer_id` must be the
//! certificate's, and the REST status fan-out reaches peers over mutual TLS with the station's
//! own certificate (`loopchain ca issue --role radiostation`).
//!
//! - gRPC `RadioStation` on `bind_ip:port`: `GetChannelInfos`, `ConnectPeer` (registration order
//!   is 1-based and stable per peer id), `GetPeerList`, `Subscribe` (the current peers as JOIN
//!   events, then live JOIN/LEAVE), `Heartbeat` (an unknown peer gets -800 so it registers
//!   again). With `enable_channel_auth` only the targets listed for a channel may see or join it
//!   (`[local_ip]` and `localhost` mean `127.0.0.1`). A peer without a heartbeat for
//!   `heartbeat_timeout_ms` is marked disconnected and a LEAVE is published. Registration is
//!   addresses and liveness only, never voting power.
//! - REST on `bind_ip:rest_port`: `/api/v1/peer/list`, `/peer/leader`, `/peer/status-list`
//!   (fans `PeerService.GetStatus` out to every registered peer), `/peer/status`, `/conf`, and
//!   `/metrics` (Prometheus: registered and connected peers, reported heights, refusals).
//!   A missing `channel` means `default_channel` (when it is one of the channels), else the first
//!   channel by name.
#![warn(missing_docs)]

mod config;
mod grpc;
mod metrics;
mod rest;
mod state;

/// Generated protobuf types and gRPC stubs.
#[allow(missing_docs, unreachable_pub, clippy::all, rust_2018_idioms)]
mod proto {
    tonic::include_proto!("loopchain");
}

use config::Settings;
use loopchain_plugin_api::discovery::RadioStation;
use state::Registry;
use std::future::IntoFuture;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// How often peers are checked for missed heartbeats.
const EXPIRY_INTERVAL: Duration = Duration::from_millis(500);
/// How long `stop` waits for the servers to finish in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running radio station.
#[derive(Debug)]
pub struct Station {
    registry: Arc<Registry>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

fn bind(addr: std::net::SocketAddr, what: &str) -> Result<std::net::TcpListener, String> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("radio station: cannot listen for {what} on {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| format!("radio station: {what} listener on {addr}: {e}"))?;
    Ok(l)
}

impl RadioStation for Station {
    fn start(config_json: &str) -> Result<Self, String> {
        let settings = Settings::parse(config_json)?;
        let grpc = bind(settings.grpc_addr, "gRPC")?;
        let rest = bind(settings.rest_addr, "REST")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("radio-station-rt")
            .enable_all()
            .build()
            .map_err(|e| format!("radio station: cannot start its runtime: {e}"))?;
        let registry = Arc::new(Registry::new(settings));
        let (shutdown, stop_rx) = watch::channel(false);
        let reg = Arc::clone(&registry);
        let thread = std::thread::Builder::new()
            .name("radio-station".to_owned())
            .spawn(move || {
                runtime.block_on(serve(Arc::clone(&reg), grpc, rest, stop_rx));
                runtime.shutdown_timeout(Duration::from_secs(2));
                reg.log.push("radio station stopped".to_owned());
            })
            .map_err(|e| format!("radio station: cannot spawn its thread: {e}"))?;
        Ok(Self { registry, shutdown, thread: Some(thread) })
    }

    fn poll_events(&mut self) -> Vec<String> {
        self.registry.log.drain()
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                self.registry.log.push("warn: the radio station's thread panicked".to_owned());
            }
        }
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resolves once `stop` is (or was) set, or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Logs how a server task ended (`Err(())`: it did not drain in time).
fn report<E: std::fmt::Display>(
    registry: &Registry,
    what: &str,
    r: Result<Result<Result<(), E>, tokio::task::JoinError>, ()>,
) {
    let line = match r {
        Ok(Ok(Ok(()))) => return,
        Ok(Ok(Err(e))) => format!("warn: radio station {what} server failed: {e}"),
        Ok(Err(e)) => format!("warn: radio station {what} server task failed: {e}"),
        Err(()) => format!("warn: radio station {what} server did not drain within {DRAIN_TIMEOUT:?}"),
    };
    registry.log.push(line);
}

/// Runs both servers and the heartbeat expiry until `stop` turns true.
async fn serve(
    registry: Arc<Registry>,
    grpc: std::net::TcpListener,
    rest: std::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let log = |line: String| registry.log.push(line);
    let (grpc, rest) = match (tokio::net::TcpListener::from_std(grpc), tokio::net::TcpListener::from_std(rest)) {
        (Ok(g), Ok(r)) => (g, r),
        (Err(e), _) | (_, Err(e)) => {
            log(format!("warn: radio station: cannot use its listeners: {e}"));
            return;
        }
    };
    let grpc_addr = grpc.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let rest_addr = rest.local_addr().map(|a| a.to_string()).unwrap_or_default();

    let service = grpc::Service {
        registry: Arc::clone(&registry),
        shutdown: stop.clone(),
        subscribers: Arc::new(AtomicUsize::new(0)),
    };
    let server = proto::radio_station_server::RadioStationServer::new(service)
        .max_decoding_message_size(grpc::MAX_REQUEST_BYTES);
    let mut grpc_stop = stop.clone();
    let grpc_done = async move {
        stopped(&mut grpc_stop).await;
    };
    let builder = tonic::transport::Server::builder().concurrency_limit_per_connection(256).add_service(server);
    let tls_config = match registry.settings.tls.as_ref().map(|t| t.server_config()) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            log(format!("warn: radio station: TLS configuration failed: {e}"));
            return;
        }
    };
    let grpc_task = match tls_config {
        Some(config) => {
            let reg = Arc::clone(&registry);
            let on_refused: lc_tls::OnRefused = Arc::new(move |addr, reason| {
                reg.count_refusal("tls_handshake");
                reg.log.push(format!("warn: refused a gRPC connection from {addr}: TLS handshake failed: {reason}"));
            });
            tokio::spawn(builder.serve_with_incoming_shutdown(lc_tls::incoming(grpc, config, on_refused), grpc_done))
        }
        None => tokio::spawn(
            builder.serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(grpc), grpc_done),
        ),
    };
    let mut rest_stop = stop.clone();
    let rest_task = tokio::spawn(
        axum::serve(rest, rest::router(Arc::clone(&registry)))
            .with_graceful_shutdown(async move {
                stopped(&mut rest_stop).await;
            })
            .into_future(),
    );
    let expiry_registry = Arc::clone(&registry);
    let mut expiry_stop = stop.clone();
    let expiry_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => expiry_registry.expire(std::time::Instant::now()),
                _ = stopped(&mut expiry_stop) => return,
            }
        }
    });
    let s = &registry.settings;
    log(format!(
        "radio station listening: gRPC {grpc_addr}, REST {rest_addr}; channels {:?}; channel auth {}; heartbeat timeout {} ms",
        s.channels.keys().collect::<Vec<_>>(),
        if s.enable_channel_auth { "on" } else { "off" },
        s.heartbeat_timeout.as_millis()
    ));

    let (mut grpc_task, mut rest_task) = (grpc_task, rest_task);
    let (mut grpc_done, mut rest_done) = (false, false);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            r = &mut grpc_task, if !grpc_done => {
                grpc_done = true;
                report(&registry, "gRPC", Ok(r));
            }
            r = &mut rest_task, if !rest_done => {
                rest_done = true;
                report(&registry, "REST", Ok(r.map(|r| r.map_err(|e| e.to_string()))));
            }
        }
    }
    if !grpc_done {
        report(&registry, "gRPC", tokio::time::timeout(DRAIN_TIMEOUT, grpc_task).await.map_err(|_| ()));
    }
    if !rest_done {
        let r = tokio::time::timeout(DRAIN_TIMEOUT, rest_task).await.map_err(|_| ());
        report(&registry, "REST", r.map(|r| r.map(|r| r.map_err(|e| e.to_string()))));
    }
    let _ = expiry_task.await;
}

loopchain_plugin_api::export_radio_station!(Station);

#[cfg(test)]
mod tests {
    use super::*;
    use loopchain_plugin_api::abi_stable::std_types::RResult;
    use loopchain_plugin_api::discovery::module;
    use proto::radio_station_client::RadioStationClient;
    use proto::GetChannelInfosRequest;

    fn config(port: u16, rest_port: u16) -> String {
        serde_json::json!({
            "port": port, "rest_port": rest_port, "bind_ip": "127.0.0.1", "enable_channel_auth": true,
            "channel_manage_data": {"a": {"peers": [{"peer_target": "127.0.0.1:7100"}]}, "b": {"peers": []}},
        })
        .to_string()
    }

    /// The gRPC address from the "listening" line.
    fn grpc_addr(lines: &[String]) -> Option<String> {
        let l = lines.iter().find(|l| l.starts_with("radio station listening"))?;
        Some(l.split("gRPC ").nth(1)?.split(',').next()?.to_owned())
    }

    #[test]
    fn starts_serves_and_stops_through_the_abi() {
        let m = module::<Station>();
        assert_eq!((m.api_version())(), loopchain_plugin_api::discovery::RADIO_STATION_API_VERSION);
        let RResult::ROk(mut handle) = (m.start())(config(0, 0).into()) else { panic!("start failed") };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        let addr = loop {
            lines.extend(handle.poll_events().into_iter().map(|l| l.into_string()));
            if let Some(a) = grpc_addr(&lines) {
                break a;
            }
            assert!(std::time::Instant::now() < deadline, "no listening line: {lines:?}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let reply = rt.block_on(async {
            let mut c = RadioStationClient::connect(format!("http://{addr}")).await.expect("connect");
            c.get_channel_infos(GetChannelInfosRequest { peer_target: "127.0.0.1:7100".into(), ..Default::default() })
                .await
                .expect("GetChannelInfos")
                .into_inner()
        });
        assert_eq!(reply.response_code, 0);
        let infos: serde_json::Value = serde_json::from_str(&reply.channel_infos).expect("json");
        assert!(infos.get("a").is_some() && infos.get("b").is_none(), "{infos}");
        drop(rt);
        let t0 = std::time::Instant::now();
        handle.stop();
        handle.stop();
        let lines: Vec<String> = handle.poll_events().into_iter().map(|l| l.into_string()).collect();
        assert_eq!(lines, ["radio station stopped"]);
        assert!(t0.elapsed() < Duration::from_secs(3), "stop took {:?}", t0.elapsed());
        assert!(std::net::TcpListener::bind(&addr).is_ok(), "the gRPC port is released after stop");
    }

    #[test]
    fn start_refuses_a_port_in_use_and_bad_config() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let m = module::<Station>();
        match (m.start())(config(port, 0).into()) {
            RResult::RErr(e) => assert!(e.as_str().contains("cannot listen for gRPC"), "{e}"),
            RResult::ROk(_) => panic!("started on a port in use"),
        }
        match (m.start())("{".into()) {
            RResult::RErr(e) => assert!(e.as_str().contains("bad configuration JSON"), "{e}"),
            RResult::ROk(_) => panic!("started with bad JSON"),
        }
    }
}
