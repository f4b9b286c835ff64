//! Precision and recall of the classifier on a hand-labelled sample of real organisation names
//! (`data/labelled-orgs.tsv`). Run with `--nocapture` to see the table and the misses.

use std::collections::BTreeMap;

use ipintel::{Class, ClassInput, classify};

const SAMPLE: &str = include_str!("../data/labelled-orgs.tsv");

#[test]
fn classifier_precision_on_labelled_sample() {
    // (true positives, predicted, actual) per class.
    let mut stats: BTreeMap<Class, (u32, u32, u32)> = BTreeMap::new();
    let mut total = 0u32;
    let mut correct = 0u32;
    for line in SAMPLE
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
        total += 1;
        stats.entry(got).or_default().1 += 1;
        stats.entry(want).or_default().2 += 1;
        if got == want {
            correct += 1;
            stats.entry(got).or_default().0 += 1;
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
    for (class, (tp, pred, actual)) in &stats {
        let p = if *pred == 0 {
            1.0
        } else {
            f64::from(*tp) / f64::from(*pred)
        };
        let r = if *actual == 0 {
            1.0
        } else {
            f64::from(*tp) / f64::from(*actual)
        };
        println!(
            "{:<11} {p:>9.3} {r:>9.3} {pred:>6} {actual:>6}",
            class.as_str()
        );
    }
    let accuracy = f64::from(correct) / f64::from(total);
    println!("accuracy {accuracy:.3} over {total} labelled names");

    let precision = |c: Class| {
        let (tp, pred, _) = stats.get(&c).copied().unwrap_or_default();
        if pred == 0 {
            1.0
        } else {
            f64::from(tp) / f64::from(pred)
        }
    };
    let recall = |c: Class| {
        let (tp, _, actual) = stats.get(&c).copied().unwrap_or_default();
        if actual == 0 {
            1.0
        } else {
            f64::from(tp) / f64::from(actual)
        }
    };
    assert!(total >= 200, "sample too small: {total}");
    // The floors: leads must be businesses, and ISPs and hosting must not leak into them.
    assert!(
        precision(Class::Business) >= 0.9,
        "business precision {:.3}",
        precision(Class::Business)
    );
    assert!(
        recall(Class::Isp) >= 0.8,
        "isp recall {:.3}",
        recall(Class::Isp)
    );
    assert!(
        recall(Class::Hosting) >= 0.7,
        "hosting recall {:.3}",
        recall(Class::Hosting)
    );
    assert!(accuracy >= 0.8, "accuracy {accuracy:.3}");
}
