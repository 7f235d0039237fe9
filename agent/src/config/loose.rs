//! A config value that may take more than one shape (a word or a list, a word or a
//! number), deserialized with an error that says what its key accepts: serde's untagged
//! enums say only "data did not match any variant of untagged enum …".

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

/// What a key accepts, in words, for its errors.
pub trait Accepts {
    const WHAT: &'static str;
}

/// A string, a list of strings or a whole number, as written; the key's reader refuses
/// the shapes it does not take with [`Accepts::WHAT`].
#[derive(Debug)]
pub enum Loose<A> {
    Str(String),
    List(Vec<String>),
    Int(i64),
    #[doc(hidden)]
    _Key(PhantomData<A>),
}

impl<A: Accepts> Loose<A> {
    /// The error of a shape the key does not take.
    pub fn refused(&self, key: &str) -> anyhow::Error {
        anyhow::anyhow!("{key}: expected {}", A::WHAT)
    }
}

impl<'de, A: Accepts> Deserialize<'de> for Loose<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<A>(PhantomData<A>);
        impl<'de, A: Accepts> Visitor<'de> for V<A> {
            type Value = Loose<A>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(A::WHAT)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Loose<A>, E> {
                Ok(Loose::Str(s.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Loose<A>, E> {
                Ok(Loose::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Loose<A>, E> {
                i64::try_from(n)
                    .map(Loose::Int)
                    .map_err(|_| E::custom(format_args!("{n} is too large: expected {}", A::WHAT)))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Loose<A>, S::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<Word<A>>()? {
                    v.push(s.0);
                }
                Ok(Loose::List(v))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A list's element: a string, with the key's words in the error of anything else.
struct Word<A>(String, PhantomData<A>);

impl<'de, A: Accepts> Deserialize<'de> for Word<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<A>(PhantomData<A>);
        impl<A: Accepts> Visitor<'_> for V<A> {
            type Value = Word<A>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string in a list ({})", A::WHAT)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Word<A>, E> {
                Ok(Word(s.to_owned(), PhantomData))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Depth;
    impl Accepts for Depth {
        const WHAT: &'static str = "\"inf\" or a whole number";
    }

    #[derive(serde::Deserialize)]
    struct T {
        #[allow(dead_code)]
        v: Loose<Depth>,
    }

    #[test]
    fn errors_say_what_is_accepted_not_untagged_enum() {
        for bad in ["v = true", "v = 1.5", "v = { a = 1 }", "v = [1]"] {
            let e = toml::from_str::<T>(bad).err().unwrap().to_string();
            assert!(e.contains("\"inf\" or a whole number"), "{bad}: {e}");
            assert!(!e.contains("untagged"), "{bad}: {e}");
        }
        assert!(matches!(
            toml::from_str::<T>("v = \"inf\"").unwrap().v,
            Loose::Str(_)
        ));
        assert!(matches!(
            toml::from_str::<T>("v = 3").unwrap().v,
            Loose::Int(3)
        ));
        assert!(matches!(
            toml::from_str::<T>("v = [\"a\"]").unwrap().v,
            Loose::List(_)
        ));
    }
}
