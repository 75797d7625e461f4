//! Engram's memory as Model Context Protocol tools (the official Rust SDK, `rmcp`), two ways:
//! - `/mcp` on the server's port, streamable HTTP, stateless (any replica answers any request):
//!   a tool call runs the REST surface's handler in process as the request's principal (its API
//!   key, `x-api-key` or `authorization: Bearer`, is required on every request and checked once);
//! - `engram mcp`, stdio: the same tools, each a REST call to a running Engram at `--addr` with
//!   the key from `ENGRAM_API_KEY`.
//!
//! Either way a tool is one REST call ([`tools`]), so it has the REST surface's validation, auth
//! and JSON shapes; an error answers the call with `isError` and the REST error's message (the
//! field and the rule), so a model can correct itself.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engram_core::Principal;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::auth::Authenticator;

pub mod tools;

use tools::RestCall;

/// The largest REST answer a tool returns (a page of 1,000 memories fits).
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Where a tool's REST call goes.
#[derive(Clone)]
pub enum Api {
    /// The server's own REST router, in process (`/mcp`).
    InProcess(Router),
    /// A running Engram over HTTP (`engram mcp`): base URL like `http://127.0.0.1:9100`.
    Remote { client: reqwest::Client, base: String, api_key: Option<String> },
}

impl Api {
    /// Runs `call` as `caller` (in process: the `/mcp` request's principal, authenticated once
    /// by [`require_key`]; remote: the configured key); answers the status and the JSON body.
    async fn call(&self, call: RestCall, caller: Option<Principal>) -> Result<(StatusCode, Value), String> {
        match self {
            Self::InProcess(router) => {
                let mut request = Request::builder().method(call.method).uri(&call.path);
                if let Some(principal) = caller {
                    request = request.extension(principal);
                }
                let body = match call.body {
                    Some(json) => {
                        request = request.header(header::CONTENT_TYPE, "application/json");
                        Body::from(json.to_string())
                    }
                    None => Body::empty(),
                };
                let request = request.body(body).map_err(|e| format!("building the request: {e}"))?;
                let response = router.clone().oneshot(request).await.map_err(|e| e.to_string())?;
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
                    .await
                    .map_err(|e| format!("reading the answer: {e}"))?;
                Ok((status, parse_body(&bytes)))
            }
            Self::Remote { client, base, api_key } => {
                let mut request = client.request(call.method, format!("{base}{}", call.path));
                if let Some(key) = api_key {
                    request = request.header("x-api-key", key);
                }
                if let Some(json) = call.body {
                    request = request.header(header::CONTENT_TYPE, "application/json").body(json.to_string());
                }
                let response =
                    request.send().await.map_err(|e| format!("cannot reach Engram at {base}: {}", causes(&e)))?;
                let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let bytes = response.bytes().await.map_err(|e| format!("reading the answer: {e}"))?;
                Ok((status, parse_body(&bytes)))
            }
        }
    }
}

/// An error with its causes (reqwest's own message leaves out why, e.g. a TLS certificate).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return json!({});
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!({"error": String::from_utf8_lossy(bytes)}))
}

/// The MCP server: the tools of [`tools::specs`] over an [`Api`].
#[derive(Clone)]
pub struct EngramMcp {
    api: Api,
    tools: Arc<Vec<Tool>>,
}

impl EngramMcp {
    pub fn new(api: Api) -> Self {
        let tools = tools::specs()
            .iter()
            .map(|spec| {
                let schema = spec.schema.as_object().cloned().unwrap_or_default();
                Tool::new(spec.name, spec.description, Arc::new(schema))
            })
            .collect();
        Self { api, tools: Arc::new(tools) }
    }

    async fn run(&self, request: CallToolRequestParams, caller: Option<Principal>) -> CallToolResult {
        let call = match tools::rest_call(&request.name, request.arguments.unwrap_or_default()) {
            Ok(call) => call,
            Err(message) => return CallToolResult::structured_error(json!({"error": message, "status": 400})),
        };
        match self.api.call(call, caller).await {
            Ok((status, body)) if status.is_success() => CallToolResult::structured(body),
            Ok((status, body)) => {
                let message = body.get("error").and_then(Value::as_str).map_or_else(|| body.to_string(), str::to_owned);
                CallToolResult::structured_error(json!({"error": message, "status": status.as_u16()}))
            }
            Err(message) => CallToolResult::structured_error(json!({"error": message, "status": 502})),
        }
    }
}

impl ServerHandler for EngramMcp {
    fn get_info(&self) -> InitializeResult {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("engram", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Engram is the agent's long-term memory. Call `remember` after doing or observing something worth \
             keeping, `decide` for decisions and their reasons, `recall` or `search` before acting (\"did I \
             already do this?\"), and `get_context` for a summary that fits a prompt. Conversations: \
             `append_messages` and `get_window`. A session's scratch state: `get_working_memory` and \
             `patch_working_memory`."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.get_tool(&request.name).is_none() {
            return Err(ErrorData::invalid_params(format!("no tool {:?}", request.name), None));
        }
        let parts = context.extensions.get::<axum::http::request::Parts>();
        let caller = parts.and_then(|p| p.extensions.get::<Principal>()).cloned();
        Ok(self.run(request, caller).await.into())
    }
}

/// `/mcp`: the streamable HTTP endpoint over the server's REST `router`. Stateless and with JSON
/// answers, so replicas behind a load balancer need no session affinity. `allowed_hosts`: the
/// `Host` values accepted (DNS rebinding protection); empty: any.
pub fn router(rest: Router, auth: Authenticator, allowed_hosts: Vec<String>) -> Router {
    let mut config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    config.legacy_session_mode = false;
    config.json_response = true;
    let api = Api::InProcess(rest);
    let service: StreamableHttpService<EngramMcp, NeverSessionManager> =
        StreamableHttpService::new(move || Ok(EngramMcp::new(api.clone())), Arc::default(), config);
    Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(Arc::new(auth), require_key))
}

/// Every `/mcp` request carries a valid API key: 401 with `{"error": ...}` otherwise. The
/// principal goes with the request, so its tool calls are not authenticated again.
async fn require_key(State(auth): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    match auth.authenticate(request.headers()).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(err) => {
            let mut response =
                (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": err.to_string()}))).into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// `engram mcp`: serves the tools on stdin/stdout until the client closes them, each tool a REST
/// call to the Engram at `addr` (`http://host:port`; a bare `host:port` gets `http://`; an
/// `https://` one is verified against the system's roots and `--ca-cert`, with `--client-cert`
/// and `--client-key` for mutual TLS).
pub async fn stdio(args: crate::cli::McpArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let addr = args.addr.as_str();
    let base = if addr.contains("://") { addr.trim_end_matches('/').to_owned() } else { format!("http://{addr}") };
    // reqwest's rustls needs a process-wide crypto provider (for an https address): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("--{flag}: cannot read {}", path.display()))
    };
    let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(path) = &args.ca_cert {
        for ca in reqwest::Certificate::from_pem_bundle(&read("ca-cert", path)?)
            .with_context(|| format!("--ca-cert: {} holds no PEM certificate", path.display()))?
        {
            client = client.add_root_certificate(ca);
        }
    }
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        let mut pem = read("client-cert", cert)?;
        pem.push(b'\n');
        pem.extend(read("client-key", key)?);
        let identity = reqwest::Identity::from_pem(&pem)
            .context("--client-cert/--client-key: not a PEM certificate and private key")?;
        client = client.identity(identity);
    }
    let server = EngramMcp::new(Api::Remote { client: client.build()?, base, api_key: args.api_key });
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
