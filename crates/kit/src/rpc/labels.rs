//! Which calls get their own labels: the methods of the descriptor sets a
//! process serves, and `_OTHER` for every other path.

use super::OTHER;
use std::collections::HashSet;

/// The gRPC methods a process labels by name; every other path is
/// [`OTHER`]. Built from encoded `FileDescriptorSet`s (the reflection sets).
#[derive(Debug, Default)]
pub struct KnownMethods {
    paths: HashSet<String>,
    server_streaming: HashSet<String>,
}

impl KnownMethods {
    /// Every method of every service in `sets`.
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Self {
        use prost::Message as _;
        let (mut paths, mut server_streaming) = (HashSet::new(), HashSet::new());
        for set in sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
                continue;
            };
            for file in set.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let service_name = match package.as_str() {
                        "" => service.name().to_string(),
                        p => format!("{p}.{}", service.name()),
                    };
                    for method in service.method {
                        let path = format!("/{service_name}/{}", method.name());
                        if method.server_streaming() {
                            server_streaming.insert(path.clone());
                        }
                        paths.insert(path);
                    }
                }
            }
        }
        Self {
            paths,
            server_streaming,
        }
    }

    /// Whether the method at `path` answers with a stream of messages.
    pub fn is_server_streaming(&self, path: &str) -> bool {
        self.server_streaming.contains(path)
    }

    /// `(rpc.service, rpc.method)` for a request path, or [`OTHER`] twice.
    pub fn labels<'a>(&self, path: &'a str) -> (&'a str, &'a str) {
        match split_path(path) {
            Some(parts) if self.paths.contains(path) => parts,
            _ => (OTHER, OTHER),
        }
    }
}

/// `/pkg.Service/Method` → `("pkg.Service", "Method")`.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix('/')?.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_share_one_label() {
        let known = KnownMethods::from_descriptor_sets(&[tonic_health::pb::FILE_DESCRIPTOR_SET]);
        assert_eq!(
            known.labels("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(known.labels("/grpc.health.v1.Health/Nope"), (OTHER, OTHER));
        assert_eq!(known.labels("/x"), (OTHER, OTHER));
        assert!(known.is_server_streaming("/grpc.health.v1.Health/Watch"));
        assert!(!known.is_server_streaming("/grpc.health.v1.Health/Check"));
    }
}
