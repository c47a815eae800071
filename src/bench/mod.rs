//! `zhengce bench …`: the measurements, kept out of the stages they measure.
//! `embed` times the model, `index` the dense and lexical indexes over
//! synthetic data, `ingest` a real ingestion of a folder, `library` how long a large
//! library takes to open; `fixtures` makes the synthetic data, and the index
//! tests use the same generator. This module may import from every stage; a stage imports
//! from it only in its tests.
//!
//! The helpers here read this process's own counters (Linux: `/proc/self`,
//! `getrusage`).

pub mod embed;
pub mod fixtures;
pub mod index;
pub mod ingest;
pub mod library;

/// The value at quantile `p` (0..=1) of ascending `sorted`, nearest rank;
/// 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// The middle value (upper middle of an even count; 0 when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 0.5)
}

/// A `kB` field of `/proc/self/status`, in MB (0 when unreadable).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resident set size of this process now, in MB.
pub fn rss_mb() -> f64 {
    status_mb("VmRSS")
}

/// The resident set's high-water mark, in MB: since the process started,
/// or since the last successful [`reset_peak_rss`].
pub fn peak_rss_mb() -> f64 {
    status_mb("VmHWM")
}

/// Lowers the high-water mark to the current resident set (Linux ≥ 4.0:
/// writing 5 to `/proc/self/clear_refs`), so the next [`peak_rss_mb`] is the
/// peak of what ran in between. False when the kernel refused; the mark then
/// still counts from the process's start.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User + system CPU seconds of this process so far, all threads.
pub fn cpu_secs() -> f64 {
    // getrusage reports microseconds, so no clock-tick rate is assumed.
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF cannot fail
    // on a valid pointer, and its result is checked anyway.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 6.0);
        assert_eq!(percentile(&v, 0.99), 11.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0, 4.0]), 3.0);
    }

    #[test]
    fn counters_read_this_process() {
        assert!(rss_mb() > 0.0);
        assert!(peak_rss_mb() >= rss_mb() * 0.9);
        let before = cpu_secs();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        assert!(cpu_secs() > before, "{x}");
    }
}
