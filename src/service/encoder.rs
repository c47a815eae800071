//! The query side of the model as the service uses it: a memo of recent
//! query vectors in front of a batcher that shares the model between
//! concurrent requests.
//!
//! With the integer encoder a pass costs about the same per text whether it
//! holds one question or eight (a 23-token question: 10.0 ms alone and
//! 9.2 ms per text in a pass of eight, on one thread), so folding many
//! requests into one pass buys little, and every request in a pass waits
//! for the whole of it. Whoever finds the model idle runs the oldest waiting
//! questions (at most [`MAX_TEXTS_PER_SHORT_PASS`]) spread over the cores;
//! nothing waits for a batch to fill. Under load, a request that arrives
//! while a pass runs does not wait for it either: up to one more pass per
//! spare core starts beside it, on one thread (see `Batcher::run_lane`).

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::embed::{EmbedError, Embedder};
use crate::search::{QueryEncoder, MAX_NEGATIVES, MAX_QUERY_CHARS};

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

/// Most questions one short pass takes, whether it spreads over the cores
/// or runs beside another on one. A pass answers all its texts at its end,
/// so a large pass holds early arrivals for the late ones' work; small
/// passes in arrival order keep the wait of the last in line short.
/// Measured with 8 clients sending fresh questions (`COLD=1
/// scripts/bench-load.sh 15`, four runs each, alternated): p99 85 ms and
/// 179 questions/s with passes of at most 2, against 103 ms and 172/s when
/// the spread pass took up to 32 (medians).
const MAX_TEXTS_PER_SHORT_PASS: usize = 2;

/// Texts up to this many characters (questions, keywords) go to the short
/// lane; longer ones (pasted passages) to the long lane. A question is rarely
/// longer than a sentence, and a pass over 128 characters already costs
/// several short passes.
pub const SHORT_TEXT_CHARS: usize = 128;

/// The limits on model work the service admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Most characters one request may have encoded (for find-similar: its
    /// text plus its negative examples).
    pub max_request_chars: usize,
    /// Most characters of long text the requests being served may have
    /// reserved together; a request that would go over is refused at once
    /// rather than queued behind the others.
    pub max_inflight_chars: usize,
    /// Longest a request's model work may take, waiting included; a text
    /// still waiting for the model when it passes is refused.
    pub deadline: Duration,
    /// Most short texts waiting for the model before new ones are refused.
    pub max_waiting_short: usize,
}

impl Default for Admission {
    /// One find-similar request as large as the API's per-field limits allow
    /// (a 2,000-character text and ten 2,000-character negatives, ~9 s of
    /// model time on two quiet cores) is admitted, but only one such at a
    /// time. Its texts run on the lowest-priority threads, so on a busy
    /// machine it takes several times longer: the deadline leaves room for
    /// that (at load 3 one such request needed ~16 s) rather than failing a
    /// request after its work is mostly done.
    fn default() -> Self {
        // 22,000 characters.
        let largest = (1 + MAX_NEGATIVES) * MAX_QUERY_CHARS;
        Admission {
            max_request_chars: largest,
            max_inflight_chars: largest,
            deadline: Duration::from_secs(60),
            max_waiting_short: 256,
        }
    }
}

/// What admission control has done so far (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionCounts {
    /// Short texts waiting for the model now.
    pub waiting_short: usize,
    /// Long texts waiting for the model now.
    pub waiting_long: usize,
    /// Characters of long text reserved by the requests being served now.
    pub inflight_chars: usize,
    /// Texts and requests refused because the model was saturated.
    pub rejected: u64,
    /// Texts refused because their request's deadline passed while waiting.
    pub expired: u64,
}

/// Folds concurrent encode requests into shared model passes, in two lanes:
/// short texts are never queued behind long ones, and long texts run on
/// threads the OS schedules after the short lane's.
pub struct Batcher {
    pass: Box<PassFn>,
    state: Mutex<BatchState>,
    finished: Condvar,
    /// Where long-lane passes run (the caller's pool when `None`).
    long_pool: Option<rayon::ThreadPool>,
    /// One-thread pools for short-lane passes that start while another
    /// short pass is running (see `run_lane`).
    solo_pools: Vec<rayon::ThreadPool>,
}

#[derive(Default)]
struct BatchState {
    next_id: u64,
    lanes: [Lane; 2],
    results: HashMap<u64, Result<Vec<f32>, EmbedError>>,
    passes: u64,
    texts: u64,
    rejected: u64,
    expired: u64,
    max_waiting_short: usize,
}

#[derive(Default)]
struct Lane {
    queue: VecDeque<Job>,
    /// Passes running (their runners hold no lock meanwhile).
    running: usize,
    /// Which of the batcher's one-thread pools are in use.
    solo_busy: Vec<bool>,
}

const SHORT: usize = 0;
const LONG: usize = 1;

struct Job {
    id: u64,
    side: TextSide,
    text: String,
    deadline: Instant,
}

impl Batcher {
    pub fn new(
        pass: impl Fn(TextSide, &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> + Send + Sync + 'static,
    ) -> Self {
        Batcher {
            pass: Box::new(pass),
            state: Mutex::new(BatchState {
                max_waiting_short: Admission::default().max_waiting_short,
                ..BatchState::default()
            }),
            finished: Condvar::new(),
            long_pool: None,
            solo_pools: Vec::new(),
        }
    }

    /// A batcher over the embedder's `embed_queries` / `embed_passages`,
    /// its long lane on a pool of low-priority threads.
    pub fn over(embedder: Arc<Embedder>) -> Self {
        let mut b = Self::new(move |side, texts| match side {
            TextSide::Query => embedder.embed_queries(texts),
            TextSide::Passage => embedder.embed_passages(texts),
        });
        b.long_pool = low_priority_pool();
        // One fewer than the cores: the pass that finds the lane idle
        // already spreads over all of them.
        b.with_solo_pools(rayon::current_num_threads().saturating_sub(1))
    }

    /// Lets up to `n` more short passes run beside a running one, each on
    /// a one-thread pool of its own.
    pub fn with_solo_pools(mut self, n: usize) -> Self {
        self.solo_pools = solo_pools(n);
        self.lock().lanes[SHORT].solo_busy = vec![false; self.solo_pools.len()];
        self
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

    /// Encodes one text, sharing a pass with whatever else is waiting in its
    /// lane, unless the deadline passes first.
    pub fn encode(
        &self,
        side: TextSide,
        text: &str,
        deadline: Instant,
    ) -> Result<Vec<f32>, EmbedError> {
        let lane = if text.chars().count() <= SHORT_TEXT_CHARS {
            SHORT
        } else {
            LONG
        };
        let mut st = self.lock();
        if lane == SHORT && st.lanes[SHORT].queue.len() >= st.max_waiting_short {
            st.rejected += 1;
            return Err(EmbedError::Overloaded(format!(
                "{} questions are already waiting for the model",
                st.lanes[SHORT].queue.len()
            )));
        }
        let id = st.next_id;
        st.next_id += 1;
        st.lanes[lane].queue.push_back(Job {
            id,
            side,
            text: text.to_string(),
            deadline,
        });
        loop {
            if let Some(result) = st.results.remove(&id) {
                return result;
            }
            if st.lanes[lane].running < self.slots(lane) && !st.lanes[lane].queue.is_empty() {
                st = self.run_lane(st, lane);
                continue;
            }
            let now = Instant::now();
            if now < deadline {
                st = self
                    .finished
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            let queue = &mut st.lanes[lane].queue;
            if let Some(at) = queue.iter().position(|j| j.id == id) {
                queue.remove(at);
                st.expired += 1;
                return Err(expired());
            }
            // Ours is in the running pass: its answer is on the way.
            st = self
                .finished
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Passes `lane` may run at once: the short lane one more than it has
    /// one-thread pools, the long lane one.
    fn slots(&self, lane: usize) -> usize {
        if lane == SHORT {
            1 + self.solo_pools.len()
        } else {
            1
        }
    }

    /// Runs one pass of `lane`'s oldest waiting jobs (jobs past their
    /// deadline are answered without the model) and returns the lock.
    fn run_lane<'a>(
        &'a self,
        mut st: MutexGuard<'a, BatchState>,
        lane: usize,
    ) -> MutexGuard<'a, BatchState> {
        let now = Instant::now();
        // A short pass that starts while another is running takes a
        // one-thread pool of its own: under load, passes side by side each
        // on one core waste less than passes one after the other each
        // split over the cores (every split step waits for the slowest
        // worker, and a worker the HTTP threads preempt holds it up).
        // Measured with `COLD=1 scripts/bench-load.sh` (8 clients, fresh
        // questions): 1.18× the questions per second, median of three.
        let solo = if lane == SHORT && st.lanes[lane].running > 0 {
            st.lanes[lane].solo_busy.iter().position(|b| !b)
        } else {
            None
        };
        let most = if lane == SHORT {
            MAX_TEXTS_PER_SHORT_PASS
        } else {
            1
        };
        let mut jobs = Vec::new();
        while jobs.len() < most {
            let Some(job) = st.lanes[lane].queue.pop_front() else {
                break;
            };
            if job.deadline <= now {
                st.expired += 1;
                st.results.insert(job.id, Err(expired()));
            } else {
                jobs.push(job);
            }
        }
        if jobs.is_empty() {
            self.finished.notify_all();
            return st;
        }
        if let Some(i) = solo {
            st.lanes[lane].solo_busy[i] = true;
        }
        st.lanes[lane].running += 1;
        drop(st);
        let outcome = catch_unwind(AssertUnwindSafe(|| match (&self.long_pool, lane, solo) {
            (_, SHORT, Some(i)) => self.solo_pools[i].install(|| self.run(&jobs)),
            (Some(pool), LONG, _) => pool.install(|| self.run(&jobs)),
            _ => self.run(&jobs),
        }));
        let mut st = self.lock();
        st.lanes[lane].running -= 1;
        if let Some(i) = solo {
            st.lanes[lane].solo_busy[i] = false;
        }
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
        st
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

/// `n` one-thread pools for short passes beside a running one.
fn solo_pools(n: usize) -> Vec<rayon::ThreadPool> {
    (0..n)
        .map_while(|i| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(move |_| format!("zhengce-query-{i}"))
                .build()
                .ok()
        })
        .collect()
}

/// A pool as large as rayon's global one whose threads have the lowest CPU
/// priority: while a long text is encoded on it, short questions on the
/// global pool get the cores first. `None` (run on the caller's pool) when
/// it cannot be built.
fn low_priority_pool() -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("zhengce-long-{i}"))
        .start_handler(|_| lower_this_threads_priority())
        .build()
        .ok()
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux a nice value is per thread; 19 is the lowest priority. A
    // failure only leaves the thread at normal priority.
    // SAFETY: plain system calls on the calling thread, no memory passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

fn expired() -> EmbedError {
    EmbedError::Overloaded("the request's deadline for model work passed while it waited".into())
}

fn compute_error(msg: &str) -> EmbedError {
    EmbedError::Compute(candle_core::Error::Msg(msg.to_string()))
}

/// The embedder with a bounded memo of recent query (and pasted-text)
/// vectors: embedding a query costs tens of milliseconds of CPU, and
/// researchers repeat queries (paging, changing filters, switching modes),
/// so a repeated query skips the model entirely. Oldest entries go first.
/// Misses go through a [`Batcher`], under the limits of an [`Admission`].
pub struct CachedEncoder {
    batcher: Batcher,
    /// Most vectors the memo keeps (0 = no memo).
    capacity: usize,
    memo: Mutex<Memo>,
    admission: Mutex<Admission>,
    /// Characters of long text reserved by the requests being served.
    inflight_chars: AtomicUsize,
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
            admission: Mutex::new(Admission::default()),
            inflight_chars: AtomicUsize::new(0),
        }
    }

    /// The limits in force.
    pub fn admission(&self) -> Admission {
        *self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the limits (requests already admitted keep theirs).
    pub fn set_admission(&self, admission: Admission) {
        *self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = admission;
        self.batcher.lock().max_waiting_short = admission.max_waiting_short;
    }

    /// What admission control has done so far.
    pub fn admission_counts(&self) -> AdmissionCounts {
        let st = self.batcher.lock();
        AdmissionCounts {
            waiting_short: st.lanes[SHORT].queue.len(),
            waiting_long: st.lanes[LONG].queue.len(),
            inflight_chars: self.inflight_chars.load(Ordering::SeqCst),
            rejected: st.rejected,
            expired: st.expired,
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

    /// An encoder for one request that will encode `texts`: refused when
    /// they exceed the per-request bound (413-like) or when the long texts
    /// of the requests already being served leave no room (503-like); its
    /// model work must end by the admission deadline from now.
    pub fn for_request(&self, texts: &[&str]) -> Result<RequestEncoder<'_>, EmbedError> {
        let limits = self.admission();
        let total: usize = texts.iter().map(|t| t.chars().count()).sum();
        if total > limits.max_request_chars {
            return Err(EmbedError::TooMuchText(format!(
                "{total} characters of text in one request; at most {} are encoded",
                limits.max_request_chars
            )));
        }
        // Only long texts are reserved: questions have their own lane.
        let long: usize = texts
            .iter()
            .map(|t| t.chars().count())
            .filter(|&n| n > SHORT_TEXT_CHARS)
            .sum();
        if long > 0 {
            let reserved = self.inflight_chars.fetch_add(long, Ordering::SeqCst);
            // A lone request is always admitted, however large: the bound
            // above already limits it.
            if reserved > 0 && reserved + long > limits.max_inflight_chars {
                self.inflight_chars.fetch_sub(long, Ordering::SeqCst);
                self.batcher.lock().rejected += 1;
                return Err(EmbedError::Overloaded(format!(
                    "{reserved} characters of pasted text are being encoded; \
                     {long} more would exceed {}",
                    limits.max_inflight_chars
                )));
            }
        }
        Ok(RequestEncoder {
            encoder: self,
            deadline: Instant::now() + limits.deadline,
            reserved: long,
            budget: AtomicUsize::new(limits.max_request_chars),
            encoded: Mutex::new(Vec::new()),
        })
    }

    fn get_or_embed(
        &self,
        side: TextSide,
        text: &str,
        deadline: Instant,
    ) -> Result<Vec<f32>, EmbedError> {
        let memoise = self.capacity > 0 && text.chars().count() <= MEMO_MAX_CHARS;
        if !memoise {
            return self.batcher.encode(side, text, deadline);
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
        let v = self.batcher.encode(side, text, deadline)?;
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

    fn deadline_from_now(&self) -> Instant {
        Instant::now() + self.admission().deadline
    }
}

/// Outside a request (the CLI, evaluation) each text gets the deadline on
/// its own.
impl QueryEncoder for CachedEncoder {
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.get_or_embed(TextSide::Query, text, self.deadline_from_now())
    }

    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.get_or_embed(TextSide::Passage, text, self.deadline_from_now())
    }
}

/// The encoder one admitted request uses: one deadline for all its model
/// work, and its character budget spent as it goes (a caller that
/// encodes more than it declared is refused too). A text the request has
/// already had encoded (a topic summary's question: its search, its
/// sentence scoring and its relevance evidence) is answered from the
/// request's own vectors, neither encoded nor counted again.
pub struct RequestEncoder<'a> {
    encoder: &'a CachedEncoder,
    deadline: Instant,
    reserved: usize,
    budget: AtomicUsize,
    encoded: Mutex<Vec<(TextSide, String, Vec<f32>)>>,
}

impl RequestEncoder<'_> {
    fn spend(&self, text: &str) -> Result<(), EmbedError> {
        let n = text.chars().count();
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(n)
            })
            .map(|_| ())
            .map_err(|_| {
                EmbedError::TooMuchText(format!(
                    "more than {} characters of text in one request",
                    self.encoder.admission().max_request_chars
                ))
            })
    }

    fn encode(&self, side: TextSide, text: &str) -> Result<Vec<f32>, EmbedError> {
        let encoded = || self.encoded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, v)) = encoded().iter().find(|(s, t, _)| *s == side && t == text) {
            return Ok(v.clone());
        }
        self.spend(text)?;
        let v = self.encoder.get_or_embed(side, text, self.deadline)?;
        encoded().push((side, text.to_string(), v.clone()));
        Ok(v)
    }
}

impl QueryEncoder for RequestEncoder<'_> {
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.encode(TextSide::Query, text)
    }

    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.encode(TextSide::Passage, text)
    }
}

impl Drop for RequestEncoder<'_> {
    fn drop(&mut self) {
        self.encoder
            .inflight_chars
            .fetch_sub(self.reserved, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

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
                    (i, side, b.encode(side, &text, far()).unwrap())
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
    fn a_short_pass_starts_beside_a_running_one_on_its_own_thread() {
        // Each pass records how many passes run at that moment and whether
        // it runs on one of the batcher's one-thread pools.
        let solo_thread = || {
            std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("zhengce-query"))
                && rayon::current_num_threads() == 1
        };
        let running = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let pass = {
            let (running, seen) = (Arc::clone(&running), Arc::clone(&seen));
            move |_: TextSide, texts: &[&str]| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                seen.lock().unwrap().push((now, texts.len(), solo_thread()));
                std::thread::sleep(Duration::from_millis(60));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(texts.iter().map(|_| vec![1.0]).collect())
            }
        };
        for (solo, want_overlap) in [(0, false), (1, true)] {
            seen.lock().unwrap().clear();
            let batcher = Arc::new(Batcher::new(pass.clone()).with_solo_pools(solo));
            let first = {
                let b = Arc::clone(&batcher);
                std::thread::spawn(move || b.encode(TextSide::Query, "first", far()))
            };
            std::thread::sleep(Duration::from_millis(20));
            let later: Vec<_> = (0..5)
                .map(|i| {
                    let b = Arc::clone(&batcher);
                    std::thread::spawn(move || b.encode(TextSide::Query, &format!("q{i}"), far()))
                })
                .collect();
            assert!(first.join().unwrap().is_ok());
            for h in later {
                assert!(h.join().unwrap().is_ok());
            }
            let seen = seen.lock().unwrap().clone();
            let beside = seen.iter().any(|&(now, _, solo)| now > 1 && solo);
            assert_eq!(beside, want_overlap, "solo pools {solo}: {seen:?}");
            if !want_overlap {
                assert!(seen.iter().all(|&(now, _, _)| now == 1), "{seen:?}");
            }
            for &(_, texts, solo) in &seen {
                if solo {
                    assert!(texts <= MAX_TEXTS_PER_SHORT_PASS, "{seen:?}");
                }
            }
            assert_eq!(seen.iter().map(|s| s.1).sum::<usize>(), 6);
        }
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
                    (t, b.encode(TextSide::Query, t, far()))
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
        assert!(batcher.encode(TextSide::Query, "one", far()).is_err());
        assert_eq!(
            batcher.encode(TextSide::Query, "two", far()).unwrap(),
            vec![1.0]
        );
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

    #[test]
    fn a_request_encodes_and_counts_a_text_once() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        // No memo: only the request's own vectors can answer a repeat.
        let enc = CachedEncoder::with_batcher(Batcher::new(slow_pass(Arc::clone(&sizes))), 0);
        enc.set_admission(Admission {
            max_request_chars: 12,
            ..Admission::default()
        });
        let long = "垃圾分类收运处置体系"; // 10 characters
        let req = enc.for_request(&[long]).unwrap();
        let a = req.encode_query(long).unwrap();
        assert_eq!(req.encode_query(long).unwrap(), a);
        assert_eq!(req.encode_query(long).unwrap(), a);
        assert_eq!(enc.batch_counts().1, 1, "one model encoding");
        // A second text is counted: 10 + 10 > 12.
        assert!(matches!(
            req.encode_query("另一个十个字的问题啊"),
            Err(EmbedError::TooMuchText(_))
        ));
    }
}
