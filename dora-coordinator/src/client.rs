//! The CLI's side of the coordinator's API: one HTTP/1.1 request at a
//! time, over TLS that trusts the cluster's CA, or plain HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use eyre::{bail, eyre, WrapErr};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// Where the coordinator is, and who is calling.
#[derive(Debug, Clone)]
pub struct Client {
    tls: bool,
    host: String,
    port: u16,
    token: String,
    /// The CA certificate that signed the coordinator's (for https).
    ca: Option<PathBuf>,
}

/// A connection to the coordinator: TCP, or TLS over it.
trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Connection for T {}

/// An answer of the API.
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Client {
    /// A client of the coordinator at `address` (`https://host:port`,
    /// `http://host:port`, or `host:port` for https).
    pub fn new(address: &str, token: String, ca: Option<PathBuf>) -> eyre::Result<Client> {
        let (tls, rest) = match address.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            Some((scheme, _)) => bail!("`{scheme}` is not a scheme of the coordinator's address; use https:// (or http:// for a coordinator run with --no-tls)"),
            None => (true, address),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => (
                host.trim_start_matches('[').trim_end_matches(']'),
                port.parse::<u16>()
                    .map_err(|_| eyre!("`{port}` in `{address}` is not a port"))?,
            ),
            _ => bail!("the coordinator's address `{address}` has no port; write it like https://coordinator.example:7800"),
        };
        Ok(Client {
            tls,
            host: host.to_owned(),
            port,
            token,
            ca,
        })
    }

    /// Sends a request; returns the status and the JSON it answered.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> eyre::Result<Answer> {
        let mut answer = None;
        self.send(
            method,
            path,
            body,
            |status, bytes| {
                answer = Some((status, bytes.to_vec()));
                true
            },
            false,
        )?;
        let (status, bytes) = answer.ok_or_else(|| eyre!("the coordinator sent no answer"))?;
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).wrap_err_with(|| {
                format!(
                    "the coordinator answered {status} with something that is not JSON: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )
            })?
        };
        Ok(Answer { status, body })
    }

    /// Sends a GET and hands each line of the answer to `line` as it
    /// comes, until `line` returns false or the answer ends.
    pub fn stream(
        &self,
        path: &str,
        mut line: impl FnMut(StatusCode, &[u8]) -> bool,
    ) -> eyre::Result<()> {
        self.send(
            Method::GET,
            path,
            None,
            |status, bytes| line(status, bytes),
            true,
        )
    }

    /// A request to `path`, with the host and the token.
    fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
    }

    /// A connection to the coordinator, over TLS unless it serves plain
    /// HTTP.
    async fn open(&self) -> eyre::Result<Box<dyn Connection>> {
        let authority = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .wrap_err_with(|| format!("cannot reach the coordinator at {authority}; is it running (`dora coordinator`), and is the address right?"))?;
        if !self.tls {
            return Ok(Box::new(tcp));
        }
        let config = client_config(self.ca.as_deref())?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| eyre!("`{}` cannot name a TLS server", self.host))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .wrap_err_with(|| format!("TLS with the coordinator at {authority} failed; is --ca the cluster's CA certificate (ca.pem in its state folder), and does it serve https?"))?;
        Ok(Box::new(stream))
    }

    /// Sends `request` on a new connection (which may then be switched to
    /// another protocol); the answer's head, its body to come.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> eyre::Result<hyper::Response<hyper::body::Incoming>> {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(self.open().await?))
                .await
                .wrap_err("cannot speak HTTP with the coordinator")?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        sender.send_request(request).await.wrap_err_with(|| {
            format!(
                "the coordinator at {}:{} did not answer",
                self.host, self.port
            )
        })
    }

    /// Sends a POST that asks to switch the connection to `protocol`, and
    /// runs `work` on the switched connection once the coordinator agreed;
    /// `Err` holds the API's answer when it refused.
    pub fn upgrade<R>(
        &self,
        path: &str,
        protocol: &str,
        work: impl AsyncFnOnce(TokioIo<hyper::upgrade::Upgraded>) -> eyre::Result<R>,
    ) -> eyre::Result<Result<R, Answer>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .wrap_err("cannot start the client's runtime")?;
        runtime.block_on(async {
            let request = self
                .request(Method::POST, path)
                .header(hyper::header::CONNECTION, "upgrade")
                .header(hyper::header::UPGRADE, protocol)
                .body(Full::new(Bytes::new()))
                .wrap_err("cannot make the request")?;
            let response = self.exchange(request).await?;
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                let status = response.status();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                return Ok(Err(Answer { status, body }));
            }
            let upgraded = hyper::upgrade::on(response)
                .await
                .wrap_err("the coordinator did not switch the connection")?;
            work(TokioIo::new(upgraded)).await.map(Ok)
        })
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        mut each: impl FnMut(StatusCode, &[u8]) -> bool,
        by_line: bool,
    ) -> eyre::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .wrap_err("cannot start the client's runtime")?;
        runtime.block_on(async {
            let (content_type, bytes) = body.unwrap_or(("application/json", Vec::new()));
            let request = self
                .request(method, path)
                .header(hyper::header::CONTENT_TYPE, content_type)
                .body(Full::new(Bytes::from(bytes)))
                .wrap_err("cannot make the request")?;
            let response = self.exchange(request).await?;
            let status = response.status();
            let mut body = response.into_body();
            let mut pending: Vec<u8> = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.wrap_err("the coordinator's answer broke off")?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                pending.extend_from_slice(&data);
                if by_line {
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        if !each(status, &line[..line.len() - 1]) {
                            return Ok(());
                        }
                    }
                }
            }
            if !by_line || !pending.is_empty() {
                each(status, &pending);
            }
            Ok(())
        })
    }
}

/// TLS that trusts the cluster's CA, and nothing else.
fn client_config(ca: Option<&Path>) -> eyre::Result<Arc<rustls::ClientConfig>> {
    let Some(ca) = ca else {
        bail!("to reach a coordinator over https, dora needs its CA certificate: give --ca FILE (ca.pem in the coordinator's state folder), or save it once with `dora login ADDRESS --token T --ca FILE`");
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .wrap_err_with(|| format!("cannot read the CA certificate {}", ca.display()))?
    {
        let cert = cert.wrap_err_with(|| format!("{} is not a PEM certificate", ca.display()))?;
        roots
            .add(cert)
            .wrap_err_with(|| format!("{} is not a usable CA certificate", ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .wrap_err("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
