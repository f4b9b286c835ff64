//! Past traffic, made up and realistic, as the batches the event writer stores.
//!
//! The same seed gives the same traffic. Events come out in time order, a batch at a time,
//! and only about an hour of them is held in memory, so ten million events stream as easily
//! as a thousand. Each event goes through the ingest path's own last steps (the source
//! attribution of `tracking::source`, the user-agent parser, `ingest::build_event` with the
//! organisation's lookup), so it is the row a real request would have stored; only the visitor
//! hashes are made up (random, the same for one person within one UTC day).

use std::collections::{BTreeMap, HashMap, VecDeque};

use ipintel::Lookup;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use url::Url;

use super::arrivals::{self, ARRIVALS, USER_AGENTS};
use super::pages::{self, Kind, Page};
use super::shape::{Group, Origin, Weighted, daily_hash, mix, origins, slot_weights};
use crate::accounts::sites::Site;
use crate::tracking::CachedSite;
use crate::tracking::agent::{self, Agent};
use crate::tracking::event::Event;
use crate::tracking::ingest;
use crate::tracking::model::{IngestBatch, NewEvent};
use crate::tracking::source::Attribution;
use crate::tracking::visitor::VisitorHashes;

pub(super) const HOUR_MS: i64 = 60 * 60 * 1000;
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Params {
    pub site: Site,
    /// The traffic ends here (milliseconds since the Unix epoch); nothing later is written.
    pub now_ms: i64,
    pub days: u32,
    /// About this many events in all.
    pub events: u64,
    /// Distinct page paths of the site.
    pub paths: usize,
    pub seed: u64,
    /// Events per batch (the server's writer takes up to 2,000 at a time).
    pub batch_size: usize,
}

impl Params {
    /// `leadsment demo`'s defaults: four weeks, about 200,000 events.
    pub fn demo(site: Site, now_ms: i64) -> Params {
        Params {
            site,
            now_ms,
            days: 28,
            events: 200_000,
            paths: 400,
            seed: 1,
            batch_size: 2_000,
        }
    }
}

/// An event of a visit before it goes through the ingest path's last steps.
struct Raw {
    ts: i64,
    /// On the landing page: carries the visit's source.
    entry: bool,
    event: Event,
}

/// Traffic as batches of events, oldest first. See the module's documentation.
pub struct Generator {
    params: Params,
    rng: StdRng,
    site: CachedSite,
    pages: Vec<Page>,
    urls: Vec<Url>,
    by_kind: HashMap<KindKey, (Vec<usize>, Weighted)>,
    origins: Vec<Origin>,
    groups: Vec<Group>,
    group_pick: Weighted,
    /// Browsers: the parsed agents, and how offices, homes and phones choose among them.
    agents: Vec<Agent>,
    agent_mixes: [Weighted; 3],
    arrivals: Weighted,
    referrers: Vec<Option<Url>>,
    /// What a page reached from another page of the site is attributed to: nothing.
    internal: Attribution,
    slots: Vec<f64>,
    slots_total: f64,
    slot: usize,
    /// Events still owed to the hours generated so far.
    owed: f64,
    pending: Vec<NewEvent>,
    ready: VecDeque<NewEvent>,
    visits: u64,
    events: u64,
}

/// `Kind` as a map key.
type KindKey = u8;

fn key(kind: Kind) -> KindKey {
    kind as u8
}

impl Generator {
    /// A generator over `organisations` (lookups from the IP index, as `organisations::draw`
    /// gives them); within each kind, the earlier ones send more visits.
    pub fn new(params: Params, organisations: Vec<Lookup>) -> Generator {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let base = format!("https://{}", params.site.domain.as_str());
        let (pages, urls): (Vec<Page>, Vec<Url>) = pages::pages(params.paths, &mut rng)
            .into_iter()
            .filter_map(|p| {
                let url = Url::parse(&format!("{base}{}", p.path)).ok()?;
                Some((p, url))
            })
            .unzip();
        let mut by_kind: HashMap<KindKey, Vec<usize>> = HashMap::new();
        for (i, p) in pages.iter().enumerate() {
            by_kind.entry(key(p.kind)).or_default().push(i);
        }
        let by_kind = by_kind
            .into_iter()
            .map(|(k, list)| {
                let zipf = Weighted::zipf(list.len(), 1.0);
                (k, (list, zipf))
            })
            .collect();

        let agents_parsed: Vec<(f64, bool, Agent)> = USER_AGENTS
            .iter()
            .filter_map(|(w, mobile, ua)| agent::classify(ua).map(|a| (*w, *mobile, a)))
            .collect();
        let agent_mix = |mobile_factor: f64| {
            Weighted::new(
                agents_parsed
                    .iter()
                    .map(|(w, mobile, _)| if *mobile { w * mobile_factor } else { *w }),
            )
        };
        let agent_mixes = [agent_mix(0.5), agent_mix(2.0), agent_mix(1_000.0)];
        let agents = agents_parsed.into_iter().map(|(_, _, a)| a).collect();

        let (origins, groups, group_pick) = origins(&params, &organisations);
        let site = CachedSite {
            site: params.site.clone(),
            ignored: Vec::new(),
            hosts: Vec::new(),
        };
        let slots = slot_weights(&params, &mut rng);
        Generator {
            rng,
            site,
            pages,
            urls,
            by_kind,
            origins,
            groups,
            group_pick,
            agents,
            agent_mixes,
            arrivals: Weighted::new(ARRIVALS.iter().map(|a| a.weight)),
            referrers: ARRIVALS
                .iter()
                .map(|a| a.referrer.and_then(|r| Url::parse(r).ok()))
                .collect(),
            internal: Attribution {
                source: None,
                channel: crate::tracking::source::Channel::Direct,
                utm: Default::default(),
            },
            slots_total: slots.iter().sum(),
            slots,
            slot: 0,
            owed: 0.0,
            pending: Vec::new(),
            ready: VecDeque::new(),
            visits: 0,
            events: 0,
            params,
        }
    }

    /// Visits generated so far (those with at least one event before the end).
    pub fn visits(&self) -> u64 {
        self.visits
    }

    /// Events generated so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn start_ms(&self) -> i64 {
        self.params.now_ms - i64::from(self.params.days) * DAY_MS
    }

    /// Generates the visits that start in the next hour, and readies the events no later
    /// visit can precede.
    fn next_slot(&mut self) {
        let total = self.slots_total;
        let slot_start = self.start_ms() + self.slot as i64 * HOUR_MS;
        self.owed +=
            self.params.events as f64 * self.slots[self.slot] / total.max(f64::MIN_POSITIVE);
        while self.owed > 0.0 {
            let start = slot_start + self.rng.random_range(0..HOUR_MS);
            self.owed -= self.visit(start) as f64;
        }
        self.slot += 1;
        self.pending.sort_by_key(|e| e.ts);
        let ready = if self.slot == self.slots.len() {
            self.pending.len()
        } else {
            let next_start = slot_start + HOUR_MS;
            self.pending.partition_point(|e| e.ts < next_start)
        };
        self.ready.extend(self.pending.drain(..ready));
    }

    /// A page of this kind (the popular ones more often).
    fn page_of(&mut self, kind: Kind) -> usize {
        match self.by_kind.get(&key(kind)) {
            Some((list, zipf)) => list[zipf.pick(&mut self.rng)],
            None => 0,
        }
    }

    /// One visit starting at `start`; returns the events it made (those after the end are
    /// dropped, but counted, so the last hour is not filled twice).
    fn visit(&mut self, start: i64) -> usize {
        let group = &self.groups[self.group_pick.pick(&mut self.rng)];
        let origin_index = group.origins[group.zipf.pick(&mut self.rng)];
        let origin = &self.origins[origin_index];
        let person = mix(self.params.seed
            ^ ((origin_index as u64) << 32)
            ^ self.rng.random_range(0..origin.people));
        // A person keeps their browser.
        let agent_index = {
            let x = (mix(person ^ 0xa9e7) >> 11) as f64 / (1u64 << 53) as f64;
            self.agent_mixes[origin.agents].at(x)
        };
        let mut buyer = self.rng.random_bool(origin.buyers);

        let arrival_index = self.arrivals.pick(&mut self.rng);
        let arrival = &ARRIVALS[arrival_index];
        let landing_kind = arrival.lands_on[self.rng.random_range(0..arrival.lands_on.len())];
        if matches!(landing_kind, Kind::Job | Kind::Careers) {
            buyer = false;
        }
        let week = (start / (7 * DAY_MS)) as u64;
        let query = arrivals::query_string(&arrival.query, week, &mut self.rng);
        let mut page = self.page_of(landing_kind);
        let mut landing = self.urls[page].clone();
        landing.set_query(query.as_deref());
        let external = self.referrers[arrival_index].clone();

        // Pages: 4 in 10 visits see one, then each further page is likelier.
        let mut pages = 1;
        while pages < 6 && self.rng.random_bool(if pages == 1 { 0.6 } else { 0.8 }) {
            pages += 1;
        }

        let mut raw: Vec<Raw> = Vec::with_capacity(pages * 2 + 1);
        let mut t = start;
        let mut previous: Option<Url> = None;
        for i in 0..pages {
            let entry = i == 0;
            let url = if entry {
                landing.clone()
            } else {
                self.urls[page].clone()
            };
            // document.referrer: the search engine or post for the first page, the previous
            // page of the site after that.
            let referrer = if entry {
                external.clone()
            } else {
                previous.clone()
            };
            let event = |ts: i64, name: &str, props, engaged_ms| Raw {
                ts,
                entry,
                event: Event {
                    name: name.to_owned(),
                    url: url.clone(),
                    domain: self.site.site.domain.clone(),
                    page_host: self.site.site.domain.clone(),
                    referrer: referrer.clone(),
                    props,
                    engaged_ms,
                },
            };
            raw.push(event(t, "pageview", BTreeMap::new(), None));
            // Time on the page: a few seconds to several minutes, now and then much longer.
            let z: f64 = (0..4).map(|_| self.rng.random::<f64>()).sum::<f64>() - 2.0;
            let dwell = (35_000.0 * (z * 1.7).exp()).clamp(3_000.0, 20.0 * 60_000.0) as i64;
            if let Some((name, props)) = pages::custom_event(
                self.pages[page].kind,
                &self.pages[page].path,
                self.site.site.domain.as_str(),
                &mut self.rng,
            ) {
                let at = t + (dwell as f64 * self.rng.random_range(0.2..0.9)) as i64;
                let props = props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                raw.push(event(at, name, props, None));
            }
            // t.js reports the time the page was visible when it is left or hidden.
            if self.rng.random_bool(0.95) {
                let visible = (dwell as f64 * self.rng.random_range(0.55..1.0)) as u64;
                raw.push(event(
                    t + dwell,
                    "engagement",
                    BTreeMap::new(),
                    Some(visible),
                ));
            }
            t += dwell + self.rng.random_range(300..2_500);
            previous = Some(url);
            let mut kind = pages::next_kind(buyer, &mut self.rng);
            let mut next = self.page_of(kind);
            if next == page {
                kind = pages::next_kind(buyer, &mut self.rng);
                next = self.page_of(kind);
            }
            page = next;
        }

        // The first page's events carry the visit's source (worked out once, as the ingest
        // path would for each); later pages come from the site itself.
        let Some(first) = raw.first() else {
            return 0;
        };
        let attribution = ingest::attribute_source(&self.site, &first.event);
        let made = raw.len();
        let mut kept = 0;
        for Raw { ts, entry, event } in raw {
            if ts > self.params.now_ms {
                continue;
            }
            let day = ts.div_euclid(DAY_MS) as u64;
            let hashes = VisitorHashes {
                current: daily_hash(person, day),
                previous: Some(daily_hash(person, day.wrapping_sub(1))),
            };
            let attribution = if entry {
                attribution.clone()
            } else {
                self.internal.clone()
            };
            self.pending.push(ingest::build_event(
                &self.site,
                event,
                hashes,
                &self.origins[origin_index].lookup,
                attribution,
                self.agents[agent_index].clone(),
                ts,
            ));
            kept += 1;
        }
        if kept > 0 {
            self.visits += 1;
            self.events += kept as u64;
        }
        made
    }
}

impl Iterator for Generator {
    type Item = IngestBatch;

    fn next(&mut self) -> Option<IngestBatch> {
        let size = self.params.batch_size.max(1);
        while self.ready.len() < size && self.slot < self.slots.len() {
            self.next_slot();
        }
        if self.ready.is_empty() {
            return None;
        }
        let n = size.min(self.ready.len());
        Some(IngestBatch {
            events: self.ready.drain(..n).collect(),
            bots: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::WorkspaceId;
    use crate::accounts::sites::{Hostname, SiteId};
    use ipintel::Class;

    fn site() -> Site {
        Site {
            id: SiteId(7),
            workspace_id: WorkspaceId(1),
            domain: Hostname::parse("demo.example").unwrap(),
            aliases: vec![],
            time_zone: "Europe/Berlin".into(),
            created_at: 0,
            require_consent: false,
        }
    }

    fn lookup(name: &str, class: Class, asn: u32) -> Lookup {
        Lookup {
            name: Some(name.into()),
            org: Some(format!("{name} Inc.")),
            asn: Some(asn),
            country: Some("DE".into()),
            class,
            ..Lookup::unknown(std::net::IpAddr::from([198, 51, 100, 1]))
        }
    }

    fn generate(seed: u64) -> Vec<NewEvent> {
        let now = 1_800_000_000_000;
        let params = Params {
            events: 5_000,
            days: 7,
            seed,
            batch_size: 500,
            ..Params::demo(site(), now)
        };
        let orgs = vec![
            lookup("Acme", Class::Business, 64500),
            lookup("Globex", Class::Business, 64501),
            lookup("Telekom", Class::Isp, 3320),
            lookup("Cloudy", Class::Hosting, 64502),
        ];
        Generator::new(params, orgs)
            .flat_map(|b| b.events)
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic_in_time_order() {
        let a = generate(3);
        assert_eq!(a, generate(3));
        assert_ne!(a, generate(4));
        assert!((4_000..6_000).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts));
        assert!(a.iter().all(|e| e.ts <= 1_800_000_000_000));
    }

    #[test]
    fn events_look_like_what_ingest_stores() {
        let events = generate(1);
        let named = |n: &str| events.iter().filter(|e| e.name == n).count();
        assert!(named("pageview") > events.len() / 3);
        assert!(named("engagement") > events.len() / 4);
        assert!(
            events
                .iter()
                .filter(|e| e.name == "engagement")
                .all(|e| e.engaged_ms.is_some_and(|ms| ms > 0))
        );
        assert!(
            events
                .iter()
                .any(|e| e.props.is_some() && e.name != "pageview")
        );
        let channels: std::collections::HashSet<&str> =
            events.iter().map(|e| e.channel.as_str()).collect();
        for c in ["direct", "search", "social", "email", "paid"] {
            assert!(channels.contains(c), "{c} in {channels:?}");
        }
        let classes: std::collections::HashSet<&str> =
            events.iter().map(|e| e.class.as_str()).collect();
        for c in ["business", "isp", "hosting", "unknown"] {
            assert!(classes.contains(c), "{c} in {classes:?}");
        }
        let acme = events
            .iter()
            .find_map(|e| e.company.as_ref().filter(|c| c.name == "Acme"));
        assert_eq!(acme.map(|c| c.key.as_str()), Some("asn:64500:Acme"));
        assert!(
            events
                .iter()
                .all(|e| e.browser.is_some() && !e.path.contains('?'))
        );
    }
}
