//! The events API's parser must never panic, whatever bytes arrive: every input is either an
//! event or an error naming a field. (The same property runs under proptest in the unit tests.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = leadsment::tracking::event::parse(data) {
        // What the pipeline derives from a valid event must not panic either.
        let _ = leadsment::tracking::page_path(&event.url);
    }
});
