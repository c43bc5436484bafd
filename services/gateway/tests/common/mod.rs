//! Test harness: a gateway on a pre-bound loopback listener with a
//! bootstrapped admin key, and a fake upstream that reports what the
//! gateway sent it. Nothing here sleeps to wait for a server.

#![allow(dead_code, clippy::unwrap_used)]

use http::{Request, Response};
use p06_gateway::{Config, GatewayError, bootstrap_admin_key, serve};
use p06_kit::Shutdown;
use std::{convert::Infallible, sync::Arc};
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{
    Status,
    body::Body,
    service::Routes,
    transport::{Channel, Server},
};
use tower::ServiceExt;

/// The internal credential the test gateway forwards.
pub const INTERNAL_TOKEN: &str = "test-internal-token";

/// A running gateway.
pub struct App {
    pub channel: Channel,
    pub admin: String,
    pub database_url: String,
    shutdown: Shutdown,
    handle: JoinHandle<Result<(), GatewayError>>,
    _dir: tempfile::TempDir,
}

impl App {
    /// Starts a gateway configured by `configure`.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> App {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite:{}/gateway.db", dir.path().display());
        let admin = bootstrap_admin_key(&database_url, "units/wg06")
            .await
            .unwrap()
            .expect("first bootstrap makes a key");
        assert!(
            bootstrap_admin_key(&database_url, "units/wg06")
                .await
                .unwrap()
                .is_none()
        );
        Self::serve(dir, database_url, admin, configure).await
    }

    /// Starts another gateway on the data of a stopped one (see
    /// [`App::stop_keeping_data`]), with the same admin key.
    pub async fn start_on(kept: Kept, configure: impl FnOnce(&mut Config)) -> App {
        Self::serve(kept.dir, kept.database_url, kept.admin, configure).await
    }

    async fn serve(
        dir: tempfile::TempDir,
        database_url: String,
        admin: String,
        configure: impl FnOnce(&mut Config),
    ) -> App {
        let mut config = Config {
            database_url: database_url.clone(),
            internal_token: INTERNAL_TOKEN.into(),
            ..Config::default()
        };
        configure(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(serve(config, listener, shutdown.clone()));
        let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
        App {
            channel,
            admin,
            database_url,
            shutdown,
            handle,
            _dir: dir,
        }
    }

    /// Stops the gateway and checks it shut down cleanly.
    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the gateway and keeps its data for [`App::start_on`].
    pub async fn stop_keeping_data(self) -> Kept {
        self.shutdown.trigger();
        drop(self.channel);
        self.handle.await.unwrap().unwrap();
        Kept {
            dir: self._dir,
            database_url: self.database_url,
            admin: self.admin,
        }
    }
}

/// The data of a stopped gateway.
pub struct Kept {
    dir: tempfile::TempDir,
    database_url: String,
    admin: String,
}

/// `message` with `authorization: Bearer token`.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The field named by a status's first BadRequest violation.
pub fn bad_field(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

/// A channel that sends every call to `path` instead of the generated one,
/// to reach methods no proto of ours declares.
pub fn to_path(
    channel: Channel,
    path: &'static str,
) -> impl tonic::client::GrpcService<Body, ResponseBody = Body> + Clone {
    channel.map_request(move |mut request: Request<Body>| {
        *request.uri_mut() = format!("http://gateway{path}").parse().unwrap();
        request
    })
}

/// A stand-in for a service behind the gateway. It serves gRPC health; its
/// `Localities/GetUnit` fails NOT_FOUND with the mesh headers it received
/// in the message; `Localities/ListUnits` hangs until released; and
/// `Echo/ServerReflectionInfo` is a reflection service (bidi streaming),
/// refused without the internal credential.
pub struct Upstream {
    pub url: String,
    pub entered: Arc<Notify>,
    pub release: Arc<Notify>,
    shutdown: Shutdown,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .unwrap();
        let routes = Routes::new(health).add_service(reflection);
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let service = {
            let (entered, release) = (entered.clone(), release.clone());
            tower::service_fn(move |request: Request<Body>| {
                let (routes, entered, release) = (routes.clone(), entered.clone(), release.clone());
                async move { Ok::<_, Infallible>(answer(request, routes, entered, release).await) }
            })
        };
        let shutdown = Shutdown::new();
        let signal = shutdown.clone();
        tokio::spawn(Server::builder().serve_with_incoming_shutdown(
            service,
            TcpListenerStream::new(listener),
            async move { signal.wait().await },
        ));
        Upstream {
            url,
            entered,
            release,
            shutdown,
        }
    }

    pub fn stop(&self) {
        self.shutdown.trigger();
    }
}

async fn answer(
    mut request: Request<Body>,
    routes: Routes,
    entered: Arc<Notify>,
    release: Arc<Notify>,
) -> Response<Body> {
    let headers = request.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("?").to_string())
            .unwrap_or_else(|| "absent".into())
    };
    match request.uri().path() {
        "/p06.localities.v1.Localities/GetUnit" => Status::not_found(format!(
            "key={} unit={} role={} token={} authorization={} forged={} traceparent={}",
            header("x-p06-caller-key"),
            header("x-p06-caller-unit"),
            header("x-p06-caller-role"),
            header("x-p06-internal-token"),
            header("authorization"),
            header("x-p06-forged"),
            if header("traceparent") == "absent" {
                "absent"
            } else {
                "present"
            },
        ))
        .into_http(),
        // An answer whose headers are too large for the gateway's HTTP/2
        // client: the connection it arrives on fails as a whole.
        "/p06.localities.v1.Localities/LookupUnit" => {
            Status::not_found("x".repeat(64 * 1024)).into_http()
        }
        "/p06.localities.v1.Localities/ListUnits" => {
            entered.notify_one();
            release.notified().await;
            Status::not_found("released").into_http()
        }
        "/p06.localities.v1.Echo/ServerReflectionInfo" => {
            if header("x-p06-internal-token") != INTERNAL_TOKEN {
                return Status::unauthenticated("no internal token").into_http();
            }
            *request.uri_mut() = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
                .parse()
                .unwrap();
            routes.oneshot(request).await.unwrap()
        }
        _ => routes.oneshot(request).await.unwrap(),
    }
}
