//! The dashboard's charts as SVG: sign-ins and failures per hour (24 h) and per day (7 days)
//! with axes, round ticks, a legend, the numbers on hover (`<title>`) and a visually hidden
//! table for screen readers; logout delivery outcomes per app as stacked bars beside a table.
//! Colours come from CSS classes (`console.css`, "Charts (H1)"); text is `currentColor`, so
//! the charts read in dark mode too.

use leptos::prelude::*;
use portcullis_api_types::{ActivityHour, AppDeliveryStats};

use super::scale::{Bucket, merge_by_label, nice_scale, ticks};
use crate::api::enc;

/// The drawing area (SVG user units) and its margins: left for the y labels, bottom for the x
/// labels.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 230.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 30.0;

/// A JavaScript `Date` option bag.
fn options(pairs: &[(&str, &str)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (key, value) in pairs {
        let _ = js_sys::Reflect::set(&o, &(*key).into(), &(*value).into());
    }
    o
}

/// A moment (RFC 3339) in the browser's locale and zone, with `opts`.
fn local(at: &str, opts: &[(&str, &str)]) -> String {
    let ms = js_sys::Date::parse(at);
    if ms.is_nan() {
        return at.to_owned();
    }
    js_sys::Date::new(&ms.into())
        .to_locale_string("default", &options(opts))
        .into()
}

/// The last 24 hours, one bucket per hour, labelled by their local start time.
pub(super) fn by_hour(hours: &[ActivityHour]) -> Vec<Bucket> {
    hours
        .iter()
        .map(|h| Bucket {
            label: local(&h.hour, &[("hour", "2-digit"), ("minute", "2-digit")]),
            name: local(&h.hour, &[("dateStyle", "medium"), ("timeStyle", "short")]),
            signins: h.signins,
            failures: h.failures,
        })
        .collect()
}

/// The last 7 days from a week of hours: the hours summed per local day.
pub(super) fn by_day(hours: &[ActivityHour]) -> Vec<Bucket> {
    let days = hours
        .iter()
        .map(|h| Bucket {
            label: local(&h.hour, &[("weekday", "short"), ("day", "numeric")]),
            name: local(
                &h.hour,
                &[("weekday", "long"), ("day", "numeric"), ("month", "long")],
            ),
            signins: h.signins,
            failures: h.failures,
        })
        .collect();
    merge_by_label(days, 7)
}

/// The y coordinate of `value` on a scale that ends at `top`.
fn y_of(value: u64, top: u64) -> f64 {
    let plot = HEIGHT - TOP - BOTTOM;
    TOP + plot - (value as f64 / top.max(1) as f64) * plot
}

/// The y axis: a grid line and a label per tick.
fn y_axis(step: u64, top: u64) -> impl IntoView {
    ticks(step, top)
        .into_iter()
        .map(|t| {
            let y = y_of(t, top);
            view! {
                <line class="chart-grid" x1=LEFT x2=WIDTH - RIGHT y1=y y2=y />
                <text class="chart-tick chart-ytick" x=LEFT - 6.0 y=y + 4.0>{t.to_string()}</text>
            }
        })
        .collect_view()
}

/// One bucket: its two bars, its x label (every `label_every`), and the numbers on hover.
fn bucket_view(i: usize, b: Bucket, width: f64, top: u64, label_every: usize) -> impl IntoView {
    let x = LEFT + i as f64 * width;
    let base = y_of(0, top);
    let (ok, bad) = (y_of(b.signins, top), y_of(b.failures, top));
    let bar = width * 0.36;
    let hover = format!("{}: {} sign-ins, {} failed", b.name, b.signins, b.failures);
    let label = i.is_multiple_of(label_every).then(|| {
        view! { <text class="chart-tick chart-xtick" x=x + width / 2.0 y=HEIGHT - BOTTOM + 16.0>{b.label.clone()}</text> }
    });
    view! {
        <g class="chart-bucket">
            <title>{hover}</title>
            <rect class="chart-hit" x=x y=TOP width=width height=base - TOP />
            <rect class="bar-signins" x=x + width * 0.12 y=ok width=bar height=base - ok />
            <rect class="bar-failures" x=x + width * 0.52 y=bad width=bar height=base - bad />
        </g>
        {label}
    }
}

/// A bar chart of sign-ins and failures per bucket.
#[component]
pub(super) fn ActivityChart(
    /// What the chart shows, e.g. "Last 24 hours, per hour".
    title: &'static str,
    /// The unit of a bucket for the table's header ("Hour", "Day").
    unit: &'static str,
    buckets: Vec<Bucket>,
    /// Label every n-th bucket on the x axis.
    label_every: usize,
    test_id: &'static str,
) -> impl IntoView {
    let max = buckets
        .iter()
        .map(|b| b.signins.max(b.failures))
        .max()
        .unwrap_or(0);
    let (step, top) = nice_scale(max);
    let signins: u64 = buckets.iter().map(|b| b.signins).sum();
    let failures: u64 = buckets.iter().map(|b| b.failures).sum();
    let summary = format!("{signins} sign-ins, {failures} failed");
    let width = (WIDTH - LEFT - RIGHT) / buckets.len().max(1) as f64;
    let base = y_of(0, top);
    let rows = buckets.clone();
    let bars = buckets
        .into_iter()
        .enumerate()
        .map(|(i, b)| bucket_view(i, b, width, top, label_every.max(1)))
        .collect_view();
    view! {
        <figure class="chart" data-testid=test_id>
            <figcaption><strong>{title}</strong>": " <span data-testid=format!("{test_id}-total")>{summary.clone()}</span></figcaption>
            <ul class="chart-legend">
                <li><span class="swatch bar-signins"></span>"Sign-ins"</li>
                <li><span class="swatch bar-failures"></span>"Failed sign-ins"</li>
            </ul>
            <svg class="chart-svg" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=format!("{title}: {summary}")
                data-testid=format!("{test_id}-svg")>
                <g class="chart-y-axis" data-testid="chart-y-axis">{y_axis(step, top)}</g>
                {bars}
                <line class="chart-axis" x1=LEFT x2=LEFT y1=TOP y2=base />
                <line class="chart-axis" x1=LEFT x2=WIDTH - RIGHT y1=base y2=base />
            </svg>
            <table class="visually-hidden">
                <caption>{title}</caption>
                <thead><tr><th scope="col">{unit}</th><th scope="col">"Sign-ins"</th><th scope="col">"Failed sign-ins"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|b| view! {
                        <tr><th scope="row">{b.name}</th><td>{b.signins}</td><td>{b.failures}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </figure>
    }
}

/// One app's outcomes as a stacked bar scaled to the busiest app (`most` deliveries).
fn stacked_bar(s: &AppDeliveryStats, most: u64) -> impl IntoView + use<> {
    const BAR: f64 = 200.0;
    let scale = |n: u64| n as f64 / most.max(1) as f64 * BAR;
    let (d, f, p) = (scale(s.delivered), scale(s.failed), scale(s.pending));
    let hover = format!(
        "{}: {} delivered, {} failed, {} pending",
        s.app_name, s.delivered, s.failed, s.pending
    );
    view! {
        <svg class="stacked-bar" viewBox=format!("0 0 {BAR} 14") preserveAspectRatio="none" aria-hidden="true">
            <title>{hover}</title>
            <rect class="seg-delivered" x=0 y=0 width=d height=14 />
            <rect class="seg-failed" x=d y=0 width=f height=14 />
            <rect class="seg-pending" x=d + f y=0 width=p height=14 />
        </svg>
    }
}

/// Logout delivery outcomes per app over the last week: a table whose rows carry their bar.
#[component]
pub(super) fn DeliveryOutcomes(org: String, stats: Vec<AppDeliveryStats>) -> impl IntoView {
    let most = stats
        .iter()
        .map(|s| s.delivered + s.failed + s.pending)
        .max()
        .unwrap_or(0);
    let empty = stats.is_empty().then(|| {
        view! { <p class="help" data-testid="delivery-stats-empty">"No logout deliveries in the last 7 days: apps with a back-channel logout URI get one when a session they took part in ends."</p> }
    });
    let rows = stats
        .into_iter()
        .map(|s| {
            let href = format!("/console/{org}/deliveries?app_id={}", enc(&s.app_id));
            let bar = stacked_bar(&s, most);
            view! {
                <tr data-testid="delivery-stats-row">
                    <th scope="row"><a href=href>{s.app_name}</a></th>
                    <td>{bar}</td>
                    <td>{s.delivered}</td><td>{s.failed}</td><td>{s.pending}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="delivery-stats">
            <figcaption><strong>"Logout deliveries per app, last 7 days"</strong></figcaption>
            <ul class="chart-legend">
                <li><span class="swatch seg-delivered"></span>"Delivered"</li>
                <li><span class="swatch seg-failed"></span>"Failed"</li>
                <li><span class="swatch seg-pending"></span>"Pending (being retried)"</li>
            </ul>
            <div class="table-scroll" hidden=empty.is_some()><table class="delivery-stats">
                <thead><tr><th scope="col">"App"</th><th scope="col"><span class="visually-hidden">"Outcomes"</span></th>
                    <th scope="col">"Delivered"</th><th scope="col">"Failed"</th><th scope="col">"Pending"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table></div>
            {empty}
        </figure>
    }
}
