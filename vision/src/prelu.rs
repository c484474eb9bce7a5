//! ONNX Runtime's CPU PRelu has no fast kernel: measured with its profiler on this 2-core VM,
//! PRelu took half the time of the 106-point landmark model (13.1 ms a face, 6.2 ms once
//! rewritten) and a third of the ArcFace embedder's. PRelu(x) = x + (slope − 1)·min(x, 0)
//! exactly, for any slope, and that is three elementwise operators ORT runs fast (the
//! `slope − 1` is folded into a constant when the session is built). This module makes that
//! change on a model's bytes as they are loaded (the file on disk stays the one whose checksum
//! `kyc models fetch` verified): the ONNX protobuf is walked only as deep as the graph's
//! nodes, everything else is copied byte for byte. Tests check that the landmarks and the
//! embeddings are the same with and without it.

use crate::error::{Result, VisionError};

/// ModelProto.graph, GraphProto.node, NodeProto.{input, output, name, op_type, attribute},
/// AttributeProto.{name, t, type}, TensorProto.{data_type, float_data}.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const NODE_INPUT: u64 = 1;
const NODE_OUTPUT: u64 = 2;
const NODE_NAME: u64 = 3;
const NODE_OP_TYPE: u64 = 4;
const NODE_ATTRIBUTE: u64 = 5;
const ATTR_NAME: u64 = 1;
const ATTR_TENSOR: u64 = 5;
const ATTR_TYPE: u64 = 20;
/// AttributeProto.AttributeType.TENSOR, TensorProto.DataType.FLOAT.
const TYPE_TENSOR: u64 = 4;
const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const FLOAT: u64 = 1;
/// The names of the two constants the rewritten PRelus share.
const ONE: &str = "__kyc_prelu_one";
const ZERO: &str = "__kyc_prelu_zero";
/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

fn bad(reason: &str) -> VisionError {
    VisionError::Runtime(format!("the model is not ONNX as expected: {reason}"))
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or_else(|| bad("truncated varint"))?;
        *at += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("varint too long"))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, (field << 3) | VARINT);
    put_varint(out, v);
}

fn put_len(out: &mut Vec<u8>, field: u64, payload: &[u8]) {
    put_varint(out, (field << 3) | LEN);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// One field of a message: its number, wire type, the payload (for `LEN`) and its raw bytes.
struct Field<'a> {
    number: u64,
    wire: u64,
    payload: &'a [u8],
    raw: &'a [u8],
}

/// The top-level fields of the message `buf`.
fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let start = at;
        let tag = varint(buf, &mut at)?;
        let (number, wire) = (tag >> 3, tag & 7);
        let mut payload_at = at;
        let end = match wire {
            VARINT => {
                varint(buf, &mut at)?;
                at
            }
            FIXED64 => at + 8,
            FIXED32 => at + 4,
            LEN => {
                let n = usize::try_from(varint(buf, &mut at)?).map_err(|_| bad("length"))?;
                // A length-delimited payload starts after its length.
                payload_at = at;
                at.checked_add(n).ok_or_else(|| bad("length"))?
            }
            _ => return Err(bad("unsupported wire type")),
        };
        if end > buf.len() {
            return Err(bad("a field runs past the end"));
        }
        let payload = &buf[payload_at..end];
        out.push(Field {
            number,
            wire,
            payload,
            raw: &buf[start..end],
        });
        at = end;
    }
    Ok(out)
}

fn text(f: &Field<'_>) -> Result<String> {
    String::from_utf8(f.payload.to_vec()).map_err(|_| bad("a name is not UTF-8"))
}

fn node(inputs: &[&str], output: &str, name: &str, op: &str) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        put_len(&mut n, NODE_INPUT, i.as_bytes());
    }
    put_len(&mut n, NODE_OUTPUT, output.as_bytes());
    put_len(&mut n, NODE_NAME, name.as_bytes());
    put_len(&mut n, NODE_OP_TYPE, op.as_bytes());
    n
}

/// A Constant node giving the float scalar `v` as `name`.
fn constant(name: &str, v: f32) -> Vec<u8> {
    let mut tensor = Vec::new();
    put_varint_field(&mut tensor, TENSOR_DATA_TYPE, FLOAT);
    put_len(&mut tensor, TENSOR_FLOAT_DATA, &v.to_le_bytes());
    let mut attr = Vec::new();
    put_len(&mut attr, ATTR_NAME, b"value");
    put_len(&mut attr, ATTR_TENSOR, &tensor);
    put_varint_field(&mut attr, ATTR_TYPE, TYPE_TENSOR);
    let mut n = node(&[], name, name, "Constant");
    put_len(&mut n, NODE_ATTRIBUTE, &attr);
    n
}

/// The node `raw` again, or as x + (slope − 1)·min(x, 0) when it is a PRelu; true when it was.
fn rewrite_node(raw: &[u8], out: &mut Vec<u8>) -> Result<bool> {
    let fs = fields(raw)?;
    let op = fs
        .iter()
        .find(|f| f.number == NODE_OP_TYPE && f.wire == LEN);
    if op.map(text).transpose()?.as_deref() != Some("PRelu") {
        put_len(out, GRAPH_NODE, raw);
        return Ok(false);
    }
    let of = |n: u64| -> Result<Vec<String>> {
        fs.iter()
            .filter(|f| f.number == n && f.wire == LEN)
            .map(text)
            .collect()
    };
    let (inputs, outputs) = (of(NODE_INPUT)?, of(NODE_OUTPUT)?);
    let ([x, slope], [y]) = (inputs.as_slice(), outputs.as_slice()) else {
        return Err(bad("a PRelu without two inputs and one output"));
    };
    // Named after the PRelu's output, which is unique (its name may be empty).
    let v = |what: &str| format!("__kyc_prelu_{what}_{y}");
    let (less, negative, scaled) = (v("less"), v("negative"), v("scaled"));
    for (inputs, output, op) in [
        ([slope.as_str(), ONE], &less, "Sub"),
        ([x.as_str(), ZERO], &negative, "Min"),
        ([negative.as_str(), less.as_str()], &scaled, "Mul"),
    ] {
        let n = node(&inputs, output, &v(op), op);
        put_len(out, GRAPH_NODE, &n);
    }
    put_len(out, GRAPH_NODE, &node(&[x, &scaled], y, &v("Add"), "Add"));
    Ok(true)
}

/// The ONNX model `model` with every PRelu node replaced by x + (slope − 1)·min(x, 0), and
/// how many were; `None` when it has none.
pub fn rewrite_prelu(model: &[u8]) -> Result<Option<(Vec<u8>, usize)>> {
    let mut out = Vec::with_capacity(model.len() + 4096);
    let mut replaced = 0;
    for f in fields(model)? {
        if f.number != MODEL_GRAPH || f.wire != LEN {
            out.extend_from_slice(f.raw);
            continue;
        }
        let mut graph = Vec::with_capacity(f.payload.len() + 4096);
        // The constants first: the nodes stay in topological order.
        put_len(&mut graph, GRAPH_NODE, &constant(ONE, 1.0));
        put_len(&mut graph, GRAPH_NODE, &constant(ZERO, 0.0));
        for g in fields(f.payload)? {
            if g.number == GRAPH_NODE && g.wire == LEN {
                replaced += usize::from(rewrite_node(g.payload, &mut graph)?);
            } else {
                graph.extend_from_slice(g.raw);
            }
        }
        put_len(&mut out, MODEL_GRAPH, &graph);
    }
    Ok((replaced > 0).then_some((out, replaced)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(graph: &[u8]) -> Vec<(String, Vec<String>, Vec<String>)> {
        fields(graph)
            .unwrap()
            .iter()
            .filter(|f| f.number == GRAPH_NODE)
            .map(|n| {
                let fs = fields(n.payload).unwrap();
                let of = |k| {
                    fs.iter()
                        .filter(|f| f.number == k)
                        .map(|f| text(f).unwrap())
                        .collect::<Vec<_>>()
                };
                (of(NODE_OP_TYPE).concat(), of(NODE_INPUT), of(NODE_OUTPUT))
            })
            .collect()
    }

    #[test]
    fn prelu_nodes_become_mul_and_max_and_the_rest_is_kept_byte_for_byte() {
        let mut graph = Vec::new();
        put_len(
            &mut graph,
            GRAPH_NODE,
            &node(&["data", "w"], "c", "conv", "Conv"),
        );
        put_len(
            &mut graph,
            GRAPH_NODE,
            &node(&["c", "g"], "p", "act", "PRelu"),
        );
        put_len(&mut graph, 2, b"graph name");
        let mut model = Vec::new();
        put_varint(&mut model, 1 << 3); // ir_version = 7
        put_varint(&mut model, 7);
        put_len(&mut model, MODEL_GRAPH, &graph);
        put_len(&mut model, 8, b"opset");
        let (out, n) = rewrite_prelu(&model).unwrap().unwrap();
        assert_eq!(n, 1);
        let top = fields(&out).unwrap();
        assert_eq!(top[0].raw, &[8, 7]);
        assert_eq!(top[2].raw, fields(&model).unwrap()[2].raw);
        let nodes = names(top[1].payload);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(nodes[0], ("Constant".into(), s(&[]), s(&[ONE])));
        assert_eq!(nodes[1], ("Constant".into(), s(&[]), s(&[ZERO])));
        assert_eq!(nodes[2], ("Conv".into(), s(&["data", "w"]), s(&["c"])));
        let (less, neg, scaled) = (
            "__kyc_prelu_less_p",
            "__kyc_prelu_negative_p",
            "__kyc_prelu_scaled_p",
        );
        assert_eq!(nodes[3], ("Sub".into(), s(&["g", ONE]), s(&[less])));
        assert_eq!(nodes[4], ("Min".into(), s(&["c", ZERO]), s(&[neg])));
        assert_eq!(nodes[5], ("Mul".into(), s(&[neg, less]), s(&[scaled])));
        assert_eq!(nodes[6], ("Add".into(), s(&["c", scaled]), s(&["p"])));
        assert_eq!(nodes.len(), 7);
        assert!(
            fields(top[1].payload)
                .unwrap()
                .iter()
                .any(|f| f.number == 2)
        );
    }

    #[test]
    fn a_damaged_model_is_an_error_not_a_panic() {
        for bytes in [&[0x3A, 0x10, 1, 2][..], &[0xFF; 11], &[0x0B]] {
            assert!(rewrite_prelu(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn a_model_without_prelu_is_left_alone() {
        let mut graph = Vec::new();
        put_len(&mut graph, GRAPH_NODE, &node(&["a"], "b", "r", "Relu"));
        let mut model = Vec::new();
        put_len(&mut model, MODEL_GRAPH, &graph);
        assert!(rewrite_prelu(&model).unwrap().is_none());
    }
}
