//! Renders values readably for `ipc` log events, from their serde form.
//!
//! Rendering stops as soon as the text passes the limit, so logging a 1 MiB
//! argument costs no more than its first few hundred characters.

use std::fmt::{self, Write};

use serde::ser::{self, Serialize};

/// How many characters of a rendered value a log line shows.
pub(crate) const LIMIT: usize = 200;

/// Renders `value`, cut at [`LIMIT`] characters with a trailing `…`.
pub(crate) fn render<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Renderer { text: String::new() };
    match value.serialize(&mut out) {
        Ok(()) => out.text,
        Err(Stop::Cut) => {
            let mut cut = out.text.chars().take(LIMIT).collect::<String>();
            cut.push('…');
            cut
        }
        Err(Stop::Custom(message)) => format!("<unrenderable: {message}>"),
    }
}

/// Renders a byte buffer the way a `serialize_bytes` value renders.
pub(crate) fn render_bytes(bytes: &[u8]) -> String {
    struct Bytes<'a>(&'a [u8]);
    impl Serialize for Bytes<'_> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }
    render(&Bytes(bytes))
}

#[derive(Debug)]
enum Stop {
    Cut,
    Custom(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Cut => f.write_str("cut"),
            Stop::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop::Custom(msg.to_string())
    }
}

struct Renderer {
    text: String,
}

impl Renderer {
    fn put(&mut self, args: fmt::Arguments<'_>) -> Result<(), Stop> {
        // Writing to a String cannot fail.
        let _ = self.text.write_fmt(args);
        if self.text.len() > LIMIT { Err(Stop::Cut) } else { Ok(()) }
    }

    /// Writes `len` bytes, of which `shown` are the first, in hex.
    fn put_bytes(&mut self, len: usize, shown: &[u8]) -> Result<(), Stop> {
        self.put(format_args!("<{len} bytes> "))?;
        for byte in shown.iter().take(LIMIT / 2 + 1) {
            self.put(format_args!("{byte:02x}"))?;
        }
        Ok(())
    }
}

/// Writes the separators of a sequence, tuple, map or struct.
struct Compound<'a> {
    out: &'a mut Renderer,
    first: bool,
    close: &'static str,
    /// The length and the elements so far of a tuple that may be a byte
    /// array (`[u8; N]` serializes as a tuple): held back until one is not
    /// a byte, or shown as bytes.
    bytes: Option<(usize, Vec<u8>)>,
}

/// A tuple at least this long whose elements are all `u8` renders as bytes:
/// hashes and keys read as hex, not as 32 decimal numbers.
const BYTE_ARRAY_MIN: usize = 8;

impl<'a> Compound<'a> {
    fn new(out: &'a mut Renderer, close: &'static str) -> Self {
        Compound { out, first: true, close, bytes: None }
    }

    fn separator(&mut self) -> Result<(), Stop> {
        if !std::mem::take(&mut self.first) {
            self.out.put(format_args!(", "))?;
        }
        Ok(())
    }

    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        if let Some((len, held)) = &mut self.bytes {
            if let Ok(byte) = value.serialize(ByteProbe) {
                held.push(byte);
                if held.len() > LIMIT / 2 {
                    // More than can be shown: the rest need not be looked at.
                    let (len, held) = (*len, std::mem::take(held));
                    return self.out.put_bytes(len, &held);
                }
                return Ok(());
            }
            // Not a byte array after all: what was held back shows as numbers.
            let (_, held) = self.bytes.take().unwrap_or_default();
            self.out.put(format_args!("("))?;
            for byte in held {
                self.separator()?;
                self.out.put(format_args!("{byte}"))?;
            }
        }
        self.separator()?;
        value.serialize(&mut *self.out)
    }

    fn end(self) -> Result<(), Stop> {
        match self.bytes {
            Some((len, held)) => self.out.put_bytes(len, &held),
            None => self.out.put(format_args!("{}", self.close)),
        }
    }
}

/// Why a value is not a single `u8`.
#[derive(Debug)]
struct NotAByte;

impl fmt::Display for NotAByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a byte")
    }
}

impl std::error::Error for NotAByte {}

impl ser::Error for NotAByte {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotAByte
    }
}

macro_rules! not_a_byte {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, _: $ty) -> Result<u8, NotAByte> { Err(NotAByte) })*
    };
}

/// Answers the byte a value is, if it is one `u8`.
struct ByteProbe;

impl ser::Serializer for ByteProbe {
    type Ok = u8;
    type Error = NotAByte;
    type SerializeSeq = ser::Impossible<u8, NotAByte>;
    type SerializeTuple = ser::Impossible<u8, NotAByte>;
    type SerializeTupleStruct = ser::Impossible<u8, NotAByte>;
    type SerializeTupleVariant = ser::Impossible<u8, NotAByte>;
    type SerializeMap = ser::Impossible<u8, NotAByte>;
    type SerializeStruct = ser::Impossible<u8, NotAByte>;
    type SerializeStructVariant = ser::Impossible<u8, NotAByte>;

    fn serialize_u8(self, v: u8) -> Result<u8, NotAByte> {
        Ok(v)
    }
    not_a_byte!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64,
        serialize_char: char, serialize_str: &str, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str
    );
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_none(self) -> Result<u8, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<u8, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_unit(self) -> Result<u8, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<u8, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<u8, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<u8, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotAByte> {
        Err(NotAByte)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAByte> {
        Err(NotAByte)
    }
}

macro_rules! display_scalars {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<(), Stop> { self.put(format_args!("{v}")) })*
    };
}

impl<'a> ser::Serializer for &'a mut Renderer {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    display_scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64
    );

    fn serialize_char(self, v: char) -> Result<(), Stop> {
        self.put(format_args!("{v:?}"))
    }
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        // Only as much of a long string as can be shown is escaped.
        let shown: String = v.chars().take(LIMIT + 1).collect();
        self.put(format_args!("{shown:?}"))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Stop> {
        self.put_bytes(v.len(), v)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        self.put(format_args!("None"))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Stop> {
        self.put(format_args!("Some("))?;
        value.serialize(&mut *self)?;
        self.put(format_args!(")"))
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        self.put(format_args!("()"))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), Stop> {
        self.put(format_args!("{name}"))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Stop> {
        self.put(format_args!("{variant}"))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, name: &'static str, value: &T) -> Result<(), Stop> {
        self.put(format_args!("{name}("))?;
        value.serialize(&mut *self)?;
        self.put(format_args!(")"))
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.serialize_newtype_struct(variant, value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("["))?;
        Ok(Compound::new(self, "]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Stop> {
        if len >= BYTE_ARRAY_MIN {
            let mut compound = Compound::new(self, ")");
            compound.bytes = Some((len, Vec::with_capacity(len.min(LIMIT))));
            return Ok(compound);
        }
        self.put(format_args!("("))?;
        Ok(Compound::new(self, ")"))
    }
    fn serialize_tuple_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("{name}("))?;
        Ok(Compound::new(self, ")"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.serialize_tuple_struct(variant, len)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("{{"))?;
        Ok(Compound::new(self, "}"))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("{name} {{ "))?;
        Ok(Compound::new(self, " }"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.serialize_struct(variant, len)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Stop> {
        self.separator()?;
        key.serialize(&mut *self.out)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        self.out.put(format_args!(": "))?;
        value.serialize(&mut *self.out)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        self.separator()?;
        self.out.put(format_args!("{key}: "))?;
        value.serialize(&mut *self.out)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Point {
        x: i32,
        y: Option<String>,
    }

    #[derive(Serialize)]
    enum Shape {
        Dot,
        Circle(u8),
    }

    #[test]
    fn values_read_like_rust() {
        assert_eq!(render("hi"), "\"hi\"");
        assert_eq!(render(&Point { x: 1, y: Some("a".into()) }), "Point { x: 1, y: Some(\"a\") }");
        assert_eq!(render(&(Shape::Dot, Shape::Circle(3))), "(Dot, Circle(3))");
        assert_eq!(render(&BTreeMap::from([(1, vec![2, 3])])), "{1: [2, 3]}");
        assert_eq!(render(&()), "()");
    }

    #[derive(Serialize)]
    struct Hash([u8; 32]);

    #[test]
    fn byte_arrays_read_as_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x01;
        assert_eq!(render(&Hash(bytes)), format!("Hash(<32 bytes> ab{}01)", "00".repeat(30)));
        // Short tuples of bytes and mixed tuples stay tuples.
        assert_eq!(render(&(1u8, 2u8)), "(1, 2)");
        assert_eq!(render(&(1u8, 2u8, 3u8, 4u8, 5u8, 6u8, 7u8, 8u8, "x")), "(1, 2, 3, 4, 5, 6, 7, 8, \"x\")");
        assert_eq!(render(&[7u32; 8]), "(7, 7, 7, 7, 7, 7, 7, 7)");
        // serde's own arrays stop at 32; a longer one is a tuple all the same.
        struct Long;
        impl Serialize for Long {
            fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeTuple;
                let mut tuple = serializer.serialize_tuple(1000)?;
                for _ in 0..1000 {
                    tuple.serialize_element(&0xffu8)?;
                }
                tuple.end()
            }
        }
        let text = render(&Long);
        assert!(text.starts_with("<1000 bytes> ffff"));
        assert_eq!(text.chars().count(), LIMIT + 1);
    }

    #[test]
    fn long_values_are_cut() {
        let text = render(&vec![7u32; 10_000]);
        assert!(text.ends_with('…'));
        assert_eq!(text.chars().count(), LIMIT + 1);
        let text = render(&"x".repeat(1 << 20));
        assert_eq!(text.chars().count(), LIMIT + 1);
    }
}
