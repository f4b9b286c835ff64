//! Builds an index from the files given, in order, and prints the report and a few lookups.
//!
//! `cargo run --release -p ipintel --example build -- OUT.ipintel FILE... [--lookup IP...]`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: build OUT FILE... [--lookup IP...]")?;
    let mut files = Vec::new();
    let mut ips = Vec::new();
    let mut lookups = false;
    for a in args {
        if a == "--lookup" {
            lookups = true;
        } else if lookups {
            ips.push(a);
        } else {
            files.push(a);
        }
    }
    let mut builder = ipintel::build::Builder::new();
    for f in &files {
        builder = builder.add(ipintel::build::Source::from_path(f)?);
    }
    let t = Instant::now();
    let (index, report) = builder.build(&mut |_| {})?;
    let built = t.elapsed();
    for f in &report.files {
        println!(
            "{}: {:?} rows={} skipped={} bad={}",
            f.path.display(),
            f.format,
            f.rows,
            f.skipped,
            f.bad
        );
        for b in f.bad_lines.iter().take(5) {
            println!("  {b}");
        }
    }
    println!("built in {built:.2?}: {:?}", report.summary);
    let t = Instant::now();
    index.write_to(&out)?;
    let written = t.elapsed();
    let t = Instant::now();
    let index = ipintel::Index::load(&out)?;
    println!("written in {written:.2?}, loaded in {:.2?}", t.elapsed());
    let none = ipintel::Overrides::new();
    for ip in ips {
        let ip = ipintel::parse_ip(&ip)?;
        println!("{}", serde_json::to_string(&index.lookup_with(&none, ip))?);
    }
    println!("{}", index.attribution().text());
    Ok(())
}
