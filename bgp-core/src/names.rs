//! Enums whose values are written by name in the configuration: one declaration
//! gives the enum, its names, `as_str`, `Display` and (for enums without data)
//! `FromStr`, whose error lists the valid names.

/// "a", "b" or "c": the names of an enum for an error message.
pub(crate) fn expected(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `unknown WHAT "s" (expected "a", "b" or "c")`: a name that is not one of `names`.
pub(crate) fn unknown(what: &str, s: &str, names: &[&str]) -> String {
    format!("unknown {what} {s:?} (expected {})", expected(names))
}

/// Declares an enum whose variants have names: `NAMES` (in declaration order),
/// `as_str`, and `Display`. With `parse "WHAT"` after the name, also `FromStr`, whose
/// error is `unknown WHAT "x" (expected "a" or "b")`; only for variants without data.
///
/// ```ignore
/// named_enum! {
///     /// doc
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Verdict parse "value" {
///         Accept = "accept",
///         Reject = "reject",
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident parse $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $crate::names::named_enum! {
            $(#[$meta])*
            $vis enum $name {
                $( $(#[$vmeta])* $variant = $text, )+
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::names::unknown($what, s, $name::NAMES)),
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $({ $($field:ident : $fty:ty),* $(,)? })? = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant $({ $($field: $fty),* })?, )+
        }

        impl $name {
            /// Every variant's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant { .. } => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_lists() {
        assert_eq!(expected(&["a"]), "\"a\"");
        assert_eq!(expected(&["a", "b"]), "\"a\" or \"b\"");
        assert_eq!(expected(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
        assert_eq!(unknown("value", "x", &["a", "b"]), "unknown value \"x\" (expected \"a\" or \"b\")");
    }
}
