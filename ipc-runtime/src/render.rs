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
}

/// Writes the separators of a sequence, tuple, map or struct.
struct Compound<'a> {
    out: &'a mut Renderer,
    first: bool,
    close: &'static str,
}

impl Compound<'_> {
    fn separator(&mut self) -> Result<(), Stop> {
        if !std::mem::take(&mut self.first) {
            self.out.put(format_args!(", "))?;
        }
        Ok(())
    }

    fn end(self) -> Result<(), Stop> {
        self.out.put(format_args!("{}", self.close))
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
        self.put(format_args!("<{} bytes> ", v.len()))?;
        for byte in v.iter().take(LIMIT / 2 + 1) {
            self.put(format_args!("{byte:02x}"))?;
        }
        Ok(())
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
        Ok(Compound { out: self, first: true, close: "]" })
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("("))?;
        Ok(Compound { out: self, first: true, close: ")" })
    }
    fn serialize_tuple_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("{name}("))?;
        Ok(Compound { out: self, first: true, close: ")" })
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
        Ok(Compound { out: self, first: true, close: "}" })
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.put(format_args!("{name} {{ "))?;
        Ok(Compound { out: self, first: true, close: " }" })
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
        self.separator()?;
        value.serialize(&mut *self.out)
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

    #[test]
    fn long_values_are_cut() {
        let text = render(&vec![7u32; 10_000]);
        assert!(text.ends_with('…'));
        assert_eq!(text.chars().count(), LIMIT + 1);
        let text = render(&"x".repeat(1 << 20));
        assert_eq!(text.chars().count(), LIMIT + 1);
    }
}
