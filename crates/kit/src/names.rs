//! Enums with stable upper-case names: what is stored in the database,
//! accepted in filters and printed, parsed leniently ("province",
//! "centrally-run-city", or the proto spelling with its enum prefix).

/// Implements `as_str`, `ALL`, `FromStr` (ignoring case, `-` for `_`, and
/// the given proto prefixes) and `Display` for a fieldless enum.
#[macro_export]
macro_rules! str_enum {
    ($t:ty, prefixes = [$($prefix:literal),*], { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            /// The stored and filterable name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$v),*];
        }
        impl ::std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let up = s.trim().to_ascii_uppercase().replace('-', "_");
                let mut bare = up.as_str();
                $(bare = bare.trim_start_matches($prefix);)*
                Self::ALL.iter().copied().find(|v| v.as_str() == bare).ok_or_else(|| {
                    let all: Vec<_> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown value {s:?}; expected one of {}", all.join(", "))
                })
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
