//! Bounds on what a caller may send, checked at the edge before a call is
//! forwarded: a size limit per request (bulk RPCs such as CreateTask get a
//! larger one), a well-formed single gRPC message, and a length bound on
//! every string field, found through the descriptors of p06's protos (one
//! rule for every RPC, present and future). A request over a bound gets
//! INVALID_ARGUMENT naming the field (or RESOURCE_EXHAUSTED for its size),
//! and never reaches the service behind.
//!
//! No string may hold a NUL character (no p06 field has a use for one, and
//! PostgreSQL cannot store it). Field bounds, in characters: resource names and references 512; page
//! tokens 4,096; filters and orderings 2,048; any other string 10,000
//! (above every service's own, tighter, limit for free text).

use crate::GatewayError;
use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use std::collections::HashMap;
use tonic::body::Body;

/// RPCs whose requests may be large (thousands of assignees, a year of
/// calendar days, many units merged).
const BULK: &[&str] = &[
    "/p06.tasks.v1.Tasks/CreateTask",
    "/p06.tasks.v1.Tasks/UpdateCalendar",
    "/p06.localities.v1.Localities/MergeUnits",
];

/// Fields that hold a resource name or a reference to one.
const NAME_FIELDS: &[&str] = &[
    "name",
    "parent",
    "unit",
    "units",
    "names",
    "issuer",
    "supervisor",
    "successor",
    "sources",
    "directive",
    "task",
    "indicator",
    "api_key",
    "request_id",
    "etag",
    "code",
];

/// Longest resource name or reference.
pub const MAX_NAME_CHARS: usize = 512;
/// Longest page token.
pub const MAX_PAGE_TOKEN_CHARS: usize = 4096;
/// Longest filter or ordering.
pub const MAX_FILTER_CHARS: usize = 2048;
/// Longest other string.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Deepest nesting looked into.
const MAX_DEPTH: usize = 16;

/// The bound of a string field called `field`.
pub fn max_chars(field: &str) -> usize {
    match field {
        "page_token" => MAX_PAGE_TOKEN_CHARS,
        "filter" | "order_by" | "resource_prefix" => MAX_FILTER_CHARS,
        f if NAME_FIELDS.contains(&f) => MAX_NAME_CHARS,
        _ => MAX_TEXT_CHARS,
    }
}

/// The request bounds of every p06 RPC.
#[derive(Debug)]
pub struct Bounds {
    inputs: HashMap<String, MessageDescriptor>,
    max_bytes: usize,
    max_bulk_bytes: usize,
}

impl Bounds {
    /// Bounds for the RPCs of p06's descriptor set: requests of at most
    /// `max_bytes` (bulk RPCs `max_bulk_bytes`).
    pub fn new(max_bytes: usize, max_bulk_bytes: usize) -> Result<Self, GatewayError> {
        let pool = DescriptorPool::decode(p06_proto::FILE_DESCRIPTOR_SET)
            .map_err(|e| GatewayError::Config(format!("p06 descriptors: {e}")))?;
        let mut inputs = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                inputs.insert(path, method.input());
            }
        }
        Ok(Self {
            inputs,
            max_bytes,
            max_bulk_bytes: max_bulk_bytes.max(max_bytes),
        })
    }

    /// The request body of a call to `path`, read within its size bound and
    /// checked; given back for forwarding. Paths p06 does not have pass as
    /// they are (the access table refuses them before this).
    pub async fn check(&self, path: &str, body: Body) -> Result<Body, GatewayError> {
        let Some(input) = self.inputs.get(path) else {
            return Ok(body);
        };
        let limit = if BULK.contains(&path) {
            self.max_bulk_bytes
        } else {
            self.max_bytes
        };
        let bytes = Limited::new(body, limit + 5)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large(limit)
                } else {
                    GatewayError::Status(tonic::Status::cancelled(format!(
                        "the request body could not be read: {}",
                        p06_kit::rpc::message::excerpt(&e.to_string())
                    )))
                }
            })?
            .to_bytes();
        check_message(input, bytes.clone(), limit)?;
        Ok(Body::new(Full::new(bytes).map_err(|never| match never {})))
    }
}

fn too_large(limit: usize) -> GatewayError {
    GatewayError::Status(p06_kit::errors::with_reason(
        tonic::Code::ResourceExhausted,
        "REQUEST_TOO_LARGE",
        format!("the request is larger than this method's limit of {limit} bytes"),
        &[],
    ))
}

/// Checks one gRPC-framed request: exactly one message of `input`, at most
/// `limit` bytes, every string within its bound.
fn check_message(
    input: &MessageDescriptor,
    mut framed: Bytes,
    limit: usize,
) -> Result<(), GatewayError> {
    let malformed = |why: &str| {
        GatewayError::invalid(
            "request",
            format!("is not one {} message: {why}", input.full_name()),
        )
    };
    if framed.len() < 5 {
        return Err(malformed("no gRPC message frame"));
    }
    let compressed = framed.get_u8();
    let len = framed.get_u32() as usize;
    if len > limit {
        return Err(too_large(limit));
    }
    if len != framed.len() {
        return Err(malformed("the frame length does not match the body"));
    }
    if compressed != 0 {
        // The services accept no compression and answer so themselves.
        return Ok(());
    }
    let message = DynamicMessage::decode(input.clone(), framed)
        .map_err(|e| malformed(&p06_kit::rpc::message::excerpt(&e.to_string())))?;
    check_strings(&message, "", 0)
}

/// Every string of `message` (its fields named under `prefix`) within its
/// bound.
fn check_strings(message: &DynamicMessage, prefix: &str, depth: usize) -> Result<(), GatewayError> {
    if depth > MAX_DEPTH {
        return Err(GatewayError::invalid(
            prefix,
            format!("is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_string()
        } else {
            format!("{prefix}.{}", field.name())
        };
        check_value(field.name(), &path, value, depth)?;
    }
    Ok(())
}

fn check_value(name: &str, path: &str, value: &Value, depth: usize) -> Result<(), GatewayError> {
    match value {
        Value::String(s) => {
            if s.contains('\0') {
                return Err(GatewayError::invalid(
                    path,
                    "must not contain NUL characters",
                ));
            }
            let max = max_chars(name);
            if s.chars().count() > max {
                return Err(GatewayError::invalid(
                    path,
                    format!("must be at most {max} characters"),
                ));
            }
        }
        Value::Message(m) => check_strings(m, path, depth + 1)?,
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(name, &format!("{path}[{i}]"), item, depth)?;
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                if let prost_reflect::MapKey::String(k) = key
                    && k.chars().count() > MAX_NAME_CHARS
                {
                    return Err(GatewayError::invalid(
                        path,
                        format!("has a key longer than {MAX_NAME_CHARS} characters"),
                    ));
                }
                check_value(name, &format!("{path}[…]"), item, depth)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p06_proto::{localities::v1 as loc, tasks::v1 as tasks};
    use prost::Message;

    fn framed(message: &impl Message) -> Bytes {
        let bytes = message.encode_to_vec();
        let mut out = vec![0u8];
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&bytes);
        out.into()
    }

    fn field_of(error: GatewayError) -> String {
        match error {
            GatewayError::InvalidArgument { field, .. } => field,
            other => format!("not invalid argument: {other}"),
        }
    }

    fn bounds() -> Bounds {
        Bounds::new(64 * 1024, 1024 * 1024).unwrap()
    }

    fn input(b: &Bounds, path: &str) -> MessageDescriptor {
        b.inputs.get(path).cloned().unwrap()
    }

    #[test]
    fn strings_are_bounded_and_named() {
        let b = bounds();
        let get = input(&b, "/p06.localities.v1.Localities/GetUnit");
        let ok = loc::GetUnitRequest {
            name: "units/p01".into(),
        };
        assert!(check_message(&get, framed(&ok), 1 << 16).is_ok());
        let long = loc::GetUnitRequest {
            name: "u".repeat(MAX_NAME_CHARS + 1),
        };
        assert_eq!(
            field_of(check_message(&get, framed(&long), 1 << 16).unwrap_err()),
            "name"
        );
        let nul = loc::GetUnitRequest {
            name: "units/p\0".into(),
        };
        assert_eq!(
            field_of(check_message(&get, framed(&nul), 1 << 16).unwrap_err()),
            "name"
        );
        // Nested and repeated fields are named by their path.
        let create = input(&b, "/p06.tasks.v1.Tasks/CreateTask");
        let mut request = tasks::CreateTaskRequest {
            parent: "directives/d".into(),
            task: Some(tasks::Task {
                title: "t".into(),
                description: "d".repeat(MAX_TEXT_CHARS),
                ..Default::default()
            }),
            assignees: vec![
                tasks::Assignee {
                    unit: "units/p01".into(),
                    ..Default::default()
                };
                3
            ],
            ..Default::default()
        };
        assert!(check_message(&create, framed(&request), 1 << 20).is_ok());
        request.assignees[2].unit = "x".repeat(600);
        assert_eq!(
            field_of(check_message(&create, framed(&request), 1 << 20).unwrap_err()),
            "assignees[2].unit"
        );
        request.assignees[2].unit = "units/p02".into();
        if let Some(task) = request.task.as_mut() {
            task.description.push('!');
        }
        assert_eq!(
            field_of(check_message(&create, framed(&request), 1 << 20).unwrap_err()),
            "task.description"
        );
    }

    #[test]
    fn malformed_and_oversized_requests_are_refused() {
        let b = bounds();
        let get = input(&b, "/p06.localities.v1.Localities/GetUnit");
        for bad in [
            Bytes::from_static(&[0, 0]),
            Bytes::from_static(&[0, 0, 0, 0, 9, 1]),
            Bytes::from_static(&[0, 0, 0, 0, 2, 0x0a, 0x05]),
            Bytes::from_static(&[0, 0, 0, 0, 2, 0xff, 0xff]),
        ] {
            assert_eq!(
                field_of(check_message(&get, bad, 1 << 16).unwrap_err()),
                "request"
            );
        }
        let big = loc::GetUnitRequest {
            name: "u".repeat(100),
        };
        assert!(matches!(
            check_message(&get, framed(&big), 50),
            Err(GatewayError::Status(s)) if s.code() == tonic::Code::ResourceExhausted
        ));
        assert!(b.inputs.len() >= 54);
        assert_eq!(max_chars("page_token"), MAX_PAGE_TOKEN_CHARS);
        assert_eq!(max_chars("note"), MAX_TEXT_CHARS);
    }
}
