//! The hot path: bytes of whole lines → per-(SLI, bucket) good/total counters.
//!
//! Results are additive: split a buffer at line boundaries, process the pieces anywhere (other
//! threads, other replicas) and [`ChunkResult::merge`] them in order; the outcome equals
//! processing the whole buffer at once, rejection line numbers included.

use std::collections::{BTreeMap, HashMap};

use crate::combined::CombinedParser;
use crate::error::ParseError;
use crate::json::{JsonFields, JsonParser};
use crate::matcher::{LatencyBound, SliMatcher, StatusSet};
use crate::pathcache::PathCache;
use crate::record::RawRecord;

/// How many rejections a result keeps (the caller shows these with their line numbers).
pub const MAX_REJECTIONS: usize = 10;

/// Distinct paths whose regex results are cached before the cache is cleared.
const PATH_CACHE_MAX_ENTRIES: usize = 100_000;
/// Bytes of cached path keys before the cache is cleared (bounds memory with long paths).
const PATH_CACHE_MAX_BYTES: usize = 16 << 20;
/// Longer paths are matched directly rather than cached.
const PATH_CACHE_MAX_KEY: usize = 512;
/// Buckets one chunk keeps in its dense array; outliers go to a map.
const DENSE_MAX_BUCKETS: i64 = 4096;

/// The log line format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// nginx/Apache combined or common, with an optional trailing `$request_time`.
    Combined,
    /// One JSON object per line.
    Json(JsonFields),
}

impl LogFormat {
    /// Guesses from a sample of the input: JSON when the first non-blank line starts with `{`.
    pub fn detect(sample: &[u8]) -> LogFormat {
        match sample.iter().find(|c| !c.is_ascii_whitespace()) {
            Some(b'{') => LogFormat::Json(JsonFields::default()),
            _ => LogFormat::Combined,
        }
    }
}

/// Good and total events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub good: u64,
    pub total: u64,
}

/// A rejected line: its 0-based index within the processed data, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub reason: ParseError,
}

/// What processing some whole lines produced. Additive: see [`ChunkResult::merge`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkResult {
    /// (SLI index as given to the classifier, bucket start in unix seconds) → counts.
    /// Only buckets with at least one selected record appear.
    pub counts: BTreeMap<(usize, i64), Counts>,
    /// Lines seen, including rejected and empty ones.
    pub lines: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// The first [`MAX_REJECTIONS`] rejections, in line order.
    pub rejections: Vec<Rejection>,
    /// Per SLI index: records the SLI selected whose good condition needs a latency the line
    /// did not have. They are in neither good nor total.
    pub skipped_no_latency: BTreeMap<usize, u64>,
}

impl ChunkResult {
    /// Appends the result of the data that directly follows this one. Counts simply add;
    /// `later`'s rejection line numbers are shifted by `self.lines`, so merging chunk results
    /// in file order gives file-relative line numbers.
    pub fn merge(&mut self, later: ChunkResult) {
        for (k, c) in later.counts {
            let e = self.counts.entry(k).or_default();
            e.good += c.good;
            e.total += c.total;
        }
        for (k, n) in later.skipped_no_latency {
            *self.skipped_no_latency.entry(k).or_default() += n;
        }
        let room = MAX_REJECTIONS.saturating_sub(self.rejections.len());
        self.rejections
            .extend(later.rejections.into_iter().take(room).map(|r| Rejection {
                line: r.line + self.lines,
                reason: r.reason,
            }));
        self.lines += later.lines;
        self.accepted += later.accepted;
        self.rejected += later.rejected;
    }
}

/// A status set as a bitmap over 0..1024, with the set itself for anything above.
#[derive(Debug, Clone)]
struct StatusBits {
    bits: [u64; 16],
    set: StatusSet,
}

impl StatusBits {
    fn new(set: &StatusSet) -> Self {
        let mut bits = [0u64; 16];
        for code in 0..1024u16 {
            if set.contains(code) {
                bits[usize::from(code / 64)] |= 1 << (code % 64);
            }
        }
        StatusBits {
            bits,
            set: set.clone(),
        }
    }

    #[inline]
    fn contains(&self, code: u16) -> bool {
        match self.bits.get(usize::from(code / 64)) {
            Some(w) => w >> (code % 64) & 1 == 1,
            None => self.set.contains(code),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledSli {
    index: usize,
    /// Indexed by method id (see [`Classifier::methods`]); `None` when any method matches.
    methods: Option<Box<[bool]>>,
    host: Option<String>,
    total_status: Option<StatusBits>,
    /// Index into `Classifier::regexes`.
    path: Option<usize>,
    good_status: Option<StatusBits>,
    latency: Option<LatencyBound>,
}

/// SLI matchers compiled for the hot path. Immutable and shareable across threads; the
/// per-thread caches live in [`Worker`].
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    slis: Vec<CompiledSli>,
    /// Distinct path regexes (SLIs often share one).
    regexes: Vec<regex::Regex>,
    /// Distinct methods the SLIs name (ASCII case-insensitively). A line's method id is its
    /// index here, or `methods.len()` for any other method.
    methods: Vec<Box<[u8]>>,
}

impl Classifier {
    /// Compiles `(sli index, matcher)` pairs. The index is what results are keyed by.
    pub fn new(slis: impl IntoIterator<Item = (usize, SliMatcher)>) -> Classifier {
        let mut regexes: Vec<regex::Regex> = Vec::new();
        let slis: Vec<(usize, SliMatcher)> = slis.into_iter().collect();
        let mut methods: Vec<Box<[u8]>> = Vec::new();
        for (_, m) in &slis {
            for name in &m.total.methods {
                if !methods
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(name.as_bytes()))
                {
                    methods.push(name.as_bytes().into());
                }
            }
        }
        let slis = slis
            .into_iter()
            .map(|(index, m)| {
                let path = m.total.path.map(|re| {
                    match regexes.iter().position(|r| r.as_str() == re.as_str()) {
                        Some(i) => i,
                        None => {
                            regexes.push(re);
                            regexes.len() - 1
                        }
                    }
                });
                let sli_methods = (!m.total.methods.is_empty()).then(|| {
                    let mut ok = vec![false; methods.len() + 1];
                    for (id, known) in methods.iter().enumerate() {
                        if m.total
                            .methods
                            .iter()
                            .any(|n| known.eq_ignore_ascii_case(n.as_bytes()))
                        {
                            ok[id] = true;
                        }
                    }
                    ok.into_boxed_slice()
                });
                CompiledSli {
                    index,
                    methods: sli_methods,
                    host: m.total.host,
                    total_status: m.total.status.as_ref().map(StatusBits::new),
                    path,
                    good_status: m.good.status.as_ref().map(StatusBits::new),
                    latency: m.good.latency,
                }
            })
            .collect();
        Classifier {
            slis,
            regexes,
            methods,
        }
    }

    /// The method id of `method` (see [`Classifier::methods`]).
    #[inline]
    fn method_id(&self, method: &[u8]) -> usize {
        self.methods
            .iter()
            .position(|k| k.eq_ignore_ascii_case(method))
            .unwrap_or(self.methods.len())
    }

    /// Words per cached path mask.
    fn mask_words(&self) -> usize {
        self.regexes.len().div_ceil(64)
    }
}

enum LineParser {
    Combined(Box<CombinedParser>),
    Json(Box<JsonParser>),
}

impl LineParser {
    /// Parses the line starting at `buf[0]`; also returns where it ends (its `\n`, or
    /// `buf.len()`).
    #[inline]
    fn parse_next<'a>(&'a mut self, buf: &'a [u8]) -> (Result<RawRecord<'a>, ParseError>, usize) {
        match self {
            LineParser::Combined(p) => p.parse_next(buf),
            LineParser::Json(p) => {
                let end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
                let line = buf.get(..end).unwrap_or(buf);
                (p.parse(line).map(RawRecord::from), end)
            }
        }
    }
}

/// Remembers the last line's method and its id: consecutive lines mostly repeat a few.
struct MethodCache {
    /// The method's bytes, zero-padded (methods have no zero bytes); 0 when empty.
    key: u64,
    id: usize,
}

impl MethodCache {
    #[inline]
    fn id(&mut self, classifier: &Classifier, method: &[u8]) -> usize {
        if classifier.methods.is_empty() {
            return 0;
        }
        let Some(key) = method_key(method) else {
            return classifier.method_id(method);
        };
        if key != self.key || key == 0 {
            self.id = classifier.method_id(method);
            self.key = key;
        }
        self.id
    }
}

/// Up to 8 bytes without a zero byte, as one integer (`None` otherwise).
#[inline]
fn method_key(m: &[u8]) -> Option<u64> {
    if m.len() > 8 {
        return None;
    }
    let mut k = 0u64;
    for (i, &c) in m.iter().enumerate() {
        if c == 0 {
            return None;
        }
        k |= u64::from(c) << (8 * i);
    }
    Some(k)
}

/// Per-thread state: parser caches (timestamp) and the path → regex-results cache. Reuse one
/// per thread across chunks so the caches stay warm.
pub struct Worker<'c> {
    classifier: &'c Classifier,
    parser: LineParser,
    paths: PathCache,
    /// Regex results, `mask_words` per cached path; the map stores the offset.
    masks: Vec<u64>,
    /// The current line's mask when it is not cached.
    line_mask: Vec<u64>,
}

impl<'c> Worker<'c> {
    pub fn new(format: &LogFormat, classifier: &'c Classifier) -> Worker<'c> {
        let parser = match format {
            LogFormat::Combined => LineParser::Combined(Box::new(CombinedParser::new())),
            LogFormat::Json(f) => LineParser::Json(Box::new(JsonParser::new(f.clone()))),
        };
        Worker {
            classifier,
            parser,
            paths: PathCache::new(),
            masks: Vec::new(),
            line_mask: vec![0; classifier.mask_words()],
        }
    }

    /// Processes whole lines (`\n`-separated; a final line without `\n` counts too).
    /// `bucket_seconds` of 0 is treated as 1.
    pub fn process(&mut self, chunk: &[u8], bucket_seconds: u32) -> ChunkResult {
        let bucket = i64::from(bucket_seconds.max(1));
        let classifier = self.classifier;
        let n = classifier.slis.len();
        let words = classifier.mask_words();
        let mut agg = Agg::new(n);
        let mut skipped = vec![0u64; n];
        let mut res = ChunkResult::default();

        let Worker {
            parser,
            paths,
            masks,
            line_mask,
            ..
        } = self;

        let mut methods = MethodCache { key: 0, id: 0 };
        // Timestamps repeat from line to line: skip the division when they do.
        let mut last_time = 0i64;
        let mut last_bucket = last_time.div_euclid(bucket);

        let mut start = 0usize;
        let mut line_no = 0u64;
        while let Some(rest) = chunk.get(start..).filter(|r| !r.is_empty()) {
            let (rec, end) = parser.parse_next(rest);
            start += end + 1;
            let this_line = line_no;
            line_no += 1;

            let rec = match rec {
                Ok(r) => r,
                Err(reason) => {
                    res.rejected += 1;
                    if res.rejections.len() < MAX_REJECTIONS {
                        res.rejections.push(Rejection {
                            line: this_line,
                            reason,
                        });
                    }
                    continue;
                }
            };
            res.accepted += 1;
            if rec.time != last_time {
                last_time = rec.time;
                last_bucket = rec.time.div_euclid(bucket);
            }
            let b = last_bucket;
            let method_id = methods.id(classifier, rec.method);

            let mask: &[u64] = if words == 0 {
                &[]
            } else {
                path_mask(classifier, paths, masks, line_mask, rec.path)
            };

            if n == 0 {
                continue;
            }
            let row = agg.row(b);
            for (k, sli) in classifier.slis.iter().enumerate() {
                if let Some(ri) = sli.path {
                    if mask.get(ri / 64).is_none_or(|w| w >> (ri % 64) & 1 == 0) {
                        continue;
                    }
                }
                if let Some(ok) = &sli.methods {
                    if !ok.get(method_id).copied().unwrap_or(false) {
                        continue;
                    }
                }
                if let Some(h) = &sli.host {
                    if !rec
                        .host
                        .is_some_and(|rh| rh.eq_ignore_ascii_case(h.as_bytes()))
                    {
                        continue;
                    }
                }
                if let Some(s) = &sli.total_status {
                    if !s.contains(rec.status) {
                        continue;
                    }
                }
                let latency_ok = match (&sli.latency, rec.request_time) {
                    (None, _) => true,
                    (Some(l), Some(t)) => l.holds(t),
                    (Some(_), None) => {
                        if let Some(n) = skipped.get_mut(k) {
                            *n += 1;
                        }
                        continue;
                    }
                };
                let good = latency_ok
                    & sli
                        .good_status
                        .as_ref()
                        .is_none_or(|s| s.contains(rec.status));
                match row {
                    Some(r) => {
                        if let Some(c) = agg.cells.get_mut(r + k) {
                            c.total += 1;
                            c.good += u64::from(good);
                        }
                    }
                    None => agg.add_sparse(b, k, good),
                }
            }
        }
        res.lines = line_no;
        agg.finish(&classifier.slis, bucket, &mut res.counts);
        for (k, n) in skipped.into_iter().enumerate() {
            if n > 0 {
                if let Some(sli) = classifier.slis.get(k) {
                    *res.skipped_no_latency.entry(sli.index).or_default() += n;
                }
            }
        }
        res
    }
}

/// Regex results for `path`, from the cache or computed (and cached when small enough).
#[inline]
fn path_mask<'m>(
    classifier: &Classifier,
    paths: &mut PathCache,
    masks: &'m mut Vec<u64>,
    line_mask: &'m mut [u64],
    path: &[u8],
) -> &'m [u64] {
    let words = line_mask.len();
    if let Some(off) = paths.get(path) {
        let off = off as usize;
        return masks.get(off..off + words).unwrap_or(&[]);
    }
    line_mask.fill(0);
    // Record paths are valid UTF-8 by construction; were one not, it would match nothing.
    if let Ok(text) = std::str::from_utf8(path) {
        for (i, re) in classifier.regexes.iter().enumerate() {
            if re.is_match(text) {
                line_mask[i / 64] |= 1 << (i % 64);
            }
        }
    }
    if path.len() > PATH_CACHE_MAX_KEY {
        return line_mask;
    }
    if paths.len() >= PATH_CACHE_MAX_ENTRIES || paths.key_bytes() >= PATH_CACHE_MAX_BYTES {
        paths.clear();
        masks.clear();
    }
    let Ok(off) = u32::try_from(masks.len()) else {
        return line_mask;
    };
    masks.extend_from_slice(line_mask);
    paths.insert(path, off);
    line_mask
}

/// Counters for one chunk: a dense array over consecutive buckets (logs are nearly in time
/// order), with a map for the rare far-off timestamp.
struct Agg {
    n: usize,
    base: i64,
    /// `cells.len() / n`, kept to avoid a division per increment.
    buckets: i64,
    cells: Vec<Counts>,
    sparse: HashMap<(usize, i64), Counts>,
}

impl Agg {
    fn new(n: usize) -> Agg {
        Agg {
            n,
            base: 0,
            buckets: 0,
            cells: Vec::new(),
            sparse: HashMap::new(),
        }
    }

    /// Start in `cells` of bucket `b`'s row, growing the dense array when `b` is near it;
    /// `None` when `b` belongs in `sparse`.
    #[inline]
    fn row(&mut self, b: i64) -> Option<usize> {
        if self.cells.is_empty() {
            self.base = b;
            self.cells.resize(self.n, Counts::default());
            self.buckets = 1;
        }
        let buckets = self.buckets;
        let rel = b - self.base;
        if (0..buckets).contains(&rel) {
            Some(rel as usize * self.n)
        } else if rel >= buckets && rel < DENSE_MAX_BUCKETS {
            self.cells
                .resize((rel as usize + 1) * self.n, Counts::default());
            self.buckets = rel + 1;
            Some(rel as usize * self.n)
        } else if rel < 0 && buckets - rel <= DENSE_MAX_BUCKETS {
            let shift = (-rel) as usize * self.n;
            self.cells
                .splice(0..0, std::iter::repeat_n(Counts::default(), shift));
            self.base = b;
            self.buckets = buckets - rel;
            Some(0)
        } else {
            None
        }
    }

    /// Counts one selected record of SLI `k` in far-off bucket `b`.
    fn add_sparse(&mut self, b: i64, k: usize, good: bool) {
        let c = self.sparse.entry((k, b)).or_default();
        c.total += 1;
        c.good += u64::from(good);
    }

    fn finish(self, slis: &[CompiledSli], bucket: i64, out: &mut BTreeMap<(usize, i64), Counts>) {
        let mut put = |k: usize, b: i64, c: Counts| {
            if c.total == 0 {
                return;
            }
            if let Some(sli) = slis.get(k) {
                let e = out.entry((sli.index, b * bucket)).or_default();
                e.good += c.good;
                e.total += c.total;
            }
        };
        if self.n > 0 {
            for (i, row) in self.cells.chunks(self.n).enumerate() {
                for (k, c) in row.iter().enumerate() {
                    put(k, self.base + i as i64, *c);
                }
            }
        }
        for ((k, b), c) in self.sparse {
            put(k, b, c);
        }
    }
}

/// Processes `chunk` with fresh caches. Prefer one [`Worker`] per thread for many chunks.
pub fn process_chunk(
    chunk: &[u8],
    format: &LogFormat,
    classifier: &Classifier,
    bucket_seconds: u32,
) -> ChunkResult {
    Worker::new(format, classifier).process(chunk, bucket_seconds)
}

/// Length of the longest prefix of `buf` that ends at a line boundary (just after its last
/// `\n`); 0 when there is none. Process `buf[..n]`, keep `buf[n..]` for the next read.
pub fn split_at_line_boundary(buf: &[u8]) -> usize {
    memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1)
}

/// Splits `buf` into pieces of about `target` bytes, each ending just after a `\n` (the last
/// may end without one). A line longer than `target` makes one longer piece.
pub fn line_chunks(buf: &[u8], target: usize) -> impl Iterator<Item = &[u8]> {
    let target = target.max(1);
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = if rest.len() <= target {
            rest.len()
        } else {
            match split_at_line_boundary(&rest[..target]) {
                0 => memchr::memchr(b'\n', &rest[target..]).map_or(rest.len(), |i| target + i + 1),
                n => n,
            }
        };
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// Processes `buf` on `threads` threads in pieces of about `chunk_size` bytes and merges the
/// results in order. Pure CPU work: call it from a blocking context.
pub fn process_parallel(
    buf: &[u8],
    format: &LogFormat,
    classifier: &Classifier,
    bucket_seconds: u32,
    threads: usize,
    chunk_size: usize,
) -> ChunkResult {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let chunks: Vec<&[u8]> = line_chunks(buf, chunk_size).collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, ChunkResult)>> = Mutex::new(Vec::with_capacity(chunks.len()));
    let threads = threads.clamp(1, chunks.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut worker = Worker::new(format, classifier);
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    mine.push((i, worker.process(chunk, bucket_seconds)));
                }
                // A poisoned lock only means another worker panicked; keep its data anyway.
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_unstable_by_key(|(i, _)| *i);
    let mut total = ChunkResult::default();
    for (_, r) in results {
        total.merge(r);
    }
    total
}
