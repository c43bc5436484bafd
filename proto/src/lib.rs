//! The p06 gRPC API: message and service types generated from `proto/p06/**`
//! at build time (with protox, so no system `protoc` is needed), and the
//! encoded file descriptor set that the gateway serves for reflection.
#![allow(missing_docs, clippy::all)]

/// Encoded `google.protobuf.FileDescriptorSet` of every p06 proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/p06_descriptor.bin"));

/// `p06.localities.v1`: the registry of units.
pub mod localities {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("p06.localities.v1");
    }
}

/// `p06.gateway.v1`: API keys and caller identity.
pub mod gateway {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("p06.gateway.v1");
    }
}

/// `p06.tasks.v1`: directives, tasks, assignments.
pub mod tasks {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("p06.tasks.v1");
    }
}

/// `p06.notifications.v1`: reminders, escalations, delivery.
pub mod notifications {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("p06.notifications.v1");
    }
}
