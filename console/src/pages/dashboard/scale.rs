//! The arithmetic of the dashboard's charts: a y scale with round numbers, and hours summed into
//! days. Pure (no browser), so it is unit-tested on the host
//! (`rustc --edition 2024 --test console/src/pages/dashboard/scale.rs`).

/// Most intervals on a y axis: more crowd the labels.
const MAX_INTERVALS: u64 = 5;

/// A y scale for values up to `max`: the step between ticks (1, 2 or 5 times a power of ten,
/// the smallest giving at most five intervals) and the top of the axis (a multiple of the step,
/// at least `max`, at least one step).
pub fn nice_scale(max: u64) -> (u64, u64) {
    let mut magnitude: u64 = 1;
    loop {
        for factor in [1_u64, 2, 5] {
            let step = factor.saturating_mul(magnitude);
            let intervals = max.div_ceil(step).max(1);
            if intervals <= MAX_INTERVALS {
                return (step, intervals * step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// The ticks of a scale from 0 to `top` by `step`.
pub fn ticks(step: u64, top: u64) -> Vec<u64> {
    (0..=top / step.max(1)).map(|i| i * step).collect()
}

/// One bar group of a chart: its label (for the axis), its full name (for hover and the
/// table), and its two counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub label: String,
    pub name: String,
    pub signins: u64,
    pub failures: u64,
}

/// Consecutive buckets with the same label summed into one (hours into their day), keeping
/// the last `keep` (the oldest day of a 168-hour window is usually partial).
pub fn merge_by_label(hours: Vec<Bucket>, keep: usize) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for h in hours {
        match out.last_mut() {
            Some(last) if last.label == h.label => {
                last.signins += h.signins;
                last.failures += h.failures;
            }
            _ => out.push(h),
        }
    }
    let skip = out.len().saturating_sub(keep);
    out.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_end_on_round_numbers() {
        assert_eq!(nice_scale(0), (1, 1));
        assert_eq!(nice_scale(1), (1, 1));
        assert_eq!(nice_scale(3), (1, 3));
        assert_eq!(nice_scale(5), (1, 5));
        assert_eq!(nice_scale(6), (2, 6));
        assert_eq!(nice_scale(7), (2, 8));
        assert_eq!(nice_scale(10), (2, 10));
        assert_eq!(nice_scale(11), (5, 15));
        assert_eq!(nice_scale(47), (10, 50));
        assert_eq!(nice_scale(120), (50, 150));
        assert_eq!(nice_scale(1_000), (200, 1_000));
        assert_eq!(nice_scale(1_001), (500, 1_500));
        for max in 0..3_000 {
            let (step, top) = nice_scale(max);
            assert!(
                top >= max && top.is_multiple_of(step) && top / step <= MAX_INTERVALS,
                "{max}"
            );
            let first = step.to_string();
            assert!(first.starts_with(['1', '2', '5']) && first[1..].bytes().all(|b| b == b'0'));
        }
    }

    #[test]
    fn ticks_run_from_zero_to_the_top() {
        assert_eq!(ticks(2, 8), vec![0, 2, 4, 6, 8]);
        assert_eq!(ticks(1, 1), vec![0, 1]);
        assert_eq!(ticks(50, 150), vec![0, 50, 100, 150]);
    }

    fn hour(label: &str, signins: u64, failures: u64) -> Bucket {
        Bucket {
            label: label.into(),
            name: format!("{label} hour"),
            signins,
            failures,
        }
    }

    #[test]
    fn hours_add_up_to_their_days() {
        let hours = vec![
            hour("Mon", 1, 0),
            hour("Tue", 2, 1),
            hour("Tue", 3, 0),
            hour("Wed", 0, 4),
            hour("Wed", 5, 5),
        ];
        let days = merge_by_label(hours.clone(), 7);
        assert_eq!(
            days.iter()
                .map(|d| (d.label.as_str(), d.signins, d.failures))
                .collect::<Vec<_>>(),
            [("Mon", 1, 0), ("Tue", 5, 1), ("Wed", 5, 9)]
        );
        assert_eq!(days[1].name, "Tue hour", "the first hour names the day");
        let last_two = merge_by_label(hours, 2);
        assert_eq!(last_two.len(), 2);
        assert_eq!(last_two[0].label, "Tue");
    }
}
