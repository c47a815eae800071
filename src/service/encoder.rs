//! The query side of the model as the service uses it: a memo of recent
//! query vectors in front of a batcher that folds concurrent requests into
//! one model pass.
//!
//! Why batch: one short query is a pass of ~15 tokens, and such a pass costs
//! almost as much as one of 100 tokens because it is bound by reading every
//! weight once. Under concurrent load the passes used to queue one behind the
//! other behind a lock; now whoever finds the model idle takes every request
//! waiting at that moment and runs them together. Nothing waits for a batch
//! to fill: a lone request runs at once, exactly as before.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::embed::{EmbedError, Embedder};
use crate::search::QueryEncoder;

/// Which side of the model a text is encoded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextSide {
    /// A search question (the model's query prefix).
    Query,
    /// Pasted passage-like text, comparable with stored passages.
    Passage,
}

/// Runs one model pass over texts of one side, returning one vector per text.
type PassFn = dyn Fn(TextSide, &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> + Send + Sync;

/// Most texts one combined pass takes (the embedder still splits a pass by
/// its token budget; this bounds how long the first request in it waits).
const MAX_TEXTS_PER_PASS: usize = 32;

/// Folds concurrent encode requests into shared model passes.
pub struct Batcher {
    pass: Box<PassFn>,
    state: Mutex<BatchState>,
    finished: Condvar,
}

#[derive(Default)]
struct BatchState {
    next_id: u64,
    queue: VecDeque<Job>,
    /// A pass is running (its runner holds no lock meanwhile).
    running: bool,
    results: HashMap<u64, Result<Vec<f32>, EmbedError>>,
    passes: u64,
    texts: u64,
}

struct Job {
    id: u64,
    side: TextSide,
    text: String,
}

impl Batcher {
    pub fn new(
        pass: impl Fn(TextSide, &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> + Send + Sync + 'static,
    ) -> Self {
        Batcher {
            pass: Box::new(pass),
            state: Mutex::new(BatchState::default()),
            finished: Condvar::new(),
        }
    }

    /// A batcher over the embedder's `embed_queries` / `embed_passages`.
    pub fn over(embedder: Arc<Embedder>) -> Self {
        Self::new(move |side, texts| match side {
            TextSide::Query => embedder.embed_queries(texts),
            TextSide::Passage => embedder.embed_passages(texts),
        })
    }

    /// (model passes run, texts encoded by them) so far.
    pub fn counts(&self) -> (u64, u64) {
        let st = self.lock();
        (st.passes, st.texts)
    }

    fn lock(&self) -> MutexGuard<'_, BatchState> {
        // The state is consistent between statements (a panicking pass is
        // caught before it can leave `running` set), so a poisoned lock is
        // still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Encodes one text, sharing a pass with whatever else is waiting.
    pub fn encode(&self, side: TextSide, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.queue.push_back(Job {
            id,
            side,
            text: text.to_string(),
        });
        loop {
            if let Some(result) = st.results.remove(&id) {
                return result;
            }
            if st.running {
                st = self
                    .finished
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // The model is idle: run a pass for the oldest waiting jobs (ours
            // among them unless more than a pass's worth arrived before it).
            st.running = true;
            let n = st.queue.len().min(MAX_TEXTS_PER_PASS);
            let jobs: Vec<Job> = st.queue.drain(..n).collect();
            drop(st);
            let outcome = catch_unwind(AssertUnwindSafe(|| self.run(&jobs)));
            st = self.lock();
            st.running = false;
            st.passes += 1;
            st.texts += jobs.len() as u64;
            match outcome {
                Ok(results) => st.results.extend(results),
                Err(_) => {
                    for job in &jobs {
                        st.results
                            .insert(job.id, Err(compute_error("the encoder panicked")));
                    }
                }
            }
            self.finished.notify_all();
        }
    }

    /// One pass per side present; if a combined pass fails, each text is
    /// retried alone so one bad text does not fail its neighbours.
    fn run(&self, jobs: &[Job]) -> Vec<(u64, Result<Vec<f32>, EmbedError>)> {
        let mut out = Vec::with_capacity(jobs.len());
        for side in [TextSide::Query, TextSide::Passage] {
            let mine: Vec<&Job> = jobs.iter().filter(|j| j.side == side).collect();
            if mine.is_empty() {
                continue;
            }
            let texts: Vec<&str> = mine.iter().map(|j| j.text.as_str()).collect();
            match (self.pass)(side, &texts) {
                Ok(vectors) if vectors.len() == mine.len() => {
                    out.extend(mine.iter().map(|j| j.id).zip(vectors.into_iter().map(Ok)));
                }
                Ok(vectors) => {
                    let msg = format!(
                        "the encoder returned {} vectors for {} texts",
                        vectors.len(),
                        mine.len()
                    );
                    out.extend(mine.iter().map(|j| (j.id, Err(compute_error(&msg)))));
                }
                Err(e) if mine.len() == 1 => out.push((mine[0].id, Err(e))),
                Err(_) => {
                    for job in mine {
                        let one = (self.pass)(side, &[job.text.as_str()]).and_then(|mut v| {
                            v.pop()
                                .ok_or_else(|| compute_error("the encoder returned nothing"))
                        });
                        out.push((job.id, one));
                    }
                }
            }
        }
        out
    }
}

fn compute_error(msg: &str) -> EmbedError {
    EmbedError::Compute(candle_core::Error::Msg(msg.to_string()))
}

/// The embedder with a bounded memo of recent query (and pasted-text)
/// vectors: embedding a query costs tens of milliseconds of CPU, and
/// researchers repeat queries (paging, changing filters, switching modes),
/// so a repeated query skips the model entirely. Oldest entries go first.
/// Misses go through a [`Batcher`].
pub struct CachedEncoder {
    batcher: Batcher,
    /// Most vectors the memo keeps (0 = no memo).
    capacity: usize,
    memo: Mutex<Memo>,
}

#[derive(Default)]
struct Memo {
    vectors: HashMap<(TextSide, String), Arc<Vec<f32>>>,
    order: VecDeque<(TextSide, String)>,
    hits: u64,
    misses: u64,
}

/// Texts longer than this (pasted passages) are not memoised: they rarely repeat.
const MEMO_MAX_CHARS: usize = 256;

impl CachedEncoder {
    pub fn new(embedder: Arc<Embedder>, capacity: usize) -> Self {
        Self::with_batcher(Batcher::over(embedder), capacity)
    }

    pub fn with_batcher(batcher: Batcher, capacity: usize) -> Self {
        CachedEncoder {
            batcher,
            capacity,
            memo: Mutex::new(Memo::default()),
        }
    }

    /// (hits, misses) of the memo so far.
    pub fn counts(&self) -> (u64, u64) {
        self.memo
            .lock()
            .map(|m| (m.hits, m.misses))
            .unwrap_or_default()
    }

    /// (model passes, texts encoded by them) so far: texts / passes is the
    /// mean batch the concurrent load produced.
    pub fn batch_counts(&self) -> (u64, u64) {
        self.batcher.counts()
    }

    fn get_or_embed(&self, side: TextSide, text: &str) -> Result<Vec<f32>, EmbedError> {
        let memoise = self.capacity > 0 && text.chars().count() <= MEMO_MAX_CHARS;
        if !memoise {
            return self.batcher.encode(side, text);
        }
        let key = (side, text.to_string());
        if let Ok(mut m) = self.memo.lock() {
            if let Some(v) = m.vectors.get(&key).cloned() {
                m.hits += 1;
                return Ok(v.as_ref().clone());
            }
            m.misses += 1;
        }
        // The model runs outside the memo's lock: hits are answered meanwhile.
        let v = self.batcher.encode(side, text)?;
        if let Ok(mut m) = self.memo.lock() {
            if !m.vectors.contains_key(&key) {
                while m.vectors.len() >= self.capacity {
                    match m.order.pop_front() {
                        Some(old) => {
                            m.vectors.remove(&old);
                        }
                        None => break,
                    }
                }
                m.order.push_back(key.clone());
                m.vectors.insert(key, Arc::new(v.clone()));
            }
        }
        Ok(v)
    }
}

impl QueryEncoder for CachedEncoder {
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.get_or_embed(TextSide::Query, text)
    }

    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.get_or_embed(TextSide::Passage, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    /// A pass that encodes a text as [side, length, first char] and is slow
    /// enough that concurrent callers pile up behind it.
    fn slow_pass(
        sizes: Arc<Mutex<Vec<usize>>>,
    ) -> impl Fn(TextSide, &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> + Send + Sync {
        move |side, texts| {
            sizes.lock().unwrap().push(texts.len());
            std::thread::sleep(Duration::from_millis(30));
            if texts.iter().any(|t| t.contains("bad")) {
                return Err(compute_error("bad text"));
            }
            Ok(texts
                .iter()
                .map(|t| {
                    vec![
                        (side == TextSide::Query) as u8 as f32,
                        t.chars().count() as f32,
                        t.chars().next().map_or(0.0, |c| c as u32 as f32),
                    ]
                })
                .collect())
        }
    }

    #[test]
    fn concurrent_requests_share_passes_and_each_gets_its_own_vector() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let batcher = Arc::new(Batcher::new(slow_pass(Arc::clone(&sizes))));
        let n = 12;
        let start = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let b = Arc::clone(&batcher);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    let side = if i % 3 == 0 {
                        TextSide::Passage
                    } else {
                        TextSide::Query
                    };
                    let text = format!("{}{}", char::from(b'a' + i as u8), "x".repeat(i));
                    (i, side, b.encode(side, &text).unwrap())
                })
            })
            .collect();
        for h in handles {
            let (i, side, v) = h.join().unwrap();
            assert_eq!(v[0], (side == TextSide::Query) as u8 as f32, "side of {i}");
            assert_eq!(v[1], (i + 1) as f32, "length of {i}");
            assert_eq!(v[2], (b'a' + i as u8) as f32, "text of {i}");
        }
        let (passes, texts) = batcher.counts();
        assert_eq!(texts, n as u64);
        // Twelve callers released together cannot all have waited for
        // passes of one: while the first pass sleeps the rest queue up.
        assert!(passes < n as u64, "{passes} passes for {n} texts");
        assert!(sizes.lock().unwrap().iter().any(|&s| s > 1));
    }

    #[test]
    fn a_failing_text_fails_alone() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let batcher = Arc::new(Batcher::new(slow_pass(Arc::clone(&sizes))));
        let start = Arc::new(Barrier::new(6));
        let handles: Vec<_> = ["ok1", "bad", "ok2", "ok3", "ok4", "ok5"]
            .into_iter()
            .map(|t| {
                let b = Arc::clone(&batcher);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    (t, b.encode(TextSide::Query, t))
                })
            })
            .collect();
        for h in handles {
            let (t, r) = h.join().unwrap();
            assert_eq!(r.is_err(), t == "bad", "{t}: {:?}", r.map(|_| ()));
        }
    }

    #[test]
    fn a_panicking_pass_becomes_an_error_and_the_batcher_keeps_working() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let batcher = Batcher::new(move |_, texts| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first pass panics");
            }
            Ok(texts.iter().map(|_| vec![1.0]).collect())
        });
        assert!(batcher.encode(TextSide::Query, "one").is_err());
        assert_eq!(batcher.encode(TextSide::Query, "two").unwrap(), vec![1.0]);
    }

    #[test]
    fn the_memo_answers_repeats_without_the_model() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let enc = CachedEncoder::with_batcher(Batcher::new(slow_pass(Arc::clone(&sizes))), 2);
        let a = enc.encode_query("河长制").unwrap();
        assert_eq!(enc.encode_query("河长制").unwrap(), a);
        assert_ne!(
            enc.encode_passage("河长制").unwrap(),
            a,
            "sides are kept apart"
        );
        assert_eq!(enc.counts(), (1, 2));
        enc.encode_query("老年食堂").unwrap(); // evicts the oldest
        enc.encode_query("河长制").unwrap();
        assert_eq!(enc.counts(), (1, 4));
        assert_eq!(enc.batch_counts().1, 4);
    }
}
