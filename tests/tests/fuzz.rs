//! A bounded fuzz of every request type through the gateway: for each RPC,
//! messages built at random from its descriptor (long, empty and odd
//! strings, extreme numbers, unknown enum values, nested and repeated
//! fields), the same messages with bytes flipped or cut, and random bytes.
//! Whatever comes in, no call may answer INTERNAL, UNKNOWN or DATA_LOSS,
//! and the system answers a plain call afterwards. The seed is fixed, so a
//! failure reproduces; `P06_FUZZ_SEED` and `P06_FUZZ_ROUNDS` change it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::uri::PathAndQuery;
use p06_tests::{Backend, TestStack, raw::Raw};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use std::collections::BTreeMap;
use tonic::{Code, Request};

/// Strings a careless service chokes on.
const ODD: &[&str] = &[
    "",
    " ",
    "units/-",
    "units/",
    "units/p01",
    "units/p01/contacts",
    "tasks/x/assignments/p01",
    "directives/../../etc",
    "%00%ff",
    "\u{0}",
    "\u{202e}ltr",
    "e\u{301}\u{301}\u{301}",
    "Đề án 06 – Hà Nội",
    "🇻🇳🚀",
    "' OR 1=1 --",
    "unit = \"units/p01\" AND (",
    "9999-99-99",
    "2024-02-30",
    "-1",
    "http://127.0.0.1:1/hook",
    "*",
];

fn odd_string(rng: &mut StdRng) -> String {
    match rng.random_range(0..30) {
        0 => "x".repeat(rng.random_range(500..12_000)),
        1 => "đ".repeat(rng.random_range(100..3_000)),
        2..=4 => (0..rng.random_range(1..40))
            .map(|_| char::from_u32(rng.random_range(0..0x2FFFF)).unwrap_or('?'))
            .collect(),
        _ => ODD.choose(rng).unwrap().to_string(),
    }
}

fn value(rng: &mut StdRng, field: &FieldDescriptor, depth: usize) -> Option<Value> {
    Some(match field.kind() {
        Kind::String => Value::String(odd_string(rng)),
        Kind::Bytes => Value::Bytes((0..rng.random_range(0..64)).map(|_| rng.random()).collect()),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(*[0, -1, 1, 7, 1000, i32::MAX, i32::MIN].choose(rng).unwrap())
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(
            *[0, -1, 1, i64::MAX, i64::MIN, 1_700_000_000]
                .choose(rng)
                .unwrap(),
        ),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(*[0, 1, u32::MAX].choose(rng).unwrap()),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(*[0, 1, u64::MAX].choose(rng).unwrap()),
        Kind::Float => Value::F32(
            *[0.0, -1.0, f32::NAN, f32::INFINITY, 1e30]
                .choose(rng)
                .unwrap(),
        ),
        Kind::Double => Value::F64(
            *[0.0, -1.0, f64::NAN, f64::NEG_INFINITY, 1e300]
                .choose(rng)
                .unwrap(),
        ),
        Kind::Enum(e) => {
            let known: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(if rng.random_bool(0.8) {
                *known.choose(rng).unwrap_or(&0)
            } else {
                rng.random_range(-5..1000)
            })
        }
        Kind::Message(m) => {
            if depth >= 3 {
                return None;
            }
            Value::Message(message(rng, &m, depth + 1))
        }
    })
}

fn message(rng: &mut StdRng, descriptor: &MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut m = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if field.is_map() || !rng.random_bool(0.5) {
            continue;
        }
        if field.is_list() {
            let items: Vec<Value> = (0..rng.random_range(0..4))
                .filter_map(|_| value(rng, &field, depth))
                .collect();
            m.set_field(&field, Value::List(items));
        } else if let Some(v) = value(rng, &field, depth) {
            m.set_field(&field, v);
        }
    }
    m
}

/// What is sent: a random message, a mutated one, or noise.
fn request_bytes(rng: &mut StdRng, input: &MessageDescriptor) -> Vec<u8> {
    use prost::Message;
    let mut bytes = message(rng, input, 0).encode_to_vec();
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..6) {
                if !bytes.is_empty() {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
            }
        }
        1 => {
            let keep = rng.random_range(0..=bytes.len());
            bytes.truncate(keep);
        }
        2 => {
            bytes = (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect()
        }
        _ => {}
    }
    bytes
}

#[tokio::test]
async fn random_and_mutated_requests_never_answer_internal() {
    let seed: u64 = std::env::var("P06_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let rounds: usize = std::env::var("P06_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let gateway = p06_gateway::Config {
            rate_limit_per_second: 0,
            ..p06_gateway::Config::default()
        };
        match TestStack::start_on_with(backend, gateway).await {
            Some(stack) => fuzz(&stack, seed, rounds, backend).await,
            None => eprintln!("P06_TEST_DATABASE_URL unset: Postgres skipped"),
        }
    }
}

async fn fuzz(stack: &TestStack, seed: u64, rounds: usize, backend: Backend) {
    let unit_key = stack
        .key_for("units/p01", p06_proto::gateway::v1::Role::Unit)
        .await;
    let pool = DescriptorPool::decode(p06_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let channels = [
        stack.channel(Some(&stack.admin_key)).await,
        stack.channel(Some(&unit_key)).await,
    ];
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut sent = 0;
    for service in pool.services() {
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            for round in 0..rounds {
                let body = request_bytes(&mut rng, &method.input());
                let channel = channels[round % channels.len()].clone();
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready().await.unwrap();
                let mut request = Request::new(body.clone());
                request.set_timeout(std::time::Duration::from_secs(10));
                let route = PathAndQuery::try_from(path.clone()).unwrap();
                let code = if method.is_server_streaming() {
                    match grpc.server_streaming(request, route, Raw).await {
                        Ok(_) => Code::Ok,
                        Err(s) => s.code(),
                    }
                } else {
                    match grpc.unary(request, route, Raw).await {
                        Ok(_) => Code::Ok,
                        Err(s) => s.code(),
                    }
                };
                sent += 1;
                *codes.entry(format!("{code:?}")).or_default() += 1;
                if matches!(code, Code::Internal | Code::Unknown | Code::DataLoss) {
                    bad.push(format!(
                        "{path}: {code:?} for {} bytes {:02x?}",
                        body.len(),
                        &body[..body.len().min(48)]
                    ));
                }
            }
        }
    }
    println!("fuzz on {backend:?}, seed {seed}: {sent} requests, codes {codes:?}");
    assert!(
        bad.is_empty(),
        "{} bad answers:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Still serving.
    stack
        .localities(&stack.admin_key)
        .await
        .get_unit(p06_proto::localities::v1::GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .unwrap();
}
