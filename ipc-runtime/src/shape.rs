//! The shape of a serde type, as both sides of a connection describe it: its
//! fields (names, order and types) and enum variants, traced with
//! serde-reflection, without type names. A type that cannot be traced (it
//! deserializes with `deserialize_any`, like an untagged enum, or refuses
//! the tracer's sample values) is described by its Rust type name.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use serde::de::DeserializeOwned;
use serde_reflection::{ContainerFormat, Format, Named, Registry, Tracer, TracerConfig, VariantFormat};

/// The shape of a serde type, traced once per process.
pub(crate) fn shape_of<T: DeserializeOwned>() -> String {
    static SHAPES: OnceLock<Mutex<HashMap<&'static str, String>>> = OnceLock::new();
    let key = std::any::type_name::<T>();
    let shapes = SHAPES.get_or_init(Default::default);
    if let Some(shape) = shapes.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        return shape.clone();
    }
    // The library's own error evolves with the protocol version, not with the
    // interfaces that return it: its variants are not part of a signature.
    let shape = if key == std::any::type_name::<crate::Error>() {
        "multiprocess::Error".to_owned()
    } else {
        trace::<T>().unwrap_or_else(|| format!("type {key}"))
    };
    shapes.lock().unwrap_or_else(|p| p.into_inner()).insert(key, shape.clone());
    shape
}

fn trace<T: DeserializeOwned>() -> Option<String> {
    let mut tracer = Tracer::new(TracerConfig::default());
    let (format, _) = tracer.trace_simple_type::<T>().ok()?;
    let registry = tracer.registry().ok()?;
    let mut out = String::new();
    render(&format, &registry, &mut Vec::new(), &mut out);
    Some(out)
}

/// Writes a traced format as text, expanding named types structurally. A
/// type that contains itself refers back to its enclosing expansion as `recN`.
fn render(format: &Format, registry: &Registry, stack: &mut Vec<String>, out: &mut String) {
    let list = |formats: &[Format], stack: &mut Vec<String>, out: &mut String| {
        for (i, format) in formats.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            render(format, registry, stack, out);
        }
    };
    let named = |fields: &[Named<Format>], stack: &mut Vec<String>, out: &mut String| {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&field.name);
            out.push_str(": ");
            render(&field.value, registry, stack, out);
        }
    };
    match format {
        Format::TypeName(name) => {
            if let Some(depth) = stack.iter().rev().position(|enclosing| enclosing == name) {
                out.push_str(&format!("rec{depth}"));
                return;
            }
            let Some(container) = registry.get(name) else {
                out.push_str(&format!("type {name}"));
                return;
            };
            stack.push(name.clone());
            match container {
                ContainerFormat::UnitStruct => out.push_str("unit_struct"),
                ContainerFormat::NewTypeStruct(inner) => {
                    out.push_str("newtype(");
                    render(inner, registry, stack, out);
                    out.push(')');
                }
                ContainerFormat::TupleStruct(formats) => {
                    out.push_str("tuple_struct(");
                    list(formats, stack, out);
                    out.push(')');
                }
                ContainerFormat::Struct(fields) => {
                    out.push_str("struct{");
                    named(fields, stack, out);
                    out.push('}');
                }
                ContainerFormat::Enum(variants) => {
                    out.push_str("enum{");
                    for (i, (index, variant)) in variants.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(&format!("{index} {}", variant.name));
                        match &variant.value {
                            VariantFormat::Unit | VariantFormat::Variable(_) => {}
                            VariantFormat::NewType(inner) => {
                                out.push('(');
                                render(inner, registry, stack, out);
                                out.push(')');
                            }
                            VariantFormat::Tuple(formats) => {
                                out.push('(');
                                list(formats, stack, out);
                                out.push(')');
                            }
                            VariantFormat::Struct(fields) => {
                                out.push('{');
                                named(fields, stack, out);
                                out.push('}');
                            }
                        }
                    }
                    out.push('}');
                }
            }
            stack.pop();
        }
        Format::Variable(_) => out.push_str("unknown"),
        Format::Unit => out.push_str("()"),
        Format::Bool => out.push_str("bool"),
        Format::I8 => out.push_str("i8"),
        Format::I16 => out.push_str("i16"),
        Format::I32 => out.push_str("i32"),
        Format::I64 => out.push_str("i64"),
        Format::I128 => out.push_str("i128"),
        Format::U8 => out.push_str("u8"),
        Format::U16 => out.push_str("u16"),
        Format::U32 => out.push_str("u32"),
        Format::U64 => out.push_str("u64"),
        Format::U128 => out.push_str("u128"),
        Format::F32 => out.push_str("f32"),
        Format::F64 => out.push_str("f64"),
        Format::Char => out.push_str("char"),
        Format::Str => out.push_str("str"),
        Format::Bytes => out.push_str("bytes"),
        Format::Option(inner) => {
            out.push_str("option<");
            render(inner, registry, stack, out);
            out.push('>');
        }
        Format::Seq(inner) => {
            out.push_str("seq<");
            render(inner, registry, stack, out);
            out.push('>');
        }
        Format::Map { key, value } => {
            out.push_str("map<");
            render(key, registry, stack, out);
            out.push_str(", ");
            render(value, registry, stack, out);
            out.push('>');
        }
        Format::Tuple(formats) => {
            out.push('(');
            list(formats, stack, out);
            out.push(')');
        }
        Format::TupleArray { content, size } => {
            out.push('[');
            render(content, registry, stack, out);
            out.push_str(&format!("; {size}]"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only traced")]
    struct Transfer {
        from: String,
        to: String,
        amount: u64,
    }

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only traced")]
    enum Shape {
        Dot,
        Circle(u8),
        Rect { w: u32, h: u32 },
    }

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only traced")]
    struct Tree {
        children: Vec<Tree>,
    }

    #[test]
    fn shapes_name_fields_variants_and_types_but_not_type_names() {
        assert_eq!(shape_of::<Transfer>(), "struct{from: str, to: str, amount: u64}");
        assert_eq!(shape_of::<Shape>(), "enum{0 Dot, 1 Circle(u8), 2 Rect{w: u32, h: u32}}");
        assert_eq!(shape_of::<Option<Vec<(u8, String)>>>(), "option<seq<(u8, str)>>");
        assert_eq!(shape_of::<HashMap<String, [u8; 4]>>(), "map<str, (u8, u8, u8, u8)>");
        assert_eq!(shape_of::<Tree>(), "struct{children: seq<rec0>}");
    }

    #[test]
    fn untraceable_types_fall_back_to_their_name() {
        struct Any;
        impl<'de> Deserialize<'de> for Any {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(serde::de::IgnoredAny).map(|_| Any)
            }
        }
        assert!(shape_of::<Any>().starts_with("type "), "{}", shape_of::<Any>());
    }
}
