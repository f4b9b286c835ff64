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
    /// (true positives, predicted, actual) per class.
    stats: BTreeMap<Class, (u32, u32, u32)>,
    total: u32,
    correct: u32,
}

impl Scores {
    fn precision(&self, c: Class) -> f64 {
        let (tp, pred, _) = self.stats.get(&c).copied().unwrap_or_default();
        if pred == 0 {
            1.0
        } else {
            f64::from(tp) / f64::from(pred)
        }
    }

    fn recall(&self, c: Class) -> f64 {
        let (tp, _, actual) = self.stats.get(&c).copied().unwrap_or_default();
        if actual == 0 {
            1.0
        } else {
            f64::from(tp) / f64::from(actual)
        }
    }

    fn accuracy(&self) -> f64 {
        f64::from(self.correct) / f64::from(self.total)
    }
}

fn score(name: &str, sample: &str) -> Scores {
    let mut s = Scores {
        stats: BTreeMap::new(),
        total: 0,
        correct: 0,
    };
    println!("== {name}");
    for line in sample
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(cols.len(), 4, "bad sample line {line:?}");
        if cols[2] == "skip" {
            continue;
        }
        let want = Class::from_name(cols[2]).unwrap_or_else(|| panic!("bad label in {line:?}"));
        let (got, why) = classify(&ClassInput {
            asn: Some(cols[0].parse().unwrap()),
            org: Some(cols[3]),
            ipv4_addresses: cols[1].parse().unwrap(),
            cloud: None,
        });
        s.total += 1;
        s.stats.entry(got).or_default().1 += 1;
        s.stats.entry(want).or_default().2 += 1;
        if got == want {
            s.correct += 1;
            s.stats.entry(got).or_default().0 += 1;
        } else {
            println!(
                "miss: {:<60} labelled {want:<10} got {got:<10} ({why})",
                cols[3]
            );
        }
    }
    println!(
        "\n{:<11} {:>9} {:>9} {:>6} {:>6}",
        "class", "precision", "recall", "pred", "actual"
    );
    for (class, (_, pred, actual)) in &s.stats {
        println!(
            "{:<11} {:>9.3} {:>9.3} {pred:>6} {actual:>6}",
            class.as_str(),
            s.precision(*class),
            s.recall(*class)
        );
    }
    println!(
        "accuracy {:.3} over {} labelled names\n",
        s.accuracy(),
        s.total
    );
    s
}

#[test]
fn classifier_precision_on_the_tuning_sample() {
    let s = score("tuning sample", include_str!("../data/labelled-orgs.tsv"));
    assert!(s.total >= 200, "sample too small: {}", s.total);
    // Leads must be businesses, and ISPs and hosting must not leak into them.
    assert!(
        s.precision(Class::Business) >= 0.9,
        "business precision {:.3}",
        s.precision(Class::Business)
    );
    assert!(
        s.recall(Class::Isp) >= 0.8,
        "isp recall {:.3}",
        s.recall(Class::Isp)
    );
    assert!(
        s.recall(Class::Hosting) >= 0.7,
        "hosting recall {:.3}",
        s.recall(Class::Hosting)
    );
    assert!(s.accuracy() >= 0.8, "accuracy {:.3}", s.accuracy());
}

#[test]
fn classifier_precision_on_the_second_tuning_sample() {
    let s = score(
        "second tuning sample",
        include_str!("../data/labelled-orgs-2.tsv"),
    );
    assert!(
        s.precision(Class::Business) >= 0.75,
        "business precision {:.3}",
        s.precision(Class::Business)
    );
    assert!(s.accuracy() >= 0.85, "accuracy {:.3}", s.accuracy());
}

#[test]
fn classifier_precision_on_the_held_out_sample() {
    let s = score(
        "held-out sample",
        include_str!("../data/labelled-orgs-holdout.tsv"),
    );
    assert!(s.total >= 150, "sample too small: {}", s.total);
    assert!(
        s.precision(Class::Business) >= 0.7,
        "business precision {:.3}",
        s.precision(Class::Business)
    );
    assert!(s.accuracy() >= 0.75, "accuracy {:.3}", s.accuracy());
}
