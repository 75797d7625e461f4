//! A request's org and agent are known only inside its domain operation (`engram-app`'s spans
//! carry `org` and `agent` fields); this layer lifts the first of each onto the request's server
//! span, which records them when the request ends (see `requests`). A leaf.

use std::sync::{Arc, OnceLock};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// What a request span learns from its descendants. `requests` puts one in the request span's
/// extensions ([`attach`]) and reads it when the request ends.
#[derive(Debug, Default)]
pub struct RequestFields {
    pub org: OnceLock<String>,
    pub agent: OnceLock<String>,
}

/// Puts `fields` in `span`'s extensions, where [`RequestFieldsLayer`] finds it. Without a
/// subscriber built on the `tracing_subscriber` registry (or a disabled span) it does nothing.
pub fn attach(span: &tracing::Span, fields: Arc<RequestFields>) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>()
            && let Some(data) = registry.span(id)
        {
            data.extensions_mut().insert(fields);
        }
    });
}

/// The layer: on every new span with an `org` or `agent` field, fills the nearest enclosing
/// request's [`RequestFields`] (first value wins).
pub struct RequestFieldsLayer;

impl<S> Layer<S> for RequestFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = Found::default();
        attrs.record(&mut found);
        if found.org.is_none() && found.agent.is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        for ancestor in span.scope().skip(1) {
            if let Some(fields) = ancestor.extensions().get::<Arc<RequestFields>>() {
                if let Some(org) = found.org {
                    let _ = fields.org.set(org);
                }
                if let Some(agent) = found.agent.filter(|a| !a.is_empty()) {
                    let _ = fields.agent.set(agent);
                }
                return;
            }
        }
    }
}

#[derive(Default)]
struct Found {
    org: Option<String>,
    agent: Option<String>,
}

impl Visit for Found {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "org" => self.org = Some(value.to_owned()),
            "agent" => self.agent = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "org" | "agent" => self.record_str(field, format!("{value:?}").trim_matches('"')),
            _ => {}
        }
    }
}
