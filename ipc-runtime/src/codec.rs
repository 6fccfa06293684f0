//! The one module that names the encoding format: bincode 2's standard
//! configuration (variable-length integers, little endian), through serde.
//!
//! Values are encoded with bincode. They are decoded by [`Reader`], a serde
//! deserializer of our own for the same format, because what it reads comes
//! from another process and must not be trusted:
//!
//! - every length is checked against the bytes actually present before
//!   anything is allocated for it, and a sequence reserves room for at most
//!   [`PREALLOCATE`] elements however many it claims (it grows as elements
//!   arrive);
//! - nesting deeper than [`MAX_DEPTH`] is refused, so a recursive type nested
//!   100,000 deep is an error, not a stack overflow;
//! - elements that take no bytes at all (a `Vec<()>`) are counted, and more
//!   than [`MAX_EMPTY_ELEMENTS`] of them are refused, so a claimed length of
//!   `u64::MAX` cannot keep a thread busy.

use std::fmt;

use serde::{
    Serialize,
    de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor},
};

use crate::Error;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// How deeply values may nest (sequences, maps, structs, enums, options).
pub(crate) const MAX_DEPTH: u32 = 128;

/// How many elements a sequence or map reserves room for before they arrive.
pub(crate) const PREALLOCATE: usize = 256;

/// How many elements that take no bytes one value may contain.
pub(crate) const MAX_EMPTY_ELEMENTS: u64 = 1 << 16;

/// Appends the encoding of `value` to `buf`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T, what: &str) -> Result<(), Error> {
    bincode::serde::encode_into_std_write(value, buf, config())
        .map(drop)
        .map_err(|e| Error::Encode { what: what.to_owned(), message: e.to_string() })
}

/// Decodes one value from the front of `bytes`, returning it and how many bytes it used.
pub(crate) fn decode_from<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<(T, usize), Error> {
    let mut reader = Reader::new(bytes);
    match T::deserialize(&mut reader) {
        Ok(value) => Ok((value, reader.pos)),
        Err(error) => Err(Error::Decode { what: what.to_owned(), message: error.0 }),
    }
}

/// Appends a byte buffer as a length and the raw bytes, in one copy rather than
/// one serializer call per element.
pub(crate) fn encode_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// Reads a byte buffer written by [`encode_bytes`] from the front of `bytes`.
pub(crate) fn decode_bytes<'a>(bytes: &'a [u8], what: &str) -> Result<(&'a [u8], usize), Error> {
    let short = || Error::Decode { what: what.to_owned(), message: "byte buffer cut short".into() };
    let header: [u8; 8] = bytes.get(..8).ok_or_else(short)?.try_into().map_err(|_| short())?;
    let len = usize::try_from(u64::from_le_bytes(header)).map_err(|_| short())?;
    let body = bytes.get(8..).and_then(|rest| rest.get(..len)).ok_or_else(short)?;
    Ok((body, 8 + len))
}

/// Why a peer's bytes did not decode.
#[derive(Debug)]
pub(crate) struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DecodeError(message.to_string())
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(message.into()))
}

/// The varint prefixes of the format: a value up to 250 is one byte; larger
/// ones follow one of these in 2, 4, 8 or 16 little-endian bytes.
const U16_BYTE: u8 = 251;
const U32_BYTE: u8 = 252;
const U64_BYTE: u8 = 253;
const U128_BYTE: u8 = 254;

/// A serde deserializer over a peer's bytes, bounded as the module says.
pub(crate) struct Reader<'de> {
    bytes: &'de [u8],
    pos: usize,
    depth: u32,
    empty: u64,
}

impl<'de> Reader<'de> {
    pub(crate) fn new(bytes: &'de [u8]) -> Self {
        Reader { bytes, pos: 0, depth: 0, empty: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], DecodeError> {
        if n > self.remaining() {
            return fail(format!("{n} bytes announced, {} left", self.remaining()));
        }
        let taken = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.bytes.get(self.pos).ok_or_else(|| DecodeError("a value cut short".into()))?;
        self.pos += 1;
        Ok(byte)
    }

    /// A variable-length integer of up to 64 bits.
    fn varint(&mut self) -> Result<u64, DecodeError> {
        Ok(match self.byte()? {
            byte @ 0..=250 => u64::from(byte),
            U16_BYTE => u64::from(u16::from_le_bytes(self.array()?)),
            U32_BYTE => u64::from(u32::from_le_bytes(self.array()?)),
            U64_BYTE => u64::from_le_bytes(self.array()?),
            U128_BYTE => return fail("a 128-bit integer where at most 64 bits fit"),
            _ => return fail("invalid integer prefix"),
        })
    }

    /// A variable-length integer of up to 128 bits.
    fn varint128(&mut self) -> Result<u128, DecodeError> {
        if self.bytes.get(self.pos) == Some(&U128_BYTE) {
            self.pos += 1;
            return Ok(u128::from_le_bytes(self.array()?));
        }
        self.varint().map(u128::from)
    }

    fn unsigned<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, DecodeError> {
        let value = self.varint()?;
        T::try_from(value).map_err(|_| DecodeError(format!("{value} does not fit in {what}")))
    }

    fn signed<T: TryFrom<i64>>(&mut self, what: &str) -> Result<T, DecodeError> {
        let zigzag = self.varint()?;
        let value = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        T::try_from(value).map_err(|_| DecodeError(format!("{value} does not fit in {what}")))
    }

    /// A length, as the format writes one.
    fn len(&mut self) -> Result<usize, DecodeError> {
        let len: u64 = self.unsigned("a length")?;
        usize::try_from(len).map_err(|_| DecodeError(format!("a length of {len}")))
    }

    fn str(&mut self) -> Result<&'de str, DecodeError> {
        let len = self.len()?;
        let bytes = self.take(len)?;
        simdutf8::basic::from_utf8(bytes).map_err(|_| DecodeError("a string that is not UTF-8".into()))
    }

    fn char(&mut self) -> Result<char, DecodeError> {
        let first = *self.bytes.get(self.pos).ok_or_else(|| DecodeError("a char cut short".into()))?;
        let width = match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return fail("a char that is not UTF-8"),
        };
        let bytes = self.take(width)?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError("a char that is not UTF-8".into()))?;
        text.chars().next().ok_or_else(|| DecodeError("an empty char".into()))
    }

    /// Runs `body` one level deeper.
    fn nested<T>(&mut self, body: impl FnOnce(&mut Self) -> Result<T, DecodeError>) -> Result<T, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return fail(format!("values nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let result = body(self);
        self.depth -= 1;
        result
    }

    /// Counts an element that took no bytes.
    fn element_took(&mut self, start: usize) -> Result<(), DecodeError> {
        if self.pos == start {
            self.empty += 1;
            if self.empty > MAX_EMPTY_ELEMENTS {
                return fail(format!("more than {MAX_EMPTY_ELEMENTS} elements that take no bytes"));
            }
        }
        Ok(())
    }
}

/// The elements of a sequence, a tuple or a map, `len` of them.
struct Elements<'a, 'de> {
    reader: &'a mut Reader<'de>,
    len: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len -= 1;
        let start = self.reader.pos;
        let value = seed.deserialize(&mut *self.reader)?;
        self.reader.element_took(start)?;
        Ok(Some(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.min(PREALLOCATE))
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len -= 1;
        let start = self.reader.pos;
        let key = seed.deserialize(&mut *self.reader)?;
        self.reader.element_took(start)?;
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        seed.deserialize(&mut *self.reader)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.min(PREALLOCATE))
    }
}

impl<'de> de::EnumAccess<'de> for &mut Reader<'de> {
    type Error = DecodeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), DecodeError> {
        let index: u32 = self.unsigned("a variant index")?;
        let variant = seed.deserialize(IntoDeserializer::<DecodeError>::into_deserializer(index))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Reader<'de> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_tuple(self, fields.len(), visitor)
    }
}

macro_rules! unsigned {
    ($($method:ident: $ty:ty => $visit:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            visitor.$visit(self.unsigned::<$ty>(stringify!($ty))?)
        })*
    };
}

macro_rules! signed {
    ($($method:ident: $ty:ty => $visit:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            visitor.$visit(self.signed::<$ty>(stringify!($ty))?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = DecodeError;

    unsigned!(deserialize_u16: u16 => visit_u16, deserialize_u32: u32 => visit_u32, deserialize_u64: u64 => visit_u64);
    signed!(deserialize_i16: i16 => visit_i16, deserialize_i32: i32 => visit_i32, deserialize_i64: i64 => visit_i64);

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u128(self.varint128()?)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let zigzag = self.varint128()?;
        visitor.visit_i128(((zigzag >> 1) as i128) ^ -((zigzag & 1) as i128))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DecodeError> {
        fail("this format does not describe itself: the type must say what it reads")
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            byte => fail(format!("{byte} is not a bool")),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_i8(i8::from_le_bytes(self.array()?))
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u8(self.byte()?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_f32(f32::from_le_bytes(self.array()?))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_f64(f64::from_le_bytes(self.array()?))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_char(self.char()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let len = self.len()?;
        visitor.visit_borrowed_bytes(self.take(len)?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let len = self.len()?;
        visitor.visit_borrowed_bytes(self.take(len)?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => self.nested(|reader| visitor.visit_some(reader)),
            byte => fail(format!("{byte} is not an option tag")),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        self.nested(|reader| visitor.visit_newtype_struct(reader))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let len = self.len()?;
        self.nested(|reader| visitor.visit_seq(Elements { reader, len }))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.nested(|reader| visitor.visit_seq(Elements { reader, len }))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let len = self.len()?;
        self.nested(|reader| visitor.visit_map(Elements { reader, len }))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_tuple(fields.len(), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.nested(|reader| visitor.visit_enum(reader))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u32(self.unsigned("an identifier")?)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DecodeError> {
        fail("this format cannot skip a value it does not know")
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;

    fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_into(&mut buf, value, "test").unwrap();
        buf
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
        decode_from::<T>(bytes, "test").map(|(value, _)| value)
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Dot,
        Circle(u32),
        Pair(i64, String),
        Rect { w: u16, h: i128 },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Record {
        name: String,
        tags: Vec<String>,
        shape: Option<Shape>,
        scores: BTreeMap<String, f64>,
        bytes: Vec<u8>,
        flags: (bool, char, i8, u8),
        unit: (),
        nested: Vec<Vec<Option<u128>>>,
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Dot),
            any::<u32>().prop_map(Shape::Circle),
            (any::<i64>(), ".*").prop_map(|(a, b)| Shape::Pair(a, b)),
            (any::<u16>(), any::<i128>()).prop_map(|(w, h)| Shape::Rect { w, h }),
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            ".*",
            prop::collection::vec(".*", 0..4),
            prop::option::of(shape()),
            prop::collection::btree_map(".*", any::<f64>().prop_filter("comparable", |f| !f.is_nan()), 0..4),
            prop::collection::vec(any::<u8>(), 0..64),
            (any::<bool>(), any::<char>(), any::<i8>(), any::<u8>()),
            prop::collection::vec(prop::collection::vec(prop::option::of(any::<u128>()), 0..3), 0..3),
        )
            .prop_map(|(name, tags, shape, scores, bytes, flags, nested)| Record {
                name,
                tags,
                shape,
                scores,
                bytes,
                flags,
                unit: (),
                nested,
            })
    }

    proptest! {
        /// Whatever bincode encodes, the reader decodes to the same value,
        /// and uses exactly the bytes bincode wrote.
        #[test]
        fn the_reader_decodes_what_bincode_encodes(record in record(), trailing in prop::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = encode(&record);
            let len = bytes.len();
            bytes.extend(&trailing);
            let (decoded, used) = decode_from::<Record>(&bytes, "record").unwrap();
            prop_assert_eq!(decoded, record);
            prop_assert_eq!(used, len);
        }

        #[test]
        fn integers_of_every_width_round_trip(a in any::<u16>(), b in any::<i32>(), c in any::<u64>(), d in any::<i64>(), e in any::<i128>()) {
            prop_assert_eq!(decode::<(u16, i32, u64, i64, i128)>(&encode(&(a, b, c, d, e))).unwrap(), (a, b, c, d, e));
        }

        /// Arbitrary bytes decode to an error or a value, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<Record>(&bytes);
            let _ = decode::<Vec<Shape>>(&bytes);
            let _ = decode::<HashMap<String, Vec<Option<char>>>>(&bytes);
        }
    }

    #[test]
    fn values_round_trip() {
        let mut buf = Vec::new();
        encode_into(&mut buf, &(1u32, "two".to_string(), Some(vec![3u64])), "t").unwrap();
        encode_into(&mut buf, &7i8, "u").unwrap();
        let (first, used): ((u32, String, Option<Vec<u64>>), usize) = decode_from(&buf, "t").unwrap();
        assert_eq!(first, (1, "two".to_string(), Some(vec![3])));
        let (second, _): (i8, usize) = decode_from(&buf[used..], "u").unwrap();
        assert_eq!(second, 7);
    }

    /// The length prefix of a string or sequence, as the format writes it.
    fn length(len: u64) -> Vec<u8> {
        encode(&len)
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only decoded")]
    struct Blob(#[serde(with = "crate::bytes")] Vec<u8>);

    #[test]
    fn claimed_lengths_beyond_the_bytes_present_are_refused_without_allocating() {
        for claim in [1u64 << 40, u64::MAX - 1, u64::MAX, 1 << 20] {
            let mut bytes = length(claim);
            bytes.extend(b"a few bytes");
            for error in [decode::<String>(&bytes).unwrap_err(), decode::<Blob>(&bytes).unwrap_err()] {
                assert!(matches!(&error, Error::Decode { message, .. } if message.contains("announced")), "{error}");
            }
            // A sequence claiming more elements than there are bytes fails when they run out.
            assert!(decode::<Vec<u8>>(&bytes).is_err());
            assert!(decode::<Vec<u64>>(&bytes).is_err());
            assert!(decode::<HashMap<String, String>>(&bytes).is_err());
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code, reason = "only decoded")]
        struct Tree(Vec<Tree>);
        // 100,000 levels of `[[[...]]]`: one length byte each.
        let bytes = vec![1u8; 100_000];
        let error = decode::<Tree>(&bytes).unwrap_err();
        assert!(error.to_string().contains("nested more than 128 deep"), "{error}");
        let error = decode::<Option<Box<Option<Box<Option<u8>>>>>>(&[1; 3]).unwrap_err();
        assert!(error.to_string().contains("cut short") || error.to_string().contains("left"), "{error}");
        // Nesting within the limit decodes (each level is a newtype and a sequence).
        let mut shallow = vec![1u8; 60];
        shallow.push(0);
        assert!(decode::<Tree>(&shallow).is_ok());
    }

    #[test]
    fn endless_sequences_of_nothing_are_refused() {
        let bytes = length(u64::MAX);
        let error = decode::<Vec<()>>(&bytes).unwrap_err();
        assert!(error.to_string().contains("take no bytes"), "{error}");
        assert_eq!(decode::<Vec<()>>(&length(3)).unwrap(), vec![(), (), ()]);
    }

    #[test]
    fn malformed_scalars_are_errors() {
        assert!(decode::<bool>(&[2]).is_err());
        assert!(decode::<Option<u8>>(&[7, 0]).is_err());
        assert!(decode::<u16>(&[U32_BYTE, 0, 0, 1, 0]).is_err(), "does not fit");
        assert!(decode::<u64>(&[U64_BYTE, 1, 2]).is_err(), "cut short");
        assert!(decode::<u64>(&[255]).is_err(), "not a prefix");
        assert!(decode::<char>(&[0xff]).is_err());
        assert!(decode::<char>(&[0xe2, 0x82]).is_err());
        assert!(decode::<String>(&[2, 0xc3, 0x28]).is_err(), "not UTF-8");
        assert!(decode::<Shape>(&[9]).is_err(), "no such variant");
        let result: Result<(String, usize), _> = decode_from(&[0xff, 0xff, 0xff], "s");
        assert!(matches!(result, Err(Error::Decode { .. })));
    }

    #[test]
    fn bytes_round_trip_and_refuse_short_input() {
        let mut buf = Vec::new();
        encode_bytes(&mut buf, b"hello");
        let (bytes, used) = decode_bytes(&buf, "b").unwrap();
        assert_eq!((bytes, used), (&b"hello"[..], 13));
        assert!(decode_bytes(&buf[..10], "b").is_err());
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(1);
        assert!(decode_bytes(&huge, "b").is_err());
    }
}
