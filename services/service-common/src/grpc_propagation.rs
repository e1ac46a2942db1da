//! W3C trace context (`traceparent`, `tracestate`) carried in gRPC request metadata.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

/// The caller's context found in `metadata`, or an empty one (a new trace starts) if none is.
pub fn extract_context(metadata: &MetadataMap) -> Context {
    TraceContextPropagator::new().extract(&MetadataReader(metadata))
}

/// Writes the span context of `cx` into `metadata` so the server continues the same trace.
pub fn inject_context(cx: &Context, metadata: &mut MetadataMap) {
    TraceContextPropagator::new().inject_context(cx, &mut MetadataWriter(metadata));
}

struct MetadataReader<'a>(&'a MetadataMap);

impl Extractor for MetadataReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct MetadataWriter<'a>(&'a mut MetadataMap);

impl Injector for MetadataWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Header names from the propagator are lowercase ASCII; a value that is not valid
        // metadata is dropped rather than sent malformed.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn a_context_survives_the_round_trip_through_metadata() {
        let span_context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(span_context.clone());
        let mut metadata = MetadataMap::new();
        inject_context(&cx, &mut metadata);
        assert_eq!(
            metadata.get("traceparent").unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let extracted = extract_context(&metadata);
        let remote = extracted.span().span_context().clone();
        assert_eq!(remote.trace_id(), span_context.trace_id());
        assert_eq!(remote.span_id(), span_context.span_id());
        assert!(remote.is_remote());
    }

    #[test]
    fn no_metadata_means_no_parent() {
        let extracted = extract_context(&MetadataMap::new());
        assert!(!extracted.span().span_context().is_valid());
    }
}
