//! Prometheus remote-write 1.0: a snappy-compressed (block format, not framed) protobuf
//! `WriteRequest`. The message structs are the project's own, holding only the fields nines
//! reads; prost skips the rest (metadata, exemplars, native histograms) as unknown fields.

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
    let size = snap::raw::decompress_len(body)
        .map_err(|e| RemoteWriteError::BadSnappy(e.to_string().to_lowercase()))?;
    if size > max_decompressed {
        return Err(RemoteWriteError::TooLarge {
            size,
            limit: max_decompressed,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::BadSnappy(e.to_string().to_lowercase()))?;
    decode_write_request_uncompressed(&raw)
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
    }
}
