//! Prometheus remote-write 1.0: a snappy-compressed (block format, not framed) protobuf
//! `WriteRequest`. The message structs are the project's own, holding only the fields nines
//! reads; prost skips the rest (metadata, exemplars, native histograms) as unknown fields.
//!
//! [`WriteRequestRef`] is the server's path: a hand-written, bounded walker over the same
//! wire format that borrows label names and values from the decompressed buffer instead of
//! allocating a `String` for each (most series match no SLI and are dropped). It accepts and
//! refuses exactly what prost does; the tests and the fuzz target compare the two.

use prost::Message;

/// `prometheus.WriteRequest`. Field 3 (`metadata`) is skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`. Fields 3 (`exemplars`) and 4 (`histograms`) are skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Sorted by name, without duplicates (the sender's promise; nines does not rely on it).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a value at a Unix time in milliseconds.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Why a remote-write body was rejected. All are the sender's fault (HTTP 400, not retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("bad snappy block: {0}")]
    BadSnappy(String),
    #[error("decompressed body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("bad protobuf write request: {0}")]
    BadProtobuf(String),
}

impl RemoteWriteError {
    /// A stable code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RemoteWriteError::BadSnappy(_) => "remote_write.bad_snappy",
            RemoteWriteError::TooLarge { .. } => "remote_write.too_large",
            RemoteWriteError::BadProtobuf(_) => "remote_write.bad_protobuf",
        }
    }
}

/// Decompresses (snappy block format) and decodes a remote-write body. The decompressed
/// length is read from the snappy header and checked against `max_decompressed` before any
/// buffer is allocated.
pub fn decode_write_request(
    body: &[u8],
    max_decompressed: usize,
) -> Result<WriteRequest, RemoteWriteError> {
    let raw = decompress(body, max_decompressed)?;
    decode_write_request_uncompressed(&raw)
}

/// Decompresses a remote-write body (snappy block format). The decompressed length is read
/// from the snappy header and checked against `max_decompressed` before any buffer is
/// allocated. Decode the result with [`WriteRequestRef::decode`] to borrow its strings.
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, RemoteWriteError> {
    let size = snap::raw::decompress_len(body)
        .map_err(|e| RemoteWriteError::BadSnappy(e.to_string().to_lowercase()))?;
    if size > max_decompressed {
        return Err(RemoteWriteError::TooLarge {
            size,
            limit: max_decompressed,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::BadSnappy(e.to_string().to_lowercase()))
}

/// Decodes an already decompressed protobuf `WriteRequest`.
pub fn decode_write_request_uncompressed(raw: &[u8]) -> Result<WriteRequest, RemoteWriteError> {
    WriteRequest::decode(raw)
        .map_err(|e| RemoteWriteError::BadProtobuf(e.to_string().to_lowercase()))
}

/// Encodes and snappy-compresses a request: the inverse of [`decode_write_request`], for
/// tests, benchmarks and forwarding.
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    // Compression of an in-memory buffer only fails for inputs over ~4 GiB.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Read access to a label's name and value, whether owned ([`Label`]) or borrowed from the
/// decompressed body ([`LabelRef`]): selectors, series keys and label checks take either.
pub trait LabelPair {
    fn name(&self) -> &str;
    fn value(&self) -> &str;
}

impl LabelPair for Label {
    #[inline]
    fn name(&self) -> &str {
        &self.name
    }
    #[inline]
    fn value(&self) -> &str {
        &self.value
    }
}

/// A label borrowed from a decompressed remote-write body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl LabelPair for LabelRef<'_> {
    #[inline]
    fn name(&self) -> &str {
        self.name
    }
    #[inline]
    fn value(&self) -> &str {
        self.value
    }
}

/// One series of a [`WriteRequestRef`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesRef<'r, 'a> {
    pub labels: &'r [LabelRef<'a>],
    pub samples: &'r [Sample],
}

/// A `WriteRequest` decoded without copying: label names and values borrow the decompressed
/// buffer. All series' labels and samples live in two flat vectors (a few allocations per
/// request, none per label or series). It accepts and refuses exactly the bytes prost's
/// decoding of [`WriteRequest`] does, and yields the same series, labels and samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteRequestRef<'a> {
    labels: Vec<LabelRef<'a>>,
    samples: Vec<Sample>,
    /// Per series: the end of its labels and of its samples in the flat vectors.
    ends: Vec<(usize, usize)>,
}

/// prost's recursion limit (`prost::RECURSION_LIMIT`), counted the same way: unknown groups
/// nested this deep are refused.
const RECURSION_LIMIT: u32 = 100;

const WIRE_VARINT: u8 = 0;
const WIRE_64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_START_GROUP: u8 = 3;
const WIRE_END_GROUP: u8 = 4;
const WIRE_32: u8 = 5;

fn bad(message: impl Into<String>) -> RemoteWriteError {
    RemoteWriteError::BadProtobuf(message.into())
}

/// A base-128 varint of at most 10 bytes whose value fits 64 bits (as prost reads them).
#[inline]
fn read_varint(buf: &mut &[u8]) -> Result<u64, RemoteWriteError> {
    if let Some((&b, rest)) = buf.split_first() {
        if b < 0x80 {
            *buf = rest;
            return Ok(u64::from(b));
        }
    }
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            if i == 9 && b >= 0x02 {
                break;
            }
            *buf = buf.get(i + 1..).unwrap_or_default();
            return Ok(value);
        }
    }
    Err(bad("invalid varint"))
}

/// A field key: (tag, wire type), checked like prost's `decode_key`.
#[inline]
fn read_key(buf: &mut &[u8]) -> Result<(u32, u8), RemoteWriteError> {
    let key = read_varint(buf)?;
    let Ok(key) = u32::try_from(key) else {
        return Err(bad(format!("invalid key value: {key}")));
    };
    let wire = (key & 7) as u8;
    if wire > WIRE_32 {
        return Err(bad(format!("invalid wire type value: {wire}")));
    }
    let tag = key >> 3;
    if tag == 0 {
        return Err(bad("invalid tag value: 0"));
    }
    Ok((tag, wire))
}

/// The next `len` bytes.
#[inline]
fn read_bytes<'a>(buf: &mut &'a [u8], len: u64) -> Result<&'a [u8], RemoteWriteError> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > buf.len() {
        return Err(bad("buffer underflow"));
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

/// A length-delimited field's bytes.
#[inline]
fn read_len_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], RemoteWriteError> {
    let len = read_varint(buf)?;
    read_bytes(buf, len)
}

#[inline]
fn expect_wire(wire: u8, want: u8, field: &str) -> Result<(), RemoteWriteError> {
    if wire == want {
        Ok(())
    } else {
        Err(bad(format!(
            "{field}: invalid wire type {wire} (expected {want})"
        )))
    }
}

/// Skips a field nines does not read, of any wire type (groups included, nested at most
/// `depth` deep), as prost's `skip_field` does.
fn skip_field(buf: &mut &[u8], wire: u8, tag: u32, depth: u32) -> Result<(), RemoteWriteError> {
    if depth == 0 {
        return Err(bad("recursion limit reached"));
    }
    match wire {
        WIRE_VARINT => {
            read_varint(buf)?;
        }
        WIRE_64 => {
            read_bytes(buf, 8)?;
        }
        WIRE_32 => {
            read_bytes(buf, 4)?;
        }
        WIRE_LEN => {
            read_len_delimited(buf)?;
        }
        WIRE_START_GROUP => loop {
            let (inner_tag, inner_wire) = read_key(buf)?;
            if inner_wire == WIRE_END_GROUP {
                if inner_tag != tag {
                    return Err(bad("unexpected end group tag"));
                }
                break;
            }
            skip_field(buf, inner_wire, inner_tag, depth - 1)?;
        },
        _ => return Err(bad("unexpected end group tag")),
    }
    Ok(())
}

fn utf8<'a>(bytes: &'a [u8], what: &str, series: usize) -> Result<&'a str, RemoteWriteError> {
    std::str::from_utf8(bytes).map_err(|_| {
        bad(format!(
            "series {series}: invalid string value in a label {what}: data is not utf-8 encoded"
        ))
    })
}

impl<'a> WriteRequestRef<'a> {
    /// Decodes an already decompressed protobuf `WriteRequest`, borrowing its strings.
    pub fn decode(raw: &'a [u8]) -> Result<WriteRequestRef<'a>, RemoteWriteError> {
        let mut req = WriteRequestRef::default();
        req.decode_into(raw)?;
        Ok(req)
    }

    fn decode_into(&mut self, raw: &'a [u8]) -> Result<(), RemoteWriteError> {
        let mut buf = raw;
        while !buf.is_empty() {
            let (tag, wire) = read_key(&mut buf)?;
            if tag == 1 {
                expect_wire(wire, WIRE_LEN, "writerequest.timeseries")?;
                let series = read_len_delimited(&mut buf)?;
                self.decode_series(series)?;
            } else {
                skip_field(&mut buf, wire, tag, RECURSION_LIMIT)?;
            }
        }
        Ok(())
    }

    fn decode_series(&mut self, mut buf: &'a [u8]) -> Result<(), RemoteWriteError> {
        let index = self.ends.len();
        while !buf.is_empty() {
            let (tag, wire) = read_key(&mut buf)?;
            match tag {
                1 => {
                    expect_wire(wire, WIRE_LEN, "timeseries.labels")?;
                    let label = read_len_delimited(&mut buf)?;
                    self.labels.push(decode_label(label, index)?);
                }
                2 => {
                    expect_wire(wire, WIRE_LEN, "timeseries.samples")?;
                    let sample = read_len_delimited(&mut buf)?;
                    self.samples.push(decode_sample(sample)?);
                }
                _ => skip_field(&mut buf, wire, tag, RECURSION_LIMIT - 1)?,
            }
        }
        self.ends.push((self.labels.len(), self.samples.len()));
        Ok(())
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Number of samples of all series.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// The series in the order sent.
    pub fn series(&self) -> impl ExactSizeIterator<Item = SeriesRef<'_, 'a>> + '_ {
        let mut start = (0, 0);
        self.ends.iter().map(move |&(labels_end, samples_end)| {
            let series = SeriesRef {
                labels: self.labels.get(start.0..labels_end).unwrap_or_default(),
                samples: self.samples.get(start.1..samples_end).unwrap_or_default(),
            };
            start = (labels_end, samples_end);
            series
        })
    }

    /// The same request with owned strings.
    pub fn to_owned_request(&self) -> WriteRequest {
        WriteRequest {
            timeseries: self
                .series()
                .map(|s| TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|l| Label::new(l.name, l.value))
                        .collect(),
                    samples: s.samples.to_vec(),
                })
                .collect(),
        }
    }
}

fn decode_label(mut buf: &[u8], series: usize) -> Result<LabelRef<'_>, RemoteWriteError> {
    let mut label = LabelRef::default();
    while !buf.is_empty() {
        let (tag, wire) = read_key(&mut buf)?;
        match tag {
            // A repeated string field replaces the earlier one, as in prost; each occurrence
            // must be UTF-8.
            1 => {
                expect_wire(wire, WIRE_LEN, "label.name")?;
                label.name = utf8(read_len_delimited(&mut buf)?, "name", series)?;
            }
            2 => {
                expect_wire(wire, WIRE_LEN, "label.value")?;
                label.value = utf8(read_len_delimited(&mut buf)?, "value", series)?;
            }
            _ => skip_field(&mut buf, wire, tag, RECURSION_LIMIT - 2)?,
        }
    }
    Ok(label)
}

fn decode_sample(mut buf: &[u8]) -> Result<Sample, RemoteWriteError> {
    let mut sample = Sample::default();
    while !buf.is_empty() {
        let (tag, wire) = read_key(&mut buf)?;
        match tag {
            1 => {
                expect_wire(wire, WIRE_64, "sample.value")?;
                let bytes = read_bytes(&mut buf, 8)?;
                let le = <[u8; 8]>::try_from(bytes).map_err(|_| bad("buffer underflow"))?;
                sample.value = f64::from_le_bytes(le);
            }
            2 => {
                expect_wire(wire, WIRE_VARINT, "sample.timestamp")?;
                sample.timestamp = read_varint(&mut buf)? as i64;
            }
            _ => skip_field(&mut buf, wire, tag, RECURSION_LIMIT - 2)?,
        }
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        Label::new("__name__", "http_requests_total"),
                        Label::new("code", "200"),
                        Label::new("job", "checkout"),
                    ],
                    samples: vec![
                        Sample {
                            value: 1.0,
                            timestamp: 1_700_000_000_000,
                        },
                        Sample {
                            value: 5.5,
                            timestamp: 1_700_000_015_000,
                        },
                    ],
                },
                TimeSeries {
                    labels: vec![Label::new("__name__", "up")],
                    samples: vec![Sample {
                        value: f64::from_bits(0x7ff0_0000_0000_0002),
                        timestamp: -5,
                    }],
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let req = sample_request();
        let body = encode_write_request(&req);
        let got = decode_write_request(&body, 1 << 20).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.timeseries.len(), 2);
        assert_eq!(got.timeseries[0], req.timeseries[0]);
        assert_eq!(
            got.timeseries[1].samples[0].value.to_bits(),
            0x7ff0_0000_0000_0002
        );
        assert_eq!(got.timeseries[1].samples[0].timestamp, -5);
    }

    /// Hand-assembled wire bytes with the fields nines ignores (metadata = 3 on the request,
    /// exemplars = 3 and histograms = 4 on the series) decode cleanly.
    #[test]
    fn unknown_fields_are_skipped() {
        // Label{name:"a", value:"b"}
        let label = [0x0a, 0x01, b'a', 0x12, 0x01, b'b'];
        // Sample{value: 2.0, timestamp: 7}
        let mut sample = vec![0x09];
        sample.extend_from_slice(&2.0f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x07]);
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.push(0x12);
        series.push(sample.len() as u8);
        series.extend_from_slice(&sample);
        // exemplars (3) and histograms (4): opaque length-delimited blobs
        series.extend_from_slice(&[0x1a, 0x02, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01]);
        let mut req = vec![0x0a, series.len() as u8];
        req.extend_from_slice(&series);
        // metadata (3): MetricMetadata{type: COUNTER}
        req.extend_from_slice(&[0x1a, 0x02, 0x08, 0x01]);
        let body = snap::raw::Encoder::new()
            .compress_vec(&req)
            .unwrap_or_else(|e| panic!("{e}"));
        let got = decode_write_request(&body, 1024).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: vec![Label::new("a", "b")],
                    samples: vec![Sample {
                        value: 2.0,
                        timestamp: 7
                    }],
                }]
            }
        );
    }

    #[test]
    fn errors_have_codes() {
        let raw = sample_request().encode_to_vec();
        // Uncompressed protobuf is not a snappy block (or claims a wrong length).
        let e = decode_write_request(b"\xff\xff\xff\xff\xff\xff", 1 << 20).expect_err("bad");
        assert_eq!(e.code(), "remote_write.bad_snappy");
        // Framed format is not accepted.
        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut framed, &raw).unwrap_or_else(|e| panic!("{e}"));
        let framed = framed.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let e = decode_write_request(&framed, 1 << 20).expect_err("framed");
        assert!(
            matches!(
                e.code(),
                "remote_write.bad_snappy" | "remote_write.too_large"
            ),
            "{e}"
        );
        // Truncated block.
        let body = encode_write_request(&sample_request());
        let e = decode_write_request(&body[..body.len() - 3], 1 << 20).expect_err("trunc");
        assert_eq!(e.code(), "remote_write.bad_snappy");
        // Too large: checked from the header.
        let e = decode_write_request(&body, raw.len() - 1).expect_err("large");
        assert_eq!(
            e,
            RemoteWriteError::TooLarge {
                size: raw.len(),
                limit: raw.len() - 1
            }
        );
        assert_eq!(e.code(), "remote_write.too_large");
        assert!(decode_write_request(&body, raw.len()).is_ok());
        // A header claiming 4 GiB is refused without allocating.
        let e =
            decode_write_request(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00], 1 << 20).expect_err("huge");
        assert_eq!(e.code(), "remote_write.too_large");
        // Valid snappy, invalid protobuf.
        let junk = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0x10, 0x01])
            .unwrap_or_else(|e| panic!("{e}"));
        let e = decode_write_request(&junk, 1 << 20).expect_err("proto");
        assert_eq!(e.code(), "remote_write.bad_protobuf");
        for e in [e, RemoteWriteError::BadSnappy("x".into())] {
            let m = e.to_string();
            assert_eq!(m, m.to_lowercase());
        }
        // Empty body: snappy of nothing is one zero byte; an empty body is bad snappy.
        assert_eq!(
            decode_write_request(b"", 10).expect_err("empty").code(),
            "remote_write.bad_snappy"
        );
        assert_eq!(
            decode_write_request(&[0], 10).map(|r| r.timeseries.len()),
            Ok(0)
        );
    }

    /// The borrowed walker and prost agree on `raw`: the same series, labels and samples
    /// (sample values compared bit for bit), or both refuse it as bad protobuf.
    fn assert_agree(raw: &[u8]) {
        let owned = decode_write_request_uncompressed(raw);
        let borrowed = WriteRequestRef::decode(raw);
        match (&owned, &borrowed) {
            (Ok(o), Ok(b)) => {
                assert_eq!(b.len(), o.timeseries.len(), "{raw:02x?}");
                assert_eq!(
                    b.sample_count(),
                    o.timeseries.iter().map(|t| t.samples.len()).sum::<usize>()
                );
                for (bs, os) in b.series().zip(&o.timeseries) {
                    let labels: Vec<(&str, &str)> =
                        bs.labels.iter().map(|l| (l.name, l.value)).collect();
                    let want: Vec<(&str, &str)> = os
                        .labels
                        .iter()
                        .map(|l| (l.name.as_str(), l.value.as_str()))
                        .collect();
                    assert_eq!(labels, want, "{raw:02x?}");
                    let samples: Vec<(u64, i64)> = bs
                        .samples
                        .iter()
                        .map(|s| (s.value.to_bits(), s.timestamp))
                        .collect();
                    let want: Vec<(u64, i64)> = os
                        .samples
                        .iter()
                        .map(|s| (s.value.to_bits(), s.timestamp))
                        .collect();
                    assert_eq!(samples, want, "{raw:02x?}");
                }
            }
            (Err(o), Err(b)) => {
                assert_eq!(o.code(), "remote_write.bad_protobuf");
                assert_eq!(b.code(), "remote_write.bad_protobuf");
                let m = b.to_string();
                assert_eq!(m, m.to_lowercase(), "{m}");
            }
            _ => panic!("disagree on {raw:02x?}: prost {owned:?}, borrowed {borrowed:?}"),
        }
    }

    /// Every prefix, and every byte replaced by a few telling values, of `raw`.
    fn assert_agree_on_variants(raw: &[u8]) {
        assert_agree(raw);
        for end in 0..raw.len() {
            assert_agree(&raw[..end]);
        }
        let mut copy = raw.to_vec();
        for i in 0..raw.len() {
            for b in [
                0x00, 0x01, 0x07, 0x08, 0x0a, 0x0b, 0x0c, 0x7f, 0x80, 0xc0, 0xff,
            ] {
                copy[i] = b;
                assert_agree(&copy);
            }
            copy[i] = raw[i];
        }
    }

    fn field(tag: u32, wire: u8, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(u64::from(tag << 3 | u32::from(wire)), out);
    }

    fn len_field(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
        field(tag, 2, out);
        prost::encoding::encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// One series wrapped in a request, with `series` as its raw body.
    fn request_of(series: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        len_field(1, series, &mut out);
        out
    }

    fn label_bytes(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut l = Vec::new();
        len_field(1, name, &mut l);
        len_field(2, value, &mut l);
        l
    }

    #[test]
    fn borrowed_agrees_with_prost_on_requests_and_their_variants() {
        let raw = sample_request().encode_to_vec();
        let b = WriteRequestRef::decode(&raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b.to_owned_request().timeseries[0],
            sample_request().timeseries[0]
        );
        assert_agree_on_variants(&raw);
        assert_agree(&[]);
        // The hand-made request with metadata, exemplars and histograms.
        let mut series = Vec::new();
        len_field(1, &label_bytes(b"__name__", b"up"), &mut series);
        let mut sample = vec![0x09];
        sample.extend_from_slice(&2.5f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x7f]);
        len_field(2, &sample, &mut series);
        len_field(3, &[0x08, 0x01], &mut series);
        len_field(4, &[0x08, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8], &mut series);
        field(9, 5, &mut series);
        series.extend_from_slice(&[1, 2, 3, 4]);
        let mut raw = request_of(&series);
        len_field(3, &[0x08, 0x01, 0x12, 0x01, b'x'], &mut raw);
        field(5, 0, &mut raw);
        raw.extend_from_slice(&[0x96, 0x01]);
        assert_agree_on_variants(&raw);
    }

    #[test]
    fn borrowed_agrees_with_prost_on_edge_cases() {
        let label = |name: &[u8], value: &[u8]| {
            let mut series = Vec::new();
            len_field(1, &label_bytes(name, value), &mut series);
            request_of(&series)
        };
        // Invalid UTF-8 in a name or a value; valid multi-byte UTF-8.
        for raw in [
            label(b"\xff", b"x"),
            label(b"a", b"\xc3"),
            label("é".as_bytes(), "日本".as_bytes()),
        ] {
            assert_agree(&raw);
        }
        let e = WriteRequestRef::decode(&label(b"a", b"\xc3")).expect_err("utf-8");
        assert!(e.to_string().contains("not utf-8"), "{e}");
        // A name given twice: the last wins; an invalid first one fails even when replaced.
        let mut l = label_bytes(b"a", b"1");
        len_field(1, b"b", &mut l);
        let mut series = Vec::new();
        len_field(1, &l, &mut series);
        assert_agree(&request_of(&series));
        let mut l = label_bytes(b"\xff", b"1");
        len_field(1, b"b", &mut l);
        let mut series = Vec::new();
        len_field(1, &l, &mut series);
        assert_agree(&request_of(&series));
        // Wrong wire types for every known field.
        for (tag, wire) in [(1, 0), (1, 1), (1, 5)] {
            let mut raw = Vec::new();
            field(tag, wire, &mut raw);
            raw.extend_from_slice(&[0; 8]);
            assert_agree(&raw);
            assert_agree(&request_of(&raw));
            let mut series = Vec::new();
            len_field(2, &raw, &mut series);
            assert_agree(&request_of(&series));
            let mut series = Vec::new();
            len_field(1, &raw, &mut series);
            assert_agree(&request_of(&series));
        }
        for (tag, wire) in [(2, 0), (2, 1), (2, 2), (1, 0), (1, 2)] {
            let mut sample = Vec::new();
            field(tag, wire, &mut sample);
            sample.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0]);
            let mut series = Vec::new();
            len_field(2, &sample, &mut series);
            assert_agree(&request_of(&series));
        }
        // Keys: tag 0, wire types 6 and 7, a key over 32 bits, an end group without a start.
        for key in [
            &[0x02, 0x00][..],
            &[0x0e],
            &[0x0f],
            &[0x80, 0x80, 0x80, 0x80, 0x10],
            &[0x0c],
            &[0x14],
        ] {
            assert_agree(key);
            assert_agree(&request_of(key));
        }
        // Varints: 10 bytes at the limit, one over, 11 bytes, and truncated.
        for tail in [
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            &[
                0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
            ],
            &[0x80],
        ] {
            let mut raw = vec![0x28];
            raw.extend_from_slice(tail);
            assert_agree(&raw);
            let mut sample = vec![0x10];
            sample.extend_from_slice(tail);
            let mut series = Vec::new();
            len_field(2, &sample, &mut series);
            assert_agree(&request_of(&series));
        }
        // Groups: matched, mismatched end, nested, and nested past the recursion limit at
        // every level of the message.
        for depth in [1usize, 2, 97, 98, 99, 100, 101] {
            let mut group = Vec::new();
            for _ in 0..depth {
                field(7, 3, &mut group);
            }
            field(8, 0, &mut group);
            group.push(1);
            for _ in 0..depth {
                field(7, 4, &mut group);
            }
            assert_agree(&group);
            assert_agree(&request_of(&group));
            let mut series = Vec::new();
            len_field(1, &group, &mut series);
            assert_agree(&request_of(&series));
        }
        let mut group = Vec::new();
        field(7, 3, &mut group);
        field(6, 4, &mut group);
        assert_agree(&group);
        assert_agree(&request_of(&group));
        // A length past the end, at each level.
        assert_agree(&[0x0a, 0x05, 0x0a]);
        assert_agree(&request_of(&[0x0a, 0x05, 0x0a]));
        assert_agree(&request_of(&[0x12, 0x03, 0x09]));
        assert_agree(&[0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    }

    fn arb_string() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            proptest::string::string_regex("[a-z_]{0,6}").unwrap_or_else(|e| panic!("{e}")),
            proptest::arbitrary::any::<String>(),
        ]
    }

    fn arb_request() -> impl proptest::strategy::Strategy<Value = WriteRequest> {
        use proptest::strategy::Strategy;
        let label = (arb_string(), arb_string()).prop_map(|(n, v)| Label::new(n, v));
        let sample = (proptest::num::f64::ANY, proptest::num::i64::ANY)
            .prop_map(|(value, timestamp)| Sample { value, timestamp });
        let series = (
            proptest::collection::vec(label, 0..5),
            proptest::collection::vec(sample, 0..4),
        )
            .prop_map(|(labels, samples)| TimeSeries { labels, samples });
        proptest::collection::vec(series, 0..5).prop_map(|timeseries| WriteRequest { timeseries })
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_write_request(&body, 4096);
            let _ = decode_write_request_uncompressed(&body);
        }

        #[test]
        fn never_panics_on_compressed_junk(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
            let _ = decode_write_request(&body, 4096);
        }

        #[test]
        fn borrowed_agrees_with_prost(
            req in arb_request(),
            cut in proptest::num::usize::ANY,
            at in proptest::num::usize::ANY,
            byte in proptest::num::u8::ANY,
        ) {
            let raw = req.encode_to_vec();
            assert_agree(&raw);
            let b = WriteRequestRef::decode(&raw).map(|r| r.to_owned_request().encode_to_vec());
            proptest::prop_assert_eq!(b, Ok(raw.clone()));
            if !raw.is_empty() {
                assert_agree(&raw[..cut % raw.len()]);
                let mut garbled = raw.clone();
                garbled[at % raw.len()] = byte;
                assert_agree(&garbled);
            }
        }

        #[test]
        fn borrowed_agrees_with_prost_on_junk(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            assert_agree(&raw);
        }
    }
}
