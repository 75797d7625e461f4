//! The REST/JSON client of the `rest-*` scenarios: HTTP/1.1 keep-alive connections to the same
//! port as gRPC, through hyper-util's pooling client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::failure::Failure;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// `--connections` HTTP/1.1 clients, taken round robin. HTTP/1.1 carries one request at a time per
/// connection, so each client keeps as many keep-alive connections open as it has requests in
/// flight: about `concurrency` connections in all, reused from request to request.
#[derive(Clone)]
pub struct RestPool {
    clients: Arc<Vec<HttpClient>>,
    next: Arc<AtomicUsize>,
    /// `http://host:port` of each server (no trailing slash); client i talks to `bases[i % n]`.
    bases: Arc<Vec<String>>,
    key: Option<HeaderValue>,
    timeout: Duration,
}

impl RestPool {
    /// No connection is opened here: the first requests open them.
    pub fn new(urls: &[String], key: Option<&str>, connections: usize, timeout: Duration) -> anyhow::Result<RestPool> {
        let key = match key {
            Some(k) => Some(HeaderValue::from_str(k).context("the API key is not a valid HTTP header value")?),
            None => None,
        };
        let clients = (0..connections.max(urls.len()).max(1))
            .map(|_| {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(Duration::from_secs(5)));
                Client::builder(TokioExecutor::new()).build(connector)
            })
            .collect();
        Ok(RestPool {
            clients: Arc::new(clients),
            next: Arc::new(AtomicUsize::new(0)),
            bases: Arc::new(urls.iter().map(|u| u.trim_end_matches('/').to_owned()).collect()),
            key,
            timeout,
        })
    }

    /// The REST scenarios speak plain HTTP/1.1 (no TLS).
    pub fn check_url(&self) -> anyhow::Result<()> {
        if let Some(base) = self.bases.iter().find(|b| !b.starts_with("http://")) {
            bail!("the REST scenarios need an http:// server address, not {base:?}");
        }
        Ok(())
    }

    /// Sends `method path` (with a JSON body if given) and reads the whole response body. Any
    /// answer is Ok (the caller judges the status); a transport error or timeout is a Failure.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let client = &self.clients[i];
        let base = &self.bases[i % self.bases.len()];
        let mut request = Request::builder().method(method).uri(format!("{base}{path_and_query}"));
        if let Some(key) = &self.key {
            request = request.header("x-api-key", key.clone());
        }
        let body = match json {
            Some(bytes) => {
                request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request =
            request.body(body).map_err(|err| Failure { kind: "bad request".into(), message: err.to_string() })?;
        let exchange = async {
            let response = client.request(request).await.map_err(|err| transport(&err))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|err| transport(&err))?.to_bytes();
            Ok::<_, Failure>((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure { kind: "timeout".into(), message: format!("no answer within {:?}", self.timeout) }),
        }
    }
}

/// A transport error with its chain of causes.
fn transport(err: &(dyn std::error::Error + 'static)) -> Failure {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure { kind: "transport".into(), message }
}

/// An unexpected HTTP status: the kind is the status code, the message the start of the body.
pub fn status_failure(status: StatusCode, body: &[u8]) -> Failure {
    Failure { kind: status.as_u16().to_string(), message: String::from_utf8_lossy(body).chars().take(200).collect() }
}

/// RFC 3339 (UTC, microseconds) of a protobuf timestamp, for the `time` of a REST memory.
pub fn rfc3339(t: &prost_types::Timestamp) -> String {
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        t.nanos.clamp(0, 999_999_999) / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_times() {
        let t = |seconds, nanos| rfc3339(&prost_types::Timestamp { seconds, nanos });
        assert_eq!(t(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(t(951_782_400, 0), "2000-02-29T00:00:00.000000Z");
        assert_eq!(t(1_700_000_000, 123_456_789), "2023-11-14T22:13:20.123456Z");
        assert_eq!(t(1_735_689_599, 999_999_000), "2024-12-31T23:59:59.999999Z");
    }
}
