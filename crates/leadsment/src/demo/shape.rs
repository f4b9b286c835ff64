//! The shape of the demo's traffic: when visits happen (the hours of the day and the week in
//! the site's time zone) and where they come from (organisations in groups of unequal size,
//! each with a pool of people who come back), and the made-up visitor hashes.

use ipintel::{Class, Lookup};
use rand::Rng;
use rand::rngs::StdRng;

use super::generator::{DAY_MS, HOUR_MS, Params};

/// Visits by local hour of the day: office hours, a dip at lunch.
const HOURLY: [f64; 24] = [
    0.10, 0.07, 0.05, 0.05, 0.06, 0.10, 0.25, 0.55, 1.00, 1.40, 1.60, 1.55, 1.30, 1.40, 1.55, 1.50,
    1.30, 1.00, 0.70, 0.50, 0.42, 0.36, 0.26, 0.16,
];

/// The share of visits from each kind of origin, how unequal the organisations within it are
/// (a Zipf exponent), and what share of their people come back (the rest visit once or
/// twice): about a third of visits come from access providers or no known network.
const GROUPS: &[(&[Class], f64, f64, f64)] = &[
    (&[Class::Business], 0.58, 0.9, 0.35),
    (&[Class::Isp, Class::Mobile], 0.25, 1.1, 0.9),
    (&[Class::Hosting], 0.05, 1.0, 0.5),
    (&[Class::Education, Class::Government], 0.04, 0.8, 0.5),
];
/// Visits whose address the data does not know: no organisation.
const UNKNOWN_SHARE: f64 = 0.08;

/// Events a visit brings on average (pageviews, their engagement, a few custom events), to
/// size the pools of people.
const EVENTS_PER_VISIT: f64 = 6.0;

/// Picks an index with probability proportional to its weight.
pub(super) struct Weighted(Vec<f64>);

impl Weighted {
    pub(super) fn new(weights: impl IntoIterator<Item = f64>) -> Weighted {
        let mut total = 0.0;
        Weighted(
            weights
                .into_iter()
                .map(|w| {
                    total += w.max(0.0);
                    total
                })
                .collect(),
        )
    }

    pub(super) fn zipf(n: usize, exponent: f64) -> Weighted {
        Weighted::new((1..=n).map(|r| 1.0 / (r as f64).powf(exponent)))
    }

    pub(super) fn total(&self) -> f64 {
        self.0.last().copied().unwrap_or(0.0)
    }

    pub(super) fn share(&self, i: usize) -> f64 {
        let below = if i == 0 { 0.0 } else { self.0[i - 1] };
        (self.0[i] - below) / self.total()
    }

    pub(super) fn pick(&self, rng: &mut StdRng) -> usize {
        self.at(rng.random())
    }

    /// The index that `x`, from 0 to 1, falls on.
    pub(super) fn at(&self, x: f64) -> usize {
        let x = x * self.total();
        self.0
            .partition_point(|c| *c <= x)
            .min(self.0.len().saturating_sub(1))
    }
}

/// A mixing function (splitmix64): the made-up identities of people and their daily hashes.
pub(super) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A person's visitor hash on a day (days since the Unix epoch, UTC).
pub(super) fn daily_hash(person: u64, day: u64) -> i64 {
    mix(person ^ day.wrapping_mul(0x2545_f491_4f6c_dd1d)) as i64
}

/// Where visits come from: one organisation (or the unknown), and how many people it has.
pub(super) struct Origin {
    pub(super) lookup: Lookup,
    pub(super) people: u64,
    /// Which browser mix its people use: an office's (0), a home's (1) or a phone's (2).
    pub(super) agents: usize,
    /// Whether its people mostly come to buy (businesses) rather than to read.
    pub(super) buyers: f64,
}

pub(super) struct Group {
    pub(super) origins: Vec<usize>,
    pub(super) zipf: Weighted,
}

/// The weight of each hour from the start: the hour of the day and the day of the week in the
/// site's time zone, a little growth over the period, and days that differ a little.
pub(super) fn slot_weights(params: &Params, rng: &mut StdRng) -> Vec<f64> {
    let tz = jiff::tz::TimeZone::get(&params.site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let slots = params.days as usize * 24;
    let start = params.now_ms - i64::from(params.days) * DAY_MS;
    let day_noise: Vec<f64> = (0..=params.days + 1)
        .map(|_| rng.random_range(0.85..1.15))
        .collect();
    let first_day = jiff::Timestamp::from_millisecond(start)
        .map(|t| t.to_zoned(tz.clone()).date())
        .ok();
    (0..slots)
        .map(|s| {
            let middle = start + s as i64 * HOUR_MS + HOUR_MS / 2;
            let Ok(local) =
                jiff::Timestamp::from_millisecond(middle).map(|t| t.to_zoned(tz.clone()))
            else {
                return 1.0;
            };
            let weekday = match local.weekday().to_monday_zero_offset() {
                5 => 0.3,
                6 => 0.25,
                _ => 1.0,
            };
            let day = first_day
                .and_then(|d| d.until(local.date()).ok())
                .map_or(0, |span| span.get_days().max(0) as usize);
            let growth = 0.9 + 0.2 * s as f64 / slots as f64;
            HOURLY[local.hour() as usize % 24]
                * weekday
                * growth
                * day_noise[day.min(day_noise.len() - 1)]
        })
        .collect()
}

/// The origins of visits from the organisations, their groups, and how groups are chosen.
pub(super) fn origins(
    params: &Params,
    organisations: &[Lookup],
) -> (Vec<Origin>, Vec<Group>, Weighted) {
    let visits = params.events as f64 / EVENTS_PER_VISIT;
    let mut origins = Vec::new();
    let mut groups = Vec::new();
    let mut shares = Vec::new();
    for (classes, share, exponent, returning) in GROUPS {
        // In the order given: the first of each group sends the most visits.
        let members: Vec<Lookup> = organisations
            .iter()
            .filter(|l| classes.contains(&l.class))
            .cloned()
            .collect();
        if members.is_empty() {
            continue;
        }
        let zipf = Weighted::zipf(members.len(), *exponent);
        let mut group = Vec::with_capacity(members.len());
        for (i, lookup) in members.into_iter().enumerate() {
            let expected = visits * share * zipf.share(i);
            let agents = match lookup.class {
                Class::Mobile => 2,
                Class::Isp => 1,
                _ => 0,
            };
            let buyers = match lookup.class {
                Class::Business => 0.55,
                Class::Hosting => 0.35,
                _ => 0.2,
            };
            group.push(origins.len());
            origins.push(Origin {
                lookup,
                people: (expected * returning).round().max(1.0) as u64,
                agents,
                buyers,
            });
        }
        groups.push(Group {
            origins: group,
            zipf,
        });
        shares.push(*share);
    }
    // No known network: one origin with many people and no organisation.
    groups.push(Group {
        origins: vec![origins.len()],
        zipf: Weighted::zipf(1, 1.0),
    });
    shares.push(UNKNOWN_SHARE);
    origins.push(Origin {
        lookup: Lookup::unknown(std::net::IpAddr::from([192, 0, 2, 1])),
        people: (visits * UNKNOWN_SHARE * 0.95).round().max(1.0) as u64,
        agents: 1,
        buyers: 0.2,
    });
    (origins, groups, Weighted::new(shares))
}
