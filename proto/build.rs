//! Compiles the .proto files with protox (pure Rust, no system `protoc`) and
//! generates tonic/prost code plus the file descriptor set for reflection.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "p06/localities/v1/localities.proto",
    "p06/gateway/v1/access.proto",
    "p06/tasks/v1/tasks.proto",
    "p06/notifications/v1/notifications.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("p06_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
