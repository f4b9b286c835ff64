//! Precision and recall of the classifier on hand-labelled samples of real organisation names.
//! Run with `--nocapture` to see the tables and the misses.
//!
//! - `data/labelled-orgs.tsv`, `data/labelled-orgs-2.tsv`: samples the keyword rules were
//!   refined against (the second one was measured held out first; its header has the figures).
//! - `data/labelled-orgs-holdout.tsv`: a sample never used to change a rule, so its figures
//!   estimate the classifier on unseen names. Its floors were set before it was first run.

use std::collections::BTreeMap;

use ipintel::{Class, ClassInput, classify};

struct Scores {
    /// (true positives, predicted, actual) per class, as weights.
    stats: BTreeMap<Class, (f64, f64, f64)>,
    total: f64,
    correct: f64,
    rows: usize,
}

impl Scores {
    fn precision(&self, c: Class) -> f64 {
        let (tp, pred, _) = self.stats.get(&c).copied().unwrap_or_default();
        if pred == 0.0 { 1.0 } else { tp / pred }
    }

    fn recall(&self, c: Class) -> f64 {
        let (tp, _, actual) = self.stats.get(&c).copied().unwrap_or_default();
        if actual == 0.0 { 1.0 } else { tp / actual }
    }

    fn accuracy(&self) -> f64 {
        self.correct / self.total
    }
}

/// A labelled row: ASN, its IPv4 addresses, the label, the row's weight, the name.
struct Row<'a> {
    asn: u32,
    ipv4: u64,
    label: &'a str,
    weight: f64,
    name: &'a str,
}

fn data_lines(sample: &str) -> impl Iterator<Item = &str> {
    sample
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
}

/// The older samples: `ASN<TAB>IPv4<TAB>class<TAB>name`, each row weighing 1.
fn tuning_rows(sample: &str) -> Vec<Row<'_>> {
    data_lines(sample)
        .map(|line| {
            let cols: Vec<&str> = line.splitn(4, '\t').collect();
            assert_eq!(cols.len(), 4, "bad sample line {line:?}");
            Row {
                asn: cols[0].parse().unwrap(),
                ipv4: cols[1].parse().unwrap(),
                label: cols[2],
                weight: 1.0,
                name: cols[3],
            }
        })
        .collect()
}

/// The held-out sample: `ASN<TAB>IPv4<TAB>class<TAB>uniform<TAB>weighted<TAB>name<TAB>reason`.
/// `draws` picks the column that weighs each row: 3 for the uniform draws (per ASN), 4 for
/// the draws proportional to address space.
fn holdout_rows(sample: &str, draws: usize) -> Vec<Row<'_>> {
    data_lines(sample)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 7, "bad sample line {line:?}");
            Row {
                asn: cols[0].parse().unwrap(),
                ipv4: cols[1].parse().unwrap(),
                label: cols[2],
                weight: cols[draws].parse().unwrap(),
                name: cols[5],
            }
        })
        .filter(|r| r.weight > 0.0)
        .collect()
}

fn score(name: &str, rows: &[Row<'_>]) -> Scores {
    let mut s = Scores {
        stats: BTreeMap::new(),
        total: 0.0,
        correct: 0.0,
        rows: 0,
    };
    println!("== {name}");
    for r in rows.iter().filter(|r| r.label != "skip") {
        let label = if r.label == "mixed" {
            "mobile"
        } else {
            r.label
        };
        let want = Class::from_name(label).unwrap_or_else(|| panic!("bad label {:?}", r.label));
        let (got, why) = classify(&ClassInput {
            asn: Some(r.asn),
            org: Some(r.name),
            ipv4_addresses: r.ipv4,
            cloud: None,
        });
        s.rows += 1;
        s.total += r.weight;
        s.stats.entry(got).or_default().1 += r.weight;
        s.stats.entry(want).or_default().2 += r.weight;
        if got == want {
            s.correct += r.weight;
            s.stats.entry(got).or_default().0 += r.weight;
        } else {
            println!(
                "miss: AS{:<7} {:<50} labelled {want:<10} got {got:<10} ({why})",
                r.asn, r.name
            );
        }
    }
    println!(
        "\n{:<11} {:>9} {:>9} {:>8} {:>8}",
        "class", "precision", "recall", "pred", "actual"
    );
    for (class, (_, pred, actual)) in &s.stats {
        println!(
            "{:<11} {:>9.3} {:>9.3} {pred:>8.1} {actual:>8.1}",
            class.as_str(),
            s.precision(*class),
            s.recall(*class)
        );
    }
    println!(
        "accuracy {:.3} over {} labelled rows (weight {:.0})\n",
        s.accuracy(),
        s.rows,
        s.total
    );
    s
}

#[test]
fn classifier_precision_on_the_tuning_sample() {
    let s = score(
        "tuning sample",
        &tuning_rows(include_str!("../data/labelled-orgs.tsv")),
    );
    assert!(s.rows >= 200, "sample too small: {}", s.total);
    // Leads must be businesses, and ISPs and hosting must not leak into them.
    // Whole-word rules (no "*net", "*tel") cost precision on small ISPs with one-word names:
    // 0.921 with part-word rules, 0.761 without.
    assert!(
        s.precision(Class::Business) >= 0.75,
        "business precision {:.3}",
        s.precision(Class::Business)
    );
    assert!(
        s.recall(Class::Isp) >= 0.75,
        "isp recall {:.3}",
        s.recall(Class::Isp)
    );
    assert!(
        s.recall(Class::Hosting) >= 0.55,
        "hosting recall {:.3}",
        s.recall(Class::Hosting)
    );
    assert!(s.accuracy() >= 0.84, "accuracy {:.3}", s.accuracy());
}

#[test]
fn classifier_precision_on_the_second_tuning_sample() {
    let s = score(
        "second tuning sample",
        &tuning_rows(include_str!("../data/labelled-orgs-2.tsv")),
    );
    assert!(
        s.precision(Class::Business) >= 0.65,
        "business precision {:.3}",
        s.precision(Class::Business)
    );
    assert!(s.accuracy() >= 0.80, "accuracy {:.3}", s.accuracy());
}

#[test]
fn classifier_precision_on_the_third_tuning_sample() {
    // Held out until the reviewed classes were written; a tuning sample since.
    let s = score(
        "third tuning sample",
        &tuning_rows(include_str!("../data/labelled-orgs-3.tsv")),
    );
    assert!(s.rows >= 150, "sample too small: {}", s.rows);
    assert!(
        s.precision(Class::Business) >= 0.75,
        "business precision {:.3}",
        s.precision(Class::Business)
    );
    assert!(s.accuracy() >= 0.85, "accuracy {:.3}", s.accuracy());
}

const HOLDOUT: &str = include_str!("../data/labelled-asns-holdout.tsv");

#[test]
fn held_out_per_asn() {
    let s = score(
        "held out, per ASN (uniform draws)",
        &holdout_rows(HOLDOUT, 3),
    );
    assert!(s.rows >= 180, "sample too small: {}", s.rows);
    FLOORS_PER_ASN.check(&s);
}

#[test]
fn held_out_weighted_by_address_space() {
    let s = score(
        "held out, weighted by IPv4 address space (draws proportional to it)",
        &holdout_rows(HOLDOUT, 4),
    );
    assert!(s.total >= 195.0, "sample too small: {}", s.total);
    FLOORS_WEIGHTED.check(&s);
}

/// Floors on the held-out sample: the targets where they were met, else the figure
/// measured, rounded down (the README says which).
struct Floors {
    business_precision: f64,
    hosting_recall: f64,
    accuracy: f64,
}

impl Floors {
    fn check(&self, s: &Scores) {
        let bp = s.precision(Class::Business);
        let hr = s.recall(Class::Hosting);
        let acc = s.accuracy();
        println!("business precision {bp:.3}, hosting recall {hr:.3}, accuracy {acc:.3}");
        assert!(bp >= self.business_precision, "business precision {bp:.3}");
        assert!(hr >= self.hosting_recall, "hosting recall {hr:.3}");
        assert!(acc >= self.accuracy, "accuracy {acc:.3}");
    }
}

// The floors are the targets. Measured on the held-out sample (2026-12-03), per ASN, as the
// review grew: business precision 0.539 before this work; 0.509 with the 3,752 largest ASNs
// reviewed and whole-word rules; then 0.549, 0.567, 0.593, 0.643, 0.753 with 7,682, 11,708,
// 17,661, 26,295, 45,718 reviewed; 0.927 with all 84,159. Hosting recall 0.136, 0.182, 0.273,
// 0.318, 0.409, 0.636, 0.818, 0.955; accuracy 0.686, 0.654, 0.691, 0.707, 0.733, 0.775, 0.853,
// 0.921.
const FLOORS_PER_ASN: Floors = Floors {
    business_precision: 0.90,
    hosting_recall: 0.90,
    accuracy: 0.90,
};

// Weighted by address space: business precision 0.364 before, then 0.727, 0.889, 0.889, 1.000
// (from 17,661 reviewed on); hosting recall 0.864, then 0.955 and 1.000; accuracy 0.754, then
// 0.950 and 0.965.
const FLOORS_WEIGHTED: Floors = Floors {
    business_precision: 0.95,
    hosting_recall: 0.90,
    accuracy: 0.90,
};
